"""Reliability of runs: no run is lost, overwritten or resumed from a broken checkpoint.

Each test here failed on the loop before it got checksums, run-folder resolution, the run lock,
the weight guard, signal handling and the failed-start clean-up.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.training.test_loop import REPO, TINY, script_flags, tiny_args
from training import checkpoint as ck
from training.config import parse_cli
from training.loop import DivergenceWatch, TrainingError, train
from training.runs import RunError, RunLock, find_run
from training.tasks import VLSM_TASK


def _run(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, *argv], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _weights(ckpt: Path) -> list[np.ndarray]:
    model = VLSM_TASK.build_model(tiny_args(Path("."), Path(".")))
    ck.load_checkpoint(ckpt, model)
    return [np.asarray(keras.ops.convert_to_numpy(v.value)) for v in model.weights]


@pytest.fixture
def two_ckpt_run(tiny_vlsm_run):
    """The session's finished tiny run with checkpoints mvnet-2 and mvnet-4 (copied per
    test)."""
    return tiny_vlsm_run


@pytest.fixture
def run_copy(two_ckpt_run, tmp_path):
    import shutil

    dst = tmp_path / "log" / "2026-01-01_000000" / "train"
    shutil.copytree(two_ckpt_run, dst)
    (dst / "finished.json").unlink()
    return dst


# ---------------------------------------------------------------------------------------------
# Checkpoints: checksums, fall back to the newest intact one, never start over
# ---------------------------------------------------------------------------------------------
def test_checkpoints_record_and_verify_checksums(run_copy):
    state = json.loads((run_copy / "mvnet-4" / "state.json").read_text())
    assert set(state["files"]) == {"model.weights.h5", "optimizer.npz"}
    assert ck.checkpoint_problem(run_copy / "mvnet-4") is None
    w = run_copy / "mvnet-4" / "model.weights.h5"
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit in the middle of the weights
    w.write_bytes(bytes(data))
    assert "sha256" in ck.checkpoint_problem(run_copy / "mvnet-4")
    model = VLSM_TASK.build_model(tiny_args(Path("."), Path(".")))
    with pytest.raises(ck.CheckpointError, match=r"mvnet-4 is broken: model.weights.h5 does "
                       r"not match its sha256"):
        ck.load_checkpoint(run_copy / "mvnet-4", model)
    w.write_bytes(bytes(data[:1000]))
    assert "1000 bytes" in ck.checkpoint_problem(run_copy / "mvnet-4")
    w.unlink()
    assert ck.checkpoint_problem(run_copy / "mvnet-4") == "model.weights.h5 is missing"


@pytest.mark.slow
def test_resume_skips_a_broken_checkpoint_and_continues_from_the_newest_intact(
        tiny_root, run_copy, two_ckpt_run, caplog):
    w = run_copy / "mvnet-4" / "model.weights.h5"
    w.write_bytes(w.read_bytes()[:-7])  # truncated
    before = _files(run_copy / "mvnet-4")
    res = train(tiny_args(tiny_root, run_copy.parent, niters=4, ckpt_iters=2,
                          log=str(run_copy)), VLSM_TASK, progress=False)
    assert res.start == 2 and res.iteration == 4
    assert "skipping broken checkpoint" in caplog.text and "mvnet-4" in caplog.text
    # the broken one was left alone until the resumed run wrote its own mvnet-4 in its place
    assert ck.checkpoint_problem(run_copy / "mvnet-4") is None
    assert _files(run_copy / "mvnet-4") != before
    # and the resumed run reproduces the uninterrupted one exactly
    for a, b in zip(_weights(run_copy / "mvnet-4"), _weights(two_ckpt_run / "mvnet-4"),
                    strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_broken_checkpoint_asked_for_by_name_is_an_error(tiny_root, run_copy):
    (run_copy / "mvnet-2" / "optimizer.npz").write_bytes(b"\0" * 64)
    with pytest.raises(ck.CheckpointError, match=r"mvnet-2 is broken: optimizer.npz has 64 "
                       r"bytes"):
        train(tiny_args(tiny_root, run_copy.parent, niters=6,
                        ckpt=str(run_copy / "mvnet-2")), VLSM_TASK, progress=False)


def test_a_run_without_intact_checkpoints_is_never_started_over(tiny_root, run_copy):
    """Bug: the only checkpoint lacking state.json made --log start a new run at iteration 0
    in that folder, overwriting the checkpoint and args.json."""
    import shutil

    shutil.rmtree(run_copy / "mvnet-2")
    (run_copy / "mvnet-4" / "state.json").unlink()
    before = _files(run_copy)
    with pytest.raises(TrainingError, match=r"no intact checkpoint \(mvnet-4: no state.json"
                       r".*nothing was changed"):
        train(tiny_args(tiny_root, run_copy.parent, niters=4, log=str(run_copy)), VLSM_TASK,
              progress=False)
    assert _files(run_copy) == before


def test_log_takes_the_run_or_its_parent_and_refuses_other_folders(tiny_root, run_copy,
                                                                     tmp_path):
    assert find_run(run_copy) == run_copy and find_run(run_copy.parent) == run_copy
    res = train(tiny_args(tiny_root, tmp_path, niters=5, ckpt_iters=5,
                          log=str(run_copy.parent)), VLSM_TASK, progress=False)
    assert res.run_dir == run_copy and res.start == 4 and res.iteration == 5
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("x")
    with pytest.raises(RunError, match=r"notes is not a training run.*holds todo.txt"):
        train(tiny_args(tiny_root, tmp_path, niters=5, log=str(other)), VLSM_TASK,
              progress=False)
    assert sorted(p.name for p in other.iterdir()) == ["todo.txt"]
    with pytest.raises(RunError, match="does not exist"):
        train(tiny_args(tiny_root, tmp_path, niters=5, log=str(tmp_path / "typo")), VLSM_TASK,
              progress=False)


def test_a_second_trainer_cannot_write_a_run(tiny_root, run_copy):
    before = _files(run_copy)
    with RunLock(run_copy), pytest.raises(RunError, match=r"is being trained by pid "
                                          rf"{os.getpid()}"):
        train(tiny_args(tiny_root, run_copy.parent, niters=6, log=str(run_copy)), VLSM_TASK,
              progress=False)
    assert {k: v for k, v in _files(run_copy).items() if k != ".lock"} == \
        {k: v for k, v in before.items() if k != ".lock"}


@pytest.mark.slow
def test_resume_refuses_changed_arguments_and_records_allowed_ones(tiny_root, run_copy):
    """Bug: a resume with another --im_h trained at the new size while args.json kept the
    old one."""
    with pytest.raises(TrainingError, match=r"--im_h 48 \(the run has 32\).*keeps the "
                       r"arguments"):
        train(tiny_args(tiny_root, run_copy.parent, niters=6, im_h=48, log=str(run_copy)),
              VLSM_TASK, progress=False)
    origin = json.loads((run_copy / "args.json").read_text())["argsjs"]
    res = train(tiny_args(tiny_root, run_copy.parent, niters=5, ckpt_iters=5,
                          log=str(run_copy)), VLSM_TASK, progress=False)
    assert res.iteration == 5
    recorded = json.loads((run_copy / "args.json").read_text())
    assert recorded["niters"] == 5 and recorded["argsjs"] == origin


def test_ckpt_alone_reads_its_runs_arguments(run_copy, tmp_path):
    """Bug: --ckpt RUN/mvnet-N without --log ignored the run's args.json."""
    args, _ = parse_cli(["--ckpt", str(run_copy / "mvnet-2")])
    assert args.im_h == 32 and args.im_channels == TINY["im_channels"]
    assert args.argsjs == str(run_copy / "args.json")
    args, _ = parse_cli(["--log", str(run_copy.parent)])  # the run's parent folder
    assert args.im_channels == TINY["im_channels"]


