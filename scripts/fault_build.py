"""Fault injection for the dataset builder: kill -9 a build at random moments, rerun, compare.

Usage (from the repository root)::

    python scripts/fault_build.py                         # 20 trials of `synth --size tiny`
    python scripts/fault_build.py --trials 50 --workers 2 --seed 1
    python scripts/fault_build.py --per_class 1 --classes 03001627 02691156 --trials 3

What it does:
    1. makes ``--timing_runs`` (default 2) uninterrupted builds with
       ``python -m data.build synth ...``, checks that they are identical and takes the
       shortest one's duration as the reference duration;
    2. for each trial, starts the same command on a fresh root, sends SIGKILL to it after a delay
       drawn uniformly from [0, reference duration] (to the builder process only, as
       ``kill -9 <pid>`` does: its pool workers are not signalled by this script), counts the
       files present at that moment, reruns the same command to completion and compares every
       file (relative path and sha256) and every folder with the reference.

It prints a table (trial, kill time, files and temporary entries at the kill, rerun status,
exact or the first differences) and a summary line
``N/N exact (K killed mid-build, D finished before the kill)``; exit status 0 when every trial
is exact.
Nothing is excluded from the comparison: the builder writes no timestamps (its MAT-file headers
are fixed and its manifest holds only the build options).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tree_digest(root: Path) -> dict[str, str]:
    """Every file and folder under ``root``: relative path -> sha256 of the file (``"<dir>"``).

    Args:
        root: folder to describe (missing: empty result).

    Returns:
        Mapping sorted by relative path (POSIX separators).
    """
    root = Path(root)
    out: dict[str, str] = {}
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        for d in dirnames:
            out[(rel / d).as_posix()] = "<dir>"
        for f in filenames:
            out[(rel / f).as_posix()] = hashlib.sha256((Path(dirpath) / f).read_bytes()).hexdigest()
    return dict(sorted(out.items()))


def diff_trees(ref: dict[str, str], got: dict[str, str], limit: int = 5) -> list[str]:
    """Human-readable differences between two :func:`tree_digest` results (at most ``limit``)."""
    diffs = [f"missing {p}" for p in ref if p not in got]
    diffs += [f"extra {p}" for p in got if p not in ref]
    diffs += [f"differs {p}" for p in ref if p in got and ref[p] != got[p]]
    return diffs[:limit] + ([f"... {len(diffs) - limit} more"] if len(diffs) > limit else [])


def count_files(root: Path) -> int:
    """Number of files under ``root`` (0 if it does not exist)."""
    return sum(len(files) for _, _, files in os.walk(root)) if Path(root).is_dir() else 0


def build_command(root: Path, size: str = "tiny", per_class: int | None = None,
                  classes: Sequence[str] | None = None, workers: int | None = None,
                  seed: int = 0) -> list[str]:
    """The ``python -m data.build synth`` command line that builds into ``root``."""
    cmd = [sys.executable, "-m", "data.build", "synth", "--size", size, "--root", str(root),
           "--seed", str(seed), "--quiet"]
    if per_class is not None:
        cmd += ["--per_class", str(per_class)]
    if classes:
        cmd += ["--classes", *classes]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    return cmd


def run_build(cmd: Sequence[str]) -> tuple[int, float, str]:
    """Run a build command to completion. Returns (exit status, seconds, stderr)."""
    t0 = time.perf_counter()
    p = subprocess.run(list(cmd), cwd=REPO, capture_output=True, text=True)
    return p.returncode, time.perf_counter() - t0, p.stderr


@dataclass
class Trial:
    """Outcome of one kill-and-rerun trial."""

    index: int
    delay: float
    finished_before_kill: bool = False
    files_at_kill: int = 0
    partial_at_kill: int = 0
    rerun_rc: int = -1
    rerun_s: float = 0.0
    diffs: list[str] = field(default_factory=list)
    rerun_stderr: str = ""

    @property
    def exact(self) -> bool:
        """Whether the rerun succeeded and every file matches the reference."""
        return self.rerun_rc == 0 and not self.diffs


def _partial_entries(root: Path) -> int:
    """Temporary entries (dot-names: model temp folders, atomic-write temp files) under root."""
    n = 0
    for _, dirnames, filenames in os.walk(root):
        n += sum(1 for name in dirnames + filenames
                 if name.startswith(".tmp-") or name.endswith(".tmp"))
    return n


def kill_trial(index: int, cmd: Sequence[str], root: Path, delay: float,
               reference: dict[str, str], kill_group: bool = False) -> Trial:
    """Start ``cmd``, SIGKILL it after ``delay`` s, rerun it to completion and compare.

    Args:
        index: trial number (for the report).
        cmd: the build command (its ``--root`` must be ``root``).
        root: the trial's data root (must not exist yet).
        delay: seconds between the start and the kill.
        reference: :func:`tree_digest` of an uninterrupted build.
        kill_group: kill the whole process group (the builder and its workers) instead of the
            builder process only.
    """
    trial = Trial(index, delay)
    proc = subprocess.Popen(list(cmd), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=delay)
        trial.finished_before_kill = True
    except subprocess.TimeoutExpired:
        if kill_group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    trial.files_at_kill = count_files(root)
    trial.partial_at_kill = _partial_entries(root)
    trial.rerun_rc, trial.rerun_s, trial.rerun_stderr = run_build(cmd)
    trial.diffs = diff_trees(reference, tree_digest(root))
    return trial


def run_trials(trials: int, workdir: Path, size: str = "tiny", per_class: int | None = None,
               classes: Sequence[str] | None = None, workers: int | None = None,
               seed: int = 0, rng_seed: int = 0, kill_group: bool = False,
               fractions: Sequence[float] | None = None, keep: bool = False,
               timing_runs: int = 2, out=sys.stdout) -> tuple[list[Trial], float]:
    """Build a reference, then run ``trials`` kill-and-rerun trials under ``workdir``.

    Args:
        trials: number of trials.
        workdir: scratch folder (reference and trial roots are made inside).
        size, per_class, classes, workers, seed: the build's options.
        rng_seed: seed of the kill delays.
        kill_group: see :func:`kill_trial`.
        fractions: explicit kill delays as fractions of the reference duration (else drawn
            uniformly over [0, 1)); trial ``i`` uses ``fractions[i]``.
        keep: keep each trial's root (else removed after an exact trial).
        timing_runs: uninterrupted builds made first; they must be identical, and the shortest
            one's duration is the reference duration.
        out: where progress lines go.

    Returns:
        The trials and the reference build's duration in seconds.
    """
    workdir = Path(workdir)
    ref_root = workdir / "reference"
    opts = dict(size=size, per_class=per_class, classes=classes, workers=workers, seed=seed)
    durations, reference = [], {}
    for k in range(max(1, timing_runs)):
        root = ref_root if k == 0 else workdir / f"reference{k}"
        rc, seconds, err = run_build(build_command(root, **opts))
        if rc != 0:
            raise RuntimeError(f"reference build failed (exit {rc}):\n{err}")
        durations.append(seconds)
        if k == 0:
            reference = tree_digest(ref_root)
        else:  # two uninterrupted builds must agree too (determinism)
            diffs = diff_trees(reference, tree_digest(root))
            if diffs:
                raise RuntimeError(f"two uninterrupted builds differ: {diffs}")
            shutil.rmtree(root, ignore_errors=True)
    duration = min(durations)
    print(f"reference build: {sum(v != '<dir>' for v in reference.values())} files, "
          f"{sum(v == '<dir>' for v in reference.values())} folders; "
          f"{len(durations)} uninterrupted build(s) identical, taking "
          f"{', '.join(f'{d:.2f}' for d in durations)} s: kill delays ~ U(0, {duration:.2f}) s",
          file=out)
    rng = random.Random(rng_seed)
    results = []
    for i in range(trials):
        delay = (fractions[i] if fractions is not None else rng.random()) * duration
        root = workdir / f"trial{i:03d}"
        t = kill_trial(i, build_command(root, **opts), root, delay, reference, kill_group)
        results.append(t)
        if t.exact and not keep:
            shutil.rmtree(root, ignore_errors=True)
    return results, duration


def format_table(results: Sequence[Trial]) -> str:
    """The trials as a plain-text table and the ``N/N exact`` summary line."""
    head = ["trial", "kill at (s)", "files at kill", "temp entries at kill", "rerun",
            "rerun (s)", "result"]
    rows = []
    for t in results:
        status = "exact" if t.exact else "different: " + "; ".join(t.diffs or ["rerun failed"])
        rows.append([t.index, f"{t.delay:.2f}" + (" (done)" if t.finished_before_kill else ""),
                     t.files_at_kill, t.partial_at_kill, f"exit {t.rerun_rc}",
                     f"{t.rerun_s:.2f}", status])
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    n_exact = sum(t.exact for t in results)
    n_done = sum(t.finished_before_kill for t in results)
    lines.append(f"{n_exact}/{len(results)} exact ({len(results) - n_done} killed mid-build, "
                 f"{n_done} finished before the kill)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--size", default="tiny")
    p.add_argument("--per_class", type=int, default=None)
    p.add_argument("--classes", nargs="*", default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--seed", type=int, default=0, help="seed of the kill delays")
    p.add_argument("--kill_group", action="store_true",
                   help="kill the builder's whole process group, not only the builder")
    p.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    p.add_argument("--keep", action="store_true", help="keep every trial's root")
    p.add_argument("--timing_runs", type=int, default=2,
                   help="uninterrupted builds to time (the shortest sets the kill delays)")
    args = p.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fault_build-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        results, _ = run_trials(args.trials, workdir, args.size, args.per_class, args.classes,
                                args.workers, rng_seed=args.seed, kill_group=args.kill_group,
                                keep=args.keep, timing_runs=args.timing_runs)
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(format_table(results))
    for t in results:
        if t.rerun_rc != 0:
            print(f"trial {t.index}: rerun stderr:\n{t.rerun_stderr}", file=sys.stderr)
    return 0 if all(t.exact for t in results) else 1


if __name__ == "__main__":
    sys.exit(main())
