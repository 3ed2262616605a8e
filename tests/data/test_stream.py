"""Tests of the TensorFlow-free numpy loader (data/loaders/numpy_loader.py) against the tf.data
loader, and of the loader factory."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from data.examples import load_example, resize_views
from data.io import DataError
from data.layout import DataLayout
from data.loaders import LoaderConfig, LoaderState, NumpyLoader, make_loader
from data.loaders.tf_loader import Loader
from tests.conftest import FakeRoot
from tests.data.test_loader import make_config
from training.config import load_args

REPO = Path(__file__).resolve().parents[2]


def tf_batches(loader: Loader) -> list[dict[str, np.ndarray]]:
    out = []
    for batch in loader.dataset(0):
        b = {k: v.numpy() for k, v in batch.items()}
        b["synset"] = b["synset"].astype(str)
        b["model_id"] = b["model_id"].astype(str)
        out.append(b)
    return out


@pytest.mark.parametrize("hw", [None, (32, 48)])
def test_eval_batches_match_tf_loader(fake_data_root: FakeRoot, hw):
    """Same models, order, views, K, voxels and depth; images to float rounding."""
    over = {"im_h": hw[0], "im_w": hw[1]} if hw else {}
    config = make_config(fake_data_root, **over)
    # the train split (6 models) in evaluation mode: batches of 4 and 2
    ref = tf_batches(Loader(config, "train", training=False, batch_size=4, views=3))
    got = list(NumpyLoader(config, "train", training=False, batch_size=4, views=3).iterate())
    assert len(got) == len(ref) >= 2
    assert len(got[-1]["images"]) == len(ref[-1]["images"])  # the last, smaller batch
    for g, r in zip(got, ref, strict=True):
        assert set(g) == set(r)
        for k in ("synset", "model_id", "view_ids", "voxels", "extrinsic"):
            np.testing.assert_array_equal(g[k], r[k], err_msg=k)
        np.testing.assert_allclose(g["K"], r["K"], rtol=1e-6, err_msg="K")
        np.testing.assert_array_equal(g["depth"], r["depth"])
        assert g["images"].dtype == np.float32 and g["images"].shape == r["images"].shape
        np.testing.assert_allclose(g["images"], r["images"], atol=2e-3)


def test_train_stream_views_epochs_and_resume(fake_data_root: FakeRoot):
    n = len(fake_data_root.splits["train"])
    config = make_config(fake_data_root, batch_size=2, im_batch=3, rng_seed=5)
    loader = NumpyLoader(config, "train", with_depth=False)
    it = loader.iterate()
    first = [next(it) for _ in range(n)]  # two epochs of n / 2 batches
    assert "depth" not in first[0]
    models = [(s, m) for b in first for s, m in zip(b["synset"], b["model_id"], strict=True)]
    epoch1, epoch2 = models[:n], models[n:]
    assert sorted(epoch1) == sorted(epoch2) == sorted(loader.models)  # each epoch visits all
    assert epoch1 != epoch2  # in a fresh order
    for b in first:
        assert all(len(set(v)) == 3 for v in b["view_ids"])
    # resuming at step k (an int or a saved state) yields what continuing would have yielded
    k = 3
    for start in (k, loader.state(k), LoaderState.from_dict(loader.state(k).to_dict())):
        again = next(NumpyLoader(config, "train", with_depth=False).iterate(start))
        for key in ("images", "view_ids", "K", "voxels"):
            np.testing.assert_array_equal(again[key], first[k][key])
    # another seed gives another stream
    other = next(NumpyLoader(config.replace(rng_seed=6), "train").iterate())
    assert not np.array_equal(other["view_ids"], first[0]["view_ids"])


def test_resize_views_against_numpy_reference():
    """2x box-like downsampling: PIL's antialiased bilinear is a [1, 3, 3, 1] / 8 filter."""
    rng = np.random.default_rng(0)
    im = rng.random((2, 8, 12, 3), dtype=np.float32)
    depth = rng.random((2, 8, 12, 1), dtype=np.float32)
    K = np.tile(np.array([[10.0, 0, 6], [0, 10, 4], [0, 0, 1]], np.float32), (2, 1, 1))
    out, K2, d2 = resize_views(im, K, (4, 6), depth)
    w = np.array([1, 3, 3, 1], np.float64) / 8
    pad = np.pad(im.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    ref = np.zeros((2, 4, 6, 3))
    for i in range(4):
        for j in range(6):
            patch = pad[:, 2 * i:2 * i + 4, 2 * j:2 * j + 4]
            ref[:, i, j] = np.einsum("a,b,vabc->vc", w, w, patch)
    # edge rows/cols: PIL renormalises the clipped filter instead of repeating the edge
    np.testing.assert_allclose(out[:, 1:-1, 1:-1], ref[:, 1:-1, 1:-1], atol=1e-5)
    np.testing.assert_array_equal(d2, depth[:, 1::2, 1::2])  # pixel-centre nearest
    np.testing.assert_allclose(K2[:, 0], K[:, 0] * 0.5)
    np.testing.assert_allclose(K2[:, 1], K[:, 1] * 0.5)
    np.testing.assert_array_equal(K2[:, 2], K[:, 2])
    same, K3, d3 = resize_views(im, K, (8, 12), depth)
    np.testing.assert_array_equal(same, im)
    assert d3 is depth


def test_missing_and_corrupt_files_are_named(fake_data_root: FakeRoot, tmp_path: Path):
    root = tmp_path / "data"
    shutil.copytree(fake_data_root.root, root)
    broken = FakeRoot(root=root, split_file=root / "splits.json", splits=fake_data_root.splits,
                      boxes=fake_data_root.boxes)
    config = make_config(broken, test_im_batch=20)
    loader = NumpyLoader(config, "test")
    s, m = loader.models[1]
    bad = loader.layout.render_path(s, m, 7)
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(DataError, match=str(bad)):
        list(loader.iterate())
    bad.unlink()
    with pytest.raises(DataError, match=str(bad)):
        list(NumpyLoader(config, "test").iterate())


def test_make_loader_choice(fake_data_root: FakeRoot):
    config = make_config(fake_data_root)
    assert isinstance(make_loader(config.replace(kind="numpy"), "val"), NumpyLoader)
    assert isinstance(make_loader(config.replace(kind="tf"), "val"), Loader)
    assert isinstance(make_loader(config, "val"), Loader)  # auto, TensorFlow installed here


def test_loader_config_from_args(fake_data_root: FakeRoot):
    """The config holds the run arguments' loader keys; a loader refuses the arguments
    themselves."""
    args = load_args(None, {"data_root": str(fake_data_root.root), "loader": "numpy",
                            "val_split_file": "splits_small", "test_batch_size": 3})
    config = LoaderConfig.from_args(args)
    assert config.kind == "numpy" and config.data_root == str(fake_data_root.root)
    for f in dataclasses.fields(config):
        if f.name not in ("kind", "num_shards", "shard_index"):
            assert getattr(config, f.name) == getattr(args, f.name), f.name
    assert (config.num_shards, config.shard_index) == (1, 0)  # one process reads it all
    for split in ("train", "val", "test"):
        assert config.split_file_for(split) == args.split_file_for(split)
    assert config.batch_for("test", training=False) == (3, args.test_im_batch)
    assert config.batch_for("val", training=True) == (args.batch_size, args.im_batch)
    with pytest.raises(TypeError, match="LoaderConfig.from_args"):
        NumpyLoader(args, "val")
    with pytest.raises(ValueError, match="kind"):
        config.replace(kind="torch")


def test_stream_and_training_modules_import_without_tensorflow(fake_data_root: FakeRoot):
    """What a JAX-only GPU machine runs: no module on its path may import TensorFlow."""
    code = (
        "import sys; sys.modules['tensorflow'] = None\n"  # any `import tensorflow` now fails
        "import importlib.util as u; u.find_spec = (lambda f: lambda n, *a: None if n == "
        "'tensorflow' else f(n, *a))(u.find_spec)\n"
        "import os; os.environ['KERAS_BACKEND'] = 'jax'\n"
        "from training.config import load_args\n"
        "from data.loaders import LoaderConfig, NumpyLoader, make_loader\n"
        "import training.loop, training.evaluate, training.cli, training.summaries\n"
        f"args = load_args(None, {{'data_root': {str(fake_data_root.root)!r}, "
        f"'split_file': {str(fake_data_root.split_file)!r}}})\n"
        "loader = make_loader(LoaderConfig.from_args(args), 'val')\n"
        "assert isinstance(loader, NumpyLoader), loader\n"
        "b = next(loader.iterate()); print(b['images'].shape)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


# --------------------------------------------------------------------------------------------
# Sizes and validation of the numpy path (shared by the tf.data loader's error diagnosis)
# --------------------------------------------------------------------------------------------
def _small_root(root: Path, sizes: list[int], depth_size: int | None = None) -> DataLayout:
    """One model ("s"/"m") with one view per entry of ``sizes`` (square renders of that size)."""
    from data.io import write_camera, write_depth, write_render, write_voxels
    from geometry.camera import intrinsics, look_at

    layout = DataLayout(root)
    for v, n in enumerate(sizes):
        write_render(layout.render_path("s", "m", v), np.full((n, n, 4), 255, np.uint8))
        write_depth(layout.depth_path("s", "m", v), np.full((depth_size or n,) * 2, 2.0))
        write_camera(layout.camera_path("s", "m", v), intrinsics(n), look_at(10.0 * v, 5.0))
    write_voxels(layout.voxel_path("s", "m", 32), np.ones((32, 32, 32), np.uint8))
    return layout


def test_load_example_checks_render_sizes(tmp_path: Path):
    layout = _small_root(tmp_path, [64, 64])
    ex = load_example(layout, "s", "m", [0, 1], 32, size=None)  # any size, the same for all
    assert ex["images"].shape == (2, 64, 64, 3) and ex["depth"].shape == (2, 64, 64, 1)
    with pytest.raises(DataError, match=rf"render {layout.render_path('s', 'm', 0)} is 64x64 "
                                        r"pixels \(width x height\), expected 224x224"):
        load_example(layout, "s", "m", [0, 1], 32)  # the loaders' default: the release size
    mixed = _small_root(tmp_path / "mixed", [64, 48])
    with pytest.raises(DataError, match=rf"{mixed.render_path('s', 'm', 1)} is 48x48"):
        load_example(mixed, "s", "m", [0, 1], 32, size=None)
    bad_depth = _small_root(tmp_path / "depth", [64], depth_size=32)
    with pytest.raises(DataError, match=rf"{bad_depth.depth_path('s', 'm', 0)} is 32x32"):
        load_example(bad_depth, "s", "m", [0], 32, size=None)


def test_find_bad_file_names_the_first_bad_file(fake_data_root: FakeRoot, tmp_path: Path):
    root = tmp_path / "data"
    shutil.copytree(fake_data_root.root, root)
    broken = FakeRoot(root=root, split_file=root / "splits.json", splits=fake_data_root.splits,
                      boxes=fake_data_root.boxes)
    loader = NumpyLoader(make_config(broken), "test", with_depth=False)
    specs = [(0, [0, 1]), (1, [2, 3])]
    assert loader.find_bad_file(specs) is None
    s, m = loader.models[1]
    bad = loader.layout.camera_path(s, m, 3)
    scipy.io.savemat(bad, {"K": np.zeros((3, 3)), "extrinsic": np.eye(4)})
    err = loader.find_bad_file(specs)
    assert isinstance(err, DataError) and str(err) == f"camera {bad}: K is singular (all zeros)"
    loader.layout.depth_path(s, m, 2).write_bytes(b"")  # not read: with_depth=False
    assert str(loader.find_bad_file(specs)) == str(err)
    with pytest.raises(DataError, match=str(bad)):  # the loader raises the same
        list(NumpyLoader(make_config(broken), "test", batch_size=2, views=20).iterate())
