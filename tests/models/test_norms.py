"""Normalisation layers: numerics against numpy references, names, selection by name."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models.norms import InstanceNorm, LayerNorm, canonical_norm, make_norm
from tests.models._helpers import to_numpy


def _instance_norm_ref(x: np.ndarray, offset: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    out = np.empty_like(x, dtype=np.float64)
    for b in range(x.shape[0]):
        for c in range(x.shape[-1]):
            v = x[b, ..., c].astype(np.float64)
            out[b, ..., c] = (v - v.mean()) / np.sqrt(v.var() + eps) + offset[c]
    return out


@pytest.mark.parametrize("shape", [(2, 5, 7, 3), (3, 4, 5, 6, 2)])
def test_instance_norm_matches_numpy(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    x = (rng.normal(size=shape) * 3 + 1).astype(np.float32)
    layer = InstanceNorm()
    layer.build(shape)
    offset = rng.normal(size=shape[-1]).astype(np.float32)
    layer.bias.assign(offset)
    np.testing.assert_allclose(to_numpy(layer(x)), _instance_norm_ref(x, offset), atol=1e-4)
    assert [w.name for w in layer.weights] == ["bias"]  # offset only, no scale


def test_instance_norm_is_per_example() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4, 4, 3)).astype(np.float32)
    layer = InstanceNorm()
    y_both = to_numpy(layer(x))
    y_first = to_numpy(layer(x[:1]))
    np.testing.assert_allclose(y_both[:1], y_first, atol=1e-6)


def test_layer_norm_joint_stats_per_channel_params() -> None:
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(2, 3, 4, 5, 6)) * 2 - 1).astype(np.float32)
    layer = LayerNorm()
    layer.build(x.shape)
    gamma = rng.normal(size=6).astype(np.float32)
    beta = rng.normal(size=6).astype(np.float32)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    xd = x.astype(np.float64)
    mean = xd.mean(axis=(1, 2, 3, 4), keepdims=True)
    var = xd.var(axis=(1, 2, 3, 4), keepdims=True)
    ref = (xd - mean) / np.sqrt(var + 1e-12) * gamma + beta
    np.testing.assert_allclose(to_numpy(layer(x)), ref, atol=1e-4)
    assert sorted(w.name for w in layer.weights) == ["beta", "gamma"]


def test_make_norm_by_name() -> None:
    assert isinstance(make_norm("IN"), InstanceNorm)
    assert make_norm("IN").name == "InstanceNorm"
    bn = make_norm("BN")
    assert isinstance(bn, keras.layers.BatchNormalization) and bn.name == "BatchNorm"
    assert make_norm("None") is None and make_norm(None) is None
    assert canonical_norm("none") == "None"
    with pytest.raises(ValueError, match="norm"):
        make_norm("LN")


def test_batch_norm_offset_only_and_runs() -> None:
    bn = make_norm("BN")
    x = np.random.default_rng(3).normal(size=(4, 3, 3, 5)).astype(np.float32)
    y = to_numpy(bn(x, training=True))
    assert y.shape == x.shape
    assert [w.name for w in bn.trainable_weights] == ["beta"]
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)


def test_instance_norm_get_config_round_trip() -> None:
    layer = InstanceNorm(epsilon=1e-3, name="x")
    clone = InstanceNorm.from_config(layer.get_config())
    assert clone.epsilon == 1e-3 and clone.name == "x"


# ---------------------------------------------------------------------------------------------
# The closed-form backward pass of `normalize` against finite differences of a numpy reference
# ---------------------------------------------------------------------------------------------
def _norm_ref64(x, gamma, beta, axes, eps):
    mean = x.mean(axis=tuple(axes), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=tuple(axes), keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    return y * (1.0 if gamma is None else gamma) + (0.0 if beta is None else beta)


def _fd_grads(f, arrays, h=1e-6):
    """Central differences of the scalar ``f(*arrays)`` (float64) for every array."""
    out = []
    for i, a in enumerate(arrays):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            plus = [b.copy() for b in arrays]
            minus = [b.copy() for b in arrays]
            plus[i][idx] += h
            minus[i][idx] -= h
            g[idx] = (f(*plus) - f(*minus)) / (2 * h)
        out.append(g)
    return out


def _backend_grads(f, arrays):
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        xs = [tf.constant(a) for a in arrays]
        with tf.GradientTape() as tape:
            tape.watch(xs)
            y = f(*xs)
        return [g.numpy() for g in tape.gradient(y, xs)]
    import jax

    return [np.asarray(g) for g in jax.grad(f, argnums=tuple(range(len(arrays))))(*arrays)]


@pytest.mark.parametrize("kind", ["instance", "instance_scaled", "layer"])
def test_normalize_gradient_matches_finite_differences(kind: str) -> None:
    from models.norms import normalize

    rng = np.random.default_rng(3)
    shape = (2, 3, 4, 2)
    x = (rng.normal(size=shape) * 2 + 0.5).astype(np.float32)
    w = rng.normal(size=shape).astype(np.float32)  # a random linear read-out of the output
    beta = rng.normal(size=shape[-1]).astype(np.float32)
    gamma = (rng.normal(size=shape[-1]) + 1.0).astype(np.float32)
    axes = [1, 2, 3] if kind == "layer" else [1, 2]
    eps = 1e-5
    if kind == "instance":
        arrays = [x, beta]

        def ours(x, beta):
            return keras.ops.sum(normalize(x, axes, eps, beta=beta) * w)

        def ref(x, beta):
            return float((_norm_ref64(x, None, beta, axes, eps) * w).sum())
    else:
        arrays = [x, gamma, beta]

        def ours(x, gamma, beta):
            return keras.ops.sum(normalize(x, axes, eps, gamma=gamma, beta=beta) * w)

        def ref(x, gamma, beta):
            return float((_norm_ref64(x, gamma, beta, axes, eps) * w).sum())

    got = _backend_grads(ours, arrays)
    want = _fd_grads(ref, [a.astype(np.float64) for a in arrays])
    for g, r in zip(got, want, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-3, atol=1e-3)
    value = float(keras.ops.convert_to_numpy(ours(*arrays)))
    assert value == pytest.approx(ref(*[a.astype(np.float64) for a in arrays]), rel=1e-5)


@pytest.mark.parametrize("fast", ["1", "0"])
def test_instance_norm_output_dtype(fast: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """float32 and bfloat16 inputs keep their dtype (a bfloat16 convolution's output is
    normalised as it is: no cast pass; statistics in float32 either way); float64 arrays are
    taken as float32. Fused kernel (TensorFlow) and portable path alike."""
    monkeypatch.setenv("LSM_FAST_OPS", fast)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 4, 5, 3)) * 3 + 100.0
    layer = InstanceNorm()
    y32 = to_numpy(layer(x.astype(np.float32)))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, _instance_norm_ref(x.astype(np.float32), np.zeros(3)),
                               atol=1e-3)
    np.testing.assert_allclose(to_numpy(layer(x)), y32, atol=1e-4)
    y16 = to_numpy(layer(keras.ops.cast(x, "bfloat16")))
    assert str(y16.dtype) == "bfloat16"
    x16 = to_numpy(keras.ops.cast(keras.ops.cast(x, "bfloat16"), "float32"))
    np.testing.assert_allclose(y16.astype(np.float32), _instance_norm_ref(x16, np.zeros(3)),
                               atol=0.03)
