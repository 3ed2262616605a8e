"""The JAX kernels (``ops/jax_kernels.py``, through ops.dispatch) against the portable
keras.ops path."""

import keras
import numpy as np
import pytest

from geometry.camera import intrinsics, look_at
from ops import dispatch
from ops.unproject import splat, unproject_features
from tests.ops.reference import splat_ref

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax",
                                reason="the JAX kernels run under the JAX backend only")


def test_dispatch_picks_the_jax_kernels_and_their_native_splat(monkeypatch):
    from ops import jax_kernels

    assert dispatch.fast_kernels() is jax_kernels
    assert dispatch.native("splat") is jax_kernels.splat
    assert dispatch.native("no_such_kernel") is None
    monkeypatch.setenv("LSM_FAST_OPS", "0")
    assert dispatch.fast_kernels() is None
    assert dispatch.native("splat") is None


def _splat_case(rng, n=6, h=4, w=5, c=2, m=30):
    """Samples of ``n`` maps of ``h x w`` pixels, ``m`` per map (many sharing corners)."""
    i00 = rng.integers(0, (h - 1) * w - 1, size=(n, m)) + np.arange(n)[:, None] * h * w
    return rng.normal(size=(n, m, c)), i00, rng.random((n, m, 1)), rng.random((n, m, 1))


@pytest.mark.parametrize("views", [None, 2, 3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_native_splat_equals_numpy_and_the_portable_splat(views, dtype):
    """Chained scatter-adds per map give numpy's scatter-add of the four corner-weighted
    gradients, and the portable splat's loop and unrolled sums, in either map order."""
    from ops import jax_kernels

    rng = np.random.default_rng(0)
    n, h, w = 6, 4, 5
    g, i00, fu, fv = _splat_case(rng, n, h, w)
    want = splat_ref(g, i00, fu, fv, w, n * h * w)
    args = (g.astype(dtype), i00.astype("int32"), fu.astype(dtype), fv.astype(dtype))
    if views:  # the same samples listed views first
        perm = np.arange(n).reshape(n // views, views).T.reshape(-1)
        args = tuple(a[perm] for a in args)
    got = jax_kernels.splat(*args, w, n * h * w, views)
    assert got.dtype == dtype
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(np.asarray(got), want, atol=tol)
    for loop in (True, False):
        portable = splat(*args, w, n * h * w, views=views, loop=loop)
        np.testing.assert_allclose(np.asarray(got), np.asarray(portable), atol=tol)


def test_splat_takes_the_native_kernel_unless_told_or_switched_off(monkeypatch):
    """``splat(loop=None)`` calls the backend's kernel; an explicit ``loop`` or
    ``LSM_FAST_OPS=0`` runs the portable code."""
    from ops import jax_kernels

    calls = []
    real = jax_kernels.splat
    monkeypatch.setattr(jax_kernels, "splat", lambda *a: calls.append(1) or real(*a))
    g, i00, fu, fv = _splat_case(np.random.default_rng(1))
    args = (g, i00.astype("int32"), fu, fv, 5, 6 * 4 * 5)
    splat(*args)
    assert len(calls) == 1
    splat(*args, loop=True)
    monkeypatch.setenv("LSM_FAST_OPS", "0")
    splat(*args)
    assert len(calls) == 1


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
