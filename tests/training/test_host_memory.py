"""training.host_memory: when a process asks glibc for huge pages, and that the restart gets
them (a real process, its real mappings)."""

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
def test_wanted_for_jax_on_a_cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    assert hm.wanted(cpu)
    assert not hm.wanted({**cpu, "JAX_PLATFORMS": "cuda"})
    assert not hm.wanted({**cpu, "JAX_PLATFORMS": "cuda,cpu"})
    assert not hm.wanted({"KERAS_BACKEND": "tensorflow"})
    assert not hm.wanted({**cpu, "LSM_HUGE_PAGES": "0"})
    assert hm.wanted({"KERAS_BACKEND": "tensorflow", "LSM_HUGE_PAGES": "1"})
    # JAX_PLATFORMS unset: a GPU plugin installed means JAX may run on a GPU
    fake = [SimpleNamespace(metadata={"Name": "numpy"}),
            SimpleNamespace(metadata={"Name": "jax-cuda12-plugin"})]
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: fake)
    assert not hm.wanted({"KERAS_BACKEND": "jax"})
    monkeypatch.setattr(importlib.metadata, "distributions",
                        lambda: [*fake[:1], SimpleNamespace(metadata={"Name": "libtpu"})])
    assert not hm.wanted({"KERAS_BACKEND": "jax"})
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: fake[:1])
    assert hm.wanted({"KERAS_BACKEND": "jax"})
    with pytest.raises(SystemExit, match="LSM_HUGE_PAGES must be 0, 1 or auto, got 'yes'"):
        hm.wanted({**cpu, "LSM_HUGE_PAGES": "yes"})
    monkeypatch.setattr("platform.libc_ver", lambda: ("musl", "1.2"))
    assert not hm.wanted(cpu)


@pytest.mark.skipif(not GLIBC, reason="glibc tunables exist on Linux with glibc only")
def test_environment_adds_the_tunable_and_keeps_the_callers() -> None:
    cpu = {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    assert hm.environment(cpu)["GLIBC_TUNABLES"] == hm.TUNABLE
    mine = {**cpu, "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    env = hm.environment(mine)
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:" + hm.TUNABLE
    assert mine["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2"  # the argument is not changed
    off = {**cpu, "GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}
    assert hm.environment(off)["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=0"
    assert "GLIBC_TUNABLES" not in hm.environment({"KERAS_BACKEND": "tensorflow"})


# The child restarts itself, then mallocs and touches 64 MB (above glibc's mmap threshold, as
# XLA's large buffers are) and reports the huge pages of the mapping that holds it.
CHILD = r"""
import ctypes, json, os, sys
sys.path.insert(0, sys.argv[1])
from training.host_memory import restart_with_huge_pages
print("start", flush=True)
restart_with_huge_pages()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
size = 64 << 20
p = libc.malloc(size)
ctypes.memset(p, 1, size)
huge, inside = 0, False
for ln in open("/proc/self/smaps"):
    head = ln.split()[0]
    if "-" in head and not head.endswith(":"):
        lo, hi = (int(x, 16) for x in head.split("-"))
        inside = lo <= p < hi
    elif inside and head == "AnonHugePages:":
        huge = int(ln.split()[1])
print(json.dumps({"argv": sys.argv[2:], "tunables": os.environ.get("GLIBC_TUNABLES"),
                  "restarted": os.environ.get("LSM_HUGE_PAGES_RESTARTED"), "huge_kb": huge}))
"""


def _thp_mode() -> str:
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "unknown"
    return text[text.index("[") + 1:text.index("]")]


def _child(**env: str) -> tuple[list[str], dict]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("GLIBC_TUNABLES", "LSM_HUGE_PAGES", hm.RESTARTED)}
    r = subprocess.run([sys.executable, "-c", CHILD, str(REPO), "--flag", "a b"],
                       env={**base, **env}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    return lines[:-1], json.loads(lines[-1])


@pytest.mark.skipif(not GLIBC, reason="glibc tunables exist on Linux with glibc only")
def test_restart_runs_the_same_command_once_with_huge_pages() -> None:
    before, out = _child(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    assert before == ["start", "start"]  # restarted exactly once
    assert out["argv"] == ["--flag", "a b"] and out["restarted"] == "1"
    assert out["tunables"] == hm.TUNABLE
    if _thp_mode() in ("madvise", "always"):
        assert out["huge_kb"] >= 32 << 10, out  # most of the 64 MB on 2 MB pages
    before, out = _child(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", LSM_HUGE_PAGES="0")
    assert before == ["start"] and out["tunables"] is None and out["restarted"] is None
    if _thp_mode() == "madvise":  # without the tunable, malloc's pages stay small
        assert out["huge_kb"] == 0, out
    before, out = _child(KERAS_BACKEND="tensorflow")
    assert before == ["start"] and out["tunables"] is None
