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

    python benchmarks/bm_norms.py [--repeats 15]

Prints a table (median milliseconds); asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

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
    import tensorflow as tf
    from tabulate import tabulate

    rows = []
    for what, shape in SHAPES:
        for dtype in ("float32", "bfloat16"):
            portable, fused = time_norms(shape, dtype, args.repeats)
            rows.append([what, dtype, portable, fused, portable / fused])
    print(f"# instance norm forward + backward, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, TensorFlow {tf.__version__}, median of {args.repeats}")
    print(tabulate(rows, headers=["activation", "dtype", "portable ms", "fused ms", "speed-up"],
                   floatfmt=".1f", tablefmt="github"))


if __name__ == "__main__":
    main()
