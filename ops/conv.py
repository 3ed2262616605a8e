"""Convolutions below the models: 3D (transposed) convolutions and low-precision compute.

* :func:`conv3d` / :func:`conv3d_transpose`: TF-"SAME" 3D convolutions, native or as an
  equivalent sum of 2D convolutions where XLA on CPU would otherwise be ~25x slower
  (:func:`conv3d_impl`, environment variable ``LSM_CONV3D``).
* :func:`lowp`: a convolution computed in a low-precision dtype (bfloat16, float16) with a
  float32 result (the policy is :mod:`models.precision`'s; the mechanism lives here so that
  the fused kernels of :mod:`ops.recurrent` can use it without importing the models).

:mod:`models.layers` and :mod:`models.precision` re-export these names.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import keras
from keras import ops

__all__ = ["CONV3D_IMPLS", "conv3d", "conv3d_impl", "conv3d_transpose", "lowp"]

CONV3D_IMPLS = ("auto", "native", "2d")


@functools.cache
def _cpu_only() -> bool:
    devices = keras.distribution.list_devices()
    return all(str(d).lower().startswith("cpu") for d in devices)


def conv3d_impl(impl: str | None = None) -> str:
    """Resolve how 3D (transposed) convolutions are computed: ``"native"`` or ``"2d"``.

    ``"2d"`` writes a 3D convolution as a sum over the depth taps of 2D convolutions batched
    over depth. It gives the same result; it exists because XLA on CPU (the JAX backend on
    a CPU-only machine) has no fast 3D convolution and is ~25x slower than its 2D one.
    ``impl=None`` reads the environment variable ``LSM_CONV3D`` (default ``"auto"``);
    ``"auto"`` picks ``"2d"`` for JAX on a CPU-only machine and ``"native"`` otherwise.
    """
    impl = impl or os.environ.get("LSM_CONV3D", "auto")
    if impl not in CONV3D_IMPLS:
        raise ValueError(f"3D conv implementation must be one of {CONV3D_IMPLS}, got {impl!r}")
    if impl == "auto":
        return "2d" if keras.backend.backend() == "jax" and _cpu_only() else "native"
    return impl


def _same_padding(n: int, k: int, s: int) -> tuple[int, int, int]:
    """TF "SAME" along one axis: (output size, padding before, padding after)."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


def conv3d(x: Any, kernel: Any, strides: int = 1, impl: str | None = None) -> Any:
    """TF-"SAME" 3D convolution ``[B, D, H, W, C] * [k, k, k, C, O] -> [B, D', H', W', O]``.

    ``impl`` as :func:`conv3d_impl`. Needs a static depth D.
    """
    if conv3d_impl(impl) == "native":
        return ops.conv(x, kernel, strides=strides, padding="same")
    d, h, w, c = x.shape[1:]
    k = kernel.shape[0]
    d_out, lo, hi = _same_padding(d, k, strides)
    xp = ops.pad(x, [(0, 0), (lo, hi), (0, 0), (0, 0), (0, 0)])
    y = None
    for i in range(k):  # output depth j reads padded input depth j * s + i
        taps = xp[:, i : i + strides * (d_out - 1) + 1 : strides]
        t = ops.conv(ops.reshape(taps, (-1, h, w, c)), kernel[i], strides=strides, padding="same")
        t = ops.cast(t, "float32")  # taps of a low-precision conv are summed in float32
        y = t if y is None else y + t
    return ops.reshape(y, (-1, d_out, *y.shape[1:]))


def conv3d_transpose(x: Any, kernel: Any, strides: int = 1, impl: str | None = None) -> Any:
    """TF-"SAME" 3D transposed conv ``[B, D, H, W, C]``, kernel ``[k, k, k, O, C]`` ->
    ``[B, D*s, H*s, W*s, O]`` (the adjoint of :func:`conv3d` with the same kernel).

    ``impl`` as :func:`conv3d_impl`. Needs a static depth D.
    """
    if conv3d_impl(impl) == "native":
        return ops.conv_transpose(x, kernel, strides=strides, padding="same")
    d, h, w, c = x.shape[1:]
    k, s = kernel.shape[0], strides
    _, lo, _ = _same_padding(d * s, k, s)  # the padding of the adjoint convolution
    flat = ops.reshape(x, (-1, h, w, c))
    taps = []
    for i in range(k):
        t = ops.cast(ops.conv_transpose(flat, kernel[i], strides=s, padding="same"), "float32")
        taps.append(ops.reshape(t, (-1, d, *t.shape[1:])))
    # Input depth j with tap i lands at uncropped output depth j * s + i. Group taps by
    # i mod s, shift each by i // s, then interleave the s groups along depth.
    length = d + (k - 1) // s
    groups = []
    for r in range(s):
        acc = None
        for i in range(r, k, s):
            q = i // s
            t = ops.pad(taps[i], [(0, 0), (q, length - d - q), (0, 0), (0, 0), (0, 0)])
            acc = t if acc is None else acc + t
        if acc is None:  # k < s: this residue gets no tap
            acc = ops.zeros_like(ops.pad(taps[0], [(0, 0), (0, length - d)] + [(0, 0)] * 3))
        groups.append(acc)
    y = ops.stack(groups, axis=2)  # [B, length, s, H', W', O]
    y = ops.reshape(y, (-1, length * s, *y.shape[3:]))
    return y[:, lo : lo + d * s]


def lowp(fn: Callable[..., Any], x: Any, kernel: Any, dtype: str, keep: bool = False,
         **kwargs: Any) -> Any:
    """``fn(x, kernel, **kwargs)`` computed in ``dtype`` and returned in float32 (in ``dtype``
    with ``keep``).

    ``fn`` is a convolution (``ops.conv``, ``ops.conv_transpose``, ``ops.depthwise_conv`` or
    one of this module's 3D helpers); ``kernel`` is a float32 tensor, or a tuple of them (all
    cast); ``x`` is float32, or already in ``dtype`` (then it is not cast again). With
    ``dtype="float32"`` this is exactly ``fn(x, kernel, **kwargs)``.
    """
    if dtype == "float32":
        return fn(x, kernel, **kwargs)
    if isinstance(kernel, tuple):
        kernel = tuple(ops.cast(k, dtype) for k in kernel)
    else:
        kernel = ops.cast(kernel, dtype)
    y = fn(ops.cast(x, dtype), kernel, **kwargs)
    return ops.cast(y, dtype if keep else "float32")
