"""Numeric precision of the convolutions: float32, bfloat16 or float16 compute.

What low precision means here (``--precision bfloat16|float16``):

* every convolution (2D, 3D, transposed, depthwise, the GRU's gates) casts its input and
  kernel to the compute dtype and its output back to float32: the multiply-adds, which are
  more than 95% of a training step's FLOPs, run in low precision (AMX or AVX512_BF16 on a
  CPU, tensor cores on a GPU) and accumulate in float32 inside the kernel;
* everything else stays float32: the weights (the "master" copy Adam updates), the
  normalisations (instance, batch and layer norm), the GRU's gating, the unprojection and
  projection gathers, the losses and the metrics. A low-precision model has the same
  variables, and reads and writes the same checkpoints, as a float32 one;
* float16 also needs loss scaling (its range is small); :func:`training.loop.make_optimizer`
  wraps Adam in ``keras.optimizers.LossScaleOptimizer`` for it. bfloat16 has float32's range
  and needs none.

Keras' own ``mixed_bfloat16`` policy casts everything, the norms and gathers included; on a
CPU that was slower than float32 (those ops have no fast bfloat16 kernels), hence this
narrower policy.

The precision is chosen when a layer is constructed: :func:`conv_dtype` is read by every
convolution-bearing layer in its ``__init__``, so build a model inside ``with precision(
"bfloat16"):`` (``training.tasks.Task.build_model`` does it from ``args.precision``). The
default outside any such block is float32, which is what the release-equivalence tests use.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from keras import ops

#: Names accepted by ``--precision`` (``auto`` is resolved by :func:`resolve_precision`).
PRECISIONS = ("float32", "bfloat16", "float16")

_state = {"dtype": "float32"}


def conv_dtype() -> str:
    """The compute dtype of convolutions for layers constructed now (``"float32"`` unless
    inside :func:`precision`)."""
    return _state["dtype"]


@contextlib.contextmanager
def precision(name: str) -> Iterator[str]:
    """Construct layers with convolutions computed in ``name`` (one of :data:`PRECISIONS`)
    inside this block; the previous precision is restored on exit."""
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {name!r}")
    old = _state["dtype"]
    _state["dtype"] = name
    try:
        yield name
    finally:
        _state["dtype"] = old


def lowp(fn: Callable[..., Any], x: Any, kernel: Any, dtype: str, **kwargs: Any) -> Any:
    """``fn(x, kernel, **kwargs)`` computed in ``dtype`` and returned in float32.

    ``fn`` is a convolution (``ops.conv``, ``ops.conv_transpose``, ``ops.depthwise_conv`` or
    one of :mod:`models.layers`'s 3D helpers); ``kernel`` is a float32 tensor, or a tuple of
    them (all cast); ``x`` is float32, or already in ``dtype`` (then it is not cast again).
    With ``dtype="float32"`` this is exactly ``fn(x, kernel, **kwargs)``.
    """
    if dtype == "float32":
        return fn(x, kernel, **kwargs)
    if isinstance(kernel, tuple):
        kernel = tuple(ops.cast(k, dtype) for k in kernel)
    else:
        kernel = ops.cast(kernel, dtype)
    return ops.cast(fn(ops.cast(x, dtype), kernel, **kwargs), "float32")


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, val = line.partition(":")
        if key.strip() == "flags":
            return frozenset(val.split())
    return frozenset()


def _gpu_compute_capability() -> float | None:
    """Compute capability of the first GPU of the current backend, or None without one."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            if not gpus:
                return None
            cc = getattr(gpus[0], "compute_capability", None)
            return float(cc) if cc else 8.0
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if not gpus:
                return None
            cc = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
            return float(f"{cc[0]}.{cc[1]}") if cc else None
    except Exception:  # noqa: BLE001 (a device query must never stop a run)
        return None
    return None


def fast_precision() -> tuple[str, str]:
    """The fastest precision that keeps quality on this machine and backend, and why.

    bfloat16 on a GPU of compute capability 8.0 or newer (A100, H100, H200, ...), and with the
    TensorFlow backend on a CPU with AMX-BF16 or AVX512_BF16 (oneDNN has bfloat16
    convolutions there: 4.2x float32 on an AMX Xeon); float32 elsewhere (XLA on a CPU, which
    the JAX backend uses, has no fast bfloat16 convolution). ``LSM_PRECISION`` overrides it.

    Returns:
      ``(precision, reason)``.
    """
    import keras

    env = os.environ.get("LSM_PRECISION")
    if env:
        if env not in PRECISIONS:
            raise ValueError(f"LSM_PRECISION must be one of {PRECISIONS}, got {env!r}")
        return env, "LSM_PRECISION"
    cc = _gpu_compute_capability()
    if cc is not None:
        if cc >= 8.0:
            return "bfloat16", f"GPU with compute capability {cc}"
        return "float32", f"GPU with compute capability {cc} (no fast bfloat16)"
    flags = _cpu_flags()
    bf16 = sorted(flags & {"amx_bf16", "avx512_bf16"})
    if keras.backend.backend() == "tensorflow" and bf16:
        return "bfloat16", f"CPU with {', '.join(bf16)} (oneDNN)"
    if keras.backend.backend() != "tensorflow":
        return "float32", f"{keras.backend.backend()} on a CPU (no fast bfloat16 convolutions)"
    return "float32", "CPU without AVX512_BF16 or AMX"


def resolve_precision(name: str) -> str:
    """``name``, or for ``"auto"`` the precision :func:`fast_precision` picks."""
    if name == "auto":
        return fast_precision()[0]
    if name not in PRECISIONS:
        raise ValueError(f"precision must be 'auto' or one of {PRECISIONS}, got {name!r}")
    return name
