"""3D-R2N2 (Choy, Xu, Gwak, Chen, Savarese, ECCV 2016): the Res3D-GRU-3 network of its release.

A single-view-at-a-time recurrent reconstructor with no camera input, the baseline the LSM paper
compares against. Per view, a 2D residual encoder turns a 127 x 127 RGB image into a 1024-vector;
a 3D convolutional GRU on a ``4^3 x 128`` grid takes it; a 3D residual decoder turns the hidden
state into ``32^3`` occupancy::

    image [127, 127, 3] -> 6 conv blocks (96, 128, 256, 256, 256, 256), each pooled 2x2
                        -> [3, 3, 256] -> fc 1024 (LeakyReLU)                    x
    u = sigmoid(FC_u x + W_u * h + b_u)          (* : 3x3x3 convolution of the hidden state)
    r = sigmoid(FC_r x + W_r * h + b_r)
    h = u h + (1 - u) tanh(FC_c x + W_c * (r h) + b_c)     h_0 = 0, h: [4, 4, 4, 128]
    h -> unpool 8^3 -> block 128 -> unpool 16^3 -> block 128 -> unpool 32^3 -> block 64
      -> block 32 -> 3x3x3 conv to 2 channels (empty, occupied): softmax

``FC_g x`` is a fully connected map of the 1024-vector to every cell and channel of the grid
(1024 x 8192, the release's ``FCConv3DLayer``): each cell has its own projection. The graph is
the release's scan step and decoder (``models/res_gru_net.py`` of chrischoy/3D-R2N2), with its
quirks, each pinned by a test in ``tests/models/test_r2n2.py`` (``docs/r2n2.md`` reads the
release line by line):

* LeakyReLU of slope 0.01 after every convolution but the shortcuts, the residual sums and
  the last; none after a sum.
* 2 x 2 max pooling with one cell of padding on each side that never wins the max (the release
  pools with padding ignored), so sizes go 127 -> 64 -> 33 -> 17 -> 9 -> 5 -> 3.
* Encoder shortcuts: 1 x 1 convolutions from the previous block's pooled output in blocks 2, 3
  and 5, the identity in block 6, none in blocks 1 and 4.
* The update gate keeps the old state (``u h``), the candidate gets ``1 - u``.
* Unpooling puts each value at the first corner of its 2 x 2 x 2 block and zeros elsewhere.
* Decoder shortcuts: the identity at 8^3 and 16^3, a 1 x 1 x 1 convolution of the unpooled grid
  at 32^3, and in the last block a 3 x 3 x 3 convolution of the block's first activation.
* Weights: normal with variance 2 / fan_avg ("msra" of the release); every bias 0.1.

The release decodes the hidden state after the last view only; here the decoder runs on the
state after every view, so that output ``t`` is the prediction from views ``0..t`` (the voxel
head's contract, evaluated like the LSMs at 1-4 views): the network and the state after the
last view are unchanged. The two softmax channels are returned as one logit, ``occupied -
empty``, whose sigmoid is the softmax's occupied probability, so the voxel head's sigmoid
cross-entropy is the release's 2-class softmax cross-entropy.

Images of another size are resized to 127 x 127 (bilinear) first; the cameras are not used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
from keras import layers, ops

from models.registry import register_model

#: The release's input size, filters of the encoder blocks, fully connected width, hidden grid
#: (cells per side, channels) and decoder blocks.
IMAGE_SIZE = 127
ENCODER_FILTERS = (96, 128, 256, 256, 256, 256)
FC_UNITS = 1024
HIDDEN_CELLS, HIDDEN_CHANNELS = 4, 128
DECODER_FILTERS = (128, 128, 64, 32)
#: Encoder blocks with a 1 x 1 shortcut ("conv"), the identity ("identity") or none (None).
ENCODER_SHORTCUTS = (None, "conv", "conv", None, "conv", "identity")
LEAKY_SLOPE = 0.01
OUTPUT_SIZE = 32


def _kernel_init() -> keras.initializers.Initializer:
    """The release's "msra" filler: normal, variance 2 / ((fan_in + fan_out) / 2)."""
    return keras.initializers.VarianceScaling(2.0, mode="fan_avg",
                                              distribution="untruncated_normal")


def _conv(rank: int, filters: int, size: int, name: str, bias: bool = True) -> layers.Layer:
    cls = layers.Conv2D if rank == 2 else layers.Conv3D
    return cls(filters, size, padding="same", use_bias=bias, kernel_initializer=_kernel_init(),
               bias_initializer=keras.initializers.Constant(0.1), name=name)


def leaky(x: Any) -> Any:
    """LeakyReLU of slope 0.01 (the release's; Keras' default slope is 0.3)."""
    return ops.leaky_relu(x, negative_slope=LEAKY_SLOPE)


def pool(x: Any) -> Any:
    """The release's 2 x 2 max pooling, stride 2, one cell of padding on each side that is
    never the maximum: ``[N, H, W, C]`` -> ``[N, H // 2 + 1, W // 2 + 1, C]``; output ``i``
    is the max of input rows and columns ``2i - 1`` and ``2i`` that exist."""
    # below any activation, finite in float32 and bfloat16 (no inf in the gradient's arithmetic)
    x = ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-3.0e38)
    return ops.max_pool(x, pool_size=2, strides=2, padding="valid")


