"""Tensor utilities of the ops (``keras.ops``): static shape checks and float dtypes.

Every op checks its arguments' static shapes with :func:`check_shape` and
:func:`check_compatible`, so a wrong shape fails with one message naming the argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

__all__ = ["as_float", "check_compatible", "check_shape", "float_dtype"]


def check_shape(x, name: str, rank: int | None = None, tail: Sequence[int | None] = ()):
    """Check a tensor's static shape; return it as a tuple.

    Args:
        x: a tensor or array.
        name: the argument's name, used in the error message.
        rank: the exact rank required, or ``None`` for "at least ``len(tail)``".
        tail: required sizes of the last ``len(tail)`` axes; ``None`` matches any size.

    Returns:
        The static shape as a tuple (unknown sizes are ``None``).

    Raises:
        ValueError: if the rank or a trailing size does not match.
    """
    static = getattr(x, "shape", None)
    if static is None:
        static = np.shape(x)
    # the static shape: unknown sizes (e.g. a traced batch axis) are None, never tensors
    shape = tuple(None if d is None else int(d) for d in static)
    if rank is not None and len(shape) != rank:
        raise ValueError(f"`{name}` must have rank {rank}, got shape {shape}.")
    if len(shape) < len(tail):
        raise ValueError(f"`{name}` must have rank >= {len(tail)}, got shape {shape}.")
    if tail:
        got = shape[len(shape) - len(tail) :]
        for g, want in zip(got, tail, strict=True):
            if want is not None and g is not None and g != want:
                raise ValueError(
                    f"`{name}` must have trailing shape {tuple(tail)}, got shape {shape}."
                )
    return shape


def check_compatible(name_a: str, shape_a, name_b: str, shape_b) -> None:
    """Check that two static shapes agree wherever both sizes are known.

    Args:
        name_a: first argument's name (for the message).
        shape_a: its shape (or the part to compare), a sequence of ints or ``None``.
        name_b: second argument's name.
        shape_b: its shape (or the part to compare), same length as ``shape_a``.

    Raises:
        ValueError: if the lengths differ or a pair of known sizes differs.
    """
    shape_a, shape_b = tuple(shape_a), tuple(shape_b)
    if len(shape_a) != len(shape_b) or any(
        a is not None and b is not None and a != b for a, b in zip(shape_a, shape_b, strict=True)
    ):
        raise ValueError(f"`{name_a}` {shape_a} and `{name_b}` {shape_b} disagree.")


def float_dtype(x) -> str:
    """The dtype name of ``x`` if it is floating point, else ``"float32"``.

    Args:
        x: a tensor or array.

    Returns:
        A Keras dtype name such as ``"float32"`` or ``"float64"``.
    """
    dtype = keras.backend.standardize_dtype(ops.convert_to_tensor(x).dtype)
    return dtype if "float" in dtype else "float32"


def as_float(x, dtype=None):
    """``x`` cast to ``dtype``, or to its own float dtype (:func:`float_dtype`)."""
    return ops.cast(x, dtype or float_dtype(x))
