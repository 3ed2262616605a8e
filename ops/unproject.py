"""Unprojection of 2D feature maps into a voxel grid (the release's ``proj_splat``).

For each view and each voxel centre ``X`` of an ``N^3`` grid over ``[vmin, vmax]^3``
(conventions in :mod:`geometry`):

1. ``p = K [R | t] [X; 1]``; ``u = p_0 / p_2``, ``v = p_1 / p_2`` in pixels of the
   ``im_size`` image; ``p_2`` is the voxel centre's camera-frame depth (pinhole ``K``).
2. Feature-map coordinates ``u' = u * w / W``, ``v' = v * h / H`` (no half-pixel shift).
3. Clamp ``u'`` to ``[0, w - 1]`` and ``v'`` to ``[0, h - 1]``: voxels projecting outside the
   image take the border feature (clamped, not zeroed), as in the release.
4. Bilinear interpolation at ``(v', u')`` with integer coordinates at feature-pixel centres.
5. Append the depth ``p_2`` as one more channel.

Implementation: the four bilinear corners are read with four flat row gathers from the
``[B*V*h*w, C]`` feature table using precomputed linear indices (no per-corner index stacks,
no ``[.., 4, C]`` intermediates); the floor is clamped to ``w - 2`` so the ``+1`` corner never
leaves the image (same value as the release, whose out-of-range corner had weight 0).
It is differentiable with respect to ``feats`` and, through the bilinear weights, to the
projected coordinates (hence ``K`` and ``extrinsic``).

:func:`unproject` is the release's op (features and depth in one ``[B, V, ...]`` tensor).
The LSM trunk calls its two halves instead: :func:`unproject_features` (the sampled
features, optionally views first and already in the recurrence's compute dtype, so that no
transpose, channel split or cast pass over the grids is needed, forward or backward) and
:func:`voxel_depth` (the depth channel, which nothing trains).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from geometry.grid import GRID_RANGE, cell_centres
from ops.dispatch import fast_path, native
from ops.tensors import check_shape, float_dtype

__all__ = [
    "bilinear_sample",
    "proj_splat",
    "sample_coords",
    "splat",
    "unproject",
    "unproject_features",
    "voxel_depth",
]


def _check_inputs(feats, K, extrinsic, nvox: int, im_size: Sequence[int]) -> tuple[int, ...]:
    """Validate :func:`unproject_features`'s arguments; returns ``(views, h, w, C)``."""
    nviews, h, w, c = check_shape(feats, "feats", rank=4)
    k_shape = check_shape(K, "K", rank=4, tail=(3, 3))
    e_shape = check_shape(extrinsic, "extrinsic", rank=4, tail=(3, 4))
    if None in (h, w, c):
        raise ValueError(f"`feats` needs static h, w, C, got {ops.shape(feats)}.")
    if h < 2 or w < 2:
        raise ValueError(f"`feats` maps must be at least 2x2, got {ops.shape(feats)}.")
    if k_shape[:2] != e_shape[:2]:
        raise ValueError(f"`K` {k_shape} and `extrinsic` {e_shape} disagree on [B, V].")
    batch, views = k_shape[:2]
    if views is None:
        raise ValueError(f"`K` needs a static number of views V, got {k_shape}.")
    if None not in (batch, views, nviews) and nviews != batch * views:
        raise ValueError(f"`feats` has {nviews} maps but `K` has B*V = {batch}*{views}.")
    if nvox < 1:
        raise ValueError(f"`nvox` must be >= 1, got {nvox}.")
    if len(im_size) != 2 or min(im_size) <= 0:
        raise ValueError(f"`im_size` must be (H, W) > 0, got {im_size}.")
    return views, h, w, c


