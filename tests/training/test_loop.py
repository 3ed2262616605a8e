"""The shared training loop: learning, exact resume, NaN guard, checkpoints, the scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pytest

from training import checkpoint as ck
from training.config import load_args
from training.loop import TrainingError, train
from training.tasks import VLSM_TASK, VoxelTask

REPO = Path(__file__).resolve().parents[2]

#: A very small V-LSM so the loop can be exercised in seconds on 2 CPU cores.
TINY = {"im_h": 32, "im_w": 32, "nvox": 32, "im_channels": 4, "grid_channels": 4,
        "batch_size": 2, "im_batch": 2, "prefetch_threads": 2, "lr": 3e-3,
        "sum_iters": 1000, "ckpt_iters": 1000, "test_batch_size": 4, "val_batch_size": 4,
        "test_im_batch": 2, "val_im_batch": 2}


def tiny_args(root: Path, logdir: Path, **kw):
    return load_args(REPO / "args" / "args_vlsm.json",
                     {**TINY, "data_root": str(root), "split_file": str(root / "splits.json"),
                      "logdir": str(logdir), **kw})


@pytest.mark.slow
def test_tiny_config_loss_falls(tiny_root, tmp_path):
    res = train(tiny_args(tiny_root, tmp_path, niters=40), VLSM_TASK, progress=False)
    first, last = np.mean(res.losses[:5]), np.mean(res.losses[-10:])
    assert len(res.losses) == 40 and all(np.isfinite(res.losses))
    assert last < 0.6 * first, (first, last)
    assert (res.run_dir / "args.json").exists() and (res.run_dir / "finished.json").exists()
    assert [p.name for _, p in ck.list_checkpoints(res.run_dir)] == ["mvnet-40"]
    saved = json.loads((res.run_dir / "args.json").read_text())
    assert saved["im_channels"] == 4 and saved["niters"] == 40
    assert any(p.name.startswith("events.out.tfevents") for p in res.run_dir.iterdir())


@pytest.mark.slow
def test_resume_reproduces_the_uninterrupted_run(tiny_root, tmp_path):
    full = train(tiny_args(tiny_root, tmp_path / "a", niters=6, ckpt_iters=3), VLSM_TASK,
                 progress=False)
    first = train(tiny_args(tiny_root, tmp_path / "b", niters=3, ckpt_iters=3), VLSM_TASK,
                  progress=False)
    np.testing.assert_allclose(first.losses, full.losses[:3], rtol=1e-5)
    # a new process would do exactly this: restore mvnet-3 and go on to iteration 6
    resumed = train(tiny_args(tiny_root, tmp_path / "b", niters=6, ckpt_iters=3,
                              ckpt=str(first.checkpoint)), VLSM_TASK, progress=False)
    assert resumed.start == 3 and resumed.run_dir == first.run_dir
    np.testing.assert_allclose(resumed.losses, full.losses[3:], rtol=1e-5)
    # --log alone resumes from the run's latest checkpoint (here: already finished)
    again = train(tiny_args(tiny_root, tmp_path / "b", niters=6, log=str(first.run_dir)),
                  VLSM_TASK, progress=False)
    assert again.start == 6 and again.losses == []


@dataclass(frozen=True)
class _NaNTask(VoxelTask):
    def keras_loss(self, y_true, y_pred):
        return super().keras_loss(y_true, y_pred) * keras.ops.convert_to_tensor(float("nan"))


@pytest.mark.slow
def test_max_minutes_stops_with_a_checkpoint_and_resumes_on_the_numpy_loader(tiny_root,
                                                                             tmp_path):
    """A time-limited run (numpy loader, as on JAX-only machines) ends with a resumable
    checkpoint and no finished.json; resuming gives the uninterrupted run's losses."""
    full = train(tiny_args(tiny_root, tmp_path / "a", niters=4, loader="numpy"), VLSM_TASK,
                 progress=False)
    cut = train(tiny_args(tiny_root, tmp_path / "b", niters=4, loader="numpy",
                          max_minutes=1e-9), VLSM_TASK, progress=False)
    assert cut.stopped_early and cut.iteration == 1 and len(cut.losses) == 1
    assert cut.checkpoint is not None and cut.checkpoint.name == "mvnet-1"
    assert not (cut.run_dir / "finished.json").exists()
    rest = train(tiny_args(tiny_root, tmp_path / "b", niters=4, loader="numpy",
                           log=str(cut.run_dir)), VLSM_TASK, progress=False)
    assert rest.start == 1 and not rest.stopped_early
    assert (cut.run_dir / "finished.json").exists()
    np.testing.assert_allclose(cut.losses + rest.losses, full.losses, rtol=1e-5)


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_root, tmp_path):
    good = train(tiny_args(tiny_root, tmp_path, niters=2, ckpt_iters=2), VLSM_TASK,
                 progress=False)
    bad = _NaNTask("vlsm")
    with pytest.raises(TrainingError, match=r"loss is nan at iteration 3.*mvnet-2"):
        train(tiny_args(tiny_root, tmp_path, niters=10, ckpt_iters=1,
                        ckpt=str(good.checkpoint)), bad, progress=False)
    assert [p.name for _, p in ck.list_checkpoints(good.run_dir)] == ["mvnet-2"]


