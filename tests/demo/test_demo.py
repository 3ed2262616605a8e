"""The demo notebooks' helpers (demo/): finding data, reading views, own views; and the
package's arrows (it runs without TensorFlow; training never imports it)."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import demo
import demo.datasets
from data.examples import resize_views, split_models

REPO = Path(__file__).resolve().parents[2]


def test_demo_data_helpers(tiny_root):
    root, split = demo.find_data(tiny_root, build=False)
    assert root == Path(tiny_root)
    assert split.name in ("splits_tiny.json", "splits.json")
    picked = demo.sample_models(split, 3)
    assert len(picked) == 3 and len({s for s, _ in picked}) == 3
    everything = demo.sample_models(split, 100)  # more than there are: all, each once
    assert sorted(everything) == sorted(split_models(split, "test"))
    with pytest.raises(FileNotFoundError):
        demo.find_data(Path(tiny_root) / "nope")


def test_find_data_builds_tiny_when_there_is_no_data(tiny_root, tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd, cwd, check):  # stands for `python -m data.build synth --size tiny`
        calls.append(cmd)
        (Path(cwd) / "datasets").mkdir()
        (Path(cwd) / "datasets" / "tiny").symlink_to(tiny_root)

    monkeypatch.setattr(demo.datasets, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(demo.datasets.subprocess, "run", fake_run)
    with pytest.raises(FileNotFoundError, match="no data"):
        demo.find_data(build=False)
    root, split = demo.find_data()
    assert calls and calls[0][1:5] == ["-m", "data.build", "synth", "--size"]
    assert calls[0][5] == "tiny"
    assert root == tmp_path / "datasets" / "tiny" and split.is_file()


def test_own_views_any_size_and_camera_checks(tmp_path):
    K = np.array([[420.0, 0, 112], [0, 420, 112], [0, 0, 1]])
    E = np.array([[0.0, 1, 0, 0], [0, 0, -1, 0], [-1, 0, 0, 2]])  # az 0, el 0, distance 2
    rgba = np.zeros((90, 120, 4), np.uint8)
    rgba[30:60, 40:80] = (255, 0, 0, 255)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    Image.fromarray(rgba[..., :3]).convert("L").save(tmp_path / "b.png")
    Kf = K * np.array([[120 / 224], [90 / 224], [1]])
    views = demo.prepare_own_views([tmp_path / "a.png", tmp_path / "b.png"], [Kf, Kf],
                                   [E, np.vstack([E, [0, 0, 0, 1]])], (64, 32))
    assert views["images"].shape == (2, 64, 32, 3)
    assert views["images"][0, 0, 0].tolist() == [1.0, 1.0, 1.0]  # transparent -> white
    np.testing.assert_allclose(views["K"][0], K * np.array([[32 / 224], [64 / 224], [1]]),
                               rtol=1e-6)
    assert views["extrinsic"].shape == (2, 3, 4)
    cam_to_world = np.hstack([E[:, :3].T, (-E[:, :3].T @ E[:, 3])[:, None]])
    with pytest.raises(ValueError, match="behind the camera"):
        demo.prepare_own_views([tmp_path / "a.png"], [Kf], [cam_to_world], (64, 64))
    with pytest.raises(ValueError, match="one K and one extrinsic per image"):
        demo.prepare_own_views([tmp_path / "a.png"], [Kf, Kf], [E], (64, 64))


def test_resize_depth_is_the_loaders_nearest_neighbour():
    rng = np.random.default_rng(0)
    depth = rng.uniform(1.5, 2.5, (2, 224, 224, 1)).astype(np.float32)
    depth[:, :50] = 10.0
    K = np.tile(np.eye(3, dtype=np.float32), (2, 1, 1))
    for size in [(112, 112), (64, 96), (100, 150), (224, 224)]:
        _, _, want = resize_views(np.zeros((2, 224, 224, 3), np.float32), K, size, depth)
        got = demo.resize_depth(depth, size)
        assert got.dtype == np.float32 and got.shape == (2, *size)
        np.testing.assert_array_equal(got, want[..., 0])
        np.testing.assert_array_equal(demo.resize_depth(depth[..., 0], size), got)
        if importlib.util.find_spec("tensorflow") is not None:  # tf.image.resize's rule
            import tensorflow as tf

            ref = tf.image.resize(depth, size, method="nearest").numpy()[..., 0]
            np.testing.assert_array_equal(got, ref)


def test_training_never_imports_demo():
    for path in sorted((REPO / "training").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "demo" or n.startswith("demo.") for n in names), path


def test_demo_imports_without_tensorflow_on_jax():
    """What a JAX-only machine runs: `import demo` (and vis) with TensorFlow not importable."""
    code = (
        "import sys; sys.modules['tensorflow'] = None\n"  # any `import tensorflow` now fails
        "import os; os.environ['KERAS_BACKEND'] = 'jax'\n"
        "import demo, demo.datasets, demo.model, demo.tables, demo.own_views, demo.figures\n"
        "import vis.figures, vis.interactive, vis.meshes, vis.pictures\n"
        "import keras; assert keras.backend.backend() == 'jax'\n"
        "print(demo.format_table({'a': [1.0, 2.0]}, ['x', 'y']))\n"
        "print(demo.voxel_iou_by_views(__import__('numpy').ones((2, 4, 4, 4)), "
        "__import__('numpy').ones((4, 4, 4))))\n"
        "assert sys.modules['tensorflow'] is None\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "[1. 1.]" in r.stdout


def test_model_kind_reads_the_run_without_building_it(tmp_path):
    """model_kind tells a V-LSM from a D-LSM by the checkpoint's state.json (task), falls back
    on the loss for runs older than that key, and names the folder that is not a run."""
    import json

    from demo.model import model_kind

    assert model_kind("pretrained/vlsm_cpu") == "vlsm"
    assert model_kind("pretrained/dlsm_mask_cpu") == "dlsm"
    for loss, task, want in (("ce", "dlsm", "dlsm"), ("l1", None, "dlsm"), ("ce", None, "vlsm")):
        run = tmp_path / f"{loss}_{task}"
        ckpt = run / "mvnet-10"
        ckpt.mkdir(parents=True)
        (run / "args.json").write_text(json.dumps({"loss": loss}))
        (ckpt / "state.json").write_text(json.dumps({"task": task} if task else {}))
        (ckpt / "model.weights.h5").write_bytes(b"")
        assert model_kind(run, "mvnet-10") == want, (loss, task)
    with pytest.raises(FileNotFoundError, match="no args.json"):
        model_kind(tmp_path)
