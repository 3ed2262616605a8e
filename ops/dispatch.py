"""Backend fast paths of the geometry ops, written once.

Each op is written once, in portable ``keras.ops``, and decorated with :func:`fast_path`. At
call time the decorator asks :func:`fast_kernels` for the current Keras backend's kernel
module; when there is one, the op runs through it (compiled, with the same arguments and the
same result), otherwise the portable function runs. The portable function stays reachable as
``op.portable`` (the reference every fast path is tested against).

Backends and their kernel modules (:data:`KERNELS`): TensorFlow -> :mod:`ops.tf_kernels`
(each op XLA-compiled inside the surrounding graph); JAX -> :mod:`ops.jax_kernels` (JAX compiles
whole training steps with XLA anyway, so its ``run`` calls the portable function; it adds native
kernels for pieces of ops, which the portable code asks for with :func:`native`).
``LSM_FAST_OPS=0`` forces the portable path everywhere.

A kernel module provides ``run(portable, tensors, static, grads)``: call ``portable`` on the
tensor arguments ``tensors`` (a tuple) with the keyword arguments ``static`` (a hashable tuple
of ``(name, value)`` pairs) and, when ``grads`` is not empty, take the gradient with respect
to tensor argument ``i`` from the portable function ``grads[i][1]`` (``grads`` is a tuple of
``(i, fn)`` pairs; ``fn(g, *tensors, **static)``) and the others by autodiff.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import keras
import numpy as np

__all__ = ["KERNELS", "fast_kernels", "fast_ops_enabled", "fast_path", "native"]

#: Keras backend name -> its kernel module (imported only when that backend runs).
KERNELS: dict[str, str] = {"tensorflow": "ops.tf_kernels", "jax": "ops.jax_kernels"}


def fast_ops_enabled() -> bool:
    """False when ``LSM_FAST_OPS=0``: every op then runs its plain, portable form (fast kernels
    and fused forms of ops alike, e.g. :func:`ops.project.unit_on_rays`)."""
    return os.environ.get("LSM_FAST_OPS", "1") != "0"


def fast_kernels() -> ModuleType | None:
    """The current Keras backend's kernel module, or ``None`` (portable ops).

    ``None`` when the backend has no kernel module or ``LSM_FAST_OPS=0``.
    """
    if not fast_ops_enabled():
        return None
    name = KERNELS.get(keras.backend.backend())
    return None if name is None else importlib.import_module(name)


def native(name: str) -> Callable | None:
    """The current backend's native kernel ``name`` (a function of its kernel module), or
    ``None``: the caller then runs its portable version, which the kernel must equal."""
    return getattr(fast_kernels(), name, None)


def _hashable(value: Any) -> Any:
    """A static argument as a hashable value: sequences and arrays become tuples."""
    if isinstance(value, list | tuple | np.ndarray):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def fast_path(tensors: int, grads: Mapping[int, Callable] | None = None) -> Callable:
    """Decorator of a portable op: dispatch to the backend's kernel module at call time.

    Args:
        tensors: how many leading parameters are tensors; the rest are static (Python values
            that select a compiled kernel: sizes, ranges, modes).
        grads: optional portable gradient functions, by tensor-argument index:
            ``grads[i](g, *tensors, **static)`` is the gradient with respect to tensor ``i``
            given the output's gradient ``g``; the other tensors are differentiated
            automatically.

    Returns:
        A decorator. The decorated op has the portable function's signature and docstring,
        and the portable function as its ``portable`` attribute.
    """
    grad_pairs = tuple(sorted((grads or {}).items()))

    def decorate(portable: Callable) -> Callable:
        signature = inspect.signature(portable)

        @functools.wraps(portable)
        def op(*args: Any, **kwargs: Any) -> Any:
            kernels = fast_kernels()
            if kernels is None:
                return portable(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            values = list(bound.arguments.items())
            static = tuple((name, _hashable(v)) for name, v in values[tensors:])
            return kernels.run(portable, tuple(v for _, v in values[:tensors]), static,
                               grad_pairs)

        op.portable = portable
        return op

    return decorate
