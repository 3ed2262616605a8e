"""The dataset builder under faults: kill -9 at any moment, leftovers of a crash, a full disk.

Every test compares a faulted-then-rerun build with an uninterrupted one file by file (relative
path and sha256, see ``scripts/fault_build.py``).
"""

from __future__ import annotations

import errno
import importlib.util
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from data import build, build_root, io
from data.layout import DataLayout

REPO = Path(__file__).resolve().parents[2]
#: The small build every test here uses: one model of each of four classes.
CLASSES4 = ["02691156", "03001627", "04379243", "03636649"]
OPTS = {"per_class": 1, "classes": CLASSES4, "workers": 2}


def _load_fault_script():
    spec = importlib.util.spec_from_file_location("fault_build", REPO / "scripts/fault_build.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fault_build"] = mod
    spec.loader.exec_module(mod)
    return mod


fault = _load_fault_script()


def _argv(root: Path, workers: int = 2) -> list[str]:
    return ["synth", "--size", "tiny", "--per_class", "1", "--classes", *CLASSES4,
            "--root", str(root),
            "--workers", str(workers), "--quiet"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, str]:
    """Digest of an uninterrupted build of the four-model dataset (run as a subprocess)."""
    root = tmp_path_factory.mktemp("fault_ref") / "ref"
    rc, _, err = fault.run_build(fault.build_command(root, **OPTS))
    assert rc == 0, err
    return fault.tree_digest(root)


def _running(p: psutil.Process) -> bool:
    """Whether a process still runs (a zombie nobody reaps does not)."""
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _temp_entries(root: Path) -> list[str]:
    return [str(p) for p in Path(root).rglob("*")
            if p.name.startswith(".tmp-") or p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------------------------
# kill -9
# ---------------------------------------------------------------------------------------------
def test_pool_workers_die_with_a_killed_builder(tmp_path):
    """kill -9 of the builder takes its pool workers with it: no orphan goes on writing."""
    root = tmp_path / "d"
    cmd = fault.build_command(root, per_class=3, classes=CLASSES4, workers=2)
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        while (proc.poll() is None and time.monotonic() < deadline
               and not any(True for _ in DataLayout(root).iter_models())):
            time.sleep(0.01)  # kill once the first model is done: the workers are busy
        children = parent.children()
        assert len(children) >= 2, "the build never started its workers"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0.2)
        at_kill = fault.tree_digest(root)
        time.sleep(1.5)
        assert fault.diff_trees(at_kill, fault.tree_digest(root)) == [], "orphans kept writing"
        alive = [c.pid for c in children if _running(c)]
        assert not alive, f"orphaned workers still running: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for c in psutil.Process().children(recursive=True):
            c.kill()


@pytest.mark.slow
def test_kill9_then_rerun_is_byte_identical(reference, tmp_path):
    """Three kills at fixed fractions of the build's duration; each rerun matches exactly."""
    results, _ = fault.run_trials(3, tmp_path, fractions=[0.5, 0.7, 0.9], timing_runs=1, **OPTS)
    table = fault.format_table(results)
    assert all(t.exact for t in results), table
    assert "3/3 exact" in table.splitlines()[-1]


def test_rerun_removes_leftovers_of_a_crash(reference, tmp_path):
    """A crash can leave atomic-write temp files, a model temp folder and the voxel files of a
    model whose render folder was never renamed into place; a rerun removes them all."""
    root = tmp_path / "d"
    assert build.main(_argv(root, workers=1)) == 0
    L = DataLayout(root)
    s, m = CLASSES4[0], L.models(CLASSES4[0])[0]
    voxels = {n: L.voxel_path(s, m, n).read_bytes() for n in (32, 64)}
    shutil.rmtree(L.model_dir(s, m))  # the model was not finished...
    (L.root / ".dataset.json.k2j4.tmp").write_text("{")  # ...and these were half-written
    (L.voxel_path(s, m, 32).parent / f".{m}.mat.ab12.tmp").write_bytes(b"MATLAB")
    (L.renders_root / s / f".tmp-{m}-4242").mkdir()
    (L.renders_root / s / f".tmp-{m}-4242" / "render_0.png").write_bytes(b"\x89PNG")
    s2, m2 = CLASSES4[1], L.models(CLASSES4[1])[0]  # a model whose voxel files were written
    shutil.rmtree(L.model_dir(s2, m2))  # but whose render folder was never renamed into place
    L.voxel_path(s2, m2, 64).write_bytes(b"stale")
    assert build.main(_argv(root, workers=1)) == 0
    assert fault.diff_trees(reference, fault.tree_digest(root)) == []
    assert {n: L.voxel_path(s, m, n).read_bytes() for n in (32, 64)} == voxels


