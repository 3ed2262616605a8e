"""Training losses of V-LSM (voxel cross-entropy) and D-LSM (L1 depth, or with the mask head
masked L1 depth plus foreground cross-entropy).

Both average over every time step ``T`` (views seen so far), as the release does: the
ground truth is shared by all time steps and broadcast against the predictions.
"""

from __future__ import annotations

from keras import ops

from ops.depth_head import foreground
from ops.tensors import check_compatible, check_shape, float_dtype

__all__ = ["depth_head_loss", "depth_l1_loss", "depth_mask_loss", "voxel_cross_entropy"]


def _mean(x):
    # sum / size rather than ops.mean: Keras' JAX mean computes float64 in float32.
    return ops.sum(x) / ops.cast(ops.size(x), x.dtype)


def voxel_cross_entropy(logits, voxels):
    """Mean sigmoid cross-entropy of occupancy logits over all time steps and voxels.

    ``mean(max(x, 0) - x y + log(1 + exp(-|x|)))`` (the numerically stable form).

    Args:
        logits: ``[B, T, N, N, N, 1]`` occupancy logits, one grid per time step.
        voxels: ``[B, N, N, N, 1]`` ground-truth occupancy in ``{0, 1}``.

    Returns:
        Scalar loss in the dtype of ``logits`` (nats per voxel).

    Raises:
        ValueError: if a shape is wrong or the grids disagree.
    """
    l_shape = check_shape(logits, "logits", rank=6, tail=(1,))
    v_shape = check_shape(voxels, "voxels", rank=5, tail=(1,))
    check_compatible("logits", (l_shape[0],) + l_shape[2:], "voxels", v_shape)
    dtype = float_dtype(logits)
    logits = ops.cast(logits, dtype)
    labels = ops.cast(voxels, dtype)[:, None]
    loss = ops.relu(logits) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))
    return _mean(loss)


def depth_l1_loss(pred, gt, mask=None):
    """Mean absolute depth error over all time steps, views and (masked) pixels.

    Args:
        pred: ``[B, T, V, H, W, 1]`` predicted depth (scene units), one per time step.
        gt: ``[B, V, H, W, 1]`` ground-truth depth (scene units).
        mask: optional ``[B, V, H, W, 1]`` bool or float weights (e.g. ``gt < 10``, the
            foreground); ``None`` averages over every pixel, as the release does.

    Returns:
        Scalar loss (scene units): ``sum(|pred - gt| m) / max(sum(m), 1)`` with the mask
        broadcast over ``T``.

    Raises:
        ValueError: if a shape is wrong or the tensors disagree.
    """
    p_shape = check_shape(pred, "pred", rank=6, tail=(1,))
    g_shape = check_shape(gt, "gt", rank=5, tail=(1,))
    check_compatible("pred", (p_shape[0],) + p_shape[2:], "gt", g_shape)
    dtype = float_dtype(pred)
    pred = ops.cast(pred, dtype)
    err = ops.abs(pred - ops.cast(gt, dtype)[:, None])
    if mask is None:
        return _mean(err)
    m_shape = check_shape(mask, "mask", rank=5, tail=(1,))
    check_compatible("mask", m_shape, "gt", g_shape)
    m = ops.broadcast_to(ops.cast(mask, dtype)[:, None], ops.shape(err))
    return ops.sum(err * m) / ops.maximum(ops.sum(m), 1.0)


def depth_mask_loss(pred, gt):
    """Loss of the D-LSM ``"mask"`` head (an extension; see :mod:`ops.depth_head`).

    ``L1(d, gt)`` over the true foreground pixels (:func:`ops.depth_head.foreground`; as
    :func:`depth_l1_loss` with its mask) plus the sigmoid cross-entropy of the foreground logit
    ``m`` against the true foreground over every pixel (weight 1). Both terms average over
    every time step and view, like the release loss.

    Args:
        pred: ``[B, T, V, H, W, 2]``: depth ``d`` (scene units) and foreground logit ``m``.
        gt: ``[B, V, H, W, 1]`` ground-truth depth (scene units, background 10).

    Returns:
        Scalar loss: scene units plus nats per pixel.

    Raises:
        ValueError: if a shape is wrong or the tensors disagree.
    """
    p_shape = check_shape(pred, "pred", rank=6, tail=(2,))
    g_shape = check_shape(gt, "gt", rank=5, tail=(1,))
    check_compatible("pred", (p_shape[0],) + p_shape[2:-1], "gt", g_shape[:-1])
    dtype = float_dtype(pred)
    pred = ops.cast(pred, dtype)
    fg = ops.cast(foreground(ops.cast(gt, dtype)), dtype)
    l1 = depth_l1_loss(pred[..., :1], gt, mask=fg)
    logits = pred[..., 1:]
    labels = fg[:, None]
    ce = ops.relu(logits) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))
    return l1 + _mean(ce)


def depth_head_loss(pred, gt):
    """The D-LSM training loss for either head, chosen by ``pred``'s channels.

    Args:
        pred: ``[B, T, V, H, W, 1]`` (release head: :func:`depth_l1_loss` over every pixel) or
            ``[B, T, V, H, W, 2]`` (mask head: :func:`depth_mask_loss`).
        gt: ``[B, V, H, W, 1]`` ground-truth depth (scene units).

    Returns:
        Scalar loss.
    """
    if check_shape(pred, "pred", rank=6)[-1] == 2:
        return depth_mask_loss(pred, gt)
    return depth_l1_loss(pred, gt)
