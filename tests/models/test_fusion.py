"""The fusers (models/fusion): the registry and its contract for every registered fuser, the
release ConvGRU / ConvLSTM against numpy references of the paper's equations, the new fusers
against numpy, and the fast forms (ops/recurrent.py) against the plain equations."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

from models.fusion import FUSERS, OPTIONS, make_fuser, register_fuser
from models.fusion.gru import ConvGRU
from models.fusion.lstm import ConvLSTM
from models.precision import precision
from tests.models._helpers import run, to_numpy

SEQ = (2, 3, 4, 4, 4, 3)  # [B, V, D, H, W, C]


def _seq(seed: int = 0, shape: tuple[int, ...] = SEQ) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _randomise(layer: keras.layers.Layer, seed: int = 1) -> None:
    """Every weight random (layer norm gammas and betas, biases too), so that no weight can
    be left out of a computation unnoticed."""
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        scale = 0.3 if len(w.shape) > 1 else 1.0
        w.assign((rng.normal(size=w.shape) * scale).astype("float32"))


def _built(name: str, filters: int = 3, **kwargs: Any) -> keras.layers.Layer:
    layer = make_fuser(name, filters=filters, **kwargs)
    layer.build(SEQ)
    _randomise(layer)
    return layer


# -- numpy references --------------------------------------------------------------------------


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
                out += np.einsum("bdhwc,co->bdhwo", xp[:, i:i + d, j:j + h, m:m + wd], w[i, j, m])
    return out


def _ln(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-12) * gamma + beta


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _w(layer: keras.layers.Layer) -> dict[str, np.ndarray]:
    """The layer's weights by path below the layer's own scope."""
    return {w.path.split("/", 1)[1]: to_numpy(w) for w in layer.weights}


def _gru_ref(layer: ConvGRU, seq: np.ndarray) -> np.ndarray:
    """The paper's ConvGRU over the views from h = 0 (release layer norms)."""
    w = _w(layer)
    f = layer.filters
    g = "ConvGRUCell/Gates/"
    o = "ConvGRUCell/Output/"
    h = np.zeros((*seq.shape[:1], *seq.shape[2:-1], f))
    out = []
    for v in range(seq.shape[1]):
        x = seq[:, v]
        pre = _conv3d_same(np.concatenate([x, h], -1), w[g + "kernel"])
        r = _sigmoid(_ln(pre[..., :f], w[g + "LayerNorm/gamma"], w[g + "LayerNorm/beta"]))
        u = _sigmoid(_ln(pre[..., f:], w[g + "LayerNorm_1/gamma"], w[g + "LayerNorm_1/beta"]))
        c = np.tanh(_ln(_conv3d_same(np.concatenate([x, r * h], -1), w[o + "kernel"]),
                        w[o + "LayerNorm/gamma"], w[o + "LayerNorm/beta"]))
        h = u * h + (1 - u) * c
        out.append(h)
    return np.stack(out, 1)


def _lstm_ref(layer: ConvLSTM, seq: np.ndarray) -> np.ndarray:
    """The paper's ConvLSTM over the views from m = h = 0 (release layer norms)."""
    w = _w(layer)
    ln = [(w[f"ConvLSTMCell/{n}/gamma"], w[f"ConvLSTMCell/{n}/beta"])
          for n in ("LayerNorm", "LayerNorm_1", "LayerNorm_2", "LayerNorm_3", "LayerNorm_4")]
    m = h = np.zeros((*seq.shape[:1], *seq.shape[2:-1], layer.filters))
    out = []
    for v in range(seq.shape[1]):
        y = _conv3d_same(np.concatenate([seq[:, v], h], -1), w["ConvLSTMCell/kernel"])
        j, i, f, o = (_ln(t, *ln[n]) for n, t in enumerate(np.split(y, 4, axis=-1)))
        m = _ln(m * _sigmoid(f + 1.0) + _sigmoid(i) * np.tanh(j), *ln[4])
        h = np.tanh(m) * _sigmoid(o)
        out.append(h)
    return np.stack(out, 1)


