"""Attention fusion: per voxel, a softmax over the views seen so far weights their features.

Each view's grid is projected on its own to F value channels and one score::

    [a_t, s_t] = x_t * W + b                 per-view projection, F + 1 channels
    y_t = relu(a_t)                          values, [B, D, H, W, F]
    w_{v,t} = exp(s_t) / sum_{t' <= v} exp(s_t')       for t <= v   (per voxel)
    out_v = sum_{t <= v} w_{v,t} y_t

``*`` is a 3D "same" convolution with a ``k^3`` kernel (``kernel_size``, default 3). The
softmax over a growing prefix is computed as a running one (the largest score so far
subtracted, the sums rescaled when it grows), so memory is that of one view, not ``V^2``.
Variables under the fuser's scope: ``kernel`` ``[k, k, k, C, F + 1]`` and ``bias`` ``[F + 1]``.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from models.fusion import register_fuser
from models.precision import conv_dtype, lowp
from ops.conv import conv3d


@register_fuser("attention")
class AttentionFuser(keras.layers.Layer):
    """Attention fusion: ``[B, V, D, H, W, C]`` -> ``[B, V, D, H, W, F]`` float32 (module
    docstring).

    Args:
      filters: output channels F.
      kernel_size: side k of the per-view projection's kernel.
    """

    def __init__(self, filters: int = 32, kernel_size: int = 3, **kwargs: Any) -> None:
        kwargs.setdefault("autocast", False)  # a bfloat16 input stays bfloat16
        super().__init__(**kwargs)
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        self.conv_dtype = conv_dtype()

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        k, f = self.kernel_size, self.filters
        self.kernel = self.add_weight(name="kernel", shape=(k, k, k, input_shape[-1], f + 1))
        self.bias = self.add_weight(name="bias", shape=(f + 1,), initializer="zeros")

    def call(self, x: Any) -> Any:
        views, spatial = x.shape[1], x.shape[2:-1]
        if keras.backend.standardize_dtype(x.dtype) != self.conv_dtype:
            x = ops.cast(x, "float32")
        y = lowp(conv3d, ops.reshape(x, (-1, *x.shape[2:])), self.kernel, self.conv_dtype)
        y = ops.reshape(y + self.bias, (-1, views, *spatial, self.filters + 1))
        values, scores = ops.relu(y[..., :-1]), y[..., -1:]
        outputs = []
        top = num = den = None
        for v in range(views):
            s, val = scores[:, v], values[:, v]
            if v == 0:
                top, num, den = s, val, ops.ones_like(s)
            else:  # rescale the sums to the new largest score, then add view v
                new_top = ops.maximum(top, s)
                old, new = ops.exp(top - new_top), ops.exp(s - new_top)
                top, num, den = new_top, num * old + val * new, den * old + new
            outputs.append(num / den)
        return ops.stack(outputs, axis=1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple:
        return (*input_shape[:-1], self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}
