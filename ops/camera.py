"""Camera and voxel-grid geometry: the project's conventions, written once.

Conventions (shared by ``data/``, ``ops/`` and ``models/``; drawn in ``docs/camera.md``)
---------------------------------------------------------------------------------------

World frame
    z-up, the Blender frame of the release renders. The object lives in the cube
    ``[vmin, vmax]^3 = [-0.5, 0.5]^3`` (scene units; ShapeNet models are normalised to it).

Voxel grid
    An ``N^3`` grid over that cube is indexed ``grid[x, y, z]`` = world axes. Cell ``i`` along
    an axis spans ``[vmin + i * vsize, vmin + (i + 1) * vsize)`` with ``vsize = (vmax - vmin) / N``
    and its centre is ``vmin + (i + 0.5) * vsize``.

Camera frame
    OpenCV axes: x right, y down, z forward (into the scene). Depth is the camera-frame ``z``
    in scene units.

Extrinsic
    ``[..., 3, 4]`` world -> camera matrix ``E = [R | t]``: ``x_cam = R @ x_world + t``.
    Camera -> world is ``[R^T | -R^T t]``; the camera centre in the world is ``C = -R^T t``.

Intrinsic
    ``[..., 3, 3]`` pinhole matrix ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels of
    the full-size (224 x 224) image, e.g. ``fx = fy = 420, cx = cy = 112``. A camera point
    ``(X, Y, Z)`` projects to ``u = fx X / Z + cx`` (column), ``v = fy Y / Z + cy`` (row).

Pixels
    Pixel ``(row v, col u)`` is addressed by integer ``(v, u)`` and covers the continuous
    square ``[u, u + 1) x [v, v + 1)``; its centre is ``(u + 0.5, v + 0.5)``. This is the
    rendering convention (Blender; ``cx = cy = 112`` is the centre of a 224 image), used by
    the ray projection (:mod:`ops.project`) and the visual hull (:mod:`ops.visual_hull`).
    Quirk kept from the release for checkpoint compatibility: its unprojection
    (:mod:`ops.unproject`) reads a projected ``(u, v)`` directly as a sampling index, i.e. as
    if integer coordinates were pixel centres (a half-pixel shift), and rescales to feature
    maps without a half-pixel correction (:func:`scale_intrinsics`).

All tensor functions use ``keras.ops`` and accept any number of leading batch dimensions
``A1, ..., An``; :func:`pixel_centres` and :func:`voxel_centres`
return numpy constants.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

__all__ = [
    "camera_to_world",
    "check_compatible",
    "check_shape",
    "float_dtype",
    "invert_extrinsic",
    "pixel_centres",
    "project",
    "scale_intrinsics",
    "voxel_centres",
    "voxel_coords",
    "world_to_camera",
]


def check_shape(x, name: str, rank: int | None = None, tail: Sequence[int | None] = ()):
    """Check a tensor's static shape; return it as a tuple.

    Args:
        x: a tensor or array.
        name: the argument's name, used in the error message.
        rank: the exact rank required, or ``None`` for "at least ``len(tail)``".
        tail: required sizes of the last ``len(tail)`` axes; ``None`` matches any size.

    Returns:
        The static shape as a tuple (unknown sizes are ``None``).

    Raises:
        ValueError: if the rank or a trailing size does not match.
    """
    static = getattr(x, "shape", None)
    if static is None:
        static = np.shape(x)
    # the static shape: unknown sizes (e.g. a traced batch axis) are None, never tensors
    shape = tuple(None if d is None else int(d) for d in static)
    if rank is not None and len(shape) != rank:
        raise ValueError(f"`{name}` must have rank {rank}, got shape {shape}.")
    if len(shape) < len(tail):
        raise ValueError(f"`{name}` must have rank >= {len(tail)}, got shape {shape}.")
    if tail:
        got = shape[len(shape) - len(tail) :]
        for g, want in zip(got, tail, strict=True):
            if want is not None and g is not None and g != want:
                raise ValueError(
                    f"`{name}` must have trailing shape {tuple(tail)}, got shape {shape}."
                )
    return shape


def check_compatible(name_a: str, shape_a, name_b: str, shape_b) -> None:
    """Check that two static shapes agree wherever both sizes are known.

    Args:
        name_a: first argument's name (for the message).
        shape_a: its shape (or the part to compare), a sequence of ints or ``None``.
        name_b: second argument's name.
        shape_b: its shape (or the part to compare), same length as ``shape_a``.

    Raises:
        ValueError: if the lengths differ or a pair of known sizes differs.
    """
    shape_a, shape_b = tuple(shape_a), tuple(shape_b)
    if len(shape_a) != len(shape_b) or any(
        a is not None and b is not None and a != b for a, b in zip(shape_a, shape_b, strict=True)
    ):
        raise ValueError(f"`{name_a}` {shape_a} and `{name_b}` {shape_b} disagree.")


def float_dtype(x) -> str:
    """The dtype name of ``x`` if it is floating point, else ``"float32"``.

    Args:
        x: a tensor or array.

    Returns:
        A Keras dtype name such as ``"float32"`` or ``"float64"``.
    """
    dtype = keras.backend.standardize_dtype(ops.convert_to_tensor(x).dtype)
    return dtype if "float" in dtype else "float32"


def _as_float(x, dtype=None):
    return ops.cast(x, dtype or float_dtype(x))


def invert_extrinsic(extrinsic):
    """Invert a rigid world -> camera matrix.

    ``[R | t] -> [R^T | -R^T t]``.

    Args:
        extrinsic: ``[A1, ..., An, 3, 4]`` world -> camera ``[R | t]`` (t in scene units).

    Returns:
        ``[A1, ..., An, 3, 4]`` camera -> world matrix.

    Raises:
        ValueError: if ``extrinsic`` is not ``[..., 3, 4]``.
    """
    check_shape(extrinsic, "extrinsic", tail=(3, 4))
    extrinsic = _as_float(extrinsic)
    rot_t = ops.swapaxes(extrinsic[..., :3], -1, -2)
    t = extrinsic[..., 3:]
    return ops.concatenate([rot_t, -ops.matmul(rot_t, t)], axis=-1)


def _apply_rigid(points, matrix):
    return ops.matmul(points, ops.swapaxes(matrix[..., :3], -1, -2)) + matrix[..., None, :, 3]


def world_to_camera(points, extrinsic):
    """Transform world points into the camera frame: ``x_cam = R x_world + t``.

    Args:
        points: ``[A1, ..., An, M, 3]`` world points (scene units).
        extrinsic: ``[A1, ..., An, 3, 4]`` world -> camera ``[R | t]``.

    Returns:
        ``[A1, ..., An, M, 3]`` camera-frame points (scene units; z is depth).

    Raises:
        ValueError: if a trailing shape is wrong.
    """
    check_shape(points, "points", tail=(None, 3))
    check_shape(extrinsic, "extrinsic", tail=(3, 4))
    points = _as_float(points)
    return _apply_rigid(points, ops.cast(extrinsic, points.dtype))


def camera_to_world(points, extrinsic):
    """Transform camera-frame points into the world: ``x_world = R^T (x_cam - t)``.

    Args:
        points: ``[A1, ..., An, M, 3]`` camera-frame points (scene units).
        extrinsic: ``[A1, ..., An, 3, 4]`` world -> camera ``[R | t]`` (not its inverse).

    Returns:
        ``[A1, ..., An, M, 3]`` world points (scene units).

    Raises:
        ValueError: if a trailing shape is wrong.
    """
    check_shape(points, "points", tail=(None, 3))
    check_shape(extrinsic, "extrinsic", tail=(3, 4))
    points = _as_float(points)
    return _apply_rigid(points, invert_extrinsic(ops.cast(extrinsic, points.dtype)))


def project(points, K):
    """Pinhole projection of camera-frame points to pixel coordinates.

    ``u = (K[0] . p) / z``, ``v = (K[1] . p) / z`` with ``z`` the point's camera-frame depth
    (for a pinhole ``K`` whose last row is ``[0, 0, 1]``). ``u`` is the column and ``v`` the
    row, in the continuous image coordinates of the module docstring (pixel ``(v, u)`` spans
    ``[u, u + 1) x [v, v + 1)``). Points with ``z <= 0``
    are not masked: callers decide.

    Args:
        points: ``[A1, ..., An, M, 3]`` camera-frame points (scene units).
        K: ``[A1, ..., An, 3, 3]`` intrinsics in pixels.

    Returns:
        A pair ``(uv, z)``: ``uv`` ``[A1, ..., An, M, 2]`` pixel coordinates ``(u, v)``, and
        ``z`` ``[A1, ..., An, M]`` depth (scene units).

    Raises:
        ValueError: if a trailing shape is wrong.
    """
    check_shape(points, "points", tail=(None, 3))
    check_shape(K, "K", tail=(3, 3))
    points = _as_float(points)
    p = ops.matmul(points, ops.swapaxes(ops.cast(K, points.dtype), -1, -2))
    z = p[..., 2]
    return p[..., :2] / z[..., None], z


def scale_intrinsics(K, from_size: Sequence[int], to_size: Sequence[int]):
    """Rescale intrinsics to a resized image or feature map, as the release does.

    ``K' = diag(sw, sh, 1) K`` with ``sw = to_w / from_w`` and ``sh = to_h / from_h``: pixel
    coordinates are multiplied, with no half-pixel shift. This is the release's
    feature-map convention (``u_feat = u * fw / W``), not the "pixel corners" convention.

    Args:
        K: ``[A1, ..., An, 3, 3]`` intrinsics in pixels of a ``from_size`` image.
        from_size: ``(height, width)`` of the image ``K`` refers to.
        to_size: ``(height, width)`` of the target image or feature map.

    Returns:
        ``[A1, ..., An, 3, 3]`` intrinsics in pixels of the ``to_size`` image.

    Raises:
        ValueError: if ``K`` is not ``[..., 3, 3]`` or a size is not two positive numbers.
    """
    check_shape(K, "K", tail=(3, 3))
    for name, size in (("from_size", from_size), ("to_size", to_size)):
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"`{name}` must be (height, width) > 0, got {size}.")
    K = _as_float(K)
    scale = np.array([to_size[1] / from_size[1], to_size[0] / from_size[0], 1.0], dtype=np.float64)[
        :, None
    ]
    return K * ops.cast(scale, K.dtype)


def pixel_centres(height: int, width: int, offset: float = 0.5) -> np.ndarray:
    """Pixel coordinates of every pixel of a ``height x width`` image.

    Args:
        height: image rows.
        width: image columns.
        offset: added to the integer index; ``0.5`` gives the centres used by the release's
            ray projection (pixel edges on integers), ``0.0`` the integer-centre convention of
            its unprojection.

    Returns:
        float32 ``[height, width, 2]``; entry ``[v, u]`` is ``(u + offset, v + offset)``
        (column first, as in ``K``).

    Raises:
        ValueError: if a size is not positive.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"`height` and `width` must be positive, got {height}, {width}.")
    v, u = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return np.stack([u, v], axis=-1).astype(np.float32) + np.float32(offset)


