"""Where a training step's time goes: each part of V-LSM / D-LSM timed forward + backward alone.

The model of a configuration (as ``bm_train_step.py`` builds it, random inputs with consistent
cameras) is cut into its parts, and each part is timed on its own as a compiled function
(``tf.function`` graph on TensorFlow, ``jax.jit`` on JAX) computing its output and the
gradients of a scalar of it with respect to its input and its weights, which is what the
training step asks of it:

=================  ========================================================================
image UNet         ``ImNet_UNet`` on the B*V images
unprojection       ``ops.unproject.unproject`` of the image features (grad w.r.t. features)
GRU                the ``rnn`` fuser (``models.fusion``) over the V unprojected grids
grid UNet          ``Grid_Unet`` on the B*V fused grids
projection         D-LSM: ``ops.project.project_rays`` of the grid features into the views
depth net          D-LSM: ``DepthNet`` on the projected rays (+ image skips)
loss               the task's loss on the model output
optimizer          Adam's update of every variable (``optimizer.apply``)
norms (within)     the same parts with every norm layer replaced by the identity: the
                   difference is the cost of the instance and layer norms inside the parts
whole step         ``model.train_on_batch`` as the training loop runs it
=================  ========================================================================

The parts' sum differs from the whole step by what a step adds (framework dispatch, the
loss's reductions, copies between parts that the one graph avoids). The input pipeline is
not in a step: ``bm_loader.py`` measures it (the loader runs ahead in its own threads).
Prints a Markdown table; never asserts. Example::

    python -m benchmarks.bm_profile_step --config release_vlsm --precision float32
    python -m benchmarks.bm_profile_step --config release_dlsm --precision bfloat16

``--ops N`` (TensorFlow) profiles whole steps instead, with TensorFlow's profiler: the op
time per step summed over the threads, by op type and by op (the N largest of each), and the
dtype casts of at least a million elements in the forward + backward graph with their shapes
and sources (casts are pure memory traffic: a cast of the D-LSM's rays to float32 and back
was found this way, ``docs/performance.md``)::

    python -m benchmarks.bm_profile_step --config release_dlsm --precision bfloat16 --ops 15
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.common import (  # noqa: E402
    CONFIGS,
    REPO,
    compiled_model,
    header,
    random_batch,
    record,
    show,
)


def _compiled_grad(fn: Callable, n_inputs: int, weights: list) -> Callable:
    """``g(*inputs)`` -> (output, grads of sum(output) w.r.t. the first ``n_inputs`` inputs and
    ``weights``), compiled for the backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(autograph=False)
        def g(*inputs):
            with tf.GradientTape() as tape:
                diff = list(inputs[:n_inputs])
                tape.watch(diff)
                out = fn(*inputs)
                scalar = tf.add_n([tf.reduce_sum(tf.cast(o, tf.float32))
                                   for o in tf.nest.flatten(out)])
            grads = tape.gradient(scalar, diff + [w.value for w in weights])
            return out, grads

        return g
    if backend == "jax":
        import jax

        values = [w.value for w in weights]

        def pure(diff, vals, rest):
            with keras.StatelessScope(state_mapping=list(zip(weights, vals, strict=True))):
                out = fn(*diff, *rest)
            leaves = jax.tree_util.tree_leaves(out)
            return sum(jax.numpy.sum(o.astype('float32')) for o in leaves), out

        grad = jax.jit(jax.grad(pure, argnums=(0, 1), has_aux=True))

        def g(*inputs):
            return grad(list(inputs[:n_inputs]), values, list(inputs[n_inputs:]))

        return g
    raise SystemExit(f"backend {backend} not supported")


def _block(x) -> None:
    for leaf in keras.tree.flatten(x):
        np.asarray(keras.ops.convert_to_numpy(leaf)).ravel()[:1]