def _feature_grad(g, feats, K, extrinsic, nvox: int, im_size: Sequence[int],
                  grid_range: Sequence[float], views_first: bool, dtype: str | None):
    """Gradient of :func:`unproject_features` with respect to ``feats``: :func:`splat` of
    ``g`` at the forward pass's sample positions.

    Args:
        g: ``[B*V, N, N, N, C]`` gradient of the output (views first if ``views_first``), in
            the output's dtype; the other arguments are :func:`unproject_features`'s.

    Returns:
        ``[B*V, h, w, C]`` in the dtype of ``feats``, the gradient of ``feats``.
    """
    n, h, w, c = (int(d) for d in feats.shape)
    ftype = float_dtype(feats)
    i00, fu, fv, _ = sample_coords(K, extrinsic, nvox, (h, w), im_size, grid_range, ftype,
                                   views_first)
    views = K.shape[1] if views_first else None
    d_table = splat(ops.cast(g, ftype), i00, fu, fv, w, n * h * w, views=views)
    return ops.reshape(d_table, (n, h, w, c))


@fast_path(tensors=3, grads={0: _feature_grad})
def unproject_features(
    feats,
    K,
    extrinsic,
    nvox: int,
    im_size: Sequence[int] = (224, 224),
    grid_range: Sequence[float] = GRID_RANGE,
    views_first: bool = False,
    dtype: str | None = None,
):
    """The sampled features of :func:`unproject` (steps 1-4 of the module docstring), without
    the depth channel, in the map order and dtype the caller asks for.

    Args:
        feats, K, extrinsic, nvox, im_size, grid_range: as :func:`unproject`.
        views_first: return the grids in views-first order (map ``v * B + b``), as a
            recurrence over views reads them; otherwise in ``feats``' order (``b * V + v``).
            Only the sample positions are permuted: no copy of the grids is made.
        dtype: dtype of the result (e.g. the ``bfloat16`` of the 3D convolutions that read
            it; the sampling itself is done in the dtype of ``feats``), or ``None`` for that
            of ``feats``. The gradient returned for ``feats`` is in the dtype of ``feats``.

    Returns:
        ``[B*V, N, N, N, C]``, indexed ``[map, x, y, z]`` (world axes).

    Raises:
        ValueError: if a shape is wrong or inconsistent (message names the argument).
    """
    _, h, w, c = _check_inputs(feats, K, extrinsic, nvox, im_size)
    ftype = float_dtype(feats)
    feats = ops.cast(feats, ftype)
    i00, fu, fv, _ = sample_coords(K, extrinsic, nvox, (h, w), im_size, grid_range, ftype,
                                   views_first)
    out = bilinear_sample(ops.reshape(feats, (-1, c)), i00, fu, fv, w,
                          views=K.shape[1] if views_first else None)
    return out if dtype is None else ops.cast(out, dtype)


def voxel_depth(K, extrinsic, nvox: int, grid_range: Sequence[float] = GRID_RANGE,
                views_first: bool = False, dtype: str = "float32"):
    """Camera-frame depth of every voxel centre in every view (the last channel of
    :func:`unproject`): a function of the cameras alone.

    Args:
        K: ``[B, V, 3, 3]``; extrinsic: ``[B, V, 3, 4]``; nvox: N; grid_range: as
            :func:`unproject`; views_first: maps in views-first order (``v * B + b``).
        dtype: dtype of the result.

    Returns:
        ``[B*V, N, N, N, 1]`` (scene units).
    """
    p = _project_centres(K, extrinsic, nvox, grid_range, dtype, views_first)
    return p[:, 2, ..., None]


def _unproject_grad(g, feats, K, extrinsic, nvox: int, im_size: Sequence[int],
                    grid_range: Sequence[float]):
    """Gradient of :func:`unproject` with respect to ``feats``: the feature channels of ``g``
    ``[B, V, N, N, N, C + 1]`` splatted (the depth channel does not depend on ``feats``)."""
    c = int(feats.shape[-1])
    g = ops.reshape(g[..., :c], (-1, nvox, nvox, nvox, c))
    return _feature_grad(g, feats, K, extrinsic, nvox, im_size, grid_range, False, None)