@pytest.mark.slow
def test_checkpoint_errors_name_checkpoint_and_model(tiny_root, tmp_path):
    res = train(tiny_args(tiny_root, tmp_path, niters=1), VLSM_TASK, progress=False)
    with pytest.raises(ck.CheckpointError, match=r"mvnet-999 not found.*mvnet-1"):
        ck.resolve_checkpoint("mvnet-999", res.run_dir)
    other = VLSM_TASK.build_model(tiny_args(tiny_root, tmp_path, grid_channels=8))
    with pytest.raises(ck.CheckpointError, match=r"mvnet-1 does not match the model VLSM"):
        ck.load_checkpoint(res.checkpoint, other)
    with pytest.raises(ck.CheckpointError, match="not found"):
        train(tiny_args(tiny_root, tmp_path, niters=2, ckpt=str(tmp_path / "nope")),
              VLSM_TASK, progress=False)


def test_checkpoint_write_is_atomic(tiny_root, tmp_path, monkeypatch):
    args = tiny_args(tiny_root, tmp_path)
    model = VLSM_TASK.build_model(args)
    first = ck.save_checkpoint(tmp_path / "run", 5, model)

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    opt = keras.optimizers.Adam()
    opt.build(model.trainable_variables)
    with pytest.raises(OSError, match="No space"):
        ck.save_checkpoint(tmp_path / "run", 10, model, opt)
    assert [p for _, p in ck.list_checkpoints(tmp_path / "run")] == [first]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["mvnet-5"]


