"""The voxel grid (numpy): cell centres and the release's voxel storage order.

An ``N^3`` grid over the cube ``[vmin, vmax]^3`` (``GRID_RANGE`` by default, scene units) is
indexed ``grid[x, y, z]`` = world axes; cell ``i`` along an axis spans
``[vmin + i * vsize, vmin + (i + 1) * vsize)`` with ``vsize = (vmax - vmin) / N`` (see
:mod:`geometry`). The release stores its voxel files in another order
(:func:`stored_to_world`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The release's grid bounds ``(vmin, vmax)`` (scene units): the unit cube around the origin.
GRID_RANGE = (-0.5, 0.5)


def cell_centres(nvox: int, grid_range: Sequence[float] = GRID_RANGE) -> np.ndarray:
    """Centres of the cells along one axis: ``vmin + (i + 0.5) * vsize``.

    Args:
        nvox: cells per axis ``N``.
        grid_range: ``(vmin, vmax)`` grid bounds (scene units).

    Returns:
        float64 ``[N]`` centres (scene units).

    Raises:
        ValueError: if ``nvox < 1`` or ``vmax <= vmin``.
    """
    vmin, vmax = (float(x) for x in grid_range)
    if nvox < 1 or not vmax > vmin:
        raise ValueError(f"need `nvox` >= 1 and `vmax` > `vmin`, got {nvox}, {vmin}, {vmax}.")
    vsize = (vmax - vmin) / nvox
    return vmin + (np.arange(nvox, dtype=np.float64) + 0.5) * vsize


def voxel_centres(nvox: int, grid_range: Sequence[float] = GRID_RANGE) -> np.ndarray:
    """World coordinates of every voxel centre of an ``N^3`` grid indexed ``[x, y, z]``.

    Args:
        nvox: cells per axis ``N``.
        grid_range: ``(vmin, vmax)`` grid bounds (scene units).

    Returns:
        float32 ``[N, N, N, 3]``; entry ``[i, j, k]`` is ``(x_i, y_j, z_k)``.

    Raises:
        ValueError: if ``nvox < 1`` or ``vmax <= vmin``.
    """
    c = cell_centres(nvox, grid_range)
    return np.stack(np.meshgrid(c, c, c, indexing="ij"), axis=-1).astype(np.float32)


def stored_to_world(volume: np.ndarray) -> np.ndarray:
    """Reorder a grid from the release's storage order to world ``[x, y, z]`` indexing.

    Transposes axes (0, 2, 1), then flips the new axis 1. Input and output ``(N, N, N)``.
    """
    return np.flip(np.transpose(volume, (0, 2, 1)), axis=1)


def world_to_stored(grid: np.ndarray) -> np.ndarray:
    """Inverse of :func:`stored_to_world`: ``(N, N, N)`` world ``[x, y, z]`` -> storage order."""
    return np.transpose(np.flip(grid, axis=1), (0, 2, 1))
