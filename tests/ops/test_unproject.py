"""Tests for ops.unproject (proj_splat)."""

from __future__ import annotations

import numpy as np
import pytest
from keras import ops

from geometry import grid
from geometry.camera import look_at
from ops import camera
from ops.unproject import proj_splat, splat, unproject, unproject_features, voxel_depth
from tests.ops.conftest import compiled, grad, to_numpy
from tests.ops.helpers import K224, random_cameras
from tests.ops.reference import splat_ref, unproject_feats_grad_ref, unproject_ref

IM = (40, 42)  # non-square image and unequal scale factors catch swapped axes


def _inputs(rng, batch=2, views=2, fmap=(10, 14), channels=3):
    K, E = random_cameras(rng, batch, views, IM)
    feats = rng.uniform(size=(batch * views,) + fmap + (channels,))
    return feats, K, E


def _projected_uv(K, E, nvox):
    pts = grid.voxel_centres(nvox).reshape(1, 1, -1, 3).astype(np.float64)
    uv, _ = camera.project(
        camera.world_to_camera(np.broadcast_to(pts, E.shape[:2] + pts.shape[2:]), E), K
    )
    return to_numpy(uv)


def test_matches_loop_reference_float64(rng):
    feats, K, E = _inputs(rng)
    out = to_numpy(unproject(feats, K, E, 6, im_size=IM))
    ref = unproject_ref(feats, K, E, 6, im_size=IM)
    assert out.shape == (2, 2, 6, 6, 6, 4) and out.dtype == np.float64
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=0)
    # The random cameras put some voxel centres outside the image (clamped path).
    uv = _projected_uv(K, E, 6)
    assert (uv[..., 0] < 0).any() or (uv[..., 0] > IM[1] - 1).any()


def test_float32_and_compiled_match_reference(rng):
    feats, K, E = _inputs(rng)
    ref = unproject_ref(feats, K, E, 5, im_size=IM)
    f32 = [a.astype(np.float32) for a in (feats, K, E)]
    out = to_numpy(unproject(*f32, 5, im_size=IM))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, atol=2e-4, rtol=0)
    fn = compiled(lambda f, k, e: unproject(f, k, e, 5, im_size=IM))
    np.testing.assert_allclose(to_numpy(fn(*f32)), ref, atol=2e-4, rtol=0)


def test_sampling_convention_pinned_integer_is_feature_pixel():
    # Feature value = its column (channel 0) and row (channel 1); N = 3 puts a voxel at the
    # origin, which projects to u = v = 112 of the 224 image, i.e. feature pixel 56 of 112.
    # The release reads coordinate 56 directly (no half-pixel shift, which would give 55.5).
    rows, cols = np.meshgrid(np.arange(112.0), np.arange(112.0), indexing="ij")
    feats = np.stack([cols, rows], axis=-1)[None]
    E = look_at(0.0, 0.0, 2.0)[None, None, :3]
    out = to_numpy(unproject(feats, K224[None, None], E, 3))
    np.testing.assert_allclose(out[0, 0, 1, 1, 1], [56.0, 56.0, 2.0], atol=1e-9)
    # Voxel (x, y, z) = (0, 1/3, 0): camera x = 1/3 -> u = 420 / 6 + 112 = 182 -> 91.
    np.testing.assert_allclose(out[0, 0, 1, 2, 1], [91.0, 56.0, 2.0], atol=1e-9)
    # Voxel (0, 0, 1/3) is above the origin: v = 112 - 70 = 42 -> 21.
    np.testing.assert_allclose(out[0, 0, 1, 1, 2], [56.0, 21.0, 2.0], atol=1e-9)
    # Voxel (1/3, 0, 0) is nearer the camera (on +x): depth 2 - 1/3.
    np.testing.assert_allclose(out[0, 0, 2, 1, 1], [56.0, 56.0, 5.0 / 3.0], atol=1e-9)


def test_outside_image_is_clamped_not_zeroed_like_release():
    # A very long lens sees only the middle of the cube; the rest projects off the image
    # and, as in the release, reads the border feature instead of zero.
    feats = np.zeros((1, 8, 8, 1))
    feats[0, :, 0] = 5.0  # left column
    feats[0, :, -1] = 7.0  # right column
    K = np.array([[4000.0, 0, 112], [0, 4000.0, 112], [0, 0, 1]])[None, None]
    E = look_at(0.0, 0.0, 2.0)[None, None, :3]
    out = to_numpy(unproject(feats, K, E, 4))[0, 0, ..., 0]
    # World +y is image right: y index 0 -> far left (5), y index 3 -> far right (7).
    np.testing.assert_allclose(out[:, 0, :], 5.0)
    np.testing.assert_allclose(out[:, 3, :], 7.0)


