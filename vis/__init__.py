"""Visualisation: pictures, figures, meshes and point clouds of inputs and predictions.

* :mod:`vis.pictures`: uint8 picture arrays (TensorBoard images, contact sheets);
* :mod:`vis.meshes`: marching-cubes meshes of occupancy grids, depth maps back-projected and
  fused into coloured point clouds (trimesh, scikit-image);
* :mod:`vis.figures`: static matplotlib figures (input views, occupancy and depth after 1..T
  views, point clouds);
* :mod:`vis.interactive`: interactive plotly figures (None when plotly is missing).

Imports only numpy, matplotlib, plotly, trimesh, scikit-image and :mod:`geometry` (no Keras,
no TensorFlow), so it works on any backend and without a model. ``training/`` (exports,
TensorBoard pictures) and ``demo/`` (the notebooks' helpers) import it, never the reverse.
"""
