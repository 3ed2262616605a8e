"""The demos' scores per number of views and their plain-text tables.

:func:`voxel_iou_by_views` (:func:`ops.metrics.voxel_iou`), :func:`depth_error_by_views`
(per-image errors of :func:`ops.metrics.depth_error`, averaged over views by the evaluation's
own :func:`training.tasks.depth_error_by_views`) and :func:`format_table`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from geometry.depth import BACKGROUND_DEPTH
from vis.meshes import IOU_THRESH


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
