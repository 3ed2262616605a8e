"""ConvLSTM fusion (the release's ``rnn: lstm``): a 3D convolutional LSTM run over the views.

Notation as :mod:`models.fusion.gru`; the state is the memory ``m`` and the output ``h``, both
``[B, D, H, W, F]`` and zero before the first view. One step::

    j, i, f, o = split([x, h] * W, 4)         each through its layer norm (LayerNorm .. _3)
    m' = LN_m(m sigmoid(f + forget_bias) + sigmoid(i) tanh(j))          (LayerNorm_4)
    h' = tanh(m') sigmoid(o)

(release forget_bias 1). Without layer norm the convolution has a bias ``[4F]`` instead.
Variables under the fuser's scope ``rnn``: ``ConvLSTMCell/kernel`` ``[k, k, k, C + F, 4F]``,
``ConvLSTMCell/LayerNorm{,_1,_2,_3,_4}/{beta,gamma}`` (or ``ConvLSTMCell/bias``).

With fast ops on (the default), :func:`ops.recurrent.conv_lstm_sequence` computes the same
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
from ops.recurrent import conv_lstm_sequence


class ConvLSTMCell(keras.layers.Layer):
    """One LSTM step (module docstring): ``call(x, (m, h)) -> (m', h')``, each
    ``[B, D, H, W, F]`` float32."""

    def __init__(self, filters: int, kernel_size: int = 3, layer_norm: bool = True,
                 forget_bias: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        self.layer_norm, self.forget_bias = bool(layer_norm), float(forget_bias)
        self.conv_dtype = conv_dtype()
        names = ["LayerNorm"] + [f"LayerNorm_{i}" for i in range(1, 5)]
        self.norms = [LayerNorm(name=n) for n in names] if self.layer_norm else []

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        k, f = self.kernel_size, self.filters
        self.kernel = self.add_weight(name="kernel", shape=(k, k, k, int(input_shape[-1]) + f,
                                                            4 * f), initializer="glorot_uniform")
        for norm in self.norms:
            norm.build((*input_shape[:-1], f))
        if not self.layer_norm:
            self.bias = self.add_weight(name="bias", shape=(4 * f,), initializer="zeros")

    def gate_norms(self) -> list[Any]:
        """The functions applied to j, i, f, o: their layer norms, or adding their bias."""
        if self.layer_norm:
            return self.norms[:4]
        f = self.filters
        return [lambda y, i=i: y + self.bias[i * f:(i + 1) * f] for i in range(4)]

    def memory_norm(self, m: Any) -> Any:
        """The new memory's layer norm (identity without layer norm)."""
        return self.norms[4](m) if self.layer_norm else m

    def call(self, x: Any, state: tuple[Any, Any]) -> tuple[Any, Any]:
        m, h = state
        y = lowp(conv3d, ops.concatenate([x, h], axis=-1), self.kernel, self.conv_dtype)
        j, i, f, o = (norm(t) for norm, t in zip(self.gate_norms(), ops.split(y, 4, axis=-1),
                                                 strict=True))
        m = self.memory_norm(m * ops.sigmoid(f + self.forget_bias) + ops.sigmoid(i) * ops.tanh(j))
        h = ops.tanh(m) * ops.sigmoid(o)
        return m, h


@register_fuser("lstm")
class ConvLSTM(keras.layers.Layer):
    """ConvLSTM fusion: ``[B, V, D, H, W, C]`` -> ``[B, V, D, H, W, F]`` float32, output v the
    LSTM output after views 0..v from the zero state.

    Args:
      filters: hidden channels F.
      kernel_size: cube kernel side k.
      layer_norm: layer norm on the four pre-activations and the memory (release True).
      forget_bias: added to the forget gate's pre-activation (release 1).
      constant_channels: trailing input channels that take no gradient (the LSM trunk's depth
        channel: 1).
    """

    def __init__(self, filters: int = 32, kernel_size: int = 3, layer_norm: bool = True,
                 forget_bias: float = 1.0, constant_channels: int = 0, **kwargs: Any) -> None:
        kwargs.setdefault("autocast", False)  # a bfloat16 input stays bfloat16 (no cast pass)
        super().__init__(**kwargs)
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        self.layer_norm, self.forget_bias = bool(layer_norm), float(forget_bias)
        self.constant_channels = int(constant_channels)
        self.cell = ConvLSTMCell(self.filters, self.kernel_size, self.layer_norm,
                                 self.forget_bias, name="ConvLSTMCell")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 6:
            raise ValueError(f"{self.name}: input must be [B, V, D, H, W, C], got {input_shape}")
        self.cell.build((input_shape[0], *input_shape[2:]))

    def call(self, x: Any) -> Any:
        cell = self.cell
        if fast_ops_enabled():
            return conv_lstm_sequence(x, cell.kernel, cell.gate_norms(), cell.memory_norm,
                                      self.forget_bias, self.constant_channels, cell.conv_dtype)
        x, h = views_and_zero_state(x, self.filters, self.constant_channels)
        m, outputs = h, []
        for v in range(x.shape[1]):
            m, h = cell(x[:, v], (m, h))
            outputs.append(h)
        return ops.stack(outputs, axis=1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple:
        return (*input_shape[:-1], self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "layer_norm": self.layer_norm,
                "forget_bias": self.forget_bias, "constant_channels": self.constant_channels}
