"""The numpy geometry core: pinned conventions, round trips, and that it imports numpy only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from geometry import camera, depth, grid, normalise

REPO = Path(__file__).resolve().parents[2]


def test_pixel_centres_pinned():
    g = camera.pixel_centres(2, 3)
    assert g.shape == (2, 3, 2) and g.dtype == np.float32
    np.testing.assert_array_equal(g[0, 0], [0.5, 0.5])
    np.testing.assert_array_equal(g[1, 2], [2.5, 1.5])  # (u, v) = (col + .5, row + .5)
    np.testing.assert_array_equal(camera.pixel_centres(2, 3, offset=0.0)[1, 2], [2.0, 1.0])
    with pytest.raises(ValueError, match="positive"):
        camera.pixel_centres(0, 3)


def test_cell_and_voxel_centres_pinned_xyz_order():
    np.testing.assert_allclose(grid.cell_centres(4), [-0.375, -0.125, 0.125, 0.375])
    np.testing.assert_allclose(grid.cell_centres(2, (0.0, 2.0)), [0.5, 1.5])
    c = grid.voxel_centres(4)
    assert c.shape == (4, 4, 4, 3) and c.dtype == np.float32
    np.testing.assert_allclose(c[0, 1, 3], [-0.375, -0.125, 0.375])  # [x, y, z] = world axes
    for bad in ((0, (-0.5, 0.5)), (4, (0.5, 0.5))):
        with pytest.raises(ValueError, match="nvox"):
            grid.cell_centres(*bad)


def test_storage_order_pinned_and_round_trip():
    g = np.zeros((4, 4, 4), np.uint8)
    g[1, 2, 3] = 1  # world cell x=1, y=2, z=3
    stored = grid.world_to_stored(g)
    # storage axes: (x, z, flipped y)
    assert np.argwhere(stored).tolist() == [[1, 3, 4 - 1 - 2]]
    rng = np.random.default_rng(0)
    v = rng.integers(0, 2, (5, 5, 5))
    np.testing.assert_array_equal(grid.stored_to_world(grid.world_to_stored(v)), v)
    np.testing.assert_array_equal(grid.world_to_stored(grid.stored_to_world(v)), v)


def test_foreground_threshold():
    d = np.array([1.5, 10.0 - 2e-3, 10.0 - 5e-4, 10.0, 9.0])
    np.testing.assert_array_equal(depth.foreground(d), [True, True, False, False, True])
    np.testing.assert_array_equal(depth.foreground(d, background=9.0), [True] + [False] * 4)
    assert depth.BACKGROUND_DEPTH == depth.DEPTH_MAX == 10.0
    assert depth.DEPTH_SCALE * 65535 == pytest.approx(10.0)
    assert depth.DEPTH_SCALE / 2 < depth.FOREGROUND_EPS  # PNG rounding cannot cross it


def test_normalising_transform_centres_scales_and_turns_z_up():
    lo, hi = np.array([1.0, 2.0, 3.0]), np.array([3.0, 6.0, 7.0])  # diagonal 6
    M = normalise.normalising_transform(lo, hi, up="y")
    pts = np.array([[*lo, 1.0], [*hi, 1.0], [2.0, 6.0, 5.0, 1.0]]) @ M.T
    # centred, scaled by 1/6, then (x, y, z) -> (x, -z, y)
    np.testing.assert_allclose(pts[:, :3], [[-1 / 6, 2 / 6, -2 / 6], [1 / 6, -2 / 6, 2 / 6],
                                            [0.0, 0.0, 2 / 6]], atol=1e-12)
    Mz = normalise.normalising_transform(lo, hi, up="z")
    np.testing.assert_allclose((Mz @ [*hi, 1.0])[:3], [1 / 6, 2 / 6, 2 / 6])
    with pytest.raises(ValueError, match="up"):
        normalise.normalising_transform(lo, hi, up="x")
    with pytest.raises(ValueError, match="degenerate"):
        normalise.normalising_transform(lo, lo)


def test_geometry_imports_numpy_only():
    code = ("import sys, geometry, geometry.camera, geometry.depth, geometry.grid, "
            "geometry.normalise; bad = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'keras', 'tensorflow', 'jax', 'torch', 'trimesh', 'scipy', 'data', 'ops', "
            "'models', 'training'}); print(bad); sys.exit(bool(bad))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
