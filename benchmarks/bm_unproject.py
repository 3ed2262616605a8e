"""Benchmark of the unprojection at the paper's size.

B = 8 models x V = 4 views = 32 feature maps of 112 x 112 x 32 unprojected into 32^3 grids.
Times forward and forward + backward (gradient with respect to the features of the sum of
``out^2 / 2`` over the outputs), eager and compiled, and the peak resident memory.

Two forms (``--form``):

- ``release`` (default): ``ops.unproject`` (release name ``proj_splat``), one
  ``[8, 4, 32, 32, 32, 33]`` output, features and voxel depth concatenated, as the original
  release's ``proj_splat`` returns them.
- ``training``: what the LSM trunk calls (``models/lsm.py``): ``ops.unproject_features`` in
  views-first map order and ``ops.voxel_depth`` as two outputs ``[32, 32, 32, 32, 32]`` and
  ``[32, 32, 32, 32, 1]`` (the same numbers, no concatenation).

Every (mode, pass) runs in a fresh subprocess so its peak RSS is its own: memory is
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after the timed runs minus the same figure
after the inputs are built and the libraries imported (so it includes compiled code and the
allocator's caches; TF's and JAX's CPU allocators expose no peak counter).

Usage::

    python -m benchmarks.bm_unproject                      # backend from KERAS_BACKEND
    python -m benchmarks.bm_unproject --backends tensorflow jax --repeats 5
    python -m benchmarks.bm_unproject --form training

Prints a table; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np

from benchmarks.common import backend_env, header, record, run_child, show

MODES = {"tensorflow": ["eager", "graph", "xla"], "jax": ["eager", "jit"]}


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def compile_fn(fn, mode: str, backend: str):
    """Wrap ``fn`` for a mode: eager (op by op), graph (tf.function), xla / jit."""
    if mode == "eager":
        return fn
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=(mode == "xla"))
    import jax

    return jax.jit(fn)


def _outputs(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def fwd_bwd(fn, backend: str):
    """``x, *rest -> d(sum over outputs o of sum(o^2) / 2) / dx`` (``fn`` returns one tensor
    or a tuple)."""
    if backend == "tensorflow":
        import tensorflow as tf

        def grad(x, *rest):
            with tf.GradientTape() as tape:
                tape.watch(x)
                outs = _outputs(fn(x, *rest))
                loss = tf.add_n([0.5 * tf.reduce_sum(o * o) for o in outs])
            return tape.gradient(loss, x)

        return grad
    import jax
    import jax.numpy as jnp

    def loss(x, *rest):
        return sum(0.5 * jnp.sum(o.astype("float32") ** 2) for o in _outputs(fn(x, *rest)))

    return jax.grad(loss)


def block(x):
    """Wait for the result (JAX dispatch is asynchronous) and touch it."""
    if isinstance(x, (tuple, list)):
        return [block(o) for o in x]
    if hasattr(x, "block_until_ready"):
        x.block_until_ready()
    elif hasattr(x, "numpy"):
        x.numpy()
    return x


def time_one(case, mode: str, which: str, repeats: int, warmup: int = 0) -> dict:
    """Run one (mode, pass) in this process; ``case`` returns ``(fn, args)``.

    The first call (tracing / compilation) is timed on its own (``first_s``), then ``warmup``
    untimed calls, then ``repeats`` timed ones (``times_s``, summarised by ``median_s``).
    """
    import keras

    backend = keras.backend.backend()
    fn, args = case()
    if backend == "tensorflow":
        import tensorflow as tf

        args = [tf.constant(a) for a in args]
    else:
        import jax.numpy as jnp

        args = [jnp.asarray(a) for a in args]
    base = maxrss_mb()
    f = fn if which == "fwd" else fwd_bwd(fn, backend)
    f = compile_fn(f, mode, backend)
    t0 = time.perf_counter()
    block(f(*args))  # warm-up (includes tracing / compilation)
    first = time.perf_counter() - t0
    for _ in range(warmup):
        block(f(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        block(f(*args))
        times.append(time.perf_counter() - t0)
    return {
        "median_s": float(np.median(times)),
        "min_s": float(np.min(times)),
        "first_s": first,
        "peak_mb": maxrss_mb() - base,
        "times_s": [float(t) for t in times],
    }


def run_all(module: str, backends, repeats: int, extra=()) -> list[dict]:
    """Run every (backend, mode, pass) of benchmark ``module`` in its own subprocess (with the
    environment the training scripts run in); one table row per (backend, mode)."""
    rows = []
    for backend in backends:
        for mode in MODES[backend]:
            res = {which: run_child(module, ["--single", mode, which, "--repeats",
                                             str(repeats), *extra],
                                    f"{backend} {mode} {which}", backend_env(backend), "{")
                   for which in ("fwd", "fwdbwd")}
            f, b = res["fwd"] or {}, res["fwdbwd"] or {}
            rows.append({"backend": backend, "mode": mode, "fwd s": f.get("median_s"),
                         "fwd+bwd s": b.get("median_s"), "fwd 1st call s": f.get("first_s"),
                         "fwd peak RSS +MB": f.get("peak_mb"),
                         "fwd+bwd peak RSS +MB": b.get("peak_mb")})
    return rows


def main(case, title: str, module: str, argv=None, passthrough: tuple[str, ...] = ()) -> None:
    """Parse ``argv``; time one (mode, pass) of ``case`` with ``--single``, else every one in
    a subprocess of ``module`` (given ``passthrough`` arguments too) and print the table."""
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--backends", nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--warmup", type=int, default=0, help="untimed calls after the first one (default 0)"
    )
    parser.add_argument("--single", nargs=2, metavar=("MODE", "PASS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.single:
        print(json.dumps(time_one(case, *args.single, args.repeats, args.warmup)))
        return
    backends = args.backends or [os.environ.get("KERAS_BACKEND", "tensorflow")]
    extra = ["--warmup", str(args.warmup), *passthrough]
    rows = run_all(module, backends, args.repeats, extra)
    for r in rows:
        for which, label in (("fwd", "forward"), ("fwd+bwd", "forward + backward")):
            record(module.removeprefix("benchmarks."), title.split(":")[0], r[f"{which} s"],
                   backend=r["backend"], precision="float32", what=f"{label}, {r['mode']}",
                   stats={"n": args.repeats, "first_step_s": r["fwd 1st call s"]},
                   notes=title)
    show(header(module.removeprefix("benchmarks."), [title, f"median of {args.repeats} calls "
                "after the first + the warm-up; memory: peak RSS growth in a fresh process"]),
         rows, floatfmt=".3f")


def unproject_case(form: str = "release"):
    """``(fn, [feats, K, extrinsic])`` of ``form`` (module docstring)."""
    from geometry.camera import look_at as look_at_extrinsic
    from ops.unproject import unproject, unproject_features, voxel_depth

    rng = np.random.default_rng(0)
    batch, views, size, channels, nvox = 8, 4, 112, 32, 32
    feats = rng.uniform(size=(batch * views, size, size, channels)).astype(np.float32)
    ext = np.stack(
        [
            look_at_extrinsic(rng.uniform(0, 360), rng.uniform(-20, 40), 2.0)[:3]
            for _ in range(batch * views)
        ]
    ).reshape(batch, views, 3, 4)
    K = np.tile(np.array([[420.0, 0, 112], [0, 420.0, 112], [0, 0, 1]]), (batch, views, 1, 1))

    def release(f, k, e):
        return unproject(f, k, e, nvox)

    def training(f, k, e):
        return (unproject_features(f, k, e, nvox, views_first=True),
                voxel_depth(k, e, nvox, views_first=True))

    fn = {"release": release, "training": training}[form]
    return fn, [feats, K.astype(np.float32), ext.astype(np.float32)]


FORMS = ("release", "training")

if __name__ == "__main__":
    import functools

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--form", choices=FORMS, default="release")
    known, rest = pre.parse_known_args()
    main(
        functools.partial(unproject_case, known.form),
        f"unproject ({known.form} form): 32 views of 112x112x32 -> 32^3 (B=8, V=4), float32",
        "benchmarks.bm_unproject",
        rest,
        passthrough=("--form", known.form),
    )
