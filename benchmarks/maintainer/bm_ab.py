"""Head to head: one training step of two versions of this code, in one process, alternating.

On a shared or virtual machine a training step's time drifts by 5-10% over minutes (seen on the
2-core VM of ``docs/performance.md``), more than most single changes make, so timing two
versions in separate runs cannot tell them apart. This script builds the same configuration from
both versions in one process (each version's modules imported from its own copy of the code, its
model compiled and traced, then its modules set aside for the other's), then times their steps
in alternation (after one more untimed step each), ``--rounds`` times (order base, head then
head, base, so a drift within a round favours neither), and compares per round. Both see the
same drift.

Each side is a git revision (``git archive``, into a temporary folder) or, for ``--head`` by
default, this working tree with its uncommitted changes. Both models are seeded alike, so when
the change keeps the maths the losses of their first steps (before any update) agree to rounding
(the table shows them: a difference means the versions do not compute the same thing, or build
their weights differently). Reports wall-clock seconds per step and CPU seconds per step (all
threads; on a loaded machine the steadier of the two), per side, and the per-round ratios head /
base.

Usage::

    python -m benchmarks.maintainer.bm_ab --base HEAD~1            # working tree vs HEAD~1
    python -m benchmarks.maintainer.bm_ab --base a4d5a01 --head HEAD --config release_vlsm \\
        --precision bfloat16 --rounds 10
    KERAS_BACKEND=jax python -m benchmarks.maintainer.bm_ab --base HEAD~1 --config quick_vlsm

(from the repository root, or anywhere once the project is installed with ``pip install -e .``).
Each side's code is found by a meta-path finder (:class:`SideFinder`, first on
``sys.meta_path``) that resolves the project's top-level packages in that side's folder;
``sys.path`` is never changed.

Configurations are ``bm_train_step.py``'s (``--config``; both versions must know it), with
random inputs (``bm_train_step.random_batch``). Prints a table and records the medians
(:func:`benchmarks.common.record`); never asserts.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.abc
import importlib.machinery
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import _git, commit_label, machine, parse_sets, record

REPO = Path(__file__).resolve().parents[2]


def export_revision(rev: str, into: Path) -> tuple[Path, str]:
    """The tracked files of revision ``rev`` in a new folder under ``into``; ``(folder,
    short commit)``. Raises SystemExit naming ``rev`` when git does not know it."""
    commit = _git("rev-parse", "--short", f"{rev}^{{commit}}", cwd=REPO)
    if not commit:
        raise SystemExit(f"bm_ab.py: unknown git revision {rev!r} (in {REPO})")
    out = into / commit
    out.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=REPO,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out, commit


def _top_level_names(root: Path) -> set[str]:
    """Importable top-level names of a code folder: its packages and modules."""
    names = {p.stem for p in root.glob("*.py")}
    names |= {p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.py"))}
    return names


class SideFinder(importlib.abc.MetaPathFinder):
    """Finds the top-level modules ``names`` in ``root`` only, ahead of ``sys.path`` and of an
    editable install's finder; their submodules follow from the package's ``__path__``."""

    def __init__(self, root: Path, names: set[str]) -> None:
        self.root, self.names = Path(root), set(names)

    def find_spec(self, name: str, path=None, target=None):
        if path is not None or name not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, [str(self.root)])
        if spec is not None and spec.submodule_search_locations is not None:
            # a package without __init__.py (a namespace package) would otherwise recompute
            # its __path__ from sys.path and could pick up the other side's folder
            spec.submodule_search_locations = [str(self.root / name)]
        return spec


def _switch_to(root: Path, names: set[str]) -> SideFinder:
    """Make ``root`` the code that ``import`` finds for ``names``: drop every loaded module of
    ``names`` (objects already built keep theirs) and put a :class:`SideFinder` for ``root``
    first on ``sys.meta_path`` in place of the previous side's."""
    for mod in list(sys.modules):
        if mod.split(".")[0] in names:
            del sys.modules[mod]
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, SideFinder)]
    finder = SideFinder(root, names)
    sys.meta_path.insert(0, finder)
    importlib.invalidate_caches()
    return finder


