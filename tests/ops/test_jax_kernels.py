"""The JAX kernels (``ops/jax_kernels.py``, through ops.dispatch) against the portable
keras.ops path."""

import keras
import numpy as np
import pytest

from geometry.camera import intrinsics, look_at
from ops import dispatch
from ops.unproject import splat, splat_map, unproject_features

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax",
                                reason="the JAX kernels run under the JAX backend only")


def test_dispatch_picks_the_jax_kernels_and_their_native_splat(monkeypatch):
    from ops import jax_kernels

    assert dispatch.fast_kernels() is jax_kernels
    assert dispatch.native("splat_map") is jax_kernels.splat_map
    assert dispatch.native("no_such_kernel") is None
    monkeypatch.setenv("LSM_FAST_OPS", "0")
    assert dispatch.fast_kernels() is None
    assert dispatch.native("splat_map") is None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_native_splat_map_equals_the_portable_one(dtype):
    """Four chained scatter-adds give the portable stacked segment sum, duplicates included
    (many samples share corners: 60 samples on a 4 x 5 slice)."""
    import jax.numpy as jnp

    from ops import jax_kernels

    rng = np.random.default_rng(0)
    h, w, c, m = 4, 5, 3, 60
    ids = jnp.asarray(rng.integers(0, (h - 1) * w - 1, size=m), dtype="int32")
    weights = rng.random((4, m, 1))
    g = rng.normal(size=(m, c))
    g, weights = jnp.asarray(g, dtype), jnp.asarray(weights, dtype)
    want = np.asarray(splat_map(g, ids, weights, w, h * w))
    got = jax_kernels.splat_map(g, ids, weights, w, h * w)
    assert got.dtype == g.dtype
    np.testing.assert_allclose(np.asarray(got), want,
                               rtol=1e-6 if dtype == "float32" else 1e-12, atol=1e-6)


@pytest.mark.parametrize("views_first", [False, True])
def test_unprojection_gradient_with_and_without_the_kernels(views_first, monkeypatch):
    """``jax.grad`` of a jit-compiled unprojection (what a JAX training step runs) is the same
    with the native splat (``LSM_FAST_OPS`` unset) and with the portable one (``=0``)."""
    import jax

    rng = np.random.default_rng(1)
    b, v, size, nvox = 2, 3, 64, 6
    K = np.tile(intrinsics(size).astype(np.float32), (b, v, 1, 1))
    E = np.stack([look_at(a, e)[:3] for a, e in zip(rng.uniform(0, 360, b * v),
                                                    rng.uniform(-10, 40, b * v),
                                                    strict=True)]).astype(np.float32)
    E = E.reshape(b, v, 3, 4)
    feats = rng.random((b * v, 16, 16, 4), dtype=np.float32)
    upstream = rng.normal(size=(b * v, nvox, nvox, nvox, 4)).astype(np.float32)

    def loss(f):
        out = unproject_features(f, K, E, nvox, (size, size), views_first=views_first)
        return (out * upstream).sum()

    grads = []
    for flag in ("1", "0"):
        monkeypatch.setenv("LSM_FAST_OPS", flag)
        grads.append(np.asarray(jax.jit(jax.grad(loss))(feats)))
    assert np.abs(grads[0]).max() > 0
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_splat_loop_takes_the_native_kernel(monkeypatch):
    """The per-map loop of :func:`splat` calls the backend's ``splat_map`` once per map
    (traced once by ``ops.map``), and the portable one when the kernels are off."""
    from ops import jax_kernels

    calls = []
    real = jax_kernels.splat_map
    monkeypatch.setattr(jax_kernels, "splat_map", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(2)
    n, h, w, c, m = 3, 4, 5, 2, 7
    i00 = (rng.integers(0, (h - 1) * w - 1, size=(n, m)) + np.arange(n)[:, None] * h * w)
    fu, fv = rng.random((n, m, 1)), rng.random((n, m, 1))
    g = rng.normal(size=(n, m, c))
    fast = np.asarray(splat(g, i00.astype("int32"), fu, fv, w, n * h * w, loop=True))
    assert calls
    monkeypatch.setenv("LSM_FAST_OPS", "0")
    count = len(calls)
    slow = np.asarray(splat(g, i00.astype("int32"), fu, fv, w, n * h * w, loop=True))
    assert len(calls) == count
    np.testing.assert_allclose(fast, slow, atol=1e-12)
