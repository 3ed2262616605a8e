"""Point clouds: voxel surface samples, Chamfer figures, fusion of true depth maps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data.layout import DataLayout
from data.loader import load_example
from training.export import fuse_point_cloud
from training.pointclouds import chamfer, voxel_surface_points

VOXEL = 1.0 / 32


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


def _tiny_models(root, n=6):
    splits = json.loads((root / "splits.json").read_text())["test"]
    return [(s, m) for s, ms in sorted(splits.items()) for m in ms][:n]


def test_fused_true_depth_lands_on_the_true_surface(tiny_root):
    """Depth maps of all 20 views, back-projected, lie on the true voxels' surface."""
    layout = DataLayout(tiny_root)
    for synset, model in _tiny_models(tiny_root):
        ex = load_example(layout, synset, model, range(20), 32)
        cloud = fuse_point_cloud(ex["depth"][..., 0], ex["images"], ex["K"], ex["extrinsic"])
        pts = np.asarray(cloud.vertices)
        gt = voxel_surface_points(ex["voxels"][..., 0])
        figs = chamfer(pts, gt)
        # voxels hold the cells whose centre is inside, so the true surface is within about
        # half a voxel of their boundary; thin parts (under a voxel) may have no voxels
        assert figs["accuracy"] < 0.75 * VOXEL, (synset, figs)
        assert figs["completeness"] < 1.0 * VOXEL, (synset, figs)
        assert len(cloud.colors) == len(pts)
        # the same cloud moved by two voxels is clearly worse
        moved = chamfer(pts + 2 * VOXEL / np.sqrt(3), gt)
        assert moved["accuracy"] > 2 * figs["accuracy"], (synset, figs, moved)


def test_fusion_drops_points_outside_the_grid(tiny_root):
    layout = DataLayout(tiny_root)
    synset, model = _tiny_models(tiny_root, 1)[0]
    ex = load_example(layout, synset, model, [0], 32)
    depth = ex["depth"][..., 0].copy()
    fg = depth < 9.99
    depth[fg] += 5.0  # behind the object, out of the grid cube
    assert len(fuse_point_cloud(depth, ex["images"], ex["K"], ex["extrinsic"]).vertices) == 0
    kept = fuse_point_cloud(depth, ex["images"], ex["K"], ex["extrinsic"], margin=None)
    assert len(kept.vertices) == fg.sum()
