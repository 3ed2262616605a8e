"""Benchmark of instance norm: the fused TensorFlow kernel against the portable norm.

``models.norms.InstanceNorm`` runs :func:`ops.tf_kernels.instance_norm` under TensorFlow (one
fused batch norm per example: oneDNN's on a CPU) and :func:`models.norms.normalize` with
``LSM_FAST_OPS=0`` (the portable form, about ten elementwise passes over float32 memory). This
times the layer both ways at the LSM's largest normalised activations, forward + backward
(gradient of ``sum(y * g)`` for a fixed ``g``, with respect to the input and the offset), in
a ``tf.function`` graph, in float32 and bfloat16.

The bfloat16 rows time what a bfloat16 step does around each norm: the portable path casts the
convolution's bfloat16 output to float32, normalises it and casts it back for the next
convolution (what the units did before the fused kernel); the fused path reads and writes
bfloat16 (statistics in float32).

Usage::

    python -m benchmarks.bm_norms [--repeats 15]

Prints a table (median milliseconds); asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from benchmarks.common import header, record, show

#: (what, shape): the grid UNet's first level and the image UNet's 112 px level at release
#: size (8 models x 4 views), and the depth net's 224 px units at 2 x 4 views.
SHAPES = [
    ("grid UNet 32^3 x 32, 32 grids", (32, 32, 32, 32, 32)),
    ("image UNet 112 px x 32, 32 images", (32, 112, 112, 32)),
    ("depth net 224 px x 32, 32 images (2 x 4 views x 4 steps)", (32, 224, 224, 32)),
]


def time_norms(shape: tuple[int, ...], dtype_name: str, repeats: int) -> tuple[float, float]:
    """Median ms of forward + backward of ``InstanceNorm`` on its portable path
    (``LSM_FAST_OPS=0``) and with the fused kernel."""
    import tensorflow as tf

    from models.norms import InstanceNorm

    rng = np.random.default_rng(0)
    dtype = tf.as_dtype(dtype_name)
    x = tf.cast(rng.normal(1.0, 2.0, size=shape).astype(np.float32), dtype)
    g = tf.cast(rng.normal(size=shape).astype(np.float32), dtype)
    layer = InstanceNorm()
    layer.build(shape)
    beta = layer.bias.value

    def timed(fast: str) -> float:
        @tf.function
        def step(t: tf.Tensor) -> list[tf.Tensor]:
            with tf.GradientTape() as tape:
                tape.watch(t)
                y = layer(t)
            return tape.gradient(y, [t, beta], output_gradients=g)

        os.environ["LSM_FAST_OPS"] = fast  # read when the layer is traced, at the first call
        step(x)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            step(x)[1].numpy()
            times.append(time.perf_counter() - t0)
        return 1e3 * float(np.median(times))

    return timed("0"), timed("1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed calls (median)")
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    rows = []
    for what, shape in SHAPES:
        for dtype in ("float32", "bfloat16"):
            portable, fused = time_norms(shape, dtype, args.repeats)
            rows.append({"activation": what, "dtype": dtype, "portable ms": portable,
                         "fused ms": fused, "speed-up": portable / fused})
    for r in rows:
        record("bm_norms", "instance_norm", r["fused ms"] / 1e3, backend="tensorflow",
               precision=r["dtype"], what=f"forward + backward, {r['activation']}",
               stats={"n": args.repeats},
               baseline={"name": "portable norm", "seconds": r["portable ms"] / 1e3})
    show(header("bm_norms", [f"instance norm forward + backward, tf.function, median of "
                             f"{args.repeats} calls"]), rows, floatfmt=".1f")


if __name__ == "__main__":
    main()
