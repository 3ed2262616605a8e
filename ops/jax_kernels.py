"""JAX kernels of the geometry ops.

JAX compiles whole training steps with XLA, so an op needs no compiling of its own here:
:func:`run` calls the op's portable function, whose ``keras.ops`` are JAX operations traced
into the caller's ``jax.jit``. What this module adds are *native kernels*: pieces of an op that
XLA runs faster when written with JAX's own primitives than with ``keras.ops``. The portable
code asks for one by name (:func:`ops.dispatch.native`) and falls back on its own version when
the backend has none (or ``LSM_FAST_OPS=0``); ``tests/ops/test_jax_kernels.py`` checks each
against that portable version.

- :func:`splat_map`: one map's bilinear splat (the unprojection's feature gradient) as four
  chained scatter-adds into one ``[T, C]`` buffer, indices promised in bounds. The portable
  form concatenates the four corner-weighted gradients into one ``[4M, C]`` segment sum, a
  copy JAX's XLA materialises at every call: 0.085 s against 0.050 s for the paper's size
  (32 maps of 32^3 samples, 32 channels; ``docs/profile_train.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

__all__ = ["run", "splat_map"]


def run(portable: Callable, tensors: tuple, static: tuple[tuple[str, Any], ...],
        grads: tuple[tuple[int, Callable], ...]) -> Any:
    """Call ``portable`` on ``tensors`` with the static keyword arguments ``static``.

    The portable gradient functions ``grads`` are not used: JAX differentiates the traced
    portable function, and the op's native kernels (this module's other functions) are picked
    by the portable code itself.
    """
    del grads
    return portable(*tensors, **dict(static))


def splat_map(g, ids, weights, row: int, segments: int):
    """One map's bilinear splat: ``g`` spread onto the four corners of ``ids``.

    Args:
        g: ``[M, C]`` gradient of the map's samples.
        ids: ``[M]`` int32 row of each sample's top-left corner in the map's table slice,
            with ``ids + row + 1 < segments``.
        weights: ``[4, M, 1]`` bilinear weights of the top-left, top-right, bottom-left and
            bottom-right corners.
        row: table rows per image row (``w``); segments: rows of the slice ``T``.

    Returns:
        ``[segments, C]``: ``out[ids + o] += g * weights[k]`` for the corner offsets
        ``o = 0, 1, row, row + 1``, in the dtype of ``g``.
    """
    out = jnp.zeros((segments, g.shape[-1]), g.dtype)
    for k, off in enumerate((0, 1, row, row + 1)):
        out = out.at[ids + off].add(g * weights[k].astype(g.dtype), mode="promise_in_bounds")
    return out
