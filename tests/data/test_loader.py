"""Tests of the tf.data loader (data/loaders/tf_loader.py) on the shared fake data root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from data.examples import eval_views, load_example, stable_hash
from data.io import DataError, write_splits
from data.layout import DataLayout
from data.loaders import LoaderConfig, LoaderState, make_loader
from data.loaders.tf_loader import Loader
from geometry.depth import BACKGROUND_DEPTH
from tests.conftest import FAKE_K, FakeRoot, box_voxels
from training.config import load_args

REPO = Path(__file__).resolve().parents[2]


def make_config(fake: FakeRoot, **overrides) -> LoaderConfig:
    """The loader config of run arguments reading ``fake``'s root and split file."""
    args = load_args(None, {"data_root": str(fake.root), "split_file": str(fake.split_file),
                            "prefetch_threads": 2, **overrides})
    return LoaderConfig.from_args(args)


def take(loader: Loader, n: int, start: int | LoaderState = 0) -> list[dict[str, np.ndarray]]:
    """The first ``n`` batches of ``loader.dataset(start)`` as numpy."""
    out = []
    for batch in loader.dataset(start).take(n):
        out.append({k: v.numpy() for k, v in batch.items()})
    return out


def ids(batch: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    return [(s.decode(), m.decode()) for s, m in zip(batch["synset"], batch["model_id"],
                                                      strict=True)]


@pytest.fixture(scope="module")
def train_batches(fake_data_root: FakeRoot) -> list[dict[str, np.ndarray]]:
    """Three training batches of 6 models x 4 views: one batch per epoch of the train split."""
    n_train = len(fake_data_root.splits["train"])
    return take(Loader(make_config(fake_data_root, batch_size=n_train), "train"), 3)


@pytest.fixture
def broken_root(fake_data_root: FakeRoot, tmp_path: Path) -> FakeRoot:
    """A private copy of the fake root that a test may damage."""
    root = tmp_path / "data"
    shutil.copytree(fake_data_root.root, root)
    return FakeRoot(root=root, split_file=root / "splits.json", splits=fake_data_root.splits,
                    boxes=fake_data_root.boxes)


# --------------------------------------------------------------------------------------------
# Shapes, types, values
# --------------------------------------------------------------------------------------------
def test_train_batch_shapes_dtypes_ranges(fake_data_root, train_batches):
    b = train_batches[0]
    B, V = len(fake_data_root.splits["train"]), 4
    expected = {
        "images": ((B, V, 224, 224, 3), np.float32), "K": ((B, V, 3, 3), np.float32),
        "extrinsic": ((B, V, 3, 4), np.float32), "voxels": ((B, 32, 32, 32, 1), np.float32),
        "depth": ((B, V, 224, 224, 1), np.float32), "view_ids": ((B, V), np.int32),
        "synset": ((B,), object), "model_id": ((B,), object),
    }
    assert set(b) == set(expected)
    for key, (shape, dtype) in expected.items():
        assert b[key].shape == shape, key
        assert b[key].dtype == dtype, key
    assert 0.0 <= b["images"].min() and b["images"].max() <= 1.0
    assert set(np.unique(b["voxels"])) <= {0.0, 1.0}
    np.testing.assert_allclose(b["K"], np.broadcast_to(FAKE_K, (B, V, 3, 3)))
    R = b["extrinsic"][..., :3]
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape),
                               atol=1e-5)
    d = b["depth"]
    fg = d < BACKGROUND_DEPTH
    assert fg.any() and (~fg).any()
    assert np.all(d[~fg] == BACKGROUND_DEPTH)
    assert d[fg].min() > 2 - np.sqrt(3) / 2 and d[fg].max() < 2 + np.sqrt(3) / 2
    # Background (depth 10) is composited on white.
    assert np.all(b["images"][np.broadcast_to(~fg, d.shape)[..., 0]] == 1.0)
    for (s, m), vox in zip(ids(b), b["voxels"], strict=True):
        np.testing.assert_array_equal(vox[..., 0], box_voxels(fake_data_root.boxes[(s, m)], 32))


def test_nvox_64(fake_data_root):
    b = take(Loader(make_config(fake_data_root, nvox=64, grid_net="unet64"), "val"), 1)[0]
    assert b["voxels"].shape[1:] == (64, 64, 64, 1)
    for (s, m), vox in zip(ids(b), b["voxels"], strict=True):
        np.testing.assert_array_equal(vox[..., 0], box_voxels(fake_data_root.boxes[(s, m)], 64))