def test_one_lit_pixel_lights_only_voxels_on_its_ray(rng):
    nvox, fmap = 16, (28, 28)
    E = look_at(35.0, 25.0, 2.0)[None, None, :3]
    K = K224[None, None]
    feats = np.zeros((1,) + fmap + (1,))
    row, col = 13, 15
    feats[0, row, col, 0] = 1.0
    out = to_numpy(unproject(feats, K, E, nvox))[0, 0, ..., 0]
    lit = np.argwhere(out > 0)
    assert len(lit) >= nvox // 2  # the ray crosses the cube
    # Every lit voxel projects within the bilinear footprint (< 1 feature pixel) of the pixel.
    pts = grid.voxel_centres(nvox)[tuple(lit.T)].astype(np.float64)
    uv, _ = camera.project(camera.world_to_camera(pts, E[0, 0]), K224)
    uv = to_numpy(uv) * (fmap[1] / 224.0)
    assert np.all(np.abs(uv[:, 0] - col) < 1) and np.all(np.abs(uv[:, 1] - row) < 1)
    # And every voxel whose centre projects within a third of a pixel of it is lit.
    allpts = grid.voxel_centres(nvox).reshape(-1, 3).astype(np.float64)
    uv_all, _ = camera.project(camera.world_to_camera(allpts, E[0, 0]), K224)
    uv_all = to_numpy(uv_all) * (fmap[1] / 224.0)
    near = (np.abs(uv_all[:, 0] - col) < 0.33) & (np.abs(uv_all[:, 1] - row) < 0.33)
    assert near.any()
    assert np.all(out.reshape(-1)[near] > 0.4)


def test_grad_wrt_feats_matches_reference_scatter(rng):
    feats, K, E = _inputs(rng, batch=1, views=2)
    upstream = rng.normal(size=(1, 2, 5, 5, 5, 3))

    def loss(f):
        return ops.sum(unproject(f, K, E, 5, im_size=IM)[..., :3] * upstream)

    g = grad(loss, [feats], 0)
    ref = unproject_feats_grad_ref(upstream, feats.shape, K, E, 5, im_size=IM)
    np.testing.assert_allclose(g, ref, atol=1e-9)
    # Finite differences on a few entries (the op is linear in feats).
    for idx in [(0, 3, 4, 1), (1, 5, 7, 0), (1, 0, 0, 2)]:
        d = np.zeros_like(feats)
        d[idx] = 1e-6
        fd = (to_numpy(loss(feats + d)) - to_numpy(loss(feats - d))) / 2e-6
        assert fd == pytest.approx(g[idx], abs=1e-6)


@pytest.mark.parametrize("batch,views", [(3, 2), (2, 4), (1, 3)])
def test_views_first_halves_match_reference_with_feature_gradient(batch, views, rng):
    """unproject_features (views first) and voxel_depth are the reference's grids with the
    [B, V] axes swapped, and the features' gradient (the splat, whose groups are then strided
    runs of maps) is the reference scatter of the swapped upstream gradient."""
    feats, K, E = _inputs(rng, batch=batch, views=views)
    ref = unproject_ref(feats, K, E, 5, im_size=IM)  # [B, V, N, N, N, C + 1]
    swap = lambda a: np.swapaxes(a, 0, 1).reshape((-1, *a.shape[2:]))  # noqa: E731
    got = to_numpy(unproject_features(feats, K, E, 5, IM, views_first=True))
    np.testing.assert_allclose(got, swap(ref[..., :3]), atol=1e-5)
    np.testing.assert_allclose(to_numpy(voxel_depth(K, E, 5, views_first=True, dtype="float64")),
                               swap(ref[..., 3:]), atol=1e-5)
    upstream = rng.normal(size=(batch, views, 5, 5, 5, 3))

    def loss(f):
        return ops.sum(unproject_features(f, K, E, 5, IM, views_first=True) * swap(upstream))

    ref_grad = unproject_feats_grad_ref(upstream, feats.shape, K, E, 5, im_size=IM)
    np.testing.assert_allclose(grad(loss, [feats], 0), ref_grad, atol=1e-9)


