"""ConvGRU3D / ConvLSTM3D against numpy loop references; run_over_views; release shapes."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

from models.conv_rnns import ConvGRU3D, ConvLSTM3D, ConvRNN3D, run_over_views
from tests.models._helpers import loss_and_grads, run, to_numpy


def _conv3d_same(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Stride-1 "same" 3D conv, odd kernel, as an explicit loop over kernel offsets."""
    k = w.shape[0]
    p = k // 2
    xp = np.pad(x.astype(np.float64), ((0, 0), (p, p), (p, p), (p, p), (0, 0)))
    _, d, h, wd, _ = x.shape
    out = np.zeros((*x.shape[:-1], w.shape[-1]))
    for i in range(k):
        for j in range(k):
            for m in range(k):
                out += np.einsum(
                    "bdhwc,co->bdhwo", xp[:, i : i + d, j : j + h, m : m + wd], w[i, j, m]
                )
    return out


def _ln(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * gamma + beta


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _randomise(layer, rng: np.random.Generator) -> None:
    for w in layer.weights:
        w.assign((rng.normal(size=w.shape) * (0.3 if len(w.shape) > 1 else 1.0)).astype("float32"))


def _gru_ref(cell: ConvGRU3D, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    f = cell.filters
    ln = [(to_numpy(n.gamma), to_numpy(n.beta)) for n in (*cell.gates.norms, *cell.candidate.norms)]
    g = _conv3d_same(np.concatenate([x, h], -1), to_numpy(cell.gates.kernel))
    r = _sigmoid(_ln(g[..., :f], *ln[0]))
    u = _sigmoid(_ln(g[..., f:], *ln[1]))
    c = np.tanh(
        _ln(_conv3d_same(np.concatenate([x, r * h], -1), to_numpy(cell.candidate.kernel)), *ln[2])
    )
    return u * h + (1 - u) * c


def test_gru_release_variables() -> None:
    cell = ConvGRU3D()
    cell.build((None, 32, 32, 32, 33))
    assert [(w.path, tuple(w.shape)) for w in cell.weights] == [
        ("ConvGRUCell/Gates/kernel", (3, 3, 3, 65, 64)),
        ("ConvGRUCell/Gates/LayerNorm/beta", (32,)),
        ("ConvGRUCell/Gates/LayerNorm/gamma", (32,)),
        ("ConvGRUCell/Gates/LayerNorm_1/beta", (32,)),
        ("ConvGRUCell/Gates/LayerNorm_1/gamma", (32,)),
        ("ConvGRUCell/Output/kernel", (3, 3, 3, 65, 32)),
        ("ConvGRUCell/Output/LayerNorm/beta", (32,)),
        ("ConvGRUCell/Output/LayerNorm/gamma", (32,)),
    ]


def test_gru_steps_match_numpy() -> None:
    rng = np.random.default_rng(0)
    cell = ConvGRU3D(filters=4)
    x = rng.normal(size=(2, 3, 4, 5, 3)).astype(np.float32)
    cell.build(x.shape)
    _randomise(cell, rng)
    h = np.zeros((2, 3, 4, 5, 4), np.float32)
    out, state = cell(x, h)
    ref = _gru_ref(cell, x, h)
    np.testing.assert_allclose(to_numpy(out), ref, atol=1e-4)
    np.testing.assert_allclose(to_numpy(state), ref, atol=1e-4)
    h1 = rng.normal(size=h.shape).astype(np.float32)
    np.testing.assert_allclose(to_numpy(cell(x, h1)[0]), _gru_ref(cell, x, h1), atol=1e-4)


def test_gru_without_layer_norm_has_biases() -> None:
    cell = ConvGRU3D(filters=4, layer_norm=False)
    cell.build((None, 4, 4, 4, 3))
    names = {w.path: to_numpy(w) for w in cell.weights}
    np.testing.assert_array_equal(names["ConvGRUCell/Gates/bias"], 1.0)
    np.testing.assert_array_equal(names["ConvGRUCell/Output/bias"], 0.0)
    x = np.ones((1, 4, 4, 4, 3), np.float32)
    assert tuple(cell(x, np.zeros((1, 4, 4, 4, 4), np.float32))[0].shape) == (1, 4, 4, 4, 4)


def test_lstm_step_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    cell = ConvLSTM3D(filters=3)
    x = rng.normal(size=(2, 3, 3, 3, 2)).astype(np.float32)
    cell.build(x.shape)
    _randomise(cell, rng)
    m = rng.normal(size=(2, 3, 3, 3, 3)).astype(np.float32)
    h = rng.normal(size=m.shape).astype(np.float32)
    out, (m_new, h_new) = cell(x, (m, h))
    ln = [(to_numpy(n.gamma), to_numpy(n.beta)) for n in cell.norms]
    y = _conv3d_same(np.concatenate([x, h], -1), to_numpy(cell.kernel))
    j, i, f, o = (_ln(t, *ln[n]) for n, t in enumerate(np.split(y, 4, axis=-1)))
    m_ref = _ln(m * _sigmoid(f + 1.0) + _sigmoid(i) * np.tanh(j), *ln[4])
    h_ref = np.tanh(m_ref) * _sigmoid(o)
    np.testing.assert_allclose(to_numpy(m_new), m_ref, atol=1e-4)
    np.testing.assert_allclose(to_numpy(out), h_ref, atol=1e-4)
    np.testing.assert_allclose(to_numpy(h_new), h_ref, atol=1e-4)
    assert [w.path for w in cell.weights][:3] == [
        "ConvLSTMCell/kernel",
        "ConvLSTMCell/LayerNorm/beta",
        "ConvLSTMCell/LayerNorm/gamma",
    ]
    assert tuple(cell.kernel.shape) == (3, 3, 3, 5, 12)


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_run_over_views_matches_step_loop(rnn: str) -> None:
    rng = np.random.default_rng(2)
    layer = ConvRNN3D(rnn, filters=3)
    seq = rng.normal(size=(2, 4, 3, 3, 3, 2)).astype(np.float32)
    out = to_numpy(run(layer, seq))
    assert out.shape == (2, 4, 3, 3, 3, 3)
    state = layer.cell.initial_state(seq[:, 0])
    for v in range(4):
        y, state = layer.cell(seq[:, v], state)
        np.testing.assert_allclose(out[:, v], to_numpy(y), atol=1e-5)
    np.testing.assert_allclose(to_numpy(run_over_views(layer.cell, seq)), out, atol=1e-6)


class _Views(keras.layers.Layer):
    """A cell over the views of ``[B, V, ...]``: :func:`run_over_views` (``loop=False``), or one
    ``cell(x, state)`` call at a time from an explicit zero state (``loop=True``: every gate
    and state convolution computed, as the release does)."""

    def __init__(self, cell: ConvGRU3D | ConvLSTM3D, loop: bool) -> None:
        super().__init__()
        self.cell, self.loop = cell, loop

    def call(self, seq: Any, training: bool | None = None) -> Any:
        if not self.loop:
            return run_over_views(self.cell, seq)
        state = self.cell.initial_state(seq[:, 0])
        outs = []
        for v in range(seq.shape[1]):
            y, state = self.cell(seq[:, v], state)
            outs.append(y)
        return keras.ops.stack(outs, axis=1)


@pytest.mark.parametrize("layer_norm", [True, False])
@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_zero_state_shortcut_keeps_values_and_gradients(rnn: str, layer_norm: bool) -> None:
    """From the zero state ``run_over_views`` skips the state's convolutions and the gate that
    only multiplies the state (GRU reset, LSTM forget) for the first view; its outputs and the
    gradients of every weight (the skipped gate's too, which get theirs from later views)
    equal the full step loop's."""
    rng = np.random.default_rng(4)
    layer = ConvRNN3D(rnn, filters=3, layer_norm=layer_norm)
    seq = rng.normal(size=(2, 3, 3, 3, 3, 2)).astype(np.float32)
    run(layer, seq)
    _randomise(layer.cell, rng)
    weight = keras.ops.convert_to_tensor(rng.normal(size=(2, 3, 3, 3, 3, 3)).astype(np.float32))

    def loss_fn(out: Any) -> Any:
        return keras.ops.sum(out * weight)

    fast, loop = _Views(layer.cell, loop=False), _Views(layer.cell, loop=True)
    np.testing.assert_allclose(to_numpy(run(fast, seq)), to_numpy(run(loop, seq)), atol=1e-5)
    loss, grads = loss_and_grads(fast, seq, loss_fn)
    loss_ref, grads_ref = loss_and_grads(loop, seq, loss_fn)
    assert [v.path for v in fast.trainable_variables] == [v.path for v in loop.trainable_variables]
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-5)
    for v, g, r in zip(fast.trainable_variables, grads, grads_ref, strict=True):
        assert g is not None and r is not None, v.path
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4, err_msg=v.path)
        assert np.abs(r).max() > 0, v.path


def test_run_over_views_is_causal_and_starts_from_zero() -> None:
    rng = np.random.default_rng(3)
    layer = ConvRNN3D("gru", filters=3)
    seq = rng.normal(size=(1, 3, 3, 3, 3, 2)).astype(np.float32)
    out = to_numpy(run(layer, seq))
    seq2 = seq.copy()
    seq2[:, 2] = rng.normal(size=seq2[:, 2].shape)
    out2 = to_numpy(run(layer, seq2))
    np.testing.assert_allclose(out[:, :2], out2[:, :2], atol=1e-6)
    assert np.abs(out[:, 2] - out2[:, 2]).max() > 1e-3
    zero = np.zeros((1, 3, 3, 3, 3), np.float32)
    np.testing.assert_allclose(out[:, 0], to_numpy(layer.cell(seq[:, 0], zero)[0]), atol=1e-6)


def test_config_round_trip_and_errors() -> None:
    layer = ConvRNN3D("lstm", filters=5, kernel_size=3, layer_norm=False)
    clone = ConvRNN3D.from_config(layer.get_config())
    assert (clone.rnn, clone.filters, clone.layer_norm) == ("lstm", 5, False)
    with pytest.raises(ValueError, match="rnn"):
        ConvRNN3D("rnn")
