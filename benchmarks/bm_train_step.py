"""Time and peak memory of one training step of V-LSM / D-LSM at several configurations.

Each configuration runs in its own subprocess (so peak memory is its own): the model is built
from an args JSON plus overrides, compiled exactly as ``training.loop`` compiles it, fed random
inputs with consistent cameras, warmed up, then timed over a few steps. Prints a table; never
asserts. Example::

    python benchmarks/bm_train_step.py                       # quick configs + release V-LSM
    python benchmarks/bm_train_step.py --configs release_vlsm --steps 3
    KERAS_BACKEND=jax python benchmarks/bm_train_step.py --configs quick_vlsm

Peak memory is the process's maximum resident set size (``ru_maxrss``), which includes the
Python interpreter and the framework (about 0.6 GB for TensorFlow alone).

Side by side with the original release (``--original``)
--------------------------------------------------------
With ``--original`` every selected configuration that has a counterpart in the original LSM
release (akar43/lsm) is also timed there, in the same invocation, with the same number of
timed steps and warm-up steps; original and ours alternate (``--rounds`` repeats the pair).
The original runs under ``tf.compat.v1`` through the external tool ``--orig_tool`` (default
``../shared/tools/orig/bench_orig.py`` next to this repository), which extracts the original
code from a bare clone of akar43/lsm (``$LSM_MIRROR``, or the first ``.mirror/akar43+lsm/repo``
in a folder above the tool). That tool is imported only in its own subprocess (it disables
TF2 behaviour) and nothing of the original release is stored here. Counterparts:

==================== ====================================================================
``release_vlsm``     ``vlsm``: V-LSM train step, 8 models x 4 views, 224 px, 32^3
``release_vlsm_2x4`` ``vlsm_quick``: the same with 2 models
``release_dlsm``     ``dlsm``: D-LSM train step, 2 models x 4 views, 224 px
``unproject``        ``splat``: the unprojection alone (``benchmarks/bm_unproject.py``, the
                     mode training uses), 32 views of 112x112x32 -> 32^3, forward and
                     forward + backward, ours in both forms (the original's concatenated
                     output, and the views-first pair the trunk uses); only with
                     ``--original``
==================== ====================================================================

Other configurations are timed on our side only. The table gives the median seconds per step
of each side (min-max when there are several), the ratio original / ours (above 1: ours is
faster) and the peak RSS of each side, under a header with the machine, the date, the commits
and the library versions. ``--markdown FILE`` appends the same block as a dated section::

    python benchmarks/bm_train_step.py --original \\
        --configs release_vlsm_2x4 release_vlsm release_dlsm unproject \\
        --precisions float32 bfloat16 --steps 3 --markdown docs/benchmarks_train.md

``--precisions`` times ours once per precision (``--precision`` of the training scripts,
``models/precision.py``) beside the one run of the original, one row each; without it ours
runs in the configuration's default, ``auto``. The unprojection rows are float32.
``--backends tensorflow jax`` times ours under each Keras backend (one row each, the
column "ours backend") beside the same run of the original, e.g. the JAX backend on a CPU::

    python benchmarks/bm_train_step.py --original --configs unproject release_vlsm_2x4 \\
        --backends tensorflow jax --precisions float32 --steps 2
    python benchmarks/bm_train_step.py --original --configs release_vlsm_2x4 --steps 1 --warmup 0
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

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

#: Pseudo-configuration (``--original`` only): the paper-size unprojection, original ``splat``.
UNPROJECT = "unproject"


@dataclass(frozen=True)
class OrigCase:
    """A case of the original's benchmark tool (``bench_orig.py``) and what it builds."""

    case: str  # its name in bench_orig.py (--cases)
    which: str  # "vlsm" | "dlsm" | "splat"
    batch: int  # models per batch (4 views each)
    what: str  # table description


#: Our configuration -> the original's matching case (batch sizes as bench_orig.py sets them).
ORIGINAL_CASES: dict[str, OrigCase] = {
    "release_vlsm": OrigCase("vlsm", "vlsm", 8, "V-LSM train step, 224 px, 32^3"),
    "release_vlsm_2x4": OrigCase("vlsm_quick", "vlsm", 2, "V-LSM train step, 224 px, 32^3"),
    "release_dlsm": OrigCase("dlsm", "dlsm", 2, "D-LSM train step, 224 px"),
    UNPROJECT: OrigCase("splat", "splat", 8, "unprojection, 112x112x32 feature maps -> 32^3"),
}

