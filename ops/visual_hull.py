"""Visual hull by silhouette carving, and its depth maps (a baseline for V-LSM / D-LSM).

Carving: a voxel survives view ``k`` if its centre projects, with ``K [R | t]``, into a pixel
whose mask value exceeds ``threshold``. Pixel ``(v, u)`` covers ``[u, u + 1) x [v, v + 1)``
(:mod:`geometry`), so the centre's pixel is ``(floor(v), floor(u))``. A centre that
projects outside the image, or lies behind the camera, is carved. The hull after ``k`` views
is the intersection over views ``1..k``, so it can only shrink as views are added.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from keras import ops

from geometry.depth import BACKGROUND_DEPTH
from geometry.grid import GRID_RANGE, cell_centres
from ops.project import project_rays, ray_depths
from ops.tensors import check_compatible, check_shape

__all__ = ["visual_hull", "visual_hull_depth"]


def visual_hull(
    masks,
    K,
    extrinsic,
    nvox: int = 32,
    grid_range: Sequence[float] = GRID_RANGE,
    threshold: float = 0.5,
):
    """Cumulative visual hulls carved from silhouettes.

    Args:
        masks: ``[B, V, H, W]`` silhouettes (bool, or float alpha in ``[0, 1]``).
        K: ``[B, V, 3, 3]`` intrinsics in pixels of the ``H x W`` masks.
        extrinsic: ``[B, V, 3, 4]`` world -> camera ``[R | t]`` (scene units).
        nvox: grid cells per axis ``N``.
        grid_range: ``(vmin, vmax)`` grid bounds (scene units).
        threshold: a pixel is inside the silhouette when its mask value is ``> threshold``.

    Returns:
        float32 ``[B, V, N, N, N]`` in ``{0, 1}``: entry ``[b, k]`` is the hull of views
        ``0..k`` of item ``b``, indexed ``[x, y, z]`` = world axes.

    Raises:
        ValueError: if a shape is wrong or inconsistent.
    """
    m_shape = check_shape(masks, "masks", rank=4)
    k_shape = check_shape(K, "K", rank=4, tail=(3, 3))
    e_shape = check_shape(extrinsic, "extrinsic", rank=4, tail=(3, 4))
    check_compatible("K", k_shape[:2], "extrinsic", e_shape[:2])
    check_compatible("masks", m_shape[:2], "K", k_shape[:2])
    _, views, h, w = m_shape
    if None in (views, h, w):
        raise ValueError(f"`masks` needs static V, H, W, got {m_shape}.")
    dtype = "float32"
    centres = ops.cast(cell_centres(nvox, grid_range), dtype)
    proj = ops.reshape(ops.matmul(ops.cast(K, dtype), ops.cast(extrinsic, dtype)), (-1, 3, 4))
    p = (
        (proj[:, :, 0, None] * centres)[:, :, :, None, None]
        + (proj[:, :, 1, None] * centres)[:, :, None, :, None]
        + (proj[:, :, 2, None] * centres)[:, :, None, None, :]
        + proj[:, :, 3, None, None, None]
    )  # [BV, 3, N, N, N]
    depth = p[:, 2]
    safe = ops.where(depth > 0, depth, 1.0)
    col = ops.floor(p[:, 0] / safe)
    row = ops.floor(p[:, 1] / safe)
    inside = (depth > 0) & (col >= 0) & (col <= w - 1) & (row >= 0) & (row <= h - 1)
    col = ops.cast(ops.where(inside, col, 0.0), "int32")
    row = ops.cast(ops.where(inside, row, 0.0), "int32")
    view = ops.arange(ops.shape(p)[0], dtype="int32")[:, None, None, None]
    flat = ops.reshape(ops.cast(masks, dtype), (-1,))
    hit = ops.take(flat, view * (h * w) + row * w + col, axis=0) > threshold
    keep = ops.cast(inside & hit, dtype)
    keep = ops.reshape(keep, (-1, views, nvox, nvox, nvox))
    return ops.cumprod(keep, axis=1)


def visual_hull_depth(
    hull,
    K,
    extrinsic,
    im_size: Sequence[int] = (224, 224),
    proj_x: int = 1,
    samples: int = 128,
    z_range: Sequence[float] = (1.0, 3.0),
    grid_range: Sequence[float] = GRID_RANGE,
    background: float = BACKGROUND_DEPTH,
):
    """First-hit depth of an occupancy grid along every pixel's ray.

    Uses :func:`ops.project.project_rays` with ``rounding="centre"``: rays through the pixel
    centres of an ``(H / proj_x, W / proj_x)`` image, ``samples`` depths evenly spaced in
    ``z_range``, nearest (containing) voxel. The depth is that of the first occupied sample,
    so its resolution is the sample step ``(z_max - z_min) / (samples - 1)`` (0.0157 with
    the defaults) on top of the voxel size; a ray may also slip through a voxel's corner
    between two samples when the step exceeds the voxel size.

    Args:
        hull: ``[B, N, N, N]`` occupancy (``> 0.5`` is occupied), indexed ``[x, y, z]``.
        K: ``[B, V, 3, 3]`` intrinsics in pixels of the ``im_size`` image.
        extrinsic: ``[B, V, 3, 4]`` world -> camera ``[R | t]``.
        im_size: ``(H, W)`` of the image ``K`` refers to.
        proj_x: output downsampling factor (must divide ``im_size``).
        samples: samples per ray.
        z_range: camera depths ``(z_min, z_max)`` of the first and last sample.
        grid_range: ``(vmin, vmax)`` grid bounds (scene units).
        background: depth written where the ray hits nothing (10 in the release renders).

    Returns:
        float32 ``[B, V, H / proj_x, W / proj_x, 1]`` camera-frame depth (scene units).

    Raises:
        ValueError: if a shape is wrong.
    """
    check_shape(hull, "hull", rank=4)
    grid = ops.cast(hull, "float32")[:, None, ..., None]  # [B, 1, N, N, N, 1]
    rays = project_rays(
        grid, K, extrinsic, im_size, proj_x, samples, z_range, grid_range, rounding="centre"
    )  # [B, 1, V, h, w, 1, S]
    occupied = rays[:, 0, :, :, :, 0, :] > 0.5  # [B, V, h, w, S]
    first = ops.argmax(ops.cast(occupied, "int32"), axis=-1)
    z = ops.take(ops.convert_to_tensor(ray_depths(samples, z_range)), first, axis=0)
    depth = ops.where(ops.any(occupied, axis=-1), z, np.float32(background))
    return depth[..., None]
