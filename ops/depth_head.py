"""The D-LSM output heads: turning the depth network's output into a depth map.

Two heads (``depth_head`` in the args; :data:`models.depth_nets.DEPTH_HEADS`):

* ``"release"`` (the paper): one channel, the depth ``d`` in scene units;
* ``"mask"`` (an extension, not in the paper): two channels, the depth ``d`` (scene units, the
  same parametrisation as the release channel) and a foreground logit ``m``. The depth map is
  the composite ``where(m > 0, d, background)``, so silhouettes are as sharp as the pixel grid
  instead of an L1 regression's blend of object and background depth.

Everything that consumes a D-LSM prediction (metrics, pictures, point clouds, exports) calls
:func:`depth_from_head` first; it is the identity on one-channel predictions, so callers need
not know which head produced them.
"""

from __future__ import annotations

from keras import ops

from geometry.depth import BACKGROUND_DEPTH, FOREGROUND_EPS
from ops.tensors import check_shape

__all__ = ["depth_from_head", "foreground"]


def foreground(depth, background: float = BACKGROUND_DEPTH):
    """Foreground mask of a true depth map (the tensor form of :func:`geometry.depth.foreground`).

    Args:
        depth: ``[..., 1]`` true depth (scene units; background pixels hold ``background``).
        background: the depth of background pixels.

    Returns:
        Bool tensor of ``depth``'s shape: ``depth < background - FOREGROUND_EPS``.
    """
    return ops.less(depth, background - FOREGROUND_EPS)


def depth_from_head(pred, background: float = BACKGROUND_DEPTH):
    """The depth map of a depth-network output, for either head.

    Args:
        pred: ``[..., C]`` network output, e.g. ``[B, T, V, H, W, C]``. ``C = 1`` (release
            head): the depth in scene units, returned unchanged. ``C = 2`` (mask head): channel
            0 the depth ``d`` (scene units), channel 1 the foreground logit ``m``.
        background: depth given to pixels predicted as background (scene units; the data's
            :data:`geometry.depth.BACKGROUND_DEPTH`, 10).

    Returns:
        ``[..., 1]`` depth in scene units: ``pred`` itself for ``C = 1``, else
        ``where(m > 0, d, background)`` in ``pred``'s dtype.

    Raises:
        ValueError: if the last axis is not 1 or 2.
    """
    shape = check_shape(pred, "pred")
    if len(shape) == 0 or shape[-1] not in (1, 2):
        raise ValueError(f"pred must be [..., 1] (release head) or [..., 2] (mask head), "
                         f"got shape {shape}")
    if shape[-1] == 1:
        return pred
    d, m = pred[..., :1], pred[..., 1:]
    return ops.where(m > 0, d, ops.cast(background, d.dtype))
