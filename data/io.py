"""Readers and writers for every file type of the release layout (see :mod:`data.layout`).

Conventions (shared with :mod:`ops.camera`):

* Renders are RGBA PNGs; readers composite them on white and return float RGB in [0, 1].
* Depth PNGs are uint16: scene units = value / 65535 * 10; background pixels hold 10
  (``BACKGROUND_DEPTH``). Depth is the camera-frame z of the surface point.
* Cameras are ``.mat`` files with ``K`` (3x3, pixels) and ``extrinsic`` (4x4, world -> camera,
  OpenCV axes), plus ``quat`` (w, x, y, z of the world->camera rotation) and ``pos`` (camera
  centre in world units).
* Voxel ``.mat`` files hold ``'Volume'`` (uint8 N^3) in the release's storage order; readers
  return the world ``[x, y, z]`` indexing used by the ops: transpose axes (0, 2, 1), then flip
  the new axis 1. Writers apply the inverse, so a round trip is exact.

Every reader raises :class:`DataError` naming the offending file; every writer is atomic (write
to a temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from PIL import Image

from data.layout import BACKGROUND_DEPTH, DEPTH_MAX, DEPTH_SCALE


class DataError(RuntimeError):
    """A data file is missing, unreadable or malformed. The message names the file."""


_UMASK = os.umask(0)
os.umask(_UMASK)


# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------
def atomic_write(
    path: str | os.PathLike, write: Callable[[Any], None], binary: bool = True
) -> None:
    """Write a file atomically: ``write(fileobj)`` into a temporary sibling, then rename.

    A crash or a full disk leaves either the old file or no file, never a truncated one.

    Args:
        path: destination file.
        write: callable that writes the whole content to the open file object.
        binary: open the temporary file in binary mode.

    Raises:
        OSError: from the file system (e.g. ENOSPC), after removing the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=1, sort_keys=False) + "\n"),
                 binary=False)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; :class:`DataError` names the file if it is missing or invalid."""
    path = Path(path)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError as e:
        raise DataError(f"missing JSON file: {path}") from e
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON in {path}: {e}") from e


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------
def _open_png(path: Path) -> Image.Image:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError as e:
        raise DataError(f"missing image file: {path}") from e
    try:
        im = Image.open(io.BytesIO(raw))
        im.load()
    except Exception as e:  # PIL raises several types for truncated / corrupt files
        raise DataError(f"corrupt or truncated PNG: {path} ({e})") from e
    return im


def write_render(path: str | os.PathLike, rgba: np.ndarray) -> None:
    """Write an RGBA render.

    Args:
        path: destination PNG.
        rgba: (H, W, 4) uint8; alpha 255 on the object, 0 on the background.
    """
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"rgba must be (H, W, 4) uint8, got {rgba.shape} {rgba.dtype}")
    im = Image.fromarray(rgba, mode="RGBA")
    atomic_write(path, lambda f: im.save(f, format="PNG", compress_level=1))


def read_render_rgba(path: str | os.PathLike) -> np.ndarray:
    """Read a render as stored: (H, W, 4) uint8 RGBA."""
    im = _open_png(Path(path))
    return np.asarray(im.convert("RGBA"))


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """Composite RGBA on a white background.

    Args:
        rgba: (..., H, W, 4) uint8.

    Returns:
        (..., H, W, 3) float32 RGB in [0, 1].
    """
    x = rgba.astype(np.float32) / 255.0
    a = x[..., 3:4]
    return x[..., :3] * a + (1.0 - a)


def read_render(path: str | os.PathLike) -> np.ndarray:
    """Read a render composited on white: (H, W, 3) float32 in [0, 1]."""
    return composite_on_white(read_render_rgba(path))


def depth_to_png(depth: np.ndarray) -> np.ndarray:
    """Encode depth in scene units as release uint16 values.

    Args:
        depth: (H, W) float, scene units; values >= 10 or non-finite mean background.

    Returns:
        (H, W) uint16, value = round(depth / 10 * 65535), background 65535.
    """
    d = np.where(np.isfinite(depth), depth, DEPTH_MAX)
    d = np.clip(d, 0.0, DEPTH_MAX)
    return np.round(d / DEPTH_SCALE).astype(np.uint16)


def png_to_depth(values: np.ndarray) -> np.ndarray:
    """Decode release uint16 depth values: (H, W) uint16 -> (H, W) float32 scene units."""
    return values.astype(np.float32) * np.float32(DEPTH_SCALE)


def write_depth(path: str | os.PathLike, depth: np.ndarray) -> None:
    """Write a depth map (H, W) in scene units as a uint16 PNG (background -> 10)."""
    values = depth_to_png(np.asarray(depth, dtype=np.float64))
    im = Image.fromarray(values)  # uint16 -> mode "I;16"
    atomic_write(path, lambda f: im.save(f, format="PNG", compress_level=1))


def read_depth(path: str | os.PathLike) -> np.ndarray:
    """Read a depth PNG: (H, W) float32 in scene units; background pixels are 10."""
    path = Path(path)
    im = _open_png(path)
    arr = np.asarray(im)
    if arr.ndim != 2 or arr.dtype not in (np.uint16, np.int32, np.uint8):
        raise DataError(f"depth PNG must be single-channel 16-bit: {path} has {im.mode}")
    return png_to_depth(arr.astype(np.uint16))


# --------------------------------------------------------------------------------------------
# Cameras
# --------------------------------------------------------------------------------------------
def _load_mat(path: Path, kind: str) -> dict[str, Any]:
    try:
        return scipy.io.loadmat(str(path))
    except FileNotFoundError as e:
        raise DataError(f"missing {kind} file: {path}") from e
    except Exception as e:
        raise DataError(f"unreadable {kind} file: {path} ({e})") from e


def rotation_to_quat(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a 3x3 rotation matrix (w >= 0)."""
    R = np.asarray(R, dtype=np.float64)
    w = np.sqrt(max(0.0, 1.0 + R[0, 0] + R[1, 1] + R[2, 2])) / 2.0
    x = np.sqrt(max(0.0, 1.0 + R[0, 0] - R[1, 1] - R[2, 2])) / 2.0
    y = np.sqrt(max(0.0, 1.0 - R[0, 0] + R[1, 1] - R[2, 2])) / 2.0
    z = np.sqrt(max(0.0, 1.0 - R[0, 0] - R[1, 1] + R[2, 2])) / 2.0
    x = np.copysign(x, R[2, 1] - R[1, 2])
    y = np.copysign(y, R[0, 2] - R[2, 0])
    z = np.copysign(z, R[1, 0] - R[0, 1])
    q = np.array([w, x, y, z])
    return q / np.linalg.norm(q)


