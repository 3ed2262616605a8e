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

from models.precision import PRECISIONS
from ops.dispatch import native

NORMS = ("IN", "BN", "None")


def normalize(x: Any, axes: list[int], epsilon: float, gamma: Any = None, beta: Any = None
              ) -> Any:
    """``(x - mean) / sqrt(var + epsilon) * gamma + beta`` with its gradient written out.

    Mean and biased variance are taken over ``axes`` (kept), per the other axes; ``gamma``
    and ``beta`` (``[C]``, or None for none) broadcast over the last axis. Same values as
    ``ops.moments`` and the formula, computed in as few passes over ``x`` as the algebra
    allows (each elementwise op of a TensorFlow graph is one pass over memory, and norms
    were a third of a bfloat16 training step: ``docs/performance.md``):

    * forward: ``d = x - mean``, ``var = mean(d^2)``, ``y = d * (rsqrt(var + eps) gamma) +
      beta`` (the scale folded into gamma per example and channel);
    * backward, the closed form ``dx = s (g' - mean(g') - x_hat mean(g' x_hat))`` with
      ``g' = g gamma``, ``s = rsqrt(var + eps)``, ``x_hat = d s``, from two sums per example
      and channel, ``S_g = sum(g)`` and ``S_gd = sum(g d)`` over the non-channel axes:
      ``dx = g (s gamma) + d a + b`` with ``a``, ``b`` per example (and channel) built from
      them; ``dgamma = sum(s S_gd)``, ``dbeta = sum(S_g)`` over the examples.

    Args:
      x: ``[B, ..., C]`` float32.
      axes: the axes the statistics are taken over (e.g. ``[1, 2, 3]`` for instance norm of
        ``[B, D, H, W, C]``, or every non-batch axis for layer norm); never the batch axis.
      epsilon: added to the variance.
      gamma, beta: ``[C]`` scale and offset, or None.

    Returns:
      Same shape as ``x``.
    """
    has_gamma, has_beta = gamma is not None, beta is not None
    # read variables outside the custom-gradient function (TF then needs no `variables` arg)
    params = [ops.copy(p) for p in (gamma, beta) if p is not None]
    rank = len(x.shape)
    channel_axis = rank - 1
    spatial = [a for a in axes if a != channel_axis]  # summed per example and channel
    count = 1.0
    for a in axes:
        count *= float(x.shape[a])
    examples = list(range(channel_axis))

    def over_channels(t: Any) -> Any:
        """Finish a per-(example, channel) sum over ``axes`` (add over C if C is one)."""
        return ops.sum(t, axis=-1, keepdims=True) if channel_axis in axes else t

    @ops.custom_gradient
    def fn(x, *params):
        d = x - ops.mean(x, axis=axes, keepdims=True)
        scale = ops.rsqrt(ops.mean(ops.square(d), axis=axes, keepdims=True) + epsilon)
        y = d * (scale * params[0] if has_gamma else scale)
        if has_beta:
            y = y + params[-1]

        def grad(*args, upstream=None):
            g = args[0] if upstream is None else upstream
            s_g = ops.sum(g, axis=spatial, keepdims=True) if spatial else g
            s_gd = ops.sum(g * d, axis=spatial, keepdims=True) if spatial else g * d
            gam = params[0] if has_gamma else 1.0
            m1 = over_channels(s_g * gam) / count  # mean(g')
            m2 = over_channels(s_gd * gam) * scale / count  # mean(g' x_hat)
            dx = g * (scale * gam) + d * (-scale * scale * m2) - scale * m1
            out = [dx]
            if has_gamma:
                out.append(ops.reshape(ops.sum(s_gd * scale, axis=examples), (-1,)))
            if has_beta:
                out.append(ops.reshape(ops.sum(s_g, axis=examples), (-1,)))
            return tuple(out)

        return y, grad

    return fn(x, *params)


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
    variance are taken per example and channel over the spatial axes ``S1..Sk``. A float32,
    bfloat16 or float16 input gives an output of its dtype, with float32 statistics (the
    TensorFlow backend runs the fused kernel :func:`ops.tf_kernels.instance_norm` where it
    pays: examples of 2^17 elements or more, channels a multiple of 16; elsewhere, and on the
    other backends, :func:`normalize` runs in float32).

    Args:
      epsilon: added to the variance (release: 1e-5).
    """

    def __init__(self, epsilon: float = 1e-5, **kwargs: Any) -> None:
        # A low-precision input (a convolution's output in its compute dtype) stays in it:
        # Keras' autocast would cast it to float32 at the call.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) < 3:
            raise ValueError(f"InstanceNorm needs [B, spatial..., C] input, got {input_shape}")
        self.bias = self.add_weight(name="bias", shape=(int(input_shape[-1]),), initializer="zeros")

    def call(self, x: Any) -> Any:
        """``x`` ``[B, S1..Sk, C]`` -> the same shape, in ``x``'s dtype if float32, bfloat16
        or float16 (statistics in float32), else in float32."""
        x = ops.convert_to_tensor(x)
        dtype = keras.backend.standardize_dtype(x.dtype)
        if dtype not in PRECISIONS:
            x, dtype = ops.cast(x, "float32"), "float32"
        kernel = native("instance_norm")  # None: no kernel, or not worth it at this size
        y = None if kernel is None or None in x.shape else kernel(x, self.bias, self.epsilon)
        if y is not None:
            return y
        axes = list(range(1, len(x.shape) - 1))
        y = normalize(ops.cast(x, "float32"), axes, self.epsilon, beta=self.bias)
        return ops.cast(y, dtype)

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
        return normalize(x, axes, self.epsilon, gamma=self.gamma, beta=self.beta)

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
