"""ConvUnit: shapes, weight names/layouts, and the TF "same" padding conventions on any backend."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models.layers import ConvUnit, conv3d, conv3d_impl, conv3d_transpose, resize_conv
from tests.models._helpers import to_numpy


@pytest.mark.parametrize(
    ("kind", "rank", "k", "s", "in_shape", "out_shape"),
    [
        ("conv", 2, 5, 2, (2, 16, 12, 3), (2, 8, 6, 7)),
        ("conv", 3, 4, 2, (1, 8, 8, 8, 3), (1, 4, 4, 4, 7)),
        ("deconv", 2, 3, 2, (2, 4, 6, 3), (2, 8, 12, 7)),
        ("deconv", 3, 4, 2, (1, 4, 4, 4, 3), (1, 8, 8, 8, 7)),
        ("deconv", 3, 4, 1, (1, 4, 4, 4, 3), (1, 4, 4, 4, 7)),
        ("sepconv", 2, 3, 1, (2, 5, 5, 6), (2, 5, 5, 7)),
        ("resize_conv", 2, 3, 2, (2, 5, 4, 3), (2, 10, 8, 7)),
    ],
)
def test_shapes(kind: str, rank: int, k: int, s: int, in_shape: tuple, out_shape: tuple) -> None:
    unit = ConvUnit(7, k, kind, rank, s, "IN")
    x = np.random.default_rng(0).normal(size=in_shape).astype(np.float32)
    y = unit(x)
    assert tuple(y.shape) == out_shape
    assert unit.compute_output_shape(in_shape) == out_shape


@pytest.mark.slow_on_jax
def test_weight_names_and_layouts() -> None:
    conv = ConvUnit(8, 3, "conv", 2, 2, "IN")
    conv.build((None, 8, 8, 5))
    assert {w.name: tuple(w.shape) for w in conv.weights} == {"weights": (3, 3, 5, 8), "bias": (8,)}
    assert conv.norm_layer.name == "InstanceNorm"
    deconv = ConvUnit(8, 4, "deconv", 3, 2, "None")
    deconv.build((None, 4, 4, 4, 5))
    assert {w.name: tuple(w.shape) for w in deconv.weights} == {
        "weights": (4, 4, 4, 8, 5),
        "bias": (8,),
    }  # [k, k, k, out, in], as TF1
    sep = ConvUnit(8, 3, "sepconv", 2, 1, "IN")
    sep.build((None, 8, 8, 5))
    assert [(w.name, tuple(w.shape)) for w in sep.weights] == [
        ("depth_weights", (3, 3, 5, 1)),
        ("pt_weights", (1, 1, 5, 8)),
        ("bias", (8,)),
    ]


def _same_conv2d_ref(x: np.ndarray, w: np.ndarray, s: int) -> np.ndarray:
    """TF "SAME": output ceil(n/s); total padding split with the extra pixel at the end."""
    b, h, wd, _ = x.shape
    k = w.shape[0]
    oh, ow = -(-h // s), -(-wd // s)
    pad_h = max((oh - 1) * s + k - h, 0)
    pad_w = max((ow - 1) * s + k - wd, 0)
    xp = np.pad(
        x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
    )
    out = np.zeros((b, oh, ow, w.shape[-1]))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * s : i * s + k, j * s : j * s + k, :]
            out[:, i, j] = np.einsum("bhwc,hwco->bo", patch, w)
    return out


@pytest.mark.parametrize(("k", "s"), [(4, 2), (3, 2), (5, 1), (4, 1)])
def test_conv_same_padding_is_tf_convention(k: int, s: int) -> None:
    rng = np.random.default_rng(k * 10 + s)
    x = rng.normal(size=(1, 8, 8, 2)).astype(np.float32)
    unit = ConvUnit(3, k, "conv", 2, s, "None", pre_activation=False)
    unit.build(x.shape)
    np.testing.assert_allclose(
        to_numpy(unit(x)), _same_conv2d_ref(x, to_numpy(unit.kernel), s), atol=1e-4
    )


@pytest.mark.parametrize(("k", "s"), [(4, 2), (3, 2), (5, 1), (4, 1)])
def test_deconv_is_adjoint_of_same_conv(k: int, s: int) -> None:
    """TF1's conv2d_transpose(SAME) is the gradient of conv2d(SAME) with the same kernel."""
    rng = np.random.default_rng(k + s)
    n = 4
    unit = ConvUnit(3, k, "deconv", 2, s, "None", pre_activation=False)
    unit.build((1, n, n, 2))
    w = to_numpy(unit.kernel)  # [k, k, out=3, in=2]
    y = rng.normal(size=(1, n, n, 2)).astype(np.float32)
    x = rng.normal(size=(1, n * s, n * s, 3)).astype(np.float32)
    lhs = np.sum(to_numpy(unit(y)) * x)
    rhs = np.sum(y * _same_conv2d_ref(x, w, s))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-4)