def _time(fn: Callable, args: tuple, steps: int) -> float:
    _block(fn(*args))  # trace + first run
    _block(fn(*args))
    ts = []
    for _ in range(steps):
        t0 = time.perf_counter()
        _block(fn(*args))
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


class _Identity:
    """Stands in for a norm layer's ``call``: the profile without norms."""

    @staticmethod
    def call(x, *args, **kwargs):
        return x


def _parts(model, task, args, batch) -> dict[str, tuple[Callable, tuple, int, list]]:
    """name -> (function, inputs, number of differentiated inputs, weights)."""
    from ops.unproject import unproject

    c = model.lsm_config
    b, v, n = args.batch_size, args.im_batch, c["nvox"]
    K, E = batch["K"], batch["extrinsic"]
    images = batch["images"].reshape(-1, c["im_h"], c["im_w"], 3)
    im = model.im_net(images)
    feats = keras.ops.convert_to_numpy(im["features"])
    grid = keras.ops.convert_to_numpy(unproject(feats, K, E, n, (c["im_h"], c["im_w"]),
                                                c["grid_range"]))
    fused = keras.ops.convert_to_numpy(model.rnn(grid)).reshape(-1, n, n, n, c["rnn_channels"])
    out = model.grid_net(fused)
    parts = {
        "image UNet": (lambda x: model.im_net(x, training=True), (images,), 0,
                       model.im_net.trainable_weights),
        "unprojection": (lambda f, k, e: unproject(f, k, e, n, (c["im_h"], c["im_w"]),
                                                   c["grid_range"]), (feats, K, E), 1, []),
        "GRU": (lambda g: model.rnn(g), (grid,), 1, model.rnn.trainable_weights),
        "grid UNet": (lambda f: model.grid_net(f, training=True), (fused,), 1,
                      model.grid_net.trainable_weights),
    }
    if task.kind == "dlsm":  # the rays and the depth net as DLSM.call runs them
        from ops.project import unit_on_rays

        g = c["grid_channels"]
        gf = keras.ops.convert_to_numpy(out["features"]).reshape(b, v, n, n, n, g)
        first = model.depth_net.encoder[0]

        def rays_unit(f, k, e):  # the projection and the depth net's first unit, one op
            return unit_on_rays(first, f, k, e, training=True, im_size=(c["im_h"], c["im_w"]),
                                proj_x=c["proj_x"], samples=c["ray_samples"],
                                z_range=c["z_range"], grid_range=c["grid_range"],
                                rounding=c["proj_rounding"])

        x = rays_unit(gf, K, E)
        skips = []
        for name in model.depth_net.skip_names:
            f = keras.ops.convert_to_numpy(im[name])
            fh, fw, fc = f.shape[1:]
            skips.append(np.repeat(f.reshape(b, 1, v, fh, fw, fc), v, axis=1)
                         .reshape(-1, fh, fw, fc))
        parts["projection + depth conv1"] = (rays_unit, (gf, K, E), 1, first.trainable_weights)
        rest = [w for u in model.depth_net.encoder[1:] + model.depth_net.decoder
                + [model.depth_net.last] for w in u.trainable_weights]
        parts["depth net"] = (lambda r, *sk: model.depth_net.decode(r, list(sk), training=True),
                              (x, *skips), 1 + len(skips), rest)
    pred = keras.ops.convert_to_numpy(model(batch_inputs(batch)))
    target = keras.ops.convert_to_numpy(task.keras_target(batch))
    parts["loss"] = (lambda pr, t: task.keras_loss(t, pr), (pred, target), 1, [])
    return parts


def batch_inputs(batch: dict) -> dict:
    return {k: batch[k] for k in ("images", "K", "extrinsic")}


def _norm_layers(model) -> list:
    from models.norms import InstanceNorm, LayerNorm

    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, InstanceNorm | LayerNorm)]


def _config_args(config: str, precision: str):
    """``(kind, args)`` of benchmark configuration ``config`` at ``precision``."""
    from training.config import load_args

    kind, argsjs, extra = CONFIGS[config]
    return kind, load_args(REPO / argsjs, {**extra, "precision": precision})


