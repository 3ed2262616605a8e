"""Validate a data root in the release layout and print a per-class summary.

Usage::

    python -m data.check --root datasets/small [--split data/splits_small.json] [--max_models 50]

For every model it checks that all ``N_VIEWS`` renders, depth maps and cameras exist and decode
with the right shapes, that both voxel grids exist with the right resolution, that the depth map
is finite exactly where the render's alpha is set, and that cameras and voxels agree: the
occupied voxel centres (32^3) projected through each camera land inside the alpha mask.
Alpha is sampled at pixel centres, so a centre just inside the object's edge can project into a
pixel whose centre misses the object: a model fails when fewer than ``MIN_AGREEMENT`` of its
projected centres (over all views) lie within one pixel of the silhouette; the exact in-mask
fraction is reported beside it. Models built from meshes may voxelise parts thinner than a cell
as the cells their surface passes through (:mod:`data.voxelize`), whose centres can lie half a
cell off the object: for them (``params.json`` without ``"source": "synthetic"``) a model fails
when fewer than ``MIN_AGREEMENT`` of the occupied cells' cubes touch the silhouettes.
Conversely the occupied cells, projected as cubes, must cover at
least ``MIN_COVERAGE`` of the silhouette pixels (over all views): voxels that miss part of the
object (a spotty shell, a lost part) fail.
Exit status 1 if any model fails.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage
from tabulate import tabulate
from tqdm import tqdm

from data import io
from data.build import worker_context
from data.layout import IM_SIZE, N_VIEWS, VOXEL_SIZES, DataLayout, class_name
from geometry.depth import foreground
from geometry.grid import GRID_RANGE, cell_centres

log = logging.getLogger(__name__)

#: Minimum fraction of occupied voxel centres that must project within one pixel of the
#: silhouette (pixel quantisation), over all views of a model.
MIN_AGREEMENT = 0.999
#: Minimum fraction of silhouette pixels that the projected voxel cubes must cover, over all
#: views of a model (voxels missing where the object is: a spotty shell, a part lost). Correct
#: voxels of thin parts (about a cell thick) cover 88-100% of their silhouettes: the centre
#: rule drops cells that the object only partly fills.
MIN_COVERAGE = 0.85


def project_points(points: np.ndarray, K: np.ndarray, extrinsic: np.ndarray) -> np.ndarray:
    """Pinhole projection (numpy).

    Args:
        points: (P, 3) world coordinates, scene units.
        K: (3, 3) intrinsics, pixels.
        extrinsic: (3, 4) or (4, 4) world -> camera.

    Returns:
        (P, 3): image x (column) and y (row) in pixels, and camera-frame depth z.
    """
    E = np.asarray(extrinsic, dtype=np.float64)[:3]
    cam = points @ E[:, :3].T + E[:, 3]
    uvw = cam @ np.asarray(K, dtype=np.float64).T
    return np.stack([uvw[:, 0] / uvw[:, 2], uvw[:, 1] / uvw[:, 2], cam[:, 2]], axis=1)


def occupied_centres(grid: np.ndarray, grid_range: tuple[float, float] = GRID_RANGE) -> np.ndarray:
    """World coordinates of occupied cell centres: grid (N, N, N) [x, y, z] -> (P, 3)."""
    c = cell_centres(grid.shape[0], grid_range)
    idx = np.argwhere(grid > 0)
    return c[idx]


def _pixels(pts: np.ndarray, K: np.ndarray, extrinsic: np.ndarray, shape: tuple[int, int]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel rows, columns and an in-image flag of points (P, 3)."""
    uvz = project_points(pts, K, extrinsic)
    u = np.floor(uvz[:, 0]).astype(np.int64)
    v = np.floor(uvz[:, 1]).astype(np.int64)
    ok = (u >= 0) & (u < shape[1]) & (v >= 0) & (v < shape[0]) & (uvz[:, 2] > 0)
    return v, u, ok


