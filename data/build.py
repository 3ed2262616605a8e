"""Build a dataset in the release layout: synthetic ShapeNet-like objects or your own meshes.

Usage (from the repository root)::

    python -m data.build synth --size small                 # -> datasets/small
    python -m data.build synth --size full --root /big/disk/full --workers 8
    python -m data.build synth --size full --splits train test   # skip the val models
    python -m data.build synth --size small --families extra     # + the six generic families
    python -m data.build meshes --input my_meshes/ --root datasets/mine [--up y|z]
    python -m data.build meshes --input my_meshes/ --root datasets/small --add   # mix them in

Each model gets ``N_VIEWS`` renders at 224 px with the release camera model (K with f = 420 px,
distance 2, random azimuth, elevation in :data:`geometry.camera.ELEVATION_RANGE`), RGBA renders,
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

The parts: :mod:`data.build_jobs` (jobs and splits), :mod:`data.build_root` (the lock, leftovers
of an interrupted build, the manifest, one-line errors), :mod:`data.meshes` (normalising and
reading meshes), :mod:`data.shapes` (the synthetic objects); this module builds models and
runs the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import errno
import json
import logging
import multiprocessing as mp
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import trimesh
from tqdm import tqdm

from data import io, shapes
from data.build_jobs import (
    FAMILY_SETS,
    SIZES,
    SPLIT_FRACTIONS,
    UNSEEN_PROTOCOLS,
    Job,
    family_classes,
    make_splits,
    mesh_jobs,
    models_of,
    protocol_file_name,
    protocol_splits,
    split_counts,
    split_file_name,
    synthetic_jobs,
    synthetic_model_id,
    synthetic_splits,
    wild_protocol_splits,
)
from data.build_root import (
    INFO_KEYS,
    LOCK_NAME,
    BuildError,
    DiskFullError,
    check_manifest,
    clean_partial,
    make_manifest,
    root_lock,
    save_json,
    save_splits,
    writing,
)
from data.layout import IM_SIZE, N_VIEWS, SPLITS_DIR, VOXEL_SIZES, DataLayout
from data.meshes import (
    MESH_EXTENSIONS,
    BadMeshError,
    discover_meshes,
    load_mesh_parts,
    normalise_to_world,
    one_line,
)
from data.render import Scene, render
from data.voxelize import voxelize
from geometry.camera import DISTANCE, intrinsics, look_at, sample_viewpoints

__all__ = [
    "DATASETS_DIR", "FAMILY_SETS", "INFO_KEYS", "LOCK_NAME", "MESH_EXTENSIONS", "SIZES",
    "SKIPPED_NAME", "SPLIT_FRACTIONS", "UNSEEN_PROTOCOLS", "BadMeshError", "BuildError",
    "BuildReport", "DiskFullError", "Job", "Skipped", "build", "build_model", "clean_partial",
    "discover_meshes", "family_classes", "main", "make_splits", "mesh_jobs",
    "protocol_file_name", "protocol_splits", "root_lock", "split_counts", "split_file_name",
    "synthetic_jobs", "synthetic_model_id", "synthetic_splits", "wild_protocol_splits",
]

log = logging.getLogger(__name__)

#: Default data roots of the named sizes (relative to the repository root).
DATASETS_DIR = Path("datasets")
#: File listing the mesh files a ``meshes`` build skipped (in the data root).
SKIPPED_NAME = "skipped.json"


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# Building one model
# --------------------------------------------------------------------------------------------
def _geometry(job: Job, rng: np.random.Generator
              ) -> tuple[list[trimesh.Trimesh], list[tuple[float, float, float]], dict[str, Any]]:
    """A job's parts in the world frame, their colours and the model's ``params.json`` content.

    Raises:
        BadMeshError: a mesh job's file cannot be used (see :func:`load_mesh_parts`) or is
            degenerate.
    """
    if job.source == "synth":
        parts, params = shapes.make_object(job.synset, rng)
        info: dict[str, Any] = {"source": "synthetic", "params": params,
                                "parts": [p.name for p in parts]}
        return (normalise_to_world([p.mesh for p in parts], up="y"),
                [p.render_color for p in parts], info)
    meshes, colors = load_mesh_parts(Path(job.source), rng)
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
            with writing(path):
                io.write_voxels(path, grids[nvox])
        with writing(tmp):
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        tmp_layout = _Redirect(layout, job.synset, job.model, tmp)
        scene = Scene.from_parts(meshes, colors)
        K = intrinsics(IM_SIZE)
        views = sample_viewpoints(rng, N_VIEWS)
        for i, (az, el) in enumerate(views):
            E = look_at(az, el)
            rgba, depth = render(scene, K, E, IM_SIZE, IM_SIZE)
            with writing(layout.render_path(job.synset, job.model, i)):
                io.write_render(tmp_layout.render_path(i), rgba)
            with writing(layout.depth_path(job.synset, job.model, i)):
                io.write_depth(tmp_layout.depth_path(i), depth)
            with writing(layout.camera_path(job.synset, job.model, i)):
                io.write_camera(tmp_layout.camera_path(i), K, E, azimuth=az, elevation=el,
                                distance=DISTANCE)
        info["views"] = views.round(6).tolist()
        with writing(layout.params_path(job.synset, job.model)):
            io.write_json(tmp / "params.json", info)
        with writing(final):
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
        return _Result(job.synset, job.model, "error", f"{type(e).__name__}: {one_line(e)}")
    except Exception as e:
        if job.source == "synth":  # a bug: synthetic models never fail
            return _Result(job.synset, job.model, "error", f"{type(e).__name__}: {one_line(e)}")
        why = str(e) if isinstance(e, BadMeshError) else (
            f"cannot be built: {type(e).__name__}: {one_line(e)}")
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


def worker_context() -> Any:
    """The multiprocessing context of the builder's and the checker's worker pools: "spawn",
    fresh interpreters (they import :mod:`data.build` only, about 0.7 s).

    Forked workers inherit the parent's memory but not its threads: a builder called from a
    process that runs TensorFlow (the test suite, a notebook, a training script) had its forked
    workers hang for ever in a TensorFlow thread pool's destructor, which waits for a thread
    that was not forked."""
    return mp.get_context("spawn")


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
    with writing(layout.root):
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
            pool = worker_context().Pool(workers, initializer=_worker_init,
                                         initargs=(os.getpid(),))
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
# Command line
# --------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    """The command-line parser (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m data.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("synth", help="build the synthetic ShapeNet-like dataset")
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--per_class", type=int, default=None, help="override the size's model count")
    p.add_argument("--families", choices=FAMILY_SETS, default="shapenet",
                   help="shapenet: the 13 ShapeNet-like classes; extra: the six generic families "
                        "(superquadric, revolution, extrusion, csg, blob, assembly); all: both. "
                        "Extra families can be added to a root that holds the 13 classes")
    p.add_argument("--classes", nargs="*", default=None,
                   help="synset ids or extra family names (default: those of --families)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--root", type=Path, default=None, help="default: datasets/<size>")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--splits", nargs="*", choices=("train", "val", "test"), default=None,
                   help="build only the models of these splits (e.g. `--splits train` on a "
                        "training machine); the root's splits.json still lists the whole size")
    p.add_argument("--write_split", action="store_true",
                   help="also (re)write the repository split file data/splits*.json (for the "
                        "ShapeNet classes also the unseen-category protocol's "
                        "splits*_unseen1/2.json, for --families all its splits*_unseen1/2_all.json "
                        "that also train on the generic families)")
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
    m.add_argument("--add", action="store_true",
                   help="add the meshes to an existing data root (e.g. datasets/small, to mix "
                        "your meshes into the synthetic set): its manifest and split are kept "
                        "and the meshes' classes join them")
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


