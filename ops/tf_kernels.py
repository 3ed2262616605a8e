"""TensorFlow kernels of the geometry ops: the portable ops compiled with XLA.

Keras compiles a TensorFlow training step as a plain graph on CPU (XLA for the whole model is
~20x slower there, because of its 3D convolutions). The gathers and scatter-adds of the geometry
ops, however, are ~5x faster forward+backward under XLA (``docs/benchmarks_ops.md``). So each op
runs as its own ``tf.function(jit_compile=True)``, which TensorFlow compiles as an XLA cluster
inside the surrounding graph (or eagerly), gradients included.

The maths is exactly each op's portable function (``op.portable``); this module knows no op by
name (:mod:`ops.dispatch` hands it the portable function), and ``tests/ops/test_tf_kernels.py``
checks values and gradients against the portable path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import tensorflow as tf

__all__ = ["run"]


def _xla(fn: Callable) -> Callable:
    return tf.function(fn, jit_compile=True, autograph=False)


@functools.lru_cache(maxsize=128)
def _compiled(portable: Callable, static: tuple[tuple[str, Any], ...],
              grads: tuple[tuple[int, Callable], ...]) -> Callable:
    """One XLA function of ``portable`` at these static arguments, with custom gradients when
    ``grads`` is not empty: one XLA function per given gradient, and one for the others (by
    autodiff of the portable function; a graph prunes it when those need no gradient)."""
    kwargs = dict(static)
    fwd = _xla(lambda *t: portable(*t, **kwargs))
    if not grads:
        return fwd
    given = {i: _xla(lambda g, *t, f=f: f(g, *t, **kwargs)) for i, f in grads}

    def rest(g: tf.Tensor, *t: tf.Tensor) -> list[tf.Tensor]:
        others = [t[i] for i in range(len(t)) if i not in given]
        with tf.GradientTape() as tape:
            tape.watch(others)
            y = portable(*t, **kwargs)
        return tape.gradient(y, others, output_gradients=g)

    rest_xla = _xla(rest)

    def call(*tensors: tf.Tensor) -> tf.Tensor:
        @tf.custom_gradient
        def fn(*t: tf.Tensor) -> tuple[tf.Tensor, Callable]:
            def grad(g: tf.Tensor) -> tuple[tf.Tensor, ...]:
                auto = iter(rest_xla(g, *t) if len(given) < len(t) else ())
                return tuple(given[i](g, *t) if i in given else next(auto)
                             for i in range(len(t)))

            return fwd(*t), grad

        return fn(*tensors)

    return call


def run(portable: Callable, tensors: tuple[Any, ...], static: tuple[tuple[str, Any], ...],
        grads: tuple[tuple[int, Callable], ...] = ()) -> tf.Tensor:
    """Run ``portable(*tensors, **dict(static))`` as XLA-compiled TensorFlow.

    Args:
        portable: the op's portable ``keras.ops`` function.
        tensors: its tensor arguments (tensors or arrays).
        static: its other arguments as hashable ``(name, value)`` pairs (they key the cache of
            compiled functions).
        grads: ``(index, fn)`` pairs: the gradient with respect to tensor ``index`` is
            ``fn(g, *tensors, **static)``, itself compiled; the others come from autodiff.

    Returns:
        What ``portable`` returns, as a TensorFlow tensor.
    """
    fn = _compiled(portable, static, grads)
    return fn(*(tf.convert_to_tensor(t) for t in tensors))
