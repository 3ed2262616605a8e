"""Ops traced with an unknown batch size (Keras retraces predict/eval with ``None`` batch axes)."""

import keras
import numpy as np
import pytest

from ops.project import project_rays
from ops.unproject import unproject

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="only TensorFlow traces with unknown static sizes")


def _cams(b, v):
    K = np.tile(np.array([[60.0, 0, 32], [0, 60.0, 32], [0, 0, 1]], np.float32), (b, v, 1, 1))
    E = np.tile(np.eye(3, 4, dtype=np.float32), (b, v, 1, 1))
    E[..., 2, 3] = 2.0
    return K, E


def test_unproject_and_project_trace_with_unknown_batch():
    import tensorflow as tf

    spec = lambda *s: tf.TensorSpec(s, tf.float32)  # noqa: E731
    up = tf.function(lambda f, k, e: unproject(f, k, e, 8, im_size=(64, 64)),
                     input_signature=[spec(None, 16, 16, 3), spec(None, 2, 3, 3),
                                      spec(None, 2, 3, 4)], autograph=False)
    pr = tf.function(lambda g, k, e: project_rays(g, k, e, im_size=(64, 64), samples=4),
                     input_signature=[spec(None, 1, 8, 8, 8, 2), spec(None, 2, 3, 3),
                                      spec(None, 2, 3, 4)], autograph=False)
    rng = np.random.default_rng(0)
    for b in (1, 3):
        K, E = _cams(b, 2)
        feats = rng.random((b * 2, 16, 16, 3), dtype=np.float32)
        np.testing.assert_allclose(up(feats, K, E).numpy(), unproject(feats, K, E, 8,
                                                                      im_size=(64, 64)),
                                   atol=1e-6)
        grid = rng.random((b, 1, 8, 8, 8, 2), dtype=np.float32)
        np.testing.assert_allclose(pr(grid, K, E).numpy(),
                                   project_rays(grid, K, E, im_size=(64, 64), samples=4),
                                   atol=1e-6)
