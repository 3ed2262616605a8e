"""Point-cloud evaluation of depth predictions: ground-truth surface samples and Chamfer figures.

D-LSM predicts one depth map per view; :func:`vis.meshes.fuse_point_cloud` back-projects
them into one world-space cloud. This module scores such a cloud against points sampled on the
surface of the ground-truth voxel grid:

* **accuracy**: mean distance from each predicted point to the nearest ground-truth point
  (how far predictions are from the surface; lower is better);
* **completeness**: mean distance from each ground-truth point to the nearest predicted point
  (how much of the surface is covered; lower is better);
* **chamfer**: their mean;
* **F-score** at a distance ``tau`` (default one voxel): harmonic mean of the fraction of
  predicted points within ``tau`` of the surface and of surface points within ``tau`` of the
  prediction.

All distances are in scene units (the object lives in ``[-0.5, 0.5]^3``).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from geometry.grid import GRID_RANGE

__all__ = ["chamfer", "voxel_surface_points"]

# The six face directions of a voxel: (axis, sign).
_FACES = [(a, s) for a in range(3) for s in (-1, 1)]


def voxel_surface_points(voxels: np.ndarray, per_face: int = 3,
                         grid_range: tuple[float, float] = GRID_RANGE) -> np.ndarray:
    """Points on the boundary faces of an occupancy grid.

    A face is on the boundary when its cell is occupied and the neighbour across it is empty
    (or outside the grid). Each such square face gets a regular ``per_face x per_face`` grid
    of points at the centres of its sub-squares, so the sampling is deterministic and uniform
    in area.

    Args:
        voxels: ``(N, N, N)`` occupancy (bool or {0, 1}), indexed ``[x, y, z]`` = world axes.
        per_face: points per face edge (``per_face ** 2`` points per face).
        grid_range: ``(vmin, vmax)`` of the grid, scene units.

    Returns:
        float64 ``(P, 3)`` world points (scene units); ``(0, 3)`` for an empty grid.
    """
    occ = np.asarray(voxels) > 0.5
    if occ.ndim != 3:
        raise ValueError(f"voxels must be (N, N, N), got shape {occ.shape}")
    n = occ.shape[0]
    vmin, vmax = grid_range
    vsize = (vmax - vmin) / n
    padded = np.pad(occ, 1)
    offs = (np.arange(per_face) + 0.5) / per_face  # positions inside a face, in cells
    uu, vv = np.meshgrid(offs, offs, indexing="ij")
    uu, vv = uu.ravel(), vv.ravel()
    out = []
    for axis, sign in _FACES:
        shift = [0, 0, 0]
        shift[axis] = sign
        nb = np.roll(padded, -sign, axis=axis)[1:-1, 1:-1, 1:-1]
        cells = np.argwhere(occ & ~nb).astype(np.float64)  # (F, 3) lower corners, in cells
        if len(cells) == 0:
            continue
        others = [a for a in range(3) if a != axis]
        pts = np.repeat(cells, len(uu), axis=0)
        pts[:, axis] += 1.0 if sign > 0 else 0.0
        pts[:, others[0]] += np.tile(uu, len(cells))
        pts[:, others[1]] += np.tile(vv, len(cells))
        out.append(pts)
    if not out:
        return np.zeros((0, 3))
    return vmin + np.concatenate(out) * vsize


def chamfer(pred: np.ndarray, gt: np.ndarray, tau: float | None = None) -> dict[str, float]:
    """Accuracy, completeness, Chamfer distance and F-score of a point cloud.

    Args:
        pred: ``(P, 3)`` predicted points, world coordinates (scene units).
        gt: ``(Q, 3)`` ground-truth surface points (e.g. :func:`voxel_surface_points`).
        tau: F-score distance (scene units); default one voxel of a 32^3 grid over the unit
            cube (1/32).

    Returns:
        ``{"accuracy", "completeness", "chamfer", "fscore", "num_points"}``; distances in scene
        units, F-score in [0, 1]. An empty prediction scores NaN distances and F-score 0.

    Raises:
        ValueError: if ``gt`` is empty or a cloud is not ``(*, 3)``.
    """
    pred = np.asarray(pred, np.float64).reshape(-1, 3) if np.size(pred) else np.zeros((0, 3))
    gt = np.asarray(gt, np.float64)
    if gt.ndim != 2 or gt.shape[1] != 3 or len(gt) == 0:
        raise ValueError(f"gt must be a non-empty (Q, 3) point set, got shape {gt.shape}")
    tau = (GRID_RANGE[1] - GRID_RANGE[0]) / 32 if tau is None else float(tau)
    if len(pred) == 0:
        return {"accuracy": float("nan"), "completeness": float("nan"), "chamfer": float("nan"),
                "fscore": 0.0, "num_points": 0}
    d_pred, _ = cKDTree(gt).query(pred)
    d_gt, _ = cKDTree(pred).query(gt)
    precision, recall = float((d_pred < tau).mean()), float((d_gt < tau).mean())
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    acc, comp = float(d_pred.mean()), float(d_gt.mean())
    return {"accuracy": acc, "completeness": comp, "chamfer": 0.5 * (acc + comp),
            "fscore": f, "num_points": int(len(pred))}
