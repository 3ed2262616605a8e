"""The per-time-step 3D grid UNet ("Grid_Unet" in the release).

All units use 4^3 kernels with "same" padding; every unit but the first has a ReLU before its
convolution; all but ``out`` are normalised. With base width ``b`` (release 32) on an
``N^3 x C`` grid:

``"unet32"`` (N divisible by 8; release N = 32)::

    conv1   conv s2 (no ReLU)  N/2  b      deconv1  deconv s2  N/4  2b, concat conv2
    conv2   conv s2            N/4  2b     deconv2  deconv s2  N/2  b,  concat conv1
    conv3   conv s2            N/8  4b     deconv3  deconv s2  N    b   (the "features")
                                           out      deconv s1  N    1, with bias (logits)

``"unet64"`` (N divisible by 16; release N = 64) has conv4 (N/16, 8b) below conv3, and
deconv1 (4b, concat conv3), deconv2 (2b, concat conv2), deconv3 (b, concat conv1),
deconv4 (b at N: the "features"), out.

``call`` returns ``{"features": [B, N, N, N, b], "logits": [B, N, N, N, 1]}``; the features
(the input of ``out``, before its ReLU) are what D-LSM projects into the views. (The release's
D-LSM reads ``deconv3`` for either net, which for unet64 is a half-resolution grid; we always
use the last ``b``-channel layer.)
"""

from __future__ import annotations

from typing import Any

import keras

from models.layers import ConvUnit, build_and_shape, concat_shape
from models.norms import canonical_norm

GRID_NETS = {"unet32": 3, "unet64": 4}


class GridUNet(keras.layers.Layer):
    """3D UNet ``[B, N, N, N, C]`` -> ``{"features": [B,N,N,N,b], "logits": [B,N,N,N,1]}``.

    Args:
      variant: ``"unet32"`` (3 levels) or ``"unet64"`` (4 levels).
      channels: base width ``b`` (release 32).
      norm: ``"IN"``, ``"BN"`` or ``"None"``.
      name: release ``"Grid_Unet"``.
    """

    def __init__(
        self,
        variant: str = "unet32",
        channels: int = 32,
        norm: str | None = "IN",
        name: str = "Grid_Unet",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        if variant not in GRID_NETS:
            raise ValueError(f"variant must be one of {tuple(GRID_NETS)}, got {variant!r}")
        self.variant = variant
        self.channels = int(channels)
        self.norm = canonical_norm(norm)
        levels = GRID_NETS[variant]
        b, n = self.channels, self.norm
        down = [b * 2**i for i in range(levels)]  # 32, 64, 128 (, 256)
        self.down = [
            ConvUnit(c, 4, "conv", 3, 2, n, pre_activation=(i > 0), name=f"conv{i + 1}")
            for i, c in enumerate(down)
        ]
        up = [*down[-2::-1], b]  # 64, 32, 32  |  128, 64, 32, 32
        self.up = [
            ConvUnit(c, 4, "deconv", 3, 2, n, name=f"deconv{i + 1}") for i, c in enumerate(up)
        ]
        self.out = ConvUnit(1, 4, "deconv", 3, 1, "None", name="out")

    @property
    def levels(self) -> int:
        """Number of stride-2 levels (3 for unet32, 4 for unet64)."""
        return len(self.down)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 5:
            raise ValueError(f"{self.name}: input must be [B, N, N, N, C], got {input_shape}")
        div = 2**self.levels
        for n in input_shape[1:4]:
            if n is not None and n % div:
                raise ValueError(
                    f"{self.name}: grid sides must be multiples of {div}, got {input_shape}"
                )
        shapes = []
        s = input_shape
        for unit in self.down:
            s = build_and_shape(unit, s)
            shapes.append(s)
        skips = shapes[-2::-1]
        for i, unit in enumerate(self.up):
            s = build_and_shape(unit, s)
            if i < len(skips):
                s = concat_shape(s, skips[i])
        build_and_shape(self.out, s)

    def call(self, grid: Any, training: bool | None = None) -> dict[str, Any]:
        feats = []
        x = grid
        for unit in self.down:
            x = unit(x, training=training)
            feats.append(x)
        skips = feats[-2::-1]
        for i, unit in enumerate(self.up):
            x = unit(x, training=training)
            if i < len(skips):
                x = keras.ops.concatenate([x, skips[i]], axis=-1)
        return {"features": x, "logits": self.out(x, training=training)}

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> dict[str, tuple]:
        return {"features": (*input_shape[:-1], self.channels), "logits": (*input_shape[:-1], 1)}

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "variant": self.variant,
            "channels": self.channels,
            "norm": self.norm,
        }
