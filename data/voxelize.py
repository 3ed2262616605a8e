"""Solid (filled) voxelisation of meshes on the release's grid over [-0.5, 0.5]^3.

A cell is occupied when its centre lies inside the solid. A part that is one closed body is
tested exactly (ray-parity inside test, Embree). Any other part (meshes as they come: vertices
split at texture seams, holes, flipped or inconsistent normals, self-intersections, several
overlapping components, open sheets) is welded and tested with the generalised winding number
(libigl's fast winding number, Jacobson et al. 2013 / Barill et al. 2018), open sheets given a
one-cell thickness; see :func:`voxelize_robust` for the rules and the open-container policy.
Parts are combined by union. Grids are indexed ``[x, y, z]`` in world coordinates (z up); the
voxel file writer (:func:`data.io.write_voxels`) converts to the release's storage order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import trimesh
from scipy import ndimage

from geometry.grid import GRID_RANGE, cell_centres


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


#: Thin-sheet rule: a cell whose centre is within this many cells of an open surface, where the
#: winding number is inconclusive, is occupied (a one-cell-thick layer for any sheet).
SHEET_HALF_WIDTH = 0.5
#: Winding numbers (modulo 1) within this distance of 0 or 1 are conclusive (closed surface).
SHEET_WINDING_MARGIN = 0.15


def weld(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy of ``mesh`` fit for the winding-number test.

    Vertices split at texture or normal seams are merged, degenerate and duplicate faces
    dropped, every connected component is given consistent winding, and a component whose
    signed volume is negative (flipped normals) is inverted.

    Args:
        mesh: any triangle mesh (scene units).

    Returns:
        New mesh (scene units), without faces when every face is degenerate; ``mesh`` is not
        modified.
    """
    m = trimesh.Trimesh(np.asarray(mesh.vertices, float), np.asarray(mesh.faces), process=False)
    m.merge_vertices(merge_tex=True, merge_norm=True)
    m.update_faces(m.nondegenerate_faces())
    m.update_faces(m.unique_faces())
    m.remove_unreferenced_vertices()
    if len(m.faces) == 0:  # nothing but degenerate faces
        return m
    parts = []
    for b in m.split(only_watertight=False):
        trimesh.repair.fix_winding(b)
        if b.volume < 0:
            b.invert()
        parts.append(b)
    return trimesh.util.concatenate(parts) if len(parts) > 1 else parts[0]


def voxelize_robust(mesh: trimesh.Trimesh, nvox: int,
                    grid_range: tuple[float, float] = GRID_RANGE) -> np.ndarray:
    """Occupancy of cell centres for any mesh: holes, seams, flips, overlaps, open sheets.

    A cell is occupied when

    * the generalised winding number of the welded mesh (:func:`weld`) at its centre is at
      least 0.5 (libigl's fast winding number: exactly 1 inside and 0 outside a closed
      surface; robust to holes, cracks, self-intersections and overlapping parts), and the
      centre cannot see out of the grid along an axis (+-x, +-y, +-z) without passing within
      :data:`SHEET_HALF_WIDTH` cells of the surface (the axis carving of binvox, which made
      ShapeNet's solid voxels); or
    * its centre lies within :data:`SHEET_HALF_WIDTH` cells of the surface where the winding
      number is inconclusive (more than :data:`SHEET_WINDING_MARGIN` from an integer: open
      sheets), or of a wall that has carved space with winding number >= 0.5 on its other
      side (a single-sheet wall of a container), or of a part thinner than a cell (no cell
      around it is inside), so a thin sheet, plate or rod becomes a one-cell layer.

    Open containers (policy): the material is voxelised, not the volume it holds. A cup, bowl
    or box modelled with single-sheet walls gets one-cell walls, and its cavity, seen from
    outside through the opening, is carved empty even where the winding number is above 0.5
    (deep inside a cup). Holes narrower than a cell (missing triangles, cracks) carve nothing.
    Closed meshes (after welding) are not affected by the carving.

    Args:
        mesh: any triangle mesh in world coordinates (scene units).
        nvox: grid resolution N.
        grid_range: (vmin, vmax) of the cube, scene units.

    Returns:
        (N, N, N) bool, indexed [x, y, z].
    """
    import igl

    grid = np.zeros((nvox,) * 3, dtype=bool)
    m = weld(mesh)
    if len(m.faces) == 0:
        return grid
    vsize = (grid_range[1] - grid_range[0]) / nvox
    c = cell_centres(nvox, grid_range)
    lo, hi = m.bounds
    pad = SHEET_HALF_WIDTH * vsize
    sl = tuple(_index_range(lo[a] - pad, hi[a] + pad, nvox, grid_range) for a in range(3))
    if any(s.stop <= s.start for s in sl):
        return grid
    X, Y, Z = np.meshgrid(c[sl[0]], c[sl[1]], c[sl[2]], indexing="ij")
    pts = np.ascontiguousarray(np.stack([X.ravel(), Y.ravel(), Z.ravel()], axis=1))
    V = np.ascontiguousarray(m.vertices, dtype=np.float64)
    F = np.ascontiguousarray(m.faces, dtype=np.int64)
    w = igl.fast_winding_number(V, F, pts).reshape(X.shape)
    d2, _, _ = igl.point_mesh_squared_distance(pts, V, F)
    near = d2.reshape(X.shape) <= (SHEET_HALF_WIDTH * vsize) ** 2
    carved = _carved(near)
    inside = (w >= 0.5) & ~carved
    sheet = near & (np.abs(w - np.round(w)) > SHEET_WINDING_MARGIN)
    # a wall with carved (open) space on its "inside" is a sheet seen from both sides: its
    # near cells on the outside belong to it too (a cup's wall, both faces)
    open_space = carved & (w >= 0.5)
    if open_space.any():
        sheet |= near & (w < 0.5) & ndimage.binary_dilation(
            open_space, np.ones((3, 3, 3), bool), iterations=2)
    # parts thinner than a cell (plates, rods) hold no centre: their near cells, where no cell
    # around is inside, are a one-cell layer
    sheet |= near & ~ndimage.binary_dilation(inside, np.ones((3, 3, 3), bool))
    grid[sl] = inside | sheet
    return grid


def _carved(barrier: np.ndarray) -> np.ndarray:
    """Cells (N1, N2, N3) that see out of the box along one of the six axis directions
    without meeting a ``barrier`` cell (barrier cells themselves are never carved)."""
    out = np.zeros_like(barrier)
    for axis in range(3):
        for flip in (False, True):
            b = np.flip(barrier, axis) if flip else barrier
            seen = ~np.logical_or.accumulate(b, axis=axis)
            out |= np.flip(seen, axis) if flip else seen
    return out


def voxelize(meshes: Sequence[trimesh.Trimesh], nvox: int,
             grid_range: tuple[float, float] = GRID_RANGE) -> np.ndarray:
    """Union of the solid voxelisations of several parts.

    Args:
        meshes: parts in world coordinates. A part that is one closed body (connected and
            watertight, as every synthetic part is) uses the exact centre test; any other part
            the winding-number test (:func:`voxelize_robust`).
        nvox: grid resolution N.
        grid_range: (vmin, vmax) of the cube, scene units.

    Returns:
        (N, N, N) uint8 occupancy in {0, 1}, indexed [x, y, z].
    """
    grid = np.zeros((nvox,) * 3, dtype=bool)
    for m in meshes:
        if m.is_watertight and m.body_count == 1 and m.volume > 0:
            grid |= voxelize_solid(m, nvox, grid_range)
        else:
            grid |= voxelize_robust(m, nvox, grid_range)
    return grid.astype(np.uint8)
