"""The op boundary: the backend-agnostic Keras ops of LSM (unprojection, projection,
recurrence, losses, metrics) and their fast forms (``ops.dispatch``)."""

import config.runtime  # noqa: F401  (TensorFlow CPU settings, before TensorFlow loads)
