"""Build a dataset in the release layout: synthetic ShapeNet-like objects or your own meshes.

Usage (from the repository root)::

    python -m data.build synth --size small                 # -> datasets/small
    python -m data.build synth --size full --root /big/disk/full --workers 8
    python -m data.build synth --size full --splits train test   # skip the val models
    python -m data.build meshes --input my_meshes/ --root datasets/mine [--up y|z]

Each model gets ``N_VIEWS`` renders at 224 px with the release camera model (K with f = 420 px,
distance 2, random azimuth, elevation in :data:`data.cameras.ELEVATION_RANGE`), RGBA renders,
exact depth maps, cameras and filled voxel grids at 32^3 and 64^3.

Guarantees:
    * deterministic: the same seed gives identical files (model ids, params, cameras, pixels,
      split and manifest files: nothing holds a timestamp), whatever ``--workers`` is;
    * parallel: models are built by a process pool, with a tqdm bar; on Linux the workers die
      with the builder, so ``kill -9`` of the builder stops every write;
    * resumable: finished models are skipped; each model is written into a temporary dot-folder
      and renamed into place only when complete, and its voxel files are written (atomically)
      before that rename, so the loader never sees a half-written model. A rerun of the same
      command on the same root (after a crash, ``kill -9``, a full disk, or with bad meshes
      fixed or removed) first removes what an interrupted build left (temporary folders and
      files, the voxel files of unfinished models), then builds what is missing and leaves
      what was built byte-identical: the result equals an uninterrupted build;
    * one build per root at a time: a build holds ``<root>/.build.lock`` (an empty file);
    * a rerun with different options is refused: ``<root>/dataset.json`` records them and a
      command whose options differ (seed, size, per-class count, up axis, image size...) stops
      with one line naming the root and the first differing key. For ``meshes`` the input
      folder may change (e.g. a cleaned copy of it): models already built are kept.

Bad meshes (``meshes``): a mesh file that cannot be parsed, holds no faces, is degenerate
(no extent) or has no volume (an empty voxel grid) is skipped with one WARNING line
``skipped <file>: <why>``; the skipped files are listed in ``<root>/skipped.json`` (removed
again once a rerun skips nothing) and the split file lists the built models only.

Exit status: 0 when the build is complete (for ``meshes``: at least one model built; skipped
files end with a WARNING ``built N, skipped K (see <root>/skipped.json)``); 1 when nothing could
be built, the options differ from the root's, or a write failed. A full disk stops the build
with one line ``disk full writing <path>: ...; free space and rerun the same command to
resume``; nothing half-written is left behind.

Meshes are normalised the way ShapeNet models are: the bounding box is centred at the origin and
scaled so that its diagonal is 1 (so the object fits in [-0.5, 0.5]^3). Input meshes are taken
to be y-up (ShapeNet's convention) unless ``--up z``; the world frame is z-up:
``(x, y, z)_world = (x, -z, y)_shapenet``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import logging
import multiprocessing as mp
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import trimesh
from tqdm import tqdm

from data import cameras, io
from data.layout import CLASSES, IM_SIZE, N_VIEWS, SPLITS_DIR, VOXEL_SIZES, DataLayout
from data.render import Scene, render
from data.voxelize import voxelize

log = logging.getLogger(__name__)

#: Models per class for each named synthetic size.
SIZES: dict[str, int] = {"tiny": 3, "small": 24, "full": 300}
#: Default data roots of the named sizes (relative to the repository root).
DATASETS_DIR = Path("datasets")
#: Mesh file types read from a mesh folder.
MESH_EXTENSIONS = (".obj", ".ply", ".off", ".glb", ".gltf", ".stl")
#: Split fractions (train, val, test).
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)
#: Rotation taking y-up (ShapeNet) coordinates to the z-up world: (x, y, z) -> (x, -z, y).
Y_UP_TO_WORLD = np.array([[1.0, 0, 0, 0], [0, 0, -1.0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1.0]])
#: Lock file of a data root (held, with ``flock``, by the build writing to it).
LOCK_NAME = ".build.lock"
#: Seconds a build waits for another build of the same root to let go of the lock.
LOCK_WAIT_S = 20.0
#: File listing the mesh files a ``meshes`` build skipped (in the data root).
SKIPPED_NAME = "skipped.json"
#: Manifest keys that only say where a build came from: a rerun may change them.
INFO_KEYS = frozenset({"input"})


# --------------------------------------------------------------------------------------------
# Errors and reports
# --------------------------------------------------------------------------------------------
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


class BadMeshError(io.DataError):
    """An input mesh cannot be built. The message says why, without the file name."""


@dataclass
class Skipped:
    """A mesh file that was not built.

    Attributes:
        synset: its class.
        model: its model id.
        path: the mesh file.
        reason: why (one line).
    """

    synset: str
    model: str
    path: str
    reason: str

    def line(self) -> str:
        """The one-line report: ``skipped <path>: <reason>``."""
        return f"skipped {self.path}: {self.reason}"


@dataclass
class BuildReport:
    """What :func:`build` did.

    Attributes:
        built: models built now.
        skipped: models that were already complete (not rebuilt).
        bad: input meshes that could not be built, sorted by path.
    """

    built: int = 0
    skipped: int = 0
    bad: list[Skipped] = field(default_factory=list)


def _one_line(e: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, at most ``limit`` characters."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


@contextlib.contextmanager
def _writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn a full disk (ENOSPC, EDQUOT) met inside the block into :class:`DiskFullError`."""
    try:
        yield
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(path, e.strerror or str(e)) from e
        raise


