"""The one evaluation loop (validation and test, V-LSM and D-LSM) and its result tables.

For every model of a split, the fixed, seeded views of the loader (:mod:`data.loaders`) are fed in
order and the prediction after ``k`` views (``k = 1..V``) is scored:

* V-LSM: IoU of ``sigmoid(logits) > thresh`` with the ground-truth grid, and the same IoU for
  the visual hull carved from the silhouettes of the same ``k`` views (the paper's baseline);
* D-LSM: mean absolute depth error over each image's foreground pixels, averaged over the
  views seen so far (the first table) and over all input views (the second); the release's
  masked median over the views seen so far (the third, :func:`training.tasks.release_depth_error`);
  the same errors for the depth of the visual hull carved from the same ``k`` views, seen
  from the same views; and fused point clouds of all views scored against the true surface
  (:mod:`training.pointclouds`).

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

from data.layout import class_name
from training.config import Args
from training.export import as_text
from training.loop import to_backend
from training.tasks import CLOUD_FIGURES, DEPTH_PROTOCOLS, Task, model_inputs

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    """Per-model scores of one evaluation.

    Attributes:
        task: the registered model's name (``"vlsm"``, ``"dlsm"``, ...).
        metric: ``"iou"`` (x100, higher is better) or ``"depth_error"`` (scene units).
        thresholds: IoU thresholds (V-LSM); D-LSM: one entry per view protocol
            (:data:`training.tasks.DEPTH_PROTOCOLS`).
        models: ``(synset, model_id)`` in evaluation order.
        scores: (M, V, n_thresh) IoU or (M, V, 3) depth error (the three
            :data:`training.tasks.DEPTH_PROTOCOLS`) of the model, per number of views.
        hull: the same for the visual hull baseline (or None).
        clouds: D-LSM: (M, 2, 4) point-cloud figures of the depth maps of all V views fused
            after V views, for the model (``[:, 0]``) and the visual hull (``[:, 1]``; NaN
            without it): accuracy, completeness, Chamfer (scene units) and F-score
            (see :mod:`training.pointclouds`); None for V-LSM.
        seen: the classes (synsets) the model was trained on, or None when unknown; when
            some tested classes are seen and some are not, tables and JSON add the means
            over seen and over unseen classes (the unseen-category protocol).
    """

    task: str
    metric: str
    thresholds: tuple[float, ...]
    models: list[tuple[str, str]] = field(default_factory=list)
    scores: np.ndarray | None = None
    hull: np.ndarray | None = None
    clouds: np.ndarray | None = None
    seen: frozenset[str] | None = None

    def seen_unseen(self) -> tuple[list[str], list[str]] | None:
        """(seen, unseen) tested classes, sorted; None unless both are non-empty."""
        if self.seen is None:
            return None
        tested = sorted({s for s, _ in self.models})
        seen = [s for s in tested if s in self.seen]
        unseen = [s for s in tested if s not in self.seen]
        return (seen, unseen) if seen and unseen else None

    def group_mean(self, classes: list[str], which: str = "scores", t: int = 0) -> np.ndarray:
        """Mean over ``classes`` of their class means: (V,)."""
        per = self.per_class(which, t)
        return np.nanmean(np.stack([per[s] for s in classes]), axis=0)

    def _class_means(self, arr: np.ndarray) -> dict[str, np.ndarray]:
        """Per-model values ``(M, ...)`` averaged per class (NaN skipped): ``{synset: (...)}``."""
        groups: dict[str, list[int]] = defaultdict(list)
        for i, (s, _) in enumerate(self.models):
            groups[s].append(i)
        return {s: np.nanmean(arr[idx], axis=0) for s, idx in sorted(groups.items())}

    def per_class(self, which: str = "scores", t: int = 0) -> dict[str, np.ndarray]:
        """Class means: ``{synset: (V,)}`` at threshold index ``t``."""
        return self._class_means(getattr(self, which)[:, :, t])

    def mean(self, which: str = "scores", t: int = 0) -> np.ndarray:
        """Mean over classes of the class means: (V,)."""
        return np.nanmean(np.stack(list(self.per_class(which, t).values())), axis=0)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary: per-class and mean curves for the model and the hull."""
        out: dict[str, Any] = {"task": self.task, "metric": self.metric,
                               "num_models": len(self.models), "results": {}}
        groups = self.seen_unseen()
        for t, th in enumerate(self.thresholds):
            key = f"thresh_{th}" if self.metric == "iou" else DEPTH_PROTOCOLS[t]
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
                if groups is not None:
                    for label, classes in zip(("mean_seen", "mean_unseen"), groups,
                                              strict=True):
                        entry[name][label] = [float(x)
                                              for x in self.group_mean(classes, which, t)]
            out["results"][key] = entry
        if groups is not None:
            out["seen_classes"], out["unseen_classes"] = groups
        if self.clouds is not None:
            out["point_clouds"] = {
                name: {"per_class": {s: dict(zip(CLOUD_FIGURES, map(float, v), strict=True))
                                     for s, v in self.cloud_per_class(i).items()},
                       "mean": dict(zip(CLOUD_FIGURES, map(float, self.cloud_mean(i)),
                                        strict=True))}
                for i, name in enumerate(("lsm", "visual_hull"))}
        return out

    def cloud_per_class(self, which: int = 0) -> dict[str, np.ndarray]:
        """Class means of the point-cloud figures: ``{synset: (4,)}`` (0 model, 1 hull)."""
        return self._class_means(self.clouds[:, which])

    def cloud_mean(self, which: int = 0) -> np.ndarray:
        """Mean over classes of the class means of the point-cloud figures: (4,)."""
        return np.nanmean(np.stack(list(self.cloud_per_class(which).values())), axis=0)

    def cloud_table(self) -> str:
        """Console table of the fused point clouds (after all views) against the true surface."""
        v = self.scores.shape[1]
        heads = ["class", "LSM acc", "LSM comp", "LSM chamfer", "LSM F",
                 "VH acc", "VH comp", "VH chamfer", "VH F"]
        per, per_h = self.cloud_per_class(0), self.cloud_per_class(1)
        rows = [[class_name(s)] + list(per[s]) + list(per_h[s]) for s in per]
        rows.append(["mean"] + list(self.cloud_mean(0)) + list(self.cloud_mean(1)))
        return (f"fused point clouds of the {v} views' depth maps after {v} views vs points on "
                f"the true voxel surface: accuracy, completeness, Chamfer (mean of the two; "
                f"scene units) and F-score at 1/32, {len(self.models)} models\n"
                + tabulate(rows, headers=heads, floatfmt=".4f"))

    def _protocol(self, t: int) -> str:
        return ("mean absolute depth error over foreground pixels (scene units), averaged over "
                "the views seen so far",
                "mean absolute depth error over foreground pixels (scene units), averaged over "
                "all input views (seen or not)",
                "the release's protocol: median absolute depth error over foreground pixels "
                "predicted inside the object's depth range (scene units), averaged over the "
                "views seen so far")[t]

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
        groups = self.seen_unseen()  # seen classes first, then unseen, each with its mean
        rows = []
        for s in (groups[0] + groups[1]) if groups is not None else per:
            row = [class_name(s)] + list(per[s] * scale)
            if self.hull is not None:
                row += list(per_h[s] * scale)
            rows.append(row)
        mean = ["mean"] + list(self.mean("scores", t) * scale)
        if self.hull is not None:
            mean += list(self.mean("hull", t) * scale)
        rows.append(mean)
        if groups is not None:
            for label, classes in zip(("seen", "unseen"), groups, strict=True):
                row = [f"mean {label} ({len(classes)})"] + list(
                    self.group_mean(classes, "scores", t) * scale)
                if self.hull is not None:
                    row += list(self.group_mean(classes, "hull", t) * scale)
                rows.append(row)
        what = (f"IoU x100 at threshold {self.thresholds[t]}" if self.metric == "iou"
                else self._protocol(t))
        return f"{what}, {len(self.models)} models\n" + tabulate(rows, headers=heads,
                                                                    floatfmt=fmt)


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
        on_batch: called with ``(batch, prediction)`` (saving predictions, pictures); the
            prediction is :meth:`Task.prediction` of the model's output (D-LSM: the depth map,
            ``[..., 1]``, of either depth head).

    Returns:
        An :class:`EvalResult`.
    """
    from data.loaders import LoaderConfig, make_loader

    if split == "val":
        bs, ib = args.val_batch_size, args.val_im_batch
    else:
        bs, ib = args.test_batch_size, args.test_im_batch
    args = args.replace(batch_size=bs, im_batch=ib)
    loader = make_loader(LoaderConfig.from_args(args), split, training=False)
    thresholds = tuple(args.eval_thresh)
    res = EvalResult(task=task.kind, metric=task.metric,
                     thresholds=task.score_columns(thresholds))
    scores, hulls, clouds = [], [], []
    total = -(-loader.num_models // bs)
    for batch in tqdm(loader.iterate(0), total=total, desc=f"eval {split}", unit="batch",
                      disable=not progress):
        batch = to_backend(batch)
        pred = task.prediction(_predict_padded(model, batch, bs))  # D-LSM: depth of either head
        scores.append(task.metrics(batch, pred, thresholds)[task.metric])
        hull = None
        if with_hull:
            h_scores, hull = task.hull_scores(batch, thresholds)
            hulls.append(h_scores)
        c = task.point_clouds(batch, pred, hull)  # the depth head's fused clouds, else None
        if c is not None:
            clouds.append(c)
        syn = [as_text(s) for s in np.asarray(batch["synset"])]
        mid = [as_text(s) for s in np.asarray(batch["model_id"])]
        res.models += list(zip(syn, mid, strict=True))
        if on_batch is not None:
            on_batch(batch, pred)
    res.scores = np.concatenate(scores)
    res.hull = np.concatenate(hulls) if with_hull else None
    res.clouds = np.concatenate(clouds) if clouds else None
    return res