@fast_path(tensors=3, grads={0: _unproject_grad})
def unproject(
    feats,
    K,
    extrinsic,
    nvox: int,
    im_size: Sequence[int] = (224, 224),
    grid_range: Sequence[float] = GRID_RANGE,
):
    """Unproject per-view feature maps into per-view voxel feature grids.

    Args:
        feats: ``[B*V, h, w, C]`` feature maps, views of a model contiguous (view-major
            within each batch item, as ``reshape`` of ``[B, V, h, w, C]``); ``h, w >= 2``.
        K: ``[B, V, 3, 3]`` intrinsics in pixels of the ``im_size`` image.
        extrinsic: ``[B, V, 3, 4]`` world -> camera ``[R | t]`` (scene units).
        nvox: grid cells per axis ``N``.
        im_size: ``(H, W)`` of the image ``K`` refers to (224 x 224 in the release).
        grid_range: ``(vmin, vmax)`` bounds of the cubic grid (scene units).

    Returns:
        ``[B, V, N, N, N, C + 1]`` in the dtype of ``feats``: channels ``0..C-1`` are the
        bilinearly sampled features (:func:`unproject_features`), channel ``C`` the voxel
        centre's camera-frame depth (:func:`voxel_depth`, scene units). Indexed
        ``[b, v, x, y, z]`` = world axes.

    Raises:
        ValueError: if a shape is wrong or inconsistent (message names the argument).
    """
    views, _, _, c = _check_inputs(feats, K, extrinsic, nvox, im_size)
    # one compiled function with the concatenation (no copy of the grids), and a gradient that
    # reads the feature channels of the output's gradient in place (``_unproject_grad``)
    out = unproject_features.portable(feats, K, extrinsic, nvox, im_size, grid_range)
    depth = voxel_depth(K, extrinsic, nvox, grid_range, dtype=float_dtype(feats))
    out = ops.concatenate([out, depth], axis=-1)
    return ops.reshape(out, (-1, views, nvox, nvox, nvox, c + 1))


def _project_centres(K, extrinsic, nvox: int, grid_range: Sequence[float], dtype: str,
                     views_first: bool = False):
    """``K [R | t] [X; 1]`` for every voxel centre X: ``[B*V, 3, N, N, N]`` (views first if
    ``views_first``), from three separable 1D terms instead of a ``[4, N^3]`` point matrix."""
    centres = ops.cast(cell_centres(nvox, grid_range), dtype)  # [N]
    proj = ops.matmul(ops.cast(K, dtype), ops.cast(extrinsic, dtype))
    if views_first:
        proj = ops.transpose(proj, (1, 0, 2, 3))
    proj = ops.reshape(proj, (-1, 3, 4))
    px = proj[:, :, 0, None] * centres
    py = proj[:, :, 1, None] * centres
    pz = proj[:, :, 2, None] * centres
    return (
        px[:, :, :, None, None]
        + py[:, :, None, :, None]
        + pz[:, :, None, None, :]
        + proj[:, :, 3, None, None, None]
    )