# --------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------
@dataclass
class Job:
    """One model to build.

    Attributes:
        synset: class folder name (a ShapeNet synset id for synthetic data).
        model: model id (folder / file stem).
        seed: per-model seed for the cameras (and the shape, for synthetic models).
        source: ``"synth"`` or the path of a mesh file.
        index: model index within its class (synthetic models).
        up: up axis of a source mesh, ``"y"`` or ``"z"``.
    """

    synset: str
    model: str
    seed: list[int]
    source: str = "synth"
    index: int = 0
    up: str = "y"
    extra: dict[str, Any] = field(default_factory=dict)


def synthetic_model_id(seed: int, synset: str, index: int) -> str:
    """ShapeNet-like 32-hex model id of synthetic model ``index`` of a class."""
    return hashlib.md5(f"lsm-synth/{seed}/{synset}/{index}".encode()).hexdigest()


def synthetic_jobs(per_class: int, seed: int = 0,
                   synsets: Sequence[str] | None = None) -> list[Job]:
    """Jobs of a synthetic dataset: ``per_class`` models for each synset.

    Model ``i`` of a class depends only on (seed, synset, i), so a smaller size is a prefix of a
    larger one.
    """
    synsets = list(synsets or CLASSES)
    # index-major order: a build interrupted (or still running) holds a balanced prefix of
    # every class, e.g. all of `small` once 24 models per class are done
    return [Job(synset=s, model=synthetic_model_id(seed, s, i), seed=[seed, int(s), i], index=i)
            for i in range(per_class) for s in synsets]


def normalise_to_world(meshes: Sequence[trimesh.Trimesh], up: str = "y") -> list[trimesh.Trimesh]:
    """Normalise parts like ShapeNet and move them into the z-up world frame.

    Args:
        meshes: parts in their own frame (any units).
        up: ``"y"`` (ShapeNet) or ``"z"``: the up axis of the input.

    Returns:
        New meshes, jointly centred (bounding box) and scaled to a bounding-box diagonal of 1,
        in world coordinates (z up). Inputs are not modified.
    """
    if up not in ("y", "z"):
        raise ValueError(f"up must be 'y' or 'z', got {up!r}")
    bounds = np.array([m.bounds for m in meshes])
    lo, hi = bounds[:, 0].min(axis=0), bounds[:, 1].max(axis=0)
    diag = float(np.linalg.norm(hi - lo))
    if not np.isfinite(diag) or diag <= 0:
        raise ValueError("mesh has an empty or degenerate bounding box")
    T = np.eye(4)
    T[:3, 3] = -(lo + hi) / 2.0
    S = np.diag([1.0 / diag] * 3 + [1.0])
    M = (Y_UP_TO_WORLD if up == "y" else np.eye(4)) @ S @ T
    out = []
    for m in meshes:
        m = m.copy()
        m.apply_transform(M)
        out.append(m)
    return out


