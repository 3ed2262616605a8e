"""Side by side with the original release: the same training steps timed here and in akar43/lsm.

Every selected configuration with a counterpart in the original release is timed on both
sides in one invocation, alternating (original first) ``--rounds`` times. The original runs
under ``tf.compat.v1`` through the external tool ``--orig_tool`` (default
``../shared/tools/orig/bench_orig.py`` next to this repository), which extracts the original
code from a bare clone of akar43/lsm (``$LSM_MIRROR``, or the first ``.mirror/akar43+lsm/repo``
in a folder above the tool); it is imported only in its own subprocess (it disables TF2
behaviour) and nothing of the original is stored here. Counterparts:

==================== ====================================================================
``release_vlsm``     ``vlsm``: V-LSM train step, 8 models x 4 views, 224 px, 32^3
``release_vlsm_2x4`` ``vlsm_quick``: the same with 2 models
``release_dlsm``     ``dlsm``: D-LSM train step, 2 models x 4 views, 224 px
``unproject``        ``splat``: the unprojection alone, 32 views of 112x112x32 -> 32^3,
                     forward and forward + backward, ours in the release form and in the
                     views-first form the trunk calls (``benchmarks/bm_unproject.py``)
==================== ====================================================================

Example (from the repository root)::

    python -m benchmarks.maintainer.bm_original --configs release_vlsm_2x4 release_dlsm \\
        unproject --precisions float32 bfloat16 --steps 3

The table gives per side the median seconds per step (min-max), the ratio original / ours
(above 1: ours faster) and peak RSS; never asserts.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import REPO, _git, backend_env, header, peak_rss_gb, record, run_child

#: our configuration -> (the original tool's case, models per batch, what it times)
CASES = {
    "release_vlsm": ("vlsm", 8, "V-LSM train step, 224 px, 32^3"),
    "release_vlsm_2x4": ("vlsm_quick", 2, "V-LSM train step, 224 px, 32^3"),
    "release_dlsm": ("dlsm", 2, "D-LSM train step, 224 px"),
    "unproject": ("splat", 8, "unprojection, 112x112x32 feature maps -> 32^3"),
}
DEFAULT_TOOL = REPO.parent / "shared" / "tools" / "orig" / "bench_orig.py"
#: our unprojection's compiled mode per backend (what a training step uses)
UNPROJECT_MODE = {"tensorflow": "graph", "jax": "jit"}


@dataclass
class Row:
    """One line of the table: per-step times of each side, pooled over the rounds."""

    config: str
    what: str
    backend: str
    precision: str = "float32"
    unproject: tuple[str, str] | None = None  # (form, pass) of an unprojection row
    orig: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)
    orig_rss: float = 0.0
    ours_rss: float = 0.0


def orig_child(tool: Path, name: str, steps: int, warmup: int) -> dict:
    """Time the original's counterpart of ``name`` in this process by importing ``tool``
    (only ever in a subprocess of its own: the tool disables TF2 behaviour)."""
    spec = importlib.util.spec_from_file_location("bench_orig", tool)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {tool}")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    case, batch, _ = CASES[name]
    if case == "splat":
        fwd, fwdbwd, _, _ = bench.bench_splat(steps, warmup, 0, "zero")
        times = {"fwd": fwd, "fwdbwd": fwdbwd}
    else:
        times = {"step": bench.bench_model(case.removesuffix("_quick"), batch, steps, warmup,
                                           0, "zero")[0]}
    return {"times_s": {k: [float(t) for t in v] for k, v in times.items()},
            "commit": bench.O.load_orig().commit, "peak_rss_gb": peak_rss_gb()}


def _mirror_commit(tool: Path) -> str:
    """The short commit of the akar43/lsm mirror the tool reads; SystemExit if missing."""
    if not tool.is_file():
        raise SystemExit(f"bm_original.py: the original's benchmark tool is missing: {tool}")
    mirror = Path(os.environ["LSM_MIRROR"]) if os.environ.get("LSM_MIRROR") else next(
        (d / ".mirror/akar43+lsm/repo" for d in tool.resolve().parents
         if (d / ".mirror/akar43+lsm/repo").is_dir()), tool.parent / ".mirror/akar43+lsm/repo")
    commit = _git("rev-parse", "--short", "HEAD", cwd=mirror) if mirror.is_dir() else ""
    if not commit:
        raise SystemExit(f"bm_original.py: no akar43/lsm mirror at {mirror} (set LSM_MIRROR "
                         "to a bare clone of github.com/akar43/lsm)")
    return commit


def _rows(a: argparse.Namespace, name: str) -> list[Row]:
    what = CASES[name][2]
    if name == "unproject":
        return [Row(name, f"{what}, {which} [{form} form]", be, unproject=(form, which))
                for be in a.backends for form in ("release", "training")
                for which in ("fwd", "fwdbwd")]
    return [Row(name, what, be, p) for be in a.backends for p in a.precisions]


def _time_config(a: argparse.Namespace, name: str, orig_env: dict) -> list[Row]:
    """``a.rounds`` rounds of the original then ours for configuration ``name``."""
    rows = _rows(a, name)
    steps = a.steps * (5 if name == "unproject" else 1)
    for rnd in range(a.rounds):
        tag = f"{name} round {rnd + 1}/{a.rounds}"
        res = run_child("benchmarks.maintainer.bm_original", [
            "--orig_child", name, "--steps", str(steps), "--warmup", str(a.warmup + 1),
            "--orig_tool", str(a.orig_tool)], f"original {tag}", orig_env)
        for r in rows if res else []:
            r.orig += res["times_s"][r.unproject[1] if r.unproject else "step"]
            r.orig_rss = max(r.orig_rss, res["peak_rss_gb"])
        for r in rows:
            if r.unproject:
                form, which = r.unproject
                mod, argv = "benchmarks.bm_unproject", [
                    "--single", UNPROJECT_MODE[r.backend], which, "--repeats", str(steps),
                    "--warmup", str(a.warmup), "--form", form]
            else:
                mod, argv = "benchmarks.bm_train_step", [
                    "--child", name, "--steps", str(steps), "--warmup", str(a.warmup),
                    "--set", f'precision="{r.precision}"']
            out = run_child(mod, argv, f"ours {r.backend} {tag}", backend_env(r.backend),
                            prefix="{" if r.unproject else "RESULT ")
            if out:
                r.ours += out["times_s"] if r.unproject else out["step_times_s"]
                r.ours_rss = max(r.ours_rss, out.get("peak_rss_gb", 0.0))
        print(f"done {tag}", file=sys.stderr)
    return rows


def _cell(ts: list[float]) -> str:
    import numpy as np

    if not ts:
        return "failed"
    med = f"{float(np.median(ts)):.3f}"
    return med if len(ts) == 1 else f"{med} ({min(ts):.3f}-{max(ts):.3f})"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", default=["release_vlsm_2x4"], choices=sorted(CASES))
    p.add_argument("--steps", type=int, default=3,
                   help="timed steps per side (5x as many calls of the unprojection)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps after the first")
    p.add_argument("--precisions", nargs="+", default=["float32"],
                   choices=("auto", "float32", "bfloat16", "float16"), help="ours, one row each")
    p.add_argument("--backends", nargs="+", default=["tensorflow"], choices=UNPROJECT_MODE,
                   help="ours, one row each (the original always runs on TensorFlow)")
    p.add_argument("--rounds", type=int, default=1, help="original / ours pairs per config")
    p.add_argument("--orig_tool", type=Path, default=DEFAULT_TOOL)
    p.add_argument("--orig_child", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.orig_tool = a.orig_tool.resolve()
    if a.orig_child:
        import json

        print("RESULT " + json.dumps(orig_child(a.orig_tool, a.orig_child, a.steps, a.warmup)))
        return
    if a.steps < 1 or a.warmup < 0 or a.rounds < 1:
        p.error("need --steps >= 1, --warmup >= 0 and --rounds >= 1")
    orig_commit = _mirror_commit(a.orig_tool)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bm_orig_") as tmp:  # the tool's extracted code
        orig_env = dict(backend_env("tensorflow"), TMPDIR=tmp)
        for name in a.configs:
            rows += _time_config(a, name, orig_env)
    import numpy as np

    table = [{"config": r.config, "original case": CASES[r.config][0], "what": r.what,
              "ours backend": r.backend, "ours precision": r.precision,
              "original s/step": _cell(r.orig), "ours s/step": _cell(r.ours),
              "original / ours": (f"{np.median(r.orig) / np.median(r.ours):.2f}x"
                                  if r.orig and r.ours else ""),
              "original RSS GB": r.orig_rss, "ours RSS GB": r.ours_rss} for r in rows]
    from benchmarks.common import show

    show(header("maintainer.bm_original", [
        f"original: akar43/lsm {orig_commit} under tf.compat.v1 via {a.orig_tool}",
        f"per side: median of {a.steps} timed steps after the first + {a.warmup} warm-up; "
        f"{a.rounds} round(s), original first; random inputs"]), table)
    for r in rows:
        if r.orig and r.ours:
            record("bm_original", r.config, float(np.median(r.ours)), backend=r.backend,
                   precision=r.precision, what=r.what,
                   stats={"seconds_min": min(r.ours), "seconds_max": max(r.ours),
                          "n": len(r.ours), "peak_rss_gb": r.ours_rss},
                   baseline={"name": f"original release {orig_commit}",
                             "seconds": float(np.median(r.orig)), "peak_rss_gb": r.orig_rss})


if __name__ == "__main__":
    main()