#: Fixed MAT-file header text: scipy stamps the creation time there, which would make two builds
#: with the same seed differ byte for byte.
_MAT_HEADER = b"MATLAB 5.0 MAT-file, written by LSM data.io"


def _save_mat(path: str | os.PathLike, mat: dict[str, Any], compress: bool) -> None:
    """Atomically write a deterministic MAT-file (v5) holding ``mat``."""
    buf = io.BytesIO()
    scipy.io.savemat(buf, mat, do_compression=compress)
    raw = bytearray(buf.getvalue())
    raw[:116] = _MAT_HEADER.ljust(116, b" ")
    atomic_write(path, lambda f: f.write(bytes(raw)))


def write_camera(path: str | os.PathLike, K: np.ndarray, extrinsic: np.ndarray,
                 **extra: Any) -> None:
    """Write a camera ``.mat``.

    Args:
        path: destination ``camera_{i}.mat``.
        K: (3, 3) intrinsics in pixels.
        extrinsic: (4, 4) or (3, 4) world -> camera [R | t], OpenCV axes, scene units.
        **extra: more keys to store (e.g. ``azimuth``, ``elevation`` in degrees).
    """
    K = np.asarray(K, dtype=np.float64)
    E = np.asarray(extrinsic, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must be 3x3, got {K.shape}")
    if E.shape == (3, 4):
        E = np.vstack([E, [0.0, 0.0, 0.0, 1.0]])
    if E.shape != (4, 4):
        raise ValueError(f"extrinsic must be 4x4 or 3x4, got {E.shape}")
    R, t = E[:3, :3], E[:3, 3]
    mat = {"K": K, "extrinsic": E, "quat": rotation_to_quat(R), "pos": -R.T @ t}
    mat.update({k: np.asarray(v) for k, v in extra.items()})
    _save_mat(path, mat, compress=False)


def read_camera(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a camera ``.mat``.

    Returns:
        K: (3, 3) float32 intrinsics (pixels).
        extrinsic: (4, 4) float32 world -> camera.

    Raises:
        DataError: missing/corrupt file, missing key or wrong shape (message names the file).
    """
    path = Path(path)
    mat = _load_mat(path, "camera")
    for key in ("K", "extrinsic"):
        if key not in mat:
            raise DataError(f"camera file {path} has no key '{key}'")
    K = np.asarray(mat["K"], dtype=np.float32)
    E = np.asarray(mat["extrinsic"], dtype=np.float32)
    if K.shape != (3, 3):
        raise DataError(f"camera file {path}: 'K' has shape {K.shape}, expected (3, 3)")
    if E.shape == (3, 4):
        E = np.vstack([E, np.array([[0, 0, 0, 1]], np.float32)])
    if E.shape != (4, 4):
        raise DataError(f"camera file {path}: 'extrinsic' has shape {E.shape}, expected (4, 4)")
    return K, E


# --------------------------------------------------------------------------------------------
# Voxels
# --------------------------------------------------------------------------------------------
def stored_to_world(volume: np.ndarray) -> np.ndarray:
    """Reorder a grid from the release's storage order to world ``[x, y, z]`` indexing.

    Transposes axes (0, 2, 1), then flips the new axis 1. Input and output (N, N, N).
    """
    return np.flip(np.transpose(volume, (0, 2, 1)), axis=1)


def world_to_stored(grid: np.ndarray) -> np.ndarray:
    """Inverse of :func:`stored_to_world`: (N, N, N) world ``[x, y, z]`` -> storage order."""
    return np.transpose(np.flip(grid, axis=1), (0, 2, 1))


def write_voxels(path: str | os.PathLike, grid: np.ndarray) -> None:
    """Write an occupancy grid given in world ``[x, y, z]`` indexing as a release voxel .mat.

    Args:
        path: destination ``<model>.mat``.
        grid: (N, N, N) bool or {0, 1}, indexed [x, y, z] over [-0.5, 0.5]^3.
    """
    grid = np.asarray(grid)
    if grid.ndim != 3 or len(set(grid.shape)) != 1:
        raise ValueError(f"grid must be (N, N, N), got {grid.shape}")
    vol = np.ascontiguousarray(world_to_stored(grid.astype(np.uint8)))
    _save_mat(path, {"Volume": vol}, compress=True)


def read_voxels(path: str | os.PathLike, nvox: int | None = None) -> np.ndarray:
    """Read a release voxel .mat into world ``[x, y, z]`` indexing.

    Args:
        path: the ``.mat`` file (key ``'Volume'``).
        nvox: expected resolution, checked if given.

    Returns:
        (N, N, N) uint8 occupancy in {0, 1}, indexed [x, y, z].

    Raises:
        DataError: missing/corrupt file, no ``'Volume'`` key, or wrong shape.
    """
    path = Path(path)
    mat = _load_mat(path, "voxel")
    if "Volume" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(f"voxel file {path} has no key 'Volume' (keys: {keys})")
    vol = np.asarray(mat["Volume"])
    if vol.ndim != 3 or len(set(vol.shape)) != 1:
        raise DataError(f"voxel file {path}: 'Volume' has shape {vol.shape}, expected (N, N, N)")
    if nvox is not None and vol.shape[0] != nvox:
        raise DataError(f"voxel file {path}: 'Volume' is {vol.shape[0]}^3, expected {nvox}^3")
    return (stored_to_world(vol) > 0).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------
SPLIT_NAMES = ("train", "val", "test")


def write_splits(path: str | os.PathLike, splits: dict[str, dict[str, list[str]]]) -> None:
    """Write a split file ``{"train"|"val"|"test": {synset: [model_id, ...]}}`` atomically."""
    for name in splits:
        if name not in SPLIT_NAMES:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLIT_NAMES}")
    write_json(path, splits)


def read_splits(path: str | os.PathLike) -> dict[str, dict[str, list[str]]]:
    """Read and validate a split file.

    Returns:
        ``{split: {synset: [model_id, ...]}}`` for the splits present in the file.

    Raises:
        DataError: missing/invalid file or a malformed entry (names the file and key).
    """
    path = Path(path)
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise DataError(f"split file {path} must hold a JSON object")
    for name, per_class in obj.items():
        if name not in SPLIT_NAMES:
            raise DataError(f"split file {path}: unknown split {name!r} (expected {SPLIT_NAMES})")
        if not isinstance(per_class, dict):
            raise DataError(f"split file {path}: '{name}' must map synset -> list of model ids")
        for synset, models in per_class.items():
            if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
                raise DataError(f"split file {path}: '{name}'/'{synset}' must be a list of ids")
    return obj


__all__ = [
    "BACKGROUND_DEPTH",
    "DataError",
    "atomic_write",
    "composite_on_white",
    "read_camera",
    "read_depth",
    "read_json",
    "read_render",
    "read_render_rgba",
    "read_splits",
    "read_voxels",
    "rotation_to_quat",
    "stored_to_world",
    "world_to_stored",
    "write_camera",
    "write_depth",
    "write_json",
    "write_render",
    "write_splits",
    "write_voxels",
]
