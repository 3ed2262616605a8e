"""A data root while it is built: one-line errors, the lock, leftovers of an interrupted build,
the manifest (``dataset.json``) and the atomic writes of the root's JSON and split files."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from data import io
from data.build_jobs import Job
from data.layout import IM_SIZE, N_VIEWS, VOXEL_SIZES, DataLayout
from geometry.camera import DISTANCE, ELEVATION_RANGE, intrinsics
from geometry.grid import GRID_RANGE

# logs under the builder's name (as when this code was part of data/build.py)
log = logging.getLogger("data.build")

#: Lock file of a data root (held, with ``flock``, by the build writing to it).
LOCK_NAME = ".build.lock"
#: Seconds a build waits for another build of the same root to let go of the lock.
LOCK_WAIT_S = 20.0
#: Manifest keys that only say where a build came from: a rerun may change them.
INFO_KEYS = frozenset({"input", "added"})


class BuildError(RuntimeError):
    """The build cannot go on; the message is one line that says why and what to do."""


class DiskFullError(BuildError):
    """A write failed because the disk (or the quota) is full.

    Args:
        path: the file (or folder) that could not be written.
        detail: the system's message.
    """

    def __init__(self, path: str | os.PathLike, detail: str) -> None:
        self.path = Path(path)
        self.detail = detail
        super().__init__(f"disk full writing {self.path}: {detail}; free space and rerun the "
                         "same command to resume")


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn a full disk (ENOSPC, EDQUOT) met inside the block into :class:`DiskFullError`."""
    try:
        yield
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(path, e.strerror or str(e)) from e
        raise


_HELD_LOCKS: set[Path] = set()


@contextlib.contextmanager
def root_lock(root: Path, wait_s: float | None = None) -> Iterator[None]:
    """Hold ``<root>/.build.lock`` (``flock``) while building; re-entrant within a process.

    Pool workers inherit the lock, so it is free again only once the builder and all its
    workers are gone. Without ``fcntl`` (Windows) nothing is locked.

    Args:
        root: the data root (created if missing).
        wait_s: how long to wait for another build of the root to finish (default:
            :data:`LOCK_WAIT_S`).

    Raises:
        BuildError: another build still holds the lock after ``wait_s`` seconds.
        DiskFullError: the lock file cannot be created on a full disk.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    key = Path(root).resolve()
    if key in _HELD_LOCKS:
        yield
        return
    path = Path(root) / LOCK_NAME
    with writing(path):
        Path(root).mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + (LOCK_WAIT_S if wait_s is None else wait_s)
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as e:
                if time.monotonic() > deadline:
                    raise BuildError(f"another build is writing to {root} (it holds {path}); "
                                     "let it finish or stop it, then rerun") from e
                if not waiting:
                    log.info("waiting for another build of %s to finish", root)
                    waiting = True
                time.sleep(0.1)
        _HELD_LOCKS.add(key)
        try:
            yield
        finally:
            _HELD_LOCKS.discard(key)
    finally:
        os.close(fd)


def clean_partial(layout: DataLayout, jobs: Sequence[Job] = ()) -> int:
    """Remove what an interrupted build left in a root. Returns how many entries were removed.

    That is: temporary model folders (``renders/<class>/.tmp-*``), temporary files of atomic
    writes (``.<name>.<random>.tmp`` in the root, class and voxel folders), and the voxel files
    of the models of ``jobs`` whose render folder does not exist (a model is complete only once
    its render folder is renamed into place). Call it only while holding :func:`root_lock`.
    """
    n = 0
    if layout.renders_root.is_dir():
        for tmp in layout.renders_root.glob("*/.tmp-*"):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            n += 1
    patterns = [(layout.root, ".*.tmp"), (layout.renders_root, "*/.*.tmp")]
    patterns += [(layout.voxels_root(nvox), "*/.*.tmp") for nvox in VOXEL_SIZES]
    for folder, pattern in patterns:
        if folder.is_dir():
            for tmp in folder.glob(pattern):
                if tmp.is_file():
                    tmp.unlink(missing_ok=True)
                    n += 1
    for job in jobs:
        if not layout.has_model(job.synset, job.model):
            for nvox in VOXEL_SIZES:
                path = layout.voxel_path(job.synset, job.model, nvox)
                if path.exists():
                    path.unlink(missing_ok=True)
                    n += 1
    return n


def make_manifest(kind: str, **kw: Any) -> dict[str, Any]:
    """The content of ``<root>/dataset.json``: the options of a build (and its camera model)."""
    return {"kind": kind, "n_views": N_VIEWS, "im_size": IM_SIZE, "voxel_sizes": list(VOXEL_SIZES),
            "K": intrinsics(IM_SIZE).tolist(), "distance": DISTANCE,
            "elevation_range_deg": list(ELEVATION_RANGE), "grid_range": list(GRID_RANGE),
            **kw}


def check_manifest(layout: DataLayout, manifest: dict[str, Any]) -> None:
    """Refuse a build whose options differ from those recorded in the root's manifest.

    Raises:
        BuildError: one line naming the root and the first differing key.
    """
    if not layout.manifest_path.exists():
        return
    old = io.read_json(layout.manifest_path)
    new = json.loads(json.dumps(manifest))  # compare as stored (tuples are lists in JSON)
    for key in dict.fromkeys([*new, *old]):
        if key in INFO_KEYS or old.get(key) == new.get(key):
            continue
        raise BuildError(
            f"{layout.root} was built with {key}={old.get(key)!r}, this command asks for "
            f"{key}={new.get(key)!r}; rerun with the same options, or choose another --root "
            "(or delete it)")
    for key in INFO_KEYS:
        if key in old and key in new and old[key] != new[key]:
            log.warning("%s was built with %s=%s, now %s: models already built are kept",
                        layout.root, key, old[key], new[key])


def save_json(path: Path, obj: Any) -> None:
    """Atomic JSON write; a full disk becomes :class:`DiskFullError` naming ``path``."""
    with writing(path):
        io.write_json(path, obj)


def save_splits(path: Path, splits: dict[str, dict[str, list[str]]]) -> None:
    """Atomic split-file write; a full disk becomes :class:`DiskFullError` naming ``path``."""
    with writing(path):
        io.write_splits(path, splits)
