"""Solid (filled) voxelisation of meshes on the release's grid over [-0.5, 0.5]^3.

A cell is occupied when its centre lies inside the solid. Watertight parts are tested exactly
(ray-parity inside test, Embree); for a part that is not watertight (typical of downloaded
meshes) the surface is rasterised into cells by dense surface sampling and the enclosed
cavities are filled (``scipy.ndimage.binary_fill_holes``), as binvox-style ShapeNet voxels are.
Parts are combined by union. Grids are indexed ``[x, y, z]`` in world coordinates (z up); the
voxel file writer (:func:`data.io.write_voxels`) converts to the release's storage order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import trimesh
from scipy import ndimage

GRID_RANGE = (-0.5, 0.5)


def cell_centres(nvox: int, grid_range: tuple[float, float] = GRID_RANGE) -> np.ndarray:
    """Centres of the cells along one axis: (N,) scene units, ``vmin + (i + 0.5) * vsize``."""
    vmin, vmax = grid_range
    vsize = (vmax - vmin) / nvox
    return vmin + (np.arange(nvox) + 0.5) * vsize


def _index_range(lo: float, hi: float, nvox: int, grid_range: tuple[float, float]) -> slice:
    vmin, vmax = grid_range
    vsize = (vmax - vmin) / nvox
    i0 = int(np.clip(np.floor((lo - vmin) / vsize - 0.5), 0, nvox))
    i1 = int(np.clip(np.ceil((hi - vmin) / vsize - 0.5) + 1, 0, nvox))
    return slice(i0, i1)


def voxelize_solid(mesh: trimesh.Trimesh, nvox: int,
                   grid_range: tuple[float, float] = GRID_RANGE) -> np.ndarray:
    """Occupancy of cell centres inside one watertight mesh.

    Args:
        mesh: watertight mesh in world coordinates (scene units).
        nvox: grid resolution N.
        grid_range: (vmin, vmax) of the cube, scene units.

    Returns:
        (N, N, N) bool, indexed [x, y, z].
    """
    grid = np.zeros((nvox,) * 3, dtype=bool)
    c = cell_centres(nvox, grid_range)
    lo, hi = mesh.bounds
    sl = tuple(_index_range(lo[a], hi[a], nvox, grid_range) for a in range(3))
    if any(s.stop <= s.start for s in sl):
        return grid
    X, Y, Z = np.meshgrid(c[sl[0]], c[sl[1]], c[sl[2]], indexing="ij")
    pts = np.stack([X.ravel(), Y.ravel(), Z.ravel()], axis=1)
    inside = mesh.contains(pts)
    grid[sl] = inside.reshape(X.shape)
    return grid


def voxelize_surface_filled(mesh: trimesh.Trimesh, nvox: int,
                            grid_range: tuple[float, float] = GRID_RANGE,
                            samples_per_cell: float = 8.0, seed: int = 0) -> np.ndarray:
    """Occupancy of any mesh: rasterised surface cells plus filled enclosed cavities.

    Args:
        mesh: any triangle mesh in world coordinates (scene units).
        nvox: grid resolution N.
        grid_range: (vmin, vmax) of the cube, scene units.
        samples_per_cell: surface samples per cell face area (controls coverage).
        seed: sampling seed (the result is deterministic).

    Returns:
        (N, N, N) bool, indexed [x, y, z].
    """
    vmin, vmax = grid_range
    vsize = (vmax - vmin) / nvox
    count = int(max(10_000, samples_per_cell * mesh.area / (vsize * vsize) * 4))
    pts, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
    pts = np.concatenate([pts, mesh.vertices])
    idx = np.floor((pts - vmin) / vsize).astype(np.int64)
    keep = np.all((idx >= 0) & (idx < nvox), axis=1)
    grid = np.zeros((nvox,) * 3, dtype=bool)
    grid[tuple(idx[keep].T)] = True
    return ndimage.binary_fill_holes(grid)


def voxelize(meshes: Sequence[trimesh.Trimesh], nvox: int,
             grid_range: tuple[float, float] = GRID_RANGE) -> np.ndarray:
    """Union of the solid voxelisations of several parts.

    Args:
        meshes: parts in world coordinates; watertight parts use the exact centre test,
            others the surface-and-fill method.
        nvox: grid resolution N.
        grid_range: (vmin, vmax) of the cube, scene units.

    Returns:
        (N, N, N) uint8 occupancy in {0, 1}, indexed [x, y, z].
    """
    grid = np.zeros((nvox,) * 3, dtype=bool)
    for m in meshes:
        if m.is_watertight:
            grid |= voxelize_solid(m, nvox, grid_range)
        else:
            grid |= voxelize_surface_filled(m, nvox, grid_range)
    return grid.astype(np.uint8)