def _added_manifest(layout: DataLayout, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a root that meshes are added to (``meshes --add``): the root's own,
    with the input folder recorded under ``"added"``.

    Raises:
        BuildError: the root has no manifest, or renders with another camera model.
    """
    if not layout.manifest_path.exists():
        raise BuildError(f"--add: {layout.root} has no dataset.json; build it first (or drop "
                         "--add to make a new root)")
    old = io.read_json(layout.manifest_path)
    for key in ("n_views", "im_size", "K", "distance", "elevation_range_deg", "grid_range"):
        if json.loads(json.dumps(old.get(key))) != json.loads(json.dumps(manifest[key])):
            raise BuildError(f"--add: {layout.root} was built with {key}={old.get(key)!r}, "
                             f"this builder renders with {manifest[key]!r}")
    added = [a for a in old.get("added", []) if a != manifest["input"]]
    return {**old, "added": [*added, manifest["input"]]}


def _run(args: argparse.Namespace) -> int:
    """Run a parsed command; errors are raised for :func:`main` to report in one line."""
    t0 = time.time()
    if args.cmd == "synth":
        n = args.per_class or SIZES[args.size]
        root = args.root or DATASETS_DIR / args.size
        classes = args.classes or family_classes(args.families)
        known = family_classes("all")
        for c in classes:
            if c not in known:
                raise BuildError(f"--classes: unknown class {c!r}; known: {', '.join(known)}")
        jobs = synthetic_jobs(n, args.seed, classes)
        manifest = make_manifest("synthetic", size=args.size, per_class=n, seed=args.seed)
    else:
        root = args.root
        jobs = mesh_jobs(args.input, args.seed, args.up)
        manifest = make_manifest("meshes", input=str(args.input.resolve()), up=args.up,
                                 seed=args.seed)
    layout = DataLayout(root)
    with writing(root):
        root.mkdir(parents=True, exist_ok=True)
    with root_lock(root):
        if args.cmd == "meshes" and args.add:
            manifest = _added_manifest(layout, manifest)
        elif layout.manifest_path.exists():  # keep the record of meshes added earlier
            added = io.read_json(layout.manifest_path).get("added")
            manifest = {**manifest, **({"added": added} if added else {})}
        check_manifest(layout, manifest)
        save_json(layout.manifest_path, manifest)
        to_build = jobs
        if args.cmd == "synth":
            splits = make_splits(models_of(jobs), args.seed)
            if args.splits:
                wanted = {(s, m) for name in args.splits for s, ms in splits[name].items()
                          for m in ms}
                to_build = [j for j in jobs if (j.synset, j.model) in wanted]
                log.info("building the %d models of split(s) %s only", len(to_build),
                         ", ".join(args.splits))
        report = build(to_build, root, args.workers, progress=not args.quiet)

        skipped_path = root / SKIPPED_NAME
        if report.bad:
            save_json(skipped_path, [
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
            splits = make_splits(models_of(good), args.seed)
        root_splits = splits
        if (args.cmd == "synth" or args.add) and (root / "splits.json").exists():
            # classes built by an earlier command into this root keep their split
            old = io.read_splits(root / "splits.json")
            root_splits = {k: {**old.get(k, {}), **splits[k]} for k in splits}
        save_splits(root / "splits.json", root_splits)
        targets = [root / "splits.json"]
        if (args.cmd == "synth" and args.write_split and args.per_class is None
                and not args.classes):
            name = split_file_name(args.size, args.families)
            save_splits(SPLITS_DIR / name, splits)
            targets.append(SPLITS_DIR / name)
            protocols = UNSEEN_PROTOCOLS if args.families != "extra" else {}
            for proto, seen in protocols.items():
                path = SPLITS_DIR / protocol_file_name(args.size, proto, args.families)
                save_splits(path, protocol_splits(splits, seen) if args.families == "shapenet"
                            else wild_protocol_splits(splits, proto))
                targets.append(path)
        if args.cmd == "meshes" and args.split_file:
            save_splits(args.split_file, splits)
            targets.append(args.split_file)
    log.info("%s: %d built, %d already there, %.1f s; splits -> %s", root, report.built,
             report.skipped, time.time() - t0, ", ".join(map(str, targets)))
    if report.bad:
        log.warning("%s: built %d, skipped %d (see %s)", root, report.built + report.skipped,
                    len(report.bad), skipped_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
