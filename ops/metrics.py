"""Evaluation metrics: voxel IoU per time step and foreground depth error per image."""

from __future__ import annotations

from collections.abc import Sequence

from keras import ops

from geometry.depth import BACKGROUND_DEPTH
from ops.tensors import check_compatible, check_shape

__all__ = ["depth_error", "voxel_iou"]


def voxel_iou(probs, voxels, thresholds: Sequence[float] = (0.4,), per_example: bool = False):
    """Intersection over union of thresholded occupancy, per time step and threshold.

    ``IoU = |{p > th} & {y}| / |{p > th} | {y}|``; when the union is empty (both grids
    empty) the IoU is defined as 1.

    Args:
        probs: ``[B, T, N, N, N, 1]`` occupancy probabilities (after the sigmoid).
        voxels: ``[B, N, N, N, 1]`` ground-truth occupancy (``> 0.5`` is occupied).
        thresholds: probability thresholds; the paper reports 0.4.
        per_example: return every batch item instead of the batch mean.

    Returns:
        float32 ``[T, len(thresholds)]`` batch-mean IoU in ``[0, 1]``, or
        ``[B, T, len(thresholds)]`` when ``per_example``.

    Raises:
        ValueError: if a shape is wrong or ``thresholds`` is empty.
    """
    p_shape = check_shape(probs, "probs", rank=6, tail=(1,))
    v_shape = check_shape(voxels, "voxels", rank=5, tail=(1,))
    check_compatible("probs", (p_shape[0],) + p_shape[2:], "voxels", v_shape)
    if len(thresholds) == 0:
        raise ValueError("`thresholds` must not be empty.")
    probs = ops.cast(probs, "float32")[..., 0]  # [B, T, N, N, N]
    gt = ops.cast(ops.cast(voxels, "float32")[:, None, ..., 0] > 0.5, "float32")
    ious = []
    for th in thresholds:
        pred = ops.cast(probs > th, "float32")
        inter = ops.sum(pred * gt, axis=(2, 3, 4))
        union = ops.sum(ops.maximum(pred, gt), axis=(2, 3, 4))
        ious.append(ops.where(union > 0, inter / ops.maximum(union, 1.0), 1.0))
    iou = ops.stack(ious, axis=-1)  # [B, T, n_thresh]
    return iou if per_example else ops.mean(iou, axis=0)


def depth_error(pred, gt, background: float = BACKGROUND_DEPTH):
    """Mean absolute depth error over each image's foreground pixels.

    Foreground is ``gt < background``. (The release's evaluation took the median over
    foreground pixels whose prediction lies in ``2 +- sqrt(3)/2``; this is the plain mean.)

    Args:
        pred: ``[B, T, V, H, W, 1]`` predicted depth (scene units), one per time step.
        gt: ``[B, V, H, W, 1]`` ground-truth depth (scene units; background pixels hold
            ``background``).
        background: the depth value of background pixels (10 in the release renders).

    Returns:
        float32 ``[B, T, V]`` mean error (scene units) per image; NaN for an image with no
        foreground pixel.

    Raises:
        ValueError: if a shape is wrong or the tensors disagree.
    """
    p_shape = check_shape(pred, "pred", rank=6, tail=(1,))
    g_shape = check_shape(gt, "gt", rank=5, tail=(1,))
    check_compatible("pred", (p_shape[0],) + p_shape[2:], "gt", g_shape)
    pred = ops.cast(pred, "float32")[..., 0]
    gt = ops.cast(gt, "float32")[:, None, ..., 0]  # [B, 1, V, H, W]
    fg = ops.cast(gt < background, "float32")
    total = ops.sum(ops.abs(pred - gt) * fg, axis=(3, 4))
    count = ops.broadcast_to(ops.sum(fg, axis=(3, 4)), ops.shape(total))
    return ops.where(count > 0, total / ops.maximum(count, 1.0), float("nan"))