def silhouette_agreement(grid: np.ndarray, K: np.ndarray, extrinsic: np.ndarray,
                         alpha: np.ndarray, tolerance_px: int = 0) -> float:
    """Fraction of occupied voxel centres that project inside a view's alpha mask.

    Pixel ``i`` covers image coordinates ``[i, i + 1)`` (see :mod:`data.render`).

    Args:
        grid: (N, N, N) occupancy, world [x, y, z].
        K: (3, 3) intrinsics, pixels.
        extrinsic: (3, 4) or (4, 4) world -> camera.
        alpha: (H, W) mask (non-zero = object).
        tolerance_px: count a centre as inside when its pixel is within this many pixels
            (chessboard distance) of the mask.

    Returns:
        Fraction in [0, 1] (1.0 for an empty grid).
    """
    if tolerance_px > 0:
        alpha = ndimage.binary_dilation(alpha > 0, np.ones((2 * tolerance_px + 1,) * 2, bool))
    pts = occupied_centres(grid)
    if len(pts) == 0:
        return 1.0
    v, u, ok = _pixels(pts, K, extrinsic, alpha.shape)
    inside = np.zeros(len(pts), dtype=bool)
    inside[ok] = alpha[v[ok], u[ok]] > 0
    return float(inside.mean())


def _cube_samples(grid: np.ndarray, samples: int) -> np.ndarray:
    """(P, samples^3, 3) lattice points spanning each occupied cell's cube (world units)."""
    cell = (GRID_RANGE[1] - GRID_RANGE[0]) / grid.shape[0]
    t = (np.linspace(0.0, 1.0, samples) - 0.5) * cell
    offs = np.stack(np.meshgrid(t, t, t, indexing="ij"), axis=-1).reshape(-1, 3)
    return occupied_centres(grid)[:, None, :] + offs[None]


def cube_agreement(grid: np.ndarray, K: np.ndarray, extrinsic: np.ndarray, alpha: np.ndarray,
                   samples: int = 5) -> float:
    """Fraction of occupied cells whose cube (a ``samples``^3 lattice) touches a view's mask.

    The looser sibling of :func:`silhouette_agreement` for voxels of meshes, whose parts
    thinner than a cell are voxelised as the cells the surface passes through (their centres
    may lie up to half a cell off the object): a cell off the object by a cell or more fails.

    Returns:
        Fraction in [0, 1] (1.0 for an empty grid).
    """
    if not grid.any():
        return 1.0
    pts = _cube_samples(grid, samples)
    p, s = pts.shape[:2]
    v, u, ok = _pixels(pts.reshape(-1, 3), K, extrinsic, alpha.shape)
    hit = np.zeros(p * s, dtype=bool)
    hit[ok] = alpha[v[ok], u[ok]] > 0
    return float(hit.reshape(p, s).any(axis=1).mean())


def silhouette_coverage(grid: np.ndarray, K: np.ndarray, extrinsic: np.ndarray,
                        alpha: np.ndarray, samples: int = 5) -> float:
    """Fraction of a view's silhouette pixels covered by the projected occupied voxel cubes.

    Each occupied cell is sampled on a ``samples``^3 lattice spanning the cube (corners
    included); the projected samples, dilated by one pixel, are its footprint.

    Args:
        grid: (N, N, N) occupancy, world [x, y, z].
        K: (3, 3) intrinsics, pixels.
        extrinsic: (3, 4) or (4, 4) world -> camera.
        alpha: (H, W) mask (non-zero = object).
        samples: lattice points per cube edge.

    Returns:
        Fraction in [0, 1] (1.0 for an empty silhouette).
    """
    mask = alpha > 0
    if not mask.any():
        return 1.0
    foot = np.zeros(mask.shape, dtype=bool)
    if grid.any():
        v, u, ok = _pixels(_cube_samples(grid, samples).reshape(-1, 3), K, extrinsic,
                           mask.shape)
        foot[v[ok], u[ok]] = True
        foot = ndimage.binary_dilation(foot, np.ones((3, 3), bool))
    return float((foot & mask).sum() / mask.sum())


