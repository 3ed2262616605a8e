"""What the benchmark scripts share: the step configurations, random inputs, the machine and
code labels, child processes, and the one place their measurements are recorded.

Each benchmark script measures one thing, prints a table and passes its rows to
:func:`record`. Run them from the repository root as ``python -m benchmarks.bm_<thing>``, or
as ``python benchmarks/bm_<thing>.py`` once the project is installed (``pip install -e .``).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import logging
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]

#: name -> (model kind, args file, overrides): the training-step configurations.
CONFIGS = {
    "release_vlsm": ("vlsm", "args/args_vlsm.json", {}),
    "release_vlsm_2x4": ("vlsm", "args/args_vlsm.json", {"batch_size": 2}),
    "quick_vlsm": ("vlsm", "args/args_vlsm_quick.json", {}),
    "release_dlsm": ("dlsm", "args/args_dlsm.json", {}),
    "quick_dlsm": ("dlsm", "args/args_dlsm_quick.json", {}),
    "cpu_dlsm": ("dlsm", "args/args_dlsm_cpu.json", {}),
    "cpu_vlsm": ("vlsm", "args/args_vlsm_cpu.json", {}),
    "gpu_dlsm": ("dlsm", "args/args_dlsm_gpu.json", {}),
}


def random_batch(args, seed: int = 0) -> dict:
    """A random training batch for ``args`` (numpy): images in [0, 1], the release intrinsics
    scaled to ``im_h x im_w``, look-at cameras at random azimuths (distance 2, elevation 20
    degrees), 10% occupied voxels, depths in [1.5, 2.5].

    Returns:
        ``images [B, V, H, W, 3]``, ``K [B, V, 3, 3]``, ``extrinsic [B, V, 3, 4]``,
        ``voxels [B, N, N, N, 1]``, ``depth [B, V, H, W, 1]`` (scene units), all float32.
    """
    import numpy as np

    from geometry.camera import intrinsics, look_at

    b, v, h, w, n = args.batch_size, args.im_batch, args.im_h, args.im_w, args.nvox
    rng = np.random.default_rng(seed)
    K = intrinsics(224).astype(np.float32)
    K[:2] *= np.array([[w / 224], [h / 224]], np.float32)
    E = np.stack([look_at(a, 20.0)[:3] for a in rng.uniform(0, 360, b * v)]).astype(np.float32)
    return {
        "images": rng.random((b, v, h, w, 3), dtype=np.float32),
        "K": np.tile(K, (b, v, 1, 1)),
        "extrinsic": E.reshape(b, v, 3, 4),
        "voxels": (rng.random((b, n, n, n, 1)) > 0.9).astype(np.float32),
        "depth": rng.uniform(1.5, 2.5, (b, v, h, w, 1)).astype(np.float32),
    }


def compiled_model(kind: str, args):
    """``(task, model)``: the ``kind`` ("vlsm" or "dlsm") model of ``args``, seeded and
    compiled as :mod:`training.loop` compiles it."""
    import keras

    from training.loop import compile_model, make_optimizer
    from training.tasks import model_name, task_for

    task = task_for(model_name(args, kind))
    keras.utils.set_random_seed(0)
    model = task.build_model(args)
    compile_model(model, task, args, make_optimizer(args))
    return task, model


def config_args(name: str, overrides: dict | None = None):
    """The args of configuration ``name`` with ``overrides``."""
    from training.config import load_args

    _, argsjs, extra = CONFIGS[name]
    return load_args(REPO / argsjs, {**extra, **(overrides or {})})


def time_steps(model, x, y, steps: int, warmup: int) -> tuple[float, list[float]]:
    """Seconds of the first training step (tracing, compiling) and of each of ``steps`` timed
    steps after ``warmup`` untimed ones, on the same batch."""
    t0 = time.perf_counter()
    model.train_on_batch(x, y)
    first = time.perf_counter() - t0
    for _ in range(warmup):
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - t0)
    return first, times


def peak_rss_gb() -> float:
    """This process's peak resident memory in GB (``ru_maxrss``; Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


