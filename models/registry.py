"""The registry of models: a model is picked by name, and its head picks how it is trained.

A model is a ``keras.Model`` subclass in a module of the :mod:`models` package, registered with
:func:`register_model`::

    @register_model("vlsm", head="voxels")
    class VLSM(keras.Model):
        def __init__(self, config: Mapping[str, Any] | None = None, name: str = "MVNet"): ...
        def call(self, inputs, training=None): ...

It is constructed as ``cls(config)`` with the whole configuration mapping (a run's arguments;
the model reads the keys it knows and ignores the others) and called on
``{"images": [B, V, H, W, 3] in [0, 1], "K": [B, V, 3, 3], "extrinsic": [B, V, 3, 4]}``
(a model may ignore the cameras). Its head says what it predicts, and so which task of
:mod:`training.tasks` trains and evaluates it (loss, metrics, pictures, baselines):

* ``"voxels"``: occupancy logits ``[B, T, N, N, N, 1]``, entry ``t`` after views ``0..t``;
* ``"depth"``: depth ``[B, T, V, H, W, C]`` of every view after views ``0..t`` (``C`` = 1, or 2
  with a foreground logit, see :mod:`ops.depth_head`).

Looking a name up imports every module of the :mod:`models` package first, so a new model is
one new file in ``models/`` (plus an args file with ``"model": "<name>"``): no other edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import keras

__all__ = ["HEADS", "MODELS", "build_model", "model_class", "model_head", "model_names",
           "register_model"]


#: The heads a model can have (see the module docstring).
HEADS = ("voxels", "depth")


class _Registry(Mapping[str, type[keras.Model]]):
    """Name -> class, read-only; the first read imports the :mod:`models` package's modules."""

    def __init__(self) -> None:
        self._classes: dict[str, type[keras.Model]] = {}
        self._state = "new"  # "new", "loading", "loaded"

    def _load(self) -> dict[str, type[keras.Model]]:
        if self._state == "new":
            self._state = "loading"
            try:
                import models

                for info in pkgutil.iter_modules(models.__path__, "models."):
                    if info.name != __name__:
                        importlib.import_module(info.name)
            except BaseException:
                self._state = "new"
                raise
            self._state = "loaded"
        return self._classes

    def __getitem__(self, name: str) -> type[keras.Model]:
        return self._load()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"MODELS({', '.join(f'{k}={v.__qualname__}' for k, v in self.items())})"


#: Registered model name -> class. Reading it first imports every module of the :mod:`models`
#: package, so every model defined there is in it.
MODELS = _Registry()


def register_model(name: str, head: str) -> Callable[[type[keras.Model]], type[keras.Model]]:
    """Class decorator: register a model class under ``name`` with its ``head``.

    Sets the class attributes ``model_name`` and ``head``.

    Args:
        name: the name args files and ``--model`` use (e.g. ``"vlsm"``).
        head: one of :data:`HEADS`.

    Raises:
        ValueError: unknown head, or ``name`` taken by another class.
    """
    if head not in HEADS:
        raise ValueError(f"model {name!r}: head must be one of {HEADS}, got {head!r}")

    def decorate(cls: type[keras.Model]) -> type[keras.Model]:
        old = MODELS._classes.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__,
                                                                      cls.__qualname__):
            raise ValueError(f"model name {name!r} is taken by {old.__module__}.{old.__qualname__}")
        cls.model_name = name
        cls.head = head
        MODELS._classes[name] = cls
        return cls

    return decorate


def model_names() -> tuple[str, ...]:
    """The registered model names, sorted."""
    return tuple(sorted(MODELS))


def model_class(name: str) -> type[keras.Model]:
    """The class registered as ``name``.

    Raises:
        ValueError: no model of that name (the message lists the names).
    """
    cls = MODELS.get(name)
    if cls is None:
        raise ValueError(f"unknown model {name!r}: the models are {', '.join(model_names())}")
    return cls


def model_head(name: str) -> str:
    """The head (:data:`HEADS`) of the model registered as ``name``."""
    return model_class(name).head


def build_model(name: str, config: Mapping[str, Any] | None = None,
                **overrides: Any) -> keras.Model:
    """Build the model registered as ``name`` from a configuration mapping plus overrides.

    Args:
        name: a registered name (:func:`model_names`).
        config: the configuration (e.g. a run's arguments as a dict); keys the model does not
            read are ignored by it.
        overrides: keys that replace those of ``config``.

    Raises:
        ValueError: unknown name, or a value the model rejects.
    """
    return model_class(name)({**(dict(config) if config else {}), **overrides})
