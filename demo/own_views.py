"""Running a trained network on your own posed views.

:func:`read_image` (any image file as the network sees it), :func:`prepare_own_views` (files
of any size and their cameras brought to the network's image size), :func:`predict_own_views`
and :func:`export_views`, which writes a dataset model's views as such files. Cameras follow
``docs/camera.md``: ``K`` in pixels of each file, world -> camera extrinsics (OpenCV axes,
z-up world, object inside ``[-0.5, 0.5]^3``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data.examples import resize_views
from data.layout import DataLayout
from demo.model import LSM, predict


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as the network sees it.

    RGBA images are composited on white (as the dataset's renders); grey, palette and 16-bit
    images are converted to RGB.

    Returns:
        (H, W, 3) float32 RGB in [0, 1].
    """
    from PIL import Image

    from data.io import composite_on_white

    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            return composite_on_white(np.asarray(im.convert("RGBA")))
        if im.mode in ("I;16", "I;16B", "I"):
            arr = np.asarray(im, np.float32)
            arr = arr / (65535.0 if arr.max() > 255 else 255.0)
            return np.repeat(np.clip(arr, 0, 1)[..., None], 3, axis=2)
        return np.asarray(im.convert("RGB"), np.float32) / 255.0


def _check_camera(i: int, K: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and normalise one view's camera: K (3, 3), extrinsic (3, 4)."""
    K = np.asarray(K, np.float64)
    E = np.asarray(E, np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"view {i}: K must be 3x3 (pixels), got shape {K.shape}")
    if E.shape == (4, 4):
        E = E[:3]
    if E.shape != (3, 4):
        raise ValueError(f"view {i}: extrinsic must be 3x4 (or 4x4) world -> camera [R | t], "
                         f"got shape {E.shape}")
    R = E[:, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-3):
        raise ValueError(f"view {i}: the extrinsic's 3x3 part is not a rotation")
    if E[2, 3] <= 0:
        raise ValueError(f"view {i}: the world origin is behind the camera (t_z = {E[2, 3]:.3g}); "
                         "is the extrinsic camera -> world instead of world -> camera? "
                         "(see docs/camera.md)")
    return K, E


def prepare_own_views(image_files: Sequence[str | os.PathLike], K: Any, extrinsics: Any,
                      size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Read image files of any size and bring them and their cameras to the network's size.

    Args:
        image_files: V image files (PNG, JPEG...; RGBA composited on white).
        K: V intrinsic matrices (3, 3), in pixels of each file's own size (nested lists or an
            array (V, 3, 3)).
        extrinsics: V world -> camera matrices (3, 4) or (4, 4), OpenCV camera axes (x right,
            y down, z forward), z-up world, object inside [-0.5, 0.5]^3 (docs/camera.md).
        size: (h, w) network image size in pixels.

    Returns:
        ``images`` (V, h, w, 3) RGB in [0, 1]; ``K`` (V, 3, 3) pixels of h x w;
        ``extrinsic`` (V, 3, 4).

    Raises:
        ValueError: counts differ, or a camera is malformed (the message names the view).
    """
    files = [Path(f) for f in image_files]
    Ks, Es = list(K), list(extrinsics)
    if not files or not len(files) == len(Ks) == len(Es):
        raise ValueError(f"need one K and one extrinsic per image: {len(files)} images, "
                         f"{len(Ks)} K, {len(Es)} extrinsics")
    ims, ks, es = [], [], []
    for i, (f, k, e) in enumerate(zip(files, Ks, Es, strict=True)):
        k, e = _check_camera(i, k, e)
        im, k2, _ = resize_views(read_image(f)[None], k[None], size)
        ims.append(im[0])
        ks.append(k2[0])
        es.append(e)
    return {"images": np.stack(ims).astype(np.float32), "K": np.stack(ks).astype(np.float32),
            "extrinsic": np.stack(es).astype(np.float32)}


def predict_own_views(lsm: LSM, image_files: Sequence[str | os.PathLike], K: Any,
                      extrinsics: Any) -> dict[str, np.ndarray]:
    """Run a trained network on your own posed views.

    Args:
        lsm: the network (:func:`load_lsm`).
        image_files: V image files of any size (RGB or RGBA; RGBA is composited on white, as
            in the training renders). The object should fill the view like the training
            renders (camera about 2 units from the origin, 60 mm lens on a 32 mm sensor).
        K: V (3, 3) intrinsics in pixels of each file.
        extrinsics: V (3, 4) or (4, 4) world -> camera matrices (OpenCV axes, z-up world,
            object inside [-0.5, 0.5]^3; see docs/camera.md).

    Returns:
        ``images``, ``K``, ``extrinsic`` as fed to the network (:func:`prepare_own_views`) and
        the prediction: ``probs`` (T, N, N, N) for a model of the voxels head (V-LSM),
        ``depth`` (T, V, h, w) scene units for one of the depth head (D-LSM) (:func:`predict`).
    """
    views = prepare_own_views(image_files, K, extrinsics, lsm.image_size)
    from models.registry import model_head

    key = "probs" if model_head(lsm.kind) == "voxels" else "depth"
    views[key] = predict(lsm, views["images"], views["K"], views["extrinsic"])
    return views


def export_views(root: str | os.PathLike, synset: str, model: str, views: Sequence[int],
                 folder: str | os.PathLike,
                 sizes: Sequence[tuple[int, int] | None] | None = None) -> list[Path]:
    """Write a dataset model's views as "your own" files: images plus ``cameras.json``.

    Args:
        root: data root.
        synset: synset id.
        model: model id.
        views: render indices.
        folder: output folder (created).
        sizes: per view, None to copy the RGBA render as is, or (h, w) to save it resized (RGB
            on white, PNG) with its K scaled accordingly, to show that any size works.

    Returns:
        The image files written; ``folder / "cameras.json"`` holds
        ``{"images": [file names], "K": [V x 3 x 3 pixels of each file],
        "extrinsic": [V x 3 x 4 world -> camera]}``.
    """
    from PIL import Image

    from data.io import read_camera, read_render

    layout = DataLayout(Path(root))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files, Ks, Es = [], [], []
    for i, v in enumerate(views):
        K, E = read_camera(layout.camera_path(synset, model, int(v)))
        src = layout.render_path(synset, model, int(v))
        dst = folder / f"view_{i}.png"
        size = sizes[i] if sizes is not None else None
        if size is None:
            shutil.copyfile(src, dst)
        else:
            im, k, _ = resize_views(read_render(src)[None], np.asarray(K)[None], size)
            Image.fromarray(np.round(im[0] * 255).astype(np.uint8)).save(dst)
            K = k[0]
        files.append(dst)
        Ks.append(np.asarray(K, np.float64).tolist())
        Es.append(np.asarray(E, np.float64)[:3].tolist())
    (folder / "cameras.json").write_text(json.dumps(
        {"images": [f.name for f in files], "K": Ks, "extrinsic": Es}, indent=1))
    return files
