"""Helpers of the demo notebooks ``demo_vlsm.ipynb`` and ``demo_dlsm.ipynb``.

Everything the notebooks do in more than a line lives here, so the notebooks stay short:

* data: :func:`find_data` (the best local data root and its split file, building ``tiny`` if
  there is none), :func:`sample_models`, :func:`load_views` (a model's views at the network's
  image size, as the test loader feeds them);
* models: :func:`load_lsm` (a run folder such as ``pretrained/vlsm_cpu``, latest checkpoint by
  default), :func:`predict`;
* metrics: :func:`voxel_iou_by_views`, :func:`depth_error_by_views`, :func:`format_table`;
* pictures: matplotlib figures (:func:`plot_views`, :func:`plot_voxel_progress`,
  :func:`plot_depth_progress`, :func:`plot_point_cloud`) and interactive plotly figures
  (:func:`occupancy_figure`, :func:`point_cloud_figure`; None when plotly is missing);
* your own views: :func:`predict_own_views` (image files of any size, ``K`` in pixels of each
  file, world -> camera extrinsics; the conventions of ``docs/camera.md``) and
  :func:`export_views`, which writes a dataset model's views as such files.

Units: scene units everywhere (objects inside ``[-0.5, 0.5]^3``, cameras about 2 units from
the origin, depth = camera-frame z, background depth 10); ``K`` in pixels; images RGB floats in
``[0, 1]``; occupancy grids indexed ``[x, y, z]`` in world axes (z up).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import expit

from data.layout import BACKGROUND_DEPTH, DataLayout, class_name, split_path

if TYPE_CHECKING:
    import keras
    from matplotlib.figure import Figure

    from training.config import Args

#: The repository root (data roots, split files and run folders are relative to it).
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Data roots tried by :func:`find_data`, best first, with the split file of each.
DATA_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("datasets/full", "splits"),
    ("datasets/small", "splits_small"),
    ("datasets/tiny", "splits_tiny"),
)
#: Occupancy threshold of the paper's IoU (probability).
IOU_THRESH = 0.4
#: Depth colour range (scene units): the object lies 2 +- sqrt(3)/2 from the camera.
DEPTH_RANGE = (1.3, 2.7)
#: Largest shown depth error (scene units) in error maps.
ERROR_MAX = 0.3
#: Predicted depth beyond this (scene units; the end of the D-LSM's ray range) is background.
FAR = 3.0


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up notices (oneDNN, absl) on fd 2 discarded.

    In a notebook they would show as two red stderr boxes; Python-level errors still raise.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


_import_tensorflow_quietly()


def short_path(path: str | os.PathLike) -> str:
    """``path`` relative to the repository when it lies inside it (for printing)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(p)


def _repo_path(path: str | os.PathLike) -> Path:
    """``path`` as given if it exists or is absolute, else relative to the repository."""
    p = Path(path).expanduser()
    return p if p.is_absolute() or p.exists() else REPO_ROOT / p


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def _split_ok(root: Path, split_file: Path, split: str, nvox: int) -> bool:
    """Whether ``split`` of ``split_file`` is non-empty and all its models are under ``root``."""
    from data.io import DataError
    from data.loader import split_models

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
        root = _repo_path(data_root)
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
    from data.loader import split_models

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


