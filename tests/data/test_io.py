"""Round trips and error paths of every release file type (data/io.py, data/layout.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io

from data import io
from data.cameras import intrinsics, look_at
from data.layout import CLASSES, DEPTH_SCALE, DataLayout, split_path


def test_layout_paths_match_release(tmp_path):
    L = DataLayout(tmp_path)
    s, m = "03001627", "abc"
    assert L.render_path(s, m, 3) == tmp_path / "renders" / s / m / "render_3.png"
    assert L.depth_path(s, m, 19) == tmp_path / "renders" / s / m / "depth_19.png"
    assert L.camera_path(s, m, 0) == tmp_path / "renders" / s / m / "camera_0.mat"
    assert L.voxel_path(s, m, 32) == tmp_path / "voxels" / "modelVoxels32" / s / "abc.mat"
    assert L.voxel_path(s, m, 64) == tmp_path / "voxels" / "modelVoxels64" / s / "abc.mat"
    assert len(CLASSES) == 13 and CLASSES["02691156"] == "airplane"
    assert split_path("splits_tiny").name == "splits_tiny.json"


def test_layout_lists_only_complete_models(tmp_path):
    L = DataLayout(tmp_path)
    (L.renders_root / "02691156" / "m1").mkdir(parents=True)
    (L.renders_root / "02691156" / ".tmp-m2-123").mkdir(parents=True)
    assert list(L.iter_models()) == [("02691156", "m1")]


def test_render_round_trip_and_white_composite(tmp_path):
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, size=(224, 224, 4), dtype=np.uint8)
    rgba[:10, :, 3] = 0
    rgba[10:20, :, 3] = 255
    p = tmp_path / "render_0.png"
    io.write_render(p, rgba)
    np.testing.assert_array_equal(io.read_render_rgba(p), rgba)
    rgb = io.read_render(p)
    assert rgb.dtype == np.float32 and rgb.shape == (224, 224, 3)
    np.testing.assert_allclose(rgb[:10], 1.0)  # transparent -> white
    np.testing.assert_allclose(rgb[10:20], rgba[10:20, :, :3] / 255.0, atol=1e-6)
    a = rgba[30, 40, 3] / 255.0
    expect = rgba[30, 40, :3] / 255.0 * a + (1 - a)
    np.testing.assert_allclose(rgb[30, 40], expect, atol=1e-6)


def test_depth_round_trip_and_background(tmp_path):
    rng = np.random.default_rng(1)
    depth = rng.uniform(1.1, 2.9, size=(224, 224))
    depth[:5] = np.inf
    p = tmp_path / "depth_0.png"
    io.write_depth(p, depth)
    from PIL import Image

    values = np.asarray(Image.open(p))
    assert values.dtype == np.uint16
    assert (values[:5] == 65535).all()
    back = io.read_depth(p)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back[:5], 10.0)
    np.testing.assert_allclose(back[5:], depth[5:], atol=DEPTH_SCALE / 2 + 1e-6)
    # release decoding rule: metres = value / 65535 * 10
    np.testing.assert_allclose(back[5:], values[5:] / 65535.0 * 10.0, rtol=1e-6)


def test_camera_round_trip(tmp_path):
    K = intrinsics(224)
    E = look_at(37.0, 21.0, 2.0)
    p = tmp_path / "camera_0.mat"
    io.write_camera(p, K, E, azimuth=37.0, elevation=21.0)
    K2, E2 = io.read_camera(p)
    np.testing.assert_allclose(K2, K, rtol=1e-6)
    np.testing.assert_allclose(E2, E, atol=1e-6)
    mat = scipy.io.loadmat(p)
    np.testing.assert_allclose(mat["K"], [[420, 0, 112], [0, 420, 112], [0, 0, 1]])
    R, t = E[:3, :3], E[:3, 3]
    np.testing.assert_allclose(mat["pos"].ravel(), -R.T @ t, atol=1e-9)
    assert abs(np.linalg.norm(mat["pos"]) - 2.0) < 1e-9
    w, x, y, z = mat["quat"].ravel()
    Rq = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
    np.testing.assert_allclose(Rq, R, atol=1e-9)


def test_voxel_round_trip_and_release_axis_order(tmp_path):
    rng = np.random.default_rng(2)
    for n in (32, 64):
        grid = (rng.random((n, n, n)) > 0.7).astype(np.uint8)
        p = tmp_path / f"v{n}.mat"
        io.write_voxels(p, grid)
        np.testing.assert_array_equal(io.read_voxels(p, n), grid)
    # pinned convention: a stored voxel (a, b, c) is world voxel (a, N-1-c, b)
    n = 8
    stored = np.zeros((n, n, n), np.uint8)
    stored[1, 2, 3] = 1
    scipy.io.savemat(tmp_path / "s.mat", {"Volume": stored})
    world = io.read_voxels(tmp_path / "s.mat")
    assert list(zip(*np.nonzero(world), strict=True)) == [(1, n - 1 - 3, 2)]


def test_mat_files_are_deterministic(tmp_path):
    grid = np.eye(8, dtype=np.uint8)[:, :, None] * np.ones((1, 1, 8), np.uint8)
    io.write_voxels(tmp_path / "a.mat", grid)
    io.write_voxels(tmp_path / "b.mat", grid)
    assert (tmp_path / "a.mat").read_bytes() == (tmp_path / "b.mat").read_bytes()


def test_splits_round_trip(tmp_path):
    splits = {"train": {"02691156": ["a", "b"]}, "val": {"02691156": ["c"]},
              "test": {"02691156": ["d"]}}
    io.write_splits(tmp_path / "s.json", splits)
    assert io.read_splits(tmp_path / "s.json") == splits
    assert json.loads((tmp_path / "s.json").read_text()) == splits


# ---------------------------------------------------------------------------------------------
# Errors name the file
# ---------------------------------------------------------------------------------------------
def test_missing_camera_names_file(tmp_path):
    p = tmp_path / "renders" / "x" / "m" / "camera_7.mat"
    with pytest.raises(io.DataError, match="camera_7.mat"):
        io.read_camera(p)


def test_camera_without_key_names_file_and_key(tmp_path):
    p = tmp_path / "camera_0.mat"
    scipy.io.savemat(p, {"K": np.eye(3)})
    with pytest.raises(io.DataError, match=r"camera_0\.mat.*'extrinsic'"):
        io.read_camera(p)


def test_truncated_png_names_file(tmp_path):
    p = tmp_path / "render_3.png"
    io.write_render(p, np.full((224, 224, 4), 200, np.uint8))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(io.DataError, match="render_3.png"):
        io.read_render(p)
    q = tmp_path / "depth_3.png"
    io.write_depth(q, np.full((224, 224), 2.0))
    q.write_bytes(q.read_bytes()[:40])
    with pytest.raises(io.DataError, match="depth_3.png"):
        io.read_depth(q)


def test_voxel_mat_without_volume_names_file(tmp_path):
    p = tmp_path / "model.mat"
    scipy.io.savemat(p, {"Vol": np.zeros((32, 32, 32), np.uint8)})
    with pytest.raises(io.DataError, match=r"model\.mat.*'Volume'.*Vol"):
        io.read_voxels(p)
    scipy.io.savemat(p, {"Volume": np.zeros((32, 32, 32), np.uint8)})
    with pytest.raises(io.DataError, match=r"model\.mat.*64\^3"):
        io.read_voxels(p, nvox=64)
    with pytest.raises(io.DataError, match="missing voxel file"):
        io.read_voxels(tmp_path / "nope.mat")


def test_bad_split_file_names_file_and_key(tmp_path):
    p = tmp_path / "s.json"
    p.write_text("{not json")
    with pytest.raises(io.DataError, match=r"s\.json"):
        io.read_splits(p)
    p.write_text(json.dumps({"training": {}}))
    with pytest.raises(io.DataError, match=r"s\.json.*'training'"):
        io.read_splits(p)
    p.write_text(json.dumps({"train": {"02691156": "abc"}}))
    with pytest.raises(io.DataError, match=r"s\.json.*'train'/'02691156'"):
        io.read_splits(p)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def fail(f):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        io.atomic_write(target, fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