def _projection(layer: keras.layers.Layer, seq: np.ndarray) -> np.ndarray:
    """``x_t * W + b`` of every view, ``[B, V, D, H, W, O]``."""
    w = _w(layer)
    flat = seq.reshape(-1, *seq.shape[2:])
    y = _conv3d_same(flat, w["kernel"]) + w["bias"]
    return y.reshape(*seq.shape[:2], *y.shape[1:])


# -- the registry and the contract --------------------------------------------------------------


def test_registry_holds_the_release_cells_and_the_new_fusers() -> None:
    assert {"gru", "lstm", "mean", "max", "attention"} <= set(FUSERS)
    for name, cls in FUSERS.items():
        assert issubclass(cls, keras.layers.Layer) and cls.fuser_name == name


def test_register_rejects_a_taken_name_and_a_non_layer() -> None:
    with pytest.raises(ValueError, match="taken"):
        @register_fuser("gru")
        class Other(keras.layers.Layer):
            pass
    with pytest.raises(ValueError, match="not a keras.layers.Layer"):
        register_fuser("thing")(object)
    assert "thing" not in FUSERS


def test_make_fuser_passes_only_the_options_a_fuser_declares() -> None:
    gru = make_fuser("gru", filters=5, kernel_size=1, layer_norm=False, constant_channels=1,
                     name="rnn")
    assert (gru.filters, gru.kernel_size, gru.layer_norm, gru.constant_channels) == (5, 1, False,
                                                                                      1)
    assert gru.name == "rnn"
    mean = make_fuser("mean", filters=5, kernel_size=1, layer_norm=False, constant_channels=1)
    assert (mean.filters, mean.kernel_size) == (5, 1)
    assert set(OPTIONS) == {"kernel_size", "layer_norm", "constant_channels"}
    with pytest.raises(ValueError, match="unknown fuser 'gruu'.*gru"):
        make_fuser("gruu", filters=5)


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("name", sorted(FUSERS))
def test_contract_shape_dtype_and_prefix_causality(name: str, dtype: str) -> None:
    """``[B, V, D, H, W, C]`` -> ``[B, V, D, H, W, F]`` for float32 and bfloat16 inputs, and
    output v depends on views 0..v only: changing view k changes no output before k and some
    output at k."""
    layer = _built(name, filters=5)
    seq = _seq(2)
    x = keras.ops.cast(seq, dtype)
    out = to_numpy(keras.ops.cast(run(layer, x), "float32"))
    assert out.shape == (*SEQ[:-1], 5)
    assert np.all(np.isfinite(out))
    for k in range(SEQ[1]):
        changed = seq.copy()
        changed[:, k] = _seq(10 + k, changed[:, k].shape)
        out2 = to_numpy(keras.ops.cast(run(layer, keras.ops.cast(changed, dtype)), "float32"))
        np.testing.assert_array_equal(out2[:, :k], out[:, :k], err_msg=f"view {k}")
        assert np.abs(out2[:, k] - out[:, k]).max() > 1e-3, f"view {k} changes nothing"


# -- the release cells against the paper's equations --------------------------------------------