# --------------------------------------------------------------------------------------------
# Labels: machine, code, versions
# --------------------------------------------------------------------------------------------
def _git(*args: str, cwd: Path) -> str:
    """``git args`` in ``cwd``: its stdout, or "" when git fails."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return out.stdout.strip()


def commit_label(repo: Path = REPO) -> str:
    """``repo``'s HEAD as a short commit, with `` (with uncommitted changes)`` when its tracked
    files differ from it (``"unknown"`` outside git)."""
    label = _git("rev-parse", "--short", "HEAD", cwd=repo) or "unknown"
    if _git("status", "--porcelain", "--untracked-files=no", cwd=repo):
        label += " (with uncommitted changes)"
    return label


def _version(*dists: str) -> str:
    """The installed version of the first of ``dists`` that is installed."""
    for d in dists:
        try:
            return importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def _cpu() -> tuple[str, list[str]]:
    """CPU model name and the flags that matter for these kernels, from /proc/cpuinfo."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, []
    for ln in text.splitlines():
        key, _, val = ln.partition(":")
        if key.strip() == "model name" and val.strip():
            model = val.strip()
        elif key.strip() == "flags":
            flags = set(val.split())
            break
    wanted = ["avx2", "avx512f", "avx512_bf16"] + sorted(f for f in flags if f.startswith("amx"))
    return model, [f if f in flags else f"no {f}" for f in wanted]


def machine() -> str:
    """``"<CPU model>, <n> CPUs (<flags>)"``: the CPUs this process may use."""
    model, flags = _cpu()
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {ncpu} CPUs ({', '.join(flags) or 'flags unknown'})"


def header(script: str, extra: list[str] = ()) -> list[str]:
    """The lines printed above a table: command, machine, date, code and library versions."""
    return [
        "command: `" + shlex.join(["python", "-m", f"benchmarks.{script}", *sys.argv[1:]]) + "`",
        f"machine: {machine()}",
        "date: " + datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        f"code: commit {commit_label()}; Python {platform.python_version()}, TensorFlow "
        f"{_version('tensorflow', 'tensorflow-cpu')}, Keras {_version('keras')}, "
        f"JAX {_version('jax')}",
        *extra,
    ]


# --------------------------------------------------------------------------------------------
# Child processes (one per measurement, so that peak memory and backends are their own)
# --------------------------------------------------------------------------------------------
def backend_env(backend: str) -> dict:
    """The environment of a child process under Keras backend ``backend``, as the training
    scripts run (:func:`training.host_memory.environment`: JAX on a CPU with huge pages)."""
    from training.host_memory import environment

    env = environment(dict(os.environ, KERAS_BACKEND=backend))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def run_child(module: str, argv: list[str], label: str, env: dict | None = None,
              prefix: str = "RESULT ") -> dict | None:
    """Run ``python -m <module> argv...`` in the repository root; the JSON of its last stdout
    line starting with ``prefix`` (less a ``"RESULT "`` marker), else None (after printing
    the end of its stderr)."""
    cmd = [sys.executable, "-m", module, *argv]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith(prefix)), None)
    if out.returncode or line is None:
        print(f"{label} failed (exit {out.returncode}):\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(line.removeprefix("RESULT "))


def parse_sets(items: list[str]) -> dict:
    """``KEY=VALUE`` overrides with JSON values; SystemExit naming a malformed one."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except ValueError:
            sep = ""
        if not sep or not key:
            raise SystemExit(f"--set {item!r} is not KEY=VALUE with a JSON value "
                             "(strings quoted: precision=\"bfloat16\")")
    return out


# --------------------------------------------------------------------------------------------
# Printing and recording
# --------------------------------------------------------------------------------------------
def show(lines: list[str], rows: list[dict], floatfmt: str = "g") -> str:
    """Print ``lines`` and the table of ``rows`` (one dict per row, same keys); returns it."""
    from tabulate import tabulate

    text = "\n".join(lines) + "\n\n" + tabulate(rows, headers="keys", tablefmt="github",
                                                floatfmt=floatfmt)
    print(text)
    return text


def record(benchmark: str, config: str, seconds: float | None, **kw) -> None:
    """Append one measurement to the speed records (``records/speed.jsonl``) through
    :func:`training.records.append_speed` (same arguments: ``backend``, ``precision``,
    ``what``, ``batch``, ``stats``, ``baseline``, ``notes``), with this process's command,
    code version and machine; into ``$LSM_SPEED_FILE`` instead when that is set. A failed
    measurement (``seconds`` None) is not recorded."""
    if seconds is None:
        return
    from training.records import append_speed

    if os.environ.get("LSM_SPEED_FILE"):  # e.g. a smoke run that must not touch records/
        kw["path"] = Path(os.environ["LSM_SPEED_FILE"])
    append_speed(benchmark, config, seconds, **kw)