def test_matches_numpy_load_example(fake_data_root):
    loader = Loader(make_config(fake_data_root), "val")
    b = take(loader, 1)[0]
    s, m = ids(b)[0]
    ex = load_example(fake_data_root.layout, s, m, b["view_ids"][0], 32)
    for key in ("images", "K", "extrinsic", "voxels", "depth", "view_ids"):
        np.testing.assert_allclose(b[key][0], ex[key], atol=1e-6, err_msg=key)
    assert (ex["synset"], ex["model_id"]) == (s, m)


def project(points: np.ndarray, K: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, 3) world points -> (P, 2) pixel (u, v) and (P,) depth."""
    cam = points @ E[:, :3].T + E[:, 3]
    uv = cam @ K.T
    return uv[:, :2] / uv[:, 2:], cam[:, 2]


def voxel_centres(vox: np.ndarray) -> np.ndarray:
    """World centres of the occupied cells of an (N, N, N) [x, y, z] grid."""
    n = vox.shape[0]
    return -0.5 + (np.argwhere(vox > 0.5) + 0.5) / n


def test_voxels_project_into_silhouettes(train_batches):
    """Grid order and cameras agree: occupied voxel centres land on the object in every view."""
    b = train_batches[0]
    for i in range(b["images"].shape[0]):
        pts = voxel_centres(b["voxels"][i, ..., 0])
        for v in range(b["images"].shape[1]):
            uv, z = project(pts, b["K"][i, v], b["extrinsic"][i, v])
            col, row = np.round(uv).astype(int).T
            assert np.all((col >= 0) & (col < 224) & (row >= 0) & (row < 224))
            on_object = b["depth"][i, v, row, col, 0] < BACKGROUND_DEPTH
            assert on_object.mean() > 0.97
            # Voxel centres are behind (or on) the visible surface.
            assert np.all(z[on_object] >= b["depth"][i, v, row, col, 0][on_object] - 0.05)


# --------------------------------------------------------------------------------------------
# Training stream
# --------------------------------------------------------------------------------------------
def test_train_views_distinct_and_change_across_epochs(fake_data_root, train_batches):
    train = set(fake_data_root.splits["train"])
    per_epoch = []
    for b in train_batches:  # one batch = one epoch here
        assert set(ids(b)) == train  # every model once per epoch
        for views in b["view_ids"]:
            assert len(set(views.tolist())) == len(views)
            assert views.min() >= 0 and views.max() < 20
        per_epoch.append({k: tuple(v) for k, v in zip(ids(b), b["view_ids"], strict=True)})
    assert ids(train_batches[0]) != ids(train_batches[1])  # reshuffled
    for model in train:
        assert len({views[model] for views in per_epoch}) > 1, model


def test_train_stream_reproducible_from_seed(fake_data_root, train_batches):
    n_train = len(fake_data_root.splits["train"])
    again = take(Loader(make_config(fake_data_root, batch_size=n_train), "train"), 2)
    for a, b in zip(again, train_batches, strict=False):
        assert ids(a) == ids(b)
        np.testing.assert_array_equal(a["view_ids"], b["view_ids"])
        np.testing.assert_array_equal(a["images"], b["images"])
    other = take(Loader(make_config(fake_data_root, batch_size=n_train, rng_seed=7), "train"), 1)
    assert (ids(other[0]) != ids(train_batches[0])
            or not np.array_equal(other[0]["view_ids"], train_batches[0]["view_ids"]))


def test_resume_equals_continuing(fake_data_root):
    """Skipping to step k gives the batches that iterating k steps would have given next."""
    loader = Loader(make_config(fake_data_root, batch_size=4), "train")  # 6 models: straddles
    full = take(loader, 5)
    state = LoaderState.from_dict(json.loads(json.dumps(loader.state(3).to_dict())))
    resumed = take(Loader(make_config(fake_data_root, batch_size=4), "train"), 2, start=state)
    for a, b in zip(resumed, full[3:], strict=True):
        assert ids(a) == ids(b)
        np.testing.assert_array_equal(a["view_ids"], b["view_ids"])
        np.testing.assert_array_equal(a["images"], b["images"])
    views = [loader.train_views(g) for g in range(12, 20)]
    np.testing.assert_array_equal(np.stack(views), np.concatenate([f["view_ids"]
                                                                   for f in full[3:5]]))


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------
def test_eval_single_pass_fixed_order_and_views(fake_data_root):
    config = make_config(fake_data_root)
    loader = Loader(config, "train", training=False, batch_size=4)
    batches = take(loader, 10)
    assert [len(b["model_id"]) for b in batches] == [4, 2]  # one pass, remainder kept
    assert loader.steps_per_epoch == 2
    assert sum((ids(b) for b in batches), []) == fake_data_root.splits["train"]
    views = np.concatenate([b["view_ids"] for b in batches])
    np.testing.assert_array_equal(views, loader.eval_views())
    again = take(Loader(config, "train", training=False, batch_size=4), 10)
    np.testing.assert_array_equal(np.concatenate([b["view_ids"] for b in again]), views)
    dropped = Loader(config, "train", training=False, batch_size=4, drop_remainder=True)
    assert [len(b["model_id"]) for b in take(dropped, 10)] == [4]


def test_eval_batch_sizes_from_args(fake_data_root):
    config = make_config(fake_data_root, val_batch_size=1, val_im_batch=3, test_batch_size=2,
                         test_im_batch=2)
    val = Loader(config, "val")
    test = Loader(config, "test")
    assert (val.batch_size, val.views, test.batch_size, test.views) == (1, 3, 2, 2)
    assert not val.training and not test.training


def test_eval_views_stable_prefix_consistent_and_process_independent(fake_data_root):
    s, m = fake_data_root.splits["test"][0]
    four = eval_views(s, m, 4, 20, seed=1)
    np.testing.assert_array_equal(eval_views(s, m, 2, 20, seed=1), four[:2])
    assert len(set(four.tolist())) == 4
    # Pinned values: a change here changes every reported number.
    assert stable_hash("02691156/abc") == 9114305835760119145
    np.testing.assert_array_equal(eval_views("02691156", "abc", 4, 20, 1), [0, 6, 1, 18])
    code = ("from data.examples import eval_views; "
            f"print(eval_views({s!r}, {m!r}, 4, 20, 1).tolist())")
    env = dict(os.environ, PYTHONHASHSEED="123", PYTHONPATH=str(REPO),
               TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=REPO, check=True).stdout.strip().splitlines()[-1]
    assert json.loads(out) == four.tolist()


# --------------------------------------------------------------------------------------------
# Resizing
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("hw", [(112, 112), (112, 160)])
def test_resize_scales_K_consistently(fake_data_root, hw):
    full = take(Loader(make_config(fake_data_root), "val"), 1)[0]
    small = take(Loader(make_config(fake_data_root, im_h=hw[0], im_w=hw[1]), "val"), 1)[0]
    H, W = hw
    assert small["images"].shape[2:] == (H, W, 3)
    assert small["depth"].shape[2:] == (H, W, 1)
    np.testing.assert_array_equal(small["view_ids"], full["view_ids"])
    np.testing.assert_allclose(small["K"][0, 0], np.diag([W / 224, H / 224, 1.0]) @ FAKE_K,
                               rtol=1e-6)
    pts = voxel_centres(full["voxels"][0, ..., 0])
    uv_full, _ = project(pts, full["K"][0, 0], full["extrinsic"][0, 0])
    uv_small, _ = project(pts, small["K"][0, 0], small["extrinsic"][0, 0])
    np.testing.assert_allclose(uv_small / [W, H], uv_full / [224, 224], atol=1e-4)
    d = small["depth"]
    assert np.all((d == BACKGROUND_DEPTH) | (d < 2 + np.sqrt(3) / 2))  # nearest: no blending
    assert 0.0 <= small["images"].min() and small["images"].max() <= 1.0


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------
def test_split_naming_missing_model(fake_data_root, tmp_path):
    split_file = tmp_path / "bad_split.json"
    s, m = fake_data_root.splits["train"][0]
    write_splits(split_file, {"train": {s: [m, "no_such_model"]}})
    config = make_config(fake_data_root, split_file=str(split_file))
    with pytest.raises(DataError) as e:
        Loader(config, "train")
    msg = str(e.value)
    for part in (str(split_file), s, "no_such_model", str(fake_data_root.root)):
        assert part in msg


def test_missing_split_file_or_split(fake_data_root, tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(DataError, match="nope.json"):
        Loader(make_config(fake_data_root, split_file=str(missing)), "train")
    only_train = tmp_path / "only_train.json"
    write_splits(only_train, {"train": {}})
    with pytest.raises(DataError, match="no split 'val'"):
        Loader(make_config(fake_data_root, split_file=str(only_train)), "val")
    with pytest.raises(DataError, match="empty"):
        Loader(make_config(fake_data_root, split_file=str(only_train)), "train")


def test_missing_voxel_file_at_construction(broken_root):
    s, m = broken_root.splits["val"][0]
    path = broken_root.layout.voxel_path(s, m, 32)
    path.unlink()
    with pytest.raises(DataError, match=str(path)):
        Loader(make_config(broken_root), "val")


def _iterate_all(loader: Loader) -> None:
    for _ in loader.iterate():
        pass


def _all_views_config(root: FakeRoot) -> LoaderConfig:
    return make_config(root, val_batch_size=1, val_im_batch=20)


def test_missing_camera_file(broken_root):
    s, m = broken_root.splits["val"][0]
    path = broken_root.layout.camera_path(s, m, 3)
    path.unlink()
    with pytest.raises(DataError) as e:
        _iterate_all(Loader(_all_views_config(broken_root), "val"))
    assert str(path) in str(e.value) and "camera" in str(e.value)


@pytest.mark.parametrize("kind", ["render", "depth"])
def test_truncated_png(broken_root, kind):
    s, m = broken_root.splits["val"][0]
    layout = broken_root.layout
    path = layout.render_path(s, m, 5) if kind == "render" else layout.depth_path(s, m, 5)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError) as e:
        _iterate_all(Loader(_all_views_config(broken_root), "val"))
    assert str(path) in str(e.value) and "truncated" in str(e.value)


@pytest.mark.slow
def test_missing_render_file(broken_root):
    s, m = broken_root.splits["val"][0]
    path = broken_root.layout.render_path(s, m, 7)
    path.unlink()
    with pytest.raises(DataError, match=str(path)):
        _iterate_all(Loader(_all_views_config(broken_root), "val"))


def test_voxel_file_without_volume(broken_root):
    s, m = broken_root.splits["val"][0]
    path = broken_root.layout.voxel_path(s, m, 32)
    scipy.io.savemat(path, {"Vol": np.zeros((32, 32, 32), np.uint8)})
    with pytest.raises(DataError) as e:
        _iterate_all(Loader(_all_views_config(broken_root), "val"))
    assert str(path) in str(e.value) and "'Volume'" in str(e.value)


def test_load_example_errors_name_file(fake_data_root, tmp_path):
    layout = DataLayout(tmp_path)
    with pytest.raises(DataError, match="camera_0.mat"):
        load_example(layout, "02691156", "absent", [0], 32)


# --------------------------------------------------------------------------------------------
# Corrupt files: both loaders raise one DataError naming the file
# --------------------------------------------------------------------------------------------
def _corrupt_idat(raw: bytes) -> bytes:
    """Flip a byte in the middle of the first IDAT chunk's data (its CRC no longer matches)."""
    i = 8
    while raw[i + 4:i + 8] != b"IDAT":
        i += 12 + int.from_bytes(raw[i:i + 4], "big")
    n = int.from_bytes(raw[i:i + 4], "big")
    out = bytearray(raw)
    out[i + 8 + n // 2] ^= 0x55
    return bytes(out)


def _rgb_png(raw: bytes) -> bytes:
    import io as pyio

    from PIL import Image

    buf = pyio.BytesIO()
    Image.open(pyio.BytesIO(raw)).convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def _8bit_png(raw: bytes) -> bytes:
    import io as pyio

    from PIL import Image

    buf = pyio.BytesIO()
    arr = (np.asarray(Image.open(pyio.BytesIO(raw))) >> 8).astype(np.uint8)
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _small_png(raw: bytes) -> bytes:
    import io as pyio

    from PIL import Image

    buf = pyio.BytesIO()
    Image.open(pyio.BytesIO(raw)).resize((200, 224)).save(buf, format="PNG")
    return buf.getvalue()


PNG_DAMAGE = {
    "zero-byte": (lambda raw: b"", "truncated"),
    "corrupt IDAT": (_corrupt_idat, "CRC"),
    "random bytes": (lambda raw: np.random.default_rng(0).bytes(len(raw)), "not a PNG"),
    "wrong size": (_small_png, "200x224"),
}


@pytest.mark.parametrize("kind", ["render", "depth"])
@pytest.mark.parametrize("damage", sorted(PNG_DAMAGE))
@pytest.mark.parametrize("loader", ["tf", "numpy"])
def test_damaged_png_is_named(broken_root, kind, damage, loader):
    s, m = broken_root.splits["val"][0]
    layout = broken_root.layout
    path = layout.render_path(s, m, 5) if kind == "render" else layout.depth_path(s, m, 5)
    fn, what = PNG_DAMAGE[damage]
    path.write_bytes(fn(path.read_bytes()))
    config = _all_views_config(broken_root).replace(kind=loader)
    with pytest.raises(DataError) as e:
        _iterate_all(make_loader(config, "val"))
    assert str(path) in str(e.value) and what in str(e.value), str(e.value)
    assert "Traceback" not in str(e.value) and "{{" not in str(e.value)


@pytest.mark.parametrize("loader", ["tf", "numpy"])
@pytest.mark.parametrize("kind", ["render", "depth"])
def test_png_of_wrong_type_is_named(broken_root, kind, loader):
    """TensorFlow's decode_png converts silently (RGB -> RGBA, 8 -> 16 bit): both refuse."""
    s, m = broken_root.splits["val"][0]
    layout = broken_root.layout
    path = layout.render_path(s, m, 5) if kind == "render" else layout.depth_path(s, m, 5)
    path.write_bytes((_rgb_png if kind == "render" else _8bit_png)(path.read_bytes()))
    config = _all_views_config(broken_root).replace(kind=loader)
    with pytest.raises(DataError) as e:
        _iterate_all(make_loader(config, "val"))
    assert str(path) in str(e.value), str(e.value)
    assert ("8-bit RGB PNG, expected 8-bit RGBA" if kind == "render"
            else "8-bit grey PNG, expected 16-bit grey") in str(e.value)


@pytest.mark.slow
@pytest.mark.parametrize("loader", ["tf", "numpy"])
@pytest.mark.parametrize("damage", ["K zeros", "K NaN", "reflection", "behind", "zero-byte",
                                    "off image"])
def test_bad_camera_is_named(broken_root, damage, loader):
    """Before: a K of zeros gave NaN losses and IoU 0 averaged in without a word."""
    s, m = broken_root.splits["val"][0]
    path = broken_root.layout.camera_path(s, m, 4)
    K, E = FAKE_K.copy(), scipy.io.loadmat(path)["extrinsic"]
    if damage == "zero-byte":
        path.write_bytes(b"")
    else:
        if damage == "K zeros":
            K = np.zeros((3, 3))
        elif damage == "K NaN":
            K[0, 0] = np.nan
        elif damage == "reflection":
            E = np.diag([1.0, -1.0, 1.0, 1.0]) @ E
        elif damage == "off image":  # the grid centre projects 420 px right of the centre
            E = E.copy()
            E[0, 3] += E[2, 3]
        else:
            E = np.diag([-1.0, 1.0, -1.0, 1.0]) @ E
        scipy.io.savemat(path, {"K": K, "extrinsic": E})
    config = _all_views_config(broken_root).replace(kind=loader)
    with pytest.raises(DataError) as e:
        _iterate_all(make_loader(config, "val"))
    msg = str(e.value)
    assert msg.startswith((f"camera {path}:", f"unreadable camera file: {path}")), msg
    if damage == "K zeros":
        assert msg == f"camera {path}: K is singular (all zeros)"
    if damage == "off image":
        assert "outside the 224x224 image" in msg, msg


@pytest.mark.parametrize("loader", ["tf", "numpy"])
def test_bad_voxels_are_named(broken_root, loader):
    s, m = broken_root.splits["val"][0]
    path = broken_root.layout.voxel_path(s, m, 32)
    scipy.io.savemat(path, {"Volume": np.full((32, 32, 32), np.nan)})
    config = _all_views_config(broken_root).replace(kind=loader)
    with pytest.raises(DataError) as e:
        _iterate_all(make_loader(config, "val"))
    assert str(path) in str(e.value) and "NaN" in str(e.value), str(e.value)


def test_training_stream_names_the_file(broken_root):
    """The training stream attributes a decoder error to its file too."""
    for s, m in broken_root.splits["train"]:
        for v in range(20):
            p = broken_root.layout.render_path(s, m, v)
            p.write_bytes(_corrupt_idat(p.read_bytes()))
    loader = Loader(make_config(broken_root, batch_size=2), "train")
    with pytest.raises(DataError) as e:
        next(loader.iterate(3))
    assert "render_" in str(e.value) and str(broken_root.root) in str(e.value)
    assert "CRC" in str(e.value), str(e.value)
