"""Static matplotlib figures of inputs and predictions (they show in any notebook viewer).

:func:`plot_views` (input views), :func:`plot_voxel_progress` (occupancy surfaces after 1..T
views beside the truth), :func:`plot_depth_progress` (depth maps and error maps after 1..T
views) and :func:`plot_point_cloud` (coloured point clouds; the fallback of
:func:`vis.interactive.point_cloud_figure`).

Units: scene units everywhere (objects inside ``[-0.5, 0.5]^3``, depth = camera-frame z,
background depth 10); images RGB floats in ``[0, 1]``; occupancy grids indexed ``[x, y, z]`` in
world axes (z up).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from geometry.depth import BACKGROUND_DEPTH, foreground
from vis.meshes import FAR, IOU_THRESH, occupancy_mesh, subsample_points

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Depth colour range (scene units): the object lies 2 +- sqrt(3)/2 from the camera.
DEPTH_RANGE = (1.3, 2.7)
#: Largest shown depth error (scene units) in error maps.
ERROR_MAX = 0.3


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
    return np.where(foreground(gt), err, np.nan)



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
                        size: float = 2.0, ious: Sequence[float] | None = None) -> Figure:
    """Predicted occupancy after 1..T views (3D surfaces) beside the ground truth.

    Args:
        probs: (T, N, N, N) probabilities, world [x, y, z].
        voxels: (N, N, N) true occupancy, or None (own views: no ground truth).
        thresh: iso-level of the surfaces.
        title: figure title.
        size: inches per panel.
        ious: (T,) IoU in [0, 1] per number of views, shown under each panel (e.g.
            :func:`demo.tables.voxel_iou_by_views`), or None.

    Returns:
        The matplotlib figure (one 3D panel per number of views, then the ground truth).
    """
    import matplotlib.pyplot as plt

    t = len(probs)
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


def plot_reconstruction_rows(rows: Sequence[Mapping[str, Any]], size: float = 1.7) -> Figure:
    """One row per object: an input image, then 3D surfaces of several grids.

    Args:
        rows: per object ``{"title": str, "image": (H, W, 3) in [0, 1], "grids":
            [(label, (N, N, N) grid in world [x, y, z], iso-level, (r, g, b)), ...]}``; every
            row has the same number of grids.
        size: inches per panel.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    n = 1 + len(rows[0]["grids"])
    fig = plt.figure(figsize=(size * n, size * len(rows)))
    for r, row in enumerate(rows):
        ax = fig.add_subplot(len(rows), n, r * n + 1)
        ax.imshow(np.clip(row["image"], 0, 1))
        ax.set_axis_off()
        ax.set_title(row["title"], fontsize=8)
        for k, (label, grid, thresh, rgb) in enumerate(row["grids"]):
            ax = fig.add_subplot(len(rows), n, r * n + 2 + k, projection="3d")
            _mesh_axes(ax, *occupancy_mesh(grid, thresh), label, rgb)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.97, wspace=0, hspace=0.15)
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

    from vis.pictures import depth_colour

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
        pts, cols = subsample_points(pts, cols, max_points)
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