def sample_coords(K, extrinsic, nvox: int, feat_size: Sequence[int], im_size: Sequence[int],
                  grid_range: Sequence[float], dtype: str = "float32",
                  views_first: bool = False):
    """Where :func:`unproject` reads each voxel centre of each view (steps 1-4 of the module
    docstring).

    Args:
        K: ``[B, V, 3, 3]``; extrinsic: ``[B, V, 3, 4]`` (as :func:`unproject`).
        nvox: grid cells per axis N; feat_size: ``(h, w)`` of the feature maps; im_size:
            ``(H, W)`` of the image K refers to; grid_range: ``(vmin, vmax)``.
        views_first: list the samples in views-first map order (``v * B + b``); the pixel
            table stays in the feature maps' order (``b * V + v``).

    Returns:
        ``(i00, fu, fv, depth)``: ``[B*V, N, N, N]`` int32 flat index of the top-left corner
        in the ``[B*V*h*w]`` pixel table, ``[B*V, N, N, N, 1]`` weights of the right-hand and
        lower corners, and ``[B*V, N, N, N]`` camera-frame depth (scene units).
    """
    h, w = feat_size
    p = _project_centres(K, extrinsic, nvox, grid_range, dtype, views_first)
    depth = p[:, 2]
    u = ops.clip(p[:, 0] / depth * (w / im_size[1]), 0.0, w - 1.0)
    v = ops.clip(p[:, 1] / depth * (h / im_size[0]), 0.0, h - 1.0)
    u0 = ops.minimum(ops.floor(u), w - 2.0)
    v0 = ops.minimum(ops.floor(v), h - 2.0)
    fu = (u - u0)[..., None]  # weight of the right-hand corner
    fv = (v - v0)[..., None]  # weight of the lower corner

    view = ops.arange(ops.shape(p)[0], dtype="int32")
    if views_first:
        view = _table_map(view, ops.shape(p)[0], K.shape[1])
    view = view[:, None, None, None]
    i00 = view * (h * w) + ops.cast(v0, "int32") * w + ops.cast(u0, "int32")
    return i00, fu, fv, depth


def _table_map(m, n, views: int):
    """The feature map that views-first sample map ``m`` reads, of ``n`` maps: map ``v * B +
    b`` reads ``b * V + v`` (``B = n // views``). ``m``, ``n``: ints or int tensors."""
    batch = n // views
    return (m % batch) * views + m // batch


