"""JAX kernels of the geometry ops.

JAX compiles whole training steps with XLA, so an op needs no compiling of its own here:
:func:`run` calls the op's portable function, whose ``keras.ops`` are JAX operations traced
into the caller's ``jax.jit``. What this module adds are *native kernels*: pieces of an op that
XLA runs faster when written with JAX's own primitives than with ``keras.ops``. The portable
code asks for one by name (:func:`ops.dispatch.native`) and falls back on its own version when
the backend has none (or ``LSM_FAST_OPS=0``); ``tests/ops/test_jax_kernels.py`` checks each
against that portable version.

- :func:`splat`: the bilinear splat (the unprojection's feature gradient) as four chained
  scatter-adds per map, straight into the ``[T, C]`` table, indices promised in bounds. The
  portable form concatenates each map's four corner-weighted gradients into one ``[4M, C]``
  segment sum (a copy JAX's XLA materialises at every call) and, for views-first maps,
  transposes the result: 0.057 / 0.075 s (table order / views first) against 0.046 s for the
  paper's size (32 maps of 32^3 samples, 32 channels; ``docs/performance.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["run", "splat"]


def run(portable: Callable, tensors: tuple, static: tuple[tuple[str, Any], ...],
        grads: tuple[tuple[int, Callable], ...]) -> Any:
    """Call ``portable`` on ``tensors`` with the static keyword arguments ``static``.

    The portable gradient functions ``grads`` are not used: JAX differentiates the traced
    portable function, and the op's native kernels (this module's other functions) are picked
    by the portable code itself.
    """
    del grads
    return portable(*tensors, **dict(static))


def splat(g, i00, fu, fv, row: int, rows: int, views: int | None = None):
    """:func:`ops.unproject.splat` (same arguments and result): each map's samples added
    onto the four corners of their top-left rows by four chained scatter-adds, map after map,
    into one ``[rows, C]`` table.

    ``i00`` holds rows of the whole table, so the map order (``views``) needs no handling:
    map ``m``'s updates land on its own table slice whichever map that is. One map at a time
    (a loop, not one scatter of all samples) keeps the slice being written in cache.
    """
    del views  # i00 already points into the right table map
    n, c = i00.shape[0], g.shape[-1]
    g = jnp.reshape(jnp.asarray(g), (n, -1, c))
    ids = jnp.reshape(jnp.asarray(i00), (n, -1))
    fu = jnp.reshape(jnp.asarray(fu), (n, -1, 1)).astype(g.dtype)
    fv = jnp.reshape(jnp.asarray(fv), (n, -1, 1)).astype(g.dtype)

    def one_map(m, out):
        gm, im, u, v = g[m], ids[m], fu[m], fv[m]
        corners = ((0, (1 - u) * (1 - v)), (1, u * (1 - v)), (row, (1 - u) * v),
                   (row + 1, u * v))
        for off, weight in corners:
            out = out.at[im + off].add(gm * weight, mode="promise_in_bounds")
        return out

    return jax.lax.fori_loop(0, n, one_map, jnp.zeros((rows, c), g.dtype))
