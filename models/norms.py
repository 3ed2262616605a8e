"""Normalisation layers used by the LSM networks.

The release chooses one normalisation for every convolution by name:

* ``"IN"``: instance norm. For each example and channel, over the spatial axes only:

      y = (x - mean) / sqrt(var + eps) + beta,      eps = 1e-5,

  with a per-channel offset ``beta`` (variable name ``InstanceNorm/bias``) and no scale.
* ``"BN"``: batch norm with an offset and no scale (``BatchNorm/beta``), decay 0.999,
  eps 1e-3 (the defaults of the release's ``slim.batch_norm``).
* ``"None"``: no normalisation; the convolution then carries a bias instead.

The ConvGRU/ConvLSTM gates use :class:`LayerNorm`: statistics over every non-batch axis
jointly (D, H, W, C), with a per-channel scale ``gamma`` and offset ``beta`` and
eps = 1e-12 (the release's ``tf.contrib.layers.layer_norm`` defaults).

All layers use ``keras.ops`` only and run on every Keras backend.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

NORMS = ("IN", "BN", "None")


def canonical_norm(norm: str | None) -> str:
    """Return the canonical norm name for ``norm`` (``None`` and ``"none"`` mean ``"None"``).

    Raises:
      ValueError: if ``norm`` is not one of ``"IN"``, ``"BN"``, ``"None"``.
    """
    if norm is None or str(norm).lower() == "none":
        return "None"
    if norm in NORMS:
        return str(norm)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


class InstanceNorm(keras.layers.Layer):
    """Instance normalisation with a per-channel offset only (no scale), as the release.

    Input and output: ``[B, S1, ..., Sk, C]`` with k >= 1 spatial axes. Mean and (biased)
    variance are taken per example and channel over the spatial axes ``S1..Sk``.

    Args:
      epsilon: added to the variance (release: 1e-5).
    """

    def __init__(self, epsilon: float = 1e-5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) < 3:
            raise ValueError(f"InstanceNorm needs [B, spatial..., C] input, got {input_shape}")
        self.bias = self.add_weight(name="bias", shape=(int(input_shape[-1]),), initializer="zeros")

    def call(self, x: Any) -> Any:
        axes = list(range(1, len(x.shape) - 1))
        mean, var = ops.moments(x, axes=axes, keepdims=True)
        return (x - mean) * ops.rsqrt(var + self.epsilon) + self.bias

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon}


class LayerNorm(keras.layers.Layer):
    """Layer norm over all non-batch axes jointly, with per-channel ``gamma`` and ``beta``.

    Input and output: ``[B, S1, ..., Sk, C]``; mean and variance are one scalar per example
    (taken over ``S1..Sk`` and ``C`` together), then ``y = gamma * x_hat + beta`` with
    ``gamma``, ``beta`` of shape ``[C]``. This is ``tf.contrib.layers.layer_norm`` with its
    defaults (begin_norm_axis=1, begin_params_axis=-1), which the release ConvGRU uses.

    Args:
      epsilon: added to the variance (release: 1e-12).
    """

    def __init__(self, epsilon: float = 1e-12, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        channels = int(input_shape[-1])
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")

    def call(self, x: Any) -> Any:
        axes = list(range(1, len(x.shape)))
        mean, var = ops.moments(x, axes=axes, keepdims=True)
        return (x - mean) * ops.rsqrt(var + self.epsilon) * self.gamma + self.beta

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon}


def make_norm(norm: str | None) -> keras.layers.Layer | None:
    """Build the normalisation layer named ``norm`` (``"IN"``, ``"BN"`` or ``"None"``).

    Returns:
      An :class:`InstanceNorm` named ``"InstanceNorm"``, a ``keras.layers.BatchNormalization``
      named ``"BatchNorm"`` (offset only, momentum 0.999, eps 1e-3), or ``None`` for
      ``"None"`` (the caller then adds a bias).
    """
    norm = canonical_norm(norm)
    if norm == "IN":
        return InstanceNorm(name="InstanceNorm")
    if norm == "BN":
        return keras.layers.BatchNormalization(
            momentum=0.999, epsilon=1e-3, center=True, scale=False, name="BatchNorm"
        )
    return None
