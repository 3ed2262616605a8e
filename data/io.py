"""Readers and writers for every file type of the release layout (see :mod:`data.layout`).

Conventions (those of :mod:`geometry`):

* Renders are RGBA PNGs; readers composite them on white and return float RGB in [0, 1].
* Depth PNGs are uint16: scene units = value / 65535 * 10; background pixels hold 10
  (``BACKGROUND_DEPTH``). Depth is the camera-frame z of the surface point.
* Cameras are ``.mat`` files with ``K`` (3x3, pixels) and ``extrinsic`` (4x4, world -> camera,
  OpenCV axes), plus ``quat`` (w, x, y, z of the world->camera rotation) and ``pos`` (camera
  centre in world units).
* Voxel ``.mat`` files hold ``'Volume'`` (uint8 N^3) in the release's storage order; readers
  return the world ``[x, y, z]`` indexing used by the ops: transpose axes (0, 2, 1), then flip
  the new axis 1. Writers apply the inverse, so a round trip is exact.

Every reader raises :class:`DataError` naming the offending file, for any file it cannot read
or that fails validation (never a raw PIL/scipy/json exception), and every writer is atomic
(write to a temporary file in the same folder, then ``os.replace``). What readers validate:

* PNGs: the signature, every chunk's length and CRC (so any changed byte is caught, including
  in pixel data that would still decode: PIL itself skips the IDAT CRCs), IHDR first, IEND
  last with nothing after it, then the image type: renders 8-bit RGBA, depth maps 16-bit
  single-channel, and the size when the caller gives one.
* Cameras: ``K`` and ``extrinsic`` real, finite, of the right shapes; ``K`` upper-triangular
  with last row (0, 0, 1) and positive focal lengths (so invertible); the extrinsic's 3x3 part
  a rotation (orthonormal and det +1 within ``ROTATION_TOL``), its 4x4 last row (0, 0, 0, 1),
  and the world origin (the voxel grid's centre) in front of the camera (camera z > 0) and,
  when the caller gives the image size (the loaders do), projecting inside the image.
* Voxels: ``'Volume'`` an integer or bool (N, N, N) array of 0s and 1s.
* JSON: UTF-8 text holding valid JSON; split files also their structure.

``.mat`` (v5) files carry no checksum: a changed byte in a stored number reads as another
number, which is caught only if it fails the checks above (compressed ``.mat`` files, the voxel
grids, are protected by zlib's checksum).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from PIL import Image

from geometry.depth import BACKGROUND_DEPTH, DEPTH_MAX, DEPTH_SCALE
from geometry.grid import stored_to_world, world_to_stored

#: Largest allowed deviation of a camera rotation from orthonormality, ``max |R R^T - I|``, and
#: of its determinant from +1 (unitless).
ROTATION_TOL = 1e-3
#: Largest allowed deviation of the fixed entries of ``K`` (last row (0, 0, 1), zeros below the
#: diagonal) and of the extrinsic's last row (0, 0, 0, 1); relative to ``max |K|`` for ``K``.
MATRIX_TOL = 1e-4


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
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise DataError(f"missing JSON file: {path}") from e
    except OSError as e:
        raise DataError(f"unreadable JSON file: {path} ({e})") from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"invalid JSON in {path}: not UTF-8 text ({e})") from e
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise DataError(f"invalid JSON in {path}: {e}") from e


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour types (IHDR byte 9) by name.
_PNG_COLOUR = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}


def _check_png(raw: bytes, path: Path) -> tuple[int, int, int, int]:
    """Check a PNG's structure without decoding it: signature, chunk lengths and CRCs, IHDR
    first, IEND last and nothing after it.

    Args:
        raw: the file's bytes.
        path: the file, for messages.

    Returns:
        ``(width, height, bit_depth, colour_type)`` from the IHDR chunk.

    Raises:
        DataError: naming the file and the first problem found.
    """
    if not raw:
        raise DataError(f"corrupt or truncated PNG: {path} (empty file, 0 bytes)")
    if raw[:8] != _PNG_SIGNATURE:
        raise DataError(f"corrupt PNG: {path} (not a PNG file: bad signature)")
    view = memoryview(raw)
    header: tuple[int, int, int, int] | None = None
    i = 8
    while True:
        if i + 12 > len(raw):
            raise DataError(f"corrupt or truncated PNG: {path} (file ends at byte {len(raw)} "
                            f"inside a chunk header, before the IEND chunk)")
        n = int.from_bytes(raw[i:i + 4], "big")
        kind = raw[i + 4:i + 8].decode("latin-1")
        end = i + 12 + n
        if end > len(raw):
            raise DataError(f"corrupt or truncated PNG: {path} (chunk {kind!r} at byte {i} "
                            f"claims {n} bytes, past the end of the {len(raw)}-byte file)")
        if zlib.crc32(view[i + 4:end - 4]) != int.from_bytes(raw[end - 4:end], "big"):
            raise DataError(f"corrupt PNG: {path} (CRC mismatch in chunk {kind!r} at byte {i})")
        if header is None:
            if kind != "IHDR" or n != 13:
                raise DataError(f"corrupt PNG: {path} (first chunk is {kind!r}, not IHDR)")
            header = (int.from_bytes(raw[i + 8:i + 12], "big"),
                      int.from_bytes(raw[i + 12:i + 16], "big"), raw[i + 16], raw[i + 17])
        if kind == "IEND":
            if end != len(raw):
                raise DataError(f"corrupt PNG: {path} ({len(raw) - end} bytes of data after "
                                f"the IEND chunk)")
            return header
        i = end


def _read_png(path: Path, what: str, bit_depth: int, colour_type: int,
              size: tuple[int, int] | None) -> np.ndarray:
    """Read, check and decode a PNG of one expected type.

    Args:
        path: the file.
        what: "render" or "depth PNG", for messages.
        bit_depth: expected bits per channel (IHDR).
        colour_type: expected PNG colour type (IHDR: 0 grey, 6 RGBA).
        size: expected ``(height, width)`` in pixels, or None for any.

    Returns:
        The pixels as PIL decodes them: (H, W, C) uint8 for RGBA, (H, W) uint16 for 16-bit grey.

    Raises:
        DataError: missing, unreadable, corrupt (see :func:`_check_png`) or of another type or
            size; the message names the file.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise DataError(f"missing image file: {path}") from e
    except OSError as e:
        raise DataError(f"unreadable image file: {path} ({e})") from e
    width, height, depth, colour = _check_png(raw, path)
    if (depth, colour) != (bit_depth, colour_type):
        raise DataError(
            f"{what} {path} is a {depth}-bit {_PNG_COLOUR.get(colour, f'type-{colour}')} PNG, "
            f"expected {bit_depth}-bit {_PNG_COLOUR[colour_type]}")
    if size is not None and (height, width) != tuple(size):
        raise DataError(f"{what} {path} is {width}x{height} pixels (width x height), expected "
                        f"{size[1]}x{size[0]}")
    try:
        im = Image.open(io.BytesIO(raw))
        im.load()
        arr = np.asarray(im)
    except Exception as e:  # PIL raises several types for corrupt image data
        raise DataError(f"corrupt or truncated PNG: {path} ({e})") from e
    if bit_depth == 16 and arr.dtype == np.int32:  # PIL versions that decode 16-bit as "I"
        arr = arr.astype(np.uint16)
    want = (height, width, 4) if colour_type == 6 else (height, width)
    if arr.shape != want or arr.dtype != (np.uint8 if bit_depth == 8 else np.uint16):
        raise DataError(f"corrupt PNG: {path} (decoded to {arr.shape} {arr.dtype}, "
                        f"expected {want})")
    return arr


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


