"""Backend helpers for the ops tests (run under KERAS_BACKEND=tensorflow and =jax)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()

if BACKEND == "jax":
    import jax

    # Without this JAX silently downcasts the float64 inputs of the reference comparisons.
    jax.config.update("jax_enable_x64", True)


def to_numpy(x) -> np.ndarray:
    """A backend tensor as a numpy array."""
    return np.asarray(keras.ops.convert_to_numpy(x))


def grad(fn, args, argnum: int) -> np.ndarray:
    """Gradient of the scalar ``fn(*args)`` with respect to ``args[argnum]``, by autodiff."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        xs = [tf.convert_to_tensor(a) for a in args]
        with tf.GradientTape() as tape:
            tape.watch(xs[argnum])
            y = fn(*xs)
        return tf.convert_to_tensor(tape.gradient(y, xs[argnum])).numpy()
    if BACKEND == "jax":
        import jax.numpy as jnp

        return np.asarray(jax.grad(fn, argnums=argnum)(*[jnp.asarray(a) for a in args]))
    pytest.skip(f"no gradient helper for backend {BACKEND}")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def compiled(fn):
    """``fn`` compiled the way training will run it (XLA under TF, ``jax.jit`` under JAX)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if BACKEND == "jax":
        return jax.jit(fn)
    return fn
