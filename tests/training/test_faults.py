"""Fault suite for training (small enough for CI): kill -9 and resume, validation reading while
training writes, a full disk. ``scripts/fault_train.py`` runs the kill trials at length."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.training.test_loop import REPO, TINY, script_flags
from training import checkpoint as ck


def _env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_is_exact(tiny_root, tmp_path):
    """One kill trial of scripts/fault_train.py (CI time; docs/reliability.md reports 24):
    the resumed run ends with the uninterrupted run's weights and optimizer state, bit for
    bit."""
    r = subprocess.run([sys.executable, "scripts/fault_train.py", "--trials", "1", "--niters",
                        "8", "--ckpt_iters", "3", "--seed", "3", "--data", str(tiny_root),
                        "--work", str(tmp_path)], cwd=REPO, env=_env(), capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0 and "1/1 exact" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]


@pytest.mark.slow
def test_validation_reads_checkpoints_while_training_writes_them(tiny_root, tmp_path):
    flags = script_flags({**TINY, "ckpt_iters": 3}, tiny_root, tmp_path / "log")
    train = subprocess.Popen([sys.executable, "voxels/train_vlsm.py", "--argsjs",
                              "args/args_vlsm.json", *flags, "--niters", "12"], cwd=REPO,
                             env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    t0 = time.monotonic()
    while not list((tmp_path / "log").glob("*/train/args.json")):
        assert time.monotonic() - t0 < 300 and train.poll() is None, train.stderr.read()
        time.sleep(0.1)
    run = next((tmp_path / "log").glob("*/train"))
    val = subprocess.run([sys.executable, "voxels/val_vlsm.py", "--log", str(run),
                          "--poll_seconds", "0.2"], cwd=REPO, env=_env(), capture_output=True,
                         text=True, timeout=600)
    assert train.wait(timeout=600) == 0
    assert val.returncode == 0, val.stderr[-3000:]
    done = json.loads((run / "val_done.json").read_text())
    assert sorted(done, key=lambda n: int(n.split("-")[1])) == [
        "mvnet-3", "mvnet-6", "mvnet-9", "mvnet-12"]
    assert "waiting for new checkpoints" in val.stderr or len(done) == 4


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True)
    return r.returncode == 0


@pytest.mark.slow
def test_disk_full_gives_one_clear_line_leaves_nothing_half_written_and_resumes(tiny_root,
                                                                                tmp_path):
    """On a 1.5 MB tmpfs the first checkpoint (about 1 MB) fits and the second does not: one
    error line naming the run and what to do, the first checkpoint intact, no temporaries;
    with space back (remount), --log resumes to the end (that a resume is exact is
    test_kill_9_at_random_moments_then_resume_is_exact's)."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "1500k"):
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        flags = script_flags({**TINY, "ckpt_iters": 2}, tiny_root, disk / "log")
        cmd = [sys.executable, "voxels/train_vlsm.py", "--argsjs", "args/args_vlsm.json",
               *flags, "--niters", "4"]
        r = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True,
                           timeout=600)
        run = next((disk / "log").glob("*/train"))
        assert r.returncode == 1, r.stderr[-3000:]
        errors = [ln for ln in r.stderr.splitlines() if " ERROR " in ln]
        assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
        assert "could not write checkpoint mvnet-4" in errors[0]
        assert "No space left on device" in errors[0] and f"--log {run}" in errors[0]
        assert [p.name for _, p in ck.list_checkpoints(run)] == ["mvnet-2"]
        assert ck.checkpoint_problem(run / "mvnet-2") is None
        assert not [p.name for p in run.iterdir() if p.name.startswith(".mvnet")]
        subprocess.run(["mount", "-o", "remount,size=20m", str(disk)], check=True)
        r = subprocess.run([sys.executable, "voxels/train_vlsm.py", "--log", str(run)],
                           cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        assert [p.name for _, p in ck.list_checkpoints(run)] == ["mvnet-2", "mvnet-4"]
        assert ck.checkpoint_problem(run / "mvnet-4") is None
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
