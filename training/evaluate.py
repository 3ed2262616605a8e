"""The one evaluation loop (validation and test, V-LSM and D-LSM) and its result tables.

For every model of a split, the fixed, seeded views of :class:`data.loader.Loader` are fed in
order and the prediction after ``k`` views (``k = 1..V``) is scored:

* V-LSM: IoU of ``sigmoid(logits) > thresh`` with the ground-truth grid, and the same IoU for
  the visual hull carved from the silhouettes of the same ``k`` views (the paper's baseline);
* D-LSM: mean absolute depth error over foreground pixels, averaged over the views, and the
  error of the visual hull's depth seen from the same views.

Scores are averaged per class, and the table's last row is the mean over classes (the paper's
protocol). Results are returned as plain dicts (JSON-ready) and formatted with ``tabulate``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from tabulate import tabulate
from tqdm import tqdm

from data.layout import BACKGROUND_DEPTH, class_name
from training.config import Args
from training.export import as_text
from training.loop import to_backend
from training.tasks import Task, model_inputs

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    """Per-model scores of one evaluation.

    Attributes:
        task: ``"vlsm"`` or ``"dlsm"``.
        metric: ``"iou"`` (x100, higher is better) or ``"depth_error"`` (scene units).
        thresholds: IoU thresholds (V-LSM).
        models: ``(synset, model_id)`` in evaluation order.
        scores: (M, V, n_thresh) IoU or (M, V, 1) depth error of the model, per number of views.
        hull: the same for the visual hull baseline (or None).
    """

    task: str
    metric: str
    thresholds: tuple[float, ...]
    models: list[tuple[str, str]] = field(default_factory=list)
    scores: np.ndarray | None = None
    hull: np.ndarray | None = None

    def per_class(self, which: str = "scores", t: int = 0) -> dict[str, np.ndarray]:
        """Class means: ``{synset: (V,)}`` at threshold index ``t``."""
        arr = getattr(self, which)
        groups: dict[str, list[int]] = defaultdict(list)
        for i, (s, _) in enumerate(self.models):
            groups[s].append(i)
        return {s: np.nanmean(arr[idx, :, t], axis=0) for s, idx in sorted(groups.items())}

    def mean(self, which: str = "scores", t: int = 0) -> np.ndarray:
        """Mean over classes of the class means: (V,)."""
        return np.nanmean(np.stack(list(self.per_class(which, t).values())), axis=0)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary: per-class and mean curves for the model and the hull."""
        out: dict[str, Any] = {"task": self.task, "metric": self.metric,
                               "num_models": len(self.models), "results": {}}
        for t, th in enumerate(self.thresholds or (None,)):
            key = f"thresh_{th}" if th is not None else "all"
            entry: dict[str, Any] = {}
            for which in ("scores", "hull"):
                if getattr(self, which) is None:
                    continue
                name = "lsm" if which == "scores" else "visual_hull"
                entry[name] = {
                    "per_class": {s: [float(x) for x in v]
                                  for s, v in self.per_class(which, t).items()},
                    "mean": [float(x) for x in self.mean(which, t)],
                }
            out["results"][key] = entry
        return out

    def table(self, t: int = 0) -> str:
        """Console table: one row per class plus the mean; columns per number of views."""
        v = self.scores.shape[1]
        scale = 100.0 if self.metric == "iou" else 1.0
        fmt = ".1f" if self.metric == "iou" else ".4f"
        heads = ["class"] + [f"LSM {k + 1}v" for k in range(v)]
        if self.hull is not None:
            heads += [f"VH {k + 1}v" for k in range(v)]
        per = self.per_class("scores", t)
        per_h = self.per_class("hull", t) if self.hull is not None else {}
        rows = []
        for s, vals in per.items():
            row = [class_name(s)] + list(vals * scale)
            if self.hull is not None:
                row += list(per_h[s] * scale)
            rows.append(row)
        mean = ["mean"] + list(self.mean("scores", t) * scale)
        if self.hull is not None:
            mean += list(self.mean("hull", t) * scale)
        rows.append(mean)
        what = (f"IoU x100 at threshold {self.thresholds[t]}" if self.metric == "iou"
                else "mean absolute depth error over foreground pixels (scene units)")
        return f"{what}, {len(self.models)} models\n" + tabulate(rows, headers=heads,
                                                                    floatfmt=fmt)


