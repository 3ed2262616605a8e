"""Meshes and point clouds out of predictions: marching cubes on occupancy grids, depth maps
back-projected and fused into one coloured world-space point cloud.

Meshes come from marching cubes (scikit-image) on the occupancy probability at an iso-level
(the evaluation threshold); point clouds back-project every foreground pixel of the depth maps
of all views into world coordinates (the conventions of :mod:`geometry`), coloured by the input
image. Numpy, trimesh and scikit-image only.
"""

from __future__ import annotations

import numpy as np
import trimesh

from geometry.depth import BACKGROUND_DEPTH, foreground
from geometry.grid import GRID_RANGE

#: Occupancy threshold of the paper's IoU (probability); the default iso-level of the demos.
IOU_THRESH = 0.4
#: Predicted depth beyond this (scene units; the end of the D-LSM's ray range) is background.
FAR = 3.0
#: Points farther than this outside the grid cube are dropped when fusing (one 32^3 voxel).
FUSE_MARGIN = (GRID_RANGE[1] - GRID_RANGE[0]) / 32


def grid_to_mesh(probs: np.ndarray, thresh: float = 0.4,
                 grid_range: tuple[float, float] = GRID_RANGE) -> trimesh.Trimesh:
    """Marching-cubes surface of an occupancy grid.

    Args:
        probs: (N, N, N) probabilities, world [x, y, z].
        thresh: iso-level.
        grid_range: (vmin, vmax) of the grid, scene units.

    Returns:
        A mesh in world coordinates (empty if nothing crosses ``thresh``).
    """
    from skimage.measure import marching_cubes

    n = probs.shape[0]
    vsize = (grid_range[1] - grid_range[0]) / n
    padded = np.pad(probs, 1)
    if padded.max() <= thresh or padded.min() >= thresh:
        return trimesh.Trimesh()
    verts, faces, _, _ = marching_cubes(padded, level=thresh)
    verts = grid_range[0] + (verts - 1 + 0.5) * vsize
    return trimesh.Trimesh(verts, faces[:, ::-1], process=False)


def depth_to_points(depth: np.ndarray, K: np.ndarray, extrinsic: np.ndarray,
                    background: float = BACKGROUND_DEPTH) -> tuple[np.ndarray, np.ndarray]:
    """Back-project a depth map to world points.

    Pixel ``(row v, col u)`` is the image point ``(u + 0.5, v + 0.5)`` (render convention).

    Args:
        depth: (H, W) camera-frame z, scene units.
        K: (3, 3) intrinsics of the H x W image.
        extrinsic: (3, 4) world -> camera.
        background: pixels that are not :func:`geometry.depth.foreground` of this background
            value are skipped.

    Returns:
        points: (P, 3) world coordinates; pix: (P, 2) integer (row, col) of each point.
    """
    v, u = np.nonzero(foreground(depth, background))
    z = depth[v, u].astype(np.float64)
    x = (u + 0.5 - K[0, 2]) / K[0, 0] * z
    y = (v + 0.5 - K[1, 2]) / K[1, 1] * z
    cam = np.stack([x, y, z], axis=1)
    R, t = extrinsic[:3, :3].astype(np.float64), extrinsic[:3, 3].astype(np.float64)
    return (cam - t) @ R, np.stack([v, u], axis=1)


def fuse_point_cloud(depths: np.ndarray, images: np.ndarray, K: np.ndarray,
                     extrinsic: np.ndarray, margin: float | None = FUSE_MARGIN
                     ) -> trimesh.PointCloud:
    """One coloured world-space point cloud from the depth maps of several views.

    Every pixel whose depth is below the background value is back-projected; points outside
    the grid cube ``GRID_RANGE^3`` grown by ``margin`` are dropped (a predicted depth map
    blends object and background depth at silhouettes, which lands between them in space).

    Args:
        depths: (V, H, W) scene units.
        images: (V, H, W, 3) RGB in [0, 1].
        K: (V, 3, 3) intrinsics of the H x W images (pixels); extrinsic: (V, 3, 4)
            world -> camera.
        margin: scene units outside the cube that are kept; None keeps every point.

    Returns:
        A trimesh point cloud (world coordinates, scene units) with per-point colours.
    """
    pts, cols = [], []
    for d, im, k, e in zip(depths, images, K, extrinsic, strict=True):
        p, pix = depth_to_points(d, k, e)
        if margin is not None:
            keep = np.all((p >= GRID_RANGE[0] - margin) & (p <= GRID_RANGE[1] + margin), axis=1)
            p, pix = p[keep], pix[keep]
        pts.append(p)
        cols.append(im[pix[:, 0], pix[:, 1]])
    P = np.concatenate(pts) if pts else np.zeros((0, 3))
    C = np.concatenate(cols) if cols else np.zeros((0, 3))
    rgba = np.concatenate([np.round(C * 255), np.full((len(C), 1), 255)], 1).astype(np.uint8)
    return trimesh.PointCloud(P, colors=rgba)


def occupancy_mesh(probs: np.ndarray, thresh: float = IOU_THRESH
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Marching-cubes surface of an occupancy grid (:func:`grid_to_mesh`) as plain arrays.

    Args:
        probs: (N, N, N) probabilities or {0, 1}, world [x, y, z] over [-0.5, 0.5]^3.
        thresh: iso-level.

    Returns:
        vertices (P, 3) float32 world coordinates (scene units); faces (F, 3) int32 (both empty
        when nothing crosses ``thresh``).
    """
    mesh = grid_to_mesh(np.asarray(probs, np.float32), thresh)
    if len(mesh.faces) == 0:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    return np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces, np.int32)


def fused_points(depth: np.ndarray, images: np.ndarray, K: np.ndarray, extrinsic: np.ndarray,
                 far: float = FAR, margin: float = 1 / 32) -> tuple[np.ndarray, np.ndarray]:
    """One coloured world-space point cloud from the depth maps of several views, as arrays.

    Pixels whose depth is at least ``far`` (the end of the D-LSM ray range; predicted
    background is close to 10) are background; points outside the grid cube grown by
    ``margin`` (silhouette pixels that blend object and background depth) are dropped.
    Back-projection by :func:`fuse_point_cloud`.

    Args:
        depth: (V, h, w) scene units.
        images: (V, h, w, 3) RGB in [0, 1].
        K: (V, 3, 3) pixels of the h x w images.
        extrinsic: (V, 3, 4) world -> camera.
        far: background depth cut, scene units.
        margin: kept distance outside [-0.5, 0.5]^3, scene units.

    Returns:
        points (P, 3) float32 world coordinates (scene units); colours (P, 3) float32 RGB in
        [0, 1].
    """
    d = np.where(np.asarray(depth) < far, depth, BACKGROUND_DEPTH).astype(np.float32)
    cloud = fuse_point_cloud(d, np.asarray(images), np.asarray(K), np.asarray(extrinsic)[:, :3],
                             margin=margin)
    pts = np.asarray(cloud.vertices, np.float32).reshape(-1, 3)
    cols = (np.asarray(cloud.colors, np.float32).reshape(-1, 4)[:, :3] / 255.0
            if len(pts) else np.zeros((0, 3), np.float32))
    return pts, cols


def subsample_points(pts: np.ndarray, cols: np.ndarray, n: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """At most ``n`` points (and their colours): a seeded random subset in the original order."""
    if len(pts) <= n:
        return pts, cols
    idx = np.sort(np.random.default_rng(0).choice(len(pts), n, replace=False))
    return pts[idx], cols[idx]