# ---------------------------------------------------------------------------------------------
# Exploding and diverging runs
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_exploded_weights_are_never_saved(tiny_root, tmp_path):
    """Bug: with --lr 1e30 --ckpt_iters 1 the loop saved mvnet-1 with weights of 1e30 and
    then named it the last good checkpoint."""
    good = train(tiny_args(tiny_root, tmp_path, niters=1), VLSM_TASK, progress=False)
    with pytest.raises(TrainingError) as e:
        train(tiny_args(tiny_root, tmp_path, niters=4, ckpt_iters=1, lr=1e30,
                        log=str(good.run_dir)), VLSM_TASK, progress=False)
    msg = str(e.value)
    assert "diverged by iteration 2" in msg or "loss is nan at iteration 2" in msg, msg
    assert f"last good checkpoint: {good.run_dir / 'mvnet-1'}" in msg.lower()
    assert [p.name for _, p in ck.list_checkpoints(good.run_dir)] == ["mvnet-1"]
    model = VLSM_TASK.build_model(tiny_args(tiny_root, tmp_path))
    model.weights[0].assign(np.full(model.weights[0].shape, 1e30, np.float32))
    assert "exploded" in ck.weights_problem(model)
    with pytest.raises(ck.CheckpointError, match="exploded"):
        ck.save_checkpoint(tmp_path / "x", 1, model)
    assert not (tmp_path / "x" / "mvnet-1").exists()


