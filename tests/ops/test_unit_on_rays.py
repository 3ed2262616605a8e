"""ops.project.unit_on_rays: the fast form (ReLU and cast on the grid, samples-major rays, the
unit's kernels read in that order) against the plain form (``LSM_FAST_OPS=0``: the unit on
``rays_to_channels(project_rays(...))``), values and gradients, for the D-LSM's first units."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from models.layers import ConvUnit
from models.precision import precision
from ops.project import project_rays, rays_to_channels, unit_on_rays
from tests.ops.conftest import to_numpy
from tests.ops.helpers import random_cameras

IM = (32, 24)
GEOMETRY = dict(im_size=IM, proj_x=4, samples=6, z_range=(1.0, 3.0))
CHANNELS = 3


def _inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    K, E = random_cameras(rng, 2, 2, IM)
    # both signs, so that the ReLU matters; [B, T, N, N, N, C]
    grid = rng.normal(size=(2, 2, 5, 5, 5, CHANNELS)).astype(np.float32)
    return grid, K.astype(np.float32), E.astype(np.float32), rng


def _unit(kind: str, k: int, prec: str) -> ConvUnit:
    with precision(prec):
        unit = ConvUnit(5, k, kind, 2, 1, "IN", name="conv1")
    unit.build((None, IM[0] // 4, IM[1] // 4, CHANNELS * GEOMETRY["samples"]))
    rng = np.random.default_rng(1)
    for v in unit.weights:  # a non-zero norm offset too
        v.assign(rng.normal(size=v.shape).astype(np.float32) * 0.3)
    return unit


def _value_and_grads(unit: ConvUnit, grid, K, E, upstream) -> list[np.ndarray]:
    """``[output, d/d grid, d/d each unit weight]`` of ``sum(unit_on_rays(...) * upstream)``."""
    weights = unit.trainable_variables
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        g = tf.convert_to_tensor(grid)
        with tf.GradientTape() as tape:
            tape.watch(g)
            y = unit_on_rays(unit, g, K, E, **GEOMETRY)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
        grads = tape.gradient(loss, [g, *weights])
        return [to_numpy(y), *(to_numpy(x) for x in grads)]
    if keras.backend.backend() == "jax":
        import jax

        def loss(values, g):
            with keras.StatelessScope(state_mapping=list(zip(weights, values, strict=True))):
                y = unit_on_rays(unit, g, K, E, **GEOMETRY)
            return ops.sum(ops.cast(y, "float32") * upstream), y

        (_, y), (gw, gg) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(
            [v.value for v in weights], grid)
        return [to_numpy(y), to_numpy(gg), *(to_numpy(x) for x in gw)]
    pytest.skip("no gradient helper for this backend")


@pytest.mark.slow_on_jax
@pytest.mark.parametrize(("kind", "k"), [("sepconv", 3), ("conv", 1), ("conv", 3)])
@pytest.mark.parametrize("prec", ["float32", "bfloat16"])
def test_fast_form_equals_the_plain_form(kind, k, prec, monkeypatch):
    grid, K, E, rng = _inputs()
    unit = _unit(kind, k, prec)
    shape = (2 * 2 * 2, IM[0] // 4, IM[1] // 4, 5)
    upstream = rng.normal(size=shape).astype(np.float32)
    monkeypatch.setenv("LSM_FAST_OPS", "0")
    plain = _value_and_grads(unit, grid, K, E, upstream)
    monkeypatch.setenv("LSM_FAST_OPS", "1")
    fast = _value_and_grads(unit, grid, K, E, upstream)
    assert plain[0].shape == shape
    assert np.abs(plain[1]).max() > 0 and (plain[1] == 0).any()  # the ReLU cuts some cells
    # same function; the channels are summed in another order (and rounded to bfloat16 at
    # other points of the sums)
    tol = 1e-4 if prec == "float32" else 3e-2
    for p, f in zip(plain, fast, strict=True):
        np.testing.assert_allclose(f.astype(np.float32), p.astype(np.float32), rtol=tol,
                                   atol=tol * max(1.0, float(np.abs(p).max())))


def test_plain_form_is_the_unit_on_the_release_channels(monkeypatch):
    """With LSM_FAST_OPS=0 it is literally the unit on rays_to_channels(project_rays(...))."""
    grid, K, E, _ = _inputs(2)
    unit = _unit("sepconv", 3, "float32")
    want = to_numpy(unit(rays_to_channels(project_rays(grid, K, E, **GEOMETRY))))
    monkeypatch.setenv("LSM_FAST_OPS", "0")
    np.testing.assert_array_equal(to_numpy(unit_on_rays(unit, grid, K, E, **GEOMETRY)), want)
    monkeypatch.setenv("LSM_FAST_OPS", "1")
    fast = to_numpy(unit_on_rays(unit, grid, K, E, **GEOMETRY))
    assert not np.array_equal(fast, 0 * fast)
    np.testing.assert_allclose(fast, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_a_wrong_channel_order_would_be_caught(monkeypatch):
    """The comparison above can fail: the unit on samples-major rays read in the release's
    order (no input_order) is a different function."""
    grid, K, E, _ = _inputs(3)
    unit = _unit("conv", 1, "float32")
    want = to_numpy(unit(rays_to_channels(project_rays(grid, K, E, **GEOMETRY))))
    rays = project_rays(ops.relu(grid), K, E, layout="samples", **GEOMETRY)
    wrong = to_numpy(unit(rays_to_channels(rays, layout="samples"), activated=True))
    assert np.abs(wrong - want).max() > 1e-2