@pytest.mark.parametrize("fast", ["1", "0"])
def test_gru_matches_the_equations(fast: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSM_FAST_OPS", fast)
    layer = _built("gru", filters=3)
    seq = _seq(3)
    np.testing.assert_allclose(to_numpy(layer(seq)), _gru_ref(layer, seq), atol=2e-5)


@pytest.mark.parametrize("fast", ["1", "0"])
def test_lstm_matches_the_equations(fast: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSM_FAST_OPS", fast)
    layer = _built("lstm", filters=3)
    seq = _seq(4)
    np.testing.assert_allclose(to_numpy(layer(seq)), _lstm_ref(layer, seq), atol=2e-5)


def test_release_variable_paths() -> None:
    gru = make_fuser("gru", filters=32, name="rnn")
    gru.build((None, 4, 32, 32, 32, 33))
    assert [(w.path, tuple(w.shape)) for w in gru.weights] == [
        ("rnn/ConvGRUCell/Gates/kernel", (3, 3, 3, 65, 64)),
        ("rnn/ConvGRUCell/Gates/LayerNorm/beta", (32,)),
        ("rnn/ConvGRUCell/Gates/LayerNorm/gamma", (32,)),
        ("rnn/ConvGRUCell/Gates/LayerNorm_1/beta", (32,)),
        ("rnn/ConvGRUCell/Gates/LayerNorm_1/gamma", (32,)),
        ("rnn/ConvGRUCell/Output/kernel", (3, 3, 3, 65, 32)),
        ("rnn/ConvGRUCell/Output/LayerNorm/beta", (32,)),
        ("rnn/ConvGRUCell/Output/LayerNorm/gamma", (32,)),
    ]
    lstm = make_fuser("lstm", filters=3, name="rnn")
    lstm.build((None, 2, 3, 3, 3, 2))
    assert [w.path for w in lstm.weights] == ["rnn/ConvLSTMCell/kernel"] + [
        f"rnn/ConvLSTMCell/{n}/{p}" for n in ("LayerNorm", "LayerNorm_1", "LayerNorm_2",
                                              "LayerNorm_3", "LayerNorm_4")
        for p in ("beta", "gamma")]
    assert tuple(lstm.weights[0].shape) == (3, 3, 3, 5, 12)


def test_gru_without_layer_norm_has_biases_gates_one_candidate_zero() -> None:
    gru = make_fuser("gru", filters=4, layer_norm=False)
    gru.build((None, 2, 4, 4, 4, 3))
    w = _w(gru)
    assert sorted(w) == ["ConvGRUCell/Gates/bias", "ConvGRUCell/Gates/kernel",
                         "ConvGRUCell/Output/bias", "ConvGRUCell/Output/kernel"]
    np.testing.assert_array_equal(w["ConvGRUCell/Gates/bias"], 1.0)
    np.testing.assert_array_equal(w["ConvGRUCell/Output/bias"], 0.0)


# -- the new fusers against numpy ---------------------------------------------------------------


def test_mean_and_max_pool_the_projections_of_the_views_so_far() -> None:
    seq = _seq(5)
    for name in ("mean", "max"):
        layer = _built(name, filters=4)
        y = np.maximum(_projection(layer, seq), 0.0)
        ref = [y[:, :v + 1].mean(1) if name == "mean" else y[:, :v + 1].max(1)
               for v in range(SEQ[1])]
        np.testing.assert_allclose(to_numpy(layer(seq)), np.stack(ref, 1), atol=1e-5,
                                   err_msg=name)


def test_mean_is_invariant_to_the_order_of_the_views() -> None:
    layer = _built("mean", filters=4)
    seq = _seq(6)
    a = to_numpy(layer(seq))[:, -1]
    b = to_numpy(layer(seq[:, ::-1].copy()))[:, -1]
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_attention_is_a_softmax_over_the_views_so_far() -> None:
    layer = _built("attention", filters=4)
    seq = _seq(7)
    y = _projection(layer, seq)
    values, scores = np.maximum(y[..., :-1], 0.0), y[..., -1:] * 10.0  # large scores
    layer.kernel.assign(layer.kernel * np.r_[np.ones(4), 10.0].astype(np.float32))
    layer.bias.assign(layer.bias * np.r_[np.ones(4), 10.0].astype(np.float32))
    ref = []
    for v in range(SEQ[1]):
        e = np.exp(scores[:, :v + 1] - scores[:, :v + 1].max(1, keepdims=True))
        ref.append((e / e.sum(1, keepdims=True) * values[:, :v + 1]).sum(1))
    np.testing.assert_allclose(to_numpy(layer(seq)), np.stack(ref, 1), atol=1e-4)


# -- the fast forms (ops/recurrent.py) against the plain equations ------------------------------


def _value_and_grads(layer: keras.layers.Layer, seq: np.ndarray, weight: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """``y = layer(seq)``, and the gradients of ``sum(y * weight)`` with respect to ``seq``
    and to every trainable weight, on the active backend."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        x = tf.constant(seq)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * weight)
        gx, *gw = tape.gradient(loss, [x, *layer.trainable_variables])
        return to_numpy(y), to_numpy(gx), [to_numpy(g) for g in gw]
    import jax

    ntv = [v.value for v in layer.non_trainable_variables]

    def f(x: Any, tv: list[Any]) -> Any:
        y, _ = layer.stateless_call(tv, ntv, x)
        return (y * weight).sum(), y

    (_, y), (gx, gw) = jax.jit(jax.value_and_grad(f, argnums=(0, 1), has_aux=True))(
        seq, [v.value for v in layer.trainable_variables])
    return to_numpy(y), to_numpy(gx), [to_numpy(g) for g in gw]


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("constant", [0, 1])
@pytest.mark.parametrize("layer_norm", [True, False])
@pytest.mark.parametrize("name", ["gru", "lstm"])
def test_fast_form_equals_the_equations_in_value_and_gradient(
        name: str, layer_norm: bool, constant: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast form (zero-state shortcut, inputs projected apart, views first, the constant
    channels convolved without an input gradient) against the plain loop of the equations:
    the outputs, the input's gradient (zero for the constant channels in both) and every
    weight's gradient (those of the gate the shortcut leaves out at the first view too)."""
    layer = _built(name, filters=3, layer_norm=layer_norm, constant_channels=constant)
    seq = _seq(8)
    weight = _seq(9, (*SEQ[:-1], 3))
    monkeypatch.setenv("LSM_FAST_OPS", "1")
    fast = _value_and_grads(layer, seq, weight)
    monkeypatch.setenv("LSM_FAST_OPS", "0")
    plain = _value_and_grads(layer, seq, weight)
    np.testing.assert_allclose(fast[0], plain[0], atol=1e-5)
    np.testing.assert_allclose(fast[1], plain[1], atol=1e-4)
    if constant:
        assert np.all(fast[1][..., -1] == 0.0) and np.all(plain[1][..., -1] == 0.0)
    assert np.abs(plain[1][..., 0]).max() > 1e-3
    for v, g, r in zip(layer.trainable_variables, fast[2], plain[2], strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4, err_msg=v.path)
        assert np.abs(r).max() > 0, v.path


@pytest.mark.parametrize("name", ["gru", "lstm"])
def test_bfloat16_fast_form_tracks_float32(name: str) -> None:
    seq = _seq(11)
    ref = _built(name, filters=4)
    with precision("bfloat16"):
        low = make_fuser(name, filters=4)
    low.build(SEQ)
    for a, b in zip(ref.weights, low.weights, strict=True):
        b.assign(a)
    a, b = to_numpy(ref(seq)), to_numpy(low(seq))
    assert b.dtype == np.float32
    assert 1e-5 < np.abs(a - b).max() < 0.05


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("fast", ["1", "0"])
def test_constant_channels_change_no_value_and_stop_only_their_gradient(
        fast: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The depth channel declared constant (``constant_channels=1``, as the LSM trunk does):
    the same outputs, the same gradients for the other channels and every weight, and no
    gradient for itself (which it has when not declared)."""
    monkeypatch.setenv("LSM_FAST_OPS", fast)
    seq = _seq(12)
    weight = _seq(13, (*SEQ[:-1], 3))
    results = []
    for constant in (0, 1):
        layer = make_fuser("gru", filters=3, constant_channels=constant)
        layer.build(SEQ)
        _randomise(layer)
        results.append(_value_and_grads(layer, seq, weight))
    (y0, gx0, gw0), (y1, gx1, gw1) = results
    np.testing.assert_allclose(y1, y0, atol=1e-5)
    np.testing.assert_allclose(gx1[..., :-1], gx0[..., :-1], atol=1e-5)
    assert np.abs(gx0[..., -1]).max() > 1e-3  # the depth channel has a gradient ...
    assert np.all(gx1[..., -1] == 0.0)  # ... unless declared constant
    for a, b in zip(gw0, gw1, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
