"""The original release's models: conversion of TF1 checkpoints, equivalence by value with the
original graph (golden data saved from it), the converter's error paths, and the scripts taking
a release folder directly.

The golden folders (``../shared/reference/release_golden/{vlsm,dlsm}_release``, see their
README) were written by the original release's code run under ``tf.compat.v1``: a TF1
checkpoint after 3 Adam steps in the release's folder layout, and the original graph's
intermediates, outputs, loss and next three training losses on fixed inputs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.training.test_loop import REPO, _run_script
from training.release import (
    ReleaseError,
    convert_release,
    is_release_folder,
    read_tf1_checkpoint,
    redirect_argv,
    resolve_release_checkpoint,
)

GOLDEN = REPO.parent / "shared" / "reference" / "release_golden"
pytestmark = pytest.mark.skipif(not (GOLDEN / "vlsm_release" / "golden.npz").is_file(),
                                reason=f"golden data not found in {GOLDEN}")
QUANTITIES = {
    "vlsm": ("im_feats_s4", "cost_grid_s4", "pool_grid_s4", "pred_vox", "loss", "train_losses"),
    "dlsm": ("im_feats_s4", "cost_grid_s4", "pool_grid_s4", "proj_vox_s4", "pred_vox",
             "depth_out", "loss", "train_losses"),
}


#: Golden folders checked on this backend. On JAX (CPU) the D-LSM's eager forward and its
#: compiled training step take minutes; the V-LSM shows the converted folder works there.
GOLDEN_KINDS = ("vlsm",) if keras.backend.backend() == "jax" else ("vlsm", "dlsm")


@pytest.fixture(scope="module")
def golden_checks(tmp_path_factory):
    """``{kind: {quantity: Check}}`` of the golden folders (converted, run, trained 3 steps)."""
    from training.golden import compare_golden

    out = {}
    for kind in GOLDEN_KINDS:
        run = tmp_path_factory.mktemp(f"golden_{kind}") / "run"
        out[kind] = {c.name: c for c in compare_golden(GOLDEN / f"{kind}_release", run)}
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kind,quantity", [(k, q) for k, qs in QUANTITIES.items() for q in qs])
def test_converted_release_model_matches_the_original_graph(golden_checks, kind, quantity):
    """The converted model on the golden inputs, against the original graph's values.

    Every intermediate and output within 1e-4 of the largest golden value; D-LSM depth maps
    off by more than 1e-4 of the depth range on fewer than 0.5% of pixels; the loss and the
    losses of the next three Adam steps (from the converted optimizer state) within 1e-4
    relative."""
    if kind not in GOLDEN_KINDS:
        pytest.skip(f"{kind} golden check runs under the TensorFlow backend (minutes on JAX CPU)")
    check = golden_checks[kind][quantity]
    assert check.ok, f"{kind} {quantity}: {check.value:.3g} > {check.tol:g} ({check.detail})"


@pytest.mark.slow
def test_golden_checks_cover_every_golden_array(golden_checks):
    for kind in GOLDEN_KINDS:
        with np.load(GOLDEN / f"{kind}_release" / "golden.npz") as z:
            outputs = set(z.files) - {"ims", "K", "R", "gt_vox", "gt_depth", "checkpoint_step"}
        assert outputs == set(golden_checks[kind])


# --------------------------------------------------------------------------------------------
# The conversion itself
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def converted_vlsm(tmp_path_factory):
    run = tmp_path_factory.mktemp("conv") / "vlsm"
    return convert_release(GOLDEN / "vlsm_release" / "train", "mvnet-3", run)


def test_conversion_writes_a_run_folder_with_weights_and_adam_state(converted_vlsm):
    from training.checkpoint import latest_checkpoint
    from training.config import load_args

    run = converted_vlsm.run_dir
    assert latest_checkpoint(run) == run / "mvnet-3"
    state = json.loads((run / "mvnet-3" / "state.json").read_text())
    assert state["iteration"] == 3 and state["task"] == "vlsm"
    args = load_args(run / "args.json")
    release = json.loads((GOLDEN / "vlsm_release" / "train" / "args.json").read_text())
    for key in ("batch_size", "im_batch", "lr", "beta1", "niters", "nvox", "rnn", "norm"):
        assert getattr(args, key) == release[key], key
    assert args.loss == "ce"
    assert converted_vlsm.with_optimizer
    assert any("logdir" in line for line in converted_vlsm.report)
    # the Adam moments and the iteration are the TF1 slots and global_step
    arrays = read_tf1_checkpoint(GOLDEN / "vlsm_release" / "train" / "mvnet-3")
    with np.load(run / "mvnet-3" / "optimizer.npz") as z:
        saved = [z[k] for k in sorted(z.files)]
    assert int(saved[0]) == int(arrays["global_step"]) == 3
    m = arrays["MVNet/rnn/ConvGRUCell/Gates/kernel/Adam"]
    v = arrays["MVNet/rnn/ConvGRUCell/Gates/kernel/Adam_1"]
    assert any(a.shape == m.shape and np.array_equal(a, m) for a in saved)
    assert any(a.shape == v.shape and np.array_equal(a, v) for a in saved)


def test_release_adam_defaults():
    from training.config import load_args
    from training.loop import make_optimizer

    opt = make_optimizer(load_args(REPO / "args" / "args_vlsm.json"))
    assert (opt.epsilon, opt.beta_1, opt.beta_2) == (1e-8, 0.9, 0.999)


def _copy_release(tmp_path: Path, kind: str = "vlsm") -> Path:
    dst = tmp_path / "models_lsm_v1" / f"{kind}-release" / "train"
    shutil.copytree(GOLDEN / f"{kind}_release" / "train", dst)
    return dst


def _save_tf1(prefix: Path, arrays: dict[str, np.ndarray]) -> None:
    import tensorflow as tf

    names = sorted(arrays)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(arrays[n]) for n in names])


def _tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_error_not_a_tf1_checkpoint(tmp_path):
    rel = _copy_release(tmp_path)
    (rel / "mvnet-7.index").write_bytes(b"not a checkpoint")
    (rel / "mvnet-7.data-00000-of-00001").write_bytes(b"\0" * 64)
    with pytest.raises(ReleaseError, match=r"mvnet-7\.index: not a readable TF1 checkpoint"):
        convert_release(rel, "mvnet-7", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_error_missing_checkpoint_lists_those_present(tmp_path):
    rel = _copy_release(tmp_path)
    with pytest.raises(ReleaseError, match=r"checkpoint mvnet-100000 not found.*has mvnet-3"):
        resolve_release_checkpoint(rel, "mvnet-100000")
    assert resolve_release_checkpoint(rel, None) == rel / "mvnet-3"  # from the index file
    assert resolve_release_checkpoint(rel, "3") == rel / "mvnet-3"


def test_error_wrong_model_kind_names_the_file(tmp_path):
    rel = _copy_release(tmp_path, "dlsm")
    with pytest.raises(ReleaseError, match=r"mvnet-3\.index is a D-LSM checkpoint, not a V-LSM"):
        convert_release(rel, None, tmp_path / "out", "vlsm")


def test_error_missing_variables_are_listed(tmp_path):
    rel = _copy_release(tmp_path)
    arrays = read_tf1_checkpoint(rel / "mvnet-3")
    gone = ["MVNet/Grid_Unet/out/bias", "MVNet/ImNet_UNet/conv1/weights"]
    _save_tf1(rel / "mvnet-4", {k: v for k, v in arrays.items() if k not in gone})
    with pytest.raises(ReleaseError) as e:
        convert_release(rel, "mvnet-4", tmp_path / "out")
    msg = str(e.value)
    assert "mvnet-4.index" in msg and "2 model variables missing" in msg
    assert all(name in msg for name in gone)
    assert not (tmp_path / "out").exists()


def test_error_wrong_shape_names_variable_and_both_shapes(tmp_path):
    rel = _copy_release(tmp_path)
    arrays = read_tf1_checkpoint(rel / "mvnet-3")
    arrays["MVNet/ImNet_UNet/conv2/weights"] = arrays["MVNet/ImNet_UNet/conv2/weights"][:, :, :, :8]
    _save_tf1(rel / "mvnet-5", arrays)
    with pytest.raises(ReleaseError, match=r"MVNet/ImNet_UNet/conv2/weights: checkpoint "
                                           r"\[3, 3, 32, 8\], model \[3, 3, 32, 64\]"):
        convert_release(rel, "mvnet-5", tmp_path / "out")


def test_error_args_file_missing_or_invalid(tmp_path):
    rel = _copy_release(tmp_path)
    args = json.loads((rel / "args.json").read_text())
    (rel / "args.json").write_text(json.dumps({**args, "rnn": "transformer"}))
    with pytest.raises(ReleaseError, match=r"args\.json: .*'rnn' must be one of"):
        convert_release(rel, None, tmp_path / "out")
    (rel / "args.json").unlink()
    with pytest.raises(ReleaseError, match=r"args\.json: not found"):
        convert_release(rel, None, tmp_path / "out")


def test_unknown_release_arguments_are_reported(tmp_path):
    rel = _copy_release(tmp_path)
    args = json.loads((rel / "args.json").read_text())
    (rel / "args.json").write_text(json.dumps({**args, "vis_every": 7}))
    conv = convert_release(rel, None, tmp_path / "out")
    assert any("vis_every" in line and "ignored" in line for line in conv.report)


def test_error_out_folder_is_never_overwritten(tmp_path, converted_vlsm):
    before = _tree_digest(converted_vlsm.run_dir)
    with pytest.raises(ReleaseError, match="exists and is not empty"):
        convert_release(GOLDEN / "vlsm_release" / "train", None, converted_vlsm.run_dir)
    assert _tree_digest(converted_vlsm.run_dir) == before


def test_converter_script_error_is_one_line(tmp_path):
    r = _run_script("scripts/convert_release.py", "--log", str(GOLDEN / "dlsm_release" / "train"),
                    "--kind", "vlsm", "--out", str(tmp_path / "out"))
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if "ERROR" in ln]
    assert len(lines) == 1 and "D-LSM checkpoint" in lines[0], r.stderr[-2000:]
    assert "Traceback" not in r.stderr


# --------------------------------------------------------------------------------------------
# The scripts take a release folder
# --------------------------------------------------------------------------------------------
def test_redirect_leaves_ordinary_arguments_alone(tmp_path, converted_vlsm):
    argv = ["--log", str(converted_vlsm.run_dir), "--ckpt", "mvnet-3"]
    assert redirect_argv(argv, "vlsm", "eval") == argv
    assert not is_release_folder(converted_vlsm.run_dir)


@pytest.mark.slow
def test_test_script_converts_a_release_folder_on_the_fly(tmp_path, fake_data_root):
    rel = _copy_release(tmp_path)
    before = _tree_digest(rel)
    flags = ["--log", str(rel), "--ckpt", "mvnet-3", "--logdir", str(tmp_path / "log"),
             "--data_root", str(fake_data_root.root), "--test_split_file",
             str(fake_data_root.split_file), "--test_batch_size", "2", "--no_hull"]
    r = _run_script("voxels/test_vlsm.py", *flags)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "converted the release checkpoint" in r.stderr
    assert _tree_digest(rel) == before  # nothing written into the release folder
    (run,) = (tmp_path / "log" / "release").glob("vlsm-release_*/train")
    assert (run / "mvnet-3" / "model.weights.h5").is_file()
    assert list(run.glob("test_mvnet-3_*.json"))  # results beside the conversion
    r = _run_script("voxels/test_vlsm.py", *flags)  # the second run reuses the conversion
    assert r.returncode == 0 and "using the conversion" in r.stderr, r.stderr[-3000:]
    assert _tree_digest(rel) == before
    r = _run_script("depth/test_dlsm.py", *flags[:-1])
    assert r.returncode == 1 and "is a V-LSM checkpoint, not a D-LSM" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_train_script_continues_a_release_checkpoint_in_a_new_run(tmp_path, fake_data_root):
    rel = _copy_release(tmp_path)
    before = _tree_digest(rel)
    r = _run_script("voxels/train_vlsm.py", "--log", str(rel), "--logdir", str(tmp_path / "log"),
                    "--data_root", str(fake_data_root.root), "--split_file",
                    str(fake_data_root.split_file), "--batch_size", "1", "--im_batch", "2",
                    "--niters", "5", "--sum_iters", "1000")
    assert r.returncode == 0, r.stderr[-3000:]
    assert _tree_digest(rel) == before
    (run,) = [p for p in (tmp_path / "log").glob("*/train") if p.parent.name != "release"]
    assert "iteration 3" in r.stderr
    state = json.loads((run / "mvnet-5" / "state.json").read_text())
    assert state["iteration"] == 5
    assert (run / "mvnet-3" / "state.json").is_file()  # the converted starting point
