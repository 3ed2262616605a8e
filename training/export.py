"""Saving a run's predictions: voxel grids and meshes, depth maps and fused point clouds,
contact sheets.

Meshes (:func:`vis.meshes.grid_to_mesh`) come from marching cubes on the predicted occupancy
probability at the evaluation threshold; point clouds (:func:`vis.meshes.fuse_point_cloud`)
back-project every foreground pixel of the predicted depth maps of all views into world
coordinates, coloured by the input image; the pictures are :mod:`vis.pictures`.
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
from vis import pictures
from vis.meshes import fuse_point_cloud, grid_to_mesh


def as_text(x: Any) -> str:
    """A loader string field (bytes from TF, or str) as str."""
    return x.decode() if isinstance(x, bytes) else str(x)


def _depth_map(pred: Any) -> np.ndarray:
    """A D-LSM output of either depth head as its ``(..., 1)`` depth map (numpy, scene units):
    :meth:`training.tasks.Task.prediction`, the one place that applies the head."""
    from training.tasks import DLSM_TASK

    return DLSM_TASK.prediction(pred)


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
