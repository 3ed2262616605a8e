"""Pictures of inputs and predictions as uint8 arrays (TensorBoard images, contact sheets).

Voxel grids are shown as projections: the maximum occupancy probability along world z (a view
from the top) and along world y (a view from the side), so a grid fits in a 2D picture.
Used by :mod:`training.tasks` (TensorBoard) and :mod:`training.export` (contact sheets).
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, np.float64) * 255.0), 0, 255).astype(np.uint8)


def _upscale(img: np.ndarray, factor: int) -> np.ndarray:
    return np.repeat(np.repeat(img, factor, axis=-3), factor, axis=-2)


def view_strip(images: np.ndarray) -> np.ndarray:
    """Views of each model side by side.

    Args:
        images: (B, V, H, W, 3) float RGB in [0, 1].

    Returns:
        (B, H, V*W, 3) uint8.
    """
    b, v, h, w, c = images.shape
    return _to_uint8(np.transpose(images, (0, 2, 1, 3, 4)).reshape(b, h, v * w, c))


def grid_projections(grid: np.ndarray) -> np.ndarray:
    """Top (max over z) and side (max over y) projections of occupancy grids.

    Args:
        grid: (..., N, N, N) values in [0, 1], indexed world [x, y, z].

    Returns:
        (..., N, 2N) float: left the top view (rows = y reversed, columns = x), right the
        side view (rows = z from the top, columns = x).
    """
    top = np.swapaxes(grid.max(axis=-1), -1, -2)[..., ::-1, :]
    side = np.swapaxes(grid.max(axis=-2), -1, -2)[..., ::-1, :]
    return np.concatenate([top, side], axis=-1)


def voxel_panels(probs: np.ndarray, gt: np.ndarray, scale: int = 4) -> np.ndarray:
    """Predicted occupancy after 1..T views, then the ground truth, as projections.

    Args:
        probs: (B, T, N, N, N, 1) probabilities.
        gt: (B, N, N, N, 1) occupancy.
        scale: pixel upscaling.

    Returns:
        (B, N*scale, (T+1)*2N*scale, 3) uint8 (viridis colour map).
    """
    pr = grid_projections(probs[..., 0])  # (B, T, N, 2N)
    g = grid_projections(gt[..., 0])[:, None]  # (B, 1, N, 2N)
    both = np.concatenate([pr, g], axis=1)
    b, t, n, w2 = both.shape
    tiles = np.transpose(both, (0, 2, 1, 3)).reshape(b, n, t * w2)
    rgb = colormaps["viridis"](np.clip(tiles, 0, 1))[..., :3]
    return _upscale(_to_uint8(rgb), scale)


def depth_colour(depth: np.ndarray, lo: float = 1.3, hi: float = 2.7,
                 background: float = 10.0) -> np.ndarray:
    """Colour-map depth maps (turbo); background pixels white.

    A pixel is drawn as background when its depth is nearer to ``background`` than to ``hi``
    (predicted depth maps approach the background value without reaching it); depths between
    ``hi`` and that cut (blends at silhouettes) get the far end of the colour map.

    Args:
        depth: (..., H, W) scene units.
        lo, hi: depth range mapped to the colour map.
        background: depth of background pixels.

    Returns:
        (..., H, W, 3) float in [0, 1].
    """
    x = (np.asarray(depth, np.float64) - lo) / (hi - lo)
    rgb = colormaps["turbo"](np.clip(x, 0, 1))[..., :3]
    rgb[np.asarray(depth) >= 0.5 * (hi + background)] = 1.0
    return rgb


def depth_panels(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Predicted depth after all views above the true depth, for each view.

    Args:
        pred: (B, T, V, H, W, 1) scene units (the last time step is shown).
        gt: (B, V, H, W, 1) scene units.

    Returns:
        (B, 2H, V*W, 3) uint8.
    """
    if pred.shape[-1] != 1:
        raise ValueError(f"pred must be a depth map (..., 1), got {pred.shape} (a mask-head "
                         "output needs ops.depth_head.depth_from_head first)")
    p = depth_colour(pred[:, -1, ..., 0])  # (B, V, H, W, 3)
    g = depth_colour(gt[..., 0])
    rows = [view_strip(p), view_strip(g)]
    return np.concatenate(rows, axis=1)
