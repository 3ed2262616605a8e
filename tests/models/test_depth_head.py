"""The D-LSM "mask" depth head (an extension): channels, parameters, composite, loss."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from geometry.depth import BACKGROUND_DEPTH, FOREGROUND_EPS
from models.depth_nets import DepthNet
from models.lsm import DLSM, build_model
from ops.depth_head import depth_from_head
from tests.models._helpers import SMALL, make_inputs, run, to_numpy
from training.config import load_args
from training.tasks import DLSM_TASK, model_config

REPO = Path(__file__).resolve().parents[2]


def _extra_channel_params(model: DLSM) -> int:
    """Weights of one more output channel of the DepthNet's last layer: k*k*C_in + 1 bias."""
    (kernel,) = [w for w in model.depth_net.last.trainable_weights if len(w.shape) == 4]
    k_h, k_w, c_in, c_out = kernel.shape
    assert c_out == model.depth_net.out_channels
    return k_h * k_w * c_in + 1


# ----------------------------------------------------------------------------- network and model


def test_depth_net_mask_head_has_two_channels() -> None:
    net = DepthNet(4, True, False, channels=2, out_channels=2)
    rays = np.random.default_rng(0).normal(size=(3, 8, 8, 16)).astype(np.float32)
    assert tuple(run(net, rays, []).shape) == (3, 32, 32, 2)
    assert net.compute_output_shape((3, 8, 8, 16)) == (3, 32, 32, 2)
    assert DepthNet.from_config(net.get_config()).out_channels == 2
    with pytest.raises(ValueError, match="out_channels"):
        DepthNet(out_channels=3)


def test_release_args_parameter_counts() -> None:
    args = load_args(REPO / "args" / "args_dlsm.json")
    assert args.depth_head == "release"
    release = build_model("dlsm", model_config(args))
    assert release.count_params() == 3_890_722
    mask = build_model("dlsm", model_config(args.replace(depth_head="mask")))
    assert mask.count_params() - release.count_params() == _extra_channel_params(release)
    assert [w.path for w in mask.weights] == [w.path for w in release.weights]


@pytest.mark.slow_on_jax
def test_small_model_mask_output_and_composite_depth() -> None:
    inputs = make_inputs(batch=2, views=3, size=32, seed=0)
    keras.utils.set_random_seed(1)
    release = DLSM(SMALL)
    keras.utils.set_random_seed(1)
    mask = DLSM({**SMALL, "depth_head": "mask"})
    assert mask.get_config()["config"]["depth_head"] == "mask"
    assert mask.count_params() - release.count_params() == _extra_channel_params(release)
    out = to_numpy(mask(inputs))
    assert out.shape == (2, 3, 3, 32, 32, 2)
    depth = to_numpy(mask.depth(inputs))
    assert depth.shape == (2, 3, 3, 32, 32, 1)
    # the composite, written out: the depth channel where the logit is positive, else 10
    want = np.where(out[..., 1:] > 0, out[..., :1], np.float32(10.0))
    assert 0 < np.mean(out[..., 1:] > 0) < 1  # both branches are exercised
    np.testing.assert_allclose(depth, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(DLSM_TASK.prediction(out), want)
    r = to_numpy(release.depth(inputs))
    assert r.shape == (2, 3, 3, 32, 32, 1)
    assert not np.any(r == 10.0)  # the release head has no background composite
    # the release head's depth map is its one output channel, unchanged
    x = np.random.default_rng(3).normal(size=(2, 1, 3, 4, 4, 1)).astype(np.float32)
    np.testing.assert_array_equal(to_numpy(depth_from_head(x)), x)


def test_lsm_config_rejects_unknown_head() -> None:
    with pytest.raises(ValueError, match="depth_head"):
        DLSM({**SMALL, "depth_head": "soft"})


# ----------------------------------------------------------------------------- the composite


def test_composite_takes_depth_where_logit_positive_else_background() -> None:
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(2, 3, 4, 5, 6, 2)).astype(np.float32)
    pred[..., 0] += 2.0
    out = to_numpy(depth_from_head(pred))
    assert out.shape == (2, 3, 4, 5, 6, 1) and out.dtype == np.float32
    fg = pred[..., 1:] > 0
    assert 0 < fg.mean() < 1
    np.testing.assert_array_equal(out[fg], pred[..., :1][fg])
    np.testing.assert_array_equal(out[~fg], np.full((~fg).sum(), 10.0, np.float32))
    assert BACKGROUND_DEPTH == 10.0
    # a logit of exactly 0 is background
    np.testing.assert_array_equal(to_numpy(depth_from_head(np.array([[2.0, 0.0]]))), [[10.0]])


def test_composite_is_identity_on_one_channel() -> None:
    pred = np.random.default_rng(1).normal(size=(2, 3, 4, 5, 6, 1)).astype(np.float32)
    np.testing.assert_array_equal(to_numpy(depth_from_head(pred)), pred)
    t = keras.ops.convert_to_tensor(pred)
    np.testing.assert_array_equal(to_numpy(depth_from_head(t)), pred)
    np.testing.assert_array_equal(DLSM_TASK.prediction(pred), pred)
    with pytest.raises(ValueError, match="mask head"):
        depth_from_head(np.zeros((2, 3)))


# ----------------------------------------------------------------------------- the loss


def _reference_mask_loss(pred: np.ndarray, gt: np.ndarray) -> float:
    """Masked L1 + BCE in float64 numpy, written without the library's helpers."""
    pred, gt = pred.astype(np.float64), gt.astype(np.float64)
    d, m = pred[..., 0], pred[..., 1]  # (B, T, V, H, W)
    g = gt[:, None, ..., 0]  # (B, 1, V, H, W)
    fg = np.broadcast_to(g < BACKGROUND_DEPTH - FOREGROUND_EPS, d.shape)
    l1 = np.abs(d - g)[fg].mean()
    p = 1.0 / (1.0 + np.exp(-m))
    y = fg.astype(np.float64)
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    return float(l1 + bce)


def test_mask_loss_matches_numpy_reference() -> None:
    rng = np.random.default_rng(2)
    b, t, v, h, w = 2, 3, 3, 8, 8
    gt = rng.uniform(1.5, 2.5, (b, v, h, w, 1)).astype(np.float32)
    gt[rng.random(gt.shape) < 0.5] = BACKGROUND_DEPTH
    pred = np.concatenate([rng.uniform(1.0, 3.0, (b, t, v, h, w, 1)),
                           rng.normal(0.0, 2.0, (b, t, v, h, w, 1))], axis=-1).astype(np.float32)
    want = _reference_mask_loss(pred, gt)
    got = float(to_numpy(DLSM_TASK.loss(gt, pred)))
    assert got == pytest.approx(want, rel=1e-5)
    keras_got = float(to_numpy(DLSM_TASK.keras_loss(gt[:, None], pred)))
    assert keras_got == pytest.approx(want, rel=1e-5)
    # the release head keeps the plain L1 over every pixel
    release = float(to_numpy(DLSM_TASK.loss(gt, pred[..., :1])))
    assert release == pytest.approx(np.abs(pred[..., 0] - gt[:, None, ..., 0]).mean(), rel=1e-5)