def test_resize_conv_repeats_pixels() -> None:
    unit = ConvUnit(1, 1, "resize_conv", 2, 2, "None", pre_activation=False)
    unit.build((1, 2, 2, 1))
    unit.kernel.assign(np.ones((1, 1, 1, 1), np.float32))
    x = np.arange(4, dtype=np.float32).reshape(1, 2, 2, 1)
    expected = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]], np.float32)
    np.testing.assert_array_equal(to_numpy(unit(x))[0, ..., 0], expected)


@pytest.mark.parametrize(("k", "s"), [(3, 2), (3, 3), (5, 2), (1, 2), (3, 1), (4, 2)])
def test_resize_conv_matches_repeat_then_conv(k: int, s: int) -> None:
    """The sub-pixel form against numpy: repeat pixels, then a "same" correlation; values and
    both gradients (the adjoint identity <J dx, g> = <dx, J^T g> by autodiff)."""
    rng = np.random.default_rng(10 * k + s)
    x = rng.normal(size=(2, 5, 4, 3)).astype(np.float32)
    w = rng.normal(size=(k, k, 3, 2)).astype(np.float32)
    up = np.repeat(np.repeat(x, s, axis=1), s, axis=2)
    want = _same_conv2d_ref(up, w, 1)
    got = to_numpy(resize_conv(x, w, s))
    assert got.shape == (2, 5 * s, 4 * s, 2)
    np.testing.assert_allclose(got, want, atol=1e-4)
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    g = rng.normal(size=want.shape).astype(np.float32)
    xt, wt = tf.constant(x), tf.constant(w)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([xt, wt])
        fast = tf.reduce_sum(resize_conv(xt, wt, s) * g)
        ref = tf.reduce_sum(tf.nn.conv2d(tf.repeat(tf.repeat(xt, s, 1), s, 2), wt, 1, "SAME") * g)
    for a, b in zip(tape.gradient(fast, [xt, wt]), tape.gradient(ref, [xt, wt]), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-3)


def test_resize_conv_bfloat16_close_to_float32() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 6, 6, 8)).astype(np.float32)
    w = rng.normal(size=(3, 3, 8, 4)).astype(np.float32)
    want = _same_conv2d_ref(np.repeat(np.repeat(x, 2, axis=1), 2, axis=2), w, 1)
    got = to_numpy(resize_conv(x, w, 2, "bfloat16"))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=0.02 * np.abs(want).max())


def test_pre_activation_relu() -> None:
    x = -np.ones((1, 4, 4, 2), np.float32)
    unit = ConvUnit(3, 3, "conv", 2, 1, "None")
    np.testing.assert_array_equal(to_numpy(unit(x)), 0.0)  # relu(-1) = 0, zero bias
    no_act = ConvUnit(3, 3, "conv", 2, 1, "None", pre_activation=False)
    assert np.abs(to_numpy(no_act(x))).max() > 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kind"):
        ConvUnit(3, 3, "dilated")
    with pytest.raises(ValueError, match="2D only"):
        ConvUnit(3, 3, "sepconv", 3)
    with pytest.raises(ValueError, match="rank"):
        ConvUnit(3, 3, "conv", 2).build((1, 4, 4, 4, 2))


