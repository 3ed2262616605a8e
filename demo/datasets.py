"""Finding data for the demos and reading a dataset model's views as the network sees them.

:func:`find_data` (the best local data root and its split file, building ``tiny`` if there is
none), :func:`sample_models` (test models from as many classes as possible) and
:func:`load_views` (a model's views at the network's image size, as the test loader feeds
them: the loaders' own :func:`data.examples.resize_views`). Numpy and PIL only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from data.examples import (
    eval_views,
    load_example,
    nearest_indices,
    resize_views,
    split_models,
)
from data.io import DataError
from data.layout import DataLayout, class_name, split_path

if TYPE_CHECKING:
    from training.config import Args

#: The repository root (data roots, split files and run folders are relative to it).
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Data roots tried by :func:`find_data`, best first, with the split file of each.
DATA_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("datasets/full", "splits"),
    ("datasets/small", "splits_small"),
    ("datasets/tiny", "splits_tiny"),
)


def short_path(path: str | os.PathLike) -> str:
    """``path`` relative to the repository when it lies inside it (for printing)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(p)


def repo_path(path: str | os.PathLike) -> Path:
    """``path`` as given if it exists or is absolute, else relative to the repository."""
    p = Path(path).expanduser()
    return p if p.is_absolute() or p.exists() else REPO_ROOT / p



def _split_ok(root: Path, split_file: Path, split: str, nvox: int) -> bool:
    """Whether ``split`` of ``split_file`` is non-empty and all its models are under ``root``."""
    try:
        models = split_models(split_file, split)
    except DataError:
        return False
    layout = DataLayout(root)
    return bool(models) and all(layout.has_model(s, m) and layout.voxel_path(s, m, nvox).is_file()
                                for s, m in models)


def split_file_for(root: str | os.PathLike, split: str = "test", nvox: int = 32) -> Path:
    """The split file that matches a data root.

    Tried in order: the repository split of the root's size (``datasets/full`` or a root whose
    ``dataset.json`` says ``"size": "full"`` -> ``data/splits.json``; ``small`` ->
    ``data/splits_small.json``; ``tiny`` -> ``data/splits_tiny.json``), the root's own
    ``splits.json`` (written by ``python -m data.build``), then every repository split file.
    The first whose ``split`` is non-empty and lies entirely on disk wins.

    Args:
        root: a data root in the release layout.
        split: the split that must be present ("train", "val" or "test").
        nvox: voxel resolution whose files must exist.

    Returns:
        The split file's path.

    Raises:
        FileNotFoundError: no split file matches (the message lists those tried).
    """
    root = Path(root)
    sizes = {"full": "splits", "small": "splits_small", "tiny": "splits_tiny"}
    names = []
    manifest = DataLayout(root).manifest_path
    if manifest.is_file():
        try:
            size = json.loads(manifest.read_text()).get("size")
        except (OSError, ValueError):
            size = None
        if size in sizes:
            names.append(sizes[size])
    if root.name in sizes:
        names.append(sizes[root.name])
    cands = [split_path(n) for n in names] + [root / "splits.json"]
    cands += [split_path(n) for n in sizes.values()]
    tried = []
    for c in dict.fromkeys(cands):
        if c.is_file() and _split_ok(root, c, split, nvox):
            return c
        tried.append(str(c))
    raise FileNotFoundError(f"no split file whose '{split}' split lies under {root} "
                            f"(tried {', '.join(tried)})")


def find_data(data_root: str | os.PathLike | None = None, build: bool = True,
              split: str = "test") -> tuple[Path, Path]:
    """The data root to use and its split file.

    Args:
        data_root: a data root, or None for the best local one: ``datasets/full``, else
            ``datasets/small``, else ``datasets/tiny`` (relative to the repository).
        build: if no local data root is complete, build ``datasets/tiny`` with
            ``python -m data.build synth --size tiny`` (about 30 s on 2 cores; no download).
        split: the split the demo reads.

    Returns:
        ``(root, split_file)``.

    Raises:
        FileNotFoundError: ``data_root`` does not exist or has no matching split file, or no
            data exists and ``build`` is False.
        subprocess.CalledProcessError: building ``tiny`` failed.
    """
    if data_root is not None:
        root = repo_path(data_root)
        if not root.is_dir():
            raise FileNotFoundError(f"data root {root} does not exist")
        return root, split_file_for(root, split)
    for rel, _ in DATA_CANDIDATES:
        root = REPO_ROOT / rel
        if root.is_dir():
            try:
                return root, split_file_for(root, split)
            except FileNotFoundError:
                continue
    if not build:
        raise FileNotFoundError("no data under datasets/; build some with "
                                "`python -m data.build synth --size tiny`")
    print("no data found: building datasets/tiny (python -m data.build synth --size tiny)")
    subprocess.run([sys.executable, "-m", "data.build", "synth", "--size", "tiny", "--quiet"],
                   cwd=REPO_ROOT, check=True)
    root = REPO_ROOT / "datasets" / "tiny"
    return root, split_file_for(root, split)