class Side:
    """One version: its code folder, a label, and once built its compiled model and batch."""

    def __init__(self, label: str, root: Path, rev: str) -> None:
        self.label, self.root, self.rev = label, root, rev
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.losses: list[float] = []

    def build(self, config: str, sets: dict, names: set[str], warmup: int) -> None:
        """Import this version, build and compile ``config``'s model and run its first
        ``1 + warmup`` steps (tracing), so that no code of this version is imported later."""
        _switch_to(self.root, names)
        try:
            from benchmarks.bm_train_step import CONFIGS, compiled_model, random_batch
            from training.config import load_args
            from training.precision import resolve_precision
            from training.tasks import model_inputs
        except ImportError as e:
            raise SystemExit(f"bm_ab.py: {self.label} ({self.rev}) lacks what this script "
                             f"needs: {e}") from None
        if config not in CONFIGS:
            raise SystemExit(f"bm_ab.py: {self.label} ({self.rev}) has no configuration "
                             f"{config!r} (it has {', '.join(sorted(CONFIGS))})")
        kind, argsjs, extra = CONFIGS[config]
        args = load_args(self.root / argsjs, {**extra, **sets})
        self.precision = resolve_precision(args.precision)
        self.task, self.model = compiled_model(kind, args)
        batch = random_batch(args)
        self.x, self.y = model_inputs(batch), self.task.keras_target(batch)
        t0 = time.perf_counter()
        self.first_loss = _loss(self.model.train_on_batch(self.x, self.y))  # initial weights
        for _ in range(warmup):
            self.model.train_on_batch(self.x, self.y)
        self.first_s = time.perf_counter() - t0

    def run(self, steps: int) -> None:
        for _ in range(steps):
            c0, t0 = time.process_time(), time.perf_counter()
            loss = self.model.train_on_batch(self.x, self.y)
            self.wall.append(time.perf_counter() - t0)
            self.cpu.append(time.process_time() - c0)
            self.losses.append(_loss(loss))


def _loss(out) -> float:
    """The loss of what ``train_on_batch`` returns (a scalar, or a list led by the loss)."""
    return float(out[0] if isinstance(out, list | tuple) else out)


def compare(base: Side, head: Side, rounds: int, steps: int) -> list[tuple[float, float]]:
    """Alternate the two sides ``rounds`` times (base, head; then head, base; ...), ``steps``
    steps per turn; the per-round (wall, CPU) ratios head / base."""
    ratios = []
    for r in range(rounds):
        order = (base, head) if r % 2 == 0 else (head, base)
        for side in order:
            side.run(steps)
        b_w, h_w = sum(base.wall[-steps:]), sum(head.wall[-steps:])
        b_c, h_c = sum(base.cpu[-steps:]), sum(head.cpu[-steps:])
        ratios.append((h_w / b_w, h_c / b_c))
        print(f"round {r + 1}/{rounds}: base {b_w / steps:.3f} s, head {h_w / steps:.3f} s "
              f"(head/base {h_w / b_w:.3f}, CPU {h_c / b_c:.3f})", file=sys.stderr)
    return ratios