def test_divergence_watch():
    w = DivergenceWatch(warmup=2)
    assert not any(w.update(0.5) for _ in range(30))
    flags = [w.update(x) for x in np.geomspace(1, 1e12, 40)]
    assert not flags[0] and flags[-1]
    w = DivergenceWatch(warmup=2)
    assert not any(w.update(x) for x in np.linspace(0.7, 0.2, 100))


# ---------------------------------------------------------------------------------------------
# Signals, failed starts, the scripts' messages
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_the_resume_is_exact(tiny_root, tmp_path):
    flags = script_flags({**TINY, "ckpt_iters": 1000}, tiny_root, tmp_path / "log")
    cmd = ["voxels/train_vlsm.py", "--argsjs", "args/args_vlsm.json", *flags, "--niters", "12"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen([sys.executable, *cmd], cwd=REPO, env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    seen = ""
    t0 = time.monotonic()
    while time.monotonic() - t0 < 300:  # until tqdm shows 3 iterations done
        seen += proc.stderr.read(1)
        done = re.findall(r"\| (\d+)/12 ", seen[-40:])
        if done and int(done[-1]) >= 3:
            break
    proc.send_signal(signal.SIGTERM)
    err = seen + proc.stderr.read()
    assert proc.wait(timeout=300) == 128 + signal.SIGTERM, err[-2000:]
    run = next((tmp_path / "log").glob("*/train"))
    (it, path), = ck.list_checkpoints(run)
    assert 3 <= it < 12 and f"stopped by SIGTERM at iteration {it} of run {run}" in err
    assert "Traceback" not in err
    r = _run(*cmd[:1], "--log", str(run))
    assert r.returncode == 0, r.stderr[-2000:]
    full = train(tiny_args(tiny_root, tmp_path / "full", niters=12, ckpt_iters=1000),
                 VLSM_TASK, progress=False)
    for a, b in zip(_weights(run / "mvnet-12"), _weights(full.checkpoint), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_failed_start_leaves_no_run_folder(tmp_path):
    logdir = tmp_path / "log"
    with pytest.raises(Exception, match="nope"):
        train(tiny_args(tmp_path / "nope", logdir, niters=2), VLSM_TASK, progress=False)
    assert not logdir.exists() or not any(logdir.iterdir())


@pytest.mark.slow
def test_val_says_when_there_is_nothing_to_validate_and_skips_broken_checkpoints(run_copy):
    r = _run("voxels/val_vlsm.py", "--log", str(run_copy.parent.parent / "empty"), "--once")
    assert r.returncode == 1 and "does not exist" in r.stderr
    (run_copy / "mvnet-4" / "model.weights.h5").write_bytes(b"garbage")
    import shutil

    shutil.rmtree(run_copy / "mvnet-2")
    r = _run("voxels/val_vlsm.py", "--log", str(run_copy), "--once")
    assert r.returncode == 1, r.stderr[-2000:]
    assert "skipping" in r.stderr and "mvnet-4 is broken" not in r.stdout
    assert "model.weights.h5 has 7 bytes" in r.stderr and "Traceback" not in r.stderr
    shutil.rmtree(run_copy / "mvnet-4")
    r = _run("voxels/val_vlsm.py", "--log", str(run_copy), "--once")
    assert r.returncode == 1 and "no checkpoint to validate" in r.stderr
