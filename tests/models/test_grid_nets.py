"""GridUNet: unet32/unet64 shapes, release variable shapes, the exposed feature layer."""

from __future__ import annotations

import numpy as np
import pytest

from models.grid_nets import GridUNet
from tests.models._helpers import run, to_numpy


@pytest.mark.parametrize(
    ("variant", "n", "b", "c_in"), [("unet32", 8, 4, 3), ("unet32", 16, 2, 5), ("unet64", 16, 2, 4)]
)
def test_shapes(variant: str, n: int, b: int, c_in: int) -> None:
    net = GridUNet(variant, channels=b)
    out = run(net, np.random.default_rng(0).normal(size=(2, n, n, n, c_in)).astype(np.float32))
    assert tuple(out["features"].shape) == (2, n, n, n, b)
    assert tuple(out["logits"].shape) == (2, n, n, n, 1)


def test_unet32_release_variables() -> None:
    net = GridUNet("unet32")
    net.build((None, 32, 32, 32, 32))
    shapes = {w.path: tuple(w.shape) for w in net.weights}
    assert shapes == {
        "Grid_Unet/conv1/weights": (4, 4, 4, 32, 32),
        "Grid_Unet/conv1/InstanceNorm/bias": (32,),
        "Grid_Unet/conv2/weights": (4, 4, 4, 32, 64),
        "Grid_Unet/conv2/InstanceNorm/bias": (64,),
        "Grid_Unet/conv3/weights": (4, 4, 4, 64, 128),
        "Grid_Unet/conv3/InstanceNorm/bias": (128,),
        "Grid_Unet/deconv1/weights": (4, 4, 4, 64, 128),
        "Grid_Unet/deconv1/InstanceNorm/bias": (64,),
        "Grid_Unet/deconv2/weights": (4, 4, 4, 32, 128),
        "Grid_Unet/deconv2/InstanceNorm/bias": (32,),
        "Grid_Unet/deconv3/weights": (4, 4, 4, 32, 64),
        "Grid_Unet/deconv3/InstanceNorm/bias": (32,),
        "Grid_Unet/out/weights": (4, 4, 4, 1, 32),
        "Grid_Unet/out/bias": (1,),
    }


def test_unet64_layout() -> None:
    net = GridUNet("unet64")
    net.build((None, 64, 64, 64, 32))
    shapes = {w.path: tuple(w.shape) for w in net.weights if w.name == "weights"}
    assert shapes["Grid_Unet/conv4/weights"] == (4, 4, 4, 128, 256)
    assert shapes["Grid_Unet/deconv1/weights"] == (4, 4, 4, 128, 256)
    assert shapes["Grid_Unet/deconv3/weights"] == (4, 4, 4, 32, 128)  # after concat conv2
    assert shapes["Grid_Unet/deconv4/weights"] == (4, 4, 4, 32, 64)  # after concat conv1
    assert shapes["Grid_Unet/out/weights"] == (4, 4, 4, 1, 32)


def _same_deconv3d_stride1_ref(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TF1 ``conv3d_transpose(SAME, stride 1)`` in numpy: the adjoint of a SAME correlation
    (``k - 1`` padding, ``(k - 1) // 2`` before), ``w`` ``[k, k, k, out, in]``, plus bias."""
    n, k, lo = x.shape[1], w.shape[0], (w.shape[0] - 1) // 2
    xp = np.pad(x, ((0, 0), (k, k), (k, k), (k, k), (0, 0)))
    out = np.zeros(x.shape[:4] + (w.shape[3],))
    for a in np.ndindex(k, k, k):
        # out[j] += x[j - a + lo] @ w[a]^T
        sl = tuple(slice(k + lo - ai, k + lo - ai + n) for ai in a)
        out += np.einsum("bxyzc,oc->bxyzo", xp[(slice(None),) + sl], w[a])
    return out + b


def test_logits_are_out_layer_of_features() -> None:
    """The logits are the ``out`` unit (ReLU, 4^3 transposed convolution, bias) of the
    exposed features, computed here in numpy."""
    net = GridUNet("unet32", channels=4)
    x = np.random.default_rng(1).normal(size=(1, 8, 8, 8, 4)).astype(np.float32)
    run(net, x)  # builds the net
    net.out.bias.assign(np.array([0.25], np.float32))  # a bias that shows
    out = run(net, x)
    feats = np.maximum(to_numpy(out["features"]).astype(np.float64), 0.0)
    want = _same_deconv3d_stride1_ref(feats, to_numpy(net.out.kernel).astype(np.float64),
                                      to_numpy(net.out.bias).astype(np.float64))
    np.testing.assert_allclose(to_numpy(out["logits"]), want, rtol=1e-4, atol=1e-4)


def test_rejects_bad_grid() -> None:
    with pytest.raises(ValueError, match="multiples of 16"):
        GridUNet("unet64", channels=2).build((1, 8, 8, 8, 4))
    with pytest.raises(ValueError, match="variant"):
        GridUNet("unet128")


def test_get_config_round_trip() -> None:
    net = GridUNet("unet64", channels=8, norm="None")
    clone = GridUNet.from_config(net.get_config())
    assert (clone.variant, clone.channels, clone.norm) == ("unet64", 8, "None")
