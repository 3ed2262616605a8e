"""Reliability survey: every bad input and fault a new user could meet, tried on the real scripts.

Each scenario runs the project's own command lines in a subprocess (``voxels/*_vlsm.py``,
``depth/*_dlsm.py``, ``python -m data.build``, ``python -m data.check``), exactly as a user
would type them, on a tiny synthetic dataset and a tiny V-LSM (the ``TINY`` configuration of
``tests/training/test_loop.py``). One finished tiny training run (``--niters 4 --ckpt_iters 2``:
checkpoints ``mvnet-2`` and ``mvnet-4``) is made once and copied into each scenario that needs a
run. Every outcome is classified:

* **good**: the expected exit status (non-zero for a bad input, or a documented graceful
  outcome), exactly one error line (or one clear line) that names the file, key or argument, no
  Python traceback, no TensorFlow start-up notices, and nothing lost (the run's checkpoints,
  ``args.json`` and results hashed before and after);
* **poor**: an error, but with a traceback, without naming the file/key, with several error
  lines or TensorFlow notices, or a valid request refused;
* **bad**: data lost or overwritten, a silently wrong result (exit 0 where it should have
  failed, or a wrong number), a crash (a signal such as SIGSEGV) or a hang;
* **skip**: the scenario could not be set up here (e.g. no permission to mount a tmpfs).

Usage (from the repository root)::

    python scripts/reliability_survey.py                                # table + counts
    python scripts/reliability_survey.py --markdown docs/reliability.md # ... and the doc
    python scripts/reliability_survey.py --only camera --jobs 1         # a subset

It takes about 10-15 minutes on 2 CPU cores (most of it TensorFlow start-up, ~5 s a script).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable

#: The tiny V-LSM of tests/training/test_loop.py (seconds per run on 2 CPU cores).
TINY: dict[str, object] = {
    "im_h": 32, "im_w": 32, "nvox": 32, "im_channels": 4, "grid_channels": 4,
    "batch_size": 2, "im_batch": 2, "prefetch_threads": 2, "lr": 3e-3, "sum_iters": 1000,
    "ckpt_iters": 1000, "test_batch_size": 4, "val_batch_size": 4, "test_im_batch": 2,
    "val_im_batch": 2}
#: The tiny D-LSM of tests/training/test_dlsm.py.
TINY_D: dict[str, object] = {**TINY, "depth_channels": 4, "ray_samples": 16}

#: TensorFlow / absl start-up notices a user should never see.
NOISE = ("oneDNN custom operations", "absl::InitializeLog", "TF-TRT Warning",
         "This TensorFlow binary is optimized", "Unable to register cu", "cuda_dnn",
         "could not open file to read NUMA")
TRACEBACK = "Traceback (most recent call last)"
#: A Python warning printed by the warnings module (``file:line: RuntimeWarning: ...``).
PY_WARNING = re.compile(r"\b(\w+Warning): ")
#: Lines that report an error (the project's logging format and argparse's).
ERROR_LINE = re.compile(r"(^|\s)(ERROR|CRITICAL)\s|: error: |^Error: |^\S*Error: ")

CLASSES = ("good", "poor", "bad", "skip")


# ---------------------------------------------------------------------------------------------
# Running and judging
# ---------------------------------------------------------------------------------------------
@dataclass
class Result:
    """One finished command: exit status, combined stdout+stderr and wall time."""

    argv: list[str]
    rc: int
    out: str
    seconds: float


@dataclass
class Outcome:
    """One row of the survey table."""

    kind: str
    name: str
    command: str
    rc: int | str
    cls: str
    message: str
    why: str = ""
    seconds: float = 0.0


@dataclass
class Env:
    """What the scenarios share: the temporary folder, the tiny data root and the tiny run."""

    tmp: Path
    tiny: Path
    run: Path
    drun: Path | None = None
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def scratch(self, name: str) -> Path:
        """A fresh folder for one scenario."""
        n = next(self.counter)
        d = self.tmp / "s" / f"{n:03d}_{re.sub(r'[^A-Za-z0-9]+', '_', name)[:40]}"
        d.mkdir(parents=True)
        return d


def env_vars() -> dict[str, str]:
    """The user's environment without PYTHONPATH (the scripts must work without it)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


#: Seconds a process may go on after it printed an error line before it counts as hung.
HANG_AFTER_ERROR = 20.0
#: Exit status recorded for a process killed because it hung.
HUNG = -999


def run(argv: Sequence[str], timeout: float = 240) -> Result:
    """Run ``python argv...`` in the repository root. A process still running ``timeout``
    seconds after its start, or :data:`HANG_AFTER_ERROR` seconds after it printed an error
    line, is killed and gets the exit status :data:`HUNG`."""
    full = [PY, *map(str, argv)]
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as f:
        p = subprocess.Popen(full, cwd=REPO, env=env_vars(), stdout=f,
                             stderr=subprocess.STDOUT)
        error_at = None
        while p.poll() is None:
            time.sleep(0.25)
            now = time.monotonic()
            if error_at is None:
                f.seek(0)
                if error_lines(f.read().decode(errors="replace")):
                    error_at = now
            if now - t0 > timeout or (error_at is not None
                                      and now - error_at > HANG_AFTER_ERROR):
                p.kill()
                p.wait()
                f.seek(0)
                return Result(full, HUNG, f.read().decode(errors="replace"), now - t0)
        f.seek(0)
        return Result(full, p.returncode, f.read().decode(errors="replace"),
                      time.monotonic() - t0)


def lines_of(out: str) -> list[str]:
    """Output lines without progress-bar redraws (tqdm writes ``\\r``)."""
    res = []
    for raw in out.splitlines():
        for seg in raw.split("\r"):
            line = seg.strip()
            if re.match(r"^(train|eval) \w+:", line):
                # a log line written behind a progress bar: keep the log line
                m = re.search(r"\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) .*$"
                              r"|[\w./-]+\.py:\d+: \w+Warning: .*$", line)
                line = m.group(0) if m else ""
            if line and (not res or res[-1] != line):
                res.append(line)
    return res


def detail_lines(out: str) -> int:
    """Lines after the first error line that are not log lines (e.g. a list of details)."""
    ls = lines_of(out)
    first = next((i for i, ln in enumerate(ls) if ERROR_LINE.search(ln)), None)
    if first is None:
        return 0
    return sum(1 for ln in ls[first + 1:] if not re.match(r"^\d\d:\d\d:\d\d ", ln)
               and not ln.startswith("("))


def error_lines(out: str) -> list[str]:
    """The lines that report an error."""
    return [ln for ln in lines_of(out) if ERROR_LINE.search(ln)]


def message_of(out: str, prefer: str | None = None) -> str:
    """The line a user reads: the first error line, else a line holding ``prefer``, else the
    first WARNING line, else the last line."""
    errs = error_lines(out)
    if errs:
        return errs[0]
    ls = lines_of(out)
    if prefer:
        for ln in ls:
            if prefer.lower() in ln.lower():
                return ln
    for ln in ls:
        if " WARNING " in ln:
            return ln
    return ls[-1] if ls else ""