def _run_script(*argv: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def script_flags(params: dict, root: Path, logdir: Path) -> list[str]:
    """Command-line flags for ``params`` on the data root ``root``, logging to ``logdir``."""
    flags = []
    for k, v in {**params, "data_root": str(root), "split_file": str(root / "splits.json"),
                 "logdir": str(logdir)}.items():
        flags += [f"--{k}", str(v)]
    return flags


@pytest.mark.slow
def test_scripts_train_validate_and_test_without_pythonpath(tiny_root, tmp_path):
    flags = script_flags(TINY, tiny_root, tmp_path / "log")
    r = _run_script("voxels/train_vlsm.py", "--argsjs", "args/args_vlsm.json", *flags,
                    "--niters", "4", "--ckpt_iters", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    run = next((tmp_path / "log").glob("*/train"))
    assert [p.name for _, p in ck.list_checkpoints(run)] == ["mvnet-2", "mvnet-4"]
    r = _run_script("voxels/val_vlsm.py", "--log", str(run), "--once")
    assert r.returncode == 0, r.stderr[-3000:]
    done = json.loads((run / "val_done.json").read_text())
    assert sorted(done) == ["mvnet-2", "mvnet-4"] and len(done["mvnet-4"]) == 2
    r = _run_script("voxels/test_vlsm.py", "--log", str(run), "--ckpt", "mvnet-4",
                    "--test_split_file", str(tiny_root / "splits.json"), "--save_preds", "1",
                    "--contact_sheet", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "LSM 1v" in r.stdout and "VH 2v" in r.stdout and "mean" in r.stdout
    name = f"mvnet-4_test_{tiny_root.name}-splits"  # named by split, data root, split file
    res = json.loads((run / f"test_{name}.json").read_text())
    assert res["num_models"] == 13 and len(res["results"]["thresh_0.4"]["lsm"]["mean"]) == 2
    assert (run / f"sheet_{name}.png").exists()
    assert list((run / f"preds_{name}").glob("*_2views.ply"))
    # errors are one clear line, not a traceback
    r = _run_script("voxels/test_vlsm.py", "--log", str(run), "--ckpt", "mvnet-7")
    assert r.returncode == 1 and "mvnet-7 not found" in r.stderr
    assert "Traceback" not in r.stderr
    r = _run_script("voxels/train_vlsm.py", "--argsjs", "args/args_vlsm.json", "--batchsize", "2")
    assert r.returncode == 2 and "batchsize" in r.stderr and "batch_size" in r.stderr


# ---------------------------------------------------------------------------------------------
# Precision
# ---------------------------------------------------------------------------------------------
def test_bfloat16_training_tracks_float32_and_resumes_in_float32(tiny_root, tmp_path):
    """The same tiny run in float32 and bfloat16: both learn, their losses stay close step by
    step; a bfloat16 checkpoint is an ordinary one (a float32 run resumes it)."""
    from training.precision import cpu_flags

    if keras.backend.backend() == "tensorflow" and not cpu_flags() & {"avx512_bf16",
                                                                        "amx_bf16"}:
        pytest.skip("no bfloat16 instructions on this CPU: TensorFlow's bfloat16 "
                    "convolutions fall back to a slow path")
    runs = {p: train(tiny_args(tiny_root, tmp_path / p, niters=30, ckpt_iters=30,
                               precision=p), VLSM_TASK, progress=False)
            for p in ("float32", "bfloat16")}
    f32, b16 = (np.asarray(runs[p].losses) for p in ("float32", "bfloat16"))
    assert np.mean(b16[-10:]) < 0.6 * np.mean(b16[:5])
    assert not np.array_equal(f32, b16)  # it really computed in bfloat16
    np.testing.assert_allclose(b16, f32, rtol=0.1)
    resumed = train(tiny_args(tiny_root, tmp_path / "bfloat16", niters=32, precision="float32",
                              log=str(runs["bfloat16"].run_dir)), VLSM_TASK, progress=False)
    assert resumed.start == 30 and len(resumed.losses) == 2
    assert abs(resumed.losses[0] - b16[-1]) < 0.5 * b16[0]


def test_float16_scales_the_loss_and_saves_plain_adam(tiny_root, tmp_path):
    from training.loop import make_optimizer, saved_optimizer

    opt16 = make_optimizer(tiny_args(tiny_root, tmp_path, precision="float16"))
    assert isinstance(opt16, keras.optimizers.LossScaleOptimizer)
    assert isinstance(saved_optimizer(opt16), keras.optimizers.Adam)
    opt32 = make_optimizer(tiny_args(tiny_root, tmp_path, precision="float32"))
    assert saved_optimizer(opt32) is opt32
    model = VLSM_TASK.build_model(tiny_args(tiny_root, tmp_path))
    for opt in (opt16, opt32):
        opt.build(model.trainable_variables)
    assert len(saved_optimizer(opt16).variables) == len(opt32.variables)


def test_eval_scripts_compute_in_float32_unless_asked(tmp_path):
    from training.cli import _eval_cli

    run = tmp_path / "run"
    run.mkdir()
    (run / "args.json").write_text(json.dumps({"precision": "bfloat16"}))
    _, args, _, _ = _eval_cli("vlsm", ["--log", str(run)], "Test", "test", None)
    assert args.precision == "float32"  # the run trained in bfloat16; tables stay float32
    _, args, _, _ = _eval_cli("vlsm", ["--log", str(run), "--precision", "bfloat16"], "Test",
                              "test", None)
    assert args.precision == "bfloat16"