def unpool(x: Any) -> Any:
    """The release's 3D unpooling: ``[N, D, H, W, C]`` -> ``[N, 2D, 2H, 2W, C]`` with
    ``out[2d, 2h, 2w] = x[d, h, w]`` and zeros at the other seven corners of each block."""
    for axis in (1, 2, 3):
        shape = list(ops.shape(x))
        x = ops.stack([x, ops.zeros_like(x)], axis=axis + 1)
        shape[axis] = shape[axis] * 2
        x = ops.reshape(x, shape)
    return x


class Encoder(layers.Layer):
    """The 2D encoder: images ``[N, 127, 127, 3]`` in ``[0, 1]`` -> ``[N, 1024]``."""

    def __init__(self, name: str = "encoder", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.blocks = []
        for i, (filters, shortcut) in enumerate(zip(ENCODER_FILTERS, ENCODER_SHORTCUTS,
                                                    strict=True), start=1):
            first = 7 if i == 1 else 3
            convs = [_conv(2, filters, first, f"conv{i}a"), _conv(2, filters, 3, f"conv{i}b")]
            short = _conv(2, filters, 1, f"conv{i}c") if shortcut == "conv" else None
            self.blocks.append((convs, short, shortcut))
        self.fc = layers.Dense(FC_UNITS, kernel_initializer=_kernel_init(),
                               bias_initializer=keras.initializers.Constant(0.1), name="fc7")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        size, channels = input_shape[1], input_shape[-1]
        for convs, short, _ in self.blocks:
            convs[0].build((None, size, size, channels))
            convs[1].build((None, size, size, convs[0].filters))
            if short is not None:
                short.build((None, size, size, channels))
            size, channels = size // 2 + 1, convs[1].filters
        self.fc.build((None, size * size * channels))

    def call(self, x: Any) -> Any:
        for convs, short, shortcut in self.blocks:
            y = leaky(convs[1](leaky(convs[0](x))))
            if shortcut == "conv":
                y = short(x) + y
            elif shortcut == "identity":
                y = x + y
            x = pool(y)
        return leaky(self.fc(ops.reshape(x, (ops.shape(x)[0], -1))))


class FCConv3D(layers.Layer):
    """One gate's pre-activation (the release's ``FCConv3DLayer``): ``fc [N, 1024]`` and the
    hidden grid ``h [N, 4, 4, 4, 128]`` -> ``FC fc + W * h + b`` ``[N, 4, 4, 4, 128]``, with a
    separate 1024 -> 128 projection for every cell (a 1024 x 8192 matrix), a 3 x 3 x 3
    convolution of ``h`` without bias, and one bias per channel."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        n, c = HIDDEN_CELLS, HIDDEN_CHANNELS
        self.from_fc = layers.Dense(n**3 * c, use_bias=False, kernel_initializer=_kernel_init(),
                                    name="Wx")
        self.from_h = _conv(3, c, 3, "Wh", bias=False)

    def build(self, fc_shape: tuple[int | None, ...], h_shape: tuple[int | None, ...]) -> None:
        self.from_fc.build(fc_shape)
        self.from_h.build(h_shape)
        self.bias = self.add_weight(shape=(HIDDEN_CHANNELS,), name="b",
                                    initializer=keras.initializers.Constant(0.1))

    def call(self, fc: Any, h: Any) -> Any:
        n, c = HIDDEN_CELLS, HIDDEN_CHANNELS
        return ops.reshape(self.from_fc(fc), (-1, n, n, n, c)) + self.from_h(h) + self.bias


class ConvGRU3D(layers.Layer):
    """The recurrence over views: ``fc [N, V, 1024]`` -> hidden states ``[N, V, 4, 4, 4, 128]``
    after each view, from ``h_0 = 0`` (equations in the module docstring)."""

    def __init__(self, name: str = "gru", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.update = FCConv3D("update")
        self.reset = FCConv3D("reset")
        self.candidate = FCConv3D("candidate")

    def build(self, fc_shape: tuple[int | None, ...]) -> None:
        n, c = HIDDEN_CELLS, HIDDEN_CHANNELS
        for gate in (self.update, self.reset, self.candidate):
            gate.build((None, fc_shape[-1]), (None, n, n, n, c))

    def step(self, fc: Any, h: Any) -> Any:
        """One view: ``fc [N, 1024]``, ``h [N, 4, 4, 4, 128]`` -> the next ``h``."""
        u = ops.sigmoid(self.update(fc, h))
        r = ops.sigmoid(self.reset(fc, h))
        c = ops.tanh(self.candidate(fc, r * h))
        return u * h + (1.0 - u) * c

    def call(self, fc: Any) -> Any:
        n, c = HIDDEN_CELLS, HIDDEN_CHANNELS
        h = ops.zeros((ops.shape(fc)[0], n, n, n, c), dtype=fc.dtype)
        states = []
        for v in range(fc.shape[1]):
            h = self.step(fc[:, v], h)
            states.append(h)
        return ops.stack(states, axis=1)


class Decoder(layers.Layer):
    """The 3D decoder: hidden grids ``[N, 4, 4, 4, 128]`` -> 2-channel logits
    ``[N, 32, 32, 32, 2]`` (channel 0 empty, 1 occupied)."""

    def __init__(self, name: str = "decoder", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        f7, f8, f9, f10 = DECODER_FILTERS
        self.conv7 = [_conv(3, f7, 3, "conv7a"), _conv(3, f7, 3, "conv7b")]
        self.conv8 = [_conv(3, f8, 3, "conv8a"), _conv(3, f8, 3, "conv8b")]
        self.conv9 = [_conv(3, f9, 3, "conv9a"), _conv(3, f9, 3, "conv9b")]
        self.conv9c = _conv(3, f9, 1, "conv9c")
        self.conv10 = [_conv(3, f10, 3, "conv10a"), _conv(3, f10, 3, "conv10b")]
        self.conv10c = _conv(3, f10, 3, "conv10c")
        self.conv11 = _conv(3, 2, 3, "conv11")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        def grid(size: int, channels: int) -> tuple[int | None, ...]:
            return (None, size, size, size, channels)

        f7, f8, f9, f10 = DECODER_FILTERS
        c, n = input_shape[-1], input_shape[1]
        for size, cin, block in ((2 * n, c, self.conv7), (4 * n, f7, self.conv8),
                                 (8 * n, f8, self.conv9), (8 * n, f9, self.conv10)):
            block[0].build(grid(size, cin))
            block[1].build(grid(size, block[0].filters))
        self.conv9c.build(grid(8 * n, f8))
        self.conv10c.build(grid(8 * n, f10))
        self.conv11.build(grid(8 * n, f10))

    def call(self, h: Any) -> Any:
        x = unpool(h)
        x = x + leaky(self.conv7[1](leaky(self.conv7[0](x))))  # identity shortcut, 8^3
        x = unpool(x)
        x = x + leaky(self.conv8[1](leaky(self.conv8[0](x))))  # identity shortcut, 16^3
        x = unpool(x)
        x = self.conv9c(x) + leaky(self.conv9[1](leaky(self.conv9[0](x))))  # 1^3 shortcut
        a = leaky(self.conv10[0](x))
        x = self.conv10c(a) + leaky(self.conv10[1](a))  # shortcut from the block's first act.
        return self.conv11(x)


@register_model("r2n2", head="voxels")
class R2N2(keras.Model):
    """3D-R2N2 (Res3D-GRU-3): ``{"images": [B, V, H, W, 3]}`` in ``[0, 1]`` -> occupancy
    logits ``[B, V, 32, 32, 32, 1]``, entry ``t`` from views ``0..t`` (module docstring).

    ``config``: a run's arguments; only ``nvox`` is read, and must be 32 (the decoder's size).
    """

    def __init__(self, config: Mapping[str, Any] | None = None, name: str = "R2N2",
                 **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        nvox = int((config or {}).get("nvox", OUTPUT_SIZE))
        if nvox != OUTPUT_SIZE:
            raise ValueError(f"nvox must be {OUTPUT_SIZE} for r2n2 (its decoder's grid), "
                             f"got {nvox}")
        self.encoder = Encoder()
        self.gru = ConvGRU3D()
        self.decoder = Decoder()
        n, c = HIDDEN_CELLS, HIDDEN_CHANNELS
        self.encoder.build((None, IMAGE_SIZE, IMAGE_SIZE, 3))
        self.gru.build((None, None, FC_UNITS))
        self.decoder.build((None, n, n, n, c))
        self.built = True

    def two_class_logits(self, images: Any) -> Any:
        """``images [B, V, H, W, 3]`` -> the release's 2-channel output ``[B, V, 32, 32, 32,
        2]`` after every view (softmax over the last axis: empty, occupied)."""
        b, v = ops.shape(images)[0], images.shape[1]
        if v is None:
            raise ValueError("r2n2 needs a static number of views (images' axis 1)")
        x = ops.reshape(images, (-1, *images.shape[2:]))
        if tuple(x.shape[1:3]) != (IMAGE_SIZE, IMAGE_SIZE):
            x = ops.image.resize(x, (IMAGE_SIZE, IMAGE_SIZE), interpolation="bilinear")
        fc = ops.reshape(self.encoder(x), (b, v, FC_UNITS))
        h = self.gru(fc)  # [B, V, 4, 4, 4, 128]
        n = HIDDEN_CELLS
        out = self.decoder(ops.reshape(h, (-1, n, n, n, HIDDEN_CHANNELS)))
        return ops.reshape(out, (b, v, OUTPUT_SIZE, OUTPUT_SIZE, OUTPUT_SIZE, 2))

    def call(self, inputs: Mapping[str, Any], training: bool | None = None) -> Any:
        z = self.two_class_logits(inputs["images"])
        return z[..., 1:] - z[..., :1]  # sigmoid(occupied - empty) = softmax's occupied
