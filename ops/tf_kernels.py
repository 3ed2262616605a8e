"""TensorFlow kernels of the geometry ops: the portable ops compiled with XLA.

Keras compiles a TensorFlow training step as a plain graph on CPU (XLA for the whole model is
~20x slower there, because of its 3D convolutions). The gathers and scatter-adds of the geometry
ops, however, are ~5x faster forward+backward under XLA (``docs/speed.md``). So each op
runs as its own ``tf.function(jit_compile=True)``, which TensorFlow compiles as an XLA cluster
inside the surrounding graph (or eagerly), gradients included.

The maths is exactly each op's portable function (``op.portable``); this module knows no op by
name (:mod:`ops.dispatch` hands it the portable function), and ``tests/ops/test_tf_kernels.py``
checks values and gradients against the portable path.

It also holds *native kernels*, which portable code asks for by name
(:func:`ops.dispatch.native`) and replaces its own version with:

- :func:`instance_norm`: instance normalisation as one fused batch norm per example (oneDNN's
  on a CPU, cuDNN's on a GPU), forward and backward, reading and writing the convolutions'
  compute dtype with float32 statistics. The portable form (:func:`models.norms.normalize`)
  is about ten elementwise passes over float32 memory, and in a low precision two more casts:
  2.5-3.0x faster forward + backward in float32 and 3.6-5.5x in bfloat16 on a 2-core CPU
  (``benchmarks/bm_norms.py``, ``docs/performance.md``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import tensorflow as tf

__all__ = ["instance_norm", "run"]


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


#: Examples of fewer elements than this (``S * C``) are normalised faster by the portable norm:
#: the fused form costs about 0.13 ms per example whatever its size, and breaks even at 64-128k
#: elements per example (``docs/performance.md``).
INSTANCE_NORM_MIN_ELEMENTS = 1 << 17
#: The fused form needs a channel count divisible by this: oneDNN's batch norm vectorises over
#: channels, and with 8 it was 3.6x slower than the portable norm (16 channels: 3.8x faster).
INSTANCE_NORM_CHANNEL_MULTIPLE = 16


def instance_norm(x: tf.Tensor, beta: Any, epsilon: float,
                  min_elements: int = INSTANCE_NORM_MIN_ELEMENTS) -> tf.Tensor | None:
    """Instance norm, ``(x - mean) / sqrt(var + epsilon) + beta`` per example and channel over
    the spatial axes, as :func:`models.norms.normalize` with those axes (its native kernel).

    Each example is one ``FusedBatchNormV3`` in training mode on a ``[1, S, 1, C]`` view (the
    split along the batch axis takes no copy; the concatenation of the outputs is one pass),
    so its statistics and its gradient (``FusedBatchNormGradV3``) come fused from oneDNN or
    cuDNN, accumulated in float32 whatever the input dtype. The examples' norms run one after
    the other (control dependencies; each uses every core): left free, the graph interleaved
    them with other ops, and a float32 D-LSM 2 x 4 step peaked at 6.9-7.8 GB instead of
    5.1-6.0 GB (``docs/performance.md``).

    Args:
        x: ``[B, S1, ..., Sk, C]`` float32, bfloat16 or float16, with a static batch size B
            and static spatial and channel sizes.
        beta: ``[C]`` float32 offset, or None for none.
        epsilon: added to the biased variance.
        min_elements: below this many elements per example, return None.

    Returns:
        ``[B, S1, ..., Sk, C]`` in ``x``'s dtype, or None when an example has fewer than
        ``min_elements`` elements or C is not a multiple of
        :data:`INSTANCE_NORM_CHANNEL_MULTIPLE` (the caller then runs its portable norm).
    """
    shape = x.shape
    b, c = int(shape[0]), int(shape[-1])
    spatial = math.prod(int(n) for n in shape[1:-1])
    if spatial * c < min_elements or c % INSTANCE_NORM_CHANNEL_MULTIPLE:
        return None
    scale = tf.ones((c,), tf.float32)
    offset = tf.zeros((c,), tf.float32) if beta is None else tf.convert_to_tensor(beta)
    parts = tf.split(tf.reshape(x, (b, spatial, 1, c)), b, axis=0)
    ys = []
    for p in parts:
        with tf.control_dependencies(ys[-1:]):
            ys.append(tf.compat.v1.nn.fused_batch_norm(p, scale, offset, epsilon=epsilon,
                                                       is_training=True)[0])
    return tf.reshape(tf.concat(ys, axis=0), shape)
