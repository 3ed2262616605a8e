"""The D-LSM depth network ("DepthNet" in the release).

Input: the ray samples of one view at one time step, ``[B', H/p, W/p, C*S]`` (p = proj_x,
C grid feature channels, S ray samples; channel index ``c * S + s``). Output: depth
``[B', H, W, 1]`` (no output activation), or with the ``"mask"`` head (an extension, not in the
release; see :data:`DEPTH_HEADS`) ``[B', H, W, 2]``: depth and a foreground logit. Every unit
has a ReLU before its convolution; all but the last are normalised; the last has a bias. With
base width ``b`` (release 32):

proj_x 4, ``sepup`` (release D-LSM)::

    conv1   separable 3x3 -> 16b         upconv1  2x nearest + 3x3 -> b   (in: 2b [+ 2b skip])
    conv2   separable 3x3 -> 2b          upconv2  2x nearest + 3x3 -> b   (in: b [+ b skip])
                                         upconv3  3x3 -> 1, bias

proj_x 4, plain::

    conv1   1x1 -> 16b,  conv2 1x1 -> 4b,  conv3 3x3 -> 2b
    deconv1 3x3 s2 transposed -> b,  deconv2 -> b,  deconv3 3x3 conv -> 1, bias

proj_x 8 adds one level: sepup: conv1 16b, conv2 4b, upconv1 2b, upconv2 b, upconv3 b,
upconv4 -> 1; plain: conv1 16b, conv2 4b, conv3 4b, deconv1 2b, deconv2 b, deconv3 b,
deconv4 -> 1.

With ``im_skip`` the image encoder's features at the matching resolution are concatenated
(image features first) before each upsampling unit: proj_x 4 uses encoder ``conv2`` then
``conv1``; proj_x 8 uses ``conv3``, ``conv2``, ``conv1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from models.layers import ConvUnit, build_and_shape, concat_shape
from models.norms import canonical_norm

PROJ_X = (4, 8)

#: Output heads: name -> channels of the last layer. ``"release"``: depth only (scene units).
#: ``"mask"`` (not in the paper): ``[depth, foreground logit]``; the model's depth map is
#: :func:`ops.depth_head.depth_from_head` of it.
DEPTH_HEADS = {"release": 1, "mask": 2}


class DepthNet(keras.layers.Layer):
    """Depth decoder: ``rays [B', H/p, W/p, C*S]`` (+ skips) -> ``[B', H, W, out_channels]``.

    Args:
      proj_x: projection subsampling p, 4 or 8.
      sepup: separable first convs and resize-conv upsampling (release D-LSM) instead of
        1x1/3x3 convs and transposed convs.
      im_skip: concatenate image-encoder features (``skips`` argument of ``call``).
      channels: base width ``b`` (release 32).
      norm: ``"IN"``, ``"BN"`` or ``"None"``.
      out_channels: channels of the last layer: 1 (release: depth) or 2 (``"mask"`` head:
        depth, foreground logit; see :data:`DEPTH_HEADS`).
      name: release ``"DepthNet"``.
    """

    def __init__(
        self,
        proj_x: int = 4,
        sepup: bool = True,
        im_skip: bool = True,
        channels: int = 32,
        norm: str | None = "IN",
        out_channels: int = 1,
        name: str = "DepthNet",
        **kwargs: Any,
    ) -> None:
        # The first unit's output may come in its compute dtype (low precision, instance
        # norm; :class:`models.layers.ConvUnit`): no autocast to float32 and back.
        kwargs.setdefault("autocast", False)
        super().__init__(name=name, **kwargs)
        if proj_x not in PROJ_X:
            raise ValueError(f"proj_x must be one of {PROJ_X}, got {proj_x}")
        self.proj_x = int(proj_x)
        self.sepup = bool(sepup)
        self.im_skip = bool(im_skip)
        self.channels = int(channels)
        self.norm = canonical_norm(norm)
        if out_channels not in DEPTH_HEADS.values():
            raise ValueError(
                f"out_channels must be one of {sorted(set(DEPTH_HEADS.values()))}, "
                f"got {out_channels}"
            )
        self.out_channels = int(out_channels)
        b, n = self.channels, self.norm
        x8 = self.proj_x == 8
        if self.sepup:
            enc = [(16 * b, "sepconv", 3), (4 * b if x8 else 2 * b, "sepconv", 3)]
            ups = [2 * b, b, b] if x8 else [b, b]
            up_kind, up_name, last_name = "resize_conv", "upconv", "upconv"
        else:
            enc = [(16 * b, "conv", 1), (4 * b, "conv", 1), (4 * b if x8 else 2 * b, "conv", 3)]
            ups = [2 * b, b, b] if x8 else [b, b]
            up_kind, up_name, last_name = "deconv", "deconv", "deconv"
        self.encoder = [
            ConvUnit(c, k, kind, 2, 1, n, name=f"conv{i + 1}") for i, (c, kind, k) in enumerate(enc)
        ]
        self.decoder = [
            ConvUnit(c, 3, up_kind, 2, 2, n, name=f"{up_name}{i + 1}") for i, c in enumerate(ups)
        ]
        self.last = ConvUnit(
            self.out_channels, 3, "conv", 2, 1, "None", name=f"{last_name}{len(ups) + 1}"
        )

    @property
    def skip_names(self) -> tuple[str, ...]:
        """Image-encoder outputs consumed, in order (empty without ``im_skip``)."""
        if not self.im_skip:
            return ()
        return ("conv3", "conv2", "conv1") if self.proj_x == 8 else ("conv2", "conv1")

    def build(
        self, rays_shape: tuple[int | None, ...], skips_shape: Sequence[tuple] | None = None
    ) -> None:
        if len(rays_shape) != 4:
            raise ValueError(f"{self.name}: rays must be [B, h, w, C*S], got {rays_shape}")
        skips_shape = list(skips_shape or [])
        if len(skips_shape) != len(self.skip_names):
            raise ValueError(
                f"{self.name}: expected {len(self.skip_names)} skip tensors "
                f"{self.skip_names}, got {len(skips_shape)}"
            )
        s = rays_shape
        for unit in self.encoder:
            s = build_and_shape(unit, s)
        for i, unit in enumerate(self.decoder):
            if i < len(skips_shape):
                s = concat_shape(skips_shape[i], s)
            s = build_and_shape(unit, s)
        build_and_shape(self.last, s)

    def call(
        self, rays: Any, skips: Sequence[Any] | None = None, training: bool | None = None
    ) -> Any:
        """``rays`` ``[N, h, w, C*S]`` and the image skips -> ``[N, H, W, out_channels]``."""
        return self.decode(self.encoder[0](rays, training=training), skips, training=training)

    def decode(
        self, x: Any, skips: Sequence[Any] | None = None, training: bool | None = None
    ) -> Any:
        """The units after the first: its output ``x`` ``[N, h, w, 16b]`` and the image skips
        -> ``[N, H, W, out_channels]`` (the D-LSM computes the first unit on the grid's rays
        with :func:`ops.project.unit_on_rays`)."""
        skips = list(skips or [])
        if len(skips) != len(self.skip_names):
            raise ValueError(
                f"{self.name}: expected skips {self.skip_names}, got {len(skips)} tensors"
            )
        for unit in self.encoder[1:]:
            x = unit(x, training=training)
        for i, unit in enumerate(self.decoder):
            if i < len(skips):
                x = keras.ops.concatenate([skips[i], x], axis=-1)
            x = unit(x, training=training)
        return self.last(x, training=training)

    def compute_output_shape(
        self, rays_shape: tuple[int | None, ...], skips_shape: Any = None
    ) -> tuple:
        p = self.proj_x
        h, w = rays_shape[1:3]
        h = None if h is None else h * p
        w = None if w is None else w * p
        return (rays_shape[0], h, w, self.out_channels)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "proj_x": self.proj_x,
            "sepup": self.sepup,
            "im_skip": self.im_skip,
            "channels": self.channels,
            "norm": self.norm,
            "out_channels": self.out_channels,
        }
