"""ConvGRU fusion (the release's ``rnn: gru``): a 3D convolutional GRU run over the views.

Notation: ``x_t`` is view t's grid ``[B, D, H, W, C]``; the state ``h`` is ``[B, D, H, W, F]``
(release F = 32), zero before the first view; ``*`` is a 3D "same" convolution with a
``k^3`` kernel (release k = 3); ``LN`` a layer norm (statistics over D, H, W, C jointly,
per-channel gamma and beta: :class:`models.norms.LayerNorm`); ``[a, b]`` concatenates
channels. One step::

    r  = sigmoid(LN_r([x, h] * W_r))          reset gate      (Gates, first F outputs)
    u  = sigmoid(LN_u([x, h] * W_u))          update gate     (Gates, last F outputs)
    c  = tanh(LN_c([x, r h] * W_c))           candidate       (Output)
    h' = u h + (1 - u) c

and the output after view t is the state after it. Without layer norm the convolutions have
biases instead (gates initialised to 1, candidate to 0).

Variables, as the release names them under the fuser's scope ``rnn``:
``ConvGRUCell/Gates/kernel`` ``[k, k, k, C + F, 2F]``, ``ConvGRUCell/Gates/LayerNorm{,_1}/
{beta,gamma}``, ``ConvGRUCell/Output/kernel`` ``[k, k, k, C + F, F]``,
``ConvGRUCell/Output/LayerNorm/{beta,gamma}`` (or ``Gates/bias``, ``Output/bias``).

With fast ops on (the default), :func:`ops.recurrent.conv_gru_sequence` computes the same
outputs and gradients faster; ``LSM_FAST_OPS=0`` runs the equations below as written.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from models.fusion import register_fuser, views_and_zero_state
from models.norms import LayerNorm
from models.precision import conv_dtype, lowp
from ops.conv import conv3d
from ops.dispatch import fast_ops_enabled
from ops.recurrent import conv_gru_sequence


def _ln_name(i: int) -> str:
    """The release's (TF1) name of the i-th layer norm in one variable scope."""
    return "LayerNorm" if i == 0 else f"LayerNorm_{i}"


class ConvNorm(keras.layers.Layer):
    """A bias-free 3D convolution whose ``groups * F`` outputs are layer-normed per group of
    ``F`` (with ``layer_norm=False``: a bias, initial value ``bias_init``, and no norm).

    ``[B, D, H, W, C_in]`` -> list of ``groups`` tensors ``[B, D, H, W, F]`` float32.
    """

    def __init__(self, filters: int, groups: int, kernel_size: int = 3, layer_norm: bool = True,
                 bias_init: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters, self.groups = int(filters), int(groups)
        self.kernel_size, self.layer_norm = int(kernel_size), bool(layer_norm)
        self.bias_init = float(bias_init)
        self.conv_dtype = conv_dtype()
        self.norms = [LayerNorm(name=_ln_name(i)) for i in range(self.groups)] if layer_norm else []

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        k, m = self.kernel_size, self.groups * self.filters
        self.kernel = self.add_weight(name="kernel", shape=(k, k, k, int(input_shape[-1]), m),
                                      initializer="glorot_uniform")
        for norm in self.norms:
            norm.build((*input_shape[:-1], self.filters))
        if not self.layer_norm:
            self.bias = self.add_weight(name="bias", shape=(m,),
                                        initializer=keras.initializers.Constant(self.bias_init))

    def group_norms(self) -> list[Any]:
        """One function per output group: its layer norm, or adding its share of the bias."""
        if self.layer_norm:
            return list(self.norms)
        f = self.filters
        return [lambda y, i=i: y + self.bias[i * f:(i + 1) * f] for i in range(self.groups)]

    def call(self, x: Any) -> list[Any]:
        y = lowp(conv3d, x, self.kernel, self.conv_dtype)
        groups = ops.split(y, self.groups, axis=-1)
        return [norm(g) for norm, g in zip(self.group_norms(), groups, strict=True)]


class ConvGRUCell(keras.layers.Layer):
    """One GRU step (module docstring): ``call(x, h) -> h'``, ``[B, D, H, W, C]`` and
    ``[B, D, H, W, F]`` float32 -> ``[B, D, H, W, F]``."""

    def __init__(self, filters: int, kernel_size: int = 3, layer_norm: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.gates = ConvNorm(filters, 2, kernel_size, layer_norm, bias_init=1.0, name="Gates")
        self.candidate = ConvNorm(filters, 1, kernel_size, layer_norm, name="Output")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        both = (*input_shape[:-1], int(input_shape[-1]) + self.filters)  # [x, h]
        self.gates.build(both)
        self.candidate.build(both)

    def call(self, x: Any, h: Any) -> Any:
        r, u = self.gates(ops.concatenate([x, h], axis=-1))
        r, u = ops.sigmoid(r), ops.sigmoid(u)
        (c,) = self.candidate(ops.concatenate([x, r * h], axis=-1))
        c = ops.tanh(c)
        return u * h + (1.0 - u) * c


@register_fuser("gru")
class ConvGRU(keras.layers.Layer):
    """ConvGRU fusion: ``[B, V, D, H, W, C]`` -> ``[B, V, D, H, W, F]`` float32, output v the
    state after views 0..v from the zero state.

    Args:
      filters: hidden channels F (release 32).
      kernel_size: cube kernel side k (release 3).
      layer_norm: layer norm on both gates and the candidate (release True).
      constant_channels: trailing input channels that take no gradient (the LSM trunk's depth
        channel: 1).
    """

    def __init__(self, filters: int = 32, kernel_size: int = 3, layer_norm: bool = True,
                 constant_channels: int = 0, **kwargs: Any) -> None:
        kwargs.setdefault("autocast", False)  # a bfloat16 input stays bfloat16 (no cast pass)
        super().__init__(**kwargs)
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        self.layer_norm, self.constant_channels = bool(layer_norm), int(constant_channels)
        self.cell = ConvGRUCell(self.filters, self.kernel_size, self.layer_norm,
                                name="ConvGRUCell")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 6:
            raise ValueError(f"{self.name}: input must be [B, V, D, H, W, C], got {input_shape}")
        self.cell.build((input_shape[0], *input_shape[2:]))

    def call(self, x: Any) -> Any:
        if fast_ops_enabled():
            gates, cand = self.cell.gates, self.cell.candidate
            return conv_gru_sequence(x, gates.kernel, cand.kernel, gates.group_norms(),
                                     cand.group_norms()[0], self.constant_channels,
                                     gates.conv_dtype)
        x, h = views_and_zero_state(x, self.filters, self.constant_channels)
        outputs = []
        for v in range(x.shape[1]):
            h = self.cell(x[:, v], h)
            outputs.append(h)
        return ops.stack(outputs, axis=1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple:
        return (*input_shape[:-1], self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "layer_norm": self.layer_norm,
                "constant_channels": self.constant_channels}