# --------------------------------------------------------------------------------------------
# Building one model
# --------------------------------------------------------------------------------------------
def _palette_color(rng: np.random.Generator) -> tuple[float, float, float]:
    return tuple(float(c) for c in rng.uniform(0.25, 0.9, size=3))


def _load_mesh_parts(path: Path, rng: np.random.Generator
                     ) -> tuple[list[trimesh.Trimesh], list[tuple[float, float, float]]]:
    """Load a mesh file as one part with a colour (the mesh's own colour if it has one).

    Raises:
        BadMeshError: the file cannot be parsed or holds no faces.
    """
    try:
        mesh = trimesh.load(str(path), force="mesh", process=True)
    except Exception as e:
        raise BadMeshError(f"cannot be parsed: {_one_line(e)}") from e
    if not isinstance(mesh, trimesh.Trimesh):
        raise BadMeshError(f"holds no triangle mesh (trimesh read a {type(mesh).__name__})")
    if len(mesh.faces) == 0:
        raise BadMeshError("no faces")
    color = _palette_color(rng)
    if mesh.visual is not None and mesh.visual.kind in ("face", "vertex", "texture"):
        try:
            fc = np.asarray(mesh.visual.to_color().face_colors, dtype=float)[:, :3] / 255.0
            color = tuple(float(c) for c in np.median(fc, axis=0))
        except Exception:  # a texture trimesh cannot reduce to colours: keep the palette
            log.debug("no usable colour in %s", path)
    return [mesh], [color]


def _geometry(job: Job, rng: np.random.Generator
              ) -> tuple[list[trimesh.Trimesh], list[tuple[float, float, float]], dict[str, Any]]:
    """A job's parts in the world frame, their colours and the model's ``params.json`` content.

    Raises:
        BadMeshError: a mesh job's file cannot be used (see :func:`_load_mesh_parts`) or is
            degenerate.
    """
    if job.source == "synth":
        from data import shapes

        parts, params = shapes.make_object(job.synset, rng)
        info: dict[str, Any] = {"source": "synthetic", "params": params,
                                "parts": [p.name for p in parts]}
        return normalise_to_world([p.mesh for p in parts], up="y"), [p.color for p in parts], info
    meshes, colors = _load_mesh_parts(Path(job.source), rng)
    try:
        meshes = normalise_to_world(meshes, up=job.up)
    except ValueError as e:
        raise BadMeshError(str(e)) from e
    return meshes, colors, {"source": str(job.source)}