def profile(config: str, precision: str, steps: int) -> list[tuple[str, float, float | None]]:
    from training.loop import compile_model, make_optimizer
    from training.tasks import model_inputs, task_for

    kind, args = _config_args(config, precision)
    task = task_for(kind)
    keras.utils.set_random_seed(0)
    model = task.build_model(args)
    batch = random_batch(args)
    parts = _parts(model, task, args, batch)
    rows = []
    for name, (fn, inputs, n_diff, weights) in parts.items():
        rows.append([name, _time(_compiled_grad(fn, n_diff, weights), inputs, steps), None])
    # the same parts without norms
    norms = _norm_layers(model)
    saved = [layer.call for layer in norms]
    for layer in norms:
        layer.call = _Identity.call
    for row in rows:
        fn, inputs, n_diff, weights = parts[row[0]]
        if row[0] in ("image UNet", "GRU", "grid UNet", "depth net"):
            row[2] = _time(_compiled_grad(fn, n_diff, weights), inputs, steps)
    for layer, call in zip(norms, saved, strict=True):
        layer.call = call
    opt = make_optimizer(args)
    opt.build(model.trainable_variables)
    grads = [np.ones(w.shape, np.float32) * 1e-3 for w in model.trainable_variables]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gs = [tf.constant(g) for g in grads]

        @tf.function(autograph=False)
        def step():
            opt.apply(gs, model.trainable_variables)
            return opt.iterations

        rows.append(["optimizer (Adam)", _time(step, (), steps), None])
    else:
        gs = [keras.ops.convert_to_tensor(g) for g in grads]

        def step():
            opt.apply(gs, model.trainable_variables)
            return opt.iterations.value

        rows.append(["optimizer (Adam, eager)", _time(step, (), steps), None])
    compile_model(model, task, args, make_optimizer(args))
    x, y = model_inputs(batch), task.keras_target(batch)
    rows.append(["whole step (train_on_batch)",
                 _time(lambda: model.train_on_batch(x, y), (), steps), None])
    return [tuple(r) for r in rows]


