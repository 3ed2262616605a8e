"""ImageUNet: output shapes (incl. non-square and scaled widths), names, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from models.image_nets import ImageUNet
from tests.models._helpers import run


@pytest.mark.parametrize(("h", "w", "b"), [(32, 32, 4), (48, 64, 8), (16, 16, 2)])
def test_shapes(h: int, w: int, b: int) -> None:
    net = ImageUNet(channels=b)
    out = run(net, np.random.default_rng(0).random((3, h, w, 3), dtype=np.float32))
    expected = {
        "conv1": (3, h // 2, w // 2, b),
        "conv2": (3, h // 4, w // 4, 2 * b),
        "conv3": (3, h // 8, w // 8, 4 * b),
        "features": (3, h // 2, w // 2, b),
    }
    assert {k: tuple(v.shape) for k, v in out.items()} == expected
    assert net.compute_output_shape((3, h, w, 3)) == expected


def test_release_shapes_without_running() -> None:
    net = ImageUNet()
    net.build((None, 224, 224, 3))
    shapes = {w.path: tuple(w.shape) for w in net.weights}
    assert shapes["ImNet_UNet/conv1/weights"] == (5, 5, 3, 32)
    assert shapes["ImNet_UNet/deconv1/weights"] == (3, 3, 128, 256)
    assert shapes["ImNet_UNet/deconv4/weights"] == (5, 5, 32, 64)
    assert shapes["ImNet_UNet/deconv4/bias"] == (32,)
    assert "ImNet_UNet/conv1/bias" not in shapes  # normalised convs have no bias
    assert net.compute_output_shape((None, 224, 224, 3))["features"] == (None, 112, 112, 32)


def test_no_relu_before_first_conv_only() -> None:
    net = ImageUNet(channels=4)
    assert not net.conv1.pre_activation
    assert all(u.pre_activation for u in (net.conv2, net.conv4, net.deconv1, net.deconv4))
    assert net.deconv4.norm == "None" and net.conv2.norm == "IN"


def test_rejects_size_not_multiple_of_16() -> None:
    with pytest.raises(ValueError, match="multiples of 16"):
        ImageUNet(channels=4).build((1, 40, 32, 3))


@pytest.mark.parametrize("norm", ["BN", "None"])
def test_other_norms(norm: str) -> None:
    net = ImageUNet(channels=4, norm=norm)
    out = run(net, np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32), training=True)
    assert tuple(out["features"].shape) == (2, 8, 8, 4)
    if norm == "None":
        assert all(w.name in ("weights", "bias") for w in net.weights)


def test_get_config_round_trip() -> None:
    net = ImageUNet(channels=8, norm="BN")
    clone = ImageUNet.from_config(net.get_config())
    assert clone.channels == 8 and clone.norm == "BN" and clone.name == "ImNet_UNet"
