"""The LSM networks, their layers and the fusion registry (Keras layers and keras.ops only)."""

import config.runtime  # noqa: F401  (TensorFlow CPU settings, before TensorFlow loads)
