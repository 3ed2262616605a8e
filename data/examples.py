"""Pure helpers shared by the loaders, the demos and the scripts: which models a split holds,
which views an evaluation reads, and reading and resizing one example with numpy.

Numpy, PIL and the data layer only (no TensorFlow, no loader): :mod:`data.loaders` builds on
it, and anything that needs one example or the evaluation views imports it without a loader.

* :func:`split_models`: the ``(synset, model_id)`` pairs of one split, in evaluation order.
* :func:`eval_views`: the fixed, seeded views evaluated for one model (``stable_hash`` keeps
  them the same in every process and on every machine).
* :func:`load_example`: one example read and validated by the :mod:`data.io` readers.
* :func:`resize_views`: images, intrinsics and depth maps resized as the loaders do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from data.io import DataError, read_camera, read_depth, read_render, read_splits, read_voxels
from data.layout import IM_SIZE, DataLayout


def stable_hash(text: str) -> int:
    """A 63-bit hash of ``text`` that is the same in every process and on every machine."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(),
                          "little") >> 1


def eval_views(synset: str, model: str, nviews: int, num_renders: int,
               seed: int) -> np.ndarray:
    """The fixed views evaluated for one model.

    Args:
        synset: synset id.
        model: model id.
        nviews: views wanted, ``<= num_renders``.
        num_renders: renders available per model.
        seed: evaluation seed (``Args.eval_seed``).

    Returns:
        (nviews,) int32 distinct view ids in [0, num_renders): the first ``nviews`` of a
        permutation seeded by ``(seed, stable_hash("synset/model"))``.
    """
    rng = np.random.default_rng([int(seed), stable_hash(f"{synset}/{model}")])
    return rng.permutation(int(num_renders))[: int(nviews)].astype(np.int32)


def split_models(split_file: str | Path, split: str) -> list[tuple[str, str]]:
    """``(synset, model_id)`` pairs of one split, synsets sorted, models in file order.

    Raises:
        DataError: missing/invalid split file, or ``split`` absent from it (names the file).
    """
    path = Path(split_file)
    if not path.is_file():
        raise DataError(f"split file not found: {path}")
    splits = read_splits(path)
    if split not in splits:
        raise DataError(f"split file {path} has no split '{split}' (has {sorted(splits)})")
    return [(s, m) for s in sorted(splits[split]) for m in splits[split][s]]


def nearest_indices(n0: int, n: int) -> np.ndarray:
    """Source pixel of each of ``n`` output pixels: ``floor((i + 0.5) * n0 / n)``, computed in
    float32 as TensorFlow's nearest-neighbour resize does (float64 rounds some ties down)."""
    x = (np.arange(n, dtype=np.float32) + np.float32(0.5)) * np.float32(n0 / n)
    return np.minimum(np.floor(x).astype(np.int64), n0 - 1)


def resize_views(images: np.ndarray, K: np.ndarray, size: tuple[int, int],
                 depth: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Resize views to the network's image size and scale their intrinsics, as the loaders do.

    Args:
        images: (V, H0, W0, 3) float32 RGB in [0, 1].
        K: (V, 3, 3) intrinsics in pixels of the H0 x W0 image.
        size: (H, W) wanted.
        depth: optional (V, H0, W0, 1) depth in scene units.

    Returns:
        ``(images (V, H, W, 3) float32, K (V, 3, 3) float32, depth (V, H, W, 1) or None)``:
        images resized bilinearly with antialiasing (PIL's triangle filter widened by the
        scale, as ``tf.image.resize(..., antialias=True)``) and clipped to [0, 1]; depth by
        nearest neighbour at pixel centres (source index ``floor((i + 0.5) * H0 / H)`` in
        float32), so object and background depths never mix; ``K`` scaled by
        ``diag(W / W0, H / H0, 1)`` (no half-pixel shift, :func:`ops.camera.scale_intrinsics`).
    """
    H, W = (int(s) for s in size)
    H0, W0 = images.shape[1:3]
    K = np.asarray(K, np.float32)
    if (H0, W0) == (H, W):
        return images.astype(np.float32), K, depth
    out = np.empty((images.shape[0], H, W, 3), np.float32)
    for v in range(images.shape[0]):
        for c in range(3):
            im = Image.fromarray(np.ascontiguousarray(images[v, :, :, c], np.float32), mode="F")
            out[v, :, :, c] = np.asarray(im.resize((W, H), Image.Resampling.BILINEAR))
    np.clip(out, 0.0, 1.0, out=out)
    scale = np.array([W / W0, H / H0, 1.0], np.float32)[:, None]
    if depth is not None:
        depth = depth[:, nearest_indices(H0, H)][:, :, nearest_indices(W0, W)]
    return out, K * scale, depth


def load_example(layout: DataLayout, synset: str, model: str, views: Sequence[int],
                 nvox: int, with_depth: bool = True,
                 size: tuple[int, int] | None = (IM_SIZE, IM_SIZE)) -> dict[str, Any]:
    """Read one example with plain numpy; no resizing.

    Every file is validated by its :mod:`data.io` reader (PNG CRCs and types, camera geometry,
    voxel values).

    Args:
        layout: the data root.
        synset: synset id.
        model: model id.
        views: V view ids.
        nvox: voxel resolution N.
        with_depth: also read the depth maps.
        size: the renders' and depth maps' required ``(H0, W0)`` in pixels (the release's
            ``IM_SIZE`` square), or None to accept any size common to all views. Given a
            size, each camera must also see the world origin inside it.

    Returns:
        The unbatched keys of the loader table as numpy arrays: images (V, H0, W0, 3) float32,
        K (V, 3, 3) float32, extrinsic (V, 3, 4) float32, voxels (N, N, N, 1) float32,
        depth (V, H0, W0, 1) float32 (if ``with_depth``), view_ids (V,) int32; synset and
        model_id as str.

    Raises:
        DataError: a file is missing or malformed (the message names it).
    """
    views = [int(v) for v in views]
    cams = [read_camera(layout.camera_path(synset, model, v), size) for v in views]
    images = []
    for v in views:
        images.append(read_render(layout.render_path(synset, model, v), size))
        size = images[-1].shape[:2]  # size None: all views (and depth maps) like the first
    out = {
        "images": np.stack(images),
        "K": np.stack([k for k, _ in cams]).astype(np.float32),
        "extrinsic": np.stack([e[:3] for _, e in cams]).astype(np.float32),
        "voxels": read_voxels(layout.voxel_path(synset, model, nvox), nvox)
        .astype(np.float32)[..., None],
        "view_ids": np.asarray(views, np.int32),
        "synset": synset,
        "model_id": model,
    }
    if with_depth:
        out["depth"] = np.stack([read_depth(layout.depth_path(synset, model, v), size)
                                 for v in views])[..., None]
    return out


__all__ = [
    "eval_views",
    "load_example",
    "resize_views",
    "split_models",
    "stable_hash",
]