@dataclass
class ModelReport:
    """What :func:`check_model` found for one model."""

    synset: str
    model: str
    errors: list[str] = field(default_factory=list)
    occupancy32: float = float("nan")
    silhouette: float = float("nan")
    agreement: float = float("nan")
    agreement_1px: float = float("nan")
    coverage: float = float("nan")
    cube_agreement: float = float("nan")


def check_model(layout: DataLayout, synset: str, model: str,
                views: int | None = None) -> ModelReport:
    """Check one model (see the module docstring). ``views`` limits the views checked."""
    rep = ModelReport(synset, model)
    grids = {}
    for nvox in VOXEL_SIZES:
        try:
            grids[nvox] = io.read_voxels(layout.voxel_path(synset, model, nvox), nvox)
        except io.DataError as e:
            rep.errors.append(str(e))
    if not layout.has_model(synset, model):
        rep.errors.append(f"missing model folder {layout.model_dir(synset, model)}")
        return rep
    agree, agree1, sil, cover, cubes = [], [], [], [], []
    for i in range(views or N_VIEWS):
        try:
            rgba = io.read_render_rgba(layout.render_path(synset, model, i))
            depth = io.read_depth(layout.depth_path(synset, model, i))
            K, E = io.read_camera(layout.camera_path(synset, model, i))
        except io.DataError as e:
            rep.errors.append(str(e))
            continue
        if rgba.shape != (IM_SIZE, IM_SIZE, 4) or depth.shape != (IM_SIZE, IM_SIZE):
            rep.errors.append(f"view {i}: render {rgba.shape} / depth {depth.shape}, expected "
                              f"{IM_SIZE}x{IM_SIZE}: {layout.render_path(synset, model, i)}")
            continue
        alpha = rgba[..., 3] > 127
        fg = foreground(depth)
        mismatch = float(np.mean(alpha != fg))
        if mismatch > 0.001:
            rep.errors.append(f"view {i}: depth foreground and alpha differ on {mismatch:.2%} "
                              f"of pixels: {layout.depth_path(synset, model, i)}")
        sil.append(alpha.mean())
        if 32 in grids:
            agree.append(silhouette_agreement(grids[32], K, E, alpha))
            agree1.append(silhouette_agreement(grids[32], K, E, alpha, tolerance_px=1))
            cover.append(silhouette_coverage(grids[32], K, E, alpha))
            cubes.append(cube_agreement(grids[32], K, E, alpha))
    if 32 in grids:
        rep.occupancy32 = float(grids[32].mean())
        if grids[32].sum() == 0:
            rep.errors.append(f"empty voxel grid: {layout.voxel_path(synset, model, 32)}")
    if agree:
        rep.agreement = float(np.mean(agree))
        rep.agreement_1px = float(np.mean(agree1))
        rep.cube_agreement = float(np.mean(cubes))
        if rep.agreement_1px < MIN_AGREEMENT and _is_synthetic(layout, synset, model):
            rep.errors.append(f"cameras and voxels disagree: only {rep.agreement_1px:.1%} of "
                              f"occupied voxel centres project within a pixel of the silhouettes "
                              f"({rep.agreement:.1%} inside)")
        elif rep.cube_agreement < MIN_AGREEMENT:
            rep.errors.append(f"cameras and voxels disagree: only {rep.cube_agreement:.1%} of "
                              f"occupied voxel cubes touch the silhouettes "
                              f"({rep.agreement:.1%} of their centres inside)")
        rep.coverage = float(np.mean(cover))
        if rep.coverage < MIN_COVERAGE:
            rep.errors.append(f"voxels miss part of the object: the projected voxels cover "
                              f"only {rep.coverage:.1%} of the silhouette pixels")
    if sil:
        rep.silhouette = float(np.mean(sil))
    return rep


