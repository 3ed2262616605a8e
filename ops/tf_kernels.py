"""TensorFlow fast path of the geometry ops: the portable ops compiled with XLA.

Keras compiles a TensorFlow training step as a plain graph on CPU (XLA for the whole model is
~20x slower there, because of its 3D convolutions). The gathers and scatter-adds of the geometry
ops, however, are ~5x faster forward+backward under XLA (``docs/benchmarks_ops.md``). So each op
is wrapped in its own ``tf.function(jit_compile=True)``, which TensorFlow compiles as an XLA
cluster inside the surrounding graph (or eagerly), gradients included.

The maths is exactly :func:`ops.unproject.unproject_portable` and
:func:`ops.project.project_rays_portable`; ``tests/ops/test_tf_kernels.py`` checks values and
gradients against them. Picked at run time by :func:`ops.camera.fast_kernels`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import tensorflow as tf

from ops import project as _project
from ops import unproject as _unproject


@functools.lru_cache(maxsize=64)
def _unproject_fns(nvox: int, im_size: tuple[int, ...], grid_range: tuple[float, ...]
                   ) -> tuple[Callable, Callable, Callable]:
    """XLA functions of the unprojection's forward pass and of its gradients with respect to
    the features and to the cameras."""
    def fwd(feats: tf.Tensor, K: tf.Tensor, extrinsic: tf.Tensor) -> tf.Tensor:
        return _unproject.unproject_portable(feats, K, extrinsic, nvox, im_size, grid_range)

    def bwd(g: tf.Tensor, feats: tf.Tensor, K: tf.Tensor, extrinsic: tf.Tensor) -> tf.Tensor:
        n, h, w, c = feats.shape
        i00, fu, fv, _ = _unproject.sample_coords(K, extrinsic, nvox, (h, w), im_size,
                                                  grid_range, feats.dtype.name)
        g = tf.reshape(g, (-1, nvox, nvox, nvox, c + 1))[..., :c]  # depth: no feature grad
        return tf.reshape(_unproject.splat(g, i00, fu, fv, w, n * h * w), (n, h, w, c))

    def bwd_cameras(g: tf.Tensor, feats: tf.Tensor, K: tf.Tensor, extrinsic: tf.Tensor
                    ) -> list[tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch([K, extrinsic])
            y = _unproject.unproject_portable(feats, K, extrinsic, nvox, im_size, grid_range)
        return tape.gradient(y, [K, extrinsic], output_gradients=g)

    return tuple(tf.function(f, jit_compile=True, autograph=False)
                 for f in (fwd, bwd, bwd_cameras))


@functools.lru_cache(maxsize=64)
def _project_fn(im_size: tuple[int, ...], proj_x: int, samples: int, z_range: tuple[float, ...],
                grid_range: tuple[float, ...], rounding: str, layout: str,
                out_dtype: str | None) -> Callable:
    def fn(grid: tf.Tensor, K: tf.Tensor, extrinsic: tf.Tensor) -> tf.Tensor:
        return _project.project_rays_portable(grid, K, extrinsic, im_size, proj_x, samples,
                                              z_range, grid_range, rounding, layout, out_dtype)

    return tf.function(fn, jit_compile=True, autograph=False)


def unproject(feats, K, extrinsic, nvox: int, im_size: Sequence[int] = (224, 224),
              grid_range: Sequence[float] = (-0.5, 0.5)):
    """XLA-compiled :func:`ops.unproject.unproject` (same arguments, shapes and result).

    The gradient with respect to ``feats`` is one XLA function (:func:`ops.unproject.splat`
    at the forward's sample positions); those with respect to ``K`` and ``extrinsic`` are a
    second one, which a graph (training step) prunes when the cameras need no gradient.
    """
    fwd, bwd, bwd_cameras = _unproject_fns(int(nvox), tuple(int(x) for x in im_size),
                                           tuple(float(x) for x in grid_range))

    @tf.custom_gradient
    def fn(x: tf.Tensor, k: tf.Tensor, e: tf.Tensor) -> tuple[tf.Tensor, Callable]:
        def grad(g: tf.Tensor) -> tuple[tf.Tensor, ...]:
            return (bwd(g, x, k, e), *bwd_cameras(g, x, k, e))

        return fwd(x, k, e), grad

    return fn(*(tf.convert_to_tensor(t) for t in (feats, K, extrinsic)))


def project_rays(grid, K, extrinsic, im_size: Sequence[int] = (224, 224), proj_x: int = 4,
                 samples: int = 64, z_range: Sequence[float] = (1.0, 3.0),
                 grid_range: Sequence[float] = (-0.5, 0.5), rounding: str = "release",
                 layout: str = "release", out_dtype: str | None = None):
    """XLA-compiled :func:`ops.project.project_rays` (same arguments, shapes and result)."""
    fn = _project_fn(tuple(int(x) for x in im_size), int(proj_x), int(samples),
                     tuple(float(x) for x in z_range), tuple(float(x) for x in grid_range),
                     str(rounding), str(layout), out_dtype)
    return fn(grid, K, extrinsic)