def resize_views(images: np.ndarray, K: np.ndarray, size: tuple[int, int]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Resize views to the network's image size and scale their intrinsics, as the loader does.

    Bilinear, antialiased resizing (``tf.image.resize``), clipped to ``[0, 1]``; ``K`` scaled
    by ``diag(w / W0, h / H0, 1)`` (:func:`ops.camera.scale_intrinsics`).

    Args:
        images: (V, H0, W0, 3) RGB in [0, 1].
        K: (V, 3, 3) intrinsics in pixels of the H0 x W0 images.
        size: (h, w) target size in pixels.

    Returns:
        images (V, h, w, 3) float32 in [0, 1]; K (V, 3, 3) float32 in pixels of h x w.
    """
    import keras
    import tensorflow as tf

    from ops.camera import scale_intrinsics

    images = np.asarray(images, np.float32)
    src = images.shape[1:3]
    if tuple(src) == tuple(size):
        return images, np.asarray(K, np.float32)
    out = tf.clip_by_value(tf.image.resize(images, size, antialias=True), 0.0, 1.0).numpy()
    k = keras.ops.convert_to_numpy(scale_intrinsics(np.asarray(K, np.float32), src, size))
    return out.astype(np.float32), np.asarray(k, np.float32)


def resize_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of depth maps (no mixing of object and background depth).

    Args:
        depth: (V, H0, W0) or (V, H0, W0, 1), scene units.
        size: (h, w) pixels.

    Returns:
        (V, h, w) float32, scene units.
    """
    import tensorflow as tf

    d = np.asarray(depth, np.float32)
    if d.ndim == 3:
        d = d[..., None]
    if d.shape[1:3] != tuple(size):
        d = tf.image.resize(d, size, method="nearest").numpy()
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
            (:func:`data.loader.eval_views`) unless ``views`` is given.
        views: explicit render indices.

    Returns:
        ``images`` (V, h, w, 3) RGB in [0, 1]; ``K`` (V, 3, 3) pixels of the h x w images;
        ``extrinsic`` (V, 3, 4) world -> camera; ``voxels`` (N, N, N) {0, 1} float32 world
        [x, y, z]; ``depth`` (V, h, w) camera z in scene units (background 10); ``view_ids``
        (V,); ``synset``, ``model_id``, ``name`` (class name) as str; ``full_images``
        (V, 224, 224, 3) the renders at full size.
    """
    from data.loader import eval_views, load_example

    if views is None:
        views = eval_views(synset, model, n_views, args.num_renders, args.eval_seed)
    ex = load_example(DataLayout(Path(root)), synset, model, views, args.nvox)
    size = (args.im_h, args.im_w)
    images, K = resize_views(ex["images"], ex["K"], size)
    return {"images": images, "K": K, "extrinsic": ex["extrinsic"],
            "voxels": ex["voxels"][..., 0], "depth": resize_depth(ex["depth"], size),
            "view_ids": ex["view_ids"], "synset": synset, "model_id": model,
            "name": class_name(synset), "full_images": ex["images"]}


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------
@dataclass
class LSM:
    """A trained network ready to predict.

    Attributes:
        kind: "vlsm" or "dlsm".
        args: the run's arguments (``args.json``).
        model: the Keras model.
        checkpoint: the restored checkpoint folder (``<run>/mvnet-<iteration>``).
    """

    kind: str
    args: Args
    model: keras.Model
    checkpoint: Path

    @property
    def image_size(self) -> tuple[int, int]:
        """(h, w) pixels of the images the network reads."""
        return int(self.args.im_h), int(self.args.im_w)

    def __repr__(self) -> str:
        a = self.args
        return (f"{self.kind.upper()} {self.checkpoint} ({a.im_h}x{a.im_w} px images, "
                f"{a.nvox}^3 grid, {self.model.count_params():,} parameters)")


def load_lsm(model_dir: str | os.PathLike, ckpt: str | None = None,
             kind: str | None = None) -> LSM:
    """Load a trained run folder (e.g. ``pretrained/vlsm_cpu``).

    Args:
        model_dir: a run folder holding ``args.json`` and ``mvnet-<iteration>`` checkpoints
            (relative paths are also looked up under the repository), or a release model
            folder (``models_lsm_v1/vlsm-release/train``: TF1 checkpoints, converted once into
            ``log/release/``, see :mod:`training.release`).
        ckpt: checkpoint name or iteration; None means the folder's latest checkpoint.
        kind: "vlsm" or "dlsm"; None reads it from the checkpoint's ``state.json``.

    Returns:
        The loaded :class:`LSM`.

    Raises:
        FileNotFoundError: no ``args.json`` in ``model_dir``.
        training.checkpoint.CheckpointError: no such checkpoint, or it does not fit the args.
    """
    from training.checkpoint import resolve_checkpoint
    from training.config import load_args
    from training.loop import load_trained
    from training.release import ensure_converted, is_release_folder
    from training.tasks import TASKS

    run_dir = _repo_path(model_dir)
    if is_release_folder(run_dir):  # the release's TF1 folder: convert once into log/release
        run_dir, ckpt = ensure_converted(run_dir, ckpt, kind, REPO_ROOT / "log")
    if not (run_dir / "args.json").is_file():
        raise FileNotFoundError(f"{run_dir} has no args.json (is it a training run folder?)")
    args = load_args(run_dir / "args.json")
    path = resolve_checkpoint(ckpt if ckpt is not None else run_dir, run_dir)
    if kind is None:
        state = json.loads((path / "state.json").read_text())
        kind = state.get("task") or str(state.get("model_class", "")).lower()
        if kind not in TASKS:
            kind = "vlsm" if args.loss == "ce" else "dlsm"
    model, path = load_trained(args, TASKS[kind], run_dir, path)
    return LSM(kind=kind, args=args, model=model, checkpoint=path)


def predict(lsm: LSM, images: np.ndarray, K: np.ndarray, extrinsic: np.ndarray) -> np.ndarray:
    """Run the network on one set of views.

    Args:
        lsm: the loaded network.
        images: (V, h, w, 3) RGB in [0, 1] at ``lsm.image_size``.
        K: (V, 3, 3) intrinsics in pixels of the h x w images.
        extrinsic: (V, 3, 4) world -> camera.

    Returns:
        V-LSM: (T, N, N, N) occupancy probabilities, T = V, entry t after views 0..t.
        D-LSM: (T, V, h, w) depth in scene units; entry [t, v] is view v's depth from the grid
        after views 0..t.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[1:3] != lsm.image_size:
        raise ValueError(f"images must be (V, {lsm.image_size[0]}, {lsm.image_size[1]}, 3) "
                         f"(see resize_views), got {images.shape}")
    inputs = {"images": images[None], "K": np.asarray(K, np.float32)[None],
              "extrinsic": np.asarray(extrinsic, np.float32)[None, :, :3, :]}
    from training.tasks import TASKS

    # D-LSM: the depth map of either depth head (ops.depth_head.depth_from_head)
    out = TASKS[lsm.kind].prediction(lsm.model(inputs, training=False))[0, ..., 0]
    if lsm.kind == "vlsm":
        return expit(out.astype(np.float64)).astype(np.float32)
    return out.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------
def voxel_iou_by_views(probs: np.ndarray, voxels: np.ndarray, thresh: float = IOU_THRESH
                       ) -> np.ndarray:
    """IoU of ``probs > thresh`` with the true occupancy, per number of views.

    Args:
        probs: (T, N, N, N) probabilities.
        voxels: (N, N, N) {0, 1}.
        thresh: occupancy threshold.

    Returns:
        (T,) IoU in [0, 1] (:func:`ops.metrics.voxel_iou`).
    """
    import keras

    from ops.metrics import voxel_iou

    iou = voxel_iou(np.asarray(probs, np.float32)[None, ..., None],
                    np.asarray(voxels, np.float32)[None, ..., None], (thresh,), per_example=True)
    return np.asarray(keras.ops.convert_to_numpy(iou))[0, :, 0]


def depth_error_by_views(depth: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Mean |depth error| over the true foreground pixels, per number of views.

    Args:
        depth: (T, V, h, w) predicted depth, scene units.
        gt: (V, h, w) true depth, scene units (background pixels hold 10).

    Returns:
        (T, 2) scene units: column 0 the mean over the views seen so far (views 0..t), column 1
        over all V views (unseen ones included); per-image means from
        :func:`ops.metrics.depth_error`, images without foreground skipped.
    """
    import keras

    from ops.metrics import depth_error
    from training import tasks

    per_image = depth_error(np.asarray(depth, np.float32)[None, ..., None],
                            np.asarray(gt, np.float32)[None, ..., None], BACKGROUND_DEPTH)
    return tasks.depth_error_by_views(keras.ops.convert_to_numpy(per_image))[0]


def depth_error_maps(depth: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """|predicted - true depth| on the true foreground, NaN on the background.

    Args:
        depth: (T, V, h, w) scene units.
        gt: (V, h, w) scene units (background 10).

    Returns:
        (T, V, h, w) scene units.
    """
    gt = np.asarray(gt, np.float32)[None]
    err = np.abs(np.asarray(depth, np.float32) - gt)
    return np.where(gt < BACKGROUND_DEPTH - 1e-3, err, np.nan)


def format_table(rows: Mapping[str, Sequence[float]], columns: Sequence[str],
                 fmt: str = "{:.1f}", mean: bool = True) -> str:
    """A plain-text table (markdown pipe syntax), optionally with a mean row.

    Args:
        rows: row label -> values (one per column).
        columns: column headers.
        fmt: format of the values.
        mean: append the column means (NaN skipped).

    Returns:
        The table as a string.
    """
    head = ["", *columns]
    body = [[label, *(fmt.format(v) for v in vals)] for label, vals in rows.items()]
    if mean and rows:
        arr = np.array([list(v) for v in rows.values()], np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            body.append(["mean", *(fmt.format(v) for v in np.nanmean(arr, axis=0))])
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, *(line(r) for r in body)])


# --------------------------------------------------------------------------------------------
# Geometry for pictures
# --------------------------------------------------------------------------------------------
def occupancy_mesh(probs: np.ndarray, thresh: float = IOU_THRESH
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Marching-cubes surface of an occupancy grid (:func:`training.export.grid_to_mesh`).

    Args:
        probs: (N, N, N) probabilities or {0, 1}, world [x, y, z] over [-0.5, 0.5]^3.
        thresh: iso-level.

    Returns:
        vertices (P, 3) float32 world coordinates (scene units); faces (F, 3) int32 (both empty
        when nothing crosses ``thresh``).
    """
    from training.export import grid_to_mesh

    mesh = grid_to_mesh(np.asarray(probs, np.float32), thresh)
    if len(mesh.faces) == 0:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    return np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces, np.int32)


def fused_points(depth: np.ndarray, images: np.ndarray, K: np.ndarray, extrinsic: np.ndarray,
                 far: float = FAR, margin: float = 1 / 32) -> tuple[np.ndarray, np.ndarray]:
    """One coloured world-space point cloud from the depth maps of several views.

    Pixels whose depth is at least ``far`` (the end of the D-LSM ray range; predicted
    background is close to 10) are background; points outside the grid cube grown by
    ``margin`` (silhouette pixels that blend object and background depth) are dropped.
    Back-projection by :func:`training.export.fuse_point_cloud`.

    Args:
        depth: (V, h, w) scene units.
        images: (V, h, w, 3) RGB in [0, 1].
        K: (V, 3, 3) pixels of the h x w images.
        extrinsic: (V, 3, 4) world -> camera.
        far: background depth cut, scene units.
        margin: kept distance outside [-0.5, 0.5]^3, scene units.

    Returns:
        points (P, 3) float32 world coordinates (scene units); colours (P, 3) float32 RGB in
        [0, 1].
    """
    from training.export import fuse_point_cloud

    d = np.where(np.asarray(depth) < far, depth, BACKGROUND_DEPTH).astype(np.float32)
    cloud = fuse_point_cloud(d, np.asarray(images), np.asarray(K), np.asarray(extrinsic)[:, :3],
                             margin=margin)
    pts = np.asarray(cloud.vertices, np.float32).reshape(-1, 3)
    cols = (np.asarray(cloud.colors, np.float32).reshape(-1, 4)[:, :3] / 255.0
            if len(pts) else np.zeros((0, 3), np.float32))
    return pts, cols


# --------------------------------------------------------------------------------------------
# Matplotlib figures (static; they also show in any notebook viewer)
# --------------------------------------------------------------------------------------------
def plot_views(images: np.ndarray, titles: Sequence[str] | None = None, size: float = 1.8,
               suptitle: str | None = None) -> Figure:
    """The input views side by side.

    Args:
        images: (V, H, W, 3) RGB in [0, 1].
        titles: one per view (default "view 1" ...).
        size: inches per view.
        suptitle: figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    v = len(images)
    fig, axes = plt.subplots(1, v, figsize=(size * v, size + (0.35 if suptitle else 0.1)),
                             squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(np.clip(images[i], 0, 1))
        ax.set_title(titles[i] if titles else f"view {i + 1}", fontsize=8)
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig


def _shaded(verts: np.ndarray, faces: np.ndarray, rgb: tuple[float, float, float]
            ) -> np.ndarray:
    """Per-face colours (F, 3) of a mesh lit by a fixed directional light."""
    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    light = np.array([0.4, -0.5, 0.77])
    shade = 0.35 + 0.65 * np.abs(n @ (light / np.linalg.norm(light)))
    return np.clip(np.asarray(rgb)[None] * shade[:, None], 0, 1)


def _mesh_axes(ax: Any, verts: np.ndarray, faces: np.ndarray, title: str,
               rgb: tuple[float, float, float]) -> None:
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    if len(faces):
        ax.add_collection3d(Poly3DCollection(verts[faces], facecolors=_shaded(verts, faces, rgb),
                                             linewidths=0))
    ax.set(xlim=(-0.5, 0.5), ylim=(-0.5, 0.5), zlim=(-0.5, 0.5))
    ax.set_box_aspect((1, 1, 1), zoom=1.5)
    ax.view_init(elev=25, azim=-50)
    ax.set_axis_off()
    ax.set_title(title, fontsize=8, y=0.98)


def plot_voxel_progress(probs: np.ndarray, voxels: np.ndarray | None = None,
                        thresh: float = IOU_THRESH, title: str | None = None,
                        size: float = 2.0) -> Figure:
    """Predicted occupancy after 1..T views (3D surfaces) beside the ground truth.

    Args:
        probs: (T, N, N, N) probabilities, world [x, y, z].
        voxels: (N, N, N) true occupancy, or None (own views: no ground truth).
        thresh: iso-level of the surfaces (and the IoU threshold in the titles).
        title: figure title.
        size: inches per panel.

    Returns:
        The matplotlib figure (one 3D panel per number of views, then the ground truth).
    """
    import matplotlib.pyplot as plt

    t = len(probs)
    ious = voxel_iou_by_views(probs, voxels, thresh) if voxels is not None else None
    n = t + (voxels is not None)
    fig = plt.figure(figsize=(size * n, size + (0.4 if title else 0)))
    for k in range(t):
        ax = fig.add_subplot(1, n, k + 1, projection="3d")
        label = f"{k + 1} view{'s' if k else ''}"
        if ious is not None:
            label += f"\nIoU {100 * ious[k]:.1f}"
        _mesh_axes(ax, *occupancy_mesh(probs[k], thresh), label, (0.35, 0.55, 0.85))
    if voxels is not None:
        ax = fig.add_subplot(1, n, n, projection="3d")
        _mesh_axes(ax, *occupancy_mesh(voxels, 0.5), "ground truth\n", (0.85, 0.55, 0.3))
    if title:
        fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.84 if title else 0.98, wspace=0)
    return fig


def _mosaic(tiles: np.ndarray, pad: int = 2) -> np.ndarray:
    """(R, C, h, w, 3) tiles -> one (R*(h+pad), C*(w+pad), 3) image, light grey gaps."""
    r, c, h, w, _ = tiles.shape
    out = np.full((r, c, h + pad, w + pad, 3), 0.85, np.float32)
    out[:, :, :h, :w] = tiles
    return out.transpose(0, 2, 1, 3, 4).reshape(r * (h + pad), c * (w + pad), 3)


def plot_depth_progress(depth: np.ndarray, gt: np.ndarray | None = None,
                        images: np.ndarray | None = None, title: str | None = None,
                        size: float = 1.0) -> Figure:
    """Predicted depth maps after 1..T views (rows) for every view (columns), the truth and
    the error maps.

    Entry [t, v] is view v's depth predicted from the grid after views 1..t+1 (views after
    t+1 not seen yet). Depth colours span :data:`DEPTH_RANGE` (turbo; white: true background
    and predicted depth beyond :data:`FAR`); errors ``|pred - true|`` on the true foreground,
    0 to :data:`ERROR_MAX` scene units.

    Args:
        depth: (T, V, h, w) predicted depth, scene units.
        gt: (V, h, w) true depth (background 10), or None.
        images: (V, h, w, 3) input views shown in the first row, or None.
        title: figure title.
        size: inches per tile.

    Returns:
        The matplotlib figure: left depth (inputs, predictions, truth), right errors.
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    from training.pictures import depth_colour

    t, v = depth.shape[:2]
    rows, labels = [], []
    if images is not None:
        rows.append(np.asarray(images, np.float32))
        labels.append("input")
    shown = np.where(np.asarray(depth) < FAR, depth, BACKGROUND_DEPTH)
    for k in range(t):
        rows.append(depth_colour(shown[k], *DEPTH_RANGE))
        labels.append(f"{k + 1} view{'s' if k else ''}")
    if gt is not None:
        rows.append(depth_colour(gt, *DEPTH_RANGE))
        labels.append("truth")
    left = _mosaic(np.stack(rows))
    ncols = 2 if gt is not None else 1
    h_in = size * len(rows) + 0.5
    fig, axes = plt.subplots(1, ncols, figsize=(size * v * ncols + 1.6, h_in), squeeze=False,
                             gridspec_kw={"wspace": 0.25})
    step = left.shape[0] / len(rows)
    axl = axes[0, 0]
    axl.imshow(left)
    axl.set_yticks((np.arange(len(rows)) + 0.5) * step, labels, fontsize=7)
    axl.set_xticks((np.arange(v) + 0.5) * left.shape[1] / v, [f"view {i + 1}" for i in range(v)],
                   fontsize=7)
    axl.tick_params(length=0)
    axl.set_title("depth", fontsize=8)
    sm = plt.cm.ScalarMappable(Normalize(*DEPTH_RANGE), colormaps["turbo"])
    fig.colorbar(sm, ax=axl, fraction=0.04, pad=0.02).ax.tick_params(labelsize=6)
    if gt is not None:
        err = depth_error_maps(depth, gt)
        cmap = colormaps["magma_r"]
        tiles = cmap(np.clip(np.nan_to_num(err, nan=0.0) / ERROR_MAX, 0, 1))[..., :3]
        tiles[np.isnan(err)] = 1.0
        first = len(rows) - t - 1  # align the error rows with the prediction rows
        right = _mosaic(tiles)
        axr = axes[0, 1]
        axr.imshow(right, extent=(0, right.shape[1], (first + t) * step, first * step))
        axr.set(xlim=(0, right.shape[1]), ylim=(left.shape[0], 0))
        axr.set_yticks((np.arange(first, first + t) + 0.5) * step, labels[first:first + t],
                       fontsize=7)
        axr.set_xticks((np.arange(v) + 0.5) * right.shape[1] / v,
                       [f"view {i + 1}" for i in range(v)], fontsize=7)
        axr.tick_params(length=0)
        axr.set_title("|error| on the true foreground", fontsize=8)
        sm = plt.cm.ScalarMappable(Normalize(0, ERROR_MAX), cmap)
        fig.colorbar(sm, ax=axr, fraction=0.04, pad=0.02).ax.tick_params(labelsize=6)
    for ax in axes[0]:
        for s in ax.spines.values():
            s.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def plot_point_cloud(clouds: Mapping[str, tuple[np.ndarray, np.ndarray]], size: float = 3.0,
                     max_points: int = 6000) -> Figure:
    """Static 3D scatter plots of coloured point clouds (fallback of :func:`point_cloud_figure`).

    Args:
        clouds: title -> (points (P, 3) world, scene units; colours (P, 3) RGB in [0, 1]).
        size: inches per panel.
        max_points: random subsample per cloud (seeded).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(size * len(clouds), size))
    for i, (name, (pts, cols)) in enumerate(clouds.items()):
        pts, cols = _subsample(pts, cols, max_points)
        ax = fig.add_subplot(1, len(clouds), i + 1, projection="3d")
        ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], c=np.clip(cols, 0, 1), s=3, linewidths=0,
                   depthshade=False)
        ax.set(xlim=(-0.5, 0.5), ylim=(-0.5, 0.5), zlim=(-0.5, 0.5))
        ax.set_box_aspect((1, 1, 1), zoom=1.4)
        ax.view_init(elev=25, azim=-50)
        ax.set_axis_off()
        ax.set_title(f"{name}\n{len(pts)} points shown", fontsize=8)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.88, wspace=0)
    return fig


def _subsample(pts: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    if len(pts) <= n:
        return pts, cols
    idx = np.sort(np.random.default_rng(0).choice(len(pts), n, replace=False))
    return pts[idx], cols[idx]


# --------------------------------------------------------------------------------------------
# Interactive plotly figures
# --------------------------------------------------------------------------------------------
def setup_plotly(renderer: str | None = None) -> bool:
    """Whether plotly is importable; optionally select its renderer.

    Args:
        renderer: a ``plotly.io.renderers`` name (e.g. "notebook" embeds plotly.js in the
            notebook, so exported HTML works offline; "notebook_connected" loads it from a
            CDN); None keeps plotly's choice for the running front end.
    """
    try:
        import plotly.io as pio
    except ImportError:
        return False
    if renderer:
        pio.renderers.default = renderer
    return True


def _scene(**kw: Any) -> dict[str, Any]:
    ax = {"range": [-0.55, 0.55], "showbackground": False, "showticklabels": False,
          "title": {"text": ""}, "gridcolor": "#ddd", "zerolinecolor": "#bbb"}
    return {"xaxis": ax, "yaxis": ax, "zaxis": ax, "aspectmode": "cube",
            "camera": {"eye": {"x": 1.2, "y": -1.45, "z": 0.9}}, **kw}


def occupancy_figure(probs: np.ndarray, voxels: np.ndarray | None = None,
                     thresh: float = IOU_THRESH, title: str = "") -> Any:
    """Interactive 3D surfaces: the prediction (buttons for 1..T views) beside the truth.

    Args:
        probs: (T, N, N, N) probabilities, world [x, y, z].
        voxels: (N, N, N) true occupancy, or None.
        thresh: iso-level (and IoU threshold).
        title: figure title.

    Returns:
        A ``plotly.graph_objects.Figure``, or None when plotly is not installed.
    """
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        return None
    t = len(probs)
    ious = voxel_iou_by_views(probs, voxels, thresh) if voxels is not None else None

    def label(k: int) -> str:
        s = f"prediction after {k + 1} view{'s' if k else ''}"
        return s + (f" (IoU {100 * ious[k]:.1f})" if ious is not None else "")

    cols = 2 if voxels is not None else 1
    fig = make_subplots(rows=1, cols=cols, specs=[[{"type": "scene"}] * cols],
                        subplot_titles=[label(t - 1)] + (["ground truth"] if cols == 2 else []),
                        horizontal_spacing=0.02)
    mesh_kw = {"flatshading": True, "lighting": {"ambient": 0.45, "diffuse": 0.8},
               "hoverinfo": "skip"}
    for k in range(t):
        v, f = occupancy_mesh(probs[k], thresh)
        fig.add_trace(go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1],
                                k=f[:, 2], color="#5b8bd9", visible=k == t - 1,
                                name=label(k), **mesh_kw), row=1, col=1)
    if voxels is not None:
        v, f = occupancy_mesh(voxels, 0.5)
        fig.add_trace(go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1],
                                k=f[:, 2], color="#d98c4d", name="ground truth", **mesh_kw),
                      row=1, col=2)
    buttons = [{"label": f"{k + 1} view{'s' if k else ''}", "method": "update",
                "args": [{"visible": [i == k for i in range(t)] + [True] * (cols - 1)},
                         {"annotations[0].text": label(k)}]} for k in range(t)]
    fig.update_layout(
        title={"text": title, "font": {"size": 13}}, height=420, showlegend=False,
        margin={"l": 0, "r": 0, "t": 60, "b": 0}, scene=_scene(), scene2=_scene(),
        updatemenus=[{"type": "buttons", "direction": "right", "buttons": buttons,
                      "active": t - 1, "x": 0.0, "y": 1.12, "xanchor": "left",
                      "showactive": True}])
    return fig


def point_cloud_figure(clouds: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str = "",
                       max_points: int = 8000) -> Any:
    """Interactive 3D coloured point clouds side by side.

    Args:
        clouds: title -> (points (P, 3) world, scene units; colours (P, 3) RGB in [0, 1]).
        title: figure title.
        max_points: random subsample per cloud (seeded), to keep the figure light.

    Returns:
        A ``plotly.graph_objects.Figure``, or None when plotly is not installed.
    """
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        return None
    n = len(clouds)
    fig = make_subplots(rows=1, cols=n, specs=[[{"type": "scene"}] * n],
                        subplot_titles=list(clouds), horizontal_spacing=0.02)
    for i, (pts, cols) in enumerate(clouds.values()):
        pts, cols = _subsample(pts, cols, max_points)
        rgb = [f"rgb({r},{g},{b})" for r, g, b in np.round(np.clip(cols, 0, 1) * 255).astype(int)]
        fig.add_trace(go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], mode="markers",
                                   marker={"size": 2, "color": rgb}, hoverinfo="skip"),
                      row=1, col=i + 1)
    fig.update_layout(title={"text": title, "font": {"size": 13}}, height=420,
                      showlegend=False, margin={"l": 0, "r": 0, "t": 50, "b": 0},
                      **{f"scene{'' if i == 0 else i + 1}": _scene() for i in range(n)})
    return fig


# --------------------------------------------------------------------------------------------
# Your own views
# --------------------------------------------------------------------------------------------
def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as the network sees it.

    RGBA images are composited on white (as the dataset's renders); grey, palette and 16-bit
    images are converted to RGB.

    Returns:
        (H, W, 3) float32 RGB in [0, 1].
    """
    from PIL import Image

    from data.io import composite_on_white

    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            return composite_on_white(np.asarray(im.convert("RGBA")))
        if im.mode in ("I;16", "I;16B", "I"):
            arr = np.asarray(im, np.float32)
            arr = arr / (65535.0 if arr.max() > 255 else 255.0)
            return np.repeat(np.clip(arr, 0, 1)[..., None], 3, axis=2)
        return np.asarray(im.convert("RGB"), np.float32) / 255.0


