"""Saving predictions: voxel grids and meshes, depth maps and fused point clouds, contact sheets.

Meshes come from marching cubes (scikit-image) on the predicted occupancy probability at the
evaluation threshold; point clouds back-project every foreground pixel of the predicted depth
maps of all views into world coordinates, coloured by the input image.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import trimesh
from PIL import Image
from scipy.special import expit

from data.io import atomic_write
from data.layout import BACKGROUND_DEPTH
from data.voxelize import GRID_RANGE
from training import pictures


def as_text(x: Any) -> str:
    """A loader string field (bytes from TF, or str) as str."""
    return x.decode() if isinstance(x, bytes) else str(x)


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
        background: pixels with depth >= this are skipped.

    Returns:
        points: (P, 3) world coordinates; pix: (P, 2) integer (row, col) of each point.
    """
    v, u = np.nonzero(depth < background - 1e-3)
    z = depth[v, u].astype(np.float64)
    x = (u + 0.5 - K[0, 2]) / K[0, 0] * z
    y = (v + 0.5 - K[1, 2]) / K[1, 1] * z
    cam = np.stack([x, y, z], axis=1)
    R, t = extrinsic[:3, :3].astype(np.float64), extrinsic[:3, 3].astype(np.float64)
    return (cam - t) @ R, np.stack([v, u], axis=1)


def _depth_map(pred: Any) -> np.ndarray:
    """A D-LSM output of either depth head as its ``(..., 1)`` depth map (numpy, scene units):
    :meth:`training.tasks.Task.prediction`, the one place that applies the head."""
    from training.tasks import DLSM_TASK

    return DLSM_TASK.prediction(pred)


#: Points farther than this outside the grid cube are dropped when fusing (one 32^3 voxel).
FUSE_MARGIN = (GRID_RANGE[1] - GRID_RANGE[0]) / 32


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


def _export(geom: trimesh.Trimesh | trimesh.PointCloud, path: Path) -> None:
    data = geom.export(file_type=path.suffix[1:])
    atomic_write(path, lambda f: f.write(data if isinstance(data, bytes) else data.encode()))


def save_prediction(kind: str, item: dict[str, Any], pred: np.ndarray, folder: Path,
                    thresh: float = 0.4) -> list[Path]:
    """Save one model's prediction.

    V-LSM: ``<synset>_<model>.npz`` (probabilities after 1..T views, ground truth) and a mesh
    ``.ply`` / ``.obj`` per number of views. D-LSM: ``.npz`` of depth maps and a fused,
    coloured point cloud ``.ply`` from the last time step.

    Args:
        kind: ``"vlsm"`` or ``"dlsm"``.
        item: one example (unbatched loader keys).
        pred: logits (T, N, N, N, 1) or depth (T, V, H, W, 1) (or the mask head's
            (T, V, H, W, 2), saved as its depth map).
        folder: output folder.
        thresh: iso-level of the meshes.

    Returns:
        The files written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{as_text(item['synset'])}_{as_text(item['model_id'])}"
    out = []
    if kind == "vlsm":
        probs = expit(pred[..., 0])
        p = folder / f"{stem}.npz"
        atomic_write(p, lambda f: np.savez_compressed(
            f, probs=probs.astype(np.float16), voxels=item["voxels"][..., 0].astype(np.uint8),
            view_ids=item["view_ids"]))
        out.append(p)
        for t in range(probs.shape[0]):
            mesh = grid_to_mesh(probs[t], thresh)
            for ext in ("ply", "obj"):
                q = folder / f"{stem}_{t + 1}views.{ext}"
                _export(mesh, q)
                out.append(q)
    else:
        pred = _depth_map(pred)
        depth = pred[-1, ..., 0]
        p = folder / f"{stem}.npz"
        atomic_write(p, lambda f: np.savez_compressed(
            f, depth=pred[..., 0].astype(np.float32), gt=item["depth"][..., 0]))
        out.append(p)
        cloud = fuse_point_cloud(depth, item["images"], item["K"], item["extrinsic"])
        q = folder / f"{stem}_fused.ply"
        _export(cloud, q)
        out.append(q)
    return out


def contact_sheet(kind: str, entries: Sequence[dict[str, Any]], path: Path) -> Path:
    """A PNG with one row per model: input views, predictions (per number of views), truth.

    Args:
        kind: ``"vlsm"`` or ``"dlsm"``.
        entries: ``{"item": example, "pred": prediction}`` per model.
        path: PNG to write.
    """
    rows = []
    for e in entries:
        item, pred = e["item"], e["pred"]
        views = pictures.view_strip(item["images"][None])[0]
        if kind == "vlsm":
            probs = expit(pred)
            right = pictures.voxel_panels(probs[None], item["voxels"][None],
                                          scale=max(1, views.shape[0] // probs.shape[1]))[0]
        else:
            right = pictures.depth_panels(_depth_map(pred)[None], item["depth"][None])[0]
            right = right[::2, ::2]
        h = max(views.shape[0], right.shape[0])
        pad = [np.pad(a, ((0, h - a.shape[0]), (0, 8), (0, 0)), constant_values=255)
               for a in (views, right)]
        rows.append(np.concatenate(pad, axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 8), (0, width - r.shape[1]), (0, 0)), constant_values=255)
            for r in rows]
    sheet = np.concatenate(rows, axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: Image.fromarray(sheet).save(f, format="PNG"))
    return path
