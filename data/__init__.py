"""Datasets: building, checking and loading the renders, voxels, depths and cameras."""

import config.runtime  # noqa: F401  (TensorFlow CPU settings, before TensorFlow loads)