def _trace_ops(model, x, y, steps: int) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds of op time per step (summed over threads) by op type and by op name, from a
    TensorFlow profiler trace of ``steps`` calls of ``model.train_on_batch(x, y)``."""
    import collections
    import tempfile

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    by_type: dict[str, float] = collections.Counter()
    by_op: dict[str, float] = collections.Counter()
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(steps):
            model.train_on_batch(x, y)
        tf.profiler.experimental.stop()
        for path in Path(logdir).rglob("*.xplane.pb"):
            space = xplane_pb2.XSpace()
            space.ParseFromString(path.read_bytes())
            for plane in space.planes:
                names = plane.event_metadata
                for line in plane.lines:
                    for event in line.events:
                        name = names[event.metadata_id].name  # "scope/op:OpType"
                        if ":" in name and "/" in name:
                            sec = event.duration_ps / 1e12 / steps
                            by_op[name] += sec
                            by_type[name.rsplit(":", 1)[1]] += sec
    return by_type, by_op


def _large_casts(model, x, min_elements: int = 10**6) -> list[tuple[str, str, str, str]]:
    """``(elements, dtypes, shape, op <- source)`` of every Cast op of at least
    ``min_elements`` outputs, largest first, in the graph of the model's forward pass and its
    gradient with respect to the weights (a TensorFlow ``tf.function``; the loss and optimizer
    add none)."""
    import tensorflow as tf

    @tf.function
    def forward_backward(x):
        with tf.GradientTape() as tape:
            out = tf.nest.flatten(model(x, training=True))
            loss = tf.add_n([tf.reduce_sum(tf.cast(o, tf.float32)) for o in out])
        return tape.gradient(loss, model.trainable_weights)

    spec = {k: tf.TensorSpec(v.shape, v.dtype) for k, v in x.items()}
    graph = forward_backward.get_concrete_function(spec).graph
    rows = []
    for op in graph.get_operations():
        shape = op.outputs[0].shape if op.type == "Cast" else None
        if shape is None or not shape.is_fully_defined():
            continue
        n = int(np.prod(shape.as_list()))
        if n >= min_elements:
            src = op.inputs[0]
            rows.append((n, f"{src.dtype.name} -> {op.outputs[0].dtype.name}",
                         str(tuple(shape.as_list())), f"{op.name} <- {src.op.type}"))
    rows.sort(key=lambda r: -r[0])  # largest first
    return [(f"{n / 1e6:.1f}M", *rest) for n, *rest in rows]


def profile_ops(config: str, precision: str, steps: int, top: int) -> None:
    """Print :func:`_trace_ops`'s two tables (``top`` rows each) and :func:`_large_casts`."""
    from tabulate import tabulate

    from training.tasks import model_inputs

    if keras.backend.backend() != "tensorflow":
        raise SystemExit("--ops needs the TensorFlow backend (KERAS_BACKEND=tensorflow)")
    kind, args = _config_args(config, precision)
    task, model = compiled_model(kind, args)
    batch = random_batch(args)
    x, y = model_inputs(batch), task.keras_target(batch)
    for _ in range(2):  # trace, then warm up
        model.train_on_batch(x, y)
    by_type, by_op = _trace_ops(model, x, y, steps)
    total = sum(by_type.values())
    print(f"config {config}, precision {precision}: op time per step summed over threads "
          f"{total:.3f} s (mean of {steps} steps)\n")
    for title, table in (("op type", by_type), ("op", by_op)):
        rows = [(f"{t:.3f}", f"{100 * t / total:.1f}%", name[:110])
                for name, t in sorted(table.items(), key=lambda kv: -kv[1])[:top]]
        print(tabulate(rows, headers=("s", "share", title), tablefmt="github") + "\n")
    print(tabulate(_large_casts(model, x), headers=("elements", "cast", "shape", "op <- input"),
                   tablefmt="github"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="release_vlsm", choices=sorted(CONFIGS))
    ap.add_argument("--precision", default="float32",
                    choices=("auto", "float32", "bfloat16", "float16"))
    ap.add_argument("--steps", type=int, default=3, help="timed calls per part (median)")
    ap.add_argument("--ops", type=int, metavar="N", default=0,
                    help="profile whole steps by op instead (TensorFlow): the N largest")
    a = ap.parse_args(argv)
    from training.precision import resolve_precision

    prec = resolve_precision(a.precision)
    if a.ops:
        profile_ops(a.config, prec, a.steps, a.ops)
        return
    rows = profile(a.config, prec, a.steps)
    whole = rows[-1][1]
    parts = [r for r in rows if not r[0].startswith("whole")]
    total = sum(r[1] for r in parts)
    norms = sum(r[1] - r[2] for r in rows if r[2] is not None)
    rows = [*rows[:-1], ("sum of the parts", total, None), ("norms within the parts", norms,
                                                             None), rows[-1]]
    table = [{"part (forward + backward)": name, "s": round(t, 3),
              "of step": "" if name.startswith("whole") else f"{100 * t / whole:.0f}%",
              "of which norms, s": "" if t_no_norm is None else round(t - t_no_norm, 3)}
             for name, t, t_no_norm in rows]
    for r in table[:-3] + table[-1:]:  # the measured parts and the whole step, not the sums
        record("bm_profile_step", a.config, r["s"], backend=keras.backend.backend(),
               precision=prec, what=r["part (forward + backward)"], stats={"n": a.steps})
    show(header("bm_profile_step", [f"config {a.config}, precision {prec}, backend "
                                    f"{keras.backend.backend()}, median of {a.steps}"]), table)


if __name__ == "__main__":
    main()
