"""DepthNet: the four release variants, with and without image skips."""

from __future__ import annotations

import numpy as np
import pytest

from models.depth_nets import DepthNet
from tests.models._helpers import run


def _skips(net: DepthNet, batch: int, size: int, b_im: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    div = {"conv1": 2, "conv2": 4, "conv3": 8}
    width = {"conv1": b_im, "conv2": 2 * b_im, "conv3": 4 * b_im}
    return [
        rng.normal(size=(batch, size // div[k], size // div[k], width[k])).astype(np.float32)
        for k in net.skip_names
    ]


@pytest.mark.parametrize("proj_x", [4, 8])
@pytest.mark.parametrize("sepup", [True, False])
@pytest.mark.parametrize("im_skip", [True, False])
def test_shapes(proj_x: int, sepup: bool, im_skip: bool) -> None:
    size, batch, b_im = 32, 3, 4
    net = DepthNet(proj_x, sepup, im_skip, channels=2)
    rays = (
        np.random.default_rng(1)
        .normal(size=(batch, size // proj_x, size // proj_x, 4 * 8))
        .astype(np.float32)
    )
    depth = run(net, rays, _skips(net, batch, size, b_im))
    assert tuple(depth.shape) == (batch, size, size, 1)


def test_release_variables_x4_sepup() -> None:
    net = DepthNet(4, True, True)
    net.build((None, 56, 56, 2048), [(None, 56, 56, 64), (None, 112, 112, 32)])
    assert [(w.path, tuple(w.shape)) for w in net.weights] == [
        ("DepthNet/conv1/depth_weights", (3, 3, 2048, 1)),
        ("DepthNet/conv1/pt_weights", (1, 1, 2048, 512)),
        ("DepthNet/conv1/InstanceNorm/bias", (512,)),
        ("DepthNet/conv2/depth_weights", (3, 3, 512, 1)),
        ("DepthNet/conv2/pt_weights", (1, 1, 512, 64)),
        ("DepthNet/conv2/InstanceNorm/bias", (64,)),
        ("DepthNet/upconv1/weights", (3, 3, 128, 32)),
        ("DepthNet/upconv1/InstanceNorm/bias", (32,)),
        ("DepthNet/upconv2/weights", (3, 3, 64, 32)),
        ("DepthNet/upconv2/InstanceNorm/bias", (32,)),
        ("DepthNet/upconv3/weights", (3, 3, 32, 1)),
        ("DepthNet/upconv3/bias", (1,)),
    ]


@pytest.mark.parametrize(
    ("proj_x", "sepup", "names"),
    [
        (4, False, ["conv1", "conv2", "conv3", "deconv1", "deconv2", "deconv3"]),
        (8, True, ["conv1", "conv2", "upconv1", "upconv2", "upconv3", "upconv4"]),
        (8, False, ["conv1", "conv2", "conv3", "deconv1", "deconv2", "deconv3", "deconv4"]),
    ],
)
def test_release_unit_names(proj_x: int, sepup: bool, names: list[str]) -> None:
    net = DepthNet(proj_x, sepup, True, channels=2)
    assert [u.name for u in (*net.encoder, *net.decoder, net.last)] == names


def test_skip_count_checked() -> None:
    net = DepthNet(4, True, True, channels=2)
    with pytest.raises(ValueError, match="skip"):
        net.build((None, 8, 8, 16), [])
