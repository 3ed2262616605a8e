"""Tests for ops.camera: pinned conventions, round trips, batch layouts, shape errors."""

from __future__ import annotations

import numpy as np
import pytest

from geometry.camera import look_at
from ops import camera
from tests.ops.conftest import to_numpy
from tests.ops.helpers import K224, random_cameras


def test_look_at_azimuth0_pins_axes_exactly():
    # Camera on +x looking at the origin: image right = world +y, image down = world -z.
    E = look_at(0.0, 0.0, 2.0)
    expected = np.array(
        [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [-1.0, 0.0, 0.0, 2.0], [0, 0, 0, 1.0]]
    )
    np.testing.assert_allclose(E, expected, atol=1e-12)


def test_look_at_centre_and_orthonormal():
    for az, el, d in [(30.0, 20.0, 2.0), (200.0, -10.0, 1.5), (95.0, 60.0, 3.0)]:
        E = look_at(az, el, d)
        R, t = E[:3, :3], E[:3, 3]
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(R) == pytest.approx(1.0)
        a, e = np.deg2rad(az), np.deg2rad(el)
        C = d * np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
        np.testing.assert_allclose(-R.T @ t, C, atol=1e-12)
        np.testing.assert_allclose(R @ np.zeros(3) + t, [0, 0, d], atol=1e-12)  # origin ahead
        # World up projects upwards in the image (smaller row).
        assert (R @ np.array([0, 0, 1.0]))[1] < 0


def test_look_at_rejects_pole_and_bad_distance():
    with pytest.raises(ValueError, match="elevation_deg"):
        look_at(0.0, 90.0, 2.0)
    with pytest.raises(ValueError, match="distance"):
        look_at(0.0, 0.0, 0.0)


def test_projection_of_pinned_points():
    # Camera at azimuth 0: world +y is image right, world +z is image up.
    E = look_at(0.0, 0.0, 2.0)[:3]
    pts = np.array([[0.0, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, 0.0, 0.1], [0.5, 0.0, 0.0]])
    uv, z = camera.project(camera.world_to_camera(pts, E), K224)
    np.testing.assert_allclose(
        to_numpy(uv), [[112, 112], [133, 112], [112, 91], [112, 112]], atol=1e-4
    )
    np.testing.assert_allclose(to_numpy(z), [2.0, 2.0, 2.0, 1.5], atol=1e-6)


def test_world_camera_round_trip_and_inverse(rng):
    K, E = random_cameras(rng, 2, 3)
    pts = rng.normal(size=(2, 3, 7, 3))
    cam = camera.world_to_camera(pts, E)
    back = camera.camera_to_world(cam, E)
    np.testing.assert_allclose(to_numpy(back), pts, atol=1e-10)
    inv = to_numpy(camera.invert_extrinsic(E))
    np.testing.assert_allclose(
        to_numpy(camera.world_to_camera(to_numpy(cam), inv)), pts, atol=1e-10
    )
    # Loop reference of x_cam = R x + t.
    ref = np.zeros_like(pts)
    for b in range(2):
        for v in range(3):
            for m in range(7):
                ref[b, v, m] = E[b, v, :, :3] @ pts[b, v, m] + E[b, v, :, 3]
    np.testing.assert_allclose(to_numpy(cam), ref, atol=1e-12)


@pytest.mark.parametrize("lead", [(), (4,), (2, 3), (1, 2, 2)])
def test_batch_layouts(lead, rng):
    pts = rng.normal(size=lead + (5, 3)) + np.array([0, 0, 4.0])
    E = np.broadcast_to(np.eye(3, 4), lead + (3, 4))
    K = np.broadcast_to(K224, lead + (3, 3))
    uv, z = camera.project(camera.world_to_camera(pts, E), K)
    assert to_numpy(uv).shape == lead + (5, 2)
    assert to_numpy(z).shape == lead + (5,)
    assert to_numpy(camera.invert_extrinsic(E)).shape == lead + (3, 4)


def test_scale_intrinsics_no_half_pixel_shift():
    K = camera.scale_intrinsics(K224, (224, 224), (112, 56))
    np.testing.assert_allclose(to_numpy(K), [[105, 0, 28], [0, 210, 56], [0, 0, 1]])


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: camera.world_to_camera(np.zeros((4, 2)), np.eye(3, 4)), "points"),
        (lambda: camera.world_to_camera(np.zeros((4, 3)), np.eye(3)), "extrinsic"),
        (lambda: camera.project(np.zeros((4, 3)), np.eye(3, 4)), "K"),
        (lambda: camera.invert_extrinsic(np.eye(4)), "extrinsic"),
        (lambda: camera.scale_intrinsics(K224, (224,), (112, 112)), "from_size"),
    ],
)
def test_shape_errors_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
