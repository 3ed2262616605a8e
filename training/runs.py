"""Run folders: what counts as a run, where ``--log`` points, and the lock that keeps one writer.

A training run is a folder ``<logdir>/<timestamp>/train`` holding ``args.json`` (written when
the run starts) and checkpoints ``mvnet-<iteration>/``. ``--log`` accepts the run folder itself
or its parent (the ``<timestamp>`` folder, which is what ``ls log/`` shows); anything else that
exists is refused, so that a typo never starts a fresh run inside someone's files.

Only the standard library is imported here (no Keras, no TensorFlow): the argument parser uses
:func:`find_run` before any backend is loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import time
from pathlib import Path
from typing import Any, TextIO

from data.io import DataError, read_json

log = logging.getLogger(__name__)

#: Checkpoint folder names: ``mvnet-<iteration>`` (the release's prefix).
PREFIX = "mvnet"
CHECKPOINT_NAME = re.compile(rf"^{PREFIX}-(\d+)$")
#: The files of a checkpoint whose size and sha256 ``state.json`` records.
_FILES = ("model.weights.h5", "optimizer.npz")
#: The file a run starts with: the resolved arguments.
ARGS_FILE = "args.json"
#: Lock file inside a run folder (held by the trainer, released by the OS when it dies).
LOCK_FILE = ".lock"


class RunError(RuntimeError):
    """A run folder is not one, or is in use; the message names the folder and what to do."""


def checkpoint_dirs(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """Every ``mvnet-<iteration>`` folder in ``folder``, intact or not, sorted by iteration."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        m = CHECKPOINT_NAME.match(p.name)
        if m and p.is_dir():
            out.append((int(m.group(1)), p))
    return sorted(out)