DEFAULT_ORIG_TOOL = REPO.parent / "shared" / "tools" / "orig" / "bench_orig.py"
UNPROJECT_SCRIPT = REPO / "benchmarks" / "bm_unproject.py"
#: Our unprojection mode per backend: what a training step uses (``docs/benchmarks_ops.md``).
UNPROJECT_MODE = {"tensorflow": "graph", "jax": "jit"}
#: Our unprojection's forms (``bm_unproject.py --form``): ``release``, the original's output
#: (features and depth concatenated, ``[B, V, N, N, N, C + 1]``); ``training``, what the trunk
#: calls (views-first features and the depth as two tensors). The original's time is shared.
UNPROJECT_FORMS = ("release", "training")


def _peak_rss_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def random_batch(args, seed: int = 0) -> dict:
    """A random training batch for ``args`` (numpy): images in [0, 1], the release intrinsics
    scaled to ``im_h x im_w``, look-at cameras at random azimuths (distance 2, elevation 20
    degrees), 10% occupied voxels, depths in [1.5, 2.5]."""
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
    from training.tasks import TASKS

    task = TASKS[kind]
    keras.utils.set_random_seed(0)
    model = task.build_model(args)
    compile_model(model, task, args, make_optimizer(args))
    return task, model


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


def _one(name: str, steps: int, overrides: dict, warmup: int = 1) -> dict:
    """Build, compile and time configuration ``name`` in this process.

    The first step (tracing) is timed on its own, then ``warmup`` untimed steps, then ``steps``
    timed ones (``step_s`` is their median, ``step_times_s`` all of them).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    from training.config import load_args
    from training.precision import resolve_precision
    from training.tasks import model_inputs

    kind, argsjs, extra = CONFIGS[name]
    args = load_args(REPO / argsjs, {**extra, **overrides})
    task, model = compiled_model(kind, args)
    batch = random_batch(args)
    b, v, h, w, n = args.batch_size, args.im_batch, args.im_h, args.im_w, args.nvox
    x, y = model_inputs(batch), task.keras_target(batch)
    first, times = time_steps(model, x, y, steps, warmup)
    params = int(sum(np.prod(p.shape) for p in model.trainable_weights))
    return {
        "config": name,
        "backend": keras.backend.backend(),
        "batch": f"{b}x{v}",
        "image": f"{h}x{w}",
        "nvox": n,
        "params": params,
        "precision": resolve_precision(args.precision),
        "first_step_s": round(first, 2),
        "step_s": round(float(np.median(times)), 3),
        "peak_rss_gb": _peak_rss_gb(),
        "step_times_s": [round(t, 4) for t in times],
    }


def _orig_one(tool: Path, name: str, steps: int, warmup: int) -> dict:
    """Time the original's counterpart of ``name`` in this process, by importing ``tool``.

    Only ever called in a subprocess of its own: importing the tool disables TF2 behaviour.
    ``warmup`` here counts the original's untimed session runs, its first one included.
    """
    spec = importlib.util.spec_from_file_location("bench_orig", tool)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {tool}")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    c = ORIGINAL_CASES[name]
    if c.which == "splat":
        fwd, fwdbwd, build, wall = bench.bench_splat(steps, warmup, 0, "zero")
        times, note = {"fwd": fwd, "fwdbwd": fwdbwd}, ""
    else:
        ts, build, wall, note = bench.bench_model(c.which, c.batch, steps, warmup, 0, "zero")
        times = {"step": ts}
    return {
        "case": c.case,
        "times_s": {k: [round(float(t), 4) for t in v] for k, v in times.items()},
        "build_s": round(build, 1),
        "wall_s": round(wall, 1),
        "note": note,
        "commit": bench.O.load_orig().commit,
        "peak_rss_gb": _peak_rss_gb(),
    }


def _run_child(cmd: list[str], prefix: str, label: str, env: dict | None = None) -> dict | None:
    """Run ``cmd``; the JSON of its last stdout line starting with ``prefix`` (less a leading
    ``"RESULT "`` marker), else ``None`` (after printing the end of its stderr)."""
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith(prefix)), None)
    if out.returncode or line is None:
        print(f"{label} failed (exit {out.returncode}):\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(line.removeprefix("RESULT "))


def _ours_cmd(name: str, steps: int, warmup: int, sets: list[str]) -> list[str]:
    opts = f"--_child {name} --steps {steps} --warmup {warmup}".split()
    return [sys.executable, __file__, *opts, "--set", *sets]


def _legacy(a: argparse.Namespace) -> None:
    """Our configurations only: the table of ``_one``'s results (the default mode)."""
    from tabulate import tabulate

    rows = []
    for name in a.configs:
        for backend in a.backends:
            for prec in a.precisions or [None]:
                sets = a.set + ([f'precision="{prec}"'] if prec else [])
                res = _run_child(_ours_cmd(name, a.steps, a.warmup, sets), "RESULT ",
                                 f"{name} {backend} {prec or ''}", _backend_env(backend))
                if res is None:
                    continue
                res.pop("step_times_s")
                rows.append(res)
                print(f"done {name} {backend} {prec or ''}", file=sys.stderr)
    print(tabulate(rows, headers="keys"))