# ---------------------------------------------------------------------------------------------
# Disk full
# ---------------------------------------------------------------------------------------------
def test_disk_full_names_the_path_and_resumes(reference, tmp_path, monkeypatch, caplog):
    """ENOSPC while writing a depth map: one ERROR line naming the file, exit 1, nothing
    half-written on disk; after "freeing space" the same command completes exactly."""
    root = tmp_path / "d"
    real = io.write_depth
    calls = {"n": 0}

    def full_after_30(path, depth):
        calls["n"] += 1
        if calls["n"] > 30:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, depth)

    monkeypatch.setattr(io, "write_depth", full_after_30)
    with caplog.at_level(logging.INFO, logger="data.build"):
        assert build.main(_argv(root, workers=1)) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert errors[0].startswith("disk full writing ")
    assert "depth_10.png" in errors[0] and str(root) in errors[0]
    assert "free space and rerun the same command to resume" in errors[0]
    assert _temp_entries(root) == []
    L = DataLayout(root)
    for s, m in L.iter_models():  # every model on disk is complete
        assert len(list(L.model_dir(s, m).iterdir())) == 61
    done = set(L.iter_models())
    assert len(done) == 1
    for n in (32, 64):  # no voxel file without its model
        on_disk = {(p.parent.name, p.stem) for p in L.voxels_root(n).rglob("*.mat")}
        assert on_disk == done
    monkeypatch.setattr(io, "write_depth", real)
    assert build.main(_argv(root, workers=1)) == 0
    assert fault.diff_trees(reference, fault.tree_digest(root)) == []


def _can_mount(target: Path, size: str) -> bool:
    if not shutil.which("mount") or os.geteuid() != 0:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
                       capture_output=True)
    return r.returncode == 0


def test_disk_full_on_a_real_small_filesystem(reference, tmp_path):
    """A 1 MiB tmpfs: the CLI fails with one line, no traceback; it resumes on a larger one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _can_mount(disk, "1m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        root = disk / "d"
        cmd = fault.build_command(root, **OPTS)
        p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        assert p.returncode != 0
        lines = [ln for ln in p.stderr.splitlines() if "disk full" in ln]
        assert len(lines) == 1, p.stderr
        assert "Traceback" not in p.stderr, p.stderr
        assert str(root) in lines[0] and "rerun the same command" in lines[0]
        assert _temp_entries(root) == []
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        rc, _, err = fault.run_build(cmd)
        assert rc == 0, err
        assert fault.diff_trees(reference, fault.tree_digest(root)) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_second_build_of_the_same_root_waits_then_refuses(tmp_path, monkeypatch, caplog):
    """While another build holds the root's lock, a build waits, then stops with one line."""
    import fcntl

    root = tmp_path / "d"
    root.mkdir()
    fd = os.open(root / build.LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        monkeypatch.setattr(build_root, "LOCK_WAIT_S", 0.3)
        with caplog.at_level(logging.INFO, logger="data.build"):
            assert build.main(_argv(root, workers=1)) == 1
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "another build is writing to" in errors[0], errors
        assert not (root / "dataset.json").exists()
    finally:
        os.close(fd)
    assert build.main(_argv(root, workers=1)) == 0
