"""The TensorFlow fast path (XLA-compiled ops) against the portable keras.ops path."""

import keras
import numpy as np
import pytest

from data.cameras import intrinsics, look_at
from ops import camera
from ops.project import project_rays_portable
from ops.unproject import unproject_portable

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="the fast path exists for TensorFlow only")


def _cams(rng, b, v, size):
    K = intrinsics(size).astype(np.float32)
    E = np.stack([look_at(a, e)[:3] for a, e in zip(rng.uniform(0, 360, b * v),
                                                    rng.uniform(-10, 40, b * v),
                                                    strict=True)]).astype(np.float32)
    return np.tile(K, (b, v, 1, 1)), E.reshape(b, v, 3, 4)


def test_dispatch_picks_the_fast_path(monkeypatch):
    from ops import tf_kernels

    assert camera.fast_kernels() is tf_kernels
    monkeypatch.setenv("LSM_FAST_OPS", "0")
    assert camera.fast_kernels() is None


def test_unproject_fast_equals_portable_with_gradients():
    import tensorflow as tf

    from ops import tf_kernels

    rng = np.random.default_rng(0)
    K, E = _cams(rng, 2, 3, 64)
    feats = tf.constant(rng.random((6, 32, 32, 5), dtype=np.float32))
    w = tf.constant(rng.random((2, 3, 16, 16, 16, 6), dtype=np.float32))
    outs, grads = [], []
    for fn in (tf_kernels.unproject, unproject_portable):
        with tf.GradientTape() as tape:
            tape.watch(feats)
            out = fn(feats, K, E, 16, (64, 64), (-0.5, 0.5))
            loss = tf.reduce_sum(out * w)
        outs.append(out.numpy())
        grads.append(tape.gradient(loss, feats).numpy())
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("graph", [False, True])
def test_unproject_fast_path_differentiates_features_and_cameras_together(graph):
    """The fast path's custom gradient returns the cameras' gradients too (a second XLA
    function, pruned by a graph that does not need it), equal to the portable op's."""
    import tensorflow as tf

    from ops import tf_kernels

    rng = np.random.default_rng(1)
    K, E = (tf.constant(a) for a in _cams(rng, 1, 2, 64))
    feats = tf.constant(rng.random((2, 32, 32, 3), dtype=np.float32))
    w = tf.constant(rng.random((1, 2, 8, 8, 8, 4), dtype=np.float32))

    def grads(fn):
        with tf.GradientTape() as tape:
            tape.watch([feats, K, E])
            loss = tf.reduce_sum(fn(feats, K, E, 8, (64, 64), (-0.5, 0.5)) * w)
        return tape.gradient(loss, [feats, K, E])

    run = (lambda fn: tf.function(lambda: grads(fn))()) if graph else grads
    for got, want in zip(run(tf_kernels.unproject), run(unproject_portable), strict=True):
        assert got is not None
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("rounding", ["release", "centre"])
def test_project_fast_equals_portable_with_gradients(rounding):
    import tensorflow as tf

    from ops import tf_kernels

    rng = np.random.default_rng(1)
    K, E = _cams(rng, 2, 2, 64)
    grid = tf.constant(rng.random((2, 2, 16, 16, 16, 3), dtype=np.float32))
    outs, grads = [], []
    for fn in (tf_kernels.project_rays, project_rays_portable):
        with tf.GradientTape() as tape:
            tape.watch(grid)
            out = fn(grid, K, E, (64, 64), 4, 8, (1.0, 3.0), (-0.5, 0.5), rounding)
            loss = tf.reduce_sum(out * out)
        outs.append(out.numpy())
        grads.append(tape.gradient(loss, grid).numpy())
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-5)
