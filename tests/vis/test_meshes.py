"""vis.meshes: fusion of depth maps into world point clouds, marching-cubes meshes; and the
arrows of vis (numpy, matplotlib, plotly, trimesh, scikit-image and geometry only)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from data.examples import load_example
from data.layout import DataLayout
from training.pointclouds import chamfer, voxel_surface_points
from vis.meshes import fuse_point_cloud, fused_points, grid_to_mesh, occupancy_mesh

REPO = Path(__file__).resolve().parents[2]
VOXEL = 1.0 / 32


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


def test_meshes_of_a_cube():
    probs = np.zeros((8, 8, 8), np.float32)
    probs[2:6, 2:6, 2:6] = 1.0  # cells 2..5; the 0.5 level lies between cell centres
    mesh = grid_to_mesh(probs, 0.5)
    assert mesh.is_watertight
    np.testing.assert_allclose(mesh.bounds, [[-0.25] * 3, [0.25] * 3], atol=1e-6)
    verts, faces = occupancy_mesh(probs, 0.5)
    assert verts.dtype == np.float32 and faces.dtype == np.int32
    np.testing.assert_array_equal(faces, mesh.faces)
    empty_v, empty_f = occupancy_mesh(np.zeros((4, 4, 4)), 0.5)
    assert empty_v.shape == (0, 3) and empty_f.shape == (0, 3)


def test_fused_points_treats_far_depth_as_background(tiny_root):
    layout = DataLayout(tiny_root)
    synset, model = _tiny_models(tiny_root, 1)[0]
    ex = load_example(layout, synset, model, [0, 1], 32)
    depth = ex["depth"][..., 0]
    pts, cols = fused_points(depth, ex["images"], ex["K"], ex["extrinsic"])
    assert pts.dtype == cols.dtype == np.float32 and len(pts) == len(cols) > 0
    assert cols.min() >= 0 and cols.max() <= 1
    far = np.where(depth < 9.99, 3.5, depth)  # beyond FAR: background, no points
    assert len(fused_points(far, ex["images"], ex["K"], ex["extrinsic"])[0]) == 0


def test_vis_imports_no_framework_and_no_project_layer():
    code = ("import sys, vis, vis.pictures, vis.meshes, vis.figures, vis.interactive; "
            "bad = sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow', "
            "'jax', 'torch', 'data', 'ops', 'models', 'training', 'demo'}); print(bad); "
            "sys.exit(bool(bad))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
