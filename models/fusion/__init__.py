"""The 3D fusion modules ("fusers"): how the per-view grids become one grid per prefix of views.

A fuser is a ``keras.layers.Layer`` subclass in its own module of this package, registered by
name with :func:`register_fuser`; importing :mod:`models.fusion` imports every module of the
folder, so a new file registers itself (no other edit). The contract
(``docs/architecture.md``, "Writing a fuser"):

* constructed as ``cls(filters=F, **kwargs)``; the keyword arguments are Keras layer
  arguments (``name``, ...) and, when the class's ``__init__`` names them, the options of
  :data:`OPTIONS` (the LSM trunk passes ``kernel_size``, ``layer_norm`` and
  ``constant_channels`` that way: :func:`make_fuser`);
* called on ``x`` ``[B, V, D, H, W, C]``: the unprojected feature grids of every view, their
  last channel the voxel's depth in that view's camera (any float dtype);
* returns ``[B, V, D, H, W, F]`` float32 (or the input's dtype), where output ``v`` depends
  on views ``0..v`` only (the trunk decodes every prefix of views).

The release key ``rnn`` (args files, ``--rnn``) picks a fuser by name (:data:`FUSERS`).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

import keras

__all__ = ["FUSERS", "OPTIONS", "fuser_names", "make_fuser", "register_fuser",
           "views_and_zero_state"]

#: Registered name -> fuser class (filled as the modules of this package are imported).
FUSERS: dict[str, type[keras.layers.Layer]] = {}

#: Optional constructor arguments a fuser may declare, and what the LSM trunk passes for them:
#: ``kernel_size`` (the ``rnn_kernel`` key), ``layer_norm`` (``rnn_layer_norm``) and
#: ``constant_channels`` (1: the trailing depth channel is a function of the cameras, which
#: takes no gradient; a fuser may skip computing one for it).
OPTIONS = ("kernel_size", "layer_norm", "constant_channels")


def register_fuser(name: str) -> Callable[[type[keras.layers.Layer]], type[keras.layers.Layer]]:
    """Class decorator: register a fuser class under ``name`` (the value of the ``rnn`` key).

    Raises:
        ValueError: ``name`` is taken by another class, or the class is not a Keras layer.
    """

    def decorate(cls: type[keras.layers.Layer]) -> type[keras.layers.Layer]:
        if not issubclass(cls, keras.layers.Layer):
            raise ValueError(f"fuser {name!r}: {cls.__qualname__} is not a keras.layers.Layer")
        old = FUSERS.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__,
                                                                      cls.__qualname__):
            raise ValueError(f"fuser name {name!r} is taken by {old.__module__}."
                             f"{old.__qualname__}")
        cls.fuser_name = name
        FUSERS[name] = cls
        return cls

    return decorate


def fuser_names() -> tuple[str, ...]:
    """The registered fuser names, sorted."""
    return tuple(sorted(FUSERS))


def make_fuser(fuser: str, /, filters: int, **kwargs: Any) -> keras.layers.Layer:
    """``FUSERS[fuser](filters=filters, **kwargs)``, where the :data:`OPTIONS` among
    ``kwargs`` are passed only if the class's ``__init__`` names them (the others are Keras
    layer arguments, passed as they are).

    Raises:
        ValueError: unknown name (the message lists the names).
    """
    cls = FUSERS.get(fuser)
    if cls is None:
        raise ValueError(f"unknown fuser {fuser!r}: the fusers are {', '.join(fuser_names())}")
    params = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in kwargs.items() if k not in OPTIONS or k in params}
    return cls(filters=filters, **kwargs)


def views_and_zero_state(x: Any, filters: int, constant_channels: int = 0) -> tuple[Any, Any]:
    """The start of a recurrent fuser's plain form.

    Args:
        x: ``[B, V, D, H, W, C]`` grids of every view (any float dtype).
        filters: state channels F.
        constant_channels: trailing channels of ``x`` that take no gradient.

    Returns:
        ``x`` as float32 with its last ``constant_channels`` channels behind a stop-gradient,
        and the zero state ``[B, D, H, W, F]`` float32.
    """
    from keras import ops

    x = ops.cast(x, "float32")
    if constant_channels:
        k = constant_channels
        x = ops.concatenate([x[..., :-k], ops.stop_gradient(x[..., -k:])], axis=-1)
    return x, ops.repeat(ops.zeros_like(x[:, 0, ..., :1]), filters, axis=-1)


for _info in pkgutil.iter_modules(__path__, __name__ + "."):
    importlib.import_module(_info.name)
