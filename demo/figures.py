"""The demos' occupancy figures: :mod:`vis` figures labelled with the IoU per number of views.

:func:`plot_voxel_progress` (matplotlib) and :func:`occupancy_figure` (plotly) add the IoU of
:func:`demo.tables.voxel_iou_by_views` to the figures of :mod:`vis.figures` and
:mod:`vis.interactive` when the true occupancy is given; every other figure of the notebooks
is :mod:`vis`'s own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from demo.tables import voxel_iou_by_views
from vis import figures, interactive
from vis.meshes import IOU_THRESH

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_voxel_progress(probs: np.ndarray, voxels: np.ndarray | None = None,
                        thresh: float = IOU_THRESH, title: str | None = None,
                        size: float = 2.0) -> Figure:
    """Predicted occupancy after 1..T views (3D surfaces) beside the ground truth, with the IoU
    after each number of views when ``voxels`` is given (:func:`vis.figures.plot_voxel_progress`).

    Args:
        probs: (T, N, N, N) probabilities, world [x, y, z].
        voxels: (N, N, N) true occupancy, or None (own views: no ground truth).
        thresh: iso-level of the surfaces and IoU threshold.
        title: figure title.
        size: inches per panel.

    Returns:
        The matplotlib figure.
    """
    ious = voxel_iou_by_views(probs, voxels, thresh) if voxels is not None else None
    return figures.plot_voxel_progress(probs, voxels, thresh, title, size, ious=ious)


def occupancy_figure(probs: np.ndarray, voxels: np.ndarray | None = None,
                     thresh: float = IOU_THRESH, title: str = "") -> Any:
    """Interactive 3D surfaces: the prediction (buttons for 1..T views) beside the truth, with
    the IoU when ``voxels`` is given (:func:`vis.interactive.occupancy_figure`).

    Returns:
        A ``plotly.graph_objects.Figure``, or None when plotly is not installed.
    """
    ious = voxel_iou_by_views(probs, voxels, thresh) if voxels is not None else None
    return interactive.occupancy_figure(probs, voxels, thresh, title, ious=ious)
