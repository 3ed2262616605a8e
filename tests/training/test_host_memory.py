"""training.host_memory: the scripts' default path never restarts the process; the opt-in
(``LSM_HUGE_PAGES``) restarts it once and its large buffers then fault 2 MB at a time (a real
process, its real page faults and mappings)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from training import host_memory as hm

REPO = Path(__file__).resolve().parents[2]
GLIBC = os.uname().sysname == "Linux" and __import__("platform").libc_ver()[0] == "glibc"


def test_keras_backend_from_env_then_config_then_default(tmp_path: Path) -> None:
    assert hm.keras_backend({"KERAS_BACKEND": "jax"}) == "jax"
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax", "floatx": "float32"}))
    assert hm.keras_backend({"KERAS_HOME": str(tmp_path)}) == "jax"
    assert hm.keras_backend({"KERAS_HOME": str(tmp_path), "KERAS_BACKEND": "torch"}) == "torch"
    (tmp_path / "keras.json").write_text("{not json")
    assert hm.keras_backend({"KERAS_HOME": str(tmp_path)}) == "tensorflow"
    assert hm.keras_backend({"KERAS_HOME": str(tmp_path / "missing")}) == "tensorflow"


@pytest.mark.skipif(not GLIBC, reason="glibc tunables exist on Linux with glibc only")
def test_wanted_only_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    assert not hm.wanted(cpu)  # the default: never, not even for JAX on a CPU
    assert not hm.wanted({**cpu, "LSM_HUGE_PAGES": ""})
    assert not hm.wanted({**cpu, "LSM_HUGE_PAGES": "0"})
    auto = {**cpu, "LSM_HUGE_PAGES": "auto"}
    assert hm.wanted(auto)
    assert not hm.wanted({**auto, "JAX_PLATFORMS": "cuda"})
    assert not hm.wanted({**auto, "JAX_PLATFORMS": "cuda,cpu"})
    assert not hm.wanted({"KERAS_BACKEND": "tensorflow", "LSM_HUGE_PAGES": "auto"})
    assert hm.wanted({"KERAS_BACKEND": "tensorflow", "LSM_HUGE_PAGES": "1"})
    # JAX_PLATFORMS unset: a GPU plugin installed means JAX may run on a GPU
    fake = [SimpleNamespace(metadata={"Name": "numpy"}),
            SimpleNamespace(metadata={"Name": "jax-cuda12-plugin"})]
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: fake)
    assert not hm.wanted({"KERAS_BACKEND": "jax", "LSM_HUGE_PAGES": "auto"})
    monkeypatch.setattr(importlib.metadata, "distributions",
                        lambda: [*fake[:1], SimpleNamespace(metadata={"Name": "libtpu"})])
    assert not hm.wanted({"KERAS_BACKEND": "jax", "LSM_HUGE_PAGES": "auto"})
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: fake[:1])
    assert hm.wanted({"KERAS_BACKEND": "jax", "LSM_HUGE_PAGES": "auto"})
    assert not hm.wanted({"KERAS_BACKEND": "jax"})
    with pytest.raises(SystemExit, match="LSM_HUGE_PAGES must be 0, 1 or auto, got 'yes'"):
        hm.wanted({**cpu, "LSM_HUGE_PAGES": "yes"})
    monkeypatch.setattr("platform.libc_ver", lambda: ("musl", "1.2"))
    assert not hm.wanted({**cpu, "LSM_HUGE_PAGES": "1"})


@pytest.mark.skipif(not GLIBC, reason="glibc tunables exist on Linux with glibc only")
def test_environment_adds_the_tunable_and_keeps_the_callers() -> None:
    assert "GLIBC_TUNABLES" not in hm.environment({"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"})
    cpu = {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "LSM_HUGE_PAGES": "auto"}
    assert hm.environment(cpu)["GLIBC_TUNABLES"] == hm.TUNABLE
    mine = {**cpu, "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    env = hm.environment(mine)
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:" + hm.TUNABLE
    assert mine["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2"  # the argument is not changed
    off = {**cpu, "GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}
    assert hm.environment(off)["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=0"
    assert "GLIBC_TUNABLES" not in hm.environment({"KERAS_BACKEND": "tensorflow",
                                                   "LSM_HUGE_PAGES": "auto"})


# The child goes through the scripts' entry point (training.cli.run_script, with a stand-in for
# the training itself, so nothing heavy is imported): the entry point restarts it or not; the
# stand-in mallocs and touches 64 MB (above glibc's mmap threshold, as XLA's large buffers are)
# and reports the minor page faults of the touch and the huge pages of the mapping that holds it.
CHILD = r"""
import ctypes, json, os, resource, sys
import training.cli as cli