def _check_camera(i: int, K: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and normalise one view's camera: K (3, 3), extrinsic (3, 4)."""
    K = np.asarray(K, np.float64)
    E = np.asarray(E, np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"view {i}: K must be 3x3 (pixels), got shape {K.shape}")
    if E.shape == (4, 4):
        E = E[:3]
    if E.shape != (3, 4):
        raise ValueError(f"view {i}: extrinsic must be 3x4 (or 4x4) world -> camera [R | t], "
                         f"got shape {E.shape}")
    R = E[:, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-3):
        raise ValueError(f"view {i}: the extrinsic's 3x3 part is not a rotation")
    if E[2, 3] <= 0:
        raise ValueError(f"view {i}: the world origin is behind the camera (t_z = {E[2, 3]:.3g}); "
                         "is the extrinsic camera -> world instead of world -> camera? "
                         "(see docs/camera.md)")
    return K, E


def prepare_own_views(image_files: Sequence[str | os.PathLike], K: Any, extrinsics: Any,
                      size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Read image files of any size and bring them and their cameras to the network's size.

    Args:
        image_files: V image files (PNG, JPEG...; RGBA composited on white).
        K: V intrinsic matrices (3, 3), in pixels of each file's own size (nested lists or an
            array (V, 3, 3)).
        extrinsics: V world -> camera matrices (3, 4) or (4, 4), OpenCV camera axes (x right,
            y down, z forward), z-up world, object inside [-0.5, 0.5]^3 (docs/camera.md).
        size: (h, w) network image size in pixels.

    Returns:
        ``images`` (V, h, w, 3) RGB in [0, 1]; ``K`` (V, 3, 3) pixels of h x w;
        ``extrinsic`` (V, 3, 4).

    Raises:
        ValueError: counts differ, or a camera is malformed (the message names the view).
    """
    files = [Path(f) for f in image_files]
    Ks, Es = list(K), list(extrinsics)
    if not files or not len(files) == len(Ks) == len(Es):
        raise ValueError(f"need one K and one extrinsic per image: {len(files)} images, "
                         f"{len(Ks)} K, {len(Es)} extrinsics")
    ims, ks, es = [], [], []
    for i, (f, k, e) in enumerate(zip(files, Ks, Es, strict=True)):
        k, e = _check_camera(i, k, e)
        im, k2 = resize_views(read_image(f)[None], k[None], size)
        ims.append(im[0])
        ks.append(k2[0])
        es.append(e)
    return {"images": np.stack(ims).astype(np.float32), "K": np.stack(ks).astype(np.float32),
            "extrinsic": np.stack(es).astype(np.float32)}


def predict_own_views(lsm: LSM, image_files: Sequence[str | os.PathLike], K: Any,
                      extrinsics: Any) -> dict[str, np.ndarray]:
    """Run a trained network on your own posed views.

    Args:
        lsm: the network (:func:`load_lsm`).
        image_files: V image files of any size (RGB or RGBA; RGBA is composited on white, as
            in the training renders). The object should fill the view like the training
            renders (camera about 2 units from the origin, 60 mm lens on a 32 mm sensor).
        K: V (3, 3) intrinsics in pixels of each file.
        extrinsics: V (3, 4) or (4, 4) world -> camera matrices (OpenCV axes, z-up world,
            object inside [-0.5, 0.5]^3; see docs/camera.md).

    Returns:
        ``images``, ``K``, ``extrinsic`` as fed to the network (:func:`prepare_own_views`) and
        the prediction: ``probs`` (T, N, N, N) for a V-LSM, ``depth`` (T, V, h, w) scene units
        for a D-LSM (:func:`predict`).
    """
    views = prepare_own_views(image_files, K, extrinsics, lsm.image_size)
    key = "probs" if lsm.kind == "vlsm" else "depth"
    views[key] = predict(lsm, views["images"], views["K"], views["extrinsic"])
    return views


def export_views(root: str | os.PathLike, synset: str, model: str, views: Sequence[int],
                 folder: str | os.PathLike,
                 sizes: Sequence[tuple[int, int] | None] | None = None) -> list[Path]:
    """Write a dataset model's views as "your own" files: images plus ``cameras.json``.

    Args:
        root: data root.
        synset: synset id.
        model: model id.
        views: render indices.
        folder: output folder (created).
        sizes: per view, None to copy the RGBA render as is, or (h, w) to save it resized (RGB
            on white, PNG) with its K scaled accordingly, to show that any size works.

    Returns:
        The image files written; ``folder / "cameras.json"`` holds
        ``{"images": [file names], "K": [V x 3 x 3 pixels of each file],
        "extrinsic": [V x 3 x 4 world -> camera]}``.
    """
    from PIL import Image

    from data.io import read_camera, read_render

    layout = DataLayout(Path(root))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files, Ks, Es = [], [], []
    for i, v in enumerate(views):
        K, E = read_camera(layout.camera_path(synset, model, int(v)))
        src = layout.render_path(synset, model, int(v))
        dst = folder / f"view_{i}.png"
        size = sizes[i] if sizes is not None else None
        if size is None:
            shutil.copyfile(src, dst)
        else:
            im, k = resize_views(read_render(src)[None], np.asarray(K)[None], size)
            Image.fromarray(np.round(im[0] * 255).astype(np.uint8)).save(dst)
            K = k[0]
        files.append(dst)
        Ks.append(np.asarray(K, np.float64).tolist())
        Es.append(np.asarray(E, np.float64)[:3].tolist())
    (folder / "cameras.json").write_text(json.dumps(
        {"images": [f.name for f in files], "K": Ks, "extrinsic": Es}, indent=1))
    return files


__all__ = [
    "DATA_CANDIDATES",
    "LSM",
    "REPO_ROOT",
    "depth_error_by_views",
    "depth_error_maps",
    "export_views",
    "find_data",
    "format_table",
    "fused_points",
    "load_lsm",
    "load_views",
    "occupancy_figure",
    "occupancy_mesh",
    "plot_depth_progress",
    "plot_point_cloud",
    "plot_views",
    "plot_voxel_progress",
    "point_cloud_figure",
    "predict",
    "predict_own_views",
    "prepare_own_views",
    "read_image",
    "resize_depth",
    "resize_views",
    "sample_models",
    "setup_plotly",
    "short_path",
    "split_file_for",
    "voxel_iou_by_views",
]
