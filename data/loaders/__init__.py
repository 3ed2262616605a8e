"""The loaders of training and evaluation batches, and :func:`make_loader`, which picks one.

Modules, each importing only the ones below it::

    data.loaders (this factory)
      -> data.loaders.tf_loader     Loader: tf.data (imported lazily: TensorFlow is optional)
      -> data.loaders.numpy_loader  NumpyLoader: reader threads, no TensorFlow
           -> data.loaders.base     LoaderConfig, LoaderState, LoaderBase (what both share)
                -> data.examples    split_models, eval_views, load_example, resize_views

Both loaders take a :class:`LoaderConfig` (``LoaderConfig.from_args(args)`` for a run's
arguments), yield the same batch dictionaries (see :mod:`data.loaders.tf_loader` for the keys)
and iterate with ``.iterate(start)``.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from data.loaders.base import LOADER_KINDS, LoaderBase, LoaderConfig, LoaderState
from data.loaders.numpy_loader import NumpyLoader


def tensorflow_available() -> bool:
    """Whether TensorFlow can be imported (without importing it)."""
    return importlib.util.find_spec("tensorflow") is not None


def make_loader(config: LoaderConfig, split: str = "train", **kwargs: Any) -> LoaderBase:
    """The loader ``config.kind`` asks for: :class:`data.loaders.tf_loader.Loader` (tf.data)
    or :class:`NumpyLoader`; "auto" takes tf.data when TensorFlow is installed.

    Both iterate with ``.iterate(start)``; keyword arguments are :class:`LoaderBase`'s.

    Raises:
        DataError: as the loaders' constructors.
        ValueError: ``config.kind`` is "tf" but TensorFlow is not installed.
    """
    kind = config.kind
    if kind == "auto":
        kind = "tf" if tensorflow_available() else "numpy"
    if kind == "tf":
        if not tensorflow_available():
            raise ValueError("--loader tf: TensorFlow is not installed here; use --loader numpy")
        from data.loaders.tf_loader import Loader

        return Loader(config, split, **kwargs)
    return NumpyLoader(config, split, **kwargs)


__all__ = [
    "LOADER_KINDS",
    "LoaderBase",
    "LoaderConfig",
    "LoaderState",
    "NumpyLoader",
    "make_loader",
    "tensorflow_available",
]