def is_run(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds ``args.json`` or a ``mvnet-*`` checkpoint folder."""
    folder = Path(folder)
    return folder.is_dir() and ((folder / ARGS_FILE).is_file() or bool(checkpoint_dirs(folder)))


def find_run(path: str | os.PathLike, flag: str = "--log") -> Path:
    """The run folder a user meant by ``path``: the folder itself or its ``train/`` child.

    Args:
        path: what was given to ``flag``.
        flag: the option's name, for messages.

    Returns:
        The run folder (holding ``args.json`` or checkpoints).

    Raises:
        RunError: ``path`` does not exist, is a file, or is a folder that is not a run (the
            message says which, and lists a few of the files it holds).
    """
    p = Path(path)
    if not p.exists():
        raise RunError(f"{flag} {p} does not exist (give a training run folder, "
                       "<logdir>/<timestamp>/train, or its parent; a new run goes under "
                       "--logdir)")
    if not p.is_dir():
        raise RunError(f"{flag} {p} is a file, not a training run folder")
    if is_run(p):
        return p
    if is_run(p / "train"):
        log.info("%s %s: using its run folder %s", flag, p, p / "train")
        return p / "train"
    held = sorted(q.name for q in p.iterdir())
    what = ("is empty" if not held else
            f"holds {', '.join(held[:5])}{' ...' if len(held) > 5 else ''}")
    raise RunError(f"{flag} {p} is not a training run: it has no {ARGS_FILE} and no mvnet-* "
                   f"checkpoint (nor has {p / 'train'}), and {what}; nothing was written "
                   "there. Start a new run with --logdir PARENT instead.")


class RunLock:
    """An exclusive lock on a run folder for as long as a trainer writes it.

    Uses ``fcntl.flock`` on ``<run>/.lock``: the operating system releases it when the process
    ends in any way (also ``kill -9``), so a stale lock never blocks a resume. The file records
    the holder (pid, host, start time) for the message a second trainer gets.

    Args:
        run_dir: the run folder (must exist).

    Raises:
        RunError: (on :meth:`acquire`) another process holds the lock.
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self._file: TextIO | None = None

    def acquire(self) -> RunLock:
        """Take the lock (non-blocking); returns self."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, say so once
            log.warning("no file locking on this platform: make sure one trainer writes %s",
                        self.run_dir)
            return self
        f = open(self.run_dir / LOCK_FILE, "a+")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip()
            f.close()
            try:
                who = json.loads(holder)
                desc = (f"pid {who.get('pid')} on {who.get('host')}, since "
                        f"{who.get('started')}")
            except (ValueError, AttributeError):
                desc = "another process"
            raise RunError(f"run {self.run_dir} is being trained by {desc}; two trainers "
                           "must not write one run. Wait for it to end (or stop it), then "
                           "resume with --log.") from None
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                            "started": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        """Drop the lock (closing the file releases it)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def remove_stale_temporaries(run_dir: str | os.PathLike) -> list[str]:
    """Remove what killed writers left in a run folder: checkpoint folders being assembled
    (``.mvnet-<n>.tmp-<pid>``) and atomic-write temporaries (``.<name>.<random>.tmp``).

    Call it only while holding the run's :class:`RunLock` (then no one else is writing).
    Returns the names removed.
    """
    import shutil

    removed = []
    for p in Path(run_dir).iterdir():
        if p.name.startswith(f".{PREFIX}-") and ".tmp-" in p.name and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.name.startswith(".") and p.name.endswith(".tmp") and p.is_file():
            p.unlink()
        else:
            continue
        removed.append(p.name)
    if removed:
        log.info("removed %d temporary file(s) of an interrupted writer in %s: %s", len(removed),
                 run_dir, ", ".join(removed))
    return removed


def remove_if_unused(run_dir: str | os.PathLike) -> bool:
    """Remove a run folder that a failed start left without results.

    Only a folder holding nothing but ``args.json``, the lock and TensorBoard event files is
    removed (then also its ``<timestamp>`` parent, if that becomes empty); anything else keeps
    it. Returns True when it was removed.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return False
    keep = [p for p in run_dir.iterdir()
            if p.name not in (ARGS_FILE, LOCK_FILE) and not p.name.startswith("events.out.")]
    if keep:
        return False
    for p in run_dir.iterdir():
        p.unlink()
    run_dir.rmdir()
    parent = run_dir.parent
    if run_dir.name == "train" and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
    return True


# --------------------------------------------------------------------------------------------
# Checkpoint folders on disk (saving and loading them is training.checkpoint's)
# --------------------------------------------------------------------------------------------
class CheckpointError(RuntimeError):
    """A checkpoint is missing or does not match the model; the message names both."""


def checkpoint_path(run_dir: str | os.PathLike, iteration: int) -> Path:
    """``<run_dir>/mvnet-<iteration>``."""
    return Path(run_dir) / f"{PREFIX}-{int(iteration)}"


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Checkpoints of a run that have their ``state.json``, sorted by iteration:
    ``[(iteration, path), ...]`` (their files are verified on load, see
    :func:`verify_checkpoint`)."""
    return [(it, p) for it, p in checkpoint_dirs(run_dir) if (p / "state.json").is_file()]


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The newest checkpoint of a run that has its ``state.json``, or None."""
    ck = list_checkpoints(run_dir)
    return ck[-1][1] if ck else None


def latest_intact_checkpoint(run_dir: str | os.PathLike
                             ) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest checkpoint of a run that passes :func:`verify_checkpoint`.

    Returns:
        ``(checkpoint or None, [(broken newer checkpoint, why), ...])``: the broken ones were
        skipped (newest first) and are left on disk untouched.
    """
    skipped: list[tuple[Path, str]] = []
    for _, path in reversed(checkpoint_dirs(run_dir)):
        problem = checkpoint_problem(path)
        if problem is None:
            return path, skipped
        skipped.append((path, problem))
    return None, skipped


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """Why a checkpoint folder cannot be used, or None when it is intact.

    Checks: ``state.json`` exists and parses; the weights file exists; each file recorded in
    ``state.json`` (``files``: size and sha256) exists with that size and checksum.
    Checkpoints written before checksums were recorded (no ``files`` key: converted release
    models, old runs) are checked for presence only.
    """
    path = Path(path)
    if not path.is_dir():
        return "not found"
    if not (path / "state.json").is_file():
        return "no state.json (an unfinished or foreign folder)"
    try:
        state = read_json(path / "state.json")
    except DataError as e:
        return f"state.json is unreadable ({e})"
    if not isinstance(state, dict):
        return "state.json is not an object"
    files = state.get("files")
    if files is None:
        return None if (path / _FILES[0]).is_file() else f"no {_FILES[0]}"
    for name, rec in files.items():
        f = path / name
        if not f.is_file():
            return f"{name} is missing"
        size = f.stat().st_size
        if size != rec.get("bytes"):
            return f"{name} has {size} bytes, state.json recorded {rec.get('bytes')} (truncated?)"
        if _sha256(f) != rec.get("sha256"):
            return f"{name} does not match its sha256 in state.json (corrupted)"
    return None


def verify_checkpoint(path: str | os.PathLike) -> None:
    """Raise :class:`CheckpointError` naming ``path`` and the fault when it is not intact
    (see :func:`checkpoint_problem`)."""
    problem = checkpoint_problem(path)
    if problem is not None:
        raise CheckpointError(f"checkpoint {path} is broken: {problem}")


def resolve_checkpoint(ckpt: str | os.PathLike, run_dir: str | os.PathLike | None = None) -> Path:
    """Find a checkpoint from what a user typed.

    Args:
        ckpt: a checkpoint folder, a checkpoint name (``mvnet-5000``, looked up in ``run_dir``),
            an iteration number, or a run folder (its latest checkpoint).
        run_dir: the run's log directory, for names and numbers.

    Raises:
        CheckpointError: nothing matches; the message lists the checkpoints that exist.
    """
    cands = [Path(ckpt)]
    if run_dir is not None:
        cands.append(Path(run_dir) / str(ckpt))
        if str(ckpt).isdigit():
            cands.append(checkpoint_path(run_dir, int(ckpt)))
    for c in cands:
        if (c / "state.json").exists():
            return c
        if c.is_dir() and latest_checkpoint(c) is not None:
            return latest_checkpoint(c)  # type: ignore[return-value]
    where = Path(run_dir) if run_dir is not None else Path(ckpt).parent
    have = [p.name for _, p in list_checkpoints(where)]
    raise CheckpointError(f"checkpoint {ckpt} not found (looked in {where}; it has "
                          f"{', '.join(have) if have else 'no checkpoints'})")


__all__ = ["ARGS_FILE", "CHECKPOINT_NAME", "LOCK_FILE", "PREFIX", "CheckpointError", "RunError",
           "RunLock", "checkpoint_dirs", "checkpoint_path", "checkpoint_problem", "find_run",
           "is_run", "latest_checkpoint", "latest_intact_checkpoint", "list_checkpoints",
           "remove_if_unused", "remove_stale_temporaries", "resolve_checkpoint",
           "verify_checkpoint"]
