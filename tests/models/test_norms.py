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
