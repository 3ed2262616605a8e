"""Fast forms of the recurrent fusers' unrolled sequences (ConvGRU, ConvLSTM over the views).

:mod:`models.fusion.gru` and :mod:`models.fusion.lstm` write their cells as the paper's
equations, one view at a time from the zero state. The functions here compute the same
outputs, and the same gradients, in the form that was measured fastest on a CPU
(``docs/profile_train.md``); the layers call them when fast ops are on
(:func:`ops.dispatch.fast_ops_enabled`; ``LSM_FAST_OPS=0`` runs the equations).
What they change, all exact rewrites of the same function:

* Each convolution of a concatenation ``[x, h] * W`` is computed as ``x * W_x + h * W_h``
  (the same linear map): the input's share ``x * W_x`` of every view does not depend on the
  state, so it is computed view by view apart from the recurrence (a graph runs those
  convolutions beside it; one convolution of all views split afterwards was 6% slower per
  V-LSM 8 x 4 bfloat16 step), and the GRU's gates and candidate are two convolutions (no
  split of a float32 ``3F``-channel output, no concatenation of its gradient).
* From the zero state the state's convolutions are skipped, and so is the gate that only
  multiplies the state (GRU reset ``r``: ``r h = 0``; LSTM forget ``f``: ``m f = 0``): the
  first view's projection has a third fewer outputs (GRU), forward and backward.
* Views first: the sequence is transposed once to ``[V, B, ...]`` (the LSM trunk holds its
  grids in that order, so the two transposes cancel in a compiled graph), each view's slice
  and the stack of the outputs are contiguous.
* ``constant_channels``: the trailing input channels (the LSM's voxel depth, a function of
  the cameras) are convolved apart, in float32, with no input gradient: a 33-channel
  convolution's input gradient cost oneDNN 1.5x a 32-channel one's. The caller declares that
  it wants no gradient for them (the layers then stop it in their plain form too).

The gates' normalisations are passed in as functions (``[N, D, H, W, F]`` float32 -> the
same), so this module needs no model code: a layer norm, or adding the gate's bias.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

from ops.conv import conv3d, lowp

__all__ = ["conv_gru_sequence", "conv_lstm_sequence"]

Norm = Callable[[Any], Any]


def _views_first(x: Any, constant_channels: int, dtype: str) -> tuple[list[Any], list[Any]]:
    """``[B, V, D, H, W, C]`` -> the V views' inputs ``[B, D, H, W, C - k]`` and their
    constant channels ``[B, D, H, W, k]`` (``None`` each when ``k = 0``), as contiguous
    slices of the views-first tensor, in ``dtype`` if ``x`` is in it, else in float32."""
    if len(x.shape) != 6 or x.shape[1] is None:
        raise ValueError(f"x must be [B, V, D, H, W, C] with a static V, got {x.shape}")
    if keras.backend.standardize_dtype(x.dtype) != dtype:
        x = ops.cast(x, "float32")
    views = int(x.shape[1])
    xt = ops.reshape(ops.transpose(x, (1, 0, 2, 3, 4, 5)), (-1, *x.shape[2:]))
    xs = ops.split(xt, views, axis=0)
    if not constant_channels:
        return list(xs), [None] * views
    c = int(x.shape[-1]) - constant_channels
    return [a[..., :c] for a in xs], [a[..., c:] for a in xs]


def _model_major(outputs: Sequence[Any]) -> Any:
    """V outputs ``[B, D, H, W, F]`` -> ``[B, V, D, H, W, F]`` (stacked views first)."""
    out = ops.stack(outputs, axis=0)
    return ops.transpose(out, (1, 0, 2, 3, 4, 5))


def _project(x: Any, constant: Any, kernel: Any, dtype: str) -> Any:
    """``[x, constant] * kernel`` in float32, ``x``'s share computed in ``dtype`` and the
    constant's apart, in float32, differentiated with respect to the kernel only.

    Args:
      x: ``[N, D, H, W, C]``; constant: ``[N, D, H, W, k]`` or ``None``;
        kernel: ``[s, s, s, C + k, O]``; dtype: compute dtype of ``x``'s convolution.

    Returns:
      ``[N, D, H, W, O]`` float32.
    """
    c = x.shape[-1]
    out = lowp(conv3d, x, kernel[..., :c, :], dtype)
    if constant is None:
        return out
    return out + conv3d(ops.stop_gradient(ops.cast(constant, "float32")), kernel[..., c:, :])


def conv_gru_sequence(x: Any, gate_kernel: Any, out_kernel: Any, gate_norms: Sequence[Norm],
                      out_norm: Norm, constant_channels: int = 0, dtype: str = "float32"
                      ) -> Any:
    """The ConvGRU (:mod:`models.fusion.gru`) over the views of ``x`` from the zero state.

    Args:
      x: ``[B, V, D, H, W, C]`` (float32, or already in ``dtype``); V static.
      gate_kernel: ``[k, k, k, C + F, 2F]`` (reset then update outputs).
      out_kernel: ``[k, k, k, C + F, F]`` (candidate).
      gate_norms: ``(norm_r, norm_u)``, each applied to its gate's pre-activation.
      out_norm: applied to the candidate's pre-activation.
      constant_channels: trailing channels of ``x`` given no gradient.
      dtype: compute dtype of the convolutions.

    Returns:
      ``[B, V, D, H, W, F]`` float32: entry v is the state after views 0..v.
    """
    f = int(out_kernel.shape[-1])
    c = int(out_kernel.shape[-2]) - f
    xs, cs = _views_first(x, constant_channels, dtype)
    w_gates, w_out = gate_kernel[..., :c, :], out_kernel[..., :c, :]
    w_first = ops.concatenate([w_gates[..., f:], w_out], axis=-1)  # update | candidate
    h, outputs = None, []
    # The inputs' shares first (they do not depend on the state), then the recurrence.
    xw = [_project(xs[0], cs[0], w_first, dtype)]
    xw += [(_project(a, b, w_gates, dtype), _project(a, b, w_out, dtype))
           for a, b in zip(xs[1:], cs[1:], strict=True)]
    for v, p in enumerate(xw):
        if v == 0:  # h = 0: no state convolutions, no reset gate; h' = (1 - u) tanh(c)
            u, cand = ops.split(p, 2, axis=-1)
            h = (1.0 - ops.sigmoid(gate_norms[1](u))) * ops.tanh(out_norm(cand))
        else:
            g, cand = p
            g = g + lowp(conv3d, h, gate_kernel[..., c:, :], dtype)
            r_pre, u_pre = ops.split(g, 2, axis=-1)
            r, u = ops.sigmoid(gate_norms[0](r_pre)), ops.sigmoid(gate_norms[1](u_pre))
            cand = cand + lowp(conv3d, r * h, out_kernel[..., c:, :], dtype)
            t = ops.tanh(out_norm(cand))
            h = t + u * (h - t)  # u h + (1 - u) t in fewer passes (forward and backward)
        outputs.append(h)
    return _model_major(outputs)


def conv_lstm_sequence(x: Any, kernel: Any, gate_norms: Sequence[Norm], memory_norm: Norm,
                       forget_bias: float = 1.0, constant_channels: int = 0,
                       dtype: str = "float32") -> Any:
    """The ConvLSTM (:mod:`models.fusion.lstm`) over the views of ``x`` from the zero state.

    Args:
      x: ``[B, V, D, H, W, C]`` (float32, or already in ``dtype``); V static.
      kernel: ``[k, k, k, C + F, 4F]`` (outputs j, i, f, o).
      gate_norms: ``(norm_j, norm_i, norm_f, norm_o)`` of the four pre-activations.
      memory_norm: applied to the new memory.
      forget_bias: added to the forget gate's pre-activation.
      constant_channels: trailing channels of ``x`` given no gradient.
      dtype: compute dtype of the convolutions.

    Returns:
      ``[B, V, D, H, W, F]`` float32: entry v is the output after views 0..v.
    """
    f = int(kernel.shape[-1]) // 4
    c = int(kernel.shape[-2]) - f
    xs, cs = _views_first(x, constant_channels, dtype)
    w_in = kernel[..., :c, :]
    w_first = ops.concatenate([w_in[..., :2 * f], w_in[..., 3 * f:]], axis=-1)  # j, i, o
    m, h, outputs = None, None, []
    xw = [_project(xs[0], cs[0], w_first, dtype)]
    xw += [_project(a, b, w_in, dtype) for a, b in zip(xs[1:], cs[1:], strict=True)]
    for v, y in enumerate(xw):
        if v == 0:  # m = h = 0: no state convolution, no forget gate
            j, i, o = ops.split(y, 3, axis=-1)
            j, i, o = gate_norms[0](j), gate_norms[1](i), gate_norms[3](o)
            m = ops.sigmoid(i) * ops.tanh(j)
        else:
            y = y + lowp(conv3d, h, kernel[..., c:, :], dtype)
            j, i, fg, o = (n(t) for n, t in zip(gate_norms, ops.split(y, 4, axis=-1),
                                                 strict=True))
            m = m * ops.sigmoid(fg + forget_bias) + ops.sigmoid(i) * ops.tanh(j)
        m = memory_norm(m)
        h = ops.tanh(m) * ops.sigmoid(o)
        outputs.append(h)
    return _model_major(outputs)