def _hull_scores(task: Task, batch: dict[str, Any], thresholds: tuple[float, ...]
                 ) -> np.ndarray:
    """Visual hull baseline for a batch: (B, V, n_thresh) IoU or (B, V, 1) depth error."""
    from ops.visual_hull import visual_hull

    depth = np.asarray(batch["depth"])[..., 0]
    masks = (depth < BACKGROUND_DEPTH - 1e-3).astype(np.float32)
    K, E = np.asarray(batch["K"]), np.asarray(batch["extrinsic"])
    if task.kind == "vlsm":
        gt = np.asarray(batch["voxels"])[..., 0] > 0.5
        hull = np.asarray(keras.ops.convert_to_numpy(
            visual_hull(masks, K, E, nvox=gt.shape[-1]))) > 0.5  # (B, V, N, N, N)
        inter = (hull & gt[:, None]).sum(axis=(2, 3, 4))
        union = (hull | gt[:, None]).sum(axis=(2, 3, 4))
        iou = inter / np.maximum(union, 1)
        return np.repeat(iou[..., None], len(thresholds), axis=-1)
    from ops.visual_hull import visual_hull_depth

    nvox = np.asarray(batch["voxels"]).shape[1]
    hull = visual_hull(masks, K, E, nvox=nvox)  # (B, T, N, N, N)
    b, t = hull.shape[:2]
    v = depth.shape[1]
    h, w = depth.shape[2:]
    errs = np.zeros((b, t))
    fg = masks > 0.5
    for k in range(t):
        hd = visual_hull_depth(hull[:, k], K, E, im_size=(h, w))  # (B, V, H, W)
        hd = np.asarray(keras.ops.convert_to_numpy(hd))[..., 0]  # (B, V, H, W)
        e = np.abs(hd - depth)
        errs[:, k] = np.array([np.nanmean([e[i, j][fg[i, j]].mean() for j in range(v)
                                           if fg[i, j].any()]) for i in range(b)])
    return errs[..., None]


def _predict_padded(model: keras.Model, batch: dict[str, Any], batch_size: int) -> np.ndarray:
    """Predict a batch, padding a short last batch to ``batch_size`` (one compiled shape)."""
    x = {k: np.asarray(v) for k, v in model_inputs(batch).items()}
    b = next(iter(x.values())).shape[0]
    if b < batch_size:
        x = {k: np.concatenate([v, np.repeat(v[-1:], batch_size - b, axis=0)])
             for k, v in x.items()}
    return np.asarray(keras.ops.convert_to_numpy(model.predict_on_batch(x)))[:b]


def evaluate(args: Args, task: Task, model: keras.Model, split: str = "test",
             with_hull: bool = True, progress: bool = True,
             on_batch: Callable[[dict[str, Any], Any], None] | None = None) -> EvalResult:
    """Evaluate ``model`` on a split with the loader's fixed views.

    Args:
        args: arguments (data keys; ``test_batch_size``/``test_im_batch`` for "test",
            ``val_batch_size``/``val_im_batch`` for "val"; ``eval_thresh``).
        task: the task.
        model: a trained model.
        split: ``"val"`` or ``"test"`` (or ``"train"``).
        with_hull: also score the visual hull baseline.
        progress: tqdm bar.
        on_batch: called with ``(batch, prediction)`` (saving predictions, pictures).

    Returns:
        An :class:`EvalResult`.
    """
    from data.loader import Loader

    if split == "val":
        bs, ib = args.val_batch_size, args.val_im_batch
    else:
        bs, ib = args.test_batch_size, args.test_im_batch
    args = args.replace(batch_size=bs, im_batch=ib)
    loader = Loader(args, split, training=False)
    thresholds = tuple(args.eval_thresh)
    res = EvalResult(task=task.kind, metric="iou" if task.kind == "vlsm" else "depth_error",
                     thresholds=thresholds if task.kind == "vlsm" else (0.0,))
    scores, hulls = [], []
    total = -(-loader.num_models // bs)
    for batch in tqdm(loader.iterate(0), total=total, desc=f"eval {split}", unit="batch",
                      disable=not progress):
        batch = to_backend(batch)
        pred = _predict_padded(model, batch, bs)
        m = task.metrics(batch, pred, thresholds)
        if task.kind == "vlsm":
            scores.append(m["iou"])
        else:
            scores.append(m["depth_error"][..., None])
        if with_hull:
            hulls.append(_hull_scores(task, batch, thresholds))
        syn = [as_text(s) for s in np.asarray(batch["synset"])]
        mid = [as_text(s) for s in np.asarray(batch["model_id"])]
        res.models += list(zip(syn, mid, strict=True))
        if on_batch is not None:
            on_batch(batch, pred)
    res.scores = np.concatenate(scores)
    res.hull = np.concatenate(hulls) if with_hull else None
    return res