def report(a: argparse.Namespace, base: Side, head: Side,
           ratios: list[tuple[float, float]]) -> str:
    import keras
    import numpy as np
    from tabulate import tabulate

    def spread(xs: list[float]) -> str:
        return f"{np.median(xs):.3f} ({min(xs):.3f}-{max(xs):.3f})"

    rows = [[s.label, s.rev, s.precision, spread(s.wall), spread(s.cpu), f"{s.first_s:.1f}",
             f"{s.first_loss:.7g}", f"{s.losses[-1]:.6g}"] for s in (base, head)]
    table = tabulate(rows, headers=["side", "code", "precision", "s/step (median, min-max)",
                                    "CPU s/step", "first steps s", "first step's loss",
                                    "last loss"], tablefmt="github")
    wall, cpu = np.array(ratios).T
    # the first step's loss comes from the same initial weights: equal up to the rounding of
    # the forward pass (threaded sums, summation order), larger in a low precision
    tol = 1e-5 if {base.precision, head.precision} == {"float32"} else 1e-3
    diff = abs(head.first_loss - base.first_loss) / max(abs(base.first_loss), 1e-30)
    lines = [
        "command: `" + shlex.join(["python", "-m", "benchmarks.maintainer.bm_ab",
                                   *sys.argv[1:]]) + "`",
        f"machine: {a.machine}; Keras {keras.__version__} on {keras.backend.backend()}",
        "date: " + datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        f"config {a.config}" + (f" with {' '.join(a.set)}" if a.set else "")
        + f"; {a.rounds} rounds of {a.steps} step(s) per side, alternating",
        "",
        table,
        "",
        f"head / base per round: wall {np.median(wall):.3f} (range {wall.min():.3f}-"
        f"{wall.max():.3f}), CPU {np.median(cpu):.3f} ({cpu.min():.3f}-{cpu.max():.3f}); "
        f"below 1: head faster. Head faster in {int((wall < 1).sum())} of {len(wall)} rounds.",
        f"First step's losses (same initial weights): relative difference {diff:.1e}, "
        + (f"within {tol:g} ({base.precision}): the same step" if diff <= tol else
           f"above {tol:g} ({base.precision}): the two versions do not compute the same step "
           "(or build their weights differently)") + ".",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="git revision of the base side")
    p.add_argument("--head", default=None,
                   help="git revision of the head side (default: this working tree)")
    p.add_argument("--config", default="release_vlsm_2x4",
                   help="a bm_train_step.py configuration (default release_vlsm_2x4)")
    p.add_argument("--precision", default=None,
                   help="precision of both sides (default: the configuration's)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="overrides of the configuration's args (JSON values), both sides")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--steps", type=int, default=1, help="timed steps per side per round")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps after the first")
    a = p.parse_args(argv)
    if a.rounds < 1 or a.steps < 1:
        raise SystemExit("bm_ab.py: --rounds and --steps must be at least 1")
    if a.precision:
        a.set = [*a.set, f'precision="{a.precision}"']
    overrides = parse_sets(a.set)  # as bm_train_step.py's --set: JSON values
    import numpy as np

    try:  # as the training scripts run (JAX on a CPU), where this checkout still restarts
        from training.host_memory import restart_with_huge_pages
    except ImportError:
        pass
    else:
        restart_with_huge_pages()
    a.machine = machine()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory(prefix="bm_ab_") as tmp:
        base_root, base_rev = export_revision(a.base, Path(tmp))
        if a.head is None:
            head_root, head_rev = REPO, commit_label()
        else:
            head_root, head_rev = export_revision(a.head, Path(tmp))
        names = _top_level_names(REPO) | _top_level_names(base_root)
        sides = Side("base", base_root, base_rev), Side("head", head_root, head_rev)
        for side in sides:
            print(f"building {side.label} ({side.rev}) ...", file=sys.stderr)
            side.build(a.config, overrides, names, a.warmup)
        for side in sides:  # untimed: the base's first step after the head's build was slow
            side.model.train_on_batch(side.x, side.y)
        ratios = compare(*sides, a.rounds, a.steps)
        text = report(a, *sides, ratios)
        import keras

        backend = keras.backend.backend()
        _switch_to(REPO, names)  # this checkout's records API, whatever the sides were
    print(text)
    base, head = sides
    record("bm_ab", a.config, float(np.median(head.wall)), backend=backend,
           precision=head.precision, what="train step, head (two revisions in one process)",
           stats={"seconds_min": min(head.wall), "seconds_max": max(head.wall),
                  "n": len(head.wall)},
           baseline={"name": f"base {base.rev}", "seconds": float(np.median(base.wall))},
           notes=f"head {head.rev}; head/base per round: median wall "
                 f"{np.median([w for w, _ in ratios]):.3f}, CPU "
                 f"{np.median([c for _, c in ratios]):.3f}; " + " ".join(a.set))


if __name__ == "__main__":
    main()
