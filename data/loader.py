"""Deprecated alias of :mod:`data.examples`, kept until its last importers move.

The tf.data loader is now :class:`data.loaders.tf_loader.Loader` and the factory
:func:`data.loaders.make_loader`; the helpers below live in :mod:`data.examples`. Import them
from there: this module goes once ``training/demo.py`` (moving to ``demo/``),
``tests/test_notebooks.py`` and ``tests/training/test_pointclouds.py`` do.
"""

from data.examples import eval_views, load_example, resize_views, split_models, stable_hash

__all__ = ["eval_views", "load_example", "resize_views", "split_models", "stable_hash"]