def tree_hash(folder: Path, skip: Callable[[str], bool] = lambda rel: False) -> dict[str, str]:
    """sha256 of every file under ``folder`` (relative path -> digest)."""
    res = {}
    if not folder.exists():
        return res
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_file() and not skip(rel):
            res[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return res


def lost_files(before: dict[str, str], after: dict[str, str]) -> str | None:
    """What changed or disappeared between two :func:`tree_hash` results (None: nothing)."""
    gone = [k for k in before if k not in after]
    changed = [k for k in before if k in after and before[k] != after[k]]
    if not gone and not changed:
        return None
    return "lost or changed: " + ", ".join((gone + changed)[:4])


def judge(res: Result, *, expect: str = "error", rc: int | None = None,
          names: Sequence[str] = (), lost: str | None = None, wrong: str | None = None,
          want: str | None = None, refused_ok: bool = False) -> tuple[str, str, str]:
    """Classify a result: ``(class, why, message line)``.

    Args:
        res: the command's result.
        expect: "error" (a bad input: must fail) or "ok" (must succeed, e.g. a resume).
        rc: the exact exit status expected, if any.
        names: substrings the message line must hold (the file, key or argument).
        lost: what was lost or overwritten (bad), None if nothing.
        wrong: a wrong result the scenario found (bad), None if none.
        want: a substring the output must hold (e.g. a warning), else poor.
        refused_ok: for ``expect="ok"``, a clear refusal is a documented graceful outcome.
    """
    msg = message_of(res.out, prefer=want)
    if res.rc == HUNG:
        after = " after its error line" if error_lines(res.out) else ""
        return "bad", f"hung{after} (killed after {res.seconds:.0f} s)", msg
    if res.rc < 0 or res.rc in (134, 139):
        return "bad", f"crash (exit status {res.rc})", msg
    if lost:
        return "bad", lost, msg
    if wrong:
        return "bad", wrong, msg
    if expect == "error" and res.rc == 0:
        return "bad", "exit status 0: the bad input was accepted", msg
    problems = []
    if rc is not None and res.rc != rc:
        problems.append(f"exit status {res.rc}, expected {rc}")
    if expect == "ok" and res.rc != 0 and rc is None and not refused_ok:
        problems.append("a valid request was refused")
    if TRACEBACK in res.out:
        problems.append("traceback")
    noise = [n for n in NOISE if n in res.out]
    if noise:
        problems.append("TensorFlow notices: " + ", ".join(noise))
    pywarn = sorted(set(PY_WARNING.findall(res.out)))
    if pywarn:
        problems.append("Python warnings printed: " + ", ".join(pywarn))
    errs = error_lines(res.out)
    if expect == "error" and len(errs) != 1:
        problems.append(f"{len(errs)} error lines")
    if expect == "error" and detail_lines(res.out) > 2:
        problems.append(f"{detail_lines(res.out)} more lines after the error line")
    missing = [n for n in names if n not in msg]
    if missing:
        problems.append("message does not name " + ", ".join(missing))
    if want and want.lower() not in res.out.lower():
        problems.append(f"no '{want}' in the output")
    if problems:
        return "poor", "; ".join(problems), msg
    return "good", "", msg


def summary_of(argv: Sequence[str], env: Env) -> str:
    """A short command line for the table: temporary paths shortened, and a block of five or
    more tiny-configuration flags folded into ``<tiny flags>``."""
    tiny_keys = {f"--{k}" for k in TINY_D} | {"--data_root", "--split_file", "--logdir"}
    args = [a for a in map(str, argv)]
    if args and args[0] == PY:
        args = args[1:]
    parts: list[str] = []
    i = 0
    while i < len(args):
        j = i
        while j + 1 < len(args) and args[j] in tiny_keys:
            j += 2
        if (j - i) // 2 >= 5:
            parts.append("<tiny flags>")
            i = j
        else:
            parts.append(args[i])
            i += 1
    return short_paths(" ".join(parts).replace(str(REPO) + "/", ""), env)


# ---------------------------------------------------------------------------------------------
# Fixtures: tiny data, tiny run, corruptions
# ---------------------------------------------------------------------------------------------
def tiny_flags(root: Path, logdir: Path, params: dict[str, object] | None = None) -> list[str]:
    """Command-line flags of the tiny configuration on ``root``, logging to ``logdir``."""
    flags: list[str] = []
    for k, v in {**(params or TINY), "data_root": root, "split_file": root / "splits.json",
                 "logdir": logdir}.items():
        flags += [f"--{k}", str(v)]
    return flags


def build_tiny(root: Path) -> None:
    """The tiny synthetic dataset (39 models, ~20 s)."""
    r = run(["-m", "data.build", "synth", "--size", "tiny", "--root", root, "--quiet"], 900)
    if r.rc != 0:
        raise SystemExit(f"building the tiny dataset failed:\n{r.out[-3000:]}")


def train_tiny(root: Path, logdir: Path, script: str = "voxels/train_vlsm.py",
               argsjs: str = "args/args_vlsm.json",
               params: dict[str, object] | None = None) -> Path:
    """A finished tiny run with checkpoints mvnet-2 and mvnet-4; returns its run folder."""
    r = run([script, "--argsjs", argsjs, *tiny_flags(root, logdir, params), "--niters", "4",
             "--ckpt_iters", "2"], 900)
    runs = sorted(logdir.glob("*/train"))
    if r.rc != 0 or not runs:
        raise SystemExit(f"the tiny training run failed:\n{r.out[-3000:]}")
    return runs[-1]


def copy_run(env: Env, d: Path, finished: bool = True) -> Path:
    """A copy of the shared tiny run as ``d/log/<stamp>/train``."""
    dst = d / "log" / "2026-01-01_000000" / "train"
    shutil.copytree(env.run, dst)
    if not finished:
        (dst / "finished.json").unlink(missing_ok=True)
    return dst


def link_root(env: Env, d: Path) -> Path:
    """A copy of the tiny data root made of hard links (corrupt files with :func:`put`)."""
    dst = d / "root"
    shutil.copytree(env.tiny, dst, copy_function=os.link)
    return dst


def put(path: Path, data: bytes) -> None:
    """Replace a file's content without touching its hard-linked original."""
    path.unlink(missing_ok=True)
    path.write_bytes(data)


def first_model(root: Path, split: str = "test") -> tuple[str, str]:
    """The first (synset, model id) of ``split``."""
    splits = json.loads((root / "splits.json").read_text())
    synset = sorted(splits[split])[0]
    return synset, splits[split][synset][0]


def eval_view(synset: str, model: str) -> int:
    """The first view the test scripts read for this model (``test_im_batch`` 2, seed 1)."""
    sys.path.insert(0, str(REPO))
    from data.examples import eval_views

    return int(eval_views(synset, model, 2, 20, 1)[0])


def png_chunks(raw: bytes) -> list[tuple[int, bytes, bytes]]:
    """``(offset, type, data)`` of each chunk of a PNG file."""
    res, i = [], 8
    while i + 8 <= len(raw):
        n, kind = struct.unpack(">I4s", raw[i:i + 8])
        res.append((i, kind, raw[i + 8:i + 8 + n]))
        i += 12 + n
    return res


def corrupt_idat(raw: bytes) -> bytes:
    """Flip bytes inside the compressed image data and fix the chunk's CRC, so only the zlib
    stream is wrong (the hardest PNG corruption to notice)."""
    out = bytearray(raw)
    for off, kind, data in png_chunks(raw):
        if kind == b"IDAT":
            mid = off + 8 + len(data) // 2
            for j in range(mid, min(mid + 16, off + 8 + len(data))):
                out[j] ^= 0x5A
            crc = zlib.crc32(kind + bytes(out[off + 8:off + 8 + len(data)])) & 0xFFFFFFFF
            out[off + 8 + len(data):off + 12 + len(data)] = struct.pack(">I", crc)
            return bytes(out)
    raise ValueError("no IDAT chunk")


def png_bytes(arr: np.ndarray) -> bytes:
    """A PNG file of ``arr`` (RGBA uint8 or grey uint16)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def mat_bytes(d: Path, mat: dict[str, np.ndarray]) -> bytes:
    """A MATLAB v5 file of ``mat``."""
    import scipy.io

    p = d / "tmp.mat"
    scipy.io.savemat(p, mat, do_compression=True)
    data = p.read_bytes()
    p.unlink()
    return data


def random_bytes(n: int, seed: int = 0) -> bytes:
    """``n`` reproducible random bytes."""
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


# ---------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------
Scenario = Callable[[Env], Outcome]
SCENARIOS: list[tuple[str, str, bool, Scenario]] = []  # kind, name, serial, function


def scenario(kind: str, name: str, serial: bool = False) -> Callable[[Scenario], Scenario]:
    """Register a scenario (``serial``: run it alone, it times signals or mounts)."""
    def deco(fn: Scenario) -> Scenario:
        SCENARIOS.append((kind, name, serial, fn))
        return fn
    return deco


def outcome(env: Env, kind: str, name: str, res: Result, verdict: tuple[str, str, str]
            ) -> Outcome:
    """An :class:`Outcome` row from a result and :func:`judge`'s verdict."""
    cls, why, msg = verdict
    return Outcome(kind, name, summary_of(res.argv, env), res.rc if res.rc != HUNG else
                   "hung", cls, msg, why, res.seconds)


# -- Arguments / UX ---------------------------------------------------------------------------
def _args_case(name: str, argv: list[str], names: Sequence[str], want: str | None = None,
               fast: bool = False) -> None:
    def fn(env: Env) -> Outcome:
        res = run(argv)
        verdict = judge(res, names=names, want=want)
        if fast and verdict[0] == "good" and res.seconds > 5:
            verdict = ("poor", f"slow ({res.seconds:.1f} s) for an argument error", verdict[2])
        if verdict[0] == "good" and re.search(r"^usage:", res.out, re.M):
            verdict = ("poor", "usage dump", verdict[2])
        return outcome(env, "arguments", name, res, verdict)
    scenario("arguments", name)(fn)


_args_case("unknown flag --batchsize (train)", ["voxels/train_vlsm.py", "--batchsize", "2"],
           ["batchsize"], fast=True)
_args_case("unknown flag --batchsize (test)", ["voxels/test_vlsm.py", "--batchsize", "2"],
           ["batchsize"], fast=True)
_args_case("unknown flag --batchsize (train_dlsm)", ["depth/train_dlsm.py", "--batchsize", "2"],
           ["batchsize"], fast=True)
_args_case("--vis true on the command line", ["voxels/train_vlsm.py", "--vis", "true"],
           ["vis", "--contact_sheet"], fast=True)
_args_case("--run_trace true on the command line (test)",
           ["voxels/test_vlsm.py", "--run_trace", "true"], ["run_trace"], fast=True)
_args_case("--test_set_file on the command line (test)",
           ["voxels/test_vlsm.py", "--test_set_file", "x.txt"], ["test_set_file"], fast=True)
_args_case("wrong type --batch_size abc", ["voxels/train_vlsm.py", "--batch_size", "abc"],
           ["batch_size", "abc"], fast=True)
_args_case("value outside the choices --nvox 48", ["voxels/train_vlsm.py", "--nvox", "48"],
           ["nvox"], fast=True)
_args_case("--im_h 30 (not a multiple of 16)",
           ["voxels/train_vlsm.py", "--argsjs", "args/args_vlsm.json", "--im_h", "30"],
           ["im_h"], fast=True)
_args_case("--argsjs that does not exist",
           ["voxels/train_vlsm.py", "--argsjs", "args/no_such_args.json"],
           ["no_such_args.json"], fast=True)


@scenario("arguments", "training flag --lr given to test_vlsm.py")
def _test_lr(env: Env) -> Outcome:
    d = env.scratch("test_lr")
    r = copy_run(env, d)
    before = _run_hash(r)
    res = run(["voxels/test_vlsm.py", "--log", r, "--ckpt", "mvnet-4", "--lr", "0.1",
               "--savedir", d / "o", "--no_hull"])
    # documented: the evaluation scripts warn about a training-only flag and ignore it
    return outcome(env, "arguments", "training flag --lr given to test_vlsm.py (ignored)", res,
                   judge(res, expect="ok", want="does not use --lr",
                         lost=lost_files(before, _run_hash(r))))


@scenario("arguments", "--argsjs with an unknown key")
def _argsjs_unknown_key(env: Env) -> Outcome:
    d = env.scratch("argsjs_key")
    p = d / "my_args.json"
    p.write_text(json.dumps({**json.loads((REPO / "args/args_vlsm.json").read_text()),
                             "batchsize": 2}))
    res = run(["voxels/train_vlsm.py", "--argsjs", p])
    return outcome(env, "arguments", "--argsjs with an unknown key", res,
                   judge(res, names=["my_args.json", "batchsize"]))


@scenario("arguments", "--argsjs with invalid JSON")
def _argsjs_invalid(env: Env) -> Outcome:
    d = env.scratch("argsjs_bad")
    p = d / "my_args.json"
    p.write_text('{"batch_size": 2,,}')
    res = run(["voxels/train_vlsm.py", "--argsjs", p])
    return outcome(env, "arguments", "--argsjs with invalid JSON", res,
                   judge(res, names=["my_args.json"]))


@scenario("arguments", "test_vlsm.py --help lists no training-only or dead flags")
def _help_test(env: Env) -> Outcome:
    res = run(["voxels/test_vlsm.py", "--help"])
    listed = [f for f in ("--lr", "--niters", "--ckpt_iters", "--vis", "--run_trace",
                          "--test_set_file") if re.search(rf"{re.escape(f)}\b", res.out)]
    cls, why, _ = judge(res, expect="ok")
    if listed:
        cls, why = "poor", "lists " + ", ".join(listed)
    if cls == "good" and res.seconds > 5:
        cls, why = "poor", f"slow ({res.seconds:.1f} s)"
    msg = "usage: test_vlsm.py [-h] ... (no " + "/".join(
        ["--lr", "--vis", "--run_trace", "--test_set_file"]) + ")" if not listed else \
        "lists " + ", ".join(listed)
    return Outcome("arguments", "test_vlsm.py --help lists no training-only or dead flags",
                   summary_of(res.argv, env), res.rc, cls, msg, why, res.seconds)


# -- Runs and checkpoints ---------------------------------------------------------------------
def _run_hash(run_dir: Path) -> dict[str, str]:
    """Hashes of what a run must never lose (checkpoints, args.json, results); the event
    files and the lock are written by any trainer and left out."""
    return tree_hash(run_dir, skip=lambda rel: "events.out" in rel or rel.endswith(".lock")
                     or rel.startswith("val"))


def args_change(before: dict[str, object], run_dir: Path, allowed: Sequence[str]
                ) -> tuple[str | None, str | None]:
    """Compare a run's ``args.json`` with ``before``: ``(wrong, poor)``, where ``wrong`` names
    keys that changed but may not (a resume must keep what the run is) and ``poor`` notes a
    rewritten ``argsjs`` (the record of the argument file the run started from)."""
    after = json.loads((run_dir / "args.json").read_text())
    diff = sorted(k for k in set(before) | set(after)
                  if before.get(k) != after.get(k) and k not in allowed)
    bad = [k for k in diff if k != "argsjs"]
    if bad:
        return "args.json changed: " + ", ".join(
            f"{k} {before.get(k)!r} -> {after.get(k)!r}" for k in bad), None
    if "argsjs" in diff:
        return None, (f"args.json rewritten: argsjs {before.get('argsjs')!r} -> "
                      f"{short_arg(str(after.get('argsjs')))!r} (which argument file started "
                      f"the run is lost)")
    return None, None


def short_arg(text: str) -> str:
    """A path shortened for a message: the run-relative tail."""
    m = re.search(r"log/[^/]+/train/.*$", text)
    return "<run>/" + m.group(0).split("/train/", 1)[1] if m else text


def with_note(v: tuple[str, str, str], note: str | None) -> tuple[str, str, str]:
    """Downgrade a good verdict to poor with ``note`` (if any)."""
    if note and v[0] == "good":
        return "poor", note, v[2]
    if note and v[0] == "poor":
        return "poor", v[1] + "; " + note, v[2]
    return v


@scenario("runs", "--log RUN whose only checkpoint lacks state.json")
def _no_state(env: Env) -> Outcome:
    d = env.scratch("no_state")
    r = copy_run(env, d, finished=False)
    shutil.rmtree(r / "mvnet-2")
    (r / "mvnet-4" / "state.json").unlink()
    before = _run_hash(r)
    res = run(["voxels/train_vlsm.py", "--log", r, "--niters", "6"])
    return outcome(env, "runs", "--log RUN whose only checkpoint lacks state.json", res,
                   judge(res, names=["mvnet-4"], lost=lost_files(before, _run_hash(r))))


@scenario("runs", "--log <timestamp folder> (the parent of train/) resumes that run")
def _log_parent(env: Env) -> Outcome:
    d = env.scratch("log_parent")
    r = copy_run(env, d)
    before = _run_hash(r)
    args0 = json.loads((r / "args.json").read_text())
    res = run(["voxels/train_vlsm.py", "--log", r.parent, "--niters", "6", "--ckpt_iters", "2"])
    after = _run_hash(r)
    wrong = None
    if res.rc == 0 and not (r / "mvnet-6").is_dir():
        wrong = "exit 0 but no mvnet-6 in the run (did it start a new run?)"
    if res.rc == 0 and sorted(p.name for p in (d / "log").iterdir()) != [r.parent.name]:
        wrong = "a second run folder appeared"
    lost = lost_files({k: v for k, v in before.items() if k != "args.json"
                       and not k.startswith("finished")}, after)
    changed, note = args_change(args0, r, ["niters"])
    v = judge(res, expect="ok", lost=lost, wrong=wrong or changed, want="mvnet-4")
    return outcome(env, "runs", "--log <timestamp folder> resumes that run", res,
                   with_note(v, note))


@scenario("runs", "--log an unrelated folder holding files")
def _log_unrelated(env: Env) -> Outcome:
    d = env.scratch("log_unrelated")
    f = d / "my_photos"
    f.mkdir()
    (f / "holiday.jpg").write_bytes(random_bytes(5000))
    (f / "notes.txt").write_text("keep me\n")
    before = tree_hash(f)
    res = run(["voxels/train_vlsm.py", "--log", f, "--niters", "2"])
    return outcome(env, "runs", "--log an unrelated folder holding files", res,
                   judge(res, names=["my_photos"], lost=lost_files(before, tree_hash(f))
                         or (None if sorted(p.name for p in f.iterdir()) ==
                             ["holiday.jpg", "notes.txt"] else "files added to the folder")))


@scenario("runs", "--log a folder that does not exist")
def _log_missing(env: Env) -> Outcome:
    d = env.scratch("log_missing")
    res = run(["voxels/train_vlsm.py", "--log", d / "no_such_run"])
    v = judge(res, names=["no_such_run"],
              lost=None if not (d / "no_such_run").exists() else "created the folder")
    return outcome(env, "runs", "--log a folder that does not exist", res, v)


@scenario("runs", "train --log RUN --ckpt mvnet-999")
def _ckpt_999_train(env: Env) -> Outcome:
    d = env.scratch("ckpt999")
    r = copy_run(env, d, finished=False)
    before = _run_hash(r)
    res = run(["voxels/train_vlsm.py", "--log", r, "--ckpt", "mvnet-999", "--niters", "6"])
    return outcome(env, "runs", "train --log RUN --ckpt mvnet-999", res,
                   judge(res, names=["mvnet-999"], lost=lost_files(before, _run_hash(r))))


@scenario("runs", "test --log RUN --ckpt mvnet-999")
def _ckpt_999_test(env: Env) -> Outcome:
    d = env.scratch("ckpt999t")
    r = copy_run(env, d)
    before = _run_hash(r)
    res = run(["voxels/test_vlsm.py", "--log", r, "--ckpt", "mvnet-999", "--savedir", d / "o"])
    return outcome(env, "runs", "test --log RUN --ckpt mvnet-999", res,
                   judge(res, names=["mvnet-999"], lost=lost_files(before, _run_hash(r))))


@scenario("runs", "--ckpt RUN/mvnet-2 alone resumes with the run's args")
def _ckpt_alone(env: Env) -> Outcome:
    d = env.scratch("ckpt_alone")
    r = copy_run(env, d, finished=False)
    args_before = json.loads((r / "args.json").read_text())
    ck4 = tree_hash(r / "mvnet-4")
    res = run(["voxels/train_vlsm.py", "--ckpt", r / "mvnet-2", "--niters", "6"])
    wrong = lost = note = None
    if res.rc == 0:
        wrong, note = args_change(args_before, r, ["niters"])
        niters = json.loads((r / "args.json").read_text()).get("niters")
        if not wrong and niters != 6:
            wrong = f"args.json niters is {niters}, expected 6"
        elif not wrong and not (r / "mvnet-6").is_dir():
            wrong = "no mvnet-6 in the run"
        elif not wrong and len(list((d / "log").iterdir())) != 1:
            wrong = "a new run folder appeared"
    elif tree_hash(r / "mvnet-4") != ck4:
        lost = "mvnet-4 changed"
    return outcome(env, "runs", "--ckpt RUN/mvnet-2 alone resumes with the run's args", res,
                   with_note(judge(res, expect="ok", wrong=wrong, lost=lost), note))


@scenario("runs", "resume with a changed --im_h 48")
def _resume_changed(env: Env) -> Outcome:
    d = env.scratch("resume_imh")
    r = copy_run(env, d, finished=False)
    before = _run_hash(r)
    res = run(["voxels/train_vlsm.py", "--log", r, "--im_h", "48", "--niters", "6"])
    return outcome(env, "runs", "resume with a changed --im_h 48", res,
                   judge(res, names=["im_h"], lost=lost_files(before, _run_hash(r))))


@scenario("runs", "--lr 1e30 --ckpt_iters 1: exploded weights are never saved")
def _exploded(env: Env) -> Outcome:
    import h5py

    d = env.scratch("exploded")
    r = copy_run(env, d, finished=False)
    before = {k: v for k, v in _run_hash(r).items() if k != "args.json"}
    args0 = json.loads((r / "args.json").read_text())
    res = run(["voxels/train_vlsm.py", "--log", r, "--lr", "1e30", "--ckpt_iters", "1",
               "--niters", "8"])
    wrong = None
    ckpts = sorted((int(p.name.split("-")[1]), p) for p in r.glob("mvnet-*") if p.is_dir())
    for _, p in ckpts:
        w = p / "model.weights.h5"
        if not w.exists():
            continue
        biggest = 0.0
        with h5py.File(w, "r") as f:
            def visit(_: str, obj: object) -> None:
                nonlocal biggest
                if isinstance(obj, h5py.Dataset) and obj.dtype.kind == "f" and obj.size:
                    a = np.asarray(obj[()], dtype=np.float64)
                    biggest = max(biggest, float(np.max(np.abs(a))) if np.all(np.isfinite(a))
                                  else float("inf"))
            f.visititems(visit)
        if not biggest < 1e6:
            wrong = f"{p.name} was saved with max |w| = {biggest:.3g}"
    changed, note = args_change(args0, r, ["niters", "lr", "ckpt_iters"])
    v = judge(res, names=[str(r / "mvnet-4")], wrong=wrong or changed,
              lost=lost_files(before, _run_hash(r)))
    v = with_note(v, note)
    return outcome(env, "runs", "--lr 1e30 --ckpt_iters 1: exploded weights never saved", res, v)


@scenario("runs", "truncated weights of the newest checkpoint, then --log")
def _truncated_resume(env: Env) -> Outcome:
    d = env.scratch("trunc_resume")
    r = copy_run(env, d, finished=False)
    w = r / "mvnet-4" / "model.weights.h5"
    w.write_bytes(w.read_bytes()[:-7])
    ck2 = tree_hash(r / "mvnet-2")
    res = run(["voxels/train_vlsm.py", "--log", r, "--niters", "4", "--ckpt_iters", "2"])
    wrong = None
    if res.rc == 0 and "mvnet-2" not in res.out:
        wrong = "did not say it resumed from mvnet-2"
    v = judge(res, expect="ok", want="skipping broken checkpoint", wrong=wrong,
              lost=lost_files(ck2, tree_hash(r / "mvnet-2")))
    if v[0] == "good" and "mvnet-4" not in v[2]:
        v = ("poor", "the warning does not name mvnet-4", v[2])
    return outcome(env, "runs", "truncated newest weights, then --log (falls back)", res, v)


@scenario("runs", "one flipped byte in the weights, then test --ckpt it")
def _garbled_test(env: Env) -> Outcome:
    d = env.scratch("garbled")
    r = copy_run(env, d)
    w = r / "mvnet-4" / "model.weights.h5"
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0xFF
    w.write_bytes(bytes(data))
    before = _run_hash(r)
    res = run(["voxels/test_vlsm.py", "--log", r, "--ckpt", "mvnet-4", "--savedir", d / "o"])
    return outcome(env, "runs", "one flipped byte in the weights, then test --ckpt it", res,
                   judge(res, names=["mvnet-4"], lost=lost_files(before, _run_hash(r))))


@scenario("runs", "checkpoint folder without its weights file, test --ckpt it")
def _no_weights(env: Env) -> Outcome:
    d = env.scratch("no_weights")
    r = copy_run(env, d)
    (r / "mvnet-4" / "model.weights.h5").unlink()
    before = _run_hash(r)
    res = run(["voxels/test_vlsm.py", "--log", r, "--ckpt", "mvnet-4", "--savedir", d / "o"])
    return outcome(env, "runs", "checkpoint without its weights file, test --ckpt it", res,
                   judge(res, names=["mvnet-4", "model.weights.h5"],
                         lost=lost_files(before, _run_hash(r))))


@scenario("runs", "val --once on a run with no checkpoints")
def _val_empty(env: Env) -> Outcome:
    d = env.scratch("val_empty")
    r = copy_run(env, d, finished=False)
    shutil.rmtree(r / "mvnet-2")
    shutil.rmtree(r / "mvnet-4")
    before = _run_hash(r)
    res = run(["voxels/val_vlsm.py", "--log", r, "--once"])
    v = judge(res, expect="ok", refused_ok=True, lost=lost_files(before, _run_hash(r)),
              want="checkpoint")
    if v[0] == "good" and "checkpoint" not in v[2].lower():
        v = ("poor", "the last line does not say there is nothing to validate", v[2])
    return outcome(env, "runs", "val --once on a run with no checkpoints", res, v)


@scenario("runs", "val --once on a run with a broken checkpoint")
def _val_broken(env: Env) -> Outcome:
    d = env.scratch("val_broken")
    r = copy_run(env, d)
    w = r / "mvnet-4" / "model.weights.h5"
    w.write_bytes(w.read_bytes()[:1000])
    before = _run_hash(r)
    res = run(["voxels/val_vlsm.py", "--log", r, "--once"])
    wrong = None
    if res.rc == 0 and "mvnet-2" not in res.out:
        wrong = "mvnet-2 (intact) was not validated"
    v = judge(res, expect="ok", want="mvnet-4", wrong=wrong, refused_ok=True,
              lost=lost_files(before, _run_hash(r)))
    errs = [ln for ln in error_lines(res.out) if "mvnet-4" in ln]
    if v[0] == "good" and len(errs) > 1:
        v = ("poor", f"{len(errs)} error lines for one broken checkpoint", v[2])
    msg = next((ln for ln in lines_of(res.out) if "mvnet-4" in ln and
                ("WARNING" in ln or "broken" in ln or "skip" in ln)), v[2])
    if v[0] == "good" and msg is v[2] and "broken" not in msg and "skip" not in msg:
        v = ("poor", "no line says mvnet-4 is broken", v[2])
    return outcome(env, "runs", "val --once on a run with a broken checkpoint", res,
                   (v[0], v[1], msg))


def _popen(argv: Sequence[str], log: Path) -> subprocess.Popen:
    """Start ``python argv...`` in the background, output into ``log``."""
    return subprocess.Popen([PY, *map(str, argv)], cwd=REPO, env=env_vars(),
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _wait_for(log: Path, pattern: str, proc: subprocess.Popen, timeout: float = 180
              ) -> re.Match | None:
    """Wait until ``log`` matches ``pattern`` (None if the process ended or time ran out)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        m = re.search(pattern, log.read_text(errors="replace"))
        if m:
            return m
        if proc.poll() is not None:
            return None
        time.sleep(0.2)
    return None


@scenario("runs", "two trainers on one run at once", serial=True)
def _two_trainers(env: Env) -> Outcome:
    d = env.scratch("two_trainers")
    logdir = d / "log"
    log1 = d / "first.log"
    p1 = _popen(["voxels/train_vlsm.py", "--argsjs", "args/args_vlsm.json",
                 *tiny_flags(env.tiny, logdir), "--niters", "400"], log1)
    try:
        m = _wait_for(log1, r"new vlsm run in (\S+)", p1)
        if not m:
            return Outcome("runs", "two trainers on one run at once", "", "-", "skip",
                           "the first trainer did not start", "")
        r = Path(m.group(1))
        _wait_for(log1, r"train vlsm:.*\b[1-9]\d*/400", p1, 120)
        res = run(["voxels/train_vlsm.py", "--log", r, "--niters", "400"])
    finally:
        p1.send_signal(signal.SIGTERM)
        try:
            rc1 = p1.wait(120)
        except subprocess.TimeoutExpired:
            p1.kill()
            rc1 = p1.wait()
    first = log1.read_text(errors="replace")
    lost = None if rc1 == 143 and "saved" in first else \
        f"the first trainer ended with {rc1}: {message_of(first)}"
    return outcome(env, "runs", "two trainers on one run at once (the second refused)", res,
                   judge(res, names=[str(r)], lost=lost))


def _signal_case(sig: signal.Signals, want_rc: int) -> None:
    name = f"{sig.name} during training"

    def fn(env: Env) -> Outcome:
        d = env.scratch(name)
        logdir = d / "log"
        log = d / "train.log"
        argv = ["voxels/train_vlsm.py", "--argsjs", "args/args_vlsm.json",
                *tiny_flags(env.tiny, logdir), "--niters", "400"]
        p = _popen(argv, log)
        m = _wait_for(log, r"train vlsm:.*\b([3-9]|\d\d+)/400", p)
        if not m:
            p.kill()
            p.wait()
            return Outcome("runs", name, "", "-", "skip", "training did not start", "")
        t0 = time.monotonic()
        p.send_signal(sig)
        try:
            rc = p.wait(120)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = HUNG
        out = log.read_text(errors="replace")
        res = Result([PY, *map(str, argv)], rc, out, time.monotonic() - t0)
        wrong = None
        mm = re.search(r"at iteration (\d+) of run (\S+?):", out)
        if rc == want_rc:
            if not mm:
                wrong = "the message names no iteration and run"
            else:
                it, run_dir = int(mm.group(1)), Path(mm.group(2))
                if not (run_dir / f"mvnet-{it}" / "state.json").is_file():
                    wrong = f"no checkpoint mvnet-{it} in {run_dir}"
        v = judge(res, rc=want_rc, wrong=wrong)
        msg = message_of(out, prefer="at iteration")
        if v[0] == "poor" and v[1] == "0 error lines":  # documented: one WARNING line
            v = ("good", "", msg)
        if "at iteration" not in msg or str(logdir) not in msg:
            v = with_note((v[0], v[1], msg), "the message names no run and iteration")
        v = (v[0], v[1], msg)
        return outcome(env, "runs", name, res, v)
    scenario("runs", name, serial=True)(fn)


_signal_case(signal.SIGTERM, 143)
_signal_case(signal.SIGINT, 130)


@scenario("runs", "a failed start (missing data root) leaves no run folder")
def _failed_start(env: Env) -> Outcome:
    d = env.scratch("failed_start")
    logdir = d / "log"
    flags = tiny_flags(d / "no_such_root", logdir)
    res = run(["voxels/train_vlsm.py", "--argsjs", "args/args_vlsm.json", *flags,
               "--niters", "2"])
    left = [str(p.relative_to(logdir)) for p in logdir.rglob("*")] if logdir.exists() else []
    v = judge(res, names=["no_such_root"],
              wrong=("left behind: " + ", ".join(left[:3])) if left else None)
    return outcome(env, "runs", "a failed start (missing data root) leaves no run folder", res,
                   v)


@scenario("runs", "--init_from a folder that does not exist")
def _init_from_missing(env: Env) -> Outcome:
    d = env.scratch("init_from")
    logdir = d / "log"
    res = run(["voxels/train_vlsm.py", "--argsjs", "args/args_vlsm.json",
               *tiny_flags(env.tiny, logdir), "--niters", "2", "--init_from", d / "nothing"])
    left = [str(p) for p in logdir.rglob("*")] if logdir.exists() else []
    return outcome(env, "runs", "--init_from a folder that does not exist", res,
                   judge(res, names=["nothing"],
                         wrong=("left a run folder" if left else None)))


@scenario("runs", "test --log a folder that is not a run")
def _test_not_run(env: Env) -> Outcome:
    d = env.scratch("test_not_run")
    (d / "x.txt").write_text("x")
    res = run(["voxels/test_vlsm.py", "--log", d, "--ckpt", "mvnet-4"])
    return outcome(env, "runs", "test --log a folder that is not a run", res,
                   judge(res, names=[str(d)]))


@scenario("runs", "--result_file that exists is never overwritten")
def _result_exists(env: Env) -> Outcome:
    d = env.scratch("result_exists")
    r = copy_run(env, d)
    target = d / "table.txt"
    target.write_text("my earlier results\n")
    res = run(["voxels/test_vlsm.py", "--log", r, "--ckpt", "mvnet-4", "--result_file", target,
               "--test_split_file", env.tiny / "splits.json", "--no_hull"])
    lost = None if target.read_text() == "my earlier results\n" else "table.txt overwritten"
    return outcome(env, "runs", "--result_file that exists is never overwritten", res,
                   judge(res, names=["table.txt"], lost=lost))


@scenario("runs", "a diverging run (--lr 0.5) is reported", serial=True)
def _diverging(env: Env) -> Outcome:
    d = env.scratch("high_lr")
    res = run(["voxels/train_vlsm.py", "--argsjs", "args/args_vlsm.json",
               *tiny_flags(env.tiny, d / "log"), "--niters", "40", "--lr", "0.5"])
    name = "a diverging run (--lr 0.5) is reported"
    warned = "the loss is diverging" in res.out
    if res.rc != 0 and "loss is" in res.out:
        # a non-finite loss stops training: documented, with the last good checkpoint named
        return outcome(env, "runs", name + " (stopped at a non-finite loss)", res,
                       judge(res, names=["loss is"]))
    v = judge(res, expect="ok", want="the loss is diverging" if warned else None)
    if warned:
        return outcome(env, "runs", name, res, v)
    # the tiny model's loss saturates instead of diverging (also at --lr 5 and 50, tried by
    # hand): nothing to report, unless the run printed something it should not have
    pywarn = [ln for ln in lines_of(res.out) if PY_WARNING.search(ln)]
    if v[0] == "poor":
        msg = pywarn[0] if pywarn else v[2]
        return outcome(env, "runs", name + " (did not diverge)", res, (v[0], v[1], msg))
    return Outcome("runs", name, summary_of(res.argv, env), res.rc, "skip", message_of(res.out),
                   "the loss did not diverge at --lr 0.5 (nor at 5 or 50): nothing to report",
                   res.seconds)


# -- Data files ---------------------------------------------------------------------------------
def _data_case(what: str, corruption: str, make: Callable[[Path, Path], Path],
               loaders: Sequence[str] = ("tf", "numpy"), train: bool = False,
               names: Sequence[str] | None = None) -> None:
    """A corrupted file of a hard-linked copy of the tiny root, through test_vlsm.py with each
    loader (and through training when ``train``). ``make(root, scratch)`` corrupts the file
    and returns its path (what the message must name)."""
    for loader in loaders:
        name = f"{what}: {corruption} (test, --loader {loader})"

        def fn(env: Env, loader: str = loader, name: str = name) -> Outcome:
            d = env.scratch(name)
            root = link_root(env, d)
            bad = make(root, d)
            r = copy_run(env, d)
            before = _run_hash(r)
            res = run(["voxels/test_vlsm.py", "--log", r, "--ckpt", "mvnet-4",
                       "--data_root", root, "--test_split_file", root / "splits.json",
                       "--loader", loader, "--savedir", d / "o", "--no_hull"])
            shown = str(bad.relative_to(root))
            return outcome(env, "data", name, res,
                           judge(res, names=[shown], lost=lost_files(before, _run_hash(r))))
        scenario("data", name)(fn)
    if train:
        name = f"{what}: {corruption} (training)"

        def tfn(env: Env, name: str = name) -> Outcome:
            d = env.scratch(name)
            root = link_root(env, d)
            bad = make(root, d)
            res = run(["voxels/train_vlsm.py", "--argsjs", "args/args_vlsm.json",
                       *tiny_flags(root, d / "log"), "--niters", "3"])
            return outcome(env, "data", name, res,
                           judge(res, names=names or [str(bad.relative_to(root))]))
        scenario("data", name)(tfn)


def _view_file(root: Path, pattern: str, split: str = "test") -> Path:
    s, m = first_model(root, split)
    v = eval_view(s, m) if split == "test" else 0
    return root / "renders" / s / m / pattern.format(v)


def _every_train_file(root: Path, pattern: str) -> list[Path]:
    splits = json.loads((root / "splits.json").read_text())
    return [root / "renders" / s / m / pattern.format(v)
            for s, ms in sorted(splits["train"].items()) for m in ms for v in range(20)]


def _render_cases() -> None:
    def corrupt(fn: Callable[[bytes, Path], bytes], pattern: str = "render_{}.png"
                ) -> Callable[[Path, Path], Path]:
        def make(root: Path, d: Path) -> Path:
            p = _view_file(root, pattern)
            put(p, fn(p.read_bytes(), d))
            return p
        return make

    for what, pattern, wrong in (
            ("render PNG", "render_{}.png", np.zeros((100, 100, 4), np.uint8)),
            ("depth PNG", "depth_{}.png", np.zeros((100, 100), np.uint16))):
        _data_case(what, "zero bytes", corrupt(lambda raw, d: b"", pattern))
        _data_case(what, "truncated", corrupt(lambda raw, d: raw[:len(raw) // 2], pattern))
        _data_case(what, "random bytes", corrupt(lambda raw, d: random_bytes(len(raw)), pattern))
        _data_case(what, "corrupted IDAT (CRC fixed)",
                   corrupt(lambda raw, d: corrupt_idat(raw), pattern))
        _data_case(what, "wrong size 100x100",
                   corrupt(lambda raw, d, a=wrong: png_bytes(a), pattern))

    def missing(root: Path, d: Path) -> Path:
        p = _view_file(root, "render_{}.png")
        p.unlink()
        return p
    _data_case("render PNG", "missing", missing, loaders=("tf",))

    def train_random(root: Path, d: Path) -> Path:
        for p in _every_train_file(root, "render_{}.png"):
            put(p, random_bytes(p.stat().st_size, 4))
        return root / "renders"
    # training draws random views: every training render is corrupted, any one may be named
    _data_case("render PNG", "random bytes in every training render", train_random, loaders=(),
               train=True, names=["renders/", "render_", ".png"])


def _camera_cases() -> None:
    import scipy.io

    def corrupt(fn: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
                ) -> Callable[[Path, Path], Path]:
        def make(root: Path, d: Path) -> Path:
            p = _view_file(root, "camera_{}.mat")
            mat = {k: v for k, v in scipy.io.loadmat(p).items() if not k.startswith("__")}
            put(p, mat_bytes(d, fn(mat)))
            return p
        return make

    def raw(fn: Callable[[bytes], bytes]) -> Callable[[Path, Path], Path]:
        def make(root: Path, d: Path) -> Path:
            p = _view_file(root, "camera_{}.mat")
            put(p, fn(p.read_bytes()))
            return p
        return make

    def nonrot(m: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        e = np.array(m["extrinsic"], np.float64)
        e[:3, :3] *= 2.0
        return {**m, "extrinsic": e}

    def nan(m: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        k = np.array(m["K"], np.float64)
        k[0, 2] = np.nan
        return {**m, "K": k}

    _data_case("camera .mat", "zero bytes", raw(lambda b: b""))
    _data_case("camera .mat", "truncated", raw(lambda b: b[:len(b) // 2]))
    _data_case("camera .mat", "random bytes", raw(lambda b: random_bytes(len(b), 1)))
    _data_case("camera .mat", "K all zeros (singular)",
               corrupt(lambda m: {**m, "K": np.zeros((3, 3))}))
    _data_case("camera .mat", "extrinsic not a rotation", corrupt(nonrot))
    _data_case("camera .mat", "NaN in K", corrupt(nan))
    _data_case("camera .mat", "no key 'extrinsic'",
               corrupt(lambda m: {k: v for k, v in m.items() if k != "extrinsic"}),
               loaders=("tf",))

    def train_nan(root: Path, d: Path) -> Path:
        files = _every_train_file(root, "camera_{}.mat")
        for p in files:
            mat = {k: v for k, v in scipy.io.loadmat(p).items() if not k.startswith("__")}
            put(p, mat_bytes(d, nan(mat)))
        return root / "renders"
    # training reads random views: every training camera is corrupted, any one may be named
    _data_case("camera .mat", "NaN in K of every training camera", train_nan, loaders=(),
               train=True, names=["renders/", "camera_", ".mat"])


def _voxel_cases() -> None:
    def voxel(root: Path, split: str = "test") -> Path:
        s, m = first_model(root, split)
        return root / "voxels" / "modelVoxels32" / s / f"{m}.mat"

    def raw(fn: Callable[[bytes], bytes]) -> Callable[[Path, Path], Path]:
        def make(root: Path, d: Path) -> Path:
            p = voxel(root)
            put(p, fn(p.read_bytes()))
            return p
        return make

    def shape(root: Path, d: Path) -> Path:
        p = voxel(root)
        put(p, mat_bytes(d, {"Volume": np.zeros((32, 32, 31), np.uint8)}))
        return p

    def train_shape(root: Path, d: Path) -> Path:
        splits = json.loads((root / "splits.json").read_text())
        for s, ms in splits["train"].items():
            for m in ms:
                put(root / "voxels" / "modelVoxels32" / s / f"{m}.mat",
                    mat_bytes(d, {"Volume": np.zeros((16, 16, 16), np.uint8)}))
        return root / "voxels" / "modelVoxels32"

    _data_case("voxel .mat", "zero bytes", raw(lambda b: b""))
    _data_case("voxel .mat", "truncated", raw(lambda b: b[:len(b) // 2]))
    _data_case("voxel .mat", "random bytes", raw(lambda b: random_bytes(len(b), 2)))
    _data_case("voxel .mat", "wrong shape 32x32x31", shape)
    _data_case("voxel .mat", "16^3 grids in every training voxel file", train_shape, loaders=(),
               train=True, names=["voxels/modelVoxels32/", ".mat"])


def _split_cases() -> None:
    def corrupt(fn: Callable[[bytes], bytes]) -> Callable[[Path, Path], Path]:
        def make(root: Path, d: Path) -> Path:
            p = root / "splits.json"
            put(p, fn(p.read_bytes()))
            return p
        return make

    def ghost(b: bytes) -> bytes:
        s = json.loads(b)
        first = sorted(s["test"])[0]
        s["test"][first] = ["0000no0such0model"] + s["test"][first]
        return json.dumps(s).encode()

    def no_test(b: bytes) -> bytes:
        s = json.loads(b)
        del s["test"]
        return json.dumps(s).encode()

    _data_case("split json", "zero bytes", corrupt(lambda b: b""), loaders=("tf",))
    _data_case("split json", "truncated", corrupt(lambda b: b[:len(b) // 2]), loaders=("tf",))
    _data_case("split json", "random bytes", corrupt(lambda b: random_bytes(len(b), 3)),
               loaders=("tf",))
    _data_case("split json", "names a model not on disk", corrupt(ghost), loaders=("numpy",))
    _data_case("split json", "no 'test' split", corrupt(no_test), loaders=("numpy",))


_render_cases()
_camera_cases()
_voxel_cases()
_split_cases()


@scenario("data", "python -m data.check on a root with a random-bytes render")
def _check_render(env: Env) -> Outcome:
    d = env.scratch("check_render")
    root = link_root(env, d)
    p = root / "renders" / Path(*first_model(root, "train")) / "render_0.png"
    put(p, random_bytes(3000))
    res = run(["-m", "data.check", "--root", root, "--split", root / "splits.json", "--quiet"])
    shown = str(p.relative_to(root))
    return outcome(env, "data", "data.check: a random-bytes render", res,
                   _check_verdict(res, shown))


@scenario("data", "python -m data.check on a root with a wrong-shape voxel file")
def _check_voxel(env: Env) -> Outcome:
    d = env.scratch("check_voxel")
    root = link_root(env, d)
    s, m = first_model(root, "val")
    p = root / "voxels" / "modelVoxels32" / s / f"{m}.mat"
    put(p, mat_bytes(d, {"Volume": np.zeros((32, 32, 31), np.uint8)}))
    res = run(["-m", "data.check", "--root", root, "--split", root / "splits.json", "--quiet"])
    return outcome(env, "data", "data.check: a wrong-shape voxel file", res,
                   _check_verdict(res, str(p.relative_to(root))))


def _check_verdict(res: Result, shown: str) -> tuple[str, str, str]:
    """data.check reports every failing model and then its per-class summary (documented):
    one line naming the file is what counts."""
    cls, why, msg = judge(res, names=[shown])
    named = [ln for ln in lines_of(res.out) if shown in ln]
    if cls == "poor" and named:
        rest = [p for p in why.split("; ")
                if not re.search(r"error lines|more lines after|does not name", p)]
        if not rest:
            return "good", "", named[0]
    return cls, why, msg


# -- Builder --------------------------------------------------------------------------------
def _mesh_folder(d: Path, bad: bool = True, good: bool = True) -> Path:
    """A mesh input folder: class ``box`` with a good box (and bad files when ``bad``)."""
    import trimesh

    f = d / "meshes" / "box"
    f.mkdir(parents=True)
    if good:
        trimesh.creation.box().export(f / "good_box.obj")
        trimesh.creation.icosphere(subdivisions=1).export(f / "good_ball.obj")
    if bad:
        (f / "empty.obj").write_bytes(b"")
        (f / "garbage.obj").write_text("this is not a mesh\n@@@ 1 2 3\nf x y z\n")
    return d / "meshes"


@scenario("builder", "meshes: a folder with good and bad mesh files")
def _meshes_mixed(env: Env) -> Outcome:
    d = env.scratch("meshes_mixed")
    inp = _mesh_folder(d)
    res = run(["-m", "data.build", "meshes", "--input", inp, "--root", d / "out", "--quiet"],
              600)
    skipped = d / "out" / "skipped.json"
    wrong = None
    if res.rc == 0:
        named = [n for n in ("empty.obj", "garbage.obj")
                 if any(n in ln and "skipped" in ln for ln in lines_of(res.out))]
        if len(named) != 2:
            wrong = "bad files not each named in a 'skipped' line"
        elif not skipped.is_file():
            wrong = "no skipped.json"
    v = judge(res, expect="ok", wrong=wrong)
    msg = next((ln for ln in lines_of(res.out) if "skipped" in ln and "built" in ln), v[2])
    if v[0] == "good" and sum(" WARNING " in ln for ln in lines_of(res.out)) > 3:
        v = ("poor", "more than one line per bad file", v[2])
    return outcome(env, "builder", "meshes: good and bad mesh files (bad ones skipped)", res,
                   (v[0], v[1], msg))


@scenario("builder", "meshes: rerun on a cleaned copy")
def _meshes_rerun(env: Env) -> Outcome:
    d = env.scratch("meshes_rerun")
    inp = _mesh_folder(d)
    out = d / "out"
    first = run(["-m", "data.build", "meshes", "--input", inp, "--root", out, "--quiet"], 600)
    clean = d / "clean"
    shutil.copytree(inp, clean)
    for n in ("empty.obj", "garbage.obj"):
        (clean / "box" / n).unlink()
    before = tree_hash(out / "renders") | {"vox/" + k: v for k, v in
                                           tree_hash(out / "voxels").items()}
    res = run(["-m", "data.build", "meshes", "--input", clean, "--root", out, "--quiet"], 600)
    after = tree_hash(out / "renders") | {"vox/" + k: v for k, v in
                                          tree_hash(out / "voxels").items()}
    wrong = None
    if first.rc != 0:
        wrong = f"the first build failed ({first.rc})"
    elif res.rc == 0 and (out / "skipped.json").exists():
        wrong = "skipped.json not removed after a clean rerun"
    v = judge(res, expect="ok", wrong=wrong, lost=lost_files(before, after))
    return outcome(env, "builder", "meshes: rerun on a cleaned copy (built models kept)", res, v)


@scenario("builder", "meshes: only bad mesh files")
def _meshes_bad(env: Env) -> Outcome:
    d = env.scratch("meshes_bad")
    inp = _mesh_folder(d, good=False)
    res = run(["-m", "data.build", "meshes", "--input", inp, "--root", d / "out", "--quiet"],
              600)
    v = judge(res, names=[])
    if v[0] == "poor" and re.fullmatch(r"\d+ error lines", v[1]):
        # one WARNING per skipped file plus one ERROR is the documented output
        v = ("good", "", v[2]) if len(error_lines(res.out)) == 1 else v
    return outcome(env, "builder", "meshes: only bad mesh files (nothing built)", res, v)


@scenario("builder", "meshes: --input that does not exist")
def _meshes_missing(env: Env) -> Outcome:
    d = env.scratch("meshes_missing")
    res = run(["-m", "data.build", "meshes", "--input", d / "no_meshes", "--root", d / "out",
               "--quiet"])
    return outcome(env, "builder", "meshes: --input that does not exist", res,
                   judge(res, names=["no_meshes"]))


@scenario("builder", "synth: rerun with a different --seed on a built root")
def _synth_options(env: Env) -> Outcome:
    d = env.scratch("synth_seed")
    root = link_root(env, d)
    before = tree_hash(root, skip=lambda rel: rel.endswith(".lock"))
    res = run(["-m", "data.build", "synth", "--size", "tiny", "--root", root, "--seed", "7",
               "--quiet"])
    return outcome(env, "builder", "synth: rerun with a different --seed on a built root", res,
                   judge(res, names=["seed"], lost=lost_files(
                       before, tree_hash(root, skip=lambda rel: rel.endswith(".lock")))))


@scenario("builder", "synth: disk full (2 MB tmpfs)", serial=True)
def _disk_full(env: Env) -> Outcome:
    d = env.scratch("disk_full")
    mnt = d / "mnt"
    mnt.mkdir()
    name = "synth: disk full (2 MB tmpfs), then the message"
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if m.returncode != 0:
        return Outcome("builder", name, "mount -t tmpfs -o size=2m ...", "-", "skip",
                       (m.stderr or m.stdout).strip().splitlines()[-1:][0]
                       if (m.stderr or m.stdout).strip() else "mount failed",
                       "cannot mount a tmpfs here")
    try:
        res = run(["-m", "data.build", "synth", "--size", "tiny", "--root", mnt / "tiny",
                   "--quiet"], 600)
        half = [str(p.relative_to(mnt)) for p in mnt.rglob("*") if p.name.startswith(".")
                and p.name not in (".build.lock",)]
        v = judge(res, names=["disk full"],
                  wrong=("half-written files left: " + ", ".join(half[:3])) if half else None)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
    return outcome(env, "builder", name, res, v)


@scenario("builder", "data.check: --root that does not exist")
def _check_missing(env: Env) -> Outcome:
    d = env.scratch("check_missing")
    res = run(["-m", "data.check", "--root", d / "no_root", "--quiet"])
    return outcome(env, "builder", "data.check: --root that does not exist", res,
                   judge(res, names=["no_root"]))


# -- D-LSM scripts --------------------------------------------------------------------------
@scenario("runs", "test_dlsm.py --log on a V-LSM run")
def _dlsm_on_vlsm(env: Env) -> Outcome:
    d = env.scratch("dlsm_on_vlsm")
    r = copy_run(env, d)
    before = _run_hash(r)
    res = run(["depth/test_dlsm.py", "--log", r, "--ckpt", "mvnet-4", "--savedir", d / "o"])
    v = judge(res, names=[], lost=lost_files(before, _run_hash(r)))
    said = short_paths(v[2], env).lower().replace("-", "")  # paths hold "vlsm" themselves
    if "vlsm" not in said and "other task" not in said:
        v = with_note(v, "does not say the run is a V-LSM run (for the other task)")
    return outcome(env, "runs", "test_dlsm.py --log on a V-LSM run", res, v)


@scenario("runs", "val_dlsm.py --log a folder that does not exist")
def _val_dlsm_missing(env: Env) -> Outcome:
    d = env.scratch("val_dlsm_missing")
    res = run(["depth/val_dlsm.py", "--log", d / "no_run", "--once"])
    return outcome(env, "runs", "val_dlsm.py --log a folder that does not exist", res,
                   judge(res, names=["no_run"]))


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
def cell(text: str, limit: int = 260) -> str:
    """A table cell: pipes escaped, one line, long messages shortened."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return text.replace("|", "\\|")


def short_paths(text: str, env: Env) -> str:
    """Temporary paths shortened to ``$T/...``."""
    text = text.replace(str(env.tmp / "s") + "/", "$T/").replace(str(env.tmp), "$T")
    text = re.sub(r"\$T/\d{3}_[A-Za-z0-9_]+/", "$T/", text)
    return re.sub(r"^\d\d:\d\d:\d\d ", "", text)


def table(rows: list[Outcome], env: Env) -> str:
    """The GitHub-markdown table of outcomes."""
    out = ["| # | kind | scenario | command | rc | outcome | message |",
           "|---|---|---|---|---|---|---|"]
    for i, o in enumerate(rows, 1):
        cls = o.cls if not o.why else f"{o.cls}: {o.why}"
        out.append(f"| {i} | {o.kind} | {cell(o.name)} | `{cell(o.command, 160)}` | {o.rc} | "
                   f"{cell(cls, 160)} | {cell(short_paths(o.message, env))} |")
    return "\n".join(out)


def counts(rows: list[Outcome]) -> str:
    """Counts per kind and class, as a markdown table."""
    kinds = sorted({o.kind for o in rows}, key=[o.kind for o in rows].index)
    out = ["| kind | trials | " + " | ".join(CLASSES) + " |",
           "|---|---|" + "---|" * len(CLASSES)]
    for k in [*kinds, "all"]:
        sel = [o for o in rows if k in ("all", o.kind)]
        c = Counter(o.cls for o in sel)
        label = "**all**" if k == "all" else k
        out.append(f"| {label} | {len(sel)} | " + " | ".join(str(c[x]) for x in CLASSES) + " |")
    return "\n".join(out)


def machine() -> str:
    """The CPU model and core count (``lscpu``, ``nproc``)."""
    model = "unknown CPU"
    try:
        for ln in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if ln.startswith("Model name:"):
                model = ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))})"