def sample_models(split_file: str | os.PathLike, n: int, split: str = "test"
                  ) -> list[tuple[str, str]]:
    """``n`` models of a split from as many different classes as possible.

    Classes are spread evenly over the split's sorted synsets (for 3 of the 13 ShapeNet classes:
    airplane, lamp, vessel), the first model of each class in file order; beyond one per class
    the next models of each class follow.

    Returns:
        ``[(synset, model_id), ...]`` of length ``min(n, models in the split)``.
    """
    per: dict[str, list[str]] = {}
    for s, m in split_models(split_file, split):
        per.setdefault(s, []).append(m)
    synsets = sorted(per)
    if n <= len(synsets):
        idx = np.unique(np.round(np.linspace(0, len(synsets) - 1, max(n, 1))).astype(int))[:n]
        return [(synsets[i], per[synsets[i]][0]) for i in idx]
    out: list[tuple[str, str]] = []
    k = 0
    while len(out) < n and any(k < len(v) for v in per.values()):
        out += [(s, per[s][k]) for s in synsets if k < len(per[s])]
        k += 1
    return out[:n]




def resize_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of depth maps (no mixing of object and background depth).

    The loaders' rule (:func:`data.examples.resize_views`): output pixel ``i`` reads source
    pixel ``floor((i + 0.5) * H0 / H)`` (in float32, as ``tf.image.resize(method="nearest")``).

    Args:
        depth: (V, H0, W0) or (V, H0, W0, 1), scene units.
        size: (h, w) pixels.

    Returns:
        (V, h, w) float32, scene units.
    """
    d = np.asarray(depth, np.float32)
    if d.ndim == 3:
        d = d[..., None]
    if d.shape[1:3] != tuple(size):
        rows = nearest_indices(d.shape[1], int(size[0]))
        d = d[:, rows][:, :, nearest_indices(d.shape[2], int(size[1]))]
    return d[..., 0]


def load_views(root: str | os.PathLike, synset: str, model: str, args: Args,
               n_views: int = 4, views: Sequence[int] | None = None) -> dict[str, Any]:
    """One dataset model's views at the network's image size (what the test script feeds).

    Args:
        root: data root.
        synset: synset id.
        model: model id.
        args: the network's arguments (``im_h``, ``im_w``, ``nvox``, ``num_renders``,
            ``eval_seed``).
        n_views: number of views V; the test script's fixed choice of views
            (:func:`data.examples.eval_views`) unless ``views`` is given.
        views: explicit render indices.

    Returns:
        ``images`` (V, h, w, 3) RGB in [0, 1]; ``K`` (V, 3, 3) pixels of the h x w images;
        ``extrinsic`` (V, 3, 4) world -> camera; ``voxels`` (N, N, N) {0, 1} float32 world
        [x, y, z]; ``depth`` (V, h, w) camera z in scene units (background 10); ``view_ids``
        (V,); ``synset``, ``model_id``, ``name`` (class name) as str; ``full_images``
        (V, 224, 224, 3) the renders at full size.
    """
    if views is None:
        views = eval_views(synset, model, n_views, args.num_renders, args.eval_seed)
    ex = load_example(DataLayout(Path(root)), synset, model, views, args.nvox)
    size = (args.im_h, args.im_w)
    images, K, _ = resize_views(ex["images"], ex["K"], size)
    return {"images": images, "K": K, "extrinsic": ex["extrinsic"],
            "voxels": ex["voxels"][..., 0], "depth": resize_depth(ex["depth"], size),
            "view_ids": ex["view_ids"], "synset": synset, "model_id": model,
            "name": class_name(synset), "full_images": ex["images"]}
