"""Tests for ops.project (proj_slice)."""

from __future__ import annotations

import numpy as np
import pytest
from keras import ops
from scipy import ndimage

from geometry.camera import look_at
from ops import camera
from ops.project import (
    proj_slice,
    project_rays,
    ray_depths,
    ray_voxel_indices,
    rays_to_channels,
)
from ops.unproject import unproject
from tests.ops.conftest import compiled, grad, to_numpy
from tests.ops.helpers import K224, random_cameras, sphere_grid, sphere_silhouette
from tests.ops.reference import project_rays_ref

IM = (32, 24)
ARGS = dict(im_size=IM, proj_x=4, samples=10, z_range=(1.0, 3.0))


def _inputs(rng, dtype=np.float64):
    K, E = random_cameras(rng, 1, 2, IM)
    grid = rng.uniform(0.5, 1.5, size=(1, 2, 5, 5, 5, 3))
    return [a.astype(dtype) for a in (grid, K, E)]


@pytest.mark.parametrize("rounding", ["release", "centre"])
def test_matches_loop_reference_float64(rounding, rng):
    grid, K, E = _inputs(rng)
    out = to_numpy(project_rays(grid, K, E, rounding=rounding, **ARGS))
    ref, margin = project_rays_ref(grid, K, E, rounding=rounding, **ARGS)
    assert out.shape == (1, 2, 2, 8, 6, 3, 10) and out.dtype == np.float64
    # Skip samples a round-off could move to the neighbouring cell (none expected in float64).
    safe = np.broadcast_to((margin > 1e-9)[:, None, :, :, :, None, :], out.shape)
    assert safe.mean() > 0.99
    np.testing.assert_allclose(out[safe], ref[safe], atol=1e-12)
    # Both paths are exercised: samples outside the grid read 0, inside read > 0.5.
    assert (ref == 0).any() and (ref > 0).any()


def test_float32_and_compiled_match_reference(rng):
    grid, K, E = _inputs(rng, np.float32)
    ref, margin = project_rays_ref(grid.astype(np.float64), K.astype(np.float64), E, **ARGS)
    safe = np.broadcast_to((margin > 1e-3)[:, None, :, :, :, None, :], ref.shape)
    out = to_numpy(project_rays(grid, K, E, **ARGS))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[safe], ref[safe], atol=1e-6)
    fn = compiled(lambda g, k, e: project_rays(g, k, e, **ARGS))
    np.testing.assert_allclose(to_numpy(fn(grid, K, E))[safe], ref[safe], atol=1e-6)


def _axis_camera(cx=114.0, nvox=4):
    """Camera on +x looking down -x whose 56x56 pixel (28, 28) ray is the world x axis."""
    K = np.array([[420.0, 0.0, cx], [0.0, 420.0, cx], [0.0, 0.0, 1.0]])[None, None]
    E = look_at(0.0, 0.0, 2.0)[None, None, :3]
    xs = np.arange(nvox, dtype=np.float64)
    grid = np.broadcast_to(xs[:, None, None, None] + 1.0, (nvox, nvox, nvox, 1))
    return grid[None, None], K, E  # value = x index + 1, so 0 means "outside"


def test_release_rounding_reads_nearest_corner_cell_kept_for_checkpoint_compat():
    # The release indexes round((X - vmin) / vsize): a point 70% of the way through cell 2
    # (g = 2.7) reads cell 3, and one in the upper half of the last cell (g = 3.7) reads
    # outside the grid (0). floor, the containing cell, gives 2 and 3.
    grid, K, E = _axis_camera()
    for g, release, centre in [(2.7, 3 + 1.0, 2 + 1.0), (3.7, 0.0, 3 + 1.0), (0.3, 1.0, 1.0)]:
        x = g / 4.0 - 0.5
        z = (2.0 - x,) * 2
        kw = dict(samples=1, z_range=z)
        rel = to_numpy(project_rays(grid, K, E, **kw))[0, 0, 0, 28, 28, 0, 0]
        cen = to_numpy(project_rays(grid, K, E, rounding="centre", **kw))[0, 0, 0, 28, 28, 0, 0]
        assert (rel, cen) == (release, centre), g


