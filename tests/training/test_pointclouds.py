"""Point-cloud evaluation: voxel surface samples and Chamfer figures (the fusion of depth maps
into a cloud is tested in tests/vis/test_meshes.py)."""

from __future__ import annotations

import numpy as np
import pytest

from training.pointclouds import chamfer, voxel_surface_points


def test_one_voxel_has_six_faces_on_its_boundary():
    v = np.zeros((4, 4, 4), bool)
    v[1, 2, 3] = True
    pts = voxel_surface_points(v, per_face=3, grid_range=(0.0, 4.0))  # 1 unit per cell
    assert pts.shape == (6 * 9, 3)
    lo, hi = np.array([1, 2, 3]), np.array([2, 3, 4])
    assert np.all(pts >= lo - 1e-12) and np.all(pts <= hi + 1e-12)
    on_face = np.isclose(pts, lo) | np.isclose(pts, hi)
    assert np.all(on_face.sum(axis=1) == 1)  # each point on exactly one face, not an edge
    assert len(np.unique(np.round(pts, 9), axis=0)) == len(pts)


def test_shared_faces_are_not_sampled():
    v = np.zeros((3, 3, 3), bool)
    v[0, 0, 0] = v[1, 0, 0] = True  # a 2x1x1 block: 10 boundary faces, the shared one inside
    pts = voxel_surface_points(v, per_face=2, grid_range=(0.0, 3.0))
    assert pts.shape == (10 * 4, 3)
    assert not np.any(np.isclose(pts[:, 0], 1.0) & (pts[:, 1] > 0) & (pts[:, 1] < 1)
                      & (pts[:, 2] > 0) & (pts[:, 2] < 1))
    assert voxel_surface_points(np.zeros((3, 3, 3))).shape == (0, 3)


def test_chamfer_matches_brute_force():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-0.5, 0.5, (300, 3)), rng.uniform(-0.5, 0.5, (200, 3))
    d = np.linalg.norm(a[:, None] - b[None], axis=-1)
    acc, comp = d.min(axis=1), d.min(axis=0)
    tau = 0.05
    p, r = (acc < tau).mean(), (comp < tau).mean()
    out = chamfer(a, b, tau=tau)
    assert out["accuracy"] == pytest.approx(acc.mean(), rel=1e-12)
    assert out["completeness"] == pytest.approx(comp.mean(), rel=1e-12)
    assert out["chamfer"] == pytest.approx(0.5 * (acc.mean() + comp.mean()), rel=1e-12)
    assert out["fscore"] == pytest.approx(2 * p * r / (p + r), rel=1e-12)
    assert out["num_points"] == 300
    assert chamfer(b, b)["chamfer"] == 0.0 and chamfer(b, b)["fscore"] == 1.0


def test_chamfer_edge_cases():
    gt = np.zeros((5, 3))
    empty = chamfer(np.zeros((0, 3)), gt)
    assert np.isnan(empty["accuracy"]) and empty["fscore"] == 0.0
    with pytest.raises(ValueError, match="gt"):
        chamfer(gt, np.zeros((0, 3)))
