"""The TensorFlow fast path (XLA-compiled ops, through ops.dispatch) against the portable
keras.ops path (``op.portable``)."""

import keras
import numpy as np
import pytest

from geometry.camera import intrinsics, look_at
from ops import dispatch
from ops.project import project_rays
from ops.unproject import unproject, unproject_features

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

    assert dispatch.fast_kernels() is tf_kernels
    monkeypatch.setenv("LSM_FAST_OPS", "0")
    assert dispatch.fast_kernels() is None


@pytest.mark.parametrize("views_first", [False, True])
@pytest.mark.parametrize("dtype", [None, "bfloat16"])
def test_unproject_fast_equals_portable_with_gradients(views_first, dtype):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    K, E = _cams(rng, 2, 3, 64)
    feats = tf.constant(rng.random((6, 32, 32, 5), dtype=np.float32))
    w = tf.constant(rng.random((6, 16, 16, 16, 5), dtype=np.float32))
    outs, grads = [], []
    for fn in (unproject_features, unproject_features.portable):
        with tf.GradientTape() as tape:
            tape.watch(feats)
            out = fn(feats, K, E, 16, (64, 64), (-0.5, 0.5), views_first, dtype)
            loss = tf.reduce_sum(tf.cast(out, tf.float32) * w)
        assert out.dtype == (dtype or "float32")
        outs.append(tf.cast(out, tf.float32).numpy())
        grads.append(tape.gradient(loss, feats).numpy())
    tol = 1e-5 if dtype is None else 2 ** -8  # XLA may round a float32 sum differently
    np.testing.assert_allclose(outs[0], outs[1], rtol=tol, atol=tol)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("graph", [False, True])
def test_unproject_fast_path_differentiates_features_and_cameras_together(graph):
    """The fast path's custom gradient returns the cameras' gradients too (a second XLA
    function, pruned by a graph that does not need it), equal to the portable op's."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    K, E = (tf.constant(a) for a in _cams(rng, 1, 2, 64))
    feats = tf.constant(rng.random((2, 32, 32, 3), dtype=np.float32))
    w = tf.constant(rng.random((2, 8, 8, 8, 3), dtype=np.float32))

    def grads(fn):
        with tf.GradientTape() as tape:
            tape.watch([feats, K, E])
            loss = tf.reduce_sum(fn(feats, K, E, 8, (64, 64), (-0.5, 0.5)) * w)
        return tape.gradient(loss, [feats, K, E])

    run = (lambda fn: tf.function(lambda: grads(fn))()) if graph else grads
    for got, want in zip(run(unproject_features), run(unproject_features.portable),
                         strict=True):
        assert got is not None
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("graph", [False, True])
def test_release_form_fast_equals_portable_with_all_gradients(graph):
    """``unproject`` (features and depth concatenated, one compiled function): values, and the
    gradients of features (from the feature channels of the output's gradient only) and
    cameras (through both the samples and the depth channel), equal to the portable op's."""
    import tensorflow as tf

    rng = np.random.default_rng(3)
    K, E = (tf.constant(a) for a in _cams(rng, 2, 2, 64))
    feats = tf.constant(rng.random((4, 32, 32, 3), dtype=np.float32))
    w = tf.constant(rng.random((2, 2, 8, 8, 8, 4), dtype=np.float32))

    def run(fn):
        def go():
            with tf.GradientTape() as tape:
                tape.watch([feats, K, E])
                out = fn(feats, K, E, 8, (64, 64), (-0.5, 0.5))
                loss = tf.reduce_sum(out * w)
            return [out, *tape.gradient(loss, [feats, K, E])]

        return tf.function(go)() if graph else go()

    # the cameras' gradients sum ~4,000 float32 terms, in another order under XLA
    for got, want, tol in zip(run(unproject), run(unproject.portable), (1e-5, 1e-4, 1e-3, 1e-3),
                              strict=True):
        assert got is not None
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("rounding", ["release", "centre"])
def test_project_fast_equals_portable_with_gradients(rounding):
    import tensorflow as tf

    rng = np.random.default_rng(1)
    K, E = _cams(rng, 2, 2, 64)
    grid = tf.constant(rng.random((2, 2, 16, 16, 16, 3), dtype=np.float32))
    outs, grads = [], []
    for fn in (project_rays, project_rays.portable):
        with tf.GradientTape() as tape:
            tape.watch(grid)
            out = fn(grid, K, E, (64, 64), 4, 8, (1.0, 3.0), (-0.5, 0.5), rounding)
            loss = tf.reduce_sum(out * out)
        outs.append(out.numpy())
        grads.append(tape.gradient(loss, grid).numpy())
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-5)


def test_fast_path_is_the_one_the_ops_take(monkeypatch):
    """The decorated op goes through the kernel module (and not when LSM_FAST_OPS=0)."""
    from ops import tf_kernels

    calls = []
    real = tf_kernels.run
    monkeypatch.setattr(tf_kernels, "run", lambda *a: calls.append(a[0]) or real(*a))
    rng = np.random.default_rng(2)
    K, E = _cams(rng, 1, 1, 64)
    feats = rng.random((1, 8, 8, 2), dtype=np.float32)
    unproject(feats, K, E, 4, [64, 64])
    unproject_features(feats, K, E, 4, [64, 64])
    assert calls == [unproject.portable, unproject_features.portable]
    monkeypatch.setenv("LSM_FAST_OPS", "0")
    unproject(feats, K, E, 4, (64, 64))
    assert len(calls) == 2