def test_release_rounding_rounds_half_to_even_like_tf_round():
    grid, K, E = _axis_camera()
    for g, expected in [(2.5, 2 + 1.0), (1.5, 2 + 1.0)]:
        z = (2.0 - (g / 4.0 - 0.5),) * 2
        out = to_numpy(project_rays(grid, K, E, samples=1, z_range=z))[0, 0, 0, 28, 28, 0, 0]
        assert out == expected


def test_samples_outside_grid_are_zero_on_every_backend():
    # Ray samples from depth 0.1 to 5 leave the cube on both sides; reads there are exactly 0
    # (the release read out of bounds here: zeros on GPU, a crash on CPU).
    grid, K, E = _axis_camera()
    out = to_numpy(project_rays(grid, K, E, samples=50, z_range=(0.1, 5.0)))[0, 0, 0]
    zs = ray_depths(50, (0.1, 5.0))
    g = (2.0 - zs + 0.5) * 4  # x grid coordinate along the optical-axis ray
    outside = (np.round(g) < 0) | (np.round(g) > 3)
    assert outside.sum() > 30
    np.testing.assert_array_equal(out[28, 28, 0][outside], 0.0)
    assert np.all(out[28, 28, 0][~outside] > 0)
    assert np.all(out[0, 0] == 0)  # corner pixel's ray misses the cube entirely


def test_pixel_convention_pinned_rays_through_4j_plus_2():
    # 56x56 pixel (row i, col j) shoots through full-size pixel coords (4j + 2, 4i + 2).
    # Pixel (20, 10) at depth 2.01 on the az=0 camera: world x = -0.01, y = -70 * 2.01 / 420,
    # z = +30 * 2.01 / 420, in a 64^3 grid -> containing cell (31, 10, 41).
    E = look_at(0.0, 0.0, 2.0)[None, None, :3]
    lin, valid = ray_voxel_indices(
        K224[None, None], E, 64, samples=1, z_range=(2.01, 2.01), rounding="centre"
    )
    assert bool(to_numpy(valid)[0, 0, 20, 10, 0])
    assert int(to_numpy(lin)[0, 0, 20, 10, 0]) == (31 * 64 + 10) * 64 + 41
    np.testing.assert_allclose(ray_depths(3, (1.0, 3.0)), [1.0, 2.0, 3.0])


def _first_hit_depth(rays, zs):
    occ = rays > 0.5
    return np.where(occ.any(-1), zs[np.argmax(occ, axis=-1)], np.inf)


def test_sphere_depth_within_one_voxel_of_analytic():
    nvox, radius, samples = 32, 0.35, 201
    grid = sphere_grid(nvox, radius)[None, None, ..., None]
    E = look_at(40.0, 25.0, 2.0)[:3]
    rays = project_rays(grid, K224[None, None], E[None, None], samples=samples, rounding="centre")
    zs = ray_depths(samples)
    depth = _first_hit_depth(to_numpy(rays)[0, 0, 0, :, :, 0], zs)
    # Analytic camera-frame depth of the first ray-sphere intersection.
    v, u = np.meshgrid(np.arange(56) * 4 + 2.0, np.arange(56) * 4 + 2.0, indexing="ij")
    d = np.linalg.inv(K224) @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
    c = E[:, 3]  # sphere centre (origin) in the camera frame
    dn = d / np.linalg.norm(d, axis=0)
    b = dn.T @ c
    miss2 = c @ c - b**2
    hit = miss2 < (0.5 * radius) ** 2  # rays well inside the silhouette
    t = b - np.sqrt(np.maximum(radius**2 - miss2, 0))
    z_true = (t * dn[2]).reshape(56, 56)
    hit = hit.reshape(56, 56)
    assert hit.sum() > 50
    err = np.abs(depth[hit] - z_true[hit])
    assert err.max() <= 1.0 / nvox + (zs[1] - zs[0]), err.max()
    assert np.isinf(depth[0, 0])  # a corner ray misses