def voxel_coords(nvox: int, vmin: float = -0.5, vmax: float = 0.5) -> np.ndarray:
    """Centres of the cells along one axis: ``vmin + (i + 0.5) * vsize``.

    Args:
        nvox: cells per axis ``N``.
        vmin: lower grid bound (scene units).
        vmax: upper grid bound (scene units).

    Returns:
        float64 ``[N]`` centres (scene units).

    Raises:
        ValueError: if ``nvox < 1`` or ``vmax <= vmin``.
    """
    if nvox < 1 or not vmax > vmin:
        raise ValueError(f"need `nvox` >= 1 and `vmax` > `vmin`, got {nvox}, {vmin}, {vmax}.")
    vsize = (vmax - vmin) / nvox
    return vmin + (np.arange(nvox, dtype=np.float64) + 0.5) * vsize


def voxel_centres(nvox: int, vmin: float = -0.5, vmax: float = 0.5) -> np.ndarray:
    """World coordinates of every voxel centre of an ``N^3`` grid indexed ``[x, y, z]``.

    Args:
        nvox: cells per axis ``N``.
        vmin: lower grid bound (scene units).
        vmax: upper grid bound (scene units).

    Returns:
        float32 ``[N, N, N, 3]``; entry ``[i, j, k]`` is ``(x_i, y_j, z_k)``.

    Raises:
        ValueError: if ``nvox < 1`` or ``vmax <= vmin``.
    """
    c = voxel_coords(nvox, vmin, vmax)
    return np.stack(np.meshgrid(c, c, c, indexing="ij"), axis=-1).astype(np.float32)


def fast_kernels():
    """The backend-specific fast path for the current Keras backend, or None.

    TensorFlow: :mod:`ops.tf_kernels` (the portable ops compiled with XLA inside whatever graph
    calls them; on CPU their backward pass is ~5x faster than plain graph mode). Other backends
    use the portable ops (JAX compiles whole steps with XLA anyway). Set ``LSM_FAST_OPS=0`` to
    force the portable path.
    """
    import os

    import keras

    if os.environ.get("LSM_FAST_OPS", "1") == "0" or keras.backend.backend() != "tensorflow":
        return None
    from ops import tf_kernels

    return tf_kernels
