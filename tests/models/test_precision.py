"""Mixed precision (models/precision.py): what computes in low precision, what stays float32,
that a low-precision model is the same model (weights, checkpoints), and the choice of `auto`."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models import precision as P
from models.layers import ConvUnit
from models.lsm import build_model
from tests.models._helpers import SMALL, make_inputs, to_numpy


def test_default_is_float32_and_the_block_restores_it() -> None:
    assert P.conv_dtype() == "float32"
    with P.precision("bfloat16"):
        assert P.conv_dtype() == "bfloat16"
        with P.precision("float16"):
            assert P.conv_dtype() == "float16"
        assert P.conv_dtype() == "bfloat16"
    assert P.conv_dtype() == "float32"
    with pytest.raises(ValueError, match="precision must be one of"):
        with P.precision("int8"):
            pass
    assert P.conv_dtype() == "float32"


def _same_weights(src: keras.layers.Layer, dst: keras.layers.Layer) -> None:
    for a, b in zip(src.weights, dst.weights, strict=True):
        b.assign(a)


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("kind,rank", [("conv", 2), ("deconv", 2), ("sepconv", 2),
                                       ("conv", 3), ("deconv", 3)])
@pytest.mark.parametrize("norm", ["IN", "None"])
def test_conv_unit_computes_in_bfloat16(kind: str, rank: int, norm: str) -> None:
    """The convolution runs in bfloat16; a unit with instance norm returns bfloat16 (what the
    next convolution reads: no cast to float32 and back between them), one without returns
    float32 (the bias add and what follows: the networks' outputs)."""
    rng = np.random.default_rng(0)
    shape = (2, 8, 8, 6) if rank == 2 else (2, 8, 8, 8, 6)
    x = rng.normal(size=shape).astype(np.float32)
    ref = ConvUnit(5, 3, kind, rank, 2 if kind != "sepconv" else 1, norm, name="u")
    ref.build(shape)
    with P.precision("bfloat16"):
        low = ConvUnit(5, 3, kind, rank, 2 if kind != "sepconv" else 1, norm, name="u")
    low.build(shape)
    _same_weights(ref, low)
    assert low.conv_dtype == "bfloat16" and ref.conv_dtype == "float32"
    assert all(w.dtype == "float32" for w in low.weights)  # master weights stay float32
    y_ref, y_low = to_numpy(ref(x)), to_numpy(low(x))
    assert y_ref.dtype == np.float32
    assert str(y_low.dtype) == ("float32" if norm == "None" else "bfloat16")
    y_low = y_low.astype(np.float32)
    err = np.abs(y_low - y_ref).max()
    # bfloat16 has an 8-bit mantissa: differences of order 1e-2 on unit-variance outputs, and
    # not zero (the convolution really ran in bfloat16)
    assert 1e-5 < err < 0.1, err


@pytest.mark.slow_on_jax
def test_low_precision_model_has_the_release_variables() -> None:
    ref = build_model("vlsm", SMALL)
    with P.precision("bfloat16"):
        low = build_model("vlsm", SMALL)
    assert [(v.path, tuple(v.shape), v.dtype) for v in low.weights] == \
        [(v.path, tuple(v.shape), v.dtype) for v in ref.weights]
    for a, b in zip(ref.weights, low.weights, strict=True):
        b.assign(a)
    x = make_inputs(2, 2, size=SMALL["im_h"])
    y_ref, y_low = to_numpy(ref(x)), to_numpy(low(x))
    assert y_low.dtype == np.float32
    assert np.abs(y_low - y_ref).max() < 0.5 and np.abs(y_low - y_ref).max() > 0


def _casts_of_shape(fn, spec) -> list[str]:
    """Names of the TensorFlow Cast ops of ``fn``'s graph whose output has ``spec``'s shape."""
    import tensorflow as tf

    graph = tf.function(fn).get_concrete_function(spec).graph
    return [op.name for op in graph.get_operations()
            if op.type == "Cast" and op.outputs[0].shape == spec.shape]


def test_low_precision_rays_reach_the_depth_nets_convolution_uncast() -> None:
    """Rays already in the compute dtype (the D-LSM gathers them in bfloat16) are not cast to
    float32 and back on their way into the first convolution (Keras' autocast did that: four
    passes over the largest tensor of a D-LSM step, forward and backward). Float32 rays are
    cast once, to bfloat16."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("inspects a TensorFlow graph")
    import tensorflow as tf

    from models.depth_nets import DepthNet

    with P.precision("bfloat16"):
        net = DepthNet(proj_x=4, sepup=True, im_skip=False, channels=2)
    shape = (2, 8, 8, 24)
    net.build(shape)
    assert _casts_of_shape(net, tf.TensorSpec(shape, tf.bfloat16)) == []
    casts = _casts_of_shape(net, tf.TensorSpec(shape, tf.float32))
    assert len(casts) == 1 and "conv1" in casts[0]


def test_conv_unit_still_takes_float64_arrays() -> None:
    """Without Keras' autocast, other float inputs are cast to float32 by the unit itself."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 6, 6, 3))
    unit = ConvUnit(4, 3, "conv", 2, 1, "IN", name="u")
    np.testing.assert_allclose(to_numpy(unit(x)), to_numpy(unit(x.astype(np.float32))),
                               rtol=1e-6, atol=1e-6)


def test_instance_normed_units_pass_bfloat16_to_each_other_uncast() -> None:
    """Between two instance-normed units in bfloat16 nothing is cast: the first
    convolution's output is normalised in bfloat16 (statistics in float32) and read as it is
    by the second (before, each activation was cast to float32 for the norm and back for the
    next convolution: two passes over it forward and two backward)."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("inspects a TensorFlow graph")
    import tensorflow as tf

    with P.precision("bfloat16"):  # 16^3 x 32: big enough for the fused norm
        units = [ConvUnit(32, 3, "conv", 3, 1, "IN", name=f"u{i}") for i in range(3)]
    shape = (2, 16, 16, 16, 32)
    for u in units:
        u.build(shape)

    def net(x):
        for u in units:
            x = u(x)
        return x

    spec = tf.TensorSpec(shape, tf.bfloat16)
    assert _casts_of_shape(net, spec) == []

    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = net(x)
        return tape.gradient(y, x, output_gradients=tf.ones_like(y))

    assert _casts_of_shape(step, spec) == []