def test_unproject_then_project_is_consistent():
    # Unproject a sphere's silhouette and the voxel depths, project back into the same view:
    # rays well inside the silhouette read 1 wherever they are in the grid, rays well outside
    # read 0, and the depth channel returns the sample's own depth within half a voxel diagonal.
    nvox, radius = 32, 0.3
    E = look_at(120.0, 30.0, 2.0)[:3]
    K112 = to_numpy(camera.scale_intrinsics(K224, (224, 224), (112, 112)))
    sil = sphere_silhouette(K112, E, (112, 112), radius).astype(np.float64)
    grid = unproject(sil[None, ..., None], K224[None, None], E[None, None], nvox)
    rays = to_numpy(project_rays(grid, K224[None, None], E[None, None], rounding="centre"))
    rays = rays[0, 0, 0]  # [56, 56, 2, 64]
    K56 = np.diag([0.25, 0.25, 1.0]) @ K224  # pixel-corner scaling: centre j + .5 <-> 4j + 2
    sil56 = sphere_silhouette(K56, E, (56, 56), radius)
    inner = ndimage.binary_erosion(sil56, iterations=3)
    outer = ~ndimage.binary_dilation(sil56, iterations=3)
    inside_grid = rays[:, :, 1] > 0  # depth channel is > 0 wherever a sample is in the grid
    assert inner.sum() > 100 and outer.sum() > 100
    feat = rays[:, :, 0]
    assert np.all(feat[inner][inside_grid[inner]] > 0.99)
    assert np.all(feat[outer][inside_grid[outer]] < 0.01)
    zs = ray_depths(64)
    dz = np.abs(rays[:, :, 1] - zs)[inside_grid]
    assert dz.max() <= np.sqrt(3) / 2 / nvox + 1e-6


def test_rays_to_channels_orders_channel_major():
    x = np.arange(2 * 1 * 1 * 2 * 2 * 3 * 4, dtype=np.float32).reshape(2, 1, 1, 2, 2, 3, 4)
    y = to_numpy(rays_to_channels(x))
    assert y.shape == (2, 2, 2, 12)
    np.testing.assert_array_equal(y[1, 0, 1, 2 * 4 + 3], x[1, 0, 0, 0, 1, 2, 3])


def test_gradient_is_the_adjoint_of_the_projection(rng):
    # project_rays is linear in the grid: <P g, r> = <g, P^T r>, with P^T r by autodiff.
    grid, K, E = _inputs(rng)
    up = rng.normal(size=(1, 2, 2, 8, 6, 3, 10))

    def loss(g):
        return ops.sum(project_rays(g, K, E, **ARGS) * up)

    g_grad = grad(loss, [grid], 0)
    assert float(np.sum(g_grad * grid)) == pytest.approx(float(to_numpy(loss(grid))), rel=1e-10)
    idx = tuple(np.argwhere(np.abs(g_grad) > 0)[0])
    d = np.zeros_like(grid)
    d[idx] = 1e-3
    fd = (to_numpy(loss(grid + d)) - to_numpy(loss(grid - d))) / 2e-3
    assert fd == pytest.approx(g_grad[idx], rel=1e-8)


def test_release_name_proj_slice_is_exported_and_keeps_the_release_rounding(rng):
    """Users of the release look for ``proj_slice``: it must be public and, with its default
    arguments, read the grid as the release did (``rounding="release"``), checked against
    the numpy reference rather than against :func:`project_rays` itself."""
    import ops.project as module

    assert "proj_slice" in module.__all__
    grid, K, E = _inputs(rng)
    out = to_numpy(proj_slice(grid, K, E, **ARGS))
    ref, margin = project_rays_ref(grid, K, E, rounding="release", **ARGS)
    safe = np.broadcast_to((margin > 1e-9)[:, None, :, :, :, None, :], out.shape)
    assert out.shape == ref.shape and safe.mean() > 0.99
    np.testing.assert_allclose(out[safe], ref[safe], atol=1e-12)


