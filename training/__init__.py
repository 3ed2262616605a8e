"""The training loop, evaluation and the scripts' entry points (see README).

Importing the package applies :mod:`config.runtime` (TensorFlow's oneDNN kernels on) and sets
``TF_CPP_MIN_LOG_LEVEL=2`` (unless it is set) before TensorFlow is imported, which quiets
TensorFlow's C++ logging; the notices it prints while its libraries load are held back by
:func:`training.quiet.quiet_tensorflow_import`.
"""

import os

import config.runtime  # noqa: F401  (TensorFlow CPU settings, before TensorFlow loads)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
