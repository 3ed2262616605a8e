"""3D-R2N2 (models/r2n2.py) against its release (chrischoy/3D-R2N2, read in docs/r2n2.md): the
layer list and parameter count, and each quirk of the released graph, named in its test."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from models.r2n2 import R2N2, leaky, pool, unpool
from models.registry import build_model, model_head
from tests.models._helpers import to_numpy

# Eager forwards of a 36M-parameter network: about a minute of CPU under JAX (the slow tier)
pytestmark = pytest.mark.slow_on_jax


@pytest.fixture(scope="module")
def model() -> R2N2:
    keras.utils.set_random_seed(0)
    return R2N2()


def _images(views: int, size: int = 127, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((1, views, size, size, 3), dtype=np.float32)


# The release's layers (models/res_gru_net.py): name -> kernel shape, channels last.
RELEASE_KERNELS = {
    "conv1a": (7, 7, 3, 96), "conv1b": (3, 3, 96, 96),
    "conv2a": (3, 3, 96, 128), "conv2b": (3, 3, 128, 128), "conv2c": (1, 1, 96, 128),
    "conv3a": (3, 3, 128, 256), "conv3b": (3, 3, 256, 256), "conv3c": (1, 1, 128, 256),
    "conv4a": (3, 3, 256, 256), "conv4b": (3, 3, 256, 256),
    "conv5a": (3, 3, 256, 256), "conv5b": (3, 3, 256, 256), "conv5c": (1, 1, 256, 256),
    "conv6a": (3, 3, 256, 256), "conv6b": (3, 3, 256, 256),
    "fc7": (256 * 3 * 3, 1024),
    "conv7a": (3, 3, 3, 128, 128), "conv7b": (3, 3, 3, 128, 128),
    "conv8a": (3, 3, 3, 128, 128), "conv8b": (3, 3, 3, 128, 128),
    "conv9a": (3, 3, 3, 128, 64), "conv9b": (3, 3, 3, 64, 64), "conv9c": (1, 1, 1, 128, 64),
    "conv10a": (3, 3, 3, 64, 32), "conv10b": (3, 3, 3, 32, 32), "conv10c": (3, 3, 3, 32, 32),
    "conv11": (3, 3, 3, 32, 2),
}
GATE = {"Wx": (1024, 4 * 4 * 4 * 128), "Wh": (3, 3, 3, 128, 128), "b": (128,)}


def test_layers_and_parameter_count_are_the_releases(model: R2N2) -> None:
    """Every kernel has the release's shape; the count is the release's layer list summed
    by hand: convolutions and fc7 with a bias each, the three gates (1024 x 8192 projection,
    3^3 state convolution without bias, one bias of 128): 35,968,706 parameters in 63 arrays
    (the release's ``net.params``)."""
    shapes = {w.path: tuple(w.shape) for w in model.weights}
    for name, shape in RELEASE_KERNELS.items():
        (kernel,) = [s for p, s in shapes.items() if p.endswith(f"/{name}/kernel")]
        assert kernel == shape, name
        (bias,) = [s for p, s in shapes.items() if p.endswith(f"/{name}/bias")]
        assert bias == (shape[-1],), name
    for gate in ("update", "reset", "candidate"):
        for name, shape in GATE.items():
            (found,) = [s for p, s in shapes.items() if f"/{gate}/" in p and
                        p.split("/")[-2:] in ([name, "kernel"], [gate, name])]
            assert found == shape, (gate, name)
    by_hand = sum(int(np.prod(s)) + s[-1] for s in RELEASE_KERNELS.values()) + 3 * sum(
        int(np.prod(s)) for s in GATE.values())
    assert by_hand == 35_968_706
    assert model.count_params() == by_hand and len(model.weights) == 63


def test_pool_padding_never_wins_so_sizes_go_127_64_33_17_9_5_3() -> None:
    """The release pools 2 x 2 with one cell of padding ignored by the max: output ``i`` is
    the max of inputs ``2i - 1`` and ``2i`` that exist. All-negative inputs show the padding
    is not a zero."""
    x = -np.random.default_rng(1).random((2, 127, 127, 3)).astype(np.float32) - 1.0
    sizes = []
    for _ in range(6):
        n = x.shape[1]
        ref = np.full((2, n // 2 + 1, n // 2 + 1, 3), -np.inf, np.float32)
        for i in range(n // 2 + 1):
            for j in range(n // 2 + 1):
                rows = [r for r in (2 * i - 1, 2 * i) if 0 <= r < n]
                cols = [c for c in (2 * j - 1, 2 * j) if 0 <= c < n]
                ref[:, i, j] = x[:, rows][:, :, cols].max(axis=(1, 2))
        out = to_numpy(pool(x))
        np.testing.assert_array_equal(out, ref)
        assert out.max() < 0
        x = out
        sizes.append(n // 2 + 1)
    assert sizes == [64, 33, 17, 9, 5, 3]


def test_unpool_inserts_zeros_around_the_first_corner_not_copies() -> None:
    x = np.random.default_rng(2).normal(size=(2, 3, 4, 5, 6)).astype(np.float32)
    out = to_numpy(unpool(x))
    ref = np.zeros((2, 6, 8, 10, 6), np.float32)
    ref[:, ::2, ::2, ::2] = x
    np.testing.assert_array_equal(out, ref)


def test_leaky_relu_slope_is_the_releases_0_01_not_keras_0_3() -> None:
    np.testing.assert_allclose(to_numpy(leaky(np.array([-2.0, 3.0], np.float32))),
                               [-0.02, 3.0], rtol=1e-6)


def test_update_gate_keeps_the_old_state_and_its_complement_takes_the_candidate(
        model: R2N2) -> None:
    """``h' = u h + (1 - u) tanh(...)``: the update gate saturated open (bias +40) returns the
    old state; saturated shut (-40), the candidate alone, whatever the old state."""
    gru = model.gru
    rng = np.random.default_rng(3)
    fc = rng.normal(size=(2, 1024)).astype(np.float32)
    h = rng.normal(size=(2, 4, 4, 4, 128)).astype(np.float32)
    bias = gru.update.bias.numpy()
    try:
        gru.update.bias.assign(np.full(128, 40.0, np.float32))
        np.testing.assert_allclose(to_numpy(gru.step(fc, h)), h, atol=1e-6)
        gru.update.bias.assign(np.full(128, -40.0, np.float32))
        shut = to_numpy(gru.step(fc, h))
        r = ops.sigmoid(gru.reset(fc, h))
        cand = to_numpy(ops.tanh(gru.candidate(fc, r * h)))
        np.testing.assert_allclose(shut, cand, atol=1e-6)
    finally:
        gru.update.bias.assign(bias)


def test_first_view_starts_from_zero_so_reset_and_state_weights_act_from_the_second(
        model: R2N2) -> None:
    """``h_0 = 0``: the reset gate and the state convolutions change nothing at the first
    view and change the second; output ``t`` depends on views ``0..t`` only; the cameras
    are not inputs; images of another size are resized to 127."""
    images = _images(2, size=64, seed=4)
    base = to_numpy(model({"images": images}))
    assert base.shape == (1, 2, 32, 32, 32, 1)
    other = images.copy()
    other[:, 1] = _images(1, size=64, seed=5)[:, 0]
    moved = to_numpy(model({"images": other, "K": np.ones((1, 2, 3, 3)),
                            "extrinsic": np.ones((1, 2, 3, 4))}))
    np.testing.assert_allclose(moved[:, 0], base[:, 0], atol=1e-5)
    assert np.abs(moved[:, 1] - base[:, 1]).max() > 1e-3
    saved = [w.numpy() for w in model.gru.reset.weights]
    try:
        for w in model.gru.reset.weights:
            w.assign(np.random.default_rng(6).normal(size=w.shape).astype(np.float32))
        changed = to_numpy(model({"images": images}))
    finally:
        for w, s in zip(model.gru.reset.weights, saved, strict=True):
            w.assign(s)
    np.testing.assert_allclose(changed[:, 0], base[:, 0], atol=1e-5)
    assert np.abs(changed[:, 1] - base[:, 1]).max() > 1e-4


def test_logit_is_occupied_minus_empty_so_its_sigmoid_is_the_softmax(model: R2N2) -> None:
    images = _images(1, seed=7)
    z = to_numpy(model.two_class_logits(images))
    p = np.exp(z - z.max(-1, keepdims=True))
    p = p / p.sum(-1, keepdims=True)
    logit = to_numpy(model({"images": images}))
    np.testing.assert_allclose(1 / (1 + np.exp(-logit[..., 0])), p[..., 1], atol=1e-6)


def test_registered_as_a_voxel_model_that_needs_a_32_grid() -> None:
    assert model_head("r2n2") == "voxels"
    with pytest.raises(ValueError, match="nvox"):
        build_model("r2n2", {"nvox": 64})