def git_commit() -> str:
    """The checkout's commit (with ``+changes`` when the work tree differs)."""
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                         text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    return sha + (" (+ uncommitted changes)" if dirty else "")


def write_markdown(path: Path, rows: list[Outcome], env: Env, seconds: float) -> None:
    """``docs/reliability.md``: header, counts, the table, and the poor/bad list."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    c = Counter(o.cls for o in rows)
    notgood = [o for o in rows if o.cls in ("poor", "bad")]
    text = [
        "# Reliability: every bad input and fault tried",
        "",
        f"Made by `python scripts/reliability_survey.py --markdown {path.as_posix()}` on {now}, "
        f"commit {git_commit()}, {machine()}; {len(rows)} trials in {seconds / 60:.1f} min.",
        "",
        "Each trial runs the real scripts (`voxels/*_vlsm.py`, `depth/*_dlsm.py`, "
        "`python -m data.build`, `python -m data.check`) in a subprocess, as a new user would, "
        "on the tiny synthetic dataset and the tiny V-LSM of `tests/training/test_loop.py` "
        "(`<tiny flags>` in the commands; `$T` is the survey's temporary folder). A finished "
        "tiny run (checkpoints `mvnet-2`, `mvnet-4`) is copied into every trial that needs "
        "one; data files are corrupted in a copy of the data root.",
        "",
        "* **good**: the expected exit status (non-zero for a bad input, or the documented "
        "graceful outcome), one error line (or one clear line) naming the file, key or "
        "argument, no traceback, no TensorFlow start-up notices, nothing lost (run folders "
        "hashed before and after);",
        "* **poor**: an error, but with a traceback, without naming the file or key, with "
        "several error lines or notices, or a valid request refused;",
        "* **bad**: data lost or overwritten, a silently wrong result (exit 0 on a bad input, "
        "a wrong number), a crash or a hang;",
        "* **skip**: could not be set up on this machine.",
        "",
        "## Counts",
        "",
        counts(rows),
        "",
        f"**{c['good']} good, {c['poor']} poor, {c['bad']} bad**"
        + (f", {c['skip']} skipped" if c["skip"] else "") + ".",
        "",
    ]
    if notgood:
        text += ["## Poor and bad", ""]
        for o in notgood:
            text.append(f"* **{o.cls}** ({o.kind}) {cell(o.name)}: {cell(o.why, 400)}. "
                        f"`{cell(o.command, 400)}` -> rc {o.rc}: "
                        f"{cell(short_paths(o.message, env), 400)}")
        text.append("")
    text += ["## All trials", "", table(rows, env), ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the survey; exit status 0 when no trial is bad."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--markdown", type=Path, help="also write the report to this file")
    ap.add_argument("--only", help="run only scenarios whose kind or name holds this text")
    ap.add_argument("--jobs", type=int, default=2, help="scenarios run at a time (default 2)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--tmp", type=Path, help="temporary folder (default: a new one)")
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="lsm_reliability_", dir=a.tmp))
    try:
        print(f"building the tiny dataset and run in {tmp} ...", file=sys.stderr, flush=True)
        tiny = tmp / "tiny"
        build_tiny(tiny)
        shared = train_tiny(tiny, tmp / "shared_log")
        env = Env(tmp, tiny, shared)
        chosen = [s for s in SCENARIOS if not a.only or a.only.lower() in
                  (s[0] + " " + s[1]).lower()]
        rows: dict[int, Outcome] = {}

        def go(i: int) -> None:
            kind, name, _, fn = chosen[i]
            try:
                rows[i] = fn(env)
            except Exception as e:  # a survey bug must not hide the other rows
                rows[i] = Outcome(kind, name, "", "-", "skip", f"survey error: {e!r}",
                                  "the survey itself failed")
            o = rows[i]
            print(f"[{len(rows)}/{len(chosen)}] {o.cls:4s} {o.kind}: {o.name}  ({o.why})",
                  file=sys.stderr, flush=True)

        parallel = [i for i, s in enumerate(chosen) if not s[2]]
        with ThreadPoolExecutor(max(1, a.jobs)) as pool:
            list(pool.map(go, parallel))
        for i, s in enumerate(chosen):
            if s[2]:
                go(i)
        ordered = [rows[i] for i in range(len(chosen))]
        seconds = time.monotonic() - t0
        print(table(ordered, env))
        print()
        print(counts(ordered))
        print(f"\n{len(ordered)} trials in {seconds / 60:.1f} min")
        if a.markdown:
            write_markdown(a.markdown, ordered, env, seconds)
            print(f"wrote {a.markdown}", file=sys.stderr)
        return 1 if any(o.cls == "bad" for o in ordered) else 0
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