@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("views", [None, 1, 2, 3, 6])
def test_splat_matches_numpy_scatter_in_either_map_order(views, loop, rng):
    """The splat (one sum per map, unrolled or in a loop, each onto its own table slice) is
    numpy's scatter-add of the four corner-weighted gradients, whether the maps are listed in
    table order or views first (map v * B + b then reads table map b * V + v)."""
    n, h, w, c, m = 6, 4, 5, 2, 7
    i00 = rng.integers(0, (h - 1) * w - 1, size=(n, m)) + np.arange(n)[:, None] * h * w
    fu, fv = rng.random((n, m, 1)), rng.random((n, m, 1))
    g = rng.normal(size=(n, m, c))
    want = splat_ref(g, i00, fu, fv, w, n * h * w)
    args = (g, i00, fu, fv)
    if views:  # the same samples listed views first
        perm = np.arange(n).reshape(n // views, views).T.reshape(-1)
        args = tuple(a[perm] for a in args)
    got = to_numpy(splat(args[0], args[1].astype("int32"), *args[2:], w, n * h * w,
                         views=views, loop=loop))
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("argnum", [1, 2])
def test_grad_wrt_cameras_matches_finite_differences(argnum, rng):
    # Sampling coordinates depend on K and the extrinsic; their gradient flows through the
    # bilinear weights (and the depth channel). Central differences in float64.
    feats, K, E = _inputs(rng, batch=1, views=1, fmap=(12, 12), channels=2)
    K[..., :2, 2] = [21.0, 20.0]  # keep the cube inside the image (no clamp kinks)
    K[..., 0, 0] = K[..., 1, 1] = 30.0
    upstream = rng.normal(size=(1, 1, 4, 4, 4, 3))
    args = [feats, K, E]

    def loss(f, k, e):
        return ops.sum(unproject(f, k, e, 4, im_size=IM) * upstream)

    g = grad(loss, args, argnum)
    direction = rng.normal(size=args[argnum].shape)
    if argnum == 1:
        direction[..., 2, :] = 0.0
        direction[..., 1, 0] = direction[..., 0, 1] = 0.0
    eps = 1e-6
    plus = [a.copy() for a in args]
    minus = [a.copy() for a in args]
    plus[argnum] = args[argnum] + eps * direction
    minus[argnum] = args[argnum] - eps * direction
    fd = (to_numpy(loss(*plus)) - to_numpy(loss(*minus))) / (2 * eps)
    assert float(np.sum(g * direction)) == pytest.approx(float(fd), rel=1e-5, abs=1e-6)


def test_release_name_proj_splat_is_exported_and_computes_the_unprojection(rng):
    """Users of the release look for ``proj_splat``: it must be public and return the
    release's output (features and depth channel, ``[B, V, N, N, N, C + 1]``), checked
    against the numpy reference rather than against :func:`unproject` itself."""
    import ops.unproject as module

    assert "proj_splat" in module.__all__
    feats, K, E = _inputs(rng)
    out = to_numpy(proj_splat(feats, K, E, 4, im_size=IM))
    assert out.shape == (2, 2, 4, 4, 4, 4)
    np.testing.assert_allclose(out, unproject_ref(feats, K, E, 4, im_size=IM), atol=1e-5,
                               rtol=0)


@pytest.mark.parametrize(
    "args, name",
    [
        ((np.zeros((4, 8, 8)), np.zeros((2, 2, 3, 3)), np.zeros((2, 2, 3, 4))), "feats"),
        ((np.zeros((3, 8, 8, 2)), np.zeros((2, 2, 3, 3)), np.zeros((2, 2, 3, 4))), "feats"),
        ((np.zeros((4, 8, 8, 2)), np.zeros((2, 2, 3, 4)), np.zeros((2, 2, 3, 4))), "K"),
        ((np.zeros((4, 8, 8, 2)), np.zeros((2, 2, 3, 3)), np.zeros((2, 2, 4, 4))), "extrinsic"),
        ((np.zeros((4, 8, 8, 2)), np.zeros((2, 2, 3, 3)), np.zeros((2, 1, 3, 4))), "extrinsic"),
    ],
)
def test_shape_errors_name_the_argument(args, name):
    with pytest.raises(ValueError, match=name):
        unproject(*args, 4)