@pytest.mark.parametrize(
    "grid_shape, k_shape, e_shape, kwargs, name",
    [
        ((1, 2, 4, 4, 4), (1, 2, 3, 3), (1, 2, 3, 4), {}, "grid"),
        ((1, 2, 4, 4, 5, 1), (1, 2, 3, 3), (1, 2, 3, 4), {}, "grid"),
        ((1, 2, 4, 4, 4, 1), (1, 2, 3, 4), (1, 2, 3, 4), {}, "K"),
        ((1, 2, 4, 4, 4, 1), (1, 2, 3, 3), (1, 3, 3, 4), {}, "extrinsic"),
        ((2, 2, 4, 4, 4, 1), (1, 2, 3, 3), (1, 2, 3, 4), {}, "grid"),
        ((1, 2, 4, 4, 4, 1), (1, 2, 3, 3), (1, 2, 3, 4), {"proj_x": 5}, "proj_x"),
        ((1, 2, 4, 4, 4, 1), (1, 2, 3, 3), (1, 2, 3, 4), {"rounding": "nearest"}, "rounding"),
    ],
)
def test_argument_errors_name_the_argument(grid_shape, k_shape, e_shape, kwargs, name):
    K = np.broadcast_to(np.eye(3, k_shape[-1]), k_shape)
    with pytest.raises(ValueError, match=name):
        project_rays(np.zeros(grid_shape), K, np.zeros(e_shape), **kwargs)


def test_samples_layout_is_the_release_layout_transposed_and_its_channel_order(rng):
    """layout="samples" is [..., S, C], the release's [..., C, S] transposed; folded into
    channels, samples_major_order maps it onto rays_to_channels' release order."""
    from ops.project import samples_major_order

    grid, K, E = _inputs(rng, np.float32)
    rel = to_numpy(project_rays(grid, K, E, **ARGS))
    sam = to_numpy(project_rays(grid, K, E, layout="samples", **ARGS))
    assert sam.shape == (1, 2, 2, 8, 6, 10, 3)
    np.testing.assert_array_equal(sam, np.swapaxes(rel, -1, -2))
    folded_rel = to_numpy(rays_to_channels(rel))
    folded_sam = sam.reshape(*sam.shape[:5], -1).reshape(-1, 8, 6, 30)
    order = samples_major_order(3, 10)
    assert sorted(order.tolist()) == list(range(30))
    np.testing.assert_array_equal(folded_sam, folded_rel[..., order])
    # an independent check of one entry: sample s=7 of channel c=2 sits at 7 * 3 + 2
    assert order[7 * 3 + 2] == 2 * 10 + 7
    with pytest.raises(ValueError, match="layout"):
        project_rays(grid, K, E, layout="CS", **ARGS)


def test_out_dtype_casts_the_samples_and_keeps_the_grid_gradient_float32(rng):
    grid, K, E = _inputs(rng, np.float32)
    ref = to_numpy(project_rays(grid, K, E, **ARGS))
    low = project_rays(grid, K, E, out_dtype="bfloat16", **ARGS)
    import keras

    assert keras.backend.standardize_dtype(low.dtype) == "bfloat16"
    np.testing.assert_allclose(to_numpy(ops.cast(low, "float32")), ref, rtol=1e-2)
    w = rng.normal(size=ref.shape).astype(np.float32)

    def loss(g, cast):
        out = project_rays(g, K, E, out_dtype="bfloat16" if cast else None, **ARGS)
        return ops.sum(ops.cast(out, "float32") * w)

    g32, g16 = grad(lambda g: loss(g, False), [grid], 0), grad(lambda g: loss(g, True), [grid], 0)
    assert g16.dtype == np.float32
    np.testing.assert_allclose(g16, g32, rtol=2e-2, atol=2e-2)
