"""Tests for ops.visual_hull."""

from __future__ import annotations

import numpy as np
import pytest

from geometry.camera import look_at
from ops.visual_hull import visual_hull, visual_hull_depth
from tests.ops.conftest import to_numpy
from tests.ops.helpers import K224, random_cameras, sphere_grid, sphere_silhouette
from tests.ops.reference import visual_hull_ref


def _sphere_views(views, radius=0.3, im=(224, 224), seed=0):
    rng = np.random.default_rng(seed)
    Es = np.stack(
        [
            look_at(rng.uniform(0, 360), rng.uniform(-60, 60), 2.0)[:3]
            for _ in range(views)
        ]
    )
    Ks = np.broadcast_to(K224, (views, 3, 3))
    masks = np.stack([sphere_silhouette(K224, E, im, radius) for E in Es])
    return masks[None], Ks[None], Es[None]


def test_matches_loop_reference(rng):
    K, E = random_cameras(rng, 2, 3, (24, 20))
    masks = rng.uniform(size=(2, 3, 24, 20))
    masks[..., 6:18, 5:15] = 1.0  # a blob so that something survives
    out = to_numpy(visual_hull(masks, K, E, nvox=6))
    ref, margin = visual_hull_ref(masks, K, E, 6)
    assert out.shape == (2, 3, 6, 6, 6)
    safe = np.broadcast_to((margin > 1e-4)[:, None], out.shape)
    np.testing.assert_array_equal(out[safe], ref[safe])
    assert ref[:, 0].sum() > 0 and ref[:, -1].sum() < ref[:, 0].sum()


def test_monotone_non_increasing_with_views():
    masks, K, E = _sphere_views(8)
    hulls = to_numpy(visual_hull(masks, K, E, nvox=24))[0]
    assert np.all(np.diff(hulls.reshape(8, -1), axis=0) <= 0)  # a voxel never comes back
    assert np.all(np.diff(hulls.sum(axis=(1, 2, 3))) <= 0)


def test_many_views_approximate_the_sphere():
    nvox, radius = 32, 0.3
    masks, K, E = _sphere_views(20, radius)
    hull = to_numpy(visual_hull(masks, K, E, nvox=nvox))[0, -1]
    truth = sphere_grid(nvox, radius) > 0
    inter = np.logical_and(hull > 0, truth).sum()
    union = np.logical_or(hull > 0, truth).sum()
    assert inter / union > 0.85
    # Carving never removes the object: every voxel centre inside it by more than a pixel's
    # footprint (2 / 420 scene units at the camera distance) survives.
    assert np.all(hull[sphere_grid(nvox, radius - 0.01) > 0] == 1)


def test_outside_image_and_behind_camera_are_carved():
    masks = np.ones((1, 1, 224, 224))
    K = np.array([[2000.0, 0, 112], [0, 2000.0, 112], [0, 0, 1]])[None, None]
    E = look_at(0.0, 0.0, 2.0)[None, None, :3]
    hull = to_numpy(visual_hull(masks, K, E, nvox=8))[0, 0]
    assert hull[:, 3:5, 3:5].all()  # the central column along the viewing axis is seen
    assert not hull[:, 0].any() and not hull[:, :, -1].any()  # off-image parts are carved
    E_behind = E.copy()
    E_behind[..., 2, 3] = -2.0  # the cube is now behind the camera
    assert to_numpy(visual_hull(masks, K, E_behind, nvox=8)).sum() == 0


def test_visual_hull_depth_of_sphere():
    nvox, radius = 32, 0.3
    hull = sphere_grid(nvox, radius)[None]
    E = look_at(10.0, 20.0, 2.0)[None, None, :3]
    depth = to_numpy(visual_hull_depth(hull, K224[None, None], E, proj_x=4, samples=201))
    assert depth.shape == (1, 1, 56, 56, 1)
    d = depth[0, 0, :, :, 0]
    assert d[28, 28] == pytest.approx(2.0 - radius, abs=1.0 / nvox + 0.01)
    assert d[0, 0] == 10.0  # background
    assert np.all((d == 10.0) | (np.abs(d - 2.0) < radius + 0.05))


def test_shape_errors_name_the_argument():
    with pytest.raises(ValueError, match="masks"):
        visual_hull(np.zeros((1, 2, 8)), np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3, 4)))
    with pytest.raises(ValueError, match="masks"):
        visual_hull(np.zeros((1, 3, 8, 8)), np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3, 4)))
    with pytest.raises(ValueError, match="hull"):
        visual_hull_depth(np.zeros((1, 4, 4)), np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3, 4)))
