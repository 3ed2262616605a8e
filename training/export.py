"""Saving a run's predictions: voxel grids and meshes, depth maps and fused point clouds,
contact sheets.

Meshes (:func:`vis.meshes.grid_to_mesh`) come from marching cubes on the predicted occupancy
probability at the evaluation threshold; point clouds (:func:`vis.meshes.fuse_point_cloud`)
back-project every foreground pixel of the predicted depth maps of all views into world
coordinates, coloured by the input image; the pictures are :mod:`vis.pictures`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import trimesh
from PIL import Image

from data.io import atomic_write
from vis import pictures
from vis.meshes import fuse_point_cloud, grid_to_mesh


def as_text(x: Any) -> str:
    """A loader string field (bytes from TF, or str) as str."""
    return x.decode() if isinstance(x, bytes) else str(x)


def _export(geom: trimesh.Trimesh | trimesh.PointCloud, path: Path) -> None:
    data = geom.export(file_type=path.suffix[1:])
    atomic_write(path, lambda f: f.write(data if isinstance(data, bytes) else data.encode()))


def save_voxels(item: dict[str, Any], probs: np.ndarray, folder: Path,
                thresh: float = 0.4) -> list[Path]:
    """Save one model's voxel prediction: ``<synset>_<model>.npz`` (probabilities after 1..T
    views, ground truth, view ids) and a mesh ``.ply`` / ``.obj`` per number of views.

    Args:
        item: one example (unbatched loader keys).
        probs: occupancy probabilities ``(T, N, N, N)`` in [0, 1].
        folder: output folder.
        thresh: iso-level of the meshes.

    Returns:
        The files written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{as_text(item['synset'])}_{as_text(item['model_id'])}"
    p = folder / f"{stem}.npz"
    atomic_write(p, lambda f: np.savez_compressed(
        f, probs=probs.astype(np.float16), voxels=item["voxels"][..., 0].astype(np.uint8),
        view_ids=item["view_ids"]))
    out = [p]
    for t in range(probs.shape[0]):
        mesh = grid_to_mesh(probs[t], thresh)
        for ext in ("ply", "obj"):
            q = folder / f"{stem}_{t + 1}views.{ext}"
            _export(mesh, q)
            out.append(q)
    return out


def save_depth(item: dict[str, Any], depth: np.ndarray, folder: Path) -> list[Path]:
    """Save one model's depth prediction: ``<synset>_<model>.npz`` (depth maps, ground truth)
    and a fused, coloured point cloud ``<synset>_<model>_fused.ply`` of the last time step.

    Args:
        item: one example (unbatched loader keys).
        depth: depth maps ``(T, V, H, W, 1)``, scene units.
        folder: output folder.

    Returns:
        The files written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{as_text(item['synset'])}_{as_text(item['model_id'])}"
    p = folder / f"{stem}.npz"
    atomic_write(p, lambda f: np.savez_compressed(
        f, depth=depth[..., 0].astype(np.float32), gt=item["depth"][..., 0]))
    cloud = fuse_point_cloud(depth[-1, ..., 0], item["images"], item["K"], item["extrinsic"])
    q = folder / f"{stem}_fused.ply"
    _export(cloud, q)
    return [p, q]


def voxel_panel(item: dict[str, Any], probs: np.ndarray, height: int) -> np.ndarray:
    """Contact-sheet panel of a voxel prediction ``(T, N, N, N, 1)`` probabilities beside the
    truth, scaled to about ``height`` pixels (uint8 ``(h, w, 3)``)."""
    return pictures.voxel_panels(probs[None], item["voxels"][None],
                                 scale=max(1, height // probs.shape[1]))[0]


def depth_panel(item: dict[str, Any], depth: np.ndarray, height: int) -> np.ndarray:
    """Contact-sheet panel of depth maps ``(T, V, H, W, 1)`` beside the truth, at half size
    (uint8 ``(h, w, 3)``; ``height`` unused)."""
    return pictures.depth_panels(depth[None], item["depth"][None])[0][::2, ::2]


def contact_sheet(entries: Sequence[dict[str, Any]], path: Path,
                  panel: Callable[[dict[str, Any], np.ndarray, int], np.ndarray]) -> Path:
    """A PNG with one row per model: input views, predictions (per number of views), truth.

    Args:
        entries: ``{"item": example, "pred": prediction}`` per model (the prediction in the
            form ``panel`` reads: probabilities for :func:`voxel_panel`, depth maps for
            :func:`depth_panel`).
        path: PNG to write.
        panel: ``(item, pred, views_height) -> uint8 (h, w, 3)``, the picture right of the
            views.
    """
    rows = []
    for e in entries:
        item, pred = e["item"], e["pred"]
        views = pictures.view_strip(item["images"][None])[0]
        right = panel(item, pred, views.shape[0])
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
