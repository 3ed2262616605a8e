"""Which precision ``--precision auto`` means on this machine (the hardware side of
:mod:`models.precision`, which stays backend-agnostic: this module asks TensorFlow or JAX for
their GPUs).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from models.precision import PRECISIONS


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, val = line.partition(":")
        if key.strip() == "flags":
            return frozenset(val.split())
    return frozenset()


@functools.cache
def _gpu_compute_capability() -> float | None:
    """Compute capability of the first GPU of the current backend, or None without one
    (asked once per process)."""
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
    flags = cpu_flags()
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