def stand_in(kind):
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    size = 64 << 20
    p = libc.malloc(size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    ctypes.memset(p, 1, size)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    huge, inside = 0, False
    for ln in open("/proc/self/smaps"):
        head = ln.split()[0]
        if "-" in head and not head.endswith(":"):
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= p < hi
        elif inside and head == "AnonHugePages:":
            huge = int(ln.split()[1])
    print(json.dumps({"argv": sys.argv[1:], "tunables": os.environ.get("GLIBC_TUNABLES"),
                      "restarted": os.environ.get("LSM_HUGE_PAGES_RESTARTED"),
                      "huge_kb": huge, "faults": faults}), flush=True)
    return 0

print("start", flush=True)
cli.train_main = stand_in
cli.run_script("vlsm", "train")
"""
#: 4 KB pages the 64 MB touch faults in one at a time (2 MB huge pages: 32 faults).
SMALL_PAGES = (64 << 20) // 4096


def _thp_mode() -> str:
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "unknown"
    return text[text.index("[") + 1:text.index("]")]


def _child(tmp: Path, **env: str) -> tuple[list[str], dict]:
    """Run :data:`CHILD` from ``tmp`` (the installed project, not the checkout's folder, is
    what it imports) with ``env`` over this environment less the variables under test."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("GLIBC_TUNABLES", "LSM_HUGE_PAGES", hm.RESTARTED)}
    r = subprocess.run([sys.executable, "-c", CHILD, "--flag", "a b"], cwd=tmp,
                       env={**base, **env}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    return lines[:-1], json.loads(lines[-1])


@pytest.mark.skipif(not GLIBC, reason="glibc tunables exist on Linux with glibc only")
def test_default_path_never_restarts(tmp_path: Path) -> None:
    before, out = _child(tmp_path, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    assert before == ["start"], before  # not restarted
    assert out["tunables"] is None and out["restarted"] is None
    assert out["argv"] == ["--flag", "a b"]
    if _thp_mode() == "madvise":  # malloc's pages stay small: one fault per 4 KB
        assert out["huge_kb"] == 0, out
        assert out["faults"] >= SMALL_PAGES * 0.9, out


@pytest.mark.skipif(not GLIBC, reason="glibc tunables exist on Linux with glibc only")
def test_opt_in_restarts_once_and_gets_huge_pages(tmp_path: Path) -> None:
    for choice, backend in (("1", "tensorflow"), ("auto", "jax")):
        before, out = _child(tmp_path, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu",
                             LSM_HUGE_PAGES=choice)
        assert before == ["start", "start"], (choice, before)  # restarted exactly once
        assert out["argv"] == ["--flag", "a b"] and out["restarted"] == "1"
        assert out["tunables"] == hm.TUNABLE
        if _thp_mode() in ("madvise", "always"):
            assert out["huge_kb"] >= 32 << 10, out  # most of the 64 MB on 2 MB pages
            assert out["faults"] <= SMALL_PAGES // 8, out  # vs 16,384 on 4 KB pages
    before, out = _child(tmp_path, KERAS_BACKEND="tensorflow", LSM_HUGE_PAGES="auto")
    assert before == ["start"] and out["tunables"] is None
