"""The per-view 2D image encoder ("ImNet_UNet" in the release).

With base width ``b`` (release: 32) and an ``H x W x 3`` image (H, W multiples of 16):

| unit      | op                         | output                  |
|-----------|----------------------------|-------------------------|
| conv1     | conv 5x5 s2, no ReLU first | ``H/2  x W/2  x b``     |
| conv2     | ReLU, conv 3x3 s2          | ``H/4  x W/4  x 2b``    |
| conv3     | ReLU, conv 3x3 s2          | ``H/8  x W/8  x 4b``    |
| conv4     | ReLU, conv 3x3 s2          | ``H/16 x W/16 x 8b``    |
| deconv1   | ReLU, deconv 3x3 s2        | ``H/8  x W/8  x 4b``, concat conv3 -> 8b |
| deconv2   | ReLU, deconv 3x3 s2        | ``H/4  x W/4  x 2b``, concat conv2 -> 4b |
| deconv3   | ReLU, deconv 3x3 s2        | ``H/2  x W/2  x b``,  concat conv1 -> 2b |
| deconv4   | ReLU, deconv 5x5 s1 + bias | ``H/2  x W/2  x b``  (the features)      |

Every unit but deconv4 is normalised (instance norm in the release). Skip tensors are the
normalised outputs (before the next unit's ReLU), as in the release.
"""

from __future__ import annotations

from typing import Any

import keras

from models.layers import ConvUnit
from models.layers import build_and_shape as _build
from models.layers import concat_shape as _cat
from models.norms import canonical_norm


class ImageUNet(keras.layers.Layer):
    """2D UNet encoder: ``[B, H, W, 3]`` -> dict of feature maps (see module table).

    ``call`` returns ``{"conv1": [B, H/2, W/2, b], "conv2": [B, H/4, W/4, 2b],
    "conv3": [B, H/8, W/8, 4b], "features": [B, H/2, W/2, b]}``; ``conv1``..``conv3`` are
    the D-LSM skip features.

    Args:
      channels: base width ``b`` (release 32).
      norm: ``"IN"``, ``"BN"`` or ``"None"``.
      name: layer name (release ``"ImNet_UNet"``).
    """

    def __init__(
        self,
        channels: int = 32,
        norm: str | None = "IN",
        name: str = "ImNet_UNet",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.channels = int(channels)
        self.norm = canonical_norm(norm)
        b, n = self.channels, self.norm
        self.conv1 = ConvUnit(b, 5, "conv", 2, 2, n, pre_activation=False, name="conv1")
        self.conv2 = ConvUnit(2 * b, 3, "conv", 2, 2, n, name="conv2")
        self.conv3 = ConvUnit(4 * b, 3, "conv", 2, 2, n, name="conv3")
        self.conv4 = ConvUnit(8 * b, 3, "conv", 2, 2, n, name="conv4")
        self.deconv1 = ConvUnit(4 * b, 3, "deconv", 2, 2, n, name="deconv1")
        self.deconv2 = ConvUnit(2 * b, 3, "deconv", 2, 2, n, name="deconv2")
        self.deconv3 = ConvUnit(b, 3, "deconv", 2, 2, n, name="deconv3")
        self.deconv4 = ConvUnit(b, 5, "deconv", 2, 1, "None", name="deconv4")

    @property
    def out_channels(self) -> int:
        """Channels of the ``"features"`` output."""
        return self.channels

    def _check(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 4:
            raise ValueError(f"{self.name}: images must be [B, H, W, C], got {input_shape}")
        for n in input_shape[1:3]:
            if n is not None and n % 16:
                raise ValueError(f"{self.name}: H and W must be multiples of 16, got {input_shape}")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self._check(input_shape)
        s1 = _build(self.conv1, input_shape)
        s2 = _build(self.conv2, s1)
        s3 = _build(self.conv3, s2)
        s4 = _build(self.conv4, s3)
        d1 = _build(self.deconv1, s4)
        d2 = _build(self.deconv2, _cat(d1, s3))
        d3 = _build(self.deconv3, _cat(d2, s2))
        _build(self.deconv4, _cat(d3, s1))

    def call(self, images: Any, training: bool | None = None) -> dict[str, Any]:
        c1 = self.conv1(images, training=training)
        c2 = self.conv2(c1, training=training)
        c3 = self.conv3(c2, training=training)
        c4 = self.conv4(c3, training=training)
        d = self.deconv1(c4, training=training)
        d = self.deconv2(keras.ops.concatenate([d, c3], axis=-1), training=training)
        d = self.deconv3(keras.ops.concatenate([d, c2], axis=-1), training=training)
        out = self.deconv4(keras.ops.concatenate([d, c1], axis=-1), training=training)
        return {"conv1": c1, "conv2": c2, "conv3": c3, "features": out}

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> dict[str, tuple]:
        b, h, w = input_shape[:3]

        def sh(f: int, c: int) -> tuple:
            return (b, None if h is None else h // f, None if w is None else w // f, c)

        c = self.channels
        return {
            "conv1": sh(2, c),
            "conv2": sh(4, 2 * c),
            "conv3": sh(8, 4 * c),
            "features": sh(2, c),
        }

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "channels": self.channels, "norm": self.norm}
