"""What differs between the heads for the shared loop: target, loss, metrics, baseline, pictures.

A model is picked by name (:mod:`models.registry`, the config key ``model``); its head
(``"voxels"`` or ``"depth"``) picks its task class here (:data:`TASKS`), and
:func:`task_for` gives the task that trains and evaluates that model. A :class:`Task` is all
the loop needs to know; everything else (optimiser, checkpoints, summaries, resuming,
evaluation tables) is shared in :mod:`training.loop` and :mod:`training.evaluate`.

* :class:`VoxelTask` (V-LSM, and any model with head ``"voxels"``): occupancy logits
  ``[B, T, N, N, N, 1]`` against the voxels, sigmoid cross-entropy, IoU, the visual hull's IoU.
* :class:`DepthTask` (D-LSM, head ``"depth"``): depth ``[B, T, V, H, W, C]`` against the
  depth maps, L1 (:func:`ops.losses.depth_head_loss`), depth errors under
  :data:`DEPTH_PROTOCOLS`, the visual hull's depth, fused point clouds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import keras
import numpy as np
from scipy.special import expit

from geometry.camera import DISTANCE
from geometry.depth import BACKGROUND_DEPTH, foreground
from training.config import Args

#: Keys of a batch that are fed to the model.
INPUT_KEYS = ("images", "K", "extrinsic")

#: The point-cloud figures of :meth:`DepthTask.point_clouds` (and of
#: :attr:`training.evaluate.EvalResult.clouds`), in order.
CLOUD_FIGURES = ("accuracy", "completeness", "chamfer", "fscore")


def model_config(args: Args) -> dict[str, Any]:
    """The model configuration an :class:`Args` describes (see :func:`models.lsm.lsm_config`)."""
    cfg = args.to_dict()
    cfg["rnn_channels"] = args.grid_channels
    cfg["norm"] = "None" if args.norm == "none" else args.norm
    return cfg


def model_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """The model's input dict from a loader batch."""
    return {k: batch[k] for k in INPUT_KEYS}


#: The D-LSM depth-error protocols (JSON keys of the test results): the mean over foreground
#: pixels averaged over the views seen so far / over all input views, and the release's
#: evaluation (median over foreground pixels with a predicted depth inside the object's depth
#: range, see :func:`release_depth_error`) averaged over the views seen so far.
DEPTH_PROTOCOLS = ("seen_views", "all_views", "release_median_seen_views")


