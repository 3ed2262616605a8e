"""Helpers of the demo notebooks ``demo_vlsm.ipynb`` and ``demo_dlsm.ipynb`` (``import demo``).

Everything the notebooks do in more than a line lives here or in :mod:`vis`, so the notebooks
stay short. This package gathers the notebooks' whole vocabulary:

* data (:mod:`demo.datasets`): :func:`find_data` (the best local data root and its split file,
  building ``tiny`` if there is none), :func:`sample_models`, :func:`load_views` (a model's
  views at the network's image size, as the test loader feeds them);
* models (:mod:`demo.model`): :func:`load_lsm` (a run folder such as ``pretrained/vlsm_cpu``,
  latest checkpoint by default), :func:`predict`;
* scores (:mod:`demo.tables`): :func:`voxel_iou_by_views`, :func:`depth_error_by_views`,
  :func:`format_table`;
* pictures (:mod:`vis`, with the IoU added by :mod:`demo.figures`): matplotlib figures
  (:func:`plot_views`, :func:`plot_voxel_progress`, :func:`plot_depth_progress`,
  :func:`plot_point_cloud`) and interactive plotly figures (:func:`occupancy_figure`,
  :func:`point_cloud_figure`; None when plotly is missing);
* your own views (:mod:`demo.own_views`): :func:`predict_own_views` (image files of any size,
  ``K`` in pixels of each file, world -> camera extrinsics; the conventions of
  ``docs/camera.md``) and :func:`export_views`, which writes a dataset model's views as such
  files.

Units: scene units everywhere (objects inside ``[-0.5, 0.5]^3``, cameras about 2 units from
the origin, depth = camera-frame z, background depth 10); ``K`` in pixels; images RGB floats in
``[0, 1]``; occupancy grids indexed ``[x, y, z]`` in world axes (z up).

Runs on any Keras backend and without TensorFlow (``KERAS_BACKEND=jax``); only converting the
release's TF1 checkpoints needs it. Imports :mod:`vis`, :mod:`geometry`, :mod:`data`,
:mod:`ops` and the ``training`` modules that load a run; nothing in ``training`` imports it.
"""

from __future__ import annotations

import os

from training.quiet import quiet_tensorflow_import

if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
    # Keras will import TensorFlow: do it first with its C++ start-up notices held back (in a
    # notebook they would show as red stderr boxes). A no-op where TensorFlow is missing.
    quiet_tensorflow_import()

from demo.datasets import (  # noqa: E402
    DATA_CANDIDATES,
    REPO_ROOT,
    find_data,
    load_views,
    resize_depth,
    sample_models,
    short_path,
    split_file_for,
)
from demo.figures import occupancy_figure, plot_voxel_progress  # noqa: E402
from demo.model import LSM, load_lsm, model_kind, predict  # noqa: E402
from demo.own_views import (  # noqa: E402
    export_views,
    predict_own_views,
    prepare_own_views,
    read_image,
)
from demo.tables import depth_error_by_views, format_table, voxel_iou_by_views  # noqa: E402
from vis.figures import (  # noqa: E402
    DEPTH_RANGE,
    ERROR_MAX,
    depth_error_maps,
    plot_depth_progress,
    plot_point_cloud,
    plot_views,
)
from vis.interactive import point_cloud_figure, setup_plotly  # noqa: E402
from vis.meshes import FAR, IOU_THRESH, fused_points, occupancy_mesh  # noqa: E402

__all__ = [
    "DATA_CANDIDATES",
    "DEPTH_RANGE",
    "ERROR_MAX",
    "FAR",
    "IOU_THRESH",
    "LSM",
    "REPO_ROOT",
    "depth_error_by_views",
    "depth_error_maps",
    "export_views",
    "find_data",
    "format_table",
    "fused_points",
    "load_lsm",
    "model_kind",
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
    "sample_models",
    "setup_plotly",
    "short_path",
    "split_file_for",
    "voxel_iou_by_views",
]