def _backend_env(backend: str) -> dict:
    """The environment of a child process of ours that runs under Keras backend ``backend``."""
    from training.host_memory import environment

    # as the training scripts run (JAX on a CPU: huge pages for its buffers)
    env = environment(dict(os.environ, KERAS_BACKEND=backend))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


# --------------------------------------------------------------------------------------------
# --original: side by side with the original release
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the side-by-side table: per-step times of each side, pooled over rounds."""

    config: str
    what: str
    batch: str = ""
    orig: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)
    orig_rss: float | None = None
    ours_rss: float | None = None
    has_orig: bool = True
    failed: set[str] = field(default_factory=set)
    backend: str = ""
    precision: str | None = None  # ours: the precision asked for, then the one it ran in


def _find_mirror(tool: Path) -> Path:
    """Where the tool looks for the akar43/lsm bare clone (``orig_lsm._find_mirror``)."""
    if os.environ.get("LSM_MIRROR"):
        return Path(os.environ["LSM_MIRROR"])
    for d in tool.resolve().parent.parents:
        if (d / ".mirror" / "akar43+lsm" / "repo").is_dir():
            return d / ".mirror" / "akar43+lsm" / "repo"
    return tool.resolve().parent / ".mirror" / "akar43+lsm" / "repo"


def _git(*args: str, cwd: Path) -> str:
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


def _check_original(tool: Path) -> tuple[Path, str]:
    """The mirror and its short commit; exits with a one-line message if either is missing."""
    if not tool.is_file():
        sys.exit(f"--original: the original's benchmark tool is missing: {tool} (see --orig_tool)")
    mirror = _find_mirror(tool)
    commit = _git("rev-parse", "--short", "HEAD", cwd=mirror) if mirror.is_dir() else ""
    if not commit:
        sys.exit(
            f"--original: no akar43/lsm mirror at {mirror} (set LSM_MIRROR to a bare clone of "
            f"github.com/akar43/lsm, or put one at .mirror/akar43+lsm/repo above {tool.parent})"
        )
    return mirror, commit


def _version(*dists: str) -> str:
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


def _header(
    a: argparse.Namespace, mirror: Path, orig_commit: str, load0: float
) -> list[str]:
    model, flags = _cpu()
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ours = commit_label()
    load1 = os.getloadavg()[0]
    steps = f"{a.steps} timed steps" + (
        f" ({a.splat_steps} calls for the unprojection)" if UNPROJECT in a.configs else ""
    )
    lines = [
        "command: `" + shlex.join(["python", "benchmarks/bm_train_step.py", *sys.argv[1:]]) + "`",
        f"machine: {model}, {ncpu} CPUs ({', '.join(flags) or 'flags unknown'}); "
        f"1-min load average {load0:.2f} at start, {load1:.2f} at end",
        "date: " + datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        f"this repository: commit {ours}; Keras backend(s) {', '.join(a.backends)} "
        "(column 'ours backend')",
        f"original: akar43/lsm commit {orig_commit} ({mirror}) under tf.compat.v1 "
        f"(graph mode, TF default threads, out-of-range gathers -> 0), via {a.orig_tool}",
        f"software: Python {platform.python_version()}, "
        f"TensorFlow {_version('tensorflow', 'tensorflow-cpu')}, Keras {_version('keras')}, "
        f"JAX {_version('jax')}",
        f"timing: per side, median of {steps} after the first step + {a.warmup} warm-up "
        f"step(s) (the original: {a.warmup + 1} untimed session run(s) after building its graph); "
        f"{a.rounds} round(s), original then ours; random inputs; "
        "ratio = original s / ours s (above 1: ours faster)",
    ]
    tunables = {b: _backend_env(b).get("GLIBC_TUNABLES") for b in a.backends}
    if any(tunables.values()):
        lines.append("ours' environment: " + "; ".join(
            f"{b}: GLIBC_TUNABLES={t}" for b, t in tunables.items() if t)
            + " (training/host_memory.py, as the training scripts set it)")
    if a.set:
        lines.append("ours with overrides: " + " ".join(a.set))
    return lines


def _cell(ts: list[float], ok: bool) -> str:
    if not ts:
        return "failed" if not ok else ""
    import numpy as np

    med = f"{float(np.median(ts)):.3f}"
    return med if len(ts) == 1 else f"{med} ({min(ts):.3f}-{max(ts):.3f})"


def _ratio(r: Row) -> str:
    if not (r.orig and r.ours):
        return ""
    import numpy as np

    x = float(np.median(r.orig)) / float(np.median(r.ours))
    return f"{x:.2f}x" + ("" if round(x, 2) >= 1 else " (ours slower)")


def _gb(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}"


KIND_NAME = {"vlsm": "V-LSM", "dlsm": "D-LSM"}


def _run_config(
    a: argparse.Namespace, name: str, tool: Path, orig_env: dict, rows: list[Row]
) -> None:
    """Time ``name`` on both sides, ``a.rounds`` times, original first; append its rows (one
    per backend of ours, and per precision or per unprojection form and pass)."""
    case = ORIGINAL_CASES.get(name)
    # the unprojection's rows: (backend, form, pass) for each backend, form and pass
    passes = [(be, form, which) for be in a.backends for form in UNPROJECT_FORMS
              for which in ("fwd", "fwdbwd")]
    if name == UNPROJECT:
        words = {"fwd": "forward", "fwdbwd": "forward+backward"}
        todo = [
            Row(name, f"{case.what}, {words[which]} [ours: {UNPROJECT_MODE.get(be, 'graph')}, "
                f"{form} form]", "8x4 views", backend=be)
            for be, form, which in passes
        ]
    else:
        what = case.what if case else f"{KIND_NAME[CONFIGS[name][0]]} train step"
        todo = [Row(name, what, has_orig=case is not None, precision=p, backend=be)
                for be in a.backends for p in (a.precisions or [None])]
    rows.extend(todo)
    for rnd in range(a.rounds):
        tag = f"{name} (round {rnd + 1}/{a.rounds})"
        if case is not None:
            steps = a.splat_steps if name == UNPROJECT else a.steps
            opts = f"--_orig_child {name} --steps {steps} --warmup {a.warmup + 1}".split()
            cmd = [sys.executable, __file__, *opts, "--orig_tool", str(tool)]
            res = _run_child(cmd, "RESULT ", f"original {tag}", orig_env)
            if res is None:
                for r in todo:
                    r.failed.add("original")
            else:
                if name == UNPROJECT:
                    for r, (_, _, which) in zip(todo, passes, strict=True):
                        r.orig += res["times_s"][which]
                else:
                    for r in todo:  # one original row shared by our precisions
                        r.orig += res["times_s"]["step"]
                        r.orig_rss = max(r.orig_rss or 0.0, res["peak_rss_gb"])
                print(
                    f"done original {tag}: build {res['build_s']} s, wall {res['wall_s']} s "
                    f"{res['note']}",
                    file=sys.stderr,
                )
        if name == UNPROJECT:
            for r, (be, form, which) in zip(todo, passes, strict=True):
                opts = (f"--single {UNPROJECT_MODE.get(be, 'graph')} {which} --repeats "
                        f"{a.splat_steps} --warmup {a.warmup} --form {form}")
                cmd = [sys.executable, str(UNPROJECT_SCRIPT), *opts.split()]
                res = _run_child(cmd, "{", f"ours {be} {tag} {which}", _backend_env(be))
                if res is None:
                    r.failed.add("ours")
                else:
                    r.ours += res["times_s"]
        else:
            for r in todo:
                sets = a.set + ([f'precision="{r.precision}"'] if r.precision else [])
                res = _run_child(_ours_cmd(name, a.steps, a.warmup, sets), "RESULT ",
                                 f"ours {r.backend} {tag} {r.precision or ''}",
                                 _backend_env(r.backend))
                if res is None:
                    r.failed.add("ours")
                    continue
                r.ours += res["step_times_s"]
                r.ours_rss = max(r.ours_rss or 0.0, res["peak_rss_gb"])
                r.batch, r.backend = f"{res['batch']}, {res['image']} px", res["backend"]
                r.precision = res["precision"]
                if case is not None and res["batch"] != f"{case.batch}x4" and "!" not in r.what:
                    r.what += f" (batches differ: original {case.batch}x4!)"
        print(f"done ours {tag}", file=sys.stderr)


def _side_by_side(a: argparse.Namespace) -> None:
    """Original and ours alternately for every selected configuration; one table."""
    from tabulate import tabulate

    tool = Path(a.orig_tool)
    mirror, orig_commit = _check_original(tool)
    load0 = os.getloadavg()[0]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bm_orig_") as tmp:
        # The tool extracts the original sources into a new temp dir per process: keep them here.
        orig_env = dict(_backend_env("tensorflow"), TMPDIR=tmp)
        for name in a.configs:
            _run_config(a, name, tool, orig_env, rows)
    head = _header(a, mirror, orig_commit, load0)
    table = tabulate(
        [
            [
                r.config,
                ORIGINAL_CASES[r.config].case if r.has_orig else "-",
                r.what,
                r.batch,
                r.backend,
                r.precision or ("float32" if r.config == UNPROJECT else ""),
                f"{len(r.orig) if r.has_orig else '-'}/{len(r.ours)}",
                _cell(r.orig, "original" not in r.failed) if r.has_orig else "-",
                _cell(r.ours, "ours" not in r.failed),
                _ratio(r),
                _gb(r.orig_rss),
                _gb(r.ours_rss),
            ]
            for r in rows
        ],
        headers=[
            "config",
            "original case",
            "what",
            "batch",
            "ours backend",
            "ours precision",
            "n (orig/ours)",
            "original s/step",
            "ours s/step",
            "original / ours",
            "original peak RSS GB",
            "ours peak RSS GB",
        ],
        tablefmt="github",
        disable_numparse=True,
    )
    print("\n" + "\n".join(head) + "\n\n" + table)
    if a.markdown:
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        block = (
            f"\n## Side by side with the original release ({date})\n\n"
            + "\n".join(f"- {ln}" for ln in head)
            + "\n\nSeconds per step (per call for the unprojection): median (min-max).\n\n"
            + table
            + "\n"
        )
        path = Path(a.markdown)
        if path.exists() and path.read_text() and not path.read_text().endswith("\n"):
            block = "\n" + block
        with path.open("a") as f:
            f.write(block)
        print(f"appended to {path}", file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--configs",
        nargs="+",
        default=["quick_vlsm", "release_vlsm_2x4", "release_vlsm"],
        choices=sorted([*CONFIGS, UNPROJECT]),
        help=f"configurations ({UNPROJECT!r} only with --original)",
    )
    p.add_argument("--steps", type=int, default=3, help="timed steps (median reported)")
    p.add_argument(
        "--precisions",
        nargs="+",
        choices=("auto", "float32", "bfloat16", "float16"),
        help="time ours in each of these precisions (one row each; with --original beside "
        "one run of the original); default: the configuration's own (auto)",
    )
    p.add_argument(
        "--backends",
        nargs="+",
        choices=("tensorflow", "jax"),
        default=None,
        help="Keras backends to time ours under (one row each); default: $KERAS_BACKEND, "
        "else tensorflow. The original always runs under TensorFlow",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed steps after the first (tracing) step; default 1. With --original the "
        "original gets 1 + this many untimed session runs",
    )
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="overrides (JSON values), e.g. jit_compile=false im_channels=16",
    )
    p.add_argument(
        "--original",
        action="store_true",
        help="also time the original release's matching case (see above); one side-by-side table",
    )
    p.add_argument(
        "--orig_tool",
        default=str(DEFAULT_ORIG_TOOL),
        help="the original's benchmark tool bench_orig.py (default: %(default)s)",
    )
    p.add_argument(
        "--rounds", type=int, default=1, help="with --original: original/ours pairs per config"
    )
    p.add_argument(
        "--splat_steps",
        type=int,
        default=None,
        help="with --original: timed calls of the unprojection per side (default 5 x --steps)",
    )
    p.add_argument(
        "--markdown",
        "--out",
        default=None,
        metavar="FILE",
        help="with --original: append the header and table as a dated Markdown section to FILE",
    )
    p.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--_orig_child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a._orig_child:
        res = _orig_one(Path(a.orig_tool), a._orig_child, a.steps, a.warmup)
        print("RESULT " + json.dumps(res))
        return
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in a.set)}
    if a._child:
        print("RESULT " + json.dumps(_one(a._child, a.steps, overrides, a.warmup)))
        return
    a.backends = a.backends or [os.environ.get("KERAS_BACKEND", "tensorflow")]
    if a.steps < 1 or a.warmup < 0 or a.rounds < 1:
        p.error("need --steps >= 1, --warmup >= 0 and --rounds >= 1")
    if not a.original:
        if UNPROJECT in a.configs:
            p.error(f"{UNPROJECT!r} runs only with --original (alone: benchmarks/bm_unproject.py)")
        if a.markdown:
            p.error("--markdown needs --original")
        _legacy(a)
        return
    a.orig_tool = str(Path(a.orig_tool).resolve())
    a.splat_steps = a.splat_steps or 5 * a.steps
    _side_by_side(a)


if __name__ == "__main__":
    main()
