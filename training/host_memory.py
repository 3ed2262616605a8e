"""Host memory of JAX on a CPU: XLA's buffers on transparent huge pages, when asked for.

JAX's CPU runtime takes every buffer of a compiled step from ``malloc`` and gives it back
after the step. Buffers above glibc's mmap threshold (at most 32 MB) are fresh ``mmap``
regions each time, so every step touches its large tensors' pages for the first time again:
one page fault per 4 KB (the paper's unprojection writes 128 MB: 32,768 faults per call).
glibc's tunable ``glibc.malloc.hugetlb=1`` makes ``malloc`` ask for transparent huge pages on
those regions (``madvise``), which cuts the faults 64-fold: JAX's release V-LSM 2 x 4 step
6.1 -> 5.1 s, its unprojection forward 0.049 -> 0.015 s, peak memory unchanged
(``docs/performance.md``).

glibc reads the tunable only when a process starts, and nothing in a running process does
the same: ``mallopt`` has no huge-page parameter, and turning ``mmap`` off
(``M_MMAP_MAX=0``) leaves the large buffers of XLA's worker threads on fresh mappings anyway
(a thread arena's heap holds at most 64 MB; larger requests fall back to ``mmap``), unless
every thread shares the main arena (``M_ARENA_MAX=1``), which cut the faults of a 128 MB
``x * 2`` only 3-4-fold at 2.5-3x its peak memory, and those of a release V-LSM 2 x 4 step
by 10% (538k against 601k per step; set at start-up with no trimming, the step was slower,
7.7 s against 6.1, at 7.2 GB). So the tuning is a restart of the process with the tunable
set, and it is opt-in:

``LSM_HUGE_PAGES=1``
    a script restarts itself once with :data:`TUNABLE` (:func:`restart_with_huge_pages`,
    called first by the scripts' entry point), whatever the backend;
``LSM_HUGE_PAGES=auto``
    the same, only when the backend is JAX on a CPU;
``LSM_HUGE_PAGES=0`` or unset (the default)
    nothing: the process is never restarted.

Setting ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` yourself does the same with no restart.
Benchmarks pass the tunable to their workers under the same rule (:func:`environment`).
TensorFlow needs none of this (its oneDNN CPU allocator keeps freed memory for reuse), nor
does a GPU (device memory has its own allocator).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["TUNABLE", "environment", "keras_backend", "restart_with_huge_pages", "wanted"]

#: The glibc tunable (glibc >= 2.35) and its value: transparent huge pages for malloc's mmap
#: regions and heaps (``madvise(MADV_HUGEPAGE)``), in ``GLIBC_TUNABLES`` syntax.
TUNABLE = "glibc.malloc.hugetlb=1"
#: Set in the restarted process, so that it never restarts again.
RESTARTED = "LSM_HUGE_PAGES_RESTARTED"
#: Distributions that let JAX run on an accelerator (CUDA or ROCm plugins, TPU's runtime).
_ACCELERATOR = re.compile(r"^(jax[-_](cuda|rocm)\d*[-_](plugin|pjrt)|libtpu)", re.IGNORECASE)


def keras_backend(environ: Mapping[str, str] = os.environ) -> str:
    """The Keras backend a process started with ``environ`` will use, without importing
    Keras: ``KERAS_BACKEND``, else the ``backend`` of ``$KERAS_HOME/keras.json`` (default
    ``~/.keras``), else ``"tensorflow"``."""
    if environ.get("KERAS_BACKEND"):
        return environ["KERAS_BACKEND"]
    home = environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        return str(json.loads(Path(home, "keras.json").read_text()).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def _jax_on_cpu(environ: Mapping[str, str]) -> bool:
    """Whether JAX will run on the CPU: ``JAX_PLATFORMS`` names only ``cpu``, or it is unset
    and nothing that gives JAX an accelerator (``jax-cuda*-plugin``, ``jax-rocm*-plugin``,
    ``libtpu``) is installed."""
    platforms = environ.get("JAX_PLATFORMS", "").strip()
    if platforms:
        return {p.strip() for p in platforms.split(",")} == {"cpu"}
    return not any(_ACCELERATOR.match(d.metadata.get("Name") or "")
                   for d in importlib.metadata.distributions())


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a process started with ``environ`` should run with :data:`TUNABLE`: on Linux
    with glibc, when ``LSM_HUGE_PAGES`` is ``1``, or ``auto`` and the backend is JAX on a
    CPU. Unset (or empty) means ``0``: never (module docstring).

    Raises:
        SystemExit: naming ``LSM_HUGE_PAGES`` when it is not ``0``, ``1`` or ``auto``.
    """
    choice = environ.get("LSM_HUGE_PAGES", "0").strip().lower() or "0"
    if choice not in ("0", "1", "auto"):
        raise SystemExit(f"LSM_HUGE_PAGES must be 0, 1 or auto, got {choice!r}")
    if choice == "0" or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    return choice == "1" or (keras_backend(environ) == "jax" and _jax_on_cpu(environ))


def environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``environ`` with :data:`TUNABLE` added to ``GLIBC_TUNABLES`` when :func:`wanted` (the
    tunables already there are kept, and a ``glibc.malloc.hugetlb`` of the caller's wins).

    Returns:
        A new dict (``environ`` is not modified).
    """
    env = dict(environ)
    if not wanted(env):
        return env
    current = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t]
    if not any(t.split("=", 1)[0] == TUNABLE.split("=", 1)[0] for t in current):
        env["GLIBC_TUNABLES"] = ":".join([*current, TUNABLE])
    return env


def restart_with_huge_pages() -> None:
    """Restart this process (same interpreter, same command line) with :data:`TUNABLE` when
    :func:`wanted` (opt-in: ``LSM_HUGE_PAGES``) and it is not set yet; otherwise return.

    Call it first in a script's entry point, before anything is written or any thread is
    started: the process is replaced (``os.execve``), so nothing after this call runs twice.
    """
    if os.environ.get(RESTARTED):
        return
    env = environment(os.environ)
    if env.get("GLIBC_TUNABLES") == os.environ.get("GLIBC_TUNABLES"):
        return  # not wanted, or already set by the caller
    env[RESTARTED] = "1"
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)
