"""The one convolution unit every LSM network is built from.

A unit is, in order (the release's "pre-activation" style):

    x -> [ReLU] -> convolution -> (norm  |  + bias)

The ReLU is skipped for the first layer of a network (``pre_activation=False``); a unit with
``norm="None"`` has a bias, a normalised unit has none (the norm's offset plays that role).

Kinds of convolution (``kind``), all with "same" padding:

* ``"conv"``: kernel ``[k, ..., k, C_in, C_out]``, stride ``s``; output size ``ceil(n / s)``.
* ``"deconv"``: transposed convolution, kernel ``[k, ..., k, C_out, C_in]`` (the TF and release
  layout), stride ``s``; output size ``n * s``.
* ``"sepconv"`` (2D only): depthwise ``[k, k, C_in, 1]`` (``depth_weights``) then pointwise
  ``[1, 1, C_in, C_out]`` (``pt_weights``), stride 1.
* ``"resize_conv"`` (2D only): nearest-neighbour upsampling by ``s`` (pixel repeat, which is
  what TF1's ``resize_nearest_neighbor`` does for an integer factor), then a stride-1 conv;
  computed as the equivalent sub-pixel convolution at the input's resolution
  (:func:`resize_conv`).

3D convolutions go through :func:`conv3d` / :func:`conv3d_transpose`, which switch to an
equivalent sum of 2D convolutions where XLA on CPU would otherwise be ~25x slower
(:func:`ops.conv.conv3d_impl`, environment variable ``LSM_CONV3D``; defined in :mod:`ops.conv`
and re-exported here).

Weights are named as in the release (``weights``, ``bias``, ``depth_weights``, ``pt_weights``,
``InstanceNorm/bias``, ``BatchNorm/beta``) so a unit named ``conv1`` inside a layer named
``ImNet_UNet`` inside a model named ``MVNet`` has variable paths equal to the release's names.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from models.norms import canonical_norm, make_norm
from models.precision import conv_dtype, lowp
from ops.conv import CONV3D_IMPLS, conv3d, conv3d_impl, conv3d_transpose  # noqa: F401 (re-exported)

KINDS = ("conv", "deconv", "sepconv", "resize_conv")


def pointwise(x: Any, kernel: Any) -> Any:
    """A 1x1 convolution, stride 1: ``[B, H, W, C]`` * ``[1, 1, C, O]`` -> ``[B, H, W, O]``.

    Written as one matmul over all pixels. oneDNN runs its backward pass 2x faster than that
    of the 1x1 bfloat16 convolution on an AMX CPU, and on an AVX-512 CPU without AMX the
    whole forward + backward 11% faster in float32 and 5% in bfloat16 (the D-LSM depth net's
    2048 -> 512 layer; ``docs/performance.md``).
    """
    c, o = kernel.shape[-2:]
    y = ops.matmul(ops.reshape(x, (-1, c)), ops.reshape(kernel, (c, o)))
    return ops.reshape(y, (-1, *x.shape[1:-1], o))


def _phase_taps(k: int, factor: int) -> np.ndarray:
    """``[factor, k, k]`` 0/1 selection for an odd ``k``: output phase ``a`` of a ``k``-tap
    "same" convolution of an input repeated ``factor`` times reads low-resolution offset
    ``o - k // 2`` (index ``o``) through its taps ``i`` with ``sel[a, o, i] = 1``. The offset
    of tap ``i``, ``(a + i - k // 2) // factor``, always lies in ``[-(k // 2), k // 2]``, so
    the low-resolution convolution is a "same" one with the same ``k``."""
    r = k // 2
    sel = np.zeros((factor, k, k), np.float32)
    for a in range(factor):
        for i in range(k):
            sel[a, (a + i - r) // factor + r, i] = 1.0  # pixel a + i - r repeats offset o
    return sel


def resize_conv(x: Any, kernel: Any, factor: int, dtype: str = "float32", keep: bool = False
                ) -> Any:
    """Nearest-neighbour upsampling by ``factor`` then a stride-1 "same" convolution, computed
    at the input's resolution (a sub-pixel convolution).

    Every output pixel of phase ``(a, b)`` (its row and column modulo ``factor``) reads the
    repeated input through a fixed subset of the kernel's taps, which all fall on the same
    few low-resolution pixels. So one convolution of the low-resolution input with
    ``factor^2 * O`` outputs, whose kernel sums the taps of each phase, followed by a pixel
    shuffle gives the same result without the ``factor^2``-times larger repeated input (nor
    its gradient). Exact in float32 (same products, summed in another order); in a low
    precision the summed taps are rounded once, after summing in float32.

    Args:
        x: ``[B, H, W, C]`` float32 (or already in ``dtype``).
        kernel: ``[k, k, C, O]`` float32, ``k`` odd.
        factor: upsampling factor ``s >= 1``.
        dtype: compute dtype of the convolution (:func:`models.precision.lowp`).
        keep: return the output in ``dtype`` instead of float32.

    Returns:
        ``[B, s H, s W, O]`` float32 (``dtype`` with ``keep``).
    """
    k, _, c, o = (int(d) for d in kernel.shape)
    if k % 2 == 0 or factor == 1:  # even kernels: "same" padding is not symmetric
        if factor > 1:
            x = ops.repeat(ops.repeat(x, factor, axis=1), factor, axis=2)
        return lowp(ops.conv, x, kernel, dtype, keep, strides=1, padding="same")
    sel = ops.convert_to_tensor(_phase_taps(k, factor))
    # big[p, q, c, a, b, o] = sum_ij sel[a, p, i] sel[b, q, j] kernel[i, j, c, o]
    big = ops.einsum("api,bqj,ijco->pqcabo", sel, sel, ops.cast(kernel, "float32"))
    big = ops.reshape(big, (k, k, c, factor * factor * o))

    def shuffled(x: Any, big: Any) -> Any:
        y = ops.conv(x, big, strides=1, padding="same")  # [B, H, W, s*s*O]
        h, w = ops.shape(y)[1], ops.shape(y)[2]
        y = ops.reshape(y, (-1, h, w, factor, factor, o))
        y = ops.transpose(y, (0, 1, 3, 2, 4, 5))
        return ops.reshape(y, (-1, h * factor, w * factor, o))

    return lowp(shuffled, x, big, dtype, keep)


def _separable(x: Any, kernels: tuple[Any, Any]) -> Any:
    """Depthwise ``kernels[0]`` ``[k, k, C, 1]`` then pointwise ``kernels[1]`` ``[1, 1, C, O]``
    ("same", stride 1): ``[B, H, W, C]`` -> ``[B, H, W, O]``."""
    return pointwise(ops.depthwise_conv(x, kernels[0], strides=1, padding="same"), kernels[1])


class ConvUnit(keras.layers.Layer):
    """``[ReLU] -> conv -> norm | bias`` on ``[B, S1..Srank, C_in]`` -> ``[B, S1'..Srank', C_out]``.

    Args:
      filters: output channels ``C_out``.
      kernel_size: cube/square kernel side ``k``.
      kind: one of ``"conv"``, ``"deconv"``, ``"sepconv"``, ``"resize_conv"``.
      rank: number of spatial axes (2 or 3; ``sepconv``/``resize_conv`` need 2).
      strides: conv stride (``conv``/``deconv``) or upsampling factor (``resize_conv``).
      norm: ``"IN"``, ``"BN"`` or ``"None"``.
      pre_activation: apply ReLU to the input first.

    The convolution computes in :func:`models.precision.conv_dtype` as it was when the unit
    was constructed (kernel float32; :mod:`models.precision`). The output is float32, except
    with instance norm in a low precision: then it is in the compute dtype, which the next
    unit reads as it is.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int,
        kind: str = "conv",
        rank: int = 2,
        strides: int = 1,
        norm: str | None = "IN",
        pre_activation: bool = True,
        **kwargs: Any,
    ) -> None:
        # Inputs already in the compute dtype stay in it: Keras' autocast would cast them to
        # float32 at the call, only for the convolution to cast them back (the D-LSM's rays).
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if rank not in (2, 3):
            raise ValueError(f"rank must be 2 or 3, got {rank}")
        if kind in ("sepconv", "resize_conv") and rank != 2:
            raise ValueError(f"kind {kind!r} is 2D only")
        if kind == "sepconv" and strides != 1:
            raise ValueError("sepconv supports stride 1 only")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.kind = kind
        self.rank = int(rank)
        self.strides = int(strides)
        self.norm = canonical_norm(norm)
        self.pre_activation = bool(pre_activation)
        self.norm_layer = make_norm(self.norm)
        self.conv_dtype = conv_dtype()

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"{self.name}: expected input of rank {self.rank + 2}, got shape {input_shape}"
            )
        c_in = int(input_shape[-1])
        k = (self.kernel_size,) * self.rank
        if self.kind == "sepconv":
            self.depth_kernel = self.add_weight(
                name="depth_weights", shape=(*k, c_in, 1), initializer="glorot_uniform"
            )
            self.kernel = self.add_weight(
                name="pt_weights", shape=(1, 1, c_in, self.filters), initializer="glorot_uniform"
            )
        else:
            shape = (*k, self.filters, c_in) if self.kind == "deconv" else (*k, c_in, self.filters)
            self.kernel = self.add_weight(name="weights", shape=shape, initializer="glorot_uniform")
        if self.norm_layer is None:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        else:
            self.norm_layer.build(self.compute_output_shape(input_shape))

    def call(self, x: Any, training: bool | None = None, input_order: Any = None,
             activated: bool = False) -> Any:
        """``x`` ``[B, S1..Srank, C_in]`` -> ``[B, S1'..Srank', C_out]``, float32 (with
        instance norm: in the unit's compute dtype).

        Args:
          x: float32 (or already in the unit's compute dtype).
          training: forwarded to batch norm.
          input_order: int ``[C_in]`` or None: the input's channel ``j`` is the kernels'
            input channel ``input_order[j]`` (a fixed permutation of the channels the unit
            was trained on, applied to the small kernels instead of the large input).
          activated: ``x`` has had its ReLU already (skip the pre-activation).
        """
        if keras.backend.standardize_dtype(x.dtype) not in ("float32", self.conv_dtype):
            x = ops.cast(x, "float32")  # e.g. float64 arrays (no autocast: see __init__)
        if self.pre_activation and not activated:
            x = ops.relu(x)
        kernel = self.kernel
        depth_kernel = getattr(self, "depth_kernel", None)
        if input_order is not None:
            kernel = ops.take(kernel, input_order, axis=-2)
            if depth_kernel is not None:
                depth_kernel = ops.take(depth_kernel, input_order, axis=-2)
        dt = self.conv_dtype
        keep = self.norm == "IN"  # instance norm takes a low-precision output as it is
        if self.kind == "conv" and self.rank == 3:
            y = lowp(conv3d, x, kernel, dt, keep, strides=self.strides)
        elif self.kind == "conv" and self.kernel_size == 1 and self.strides == 1:
            y = lowp(pointwise, x, kernel, dt, keep)
        elif self.kind == "conv":
            y = lowp(ops.conv, x, kernel, dt, keep, strides=self.strides, padding="same")
        elif self.kind == "deconv" and self.rank == 3:
            y = lowp(conv3d_transpose, x, kernel, dt, keep, strides=self.strides)
        elif self.kind == "deconv":
            y = lowp(ops.conv_transpose, x, kernel, dt, keep, strides=self.strides,
                     padding="same")
        elif self.kind == "sepconv":  # the depthwise output stays in the compute dtype
            y = lowp(_separable, x, (depth_kernel, kernel), dt, keep)
        else:  # resize_conv, as a sub-pixel convolution
            y = resize_conv(x, kernel, self.strides, dt, keep)
        if self.norm_layer is None:
            return y + self.bias
        if self.norm == "BN":
            return self.norm_layer(y, training=training)
        return self.norm_layer(y)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple:
        spatial = input_shape[1:-1]
        if self.kind == "conv":
            spatial = [None if n is None else -(-n // self.strides) for n in spatial]
        elif self.kind in ("deconv", "resize_conv"):
            spatial = [None if n is None else n * self.strides for n in spatial]
        return (input_shape[0], *spatial, self.filters)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "kind": self.kind,
            "rank": self.rank,
            "strides": self.strides,
            "norm": self.norm,
            "pre_activation": self.pre_activation,
        }


def build_and_shape(layer: keras.layers.Layer, shape: tuple) -> tuple:
    """Build ``layer`` for input ``shape`` and return its output shape."""
    layer.build(shape)
    return layer.compute_output_shape(shape)


def concat_shape(a: tuple, b: tuple) -> tuple:
    """Shape of ``concatenate([a, b], axis=-1)`` for shapes ``a`` and ``b``."""
    return (*a[:-1], a[-1] + b[-1])
