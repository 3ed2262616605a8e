"""Shared fixtures: a small data root in the release layout, written with :mod:`data.io`.

Each fake model is an axis-aligned box (random half extents in [0.15, 0.45], centred at the
origin) seen by 20 look-at cameras at distance 2 (z-up world, OpenCV camera axes, the
conventions of :mod:`geometry`) with ``K = [[420, 0, 112], [0, 420, 112], [0, 0, 1]]``.
Renders are random colours whose alpha is the box's exact silhouette (ray-box intersection
through integer pixel coordinates, the unprojection's convention), depth maps the camera z of
the hit (background 10), voxels the cells whose centre lies in the box at 32^3 and 64^3. The
geometry is therefore consistent across renders, depth, cameras and voxels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from data.io import write_camera, write_depth, write_render, write_splits, write_voxels
from data.layout import DataLayout
from geometry.camera import look_at

#: Release intrinsics of a 224 px render.
FAKE_K = np.array([[420.0, 0.0, 112.0], [0.0, 420.0, 112.0], [0.0, 0.0, 1.0]])
FAKE_SYNSETS = ("02691156", "03001627")
FAKE_VIEWS = 20
FAKE_SIZE = 224


@dataclass
class FakeRoot:
    """A fake data root.

    Attributes:
        root: the data root folder.
        split_file: its split JSON file.
        splits: ``{split: [(synset, model), ...]}`` in loader order (synsets sorted).
        boxes: ``{(synset, model): (3,) half extents}`` of each model's box (scene units).
    """

    root: Path
    split_file: Path
    splits: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    boxes: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    @property
    def layout(self) -> DataLayout:
        """The root's :class:`DataLayout`."""
        return DataLayout(self.root)


def render_box(half: np.ndarray, K: np.ndarray, E: np.ndarray,
               size: int = FAKE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Silhouette and depth of a centred box.

    Returns:
        mask (size, size) bool; depth (size, size) float64 camera z (inf off the box).
    """
    R, t = E[:3, :3], E[:3, 3]
    v, u = np.mgrid[0:size, 0:size].reshape(2, -1).astype(np.float64)
    d_cam = np.linalg.inv(K) @ np.stack([u, v, np.ones_like(u)])  # (3, P), z = 1
    d_world = R.T @ d_cam
    d_world = np.where(np.abs(d_world) < 1e-12, 1e-12, d_world)
    origin = (-R.T @ t)[:, None]
    t0 = (-half[:, None] - origin) / d_world
    t1 = (half[:, None] - origin) / d_world
    lo, hi = np.minimum(t0, t1), np.maximum(t0, t1)
    tmin = np.maximum(np.maximum(lo[0], lo[1]), lo[2])
    tmax = np.minimum(np.minimum(hi[0], hi[1]), hi[2])
    hit = (tmax >= tmin) & (tmax > 0)
    depth = np.where(hit, tmin, np.inf)  # along a z = 1 direction, t is the camera depth
    return hit.reshape(size, size), depth.reshape(size, size)


def box_voxels(half: np.ndarray, nvox: int) -> np.ndarray:
    """(N, N, N) uint8 occupancy [x, y, z] of the cells whose centre lies in the box."""
    c = -0.5 + (np.arange(nvox) + 0.5) / nvox
    inside = [np.abs(c) <= h for h in half]
    return (inside[0][:, None, None] & inside[1][None, :, None]
            & inside[2][None, None, :]).astype(np.uint8)


def write_fake_root(root: Path, models_per_synset: int = 5, seed: int = 0,
                    synsets: tuple[str, ...] = FAKE_SYNSETS) -> FakeRoot:
    """Write a fake data root and its split file (``root / "splits.json"``).

    Per synset, the first model is "val", the second "test" and the rest "train" (so
    ``models_per_synset`` >= 3).
    """
    rng = np.random.default_rng(seed)
    layout = DataLayout(root)
    fake = FakeRoot(root=root, split_file=root / "splits.json")
    splits: dict[str, dict[str, list[str]]] = {"train": {}, "val": {}, "test": {}}
    for synset in synsets:
        for name in splits:
            splits[name][synset] = []
        for i in range(models_per_synset):
            model = f"{synset[-4:]}m{i:03d}{rng.integers(1 << 30):08x}"
            half = rng.uniform(0.15, 0.45, size=3)
            fake.boxes[(synset, model)] = half
            colour = rng.uniform(0, 255, size=3)
            for view in range(FAKE_VIEWS):
                E = look_at(rng.uniform(0, 360), rng.uniform(0, 30))
                mask, depth = render_box(half, FAKE_K, E)
                # Blocky noise (8 px blocks) keeps the PNGs small and quick to write.
                noise = rng.normal(0, 40, (FAKE_SIZE // 8, FAKE_SIZE // 8, 3))
                noise = np.repeat(np.repeat(noise, 8, axis=0), 8, axis=1)
                rgb = np.clip(colour + noise, 0, 255)
                rgba = np.concatenate([rgb, 255.0 * mask[..., None]], -1).astype(np.uint8)
                write_render(layout.render_path(synset, model, view), rgba)
                write_depth(layout.depth_path(synset, model, view), depth)
                write_camera(layout.camera_path(synset, model, view), FAKE_K, E)
            for nvox in (32, 64):
                write_voxels(layout.voxel_path(synset, model, nvox), box_voxels(half, nvox))
            name = "val" if i == 0 else "test" if i == 1 else "train"
            splits[name][synset].append(model)
    write_splits(fake.split_file, splits)
    fake.splits = {name: [(s, m) for s in sorted(per) for m in per[s]]
                   for name, per in splits.items()}
    return fake


@pytest.fixture(scope="session")
def fake_data_root(tmp_path_factory: pytest.TempPathFactory) -> FakeRoot:
    """A session-wide fake data root: 2 synsets x 5 models (3 train, 1 val, 1 test each)."""
    return write_fake_root(tmp_path_factory.mktemp("fake_root") / "data")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under the JAX backend, ``slow_on_jax`` tests are ``slow`` (before ``-m`` selects)."""
    import keras

    if keras.backend.backend() == "jax":
        for item in items:
            if item.get_closest_marker("slow_on_jax"):
                item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    """The real `tiny` synthetic dataset (3 models per class), built once per session."""
    from data import build

    root = tmp_path_factory.mktemp("tiny")
    assert build.main(["synth", "--size", "tiny", "--root", str(root), "--quiet"]) == 0
    return root


@pytest.fixture(scope="session")
def tiny_vlsm_run(tiny_root, tmp_path_factory):
    """A finished tiny V-LSM run on `tiny` (``TINY`` of tests/training/test_loop.py, 4
    iterations) with checkpoints mvnet-2 and mvnet-4, trained once per session: copy it
    before changing it."""
    from tests.training.test_loop import tiny_args
    from training.loop import train
    from training.tasks import VLSM_TASK

    res = train(tiny_args(tiny_root, tmp_path_factory.mktemp("tiny_run"), niters=4,
                          ckpt_iters=2), VLSM_TASK, progress=False)
    return res.run_dir