def _norm_and_grads(fn, x, beta, g):
    """``[y, dy/dx, dy/dbeta]`` of ``y = fn(x)`` for the output gradient ``g``."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return [y, *tape.gradient(y, [x, beta], output_gradients=g)]


@pytest.mark.parametrize("shape", [(3, 6, 5, 16), (2, 4, 5, 3, 32), (1, 7, 7, 16)])
@pytest.mark.parametrize("with_beta", [True, False])
def test_instance_norm_kernel_equals_portable_with_gradients(shape, with_beta):
    """The fused instance norm (one fused batch norm per example) against the portable
    ``normalize`` over the spatial axes, float32: values, input and offset gradients."""
    import tensorflow as tf

    from models.norms import normalize
    from ops.tf_kernels import instance_norm

    rng = np.random.default_rng(5)
    x = tf.constant(rng.normal(1.0, 2.0, size=shape).astype(np.float32))
    beta = tf.Variable(rng.normal(size=shape[-1]).astype(np.float32))
    g = tf.constant(rng.normal(size=shape).astype(np.float32))
    b = beta if with_beta else None
    axes = list(range(1, len(shape) - 1))
    fast = _norm_and_grads(lambda t: instance_norm(t, b, 1e-5, min_elements=0), x, beta, g)
    ref = _norm_and_grads(lambda t: normalize(t, axes, 1e-5, beta=b), x, beta, g)
    assert fast[0].dtype == tf.float32 and fast[0].shape == shape
    for a, r in zip(fast[:2], ref[:2], strict=True):
        np.testing.assert_allclose(a.numpy(), r.numpy(), rtol=1e-4, atol=1e-4)
    if with_beta:
        np.testing.assert_allclose(fast[2].numpy(), ref[2].numpy(), rtol=1e-4, atol=1e-4)
    else:
        assert fast[2] is None and ref[2] is None


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_instance_norm_kernel_keeps_low_precision_with_float32_statistics(low):
    """A bfloat16 (float16) input gives an output and input gradient of its dtype, equal to
    the float32 norm of the same values to that dtype's rounding: the statistics are not taken
    in low precision (a constant offset of 1000 would wipe out every deviation if they
    were)."""
    import tensorflow as tf

    from models.norms import normalize
    from ops.tf_kernels import instance_norm

    rng = np.random.default_rng(6)
    shape = (2, 16, 16, 16)
    x16 = tf.cast(rng.normal(size=shape) * 4 + 1000.0, low)
    beta = tf.Variable(rng.normal(size=16).astype(np.float32))
    g16 = tf.cast(rng.normal(size=shape), low)
    fast = _norm_and_grads(lambda t: instance_norm(t, beta, 1e-5, min_elements=0), x16, beta,
                           g16)
    x32, g32 = tf.cast(x16, tf.float32), tf.cast(g16, tf.float32)
    ref = _norm_and_grads(lambda t: normalize(t, [1, 2], 1e-5, beta=beta), x32, beta, g32)
    assert fast[0].dtype == low and fast[1].dtype == low
    for a, r in zip(fast, ref, strict=True):
        a, r = tf.cast(a, tf.float32).numpy(), r.numpy()
        np.testing.assert_allclose(a, r, rtol=2e-2, atol=2e-2 * np.abs(r).max())
    assert np.std(tf.cast(fast[0], tf.float32).numpy()) > 0.9  # normalised, not flattened


def test_instance_norm_layer_takes_the_kernel(monkeypatch):
    """``InstanceNorm`` runs the fused kernel on TensorFlow (one FusedBatchNormV3 per example)
    for examples of ``INSTANCE_NORM_MIN_ELEMENTS`` elements or more, and the portable norm for
    smaller ones and with ``LSM_FAST_OPS=0``, to the same values."""
    import tensorflow as tf

    from models.norms import InstanceNorm
    from ops.tf_kernels import INSTANCE_NORM_MIN_ELEMENTS

    rng = np.random.default_rng(7)
    layer = InstanceNorm()
    layer.build((None, 64, 64, 32))
    layer.bias.assign(rng.normal(size=32).astype(np.float32))

    def fused_ops(shape):
        graph = tf.function(layer).get_concrete_function(tf.TensorSpec(shape)).graph
        return [op for op in graph.get_operations() if op.type.startswith("FusedBatchNorm")]

    big, small = (2, 64, 64, 32), (2, 32, 32, 32)
    assert 64 * 64 * 32 >= INSTANCE_NORM_MIN_ELEMENTS > 32 * 32 * 32
    x = rng.normal(size=big).astype(np.float32)
    fast = layer(x).numpy()
    assert len(fused_ops(big)) == 2 and fused_ops(small) == []
    monkeypatch.setenv("LSM_FAST_OPS", "0")
    assert fused_ops(big) == []
    np.testing.assert_allclose(fast, layer(x).numpy(), rtol=1e-4, atol=1e-4)


def test_instance_norm_kernel_declines_where_the_portable_norm_is_faster():
    """Small examples, and channel counts oneDNN's batch norm handles slowly, get None (the
    layer then runs the portable norm)."""
    import tensorflow as tf

    from ops.tf_kernels import INSTANCE_NORM_MIN_ELEMENTS, instance_norm

    assert INSTANCE_NORM_MIN_ELEMENTS == 1 << 17
    assert instance_norm(tf.zeros((2, 64, 64, 32)), None, 1e-5) is not None  # 2^17 each
    assert instance_norm(tf.zeros((2, 32, 64, 32)), None, 1e-5) is None  # 2^16 each
    assert instance_norm(tf.zeros((2, 128, 128, 8)), None, 1e-5) is None  # 8 channels
    assert instance_norm(tf.zeros((2, 4, 4, 8)), None, 1e-5, min_elements=0) is None
