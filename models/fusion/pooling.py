"""Order-invariant pooling fusion (the fusion of Pix2Vox-style baselines): ``mean`` and ``max``.

Each view's grid is projected on its own, then pooled over the views seen so far::

    y_t = relu(x_t * W + b)                  per-view projection, [B, D, H, W, F]
    out_v = mean(y_0, ..., y_v)              "mean"
    out_v = max(y_0, ..., y_v)               "max" (elementwise)

``*`` is a 3D "same" convolution with a ``k^3`` kernel (``kernel_size``, default 3). Unlike
the recurrent fusers, the result does not depend on the order of the views (only on which
views are in the prefix). Variables under the fuser's scope: ``kernel`` ``[k, k, k, C, F]``
and ``bias`` ``[F]``.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from models.fusion import register_fuser
from models.precision import conv_dtype, lowp
from ops.conv import conv3d


class PoolingFuser(keras.layers.Layer):
    """Pooling fusion: ``[B, V, D, H, W, C]`` -> ``[B, V, D, H, W, F]`` float32 (module
    docstring); registered as ``"mean"`` and ``"max"`` (:attr:`mode`).

    Args:
      filters: output channels F.
      kernel_size: side k of the per-view projection's kernel.
    """

    mode = "mean"

    def __init__(self, filters: int = 32, kernel_size: int = 3, **kwargs: Any) -> None:
        kwargs.setdefault("autocast", False)  # a bfloat16 input stays bfloat16
        super().__init__(**kwargs)
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        self.conv_dtype = conv_dtype()

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        k = self.kernel_size
        self.kernel = self.add_weight(name="kernel", shape=(k, k, k, input_shape[-1],
                                                            self.filters))
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, x: Any) -> Any:
        views, spatial = x.shape[1], x.shape[2:-1]
        if keras.backend.standardize_dtype(x.dtype) != self.conv_dtype:
            x = ops.cast(x, "float32")
        y = lowp(conv3d, ops.reshape(x, (-1, *x.shape[2:])), self.kernel, self.conv_dtype)
        y = ops.reshape(ops.relu(y + self.bias), (-1, views, *spatial, self.filters))
        if self.mode == "mean":
            count = ops.reshape(ops.arange(1, views + 1, dtype="float32"), (1, views, 1, 1, 1, 1))
            return ops.cumsum(y, axis=1) / count
        outputs = [y[:, 0]]
        for v in range(1, views):
            outputs.append(ops.maximum(outputs[-1], y[:, v]))
        return ops.stack(outputs, axis=1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple:
        return (*input_shape[:-1], self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}


@register_fuser("mean")
class MeanFuser(PoolingFuser):
    """Running mean of the per-view projections (:class:`PoolingFuser`)."""

    mode = "mean"


@register_fuser("max")
class MaxFuser(PoolingFuser):
    """Running elementwise max of the per-view projections (:class:`PoolingFuser`)."""

    mode = "max"
