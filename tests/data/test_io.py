"""Round trips and error paths of every release file type (data/io.py, data/layout.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io

from data import io
from data.layout import CLASSES, DataLayout, split_path
from geometry.camera import intrinsics, look_at
from geometry.depth import DEPTH_SCALE


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


# ---------------------------------------------------------------------------------------------
# Corrupt and malformed files: one DataError naming the file, never a silent wrong read
# ---------------------------------------------------------------------------------------------
def _png(tmp_path, name="render_0.png", kind="render"):
    p = tmp_path / name
    if kind == "render":
        rgba = np.random.default_rng(3).integers(0, 256, (224, 224, 4), dtype=np.uint8)
        io.write_render(p, rgba)
    else:
        io.write_depth(p, np.random.default_rng(3).uniform(1, 3, (224, 224)))
    return p


def _chunk_offsets(raw: bytes) -> dict[bytes, int]:
    """Offset of the first chunk of each type."""
    out, i = {}, 8
    while i < len(raw):
        n = int.from_bytes(raw[i:i + 4], "big")
        out.setdefault(raw[i + 4:i + 8], i)
        i += 12 + n
    return out


@pytest.mark.parametrize("kind", ["render", "depth"])
def test_zero_byte_png_names_file(tmp_path, kind):
    p = _png(tmp_path, f"{kind}_1.png", kind)
    p.write_bytes(b"")
    read = io.read_render if kind == "render" else io.read_depth
    with pytest.raises(io.DataError, match=str(p)):
        read(p)


@pytest.mark.parametrize("kind", ["render", "depth"])
@pytest.mark.parametrize("where", ["crc", "data"])
def test_png_crc_is_verified(tmp_path, kind, where):
    """A changed byte inside a chunk (or its CRC) is caught by the chunk's CRC, even where the
    image would still decode (PIL does not check IDAT CRCs)."""
    p = _png(tmp_path, f"{kind}_2.png", kind)
    raw = bytearray(p.read_bytes())
    i = _chunk_offsets(bytes(raw))[b"IDAT"]
    n = int.from_bytes(raw[i:i + 4], "big")
    raw[i + 8 + n if where == "crc" else i + 8 + n - 1] ^= 0x01
    p.write_bytes(bytes(raw))
    read = io.read_render if kind == "render" else io.read_depth
    with pytest.raises(io.DataError, match=rf"{p}.*CRC|CRC.*{p}"):
        read(p)


def test_png_with_data_after_iend_is_rejected(tmp_path):
    p = _png(tmp_path)
    p.write_bytes(p.read_bytes() + b"garbage")
    with pytest.raises(io.DataError, match=str(p)):
        io.read_render(p)


@pytest.mark.parametrize("mode", ["RGB", "L", "LA", "P", "I;16"])
def test_render_must_be_8bit_rgba(tmp_path, mode):
    from PIL import Image

    p = tmp_path / "render_4.png"
    arr = np.random.default_rng(0).integers(0, 255, (224, 224, 4), dtype=np.uint8)
    im = Image.fromarray(arr, "RGBA")
    im = (Image.fromarray(arr[..., 0].astype(np.uint16) * 200) if mode == "I;16"
          else im.convert(mode))
    im.save(p)
    with pytest.raises(io.DataError, match=rf"{p}.*RGBA"):
        io.read_render(p)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "I;16-rgb"])
def test_depth_must_be_16bit_grey(tmp_path, mode):
    from PIL import Image

    p = tmp_path / "depth_4.png"
    arr = np.random.default_rng(0).integers(0, 255, (224, 224, 4), dtype=np.uint8)
    if mode == "I;16-rgb":  # 16-bit RGB, written by hand (PIL cannot)
        import struct
        import zlib

        def chunk(t, d):
            return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
        rows = b"".join(b"\0" + bytes(224 * 6) for _ in range(224))
        p.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 224, 224,
                                                                        16, 2, 0, 0, 0))
                      + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    else:
        Image.fromarray(arr, "RGBA").convert(mode).save(p)
    with pytest.raises(io.DataError, match=rf"{p}.*16-bit"):
        io.read_depth(p)


def test_png_size_is_checked_when_given(tmp_path):
    p = tmp_path / "render_5.png"
    io.write_render(p, np.zeros((100, 120, 4), np.uint8))
    assert io.read_render(p).shape == (100, 120, 3)
    with pytest.raises(io.DataError, match=rf"{p}.*120x100.*224x224"):
        io.read_render(p, size=(224, 224))
    q = tmp_path / "depth_5.png"
    io.write_depth(q, np.full((100, 120), 2.0))
    with pytest.raises(io.DataError, match=rf"{q}.*120x100.*224x224"):
        io.read_depth(q, size=(224, 224))


def _camera(tmp_path, name="camera_3.mat", **mat):
    p = tmp_path / name
    base = {"K": intrinsics(224), "extrinsic": look_at(37.0, 21.0, 2.0)}
    base.update(mat)
    scipy.io.savemat(p, {k: v for k, v in base.items() if v is not None})
    return p


BAD_CAMERAS = {
    "K all zeros": ({"K": np.zeros((3, 3))}, r"K is singular \(all zeros\)"),
    "K NaN": ({"K": np.where(np.eye(3) > 0, np.nan, intrinsics(224))}, "K.*not finite"),
    "K inf": ({"K": intrinsics(224) * np.array([[np.inf, 1, 1], [1, 1, 1], [1, 1, 1]])},
              "K.*not finite"),
    "extrinsic NaN": ({"extrinsic": look_at(1, 2) * np.nan}, "extrinsic.*not finite"),
    "K negative focal": ({"K": intrinsics(224) * np.diag([-1, 1, 1])}, "focal"),
    "K zero fy": ({"K": np.diag([420.0, 0.0, 1.0])}, "focal"),
    "K bottom row": ({"K": intrinsics(224) + np.array([[0, 0, 0], [0, 0, 0], [0.5, 0, 0]])},
                     r"K.*last row"),
    "K skewed lower": ({"K": intrinsics(224) + np.array([[0, 0, 0], [3, 0, 0], [0, 0, 0]])},
                       "upper-triangular"),
    "K 3x4": ({"K": np.zeros((3, 4))}, r"'K' has shape \(3, 4\)"),
    "K string": ({"K": "420 0 112"}, "'K'.*numeric"),
    "K complex": ({"K": intrinsics(224) * (1 + 1j)}, "'K'.*numeric"),
    "extrinsic 3x3": ({"extrinsic": np.eye(3)}, r"'extrinsic' has shape \(3, 3\)"),
    "extrinsic bottom row": ({"extrinsic": look_at(1, 2) + np.array([[0] * 4] * 3
                                                                    + [[0, 0, 1, 0]])},
                             "extrinsic.*last row"),
    "scaled rotation": ({"extrinsic": look_at(1, 2) * np.array([[1.01]] * 3 + [[1]])},
                        "not a rotation"),
    "reflection": ({"extrinsic": np.diag([1, 1, -1, 1]) @ look_at(1, 2)}, r"det"),
    "behind": ({"extrinsic": np.diag([-1, 1, -1, 1]) @ look_at(1, 2)}, "behind the camera"),
    "missing K": ({"K": None}, "no key 'K'"),
}


@pytest.mark.parametrize("case", sorted(BAD_CAMERAS))
def test_bad_camera_names_file_and_problem(tmp_path, case):
    mat, pattern = BAD_CAMERAS[case]
    p = _camera(tmp_path, **mat)
    with pytest.raises(io.DataError, match=rf"camera {p}: .*{pattern}|{p}.*{pattern}"):
        io.read_camera(p)


def test_valid_cameras_pass_validation(tmp_path):
    """Release-like cameras (3x4 extrinsics, int K, small rounding) still read."""
    p = _camera(tmp_path, K=intrinsics(224).astype(np.int32),
                extrinsic=(look_at(10, 5) + 1e-5)[:3])
    K, E = io.read_camera(p)
    np.testing.assert_array_equal(K, intrinsics(224))
    np.testing.assert_allclose(E, look_at(10, 5) + np.r_[[[1e-5] * 4] * 3, [[0] * 4]],
                               atol=1e-6)


BAD_VOXELS = {
    "float": (np.zeros((32, 32, 32), np.float32), "dtype float32"),
    "NaN": (np.full((32, 32, 32), np.nan), "NaN"),
    "value 2": (np.full((32, 32, 32), 2, np.uint8), r"values outside \{0, 1\}"),
    "negative": (np.full((32, 32, 32), -1, np.int8), r"values outside \{0, 1\}"),
    "2-D": (np.zeros((32, 32), np.uint8), "shape"),
    "not cubic": (np.zeros((32, 32, 16), np.uint8), "shape"),
    "string": ("abc", "numeric|shape"),
}


@pytest.mark.parametrize("case", sorted(BAD_VOXELS))
def test_bad_voxels_name_file(tmp_path, case):
    vol, pattern = BAD_VOXELS[case]
    p = tmp_path / "model.mat"
    scipy.io.savemat(p, {"Volume": vol})
    with pytest.raises(io.DataError, match=rf"{p}.*({pattern})"):
        io.read_voxels(p, 32)


def test_bool_and_int_voxels_still_read(tmp_path):
    grid = np.zeros((8, 8, 8), bool)
    grid[1, 2, 3] = True
    for dtype in (bool, np.int32, np.uint16):
        p = tmp_path / "v.mat"
        scipy.io.savemat(p, {"Volume": io.world_to_stored(grid.astype(dtype))})
        np.testing.assert_array_equal(io.read_voxels(p, 8), grid)


def test_json_with_invalid_utf8_names_file(tmp_path):
    p = tmp_path / "s.json"
    p.write_bytes(b'{"train": {"\xff": []}}')
    with pytest.raises(io.DataError, match=str(p)):
        io.read_splits(p)
    p.write_bytes(b"")
    with pytest.raises(io.DataError, match=str(p)):
        io.read_json(p)