def read_render_rgba(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a render as stored: (H, W, 4) uint8 RGBA.

    Args:
        path: an 8-bit RGBA PNG.
        size: expected ``(H, W)`` in pixels, or None for any.

    Raises:
        DataError: missing, corrupt (bad CRC, truncated...), not 8-bit RGBA, or another size.
    """
    return _read_png(Path(path), "render", 8, 6, size)


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


def read_render(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a render composited on white: (H, W, 3) float32 in [0, 1].

    Args and errors are :func:`read_render_rgba`'s.
    """
    return composite_on_white(read_render_rgba(path, size))


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


def read_depth(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a depth PNG: (H, W) float32 in scene units; background pixels are 10.

    Args:
        path: a single-channel 16-bit PNG.
        size: expected ``(H, W)`` in pixels, or None for any.

    Raises:
        DataError: missing, corrupt (bad CRC, truncated...), not 16-bit grey, or another size.
    """
    return png_to_depth(_read_png(Path(path), "depth PNG", 16, 0, size))


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


def _real_array(mat: dict[str, Any], key: str, path: Path, kind: str) -> np.ndarray:
    """``mat[key]`` as a float64 array; :class:`DataError` unless it is real numeric."""
    arr = np.asarray(mat[key])
    if arr.dtype.kind not in "iuf":
        raise DataError(f"{kind} {path}: '{key}' is not a real numeric array "
                        f"(dtype {arr.dtype}, shape {arr.shape})")
    return arr.astype(np.float64)


def check_camera(K: np.ndarray, extrinsic: np.ndarray, path: str | os.PathLike,
                 size: tuple[int, int] | None = None) -> None:
    """Validate a camera (see the module docstring for the rules).

    Args:
        K: (3, 3) intrinsics, pixels.
        extrinsic: (4, 4) world -> camera, scene units.
        path: the camera file, for messages.
        size: ``(H, W)`` of the camera's image in pixels; if given, the world origin must also
            project inside it (every view of the layout looks at the object).

    Raises:
        DataError: ``camera <path>: <problem>``.
    """
    where = f"camera {path}"
    for name, m in (("K", K), ("extrinsic", extrinsic)):
        bad = int(np.size(m) - np.isfinite(m).sum())
        if bad:
            raise DataError(f"{where}: {name} is not finite ({bad} NaN or infinite values)")
    if not np.any(K):
        raise DataError(f"{where}: K is singular (all zeros)")
    if np.abs(K[2] - [0.0, 0.0, 1.0]).max() > MATRIX_TOL:
        raise DataError(f"{where}: K's last row is {K[2].tolist()}, expected [0, 0, 1]")
    if abs(K[1, 0]) > MATRIX_TOL * np.abs(K).max():
        raise DataError(f"{where}: K is not upper-triangular (K[1, 0] = {K[1, 0]:g})")
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise DataError(f"{where}: K has a non-positive focal length (fx = {K[0, 0]:g}, "
                        f"fy = {K[1, 1]:g}), so it is singular or mirrors the image")
    if np.abs(extrinsic[3] - [0.0, 0.0, 0.0, 1.0]).max() > MATRIX_TOL:
        raise DataError(f"{where}: extrinsic's last row is {extrinsic[3].tolist()}, "
                        f"expected [0, 0, 0, 1]")
    R, t = extrinsic[:3, :3], extrinsic[:3, 3]
    err = float(np.abs(R @ R.T - np.eye(3)).max())
    if err > ROTATION_TOL:
        raise DataError(f"{where}: extrinsic's 3x3 part is not a rotation (max |R R^T - I| = "
                        f"{err:.3g} > {ROTATION_TOL:g})")
    det = float(np.linalg.det(R))
    if abs(det - 1.0) > ROTATION_TOL:
        raise DataError(f"{where}: extrinsic's 3x3 part has det {det:.4g}, expected +1 "
                        f"(a reflection, not a rotation)")
    if not t[2] > 0:
        raise DataError(f"{where}: the world origin (the voxel grid's centre) is behind the "
                        f"camera (camera-frame z = {t[2]:.4g}, must be > 0)")
    if size is not None:
        u, v, _ = K @ (t / t[2])
        if not (0.0 <= u <= size[1] and 0.0 <= v <= size[0]):
            raise DataError(f"{where}: the world origin (the voxel grid's centre) projects to "
                            f"pixel ({u:.4g}, {v:.4g}), outside the {size[1]}x{size[0]} image")


def read_camera(path: str | os.PathLike,
                size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate a camera ``.mat``.

    Args:
        path: the ``camera_{i}.mat`` file.
        size: ``(H, W)`` of its render in pixels, to also check that the world origin projects
            inside it; None to skip that check.

    Returns:
        K: (3, 3) float32 intrinsics (pixels).
        extrinsic: (4, 4) float32 world -> camera (a stored 3x4 gets the row (0, 0, 0, 1)).

    Raises:
        DataError: missing/corrupt file, missing key, wrong shape or dtype, or a camera that
            fails :func:`check_camera` (the message names the file).
    """
    path = Path(path)
    mat = _load_mat(path, "camera")
    for key in ("K", "extrinsic"):
        if key not in mat:
            raise DataError(f"camera file {path} has no key '{key}'")
    K = _real_array(mat, "K", path, "camera file")
    E = _real_array(mat, "extrinsic", path, "camera file")
    if K.shape != (3, 3):
        raise DataError(f"camera file {path}: 'K' has shape {K.shape}, expected (3, 3)")
    if E.shape == (3, 4):
        E = np.vstack([E, [[0.0, 0.0, 0.0, 1.0]]])
    if E.shape != (4, 4):
        raise DataError(f"camera file {path}: 'extrinsic' has shape {E.shape}, expected (4, 4)")
    check_camera(K, E, path, size)
    return K.astype(np.float32), E.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Voxels
# --------------------------------------------------------------------------------------------
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
        DataError: missing/corrupt file, no ``'Volume'`` key, a dtype other than integer or
            bool, a wrong shape, or values other than 0 and 1.
    """
    path = Path(path)
    mat = _load_mat(path, "voxel")
    if "Volume" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(f"voxel file {path} has no key 'Volume' (keys: {keys})")
    vol = np.asarray(mat["Volume"])
    if vol.dtype.kind not in "biu":
        nan = " and contains NaN" if vol.dtype.kind in "fc" and np.isnan(vol).any() else ""
        raise DataError(f"voxel file {path}: 'Volume' has dtype {vol.dtype}{nan}, expected "
                        f"numeric uint8 (or another integer or bool) occupancy")
    if vol.ndim != 3 or len(set(vol.shape)) != 1 or vol.size == 0:
        raise DataError(f"voxel file {path}: 'Volume' has shape {vol.shape}, expected (N, N, N)")
    if nvox is not None and vol.shape[0] != nvox:
        raise DataError(f"voxel file {path}: 'Volume' is {vol.shape[0]}^3, expected {nvox}^3")
    if vol.dtype.kind != "b":
        lo, hi = vol.min(), vol.max()
        if lo < 0 or hi > 1:
            raise DataError(f"voxel file {path}: 'Volume' has values outside {{0, 1}} "
                            f"(min {lo}, max {hi})")
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
    "check_camera",
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