def test_get_config_round_trip() -> None:
    unit = ConvUnit(5, 4, "deconv", 3, 2, "BN", pre_activation=False, name="deconv9")
    clone = ConvUnit.from_config(unit.get_config())
    assert clone.get_config() == unit.get_config()
    assert isinstance(clone.norm_layer, keras.layers.BatchNormalization)


@pytest.mark.parametrize(("k", "s", "d"), [(4, 2, 6), (3, 1, 5), (4, 1, 4), (3, 2, 5), (5, 2, 4)])
def test_conv3d_2d_decomposition_matches_native(k: int, s: int, d: int) -> None:
    rng = np.random.default_rng(k * 7 + s)
    x = rng.normal(size=(2, d, 5, 6, 3)).astype(np.float32)
    w = rng.normal(size=(k, k, k, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(
        to_numpy(conv3d(x, w, s, impl="2d")), to_numpy(conv3d(x, w, s, impl="native")), atol=1e-4
    )
    wt = rng.normal(size=(k, k, k, 4, 3)).astype(np.float32)
    native = to_numpy(conv3d_transpose(x, wt, s, impl="native"))
    assert native.shape == (2, d * s, 5 * s, 6 * s, 4)
    np.testing.assert_allclose(to_numpy(conv3d_transpose(x, wt, s, impl="2d")), native, atol=1e-4)


def test_conv3d_impl_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSM_CONV3D", "native")
    assert conv3d_impl() == "native"
    monkeypatch.setenv("LSM_CONV3D", "2d")
    assert conv3d_impl() == "2d"
    unit = ConvUnit(3, 4, "deconv", 3, 2, "IN")
    x = np.random.default_rng(0).normal(size=(1, 4, 4, 4, 2)).astype(np.float32)
    y_2d = to_numpy(unit(x))
    monkeypatch.setenv("LSM_CONV3D", "native")
    np.testing.assert_allclose(to_numpy(unit(x)), y_2d, atol=1e-4)
    monkeypatch.setenv("LSM_CONV3D", "auto")
    assert conv3d_impl() in ("native", "2d")
    with pytest.raises(ValueError, match="3D conv"):
        conv3d_impl("fft")


# ---------------------------------------------------------------------------------------------
# input_order, activated, and the low-precision 1x1 convolution as a matmul
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,k", [("sepconv", 3), ("conv", 1), ("conv", 3)])
def test_input_order_reads_permuted_channels_as_the_original_unit(kind: str, k: int) -> None:
    from models.layers import ConvUnit

    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 6, 6, 7)).astype(np.float32)
    order = rng.permutation(7).astype(np.int32)
    unit = ConvUnit(4, k, kind, 2, 1, "IN")
    unit.build(x.shape)
    want = to_numpy(unit(x))
    permuted = x[..., order]  # channel j of the new input is channel order[j] of x
    got = to_numpy(unit(permuted, input_order=order))
    np.testing.assert_allclose(got, want, atol=1e-5)
    # activated=True skips the unit's ReLU: the same as feeding relu(x) to a unit without one
    np.testing.assert_allclose(to_numpy(unit(np.maximum(x, 0), activated=True)), want,
                               atol=1e-5)


def test_pointwise_is_a_matmul_equal_to_the_convolution() -> None:
    from keras import ops

    from models.layers import pointwise

    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 5, 4, 16)).astype(np.float32)
    k = rng.normal(size=(1, 1, 16, 8)).astype(np.float32)
    want = np.einsum("bhwc,co->bhwo", x, k[0, 0])
    np.testing.assert_allclose(to_numpy(pointwise(x, k)), want, atol=1e-4)
    xb, kb = ops.cast(x, "bfloat16"), ops.cast(k, "bfloat16")
    got = to_numpy(ops.cast(pointwise(xb, kb), "float32"))
    conv = to_numpy(ops.cast(ops.conv(xb, kb, strides=1, padding="same"), "float32"))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, conv, rtol=2e-2, atol=5e-2)
    np.testing.assert_allclose(got, want, rtol=5e-2, atol=0.2)