def build_model(job: Job, layout: DataLayout) -> str:
    """Build one model into ``layout`` (no-op if it is already complete).

    The voxel files are written first (each atomically), then renders, depth maps, cameras and
    ``params.json`` into a temporary dot-folder that is renamed into place last. On any failure
    the temporary folder and the model's voxel files are removed again.

    Returns:
        ``"built"`` or ``"skipped"`` (already complete).

    Raises:
        BadMeshError: a mesh job's input cannot be built (the message says why).
        DiskFullError: the disk is full (the message names the file).
    """
    if layout.has_model(job.synset, job.model):
        return "skipped"
    rng = np.random.default_rng(job.seed)
    meshes, colors, info = _geometry(job, rng)
    grids = {nvox: voxelize(meshes, nvox) for nvox in VOXEL_SIZES}
    if job.source != "synth" and not np.any(grids[VOXEL_SIZES[0]]):
        raise BadMeshError(f"no volume: its {VOXEL_SIZES[0]}^3 voxel grid is empty "
                           "(a flat, line-like or tiny mesh?)")

    final = layout.model_dir(job.synset, job.model)
    tmp = final.parent / f".tmp-{job.model}-{os.getpid()}"
    voxel_paths = {nvox: layout.voxel_path(job.synset, job.model, nvox) for nvox in VOXEL_SIZES}
    try:
        # voxels first (each file atomic); the model only appears with the final rename below
        for nvox, path in voxel_paths.items():
            with _writing(path):
                io.write_voxels(path, grids[nvox])
        with _writing(tmp):
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        tmp_layout = _Redirect(layout, job.synset, job.model, tmp)
        scene = Scene.from_parts(meshes, colors)
        K = cameras.intrinsics(IM_SIZE)
        views = cameras.sample_viewpoints(rng, N_VIEWS)
        for i, (az, el) in enumerate(views):
            E = cameras.look_at(az, el)
            rgba, depth = render(scene, K, E, IM_SIZE, IM_SIZE)
            with _writing(layout.render_path(job.synset, job.model, i)):
                io.write_render(tmp_layout.render_path(i), rgba)
            with _writing(layout.depth_path(job.synset, job.model, i)):
                io.write_depth(tmp_layout.depth_path(i), depth)
            with _writing(layout.camera_path(job.synset, job.model, i)):
                io.write_camera(tmp_layout.camera_path(i), K, E, azimuth=az, elevation=el,
                                distance=cameras.DISTANCE)
        info["views"] = views.round(6).tolist()
        with _writing(layout.params_path(job.synset, job.model)):
            io.write_json(tmp / "params.json", info)
        with _writing(final):
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if not layout.has_model(job.synset, job.model):
            for path in voxel_paths.values():
                with contextlib.suppress(OSError):
                    path.unlink()
        raise
    return "built"


@dataclass
class _Redirect:
    """The layout's file names for one model, inside a temporary folder."""

    layout: DataLayout
    synset: str
    model: str
    folder: Path

    def _p(self, path: Path) -> Path:
        return self.folder / path.name

    def render_path(self, i: int) -> Path:
        return self._p(self.layout.render_path(self.synset, self.model, i))

    def depth_path(self, i: int) -> Path:
        return self._p(self.layout.depth_path(self.synset, self.model, i))

    def camera_path(self, i: int) -> Path:
        return self._p(self.layout.camera_path(self.synset, self.model, i))


class _Result(NamedTuple):
    """Outcome of one job, as sent back by a worker."""

    synset: str
    model: str
    status: str  # "built", "skipped", "bad", "diskfull" or "error"
    detail: str = ""  # why (bad, diskfull, error)
    path: str = ""  # the mesh file (bad) or the file that could not be written (diskfull)


def _run_job(args: tuple[Job, str]) -> _Result:
    """Build one job; every failure is returned (not raised) for the parent to report."""
    job, root = args
    try:
        return _Result(job.synset, job.model, build_model(job, DataLayout(Path(root))))
    except DiskFullError as e:
        return _Result(job.synset, job.model, "diskfull", e.detail, str(e.path))
    except OSError as e:  # a write failed for another reason: the build cannot go on
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            return _Result(job.synset, job.model, "diskfull", e.strerror or str(e),
                           str(e.filename or root))
        return _Result(job.synset, job.model, "error", f"{type(e).__name__}: {_one_line(e)}")
    except Exception as e:
        if job.source == "synth":  # a bug: synthetic models never fail
            return _Result(job.synset, job.model, "error", f"{type(e).__name__}: {_one_line(e)}")
        why = str(e) if isinstance(e, BadMeshError) else (
            f"cannot be built: {type(e).__name__}: {_one_line(e)}")
        return _Result(job.synset, job.model, "bad", why, job.source)