def _is_synthetic(layout: DataLayout, synset: str, model: str) -> bool:
    """Whether a model was built by the synthetic builder (its ``params.json`` says so)."""
    try:
        return io.read_json(layout.params_path(synset, model)).get("source") == "synthetic"
    except (io.DataError, OSError, AttributeError):
        return False


def _check(args: tuple[str, str, str, int | None]) -> ModelReport:
    root, synset, model, views = args
    return check_model(DataLayout(Path(root)), synset, model, views)


def check_root(root: Path, split_file: Path | None = None, max_models: int | None = None,
               views: int | None = None, workers: int | None = None,
               progress: bool = True) -> tuple[list[ModelReport], str]:
    """Check a data root; returns the per-model reports and a printable per-class table.

    Args:
        root: data root.
        split_file: if given, every model it names must be on disk (and only those are checked).
        max_models: check at most this many models per class (evenly spread).
        views: check only the first ``views`` views of each model.
        workers: processes.
        progress: show a tqdm bar.
    """
    layout = DataLayout(root)
    if not layout.renders_root.is_dir():
        raise io.DataError(f"no renders/ folder under data root {root}")
    split_of: dict[tuple[str, str], str] = {}
    if split_file is not None:
        splits = io.read_splits(split_file)
        pairs = []
        for name, per_class in splits.items():
            for synset, ids in per_class.items():
                for m in ids:
                    split_of[(synset, m)] = name
                    pairs.append((synset, m))
    else:
        pairs = list(layout.iter_models())
    by_class: dict[str, list[str]] = defaultdict(list)
    for s, m in pairs:
        by_class[s].append(m)
    todo = []
    for s, ids in sorted(by_class.items()):
        if max_models and len(ids) > max_models:
            ids = [ids[i] for i in np.linspace(0, len(ids) - 1, max_models).round().astype(int)]
        todo += [(str(root), s, m, views) for m in ids]
    with worker_context().Pool(workers) as pool:
        reports = list(tqdm(pool.imap(_check, todo, chunksize=4), total=len(todo),
                            desc=f"checking {root}", unit="model", disable=not progress))
    rows = []
    per: dict[str, list[ModelReport]] = defaultdict(list)
    for r in reports:
        per[r.synset].append(r)
    for s in sorted(by_class):
        rs = per.get(s, [])
        counts = defaultdict(int)
        for m in by_class[s]:
            counts[split_of.get((s, m), "-")] += 1
        rows.append([s, class_name(s), len(by_class[s]), counts["train"], counts["val"],
                     counts["test"], len(rs),
                     100 * np.nanmean([r.occupancy32 for r in rs]) if rs else float("nan"),
                     100 * np.nanmean([r.silhouette for r in rs]) if rs else float("nan"),
                     100 * np.nanmean([r.agreement for r in rs]) if rs else float("nan"),
                     100 * np.nanmin([r.agreement_1px for r in rs]) if rs else float("nan"),
                     100 * np.nanmin([r.coverage for r in rs]) if rs else float("nan"),
                     sum(bool(r.errors) for r in rs)])
    table = tabulate(rows, headers=["synset", "class", "models", "train", "val", "test", "checked",
                                    "occ32 %", "silhouette %", "in mask %",
                                    "min within 1px %", "min covered %", "bad"],
                     floatfmt=".1f")
    return reports, table


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(prog="python -m data.check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, required=True, help="data root")
    p.add_argument("--split", type=Path, default=None, help="split JSON to check against")
    p.add_argument("--max_models", type=int, default=None, help="per class")
    p.add_argument("--views", type=int, default=None, help="views per model to check")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        reports, table = check_root(a.root, a.split, a.max_models, a.views, a.workers,
                                    progress=not a.quiet)
    except io.DataError as e:
        log.error("%s", e)
        return 1
    print(table)
    bad = [r for r in reports if r.errors]
    for r in bad[:50]:
        for e in r.errors[:5]:
            log.error("%s/%s: %s", r.synset, r.model, e)
    print(f"{len(reports)} models checked, {len(bad)} with problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
