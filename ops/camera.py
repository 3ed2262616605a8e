"""Camera geometry on tensors (``keras.ops``): rigid transforms, pinhole projection, rescaled
intrinsics.

The conventions (world z up, OpenCV camera axes, world -> camera extrinsics ``[R | t]``,
pinhole ``K`` in pixels of the full-size image, pixel ``(v, u)`` covering
``[u, u + 1) x [v, v + 1)``) are written once in :mod:`geometry` and drawn in
``docs/camera.md``; the numpy constants (render cameras, pixel and voxel centres) live there
too. Every function here accepts any number of leading batch dimensions ``A1, ..., An``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from keras import ops

from ops.tensors import as_float, check_shape

__all__ = [
    "camera_to_world",
    "invert_extrinsic",
    "project",
    "scale_intrinsics",
    "world_to_camera",
]


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
    extrinsic = as_float(extrinsic)
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
    points = as_float(points)
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
    points = as_float(points)
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
    points = as_float(points)
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
    K = as_float(K)
    scale = np.array([to_size[1] / from_size[1], to_size[0] / from_size[0], 1.0], dtype=np.float64)[
        :, None
    ]
    return K * ops.cast(scale, K.dtype)
