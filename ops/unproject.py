"""Unprojection of 2D feature maps into a voxel grid (the release's ``proj_splat``).

For each view and each voxel centre ``X`` of an ``N^3`` grid over ``[vmin, vmax]^3``
(conventions in :mod:`ops.camera`):

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
"""

from __future__ import annotations

from collections.abc import Sequence

from keras import ops

from ops.camera import check_shape, fast_kernels, float_dtype, voxel_coords

__all__ = ["proj_splat", "unproject", "unproject_portable"]


def unproject(
    feats,
    K,
    extrinsic,
    nvox: int,
    im_size: Sequence[int] = (224, 224),
    grid_range: Sequence[float] = (-0.5, 0.5),
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
        bilinearly sampled features, channel ``C`` the voxel centre's camera-frame depth
        (scene units). Indexed ``[b, v, x, y, z]`` = world axes.

    Raises:
        ValueError: if a shape is wrong or inconsistent (message names the argument).
    """
    fast = fast_kernels()
    if fast is not None:
        return fast.unproject(feats, K, extrinsic, nvox, im_size, grid_range)
    return unproject_portable(feats, K, extrinsic, nvox, im_size, grid_range)


def unproject_portable(
    feats,
    K,
    extrinsic,
    nvox: int,
    im_size: Sequence[int] = (224, 224),
    grid_range: Sequence[float] = (-0.5, 0.5),
):
    """:func:`unproject` in portable ``keras.ops`` (the reference every fast path must match)."""
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

    dtype = float_dtype(feats)
    feats = ops.cast(feats, dtype)
    centres = ops.cast(voxel_coords(nvox, *grid_range), dtype)  # [N]

    # p[n, r, i, j, k] = P[n, r, :3] . (x_i, y_j, z_k) + P[n, r, 3], built from three
    # separable 1D terms instead of a [4, N^3] homogeneous point matrix.
    proj = ops.matmul(ops.cast(K, dtype), ops.cast(extrinsic, dtype))
    proj = ops.reshape(proj, (-1, 3, 4))
    px = proj[:, :, 0, None] * centres
    py = proj[:, :, 1, None] * centres
    pz = proj[:, :, 2, None] * centres
    p = (
        px[:, :, :, None, None]
        + py[:, :, None, :, None]
        + pz[:, :, None, None, :]
        + proj[:, :, 3, None, None, None]
    )  # [BV, 3, N, N, N]
    depth = p[:, 2]
    u = ops.clip(p[:, 0] / depth * (w / im_size[1]), 0.0, w - 1.0)
    v = ops.clip(p[:, 1] / depth * (h / im_size[0]), 0.0, h - 1.0)
    u0 = ops.minimum(ops.floor(u), w - 2.0)
    v0 = ops.minimum(ops.floor(v), h - 2.0)
    fu = (u - u0)[..., None]  # weight of the right-hand corner
    fv = (v - v0)[..., None]  # weight of the lower corner

    view = ops.arange(ops.shape(p)[0], dtype="int32")[:, None, None, None]
    i00 = view * (h * w) + ops.cast(v0, "int32") * w + ops.cast(u0, "int32")
    table = ops.reshape(feats, (-1, c))

    def corner(offset):
        return ops.take(table, i00 + offset, axis=0)

    out = (
        corner(0) * ((1.0 - fu) * (1.0 - fv))
        + corner(1) * (fu * (1.0 - fv))
        + corner(w) * ((1.0 - fu) * fv)
        + corner(w + 1) * (fu * fv)
    )
    out = ops.concatenate([out, depth[..., None]], axis=-1)
    return ops.reshape(out, (-1, views, nvox, nvox, nvox, c + 1))


proj_splat = unproject
"""Release name of :func:`unproject`."""