def _worker_init(parent: int) -> None:
    """Pool worker start-up: on Linux, ask the kernel to SIGKILL this worker when the builder
    dies (``prctl(PR_SET_PDEATHSIG)``), so a killed build leaves no orphan writing files."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            log.debug("prctl(PR_SET_PDEATHSIG) unavailable")
    if os.getppid() != parent:  # the builder died before prctl took effect
        os._exit(1)


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
    with _writing(path):
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


def build(jobs: Sequence[Job], root: Path, workers: int | None = None,
          progress: bool = True) -> BuildReport:
    """Build every job into ``root`` in parallel; finished models are skipped.

    Mesh jobs whose file cannot be built are skipped and reported (one WARNING line each, and
    in the returned report); whatever happens, nothing half-written is left in ``root``.

    Args:
        jobs: the models to build.
        root: data root.
        workers: processes (default: all cores).
        progress: show a tqdm bar.

    Returns:
        What was built, what was already there and which meshes were bad.

    Raises:
        DiskFullError: the disk filled up (the build stops at once; rerun to resume).
        BuildError: a synthetic model failed or a write failed (the other models are built
            first; finished models are kept).
    """
    layout = DataLayout(Path(root))
    with _writing(layout.root):
        layout.root.mkdir(parents=True, exist_ok=True)
    with root_lock(layout.root):
        removed = clean_partial(layout, jobs)
        if removed:
            log.info("removed %d partial files or folders left by an interrupted build",
                     removed)
        todo = [j for j in jobs if not layout.has_model(j.synset, j.model)]
        report = BuildReport(skipped=len(jobs) - len(todo))
        errors: list[str] = []
        disk_full: DiskFullError | None = None
        workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
        bar = tqdm(total=len(todo), desc=f"building {layout.root}", unit="model",
                   disable=not progress)
        tasks = [(j, str(layout.root)) for j in todo]
        if workers == 1:
            results: Iterable[_Result] = map(_run_job, tasks)
            pool = None
        else:
            ctx = mp.get_context("fork" if sys.platform != "win32" else "spawn")
            pool = ctx.Pool(workers, initializer=_worker_init, initargs=(os.getpid(),))
            results = pool.imap_unordered(_run_job, tasks, chunksize=1)
        try:
            for res in results:
                if res.status in ("built", "skipped"):
                    setattr(report, res.status, getattr(report, res.status) + 1)
                elif res.status == "bad":
                    report.bad.append(Skipped(res.synset, res.model, res.path, res.detail))
                elif res.status == "diskfull":
                    disk_full = DiskFullError(res.path, res.detail)
                    break
                else:
                    errors.append(f"{res.synset}/{res.model}: {res.detail}")
                bar.update(1)
        finally:
            bar.close()
            if pool is not None:
                pool.terminate()
                pool.join()
            clean_partial(layout, jobs)  # what terminated workers or a failure left
    report.bad.sort(key=lambda b: b.path)
    for b in report.bad:
        log.warning("%s", b.line())
    if disk_full is not None:
        raise disk_full
    if errors:
        for e in errors[1:20]:
            log.error("model failed: %s", e)
        raise BuildError(f"{len(errors)} model(s) failed, the first: {errors[0]}; finished "
                         "models are kept, rerun the same command to resume")
    return report


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------
def split_counts(n: int) -> tuple[int, int, int]:
    """(train, val, test) sizes for ``n`` models of a class: 70/10/20, each non-empty if n >= 3."""
    if n < 3:
        return n, 0, 0
    n_val = max(1, round(n * SPLIT_FRACTIONS[1]))
    n_test = max(1, round(n * SPLIT_FRACTIONS[2]))
    return n - n_val - n_test, n_val, n_test


def make_splits(models: dict[str, list[str]], seed: int = 0) -> dict[str, dict[str, list[str]]]:
    """Seeded 70/10/20 split per class.

    Args:
        models: ``{synset: [model_id, ...]}``.
        seed: permutation seed.

    Returns:
        ``{"train"|"val"|"test": {synset: sorted ids}}``.
    """
    out: dict[str, dict[str, list[str]]] = {"train": {}, "val": {}, "test": {}}
    for synset, ids in models.items():
        ids = sorted(ids)
        digest = int(hashlib.md5(synset.encode()).hexdigest()[:8], 16)
        perm = np.random.default_rng([seed, digest]).permutation(len(ids))
        n_tr, n_va, _ = split_counts(len(ids))
        chosen = [ids[i] for i in perm]
        out["train"][synset] = sorted(chosen[:n_tr])
        out["val"][synset] = sorted(chosen[n_tr:n_tr + n_va])
        out["test"][synset] = sorted(chosen[n_tr + n_va:])
    return out


def synthetic_splits(size: str, seed: int = 0) -> dict[str, dict[str, list[str]]]:
    """The split of a named synthetic size (depends only on ids, not on rendering)."""
    jobs = synthetic_jobs(SIZES[size], seed)
    models: dict[str, list[str]] = {}
    for j in jobs:
        models.setdefault(j.synset, []).append(j.model)
    return make_splits(models, seed)


def split_file_name(size: str) -> str:
    """Repository split file of a named synthetic size: ``splits.json`` for ``full``."""
    return "splits.json" if size == "full" else f"splits_{size}.json"


# --------------------------------------------------------------------------------------------
# Mesh folders
# --------------------------------------------------------------------------------------------
_ID_OK = re.compile(r"[^A-Za-z0-9_.-]+")


def discover_meshes(folder: Path) -> list[tuple[str, str, Path]]:
    """Find meshes under ``folder``: ``(class, model_id, path)`` triples, sorted.

    Layouts understood:
        * ``folder/<class>/<name>.<ext>``: model id = file stem;
        * ``folder/<class>/<model>/.../<file>.<ext>`` (e.g. ShapeNetCore's
          ``<synset>/<model>/models/model_normalized.obj``): model id = ``<model>``; if a model
          folder holds several meshes, ``model_normalized.*`` wins, else the first by name.

    Raises:
        io.DataError: if the folder does not exist or holds no mesh file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise io.DataError(f"mesh folder does not exist: {folder}")
    found: dict[tuple[str, str], Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in MESH_EXTENSIONS or not path.is_file():
            continue
        rel = path.relative_to(folder).parts
        if len(rel) < 2:
            log.warning("skipping %s: meshes must sit in a class folder", path)
            continue
        cls = _ID_OK.sub("_", rel[0])
        model = _ID_OK.sub("_", Path(rel[1]).stem if len(rel) == 2 else rel[1])
        key = (cls, model)
        if key not in found or path.stem == "model_normalized":
            found[key] = path
    if not found:
        raise io.DataError(f"no mesh files ({', '.join(MESH_EXTENSIONS)}) under {folder}")
    return [(c, m, p) for (c, m), p in sorted(found.items())]


def mesh_jobs(folder: Path, seed: int = 0, up: str = "y") -> list[Job]:
    """Jobs for every mesh in a folder (see :func:`discover_meshes`)."""
    jobs = []
    for cls, model, path in discover_meshes(folder):
        digest = int(hashlib.md5(f"{cls}/{model}".encode()).hexdigest()[:8], 16)
        jobs.append(Job(synset=cls, model=model, seed=[seed, digest], source=str(path), up=up))
    return jobs


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def _manifest(kind: str, **kw: Any) -> dict[str, Any]:
    return {"kind": kind, "n_views": N_VIEWS, "im_size": IM_SIZE, "voxel_sizes": list(VOXEL_SIZES),
            "K": cameras.intrinsics(IM_SIZE).tolist(), "distance": cameras.DISTANCE,
            "elevation_range_deg": list(cameras.ELEVATION_RANGE), "grid_range": [-0.5, 0.5],
            **kw}


def _check_manifest(layout: DataLayout, manifest: dict[str, Any]) -> None:
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


def _write_json(path: Path, obj: Any) -> None:
    """Atomic JSON write; a full disk becomes :class:`DiskFullError` naming ``path``."""
    with _writing(path):
        io.write_json(path, obj)


def _write_splits(path: Path, splits: dict[str, dict[str, list[str]]]) -> None:
    """Atomic split-file write; a full disk becomes :class:`DiskFullError` naming ``path``."""
    with _writing(path):
        io.write_splits(path, splits)


def _parser() -> argparse.ArgumentParser:
    """The command-line parser (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m data.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("synth", help="build the synthetic ShapeNet-like dataset")
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--per_class", type=int, default=None, help="override the size's model count")
    p.add_argument("--classes", nargs="*", default=None, help="synset ids (default: all 13)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--root", type=Path, default=None, help="default: datasets/<size>")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--splits", nargs="*", choices=("train", "val", "test"), default=None,
                   help="build only the models of these splits (e.g. `--splits train` on a "
                        "training machine); the root's splits.json still lists the whole size")
    p.add_argument("--write_split", action="store_true",
                   help="also (re)write the repository split file data/splits*.json")
    m = sub.add_parser(
        "meshes", help="build from a folder of meshes (class = folder name)",
        description="Build from a folder of meshes. Bad mesh files are skipped with one line "
                    "each and listed in <root>/skipped.json; exit status 0 if at least one "
                    "model was built, else 1. Rerun on the same root (e.g. with the bad files "
                    "fixed) to complete the build.")
    m.add_argument("--input", type=Path, required=True)
    m.add_argument("--root", type=Path, required=True)
    m.add_argument("--up", choices=["y", "z"], default="y")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--workers", type=int, default=None)
    m.add_argument("--split_file", type=Path, default=None,
                   help="where to write the split (default: <root>/splits.json)")
    for q in (p, m):
        q.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring). Returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except (BuildError, io.DataError) as e:
        log.error("%s", e)
        return 1


def _run(args: argparse.Namespace) -> int:
    """Run a parsed command; errors are raised for :func:`main` to report in one line."""
    t0 = time.time()
    if args.cmd == "synth":
        n = args.per_class or SIZES[args.size]
        root = args.root or DATASETS_DIR / args.size
        jobs = synthetic_jobs(n, args.seed, args.classes)
        manifest = _manifest("synthetic", size=args.size, per_class=n, seed=args.seed)
    else:
        root = args.root
        jobs = mesh_jobs(args.input, args.seed, args.up)
        manifest = _manifest("meshes", input=str(args.input.resolve()), up=args.up,
                             seed=args.seed)
    layout = DataLayout(root)
    with _writing(root):
        root.mkdir(parents=True, exist_ok=True)
    with root_lock(root):
        _check_manifest(layout, manifest)
        _write_json(layout.manifest_path, manifest)
        to_build = jobs
        if args.cmd == "synth":
            splits = make_splits(_models_of(jobs), args.seed)
            if args.splits:
                wanted = {(s, m) for name in args.splits for s, ms in splits[name].items()
                          for m in ms}
                to_build = [j for j in jobs if (j.synset, j.model) in wanted]
                log.info("building the %d models of split(s) %s only", len(to_build),
                         ", ".join(args.splits))
        report = build(to_build, root, args.workers, progress=not args.quiet)

        skipped_path = root / SKIPPED_NAME
        if report.bad:
            _write_json(skipped_path, [
                {"path": b.path, "class": b.synset, "model": b.model, "reason": b.reason}
                for b in report.bad])
        else:
            skipped_path.unlink(missing_ok=True)
        if args.cmd == "meshes":
            bad = {(b.synset, b.model) for b in report.bad}
            good = [j for j in jobs if (j.synset, j.model) not in bad]
            if not good:
                raise BuildError(f"no model could be built from {args.input}: "
                                 f"{len(report.bad)} mesh file(s) skipped (see {skipped_path})")
            splits = make_splits(_models_of(good), args.seed)
        _write_splits(root / "splits.json", splits)
        targets = [root / "splits.json"]
        if (args.cmd == "synth" and args.write_split and args.per_class is None
                and not args.classes):
            _write_splits(SPLITS_DIR / split_file_name(args.size), splits)
            targets.append(SPLITS_DIR / split_file_name(args.size))
        if args.cmd == "meshes" and args.split_file:
            _write_splits(args.split_file, splits)
            targets.append(args.split_file)
    log.info("%s: %d built, %d already there, %.1f s; splits -> %s", root, report.built,
             report.skipped, time.time() - t0, ", ".join(map(str, targets)))
    if report.bad:
        log.warning("%s: built %d, skipped %d (see %s)", root, report.built + report.skipped,
                    len(report.bad), skipped_path)
    return 0


def _models_of(jobs: Iterable[Job]) -> dict[str, list[str]]:
    """``{synset: [model_id, ...]}`` of some jobs."""
    models: dict[str, list[str]] = {}
    for j in jobs:
        models.setdefault(j.synset, []).append(j.model)
    return models


if __name__ == "__main__":
    sys.exit(main())
