"""Shared helpers for the models tests: cameras, small configs, backend-agnostic gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from geometry.camera import look_at

SMALL = {
    "im_h": 32,
    "im_w": 32,
    "nvox": 16,
    "im_channels": 4,
    "rnn_channels": 4,
    "grid_channels": 4,
    "depth_channels": 2,
    "ray_samples": 8,
}


def make_inputs(batch: int, views: int, size: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    """Random images in [0, 1] with cameras ~2 units from the origin looking at it."""
    rng = np.random.default_rng(seed)
    f = 420.0 * size / 224.0
    K = np.array([[f, 0.0, size / 2], [0.0, f, size / 2], [0.0, 0.0, 1.0]], np.float32)
    ext = np.stack(
        [
            np.stack([look_at(rng.uniform(0, 360), rng.uniform(5, 40))[:3] for _ in range(views)])
            for _ in range(batch)
        ]
    ).astype(np.float32)
    return {
        "images": rng.random((batch, views, size, size, 3), dtype=np.float32),
        "K": np.tile(K, (batch, views, 1, 1)),
        "extrinsic": ext,
    }


def to_numpy(x: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


_JIT_CACHE: dict[tuple, tuple[Any, Any]] = {}


def run(layer: keras.layers.Layer, *args: Any, **kwargs: Any) -> Any:
    """``layer(*args, **kwargs)``; under JAX through a cached ``jax.jit`` of ``stateless_call``.

    Eager JAX compiles every op separately, which makes these tests several times slower than
    one jitted program. Unbuilt layers are built by a symbolic call first (no compilation).
    """
    if keras.backend.backend() != "jax":
        return layer(*args, **kwargs)
    import jax

    if not layer.built:
        symbolic = jax.tree_util.tree_map(
            lambda a: keras.KerasTensor(np.shape(a), dtype=str(np.asarray(a).dtype)), args
        )
        layer(*symbolic, **kwargs)
    key = (id(layer), tuple(sorted(kwargs.items())))
    if key not in _JIT_CACHE:

        def fn(tv: list[Any], ntv: list[Any], *a: Any) -> Any:
            return layer.stateless_call(tv, ntv, *a, **kwargs)[0]

        _JIT_CACHE[key] = (layer, jax.jit(fn))  # keep the layer alive so its id stays unique
    tv = [v.value for v in layer.trainable_variables]
    ntv = [v.value for v in layer.non_trainable_variables]
    return _JIT_CACHE[key][1](tv, ntv, *args)


def loss_and_grads(
    model: keras.Model, inputs: Any, loss_fn: Callable[[Any], Any], **call_kwargs: Any
) -> tuple[float, list[np.ndarray | None]]:
    """Loss and gradients w.r.t. ``model.trainable_variables`` on the active backend.

    A variable the loss does not depend on gets ``None`` (TensorFlow) or zeros (JAX).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn(model(inputs, training=True, **call_kwargs))
        grads = tape.gradient(loss, model.trainable_variables)
        return float(loss), [None if g is None else to_numpy(g) for g in grads]
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def f(tv: list[Any]) -> Any:
            out, _ = model.stateless_call(tv, non_trainable, inputs, training=True, **call_kwargs)
            return loss_fn(out)

        loss, grads = jax.jit(jax.value_and_grad(f))(trainable)
        return float(loss), [np.asarray(g) for g in grads]
    raise NotImplementedError(f"gradients not implemented for backend {backend}")