def splat(g, i00, fu, fv, row: int, rows: int, views: int | None = None,
          loop: bool | None = None):
    """The adjoint of :func:`bilinear_sample` with respect to its table: each sample's
    ``g`` spread onto its four corners with the bilinear weights, summed per table row.

    Args:
        g: ``[n, ..., C]`` incoming gradient, samples of map ``i`` in ``g[i]``.
        i00, fu, fv: as :func:`bilinear_sample` (``i00`` ``[n, ...]``; each map reads only
            its own ``rows // n`` table rows).
        row: table rows per image row; rows: table rows ``T`` (static).
        views: ``None`` when map ``i`` reads table map ``i``; V when the maps are views first
            (map ``v * B + b`` reads table map ``b * V + v``, :func:`sample_coords`).
        loop: sum the maps in a loop (``ops.map``) rather than one unrolled sum per map;
            ``None`` picks the backend's native kernel if it has one, else the loop under JAX
            and the unrolled sums otherwise.

    Returns:
        ``[rows, C]``.

    With a static number of maps ``n``, one segment sum per map, over the four
    corner-weighted copies of its gradient stacked as rows, onto the map's own table slice
    (which stays in cache): 1.8x faster on a CPU than one sum over everything
    (``docs/performance.md``). Which way the per-map sums run is the backend's: under
    TensorFlow's XLA the unrolled sums took 0.08 s for the paper's size against 0.10 s for
    the loop, while JAX's XLA wrote the unrolled sums' weighted copies (512 MB) to fresh
    memory at every call: 0.20 s, against 0.07 s for the loop, whose one-map buffer is
    reused. With ``loop=None`` and a static ``n``, a backend's native kernel named ``splat``
    (:func:`ops.dispatch.native`) runs instead: JAX's does four chained scatter-adds per map
    straight into the table (no stacked copy, no transpose): 0.046 s.
    """
    n, c = i00.shape[0], g.shape[-1]
    fast = native("splat") if loop is None and n is not None else None
    if fast is not None:
        return fast(g, i00, fu, fv, row, rows, views)
    weights = ((1.0 - fu) * (1.0 - fv), fu * (1.0 - fv), (1.0 - fu) * fv, fu * fv)

    def scatter(gj, ij, wj, segments: int):
        """One segment sum of ``gj`` ``[M, C]`` weighted by ``wj`` ``[4, M, 1]`` onto the four
        corners of the top-left rows ``ij`` ``[M]``: ``[segments, C]``."""
        data = ops.concatenate([gj * wj[0], gj * wj[1], gj * wj[2], gj * wj[3]], 0)
        ids = ops.concatenate([ij, ij + 1, ij + row, ij + row + 1], 0)
        return ops.segment_sum(data, ids, num_segments=segments)

    if n is None:
        return scatter(ops.reshape(g, (-1, c)), ops.reshape(i00, (-1,)),
                       ops.reshape(ops.stack(weights, 0), (4, -1, 1)), rows)
    t = rows // n
    ids = ops.reshape(i00, (n, -1))
    w = ops.reshape(ops.stack(weights, 1), (n, 4, -1, 1))
    g = ops.reshape(g, (n, -1, c))
    # sample map m reads table map table[m]
    table = [m if views is None else _table_map(m, n, views) for m in range(n)]
    if loop is None:
        loop = keras.backend.backend() == "jax"
    if not loop:  # in table order: table slice j is filled by sample map reader[j]
        reader = [table.index(j) for j in range(n)]
        return ops.concatenate([scatter(g[m], ids[m] - j * t, w[m], t)
                                for j, m in enumerate(reader)], 0)
    ids = ids - ops.convert_to_tensor([j * t for j in table], dtype="int32")[:, None]
    out = ops.map(lambda a: scatter(a[0], a[1], a[2], t), (g, ids, w))  # sample map order
    if views is not None:  # sample map v * B + b -> table map b * V + v
        out = ops.transpose(ops.reshape(out, (views, n // views, t, c)), (1, 0, 2, 3))
    return ops.reshape(out, (rows, c))


def bilinear_sample(table, i00, fu, fv, row: int, views: int | None = None):
    """Bilinear reads from a flat feature table, with a fast gradient for the table.

    ``out[m] = table[i00[m]] (1-fu)(1-fv) + table[i00[m]+1] fu (1-fv)
    + table[i00[m]+row] (1-fu) fv + table[i00[m]+row+1] fu fv``.

    The gradient with respect to ``table`` is :func:`splat`. The gradients with respect to
    ``fu`` and ``fv`` (hence the cameras) are the usual corner differences; they cost nothing
    when no one asks for them.

    Args:
        table: ``[T, C]`` rows (feature pixels of all maps, row-major).
        i00: ``[...]`` int32 index of each sample's top-left corner, with ``i00 + row + 1 < T``.
        fu, fv: ``[..., 1]`` weights of the right-hand and lower corners, in [0, 1].
        row: the table rows per image row (``w``).
        views: as :func:`splat` (the sample maps' order against the table's).

    Returns:
        ``[..., C]``.
    """

    def corners(table):
        return [ops.take(table, i00 + off, axis=0) for off in (0, 1, row, row + 1)]

    @ops.custom_gradient
    def sample(table, fu, fv):
        a, b, d, e = corners(table)
        out = a * ((1.0 - fu) * (1.0 - fv)) + b * (fu * (1.0 - fv)) \
            + d * ((1.0 - fu) * fv) + e * (fu * fv)

        def grad(*args, upstream=None):
            g = args[0] if upstream is None else upstream
            d_table = splat(g, i00, fu, fv, row, table.shape[0], views=views)
            # the corners are gathered again rather than kept from the forward pass (four
            # [M, C] tensors); unused camera gradients then cost nothing, not even memory
            a, b, d, e = corners(table)
            d_fu = ops.sum(g * ((b - a) * (1.0 - fv) + (e - d) * fv), axis=-1, keepdims=True)
            d_fv = ops.sum(g * ((d - a) * (1.0 - fu) + (e - b) * fu), axis=-1, keepdims=True)
            return d_table, d_fu, d_fv

        return out, grad

    return sample(table, fu, fv)


proj_splat = unproject
"""Release name of :func:`unproject`."""
