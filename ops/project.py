"""Projection of voxel feature grids onto camera rays (the release's ``proj_slice``).

For a ``(H / proj_x) x (W / proj_x)`` image of each view (conventions in :mod:`geometry`):

1. Pixel ``(row i, col j)`` of the small image has centre ``(j + 0.5, i + 0.5)`` in its own
   pixels, i.e. ``u = (j + 0.5) * proj_x``, ``v = (i + 0.5) * proj_x`` in pixels of the
   full-size image ``K`` refers to. (The release scales ``K`` by ``1 / proj_x`` and solves
   ``K' X = [j + 0.5, i + 0.5, 1 / proj_x]``, which is the same ray.)
2. The ray ``d = K^{-1} [u, v, 1]`` (so ``d_z = 1``) is sampled at ``S`` camera depths
   ``z_s = linspace(z_min, z_max, S)``: ``X_cam = z_s d``.
3. Camera -> world: ``X = R^T (X_cam - t)``.
4. Continuous grid coordinate ``g = (X - vmin) / (vmax - vmin) * N`` (cell ``i`` spans
   ``[i, i + 1)``) and the nearest voxel:

   * ``rounding="release"``: ``round(g)`` (round half to even, as ``tf.round``). This is the
     release's half-voxel quirk: it reads cell ``i`` for ``g`` in ``[i - 0.5, i + 0.5)``,
     i.e. the cell whose *lower corner* is nearest. Default, for checkpoint compatibility.
   * ``rounding="centre"``: ``floor(g)``, the cell that contains the point.

5. A sample whose index leaves ``[0, N - 1]`` on any axis reads 0 (on every backend: invalid
   samples are routed to an explicit zero row; out-of-range gathers are never issued).

Output layout follows the release: ``[B, T, V, h, w, C, S]``; :func:`rays_to_channels` folds it
into the depth network's ``[B*T*V, h, w, C*S]`` input (channel ``c * S + s``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from keras import ops

from geometry.camera import pixel_centres
from geometry.grid import GRID_RANGE
from ops.dispatch import fast_ops_enabled, fast_path
from ops.tensors import check_shape, float_dtype

__all__ = [
    "proj_slice",
    "project_rays",
    "ray_depths",
    "rays_to_channels",
    "ray_voxel_indices",
    "samples_major_order",
    "unit_on_rays",
]

_ROUNDINGS = ("release", "centre")
_LAYOUTS = ("release", "samples")


def ray_depths(samples: int = 64, z_range: Sequence[float] = (1.0, 3.0)) -> np.ndarray:
    """Camera-frame depths of the ray samples: ``linspace(z_min, z_max, samples)``.

    Args:
        samples: number of samples ``S`` per ray, >= 1.
        z_range: ``(z_min, z_max)`` (scene units).

    Returns:
        float32 ``[S]`` depths (scene units).

    Raises:
        ValueError: if ``samples < 1``.
    """
    if samples < 1:
        raise ValueError(f"`samples` must be >= 1, got {samples}.")
    return np.linspace(z_range[0], z_range[1], samples).astype(np.float32)


def _check_cameras(K, extrinsic):
    k_shape = check_shape(K, "K", rank=4, tail=(3, 3))
    e_shape = check_shape(extrinsic, "extrinsic", rank=4, tail=(3, 4))
    if k_shape[:2] != e_shape[:2]:
        raise ValueError(f"`K` {k_shape} and `extrinsic` {e_shape} disagree on [B, V].")
    return k_shape[:2]


def _small_size(im_size, proj_x):
    if len(im_size) != 2 or min(im_size) <= 0:
        raise ValueError(f"`im_size` must be (H, W) > 0, got {im_size}.")
    if proj_x < 1 or im_size[0] % proj_x or im_size[1] % proj_x:
        raise ValueError(f"`proj_x` ({proj_x}) must divide `im_size` {tuple(im_size)}.")
    return im_size[0] // proj_x, im_size[1] // proj_x


def ray_voxel_indices(
    K,
    extrinsic,
    nvox: int,
    im_size: Sequence[int] = (224, 224),
    proj_x: int = 4,
    samples: int = 64,
    z_range: Sequence[float] = (1.0, 3.0),
    grid_range: Sequence[float] = GRID_RANGE,
    rounding: str = "release",
    dtype: str = "float32",
):
    """Voxel hit by every ray sample, as a linear index ``(x * N + y) * N + z``.

    Args:
        K: ``[B, V, 3, 3]`` intrinsics in pixels of the ``im_size`` image.
        extrinsic: ``[B, V, 3, 4]`` world -> camera ``[R | t]``.
        nvox: grid cells per axis ``N``.
        im_size: ``(H, W)`` of the image ``K`` refers to.
        proj_x: downsampling factor; rays go through the ``(H / proj_x, W / proj_x)`` pixels.
        samples: ``S`` depths per ray.
        z_range: ``(z_min, z_max)`` camera depths of the first and last sample (scene units).
        grid_range: ``(vmin, vmax)`` grid bounds (scene units).
        rounding: ``"release"`` (``round``) or ``"centre"`` (``floor``); see the module doc.
        dtype: float dtype of the geometry computation.

    Returns:
        A pair ``(index, valid)``, both ``[B, V, h, w, S]``: int32 linear voxel index (0 where
        invalid) and a bool mask of samples inside the grid.

    Raises:
        ValueError: on bad shapes or arguments.
    """
    _check_cameras(K, extrinsic)
    if rounding not in _ROUNDINGS:
        raise ValueError(f"`rounding` must be one of {_ROUNDINGS}, got {rounding!r}.")
    if nvox < 1:
        raise ValueError(f"`nvox` must be >= 1, got {nvox}.")
    h, w = _small_size(im_size, proj_x)
    vmin, vmax = grid_range

    K = ops.cast(K, dtype)
    extrinsic = ops.cast(extrinsic, dtype)
    pix = pixel_centres(h, w).astype(np.float64) * np.array(
        [im_size[1] / w, im_size[0] / h], dtype=np.float64
    )
    pix_h = np.concatenate([pix, np.ones((h, w, 1))], axis=-1).reshape(-1, 3).T  # [3, h*w]
    rays = ops.matmul(ops.inv(K), ops.cast(pix_h, dtype))  # [B, V, 3, h*w], ray z = 1
    rot_t = ops.swapaxes(extrinsic[..., :3], -1, -2)
    centre = -ops.matmul(rot_t, extrinsic[..., 3:])  # [B, V, 3, 1]
    scale = nvox / (vmax - vmin)
    dirs = ops.swapaxes(ops.matmul(rot_t, rays), -1, -2) * scale  # [B, V, h*w, 3]
    origin = (ops.swapaxes(centre, -1, -2) - vmin) * scale  # [B, V, 1, 3]
    z = ops.cast(ray_depths(samples, z_range), dtype)
    g = dirs[..., None, :] * z[:, None] + origin[..., None, :]  # [B, V, h*w, S, 3]
    idx = ops.round(g) if rounding == "release" else ops.floor(g)
    valid = ops.all((idx >= 0) & (idx <= nvox - 1), axis=-1)
    idx = ops.where(valid[..., None], idx, 0.0)
    idx = ops.cast(idx, "int32")
    lin = (idx[..., 0] * nvox + idx[..., 1]) * nvox + idx[..., 2]
    shape = (-1, ops.shape(K)[1], h, w, samples)
    return ops.reshape(lin, shape), ops.reshape(valid, shape)


@fast_path(tensors=3)
def project_rays(
    grid,
    K,
    extrinsic,
    im_size: Sequence[int] = (224, 224),
    proj_x: int = 4,
    samples: int = 64,
    z_range: Sequence[float] = (1.0, 3.0),
    grid_range: Sequence[float] = GRID_RANGE,
    rounding: str = "release",
    layout: str = "release",
    out_dtype: str | None = None,
):
    """Sample voxel features along the camera rays of every view (nearest voxel).

    Every time step's grid is projected into every view of the same batch item.

    Args:
        grid: ``[B, T, N, N, N, C]`` voxel features indexed ``[b, t, x, y, z]``.
        K: ``[B, V, 3, 3]`` intrinsics in pixels of the ``im_size`` image.
        extrinsic: ``[B, V, 3, 4]`` world -> camera ``[R | t]`` (scene units).
        im_size: ``(H, W)`` of the image ``K`` refers to; ``proj_x`` must divide both.
        proj_x: rays go through the pixel centres of an ``(H / proj_x, W / proj_x)`` image.
        samples: ``S`` samples per ray.
        z_range: camera depths ``(z_min, z_max)`` of the first and last sample (scene units).
        grid_range: ``(vmin, vmax)`` grid bounds (scene units).
        rounding: ``"release"`` (default, ``round``; checkpoint compatible) or ``"centre"``
            (``floor``, the geometrically containing cell).
        layout: ``"release"`` (``[..., C, S]``, default) or ``"samples"`` (``[..., S, C]``, the
            gather's own order: no transpose; see :func:`samples_major_order`).
        out_dtype: cast the samples to this dtype as they are gathered (e.g. ``"bfloat16"``
            for a low-precision depth network: half the memory of the largest tensor); the
            gradient is cast back before it is summed into the grid. None: ``grid``'s dtype.

    Returns:
        ``[B, T, V, h, w, C, S]`` (``[B, T, V, h, w, S, C]`` with ``layout="samples"``) with
        ``h = H / proj_x``, ``w = W / proj_x``; samples outside the grid are 0. Sample ``s``
        is at depth ``ray_depths(S, z_range)[s]``.

    Raises:
        ValueError: on bad shapes or arguments (the message names the argument).
    """
    if layout not in _LAYOUTS:
        raise ValueError(f"`layout` must be one of {_LAYOUTS}, got {layout!r}.")
    g_shape = check_shape(grid, "grid", rank=6)
    batch, steps, n1, n2, n3, c = g_shape
    if not n1 == n2 == n3 or n1 is None or c is None:
        raise ValueError(f"`grid` must be [B, T, N, N, N, C] with static N, C, got {g_shape}.")
    if steps is None:
        raise ValueError(f"`grid` needs a static number of time steps T, got {g_shape}.")
    k_batch, views = _check_cameras(K, extrinsic)
    if None not in (batch, k_batch) and batch != k_batch:
        raise ValueError(f"`grid` batch {batch} differs from `K`/`extrinsic` batch {k_batch}.")
    if views is None:
        raise ValueError("`K` needs a static number of views V.")
    dtype = float_dtype(grid)
    grid = ops.cast(grid, dtype)
    nvox = n1
    h, w = _small_size(im_size, proj_x)
    lin, valid = ray_voxel_indices(
        K, extrinsic, nvox, im_size, proj_x, samples, z_range, grid_range, rounding, dtype
    )

    # One flat gather over [B*T*N^3 + 1, C]; the extra last row is zero and takes every
    # sample outside the grid.
    ncell = nvox**3
    table = ops.reshape(grid, (-1, c))
    table = ops.concatenate([table, ops.zeros((1, c), dtype=dtype)], axis=0)
    zero_row = ops.shape(table)[0] - 1
    bt = ops.reshape(ops.arange(ops.shape(grid)[0] * steps, dtype="int32"), (-1, steps))
    index = bt[:, :, None, None, None, None] * ncell + lin[:, None]  # [B, T, V, h, w, S]
    index = ops.where(valid[:, None], index, zero_row)
    out = ops.take(table, index, axis=0)  # [B, T, V, h, w, S, C]
    if out_dtype is not None:
        out = ops.cast(out, out_dtype)
    if layout == "samples":
        return out
    out = ops.swapaxes(out, -1, -2)
    return ops.reshape(out, (-1, steps, views, h, w, c, samples))


def samples_major_order(channels: int, samples: int) -> np.ndarray:
    """Where each channel of the ``layout="samples"`` rays sits in the release's order.

    :func:`rays_to_channels` of the release layout puts sample ``s`` of feature ``c`` at
    channel ``c * S + s``; folding the ``layout="samples"`` output ``[..., S, C]`` puts it at
    ``s * C + c``. Returns the int32 ``[C * S]`` array ``order`` with
    ``order[s * C + c] = c * S + s``: a network trained on release-ordered channels reads
    samples-major ones with its first kernels' input axis taken in this order
    (``models.layers.ConvUnit(..., input_order=order)``), which is the same function and
    spares the transpose of the largest tensor of a D-LSM step.
    """
    s, c = np.meshgrid(np.arange(samples), np.arange(channels), indexing="ij")
    return (c * samples + s).reshape(-1).astype(np.int32)


def rays_to_channels(slices, layout: str = "release"):
    """Fold ray samples into channels for the 2D depth network.

    Args:
        slices: ``[B, T, V, h, w, C, S]`` output of :func:`project_rays` (``layout="release"``)
            or ``[B, T, V, h, w, S, C]`` (``layout="samples"``).
        layout: the layout ``slices`` was projected with.

    Returns:
        ``[B*T*V, h, w, C*S]``. Release layout: channel ``c * S + s`` holds feature ``c`` at
        sample ``s``, as in the release; samples layout: channel ``s * C + c`` (see
        :func:`samples_major_order`).

    Raises:
        ValueError: if ``slices`` is not rank 7 with static ``h, w, C, S`` or ``layout`` is
            unknown.
    """
    if layout not in _LAYOUTS:
        raise ValueError(f"`layout` must be one of {_LAYOUTS}, got {layout!r}.")
    shape = check_shape(slices, "slices", rank=7)
    if None in shape[3:]:
        raise ValueError(f"`slices` needs static h, w, C, S, got {shape}.")
    _, _, _, h, w, a, b = shape
    return ops.reshape(slices, (-1, h, w, a * b))


class RaysUnit(Protocol):
    """What :func:`unit_on_rays` needs of a network's first unit (as
    :class:`models.layers.ConvUnit`): ``unit(x, training, input_order, activated)`` on
    ``[N, h, w, C_in]`` channels, a ReLU first if ``pre_activation``, computing in
    ``conv_dtype``, and mixing its input channels only linearly after the ReLU (so that a
    permutation of the input channels is the same permutation of its kernels' input axis)."""

    pre_activation: bool
    conv_dtype: str

    def __call__(self, x: Any, training: bool | None = None, input_order: Any = None,
                 activated: bool = False) -> Any: ...


def unit_on_rays(
    unit: RaysUnit,
    grid,
    K,
    extrinsic,
    training: bool | None = None,
    im_size: Sequence[int] = (224, 224),
    proj_x: int = 4,
    samples: int = 64,
    z_range: Sequence[float] = (1.0, 3.0),
    grid_range: Sequence[float] = GRID_RANGE,
    rounding: str = "release",
):
    """A network's first unit on the grid's rays: ``unit(rays_to_channels(project_rays(grid,
    K, extrinsic, ...)))``, the release's channels ``c * S + s``.

    This is what the D-LSM's depth net reads (the paper's projection of the grid features
    along the rays, stacked as channels). By default (``LSM_FAST_OPS`` not ``0``,
    :func:`ops.dispatch.fast_ops_enabled`) it is computed in a fast form, the same function:
    the rays are the largest tensor of a D-LSM step (S times the grid features), so the
    unit's ReLU and its compute-dtype cast, which commute with the gather (the zeros of the
    samples outside the grid stay 0), run on the grid instead; the rays stay in the gather's
    samples-major order (``layout="samples"``, channel ``s * C + c``) and the unit reads its
    kernels' input axis in that order (:func:`samples_major_order`), which spares the transpose
    of the rays. ``LSM_FAST_OPS=0`` computes the plain form above (the reference of the tests).

    Args:
        unit: the first unit (:class:`RaysUnit`, e.g. :class:`models.layers.ConvUnit`).
        grid: ``[B, T, N, N, N, C]`` voxel features.
        K, extrinsic: ``[B, V, 3, 3]`` and ``[B, V, 3, 4]`` cameras (:func:`project_rays`).
        training: forwarded to the unit.
        im_size, proj_x, samples, z_range, grid_range, rounding: as :func:`project_rays`.

    Returns:
        The unit's output on ``[B*T*V, h, w, C*S]`` rays (``h = H / proj_x``).
    """
    geometry = dict(im_size=im_size, proj_x=proj_x, samples=samples, z_range=z_range,
                    grid_range=grid_range, rounding=rounding)
    if not fast_ops_enabled():
        rays = rays_to_channels(project_rays(grid, K, extrinsic, **geometry))
        return unit(rays, training=training)
    channels = check_shape(grid, "grid", rank=6)[-1]
    if unit.pre_activation:
        grid = ops.relu(grid)
    rays = project_rays(grid, K, extrinsic, layout="samples",
                        out_dtype=None if unit.conv_dtype == "float32" else unit.conv_dtype,
                        **geometry)
    return unit(rays_to_channels(rays, layout="samples"), training=training,
                input_order=samples_major_order(channels, samples),
                activated=unit.pre_activation)


proj_slice = project_rays
"""Release name of :func:`project_rays`."""
