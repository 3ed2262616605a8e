"""What differs between V-LSM and D-LSM for the shared loop: model, target, loss, metrics, pictures.

A :class:`Task` is all the loop needs to know; everything else (optimiser, checkpoints,
summaries, resuming, evaluation tables) is shared in :mod:`training.loop` and
:mod:`training.evaluate`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from scipy.special import expit

from geometry.camera import DISTANCE
from geometry.depth import BACKGROUND_DEPTH, foreground
from training.config import Args

#: Keys of a batch that are fed to the model.
INPUT_KEYS = ("images", "K", "extrinsic")


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


@dataclass(frozen=True)
class Task:
    """One of the two LSM problems.

    Attributes:
        kind: ``"vlsm"`` or ``"dlsm"``.
        target: the batch key the model predicts (``"voxels"`` or ``"depth"``).
    """

    kind: str
    target: str

    # -- model and loss ----------------------------------------------------------------------
    def build_model(self, args: Args, precision: str | None = None) -> keras.Model:
        """The model for ``args``, built (weights created) for ``im_batch`` views, its
        convolutions computing in ``precision`` (default ``args.precision``; ``"auto"`` is
        resolved by :func:`training.precision.resolve_precision`)."""
        from models.lsm import build_model
        from models.precision import precision as use_precision
        from training.precision import resolve_precision

        with use_precision(resolve_precision(precision or args.precision)):
            model = build_model(self.kind, model_config(args))
        v = args.im_batch
        model({"images": np.zeros((1, v, args.im_h, args.im_w, 3), np.float32),
               "K": np.tile(np.eye(3, dtype=np.float32), (1, v, 1, 1)),
               "extrinsic": np.tile(np.eye(3, 4, dtype=np.float32), (1, v, 1, 1))})
        return model

    def loss(self, y_true: Any, y_pred: Any) -> Any:
        """Scalar training loss over every time step (and view).

        V-LSM: sigmoid cross-entropy, logits (B, T, N, N, N, 1) vs voxels (B, N, N, N, 1).
        D-LSM: L1 depth, (B, T, V, H, W, 1) vs (B, V, H, W, 1), scene units; with the mask
        head, (B, T, V, H, W, 2), L1 over the true foreground plus foreground cross-entropy
        (:func:`ops.losses.depth_head_loss`).
        """
        if self.kind == "vlsm":
            from ops.losses import voxel_cross_entropy

            return voxel_cross_entropy(y_pred, y_true)
        from ops.losses import depth_head_loss

        return depth_head_loss(y_pred, y_true)

    def prediction(self, pred: Any) -> np.ndarray:
        """The model's output as every consumer reads it (metrics, pictures, exports), numpy.

        V-LSM: the logits, unchanged. D-LSM: the depth map (B, T, V, H, W, 1), scene units, of
        either depth head (:func:`ops.depth_head.depth_from_head`; the release head's output
        unchanged). Idempotent.
        """
        if self.kind == "dlsm":
            from ops.depth_head import depth_from_head

            pred = depth_from_head(pred)
        return np.asarray(keras.ops.convert_to_numpy(pred))

    def keras_target(self, batch: dict[str, Any]) -> Any:
        """The training target with a time axis, so Keras sees equal ranks.

        V-LSM: (B, 1, N, N, N, 1) voxels; D-LSM: (B, 1, V, H, W, 1) depth.
        """
        return keras.ops.expand_dims(batch[self.target], 1)

    def keras_loss(self, y_true: Any, y_pred: Any) -> Any:
        """:meth:`loss` on a target from :meth:`keras_target` (what ``model.compile`` gets)."""
        return self.loss(y_true[:, 0], y_pred)

    # -- metrics -----------------------------------------------------------------------------
    def metrics(self, batch: dict[str, Any], pred: Any, thresholds: tuple[float, ...] = (0.4,)
                ) -> dict[str, np.ndarray]:
        """Per-example metrics for every number of views.

        Returns:
            V-LSM: ``{"iou": (B, T, n_thresh)}`` IoU in [0, 1].
            D-LSM: ``{"depth_error": (B, T, 3)}`` depth error (scene units) after ``t + 1``
            views under each of :data:`DEPTH_PROTOCOLS` (see :func:`depth_protocols`), of the
            depth map of either head (:meth:`prediction`).
        """
        if self.kind == "vlsm":
            from ops.metrics import voxel_iou

            probs = keras.ops.sigmoid(pred)
            iou = voxel_iou(probs, batch["voxels"], thresholds, per_example=True)
            return {"iou": np.asarray(keras.ops.convert_to_numpy(iou))}
        from ops.metrics import depth_error

        pred = self.prediction(pred)
        err = depth_error(pred, batch["depth"], background=BACKGROUND_DEPTH)
        release = release_depth_error(pred, np.asarray(batch["depth"]))
        return {"depth_error": depth_protocols(keras.ops.convert_to_numpy(err), release)}

    def scalar_summaries(self, metrics: dict[str, np.ndarray]) -> dict[str, float]:
        """Batch-mean scalars for TensorBoard: one per number of views."""
        out = {}
        if "iou" in metrics:
            for t in range(metrics["iou"].shape[1]):
                out[f"iou/{t + 1}_views"] = float(metrics["iou"][:, t, 0].mean())
        if "depth_error" in metrics:
            for t in range(metrics["depth_error"].shape[1]):
                out[f"depth_error/{t + 1}_views"] = float(
                    np.nanmean(metrics["depth_error"][:, t, 0]))
        return out

    def image_summaries(self, batch: dict[str, Any], pred: Any,
                        max_items: int = 2) -> dict[str, np.ndarray]:
        """Pictures for TensorBoard: name -> (N, H, W, 3) uint8."""
        from vis import pictures

        images = np.asarray(batch["images"])[:max_items]
        out = {"input_views": pictures.view_strip(images)}
        pred = self.prediction(pred)[:max_items]
        if self.kind == "vlsm":
            probs = expit(pred)
            gt = np.asarray(batch["voxels"])[:max_items]
            out["occupancy_pred_vs_gt"] = pictures.voxel_panels(probs, gt)
        else:
            gt = np.asarray(batch["depth"])[:max_items]
            out["depth_pred_vs_gt"] = pictures.depth_panels(pred, gt)
        return out


VLSM_TASK = Task(kind="vlsm", target="voxels")
DLSM_TASK = Task(kind="dlsm", target="depth")
TASKS = {"vlsm": VLSM_TASK, "dlsm": DLSM_TASK}