def release_depth_error(pred: np.ndarray, gt: np.ndarray,
                        background: float = BACKGROUND_DEPTH) -> np.ndarray:
    """The original release's per-image depth error: a masked median.

    For each image, the median of ``|pred - gt|`` over the pixels that are foreground in the
    ground truth (:func:`geometry.depth.foreground`) and whose prediction lies in the depth
    range of the object cube seen from the camera distance ``d`` (``d +- sqrt(3)/2``, ``d`` =
    :data:`geometry.camera.DISTANCE`). Pixels predicted as background are left out, unlike
    :func:`ops.metrics.depth_error`, which averages over every foreground pixel.

    Args:
        pred: ``(B, T, V, H, W)`` or ``(B, T, V, H, W, 1)`` predicted depth (scene units).
        gt: ``(B, V, H, W)`` or ``(B, V, H, W, 1)`` true depth (scene units).
        background: depth of background pixels in ``gt``.

    Returns:
        ``(B, T, V)`` scene units; NaN where no pixel passes both masks.
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.ndim == 6:
        pred = pred[..., 0]
    if gt.ndim == 5:
        gt = gt[..., 0]
    if pred.ndim != 5 or gt.shape != pred.shape[:1] + pred.shape[2:]:
        raise ValueError(f"pred (B, T, V, H, W) and gt (B, V, H, W) disagree: {pred.shape}, "
                         f"{gt.shape}")
    half = np.sqrt(3.0) / 2
    err = np.abs(pred - gt[:, None])
    ok = foreground(gt[:, None], background) & (pred > DISTANCE - half) & (pred < DISTANCE + half)
    err = np.where(ok, err, np.nan).reshape(pred.shape[:3] + (-1,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN images stay NaN
        return np.nanmedian(err, axis=-1)


def depth_protocols(mean_err: np.ndarray, release_err: np.ndarray) -> np.ndarray:
    """Per-model depth errors under each of :data:`DEPTH_PROTOCOLS`.

    Args:
        mean_err: ``(B, T, V)`` mean foreground errors (:func:`ops.metrics.depth_error`).
        release_err: ``(B, T, V)`` release errors (:func:`release_depth_error`).

    Returns:
        ``(B, T, 3)`` scene units (see :func:`depth_error_by_views`).
    """
    return np.concatenate([depth_error_by_views(mean_err),
                           depth_error_by_views(release_err)[..., :1]], axis=-1)


def depth_error_by_views(err: np.ndarray) -> np.ndarray:
    """Average per-image depth errors over views, for every number of views seen.

    Two protocols (:data:`DEPTH_PROTOCOLS`): after ``t + 1`` views, the mean over the depth
    maps of the views seen so far (views ``0..t``; the depth LSM's own input views), and the
    mean over all ``V`` input views (unseen ones included). Images without foreground (NaN)
    are skipped.

    Args:
        err: ``(B, T, V)`` per-image errors (scene units) from :func:`ops.metrics.depth_error`.

    Returns:
        ``(B, T, 2)``: ``[..., 0]`` seen views, ``[..., 1]`` all views (NaN where no view of
        the set has foreground).
    """
    err = np.asarray(err, np.float64)
    if err.ndim != 3:
        raise ValueError(f"err must be (B, T, V), got shape {err.shape}")
    b, t, v = err.shape
    out = np.full((b, t, 2), np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices stay NaN
        for k in range(t):
            out[:, k, 0] = np.nanmean(err[:, k, : min(k + 1, v)], axis=1)
            out[:, k, 1] = np.nanmean(err[:, k, :], axis=1)
    return out


def model_name(args: Args, default: str = "vlsm") -> str:
    """The registered model a configuration names: its key ``model``, else ``default`` (the
    script's model: ``"vlsm"`` for ``voxels/``, ``"dlsm"`` for ``depth/``)."""
    return getattr(args, "model", None) or default


@dataclass(frozen=True)
class Task:
    """How the loop trains and evaluates one registered model of one head.

    Subclasses (one per head, :data:`TASKS`) set the class attributes and the head's methods.

    Attributes:
        model: the registered model name (:mod:`models.registry`), e.g. ``"vlsm"``.
        head: the head this task serves (class attribute).
        target: the batch key the model predicts (class attribute).
        metric: the key of :meth:`metrics` that evaluation tabulates (class attribute).
    """

    model: str
    head: ClassVar[str] = ""
    target: ClassVar[str] = ""
    metric: ClassVar[str] = ""

    @property
    def kind(self) -> str:
        """The model's name, as checkpoints (``state.json``'s ``task``) and logs record it."""
        return self.model

    # -- model and loss ----------------------------------------------------------------------
    def build_model(self, args: Args, precision: str | None = None) -> keras.Model:
        """The model for ``args``, built (weights created) for ``im_batch`` views, its
        convolutions computing in ``precision`` (default ``args.precision``; ``"auto"`` is
        resolved by :func:`training.precision.resolve_precision`)."""
        from models.precision import precision as use_precision
        from models.registry import build_model
        from training.precision import resolve_precision

        with use_precision(resolve_precision(precision or args.precision)):
            model = build_model(self.model, model_config(args))
        v = args.im_batch
        model({"images": np.zeros((1, v, args.im_h, args.im_w, 3), np.float32),
               "K": np.tile(np.eye(3, dtype=np.float32), (1, v, 1, 1)),
               "extrinsic": np.tile(np.eye(3, 4, dtype=np.float32), (1, v, 1, 1))})
        return model

    def loss(self, y_true: Any, y_pred: Any) -> Any:
        """Scalar training loss over every time step (and view)."""
        raise NotImplementedError

    def prediction(self, pred: Any) -> np.ndarray:
        """The model's output as every consumer reads it (metrics, pictures, exports), numpy.
        Idempotent."""
        return np.asarray(keras.ops.convert_to_numpy(pred))

    def keras_target(self, batch: dict[str, Any]) -> Any:
        """The training target with a time axis, so Keras sees equal ranks (``[B, 1, ...]``)."""
        return keras.ops.expand_dims(batch[self.target], 1)

    def keras_loss(self, y_true: Any, y_pred: Any) -> Any:
        """:meth:`loss` on a target from :meth:`keras_target` (what ``model.compile`` gets)."""
        return self.loss(y_true[:, 0], y_pred)

    # -- evaluation --------------------------------------------------------------------------
    def metrics(self, batch: dict[str, Any], pred: Any, thresholds: tuple[float, ...] = (0.4,)
                ) -> dict[str, np.ndarray]:
        """Per-example metrics for every number of views: ``{self.metric: (B, T, n)}``."""
        raise NotImplementedError

    def score_columns(self, thresholds: tuple[float, ...]) -> tuple[float, ...]:
        """One entry per column ``n`` of :meth:`metrics` (what
        :attr:`training.evaluate.EvalResult.thresholds` holds)."""
        raise NotImplementedError

    def hull_scores(self, batch: dict[str, Any], thresholds: tuple[float, ...]
                    ) -> tuple[np.ndarray, Any]:
        """The visual hull baseline's scores ``(B, V, n)`` as :meth:`metrics`, and what
        :meth:`point_clouds` needs of the hull (or None)."""
        raise NotImplementedError

    def point_clouds(self, batch: dict[str, Any], pred: np.ndarray, hull: Any
                     ) -> np.ndarray | None:
        """``(B, 2, len(CLOUD_FIGURES))`` point-cloud figures of the model and the hull, or
        None when the head has none."""
        return None

    def scalar_summaries(self, metrics: dict[str, np.ndarray]) -> dict[str, float]:
        """Batch-mean scalars for TensorBoard: one per number of views."""
        values = metrics[self.metric]
        return {f"{self.metric}/{t + 1}_views": float(np.nanmean(values[:, t, 0]))
                for t in range(values.shape[1])}

    def image_summaries(self, batch: dict[str, Any], pred: Any,
                        max_items: int = 2) -> dict[str, np.ndarray]:
        """Pictures for TensorBoard: name -> (N, H, W, 3) uint8 (the input views and the
        head's panels)."""
        from vis import pictures

        images = np.asarray(batch["images"])[:max_items]
        return {"input_views": pictures.view_strip(images),
                **self._panels(batch, self.prediction(pred)[:max_items], max_items)}

    def _panels(self, batch: dict[str, Any], pred: np.ndarray, max_items: int
                ) -> dict[str, np.ndarray]:
        raise NotImplementedError

    # -- exports -----------------------------------------------------------------------------
    def save_prediction(self, item: dict[str, Any], pred: np.ndarray, folder: Path
                        ) -> list[Path]:
        """Save one example's prediction (:func:`training.export.save_prediction`)."""
        raise NotImplementedError

    def contact_sheet(self, entries: list[dict[str, Any]], path: Path) -> Path:
        """A PNG of inputs, predictions and truth (:func:`training.export.contact_sheet`)."""
        raise NotImplementedError


@dataclass(frozen=True)
class VoxelTask(Task):
    """Head ``"voxels"``: logits ``(B, T, N, N, N, 1)`` against voxels ``(B, N, N, N, 1)``."""

    head: ClassVar[str] = "voxels"
    target: ClassVar[str] = "voxels"
    metric: ClassVar[str] = "iou"

    def loss(self, y_true: Any, y_pred: Any) -> Any:
        """Sigmoid cross-entropy over every time step (:func:`ops.losses.voxel_cross_entropy`)."""
        from ops.losses import voxel_cross_entropy

        return voxel_cross_entropy(y_pred, y_true)

    def metrics(self, batch: dict[str, Any], pred: Any, thresholds: tuple[float, ...] = (0.4,)
                ) -> dict[str, np.ndarray]:
        """``{"iou": (B, T, n_thresh)}``: IoU in [0, 1] of ``sigmoid(pred) > thresh``."""
        from ops.metrics import voxel_iou

        probs = keras.ops.sigmoid(pred)
        iou = voxel_iou(probs, batch["voxels"], thresholds, per_example=True)
        return {"iou": np.asarray(keras.ops.convert_to_numpy(iou))}

    def score_columns(self, thresholds: tuple[float, ...]) -> tuple[float, ...]:
        """The IoU thresholds."""
        return tuple(thresholds)

    def hull_scores(self, batch: dict[str, Any], thresholds: tuple[float, ...]
                    ) -> tuple[np.ndarray, None]:
        """The IoU ``(B, V, n_thresh)`` of the visual hull of the silhouettes of views
        ``0..t`` (the same at every threshold), and None."""
        from ops.visual_hull import visual_hull

        masks = foreground(np.asarray(batch["depth"])[..., 0]).astype(np.float32)
        K, E = np.asarray(batch["K"]), np.asarray(batch["extrinsic"])
        gt = np.asarray(batch["voxels"])[..., 0] > 0.5
        hull = np.asarray(keras.ops.convert_to_numpy(
            visual_hull(masks, K, E, nvox=gt.shape[-1]))) > 0.5  # (B, V, N, N, N)
        inter = (hull & gt[:, None]).sum(axis=(2, 3, 4))
        union = (hull | gt[:, None]).sum(axis=(2, 3, 4))
        iou = inter / np.maximum(union, 1)
        return np.repeat(iou[..., None], len(thresholds), axis=-1), None

    def _panels(self, batch: dict[str, Any], pred: np.ndarray, max_items: int
                ) -> dict[str, np.ndarray]:
        from vis import pictures

        gt = np.asarray(batch["voxels"])[:max_items]
        return {"occupancy_pred_vs_gt": pictures.voxel_panels(expit(pred), gt)}

    def save_prediction(self, item: dict[str, Any], pred: np.ndarray, folder: Path
                        ) -> list[Path]:
        """Probabilities ``.npz`` and a mesh per number of views."""
        from training import export

        return export.save_voxels(item, expit(pred[..., 0]), folder)

    def contact_sheet(self, entries: list[dict[str, Any]], path: Path) -> Path:
        from training import export

        return export.contact_sheet([{**e, "pred": expit(e["pred"])} for e in entries], path,
                                    export.voxel_panel)


@dataclass(frozen=True)
class DepthTask(Task):
    """Head ``"depth"``: depth ``(B, T, V, H, W, C)`` against depth maps ``(B, V, H, W, 1)``
    (scene units; ``C`` = 2 with the mask head, see :mod:`ops.depth_head`)."""

    head: ClassVar[str] = "depth"
    target: ClassVar[str] = "depth"
    metric: ClassVar[str] = "depth_error"

    def loss(self, y_true: Any, y_pred: Any) -> Any:
        """L1 depth, ``(B, T, V, H, W, 1)`` vs ``(B, V, H, W, 1)``, scene units; with the mask
        head, ``(B, T, V, H, W, 2)``, L1 over the true foreground plus foreground
        cross-entropy (:func:`ops.losses.depth_head_loss`)."""
        from ops.losses import depth_head_loss

        return depth_head_loss(y_pred, y_true)

    def prediction(self, pred: Any) -> np.ndarray:
        """The depth map ``(B, T, V, H, W, 1)``, scene units, of either depth head
        (:func:`ops.depth_head.depth_from_head`; the release head's output unchanged)."""
        from ops.depth_head import depth_from_head

        return super().prediction(depth_from_head(pred))

    def metrics(self, batch: dict[str, Any], pred: Any, thresholds: tuple[float, ...] = (0.4,)
                ) -> dict[str, np.ndarray]:
        """``{"depth_error": (B, T, 3)}``: depth error (scene units) after ``t + 1`` views
        under each of :data:`DEPTH_PROTOCOLS` (:func:`depth_protocols`), of the depth map of
        either head (:meth:`prediction`); ``thresholds`` is unused."""
        from ops.metrics import depth_error

        pred = self.prediction(pred)
        err = depth_error(pred, batch["depth"], background=BACKGROUND_DEPTH)
        release = release_depth_error(pred, np.asarray(batch["depth"]))
        return {"depth_error": depth_protocols(keras.ops.convert_to_numpy(err), release)}

    def score_columns(self, thresholds: tuple[float, ...]) -> tuple[float, ...]:
        """One entry per protocol of :data:`DEPTH_PROTOCOLS` (its index)."""
        return tuple(float(i) for i in range(len(DEPTH_PROTOCOLS)))

    def hull_scores(self, batch: dict[str, Any], thresholds: tuple[float, ...]
                    ) -> tuple[np.ndarray, np.ndarray]:
        """The depth errors ``(B, V, 3)`` of the visual hull carved from views ``0..t``, seen
        from every view, and its depth maps ``(B, V, H, W)`` after all ``V`` views."""
        from ops.visual_hull import visual_hull, visual_hull_depth

        depth = np.asarray(batch["depth"])[..., 0]
        masks = foreground(depth).astype(np.float32)
        K, E = np.asarray(batch["K"]), np.asarray(batch["extrinsic"])
        nvox = np.asarray(batch["voxels"]).shape[1]
        hull = visual_hull(masks, K, E, nvox=nvox)  # (B, T, N, N, N)
        b, t = hull.shape[:2]
        v = depth.shape[1]
        h, w = depth.shape[2:]
        errs = np.full((b, t, v), np.nan)
        hull_depths = []
        fg = masks > 0.5
        count = fg.sum(axis=(2, 3))  # (B, V)
        for k in range(t):
            hd = visual_hull_depth(hull[:, k], K, E, im_size=(h, w))  # (B, V, H, W)
            hd = np.asarray(keras.ops.convert_to_numpy(hd))[..., 0]  # (B, V, H, W)
            total = (np.abs(hd - depth) * fg).sum(axis=(2, 3))
            errs[:, k] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            hull_depths.append(hd)
        release = release_depth_error(np.stack(hull_depths, axis=1), depth)
        return depth_protocols(errs, release), hull_depths[-1]

    def point_clouds(self, batch: dict[str, Any], pred: np.ndarray, hull: Any
                     ) -> np.ndarray:
        """The fused point clouds of all views' depth maps after all views, of the model
        (``[:, 0]``) and of the hull's depth maps ``hull`` (``[:, 1]``; NaN when None)."""
        c = _cloud_figures(batch, pred[:, -1, ..., 0])
        c_h = _cloud_figures(batch, hull) if hull is not None else np.full_like(c, np.nan)
        return np.stack([c, c_h], axis=1)

    def _panels(self, batch: dict[str, Any], pred: np.ndarray, max_items: int
                ) -> dict[str, np.ndarray]:
        from vis import pictures

        gt = np.asarray(batch["depth"])[:max_items]
        return {"depth_pred_vs_gt": pictures.depth_panels(pred, gt)}

    def save_prediction(self, item: dict[str, Any], pred: np.ndarray, folder: Path
                        ) -> list[Path]:
        """Depth maps ``.npz`` and a fused, coloured point cloud of the last step."""
        from training import export

        return export.save_depth(item, self.prediction(pred), folder)

    def contact_sheet(self, entries: list[dict[str, Any]], path: Path) -> Path:
        from training import export

        return export.contact_sheet([{**e, "pred": self.prediction(e["pred"])}
                                     for e in entries], path, export.depth_panel)


def _cloud_figures(batch: dict[str, Any], depth: np.ndarray) -> np.ndarray:
    """Point-cloud figures of fused depth maps, per model.

    Args:
        batch: the loader batch (images, K, extrinsic, voxels).
        depth: (B, V, H, W) depth maps of the batch's views (scene units).

    Returns:
        (B, 4) :data:`CLOUD_FIGURES` against the surface of each model's true voxels.
    """
    from training.pointclouds import chamfer, voxel_surface_points
    from vis.meshes import fuse_point_cloud

    images, K, E = (np.asarray(batch[k]) for k in ("images", "K", "extrinsic"))
    voxels = np.asarray(batch["voxels"])[..., 0]
    out = np.full((len(depth), len(CLOUD_FIGURES)), np.nan)
    for i in range(len(depth)):
        cloud = fuse_point_cloud(depth[i], images[i], K[i], E[i])
        gt = voxel_surface_points(voxels[i])
        if len(gt):
            figs = chamfer(np.asarray(cloud.vertices), gt)
            out[i] = [figs[k] for k in CLOUD_FIGURES]
    return out


#: Head -> its task class (:data:`models.registry.HEADS`).
TASKS: dict[str, type[Task]] = {"voxels": VoxelTask, "depth": DepthTask}


def task_for(model: str) -> Task:
    """The task that trains and evaluates the registered model ``model``: the task class of
    its head.

    Raises:
        ValueError: no model of that name.
    """
    from models.registry import model_head

    return TASKS[model_head(model)](model)


#: The release models' tasks.
VLSM_TASK = VoxelTask("vlsm")
DLSM_TASK = DepthTask("dlsm")
