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
    * deterministic: the same seed gives identical files (model ids, params, cameras, pixels);
    * parallel: models are built by a process pool, with a tqdm bar;
    * resumable: finished models are skipped; each model is written into a temporary dot-folder
      and renamed into place only when complete, and its voxel files are written (atomically)
      before that rename, so the loader never sees a half-written model.

Meshes are normalised the way ShapeNet models are: the bounding box is centred at the origin and
scaled so that its diagonal is 1 (so the object fits in [-0.5, 0.5]^3). Input meshes are taken
to be y-up (ShapeNet's convention) unless ``--up z``; the world frame is z-up:
``(x, y, z)_world = (x, -z, y)_shapenet``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import multiprocessing as mp
import os
import re
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    """Load a mesh file as one part with a colour (the mesh's own colour if it has one)."""
    try:
        mesh = trimesh.load(str(path), force="mesh", process=True)
    except Exception as e:
        raise io.DataError(f"cannot read mesh file {path}: {e}") from e
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise io.DataError(f"mesh file {path} holds no triangles")
    color = _palette_color(rng)
    if mesh.visual is not None and mesh.visual.kind in ("face", "vertex", "texture"):
        try:
            fc = np.asarray(mesh.visual.to_color().face_colors, dtype=float)[:, :3] / 255.0
            color = tuple(float(c) for c in np.median(fc, axis=0))
        except Exception:  # a texture trimesh cannot reduce to colours: keep the palette
            log.debug("no usable colour in %s", path)
    return [mesh], [color]


def build_model(job: Job, layout: DataLayout) -> str:
    """Build one model into ``layout`` (no-op if it is already complete).

    Returns:
        ``"built"`` or ``"skipped"``.
    """
    if layout.has_model(job.synset, job.model):
        return "skipped"
    rng = np.random.default_rng(job.seed)
    if job.source == "synth":
        from data import shapes

        parts, params = shapes.make_object(job.synset, rng)
        meshes = [p.mesh for p in parts]
        colors = [p.color for p in parts]
        info: dict[str, Any] = {"source": "synthetic", "params": params,
                                "parts": [p.name for p in parts]}
        up = "y"
    else:
        meshes, colors = _load_mesh_parts(Path(job.source), rng)
        info = {"source": str(job.source)}
        up = job.up
    meshes = normalise_to_world(meshes, up=up)

    # voxels first (each file atomic); the model only appears with the final rename below
    for nvox in VOXEL_SIZES:
        io.write_voxels(layout.voxel_path(job.synset, job.model, nvox), voxelize(meshes, nvox))

    final = layout.model_dir(job.synset, job.model)
    tmp = final.parent / f".tmp-{job.model}-{os.getpid()}"
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
        io.write_render(tmp_layout.render_path(i), rgba)
        io.write_depth(tmp_layout.depth_path(i), depth)
        io.write_camera(tmp_layout.camera_path(i), K, E, azimuth=az, elevation=el,
                        distance=cameras.DISTANCE)
    info["views"] = views.round(6).tolist()
    io.write_json(tmp / "params.json", info)
    os.replace(tmp, final)
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


def _run_job(args: tuple[Job, str]) -> tuple[str, str, str]:
    job, root = args
    try:
        return job.synset, job.model, build_model(job, DataLayout(Path(root)))
    except Exception as e:  # reported by the parent with the model named
        return job.synset, job.model, f"error: {type(e).__name__}: {e}"


def clean_partial(layout: DataLayout) -> int:
    """Remove temporary folders left by an interrupted build. Returns how many were removed."""
    n = 0
    if layout.renders_root.is_dir():
        for tmp in layout.renders_root.glob("*/.tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)
            n += 1
    return n


def build(jobs: Sequence[Job], root: Path, workers: int | None = None,
          progress: bool = True) -> dict[str, int]:
    """Build every job into ``root`` in parallel; finished models are skipped.

    Args:
        jobs: the models to build.
        root: data root.
        workers: processes (default: all cores).
        progress: show a tqdm bar.

    Returns:
        Counts ``{"built": n, "skipped": n}``.

    Raises:
        RuntimeError: if any model failed (all failures are listed; finished models are kept).
    """
    layout = DataLayout(Path(root))
    layout.root.mkdir(parents=True, exist_ok=True)
    removed = clean_partial(layout)
    if removed:
        log.info("removed %d partial model folders from an interrupted build", removed)
    todo = [j for j in jobs if not layout.has_model(j.synset, j.model)]
    counts = {"built": 0, "skipped": len(jobs) - len(todo)}
    errors: list[str] = []
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    bar = tqdm(total=len(todo), desc=f"building {layout.root}", unit="model",
               disable=not progress)
    tasks = [(j, str(layout.root)) for j in todo]
    if workers == 1:
        results: Iterable[tuple[str, str, str]] = map(_run_job, tasks)
        pool = None
    else:
        pool = mp.get_context("fork" if sys.platform != "win32" else "spawn").Pool(workers)
        results = pool.imap_unordered(_run_job, tasks, chunksize=1)
    try:
        for synset, model, status in results:
            if status.startswith("error"):
                errors.append(f"{synset}/{model}: {status}")
            else:
                counts[status] += 1
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    if errors:
        raise RuntimeError(f"{len(errors)} model(s) failed:\n" + "\n".join(errors[:20]))
    return counts


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
    if not layout.manifest_path.exists():
        return
    old = io.read_json(layout.manifest_path)
    for key in ("kind", "seed", "input"):
        if key in manifest and old.get(key) != manifest.get(key):
            raise SystemExit(
                f"error: {layout.root} was built with {key}={old.get(key)!r}, not "
                f"{manifest.get(key)!r}; choose another --root or delete it")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
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
    m = sub.add_parser("meshes", help="build from a folder of meshes (class = folder name)")
    m.add_argument("--input", type=Path, required=True)
    m.add_argument("--root", type=Path, required=True)
    m.add_argument("--up", choices=["y", "z"], default="y")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--workers", type=int, default=None)
    m.add_argument("--split_file", type=Path, default=None,
                   help="where to write the split (default: <root>/splits.json)")
    for q in (p, m):
        q.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

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
    _check_manifest(layout, manifest)
    root.mkdir(parents=True, exist_ok=True)
    io.write_json(layout.manifest_path, manifest)
    models: dict[str, list[str]] = {}
    for j in jobs:
        models.setdefault(j.synset, []).append(j.model)
    splits = make_splits(models, args.seed)
    if getattr(args, "splits", None):
        wanted = {(s, m) for name in args.splits for s, ms in splits[name].items() for m in ms}
        jobs = [j for j in jobs if (j.synset, j.model) in wanted]
        log.info("building the %d models of split(s) %s only", len(jobs), ", ".join(args.splits))
    counts = build(jobs, root, args.workers, progress=not args.quiet)

    io.write_splits(root / "splits.json", splits)
    targets = [root / "splits.json"]
    if args.cmd == "synth" and args.write_split and args.per_class is None and not args.classes:
        io.write_splits(SPLITS_DIR / split_file_name(args.size), splits)
        targets.append(SPLITS_DIR / split_file_name(args.size))
    if args.cmd == "meshes" and args.split_file:
        io.write_splits(args.split_file, splits)
        targets.append(args.split_file)
    log.info("%s: %d built, %d already there, %.1f s; splits -> %s", root, counts["built"],
             counts["skipped"], time.time() - t0, ", ".join(map(str, targets)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
