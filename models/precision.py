"""Numeric precision of the convolutions: float32, bfloat16 or float16 compute.

What low precision means here (``--precision bfloat16|float16``):

* every convolution (2D, 3D, transposed, depthwise, the GRU's gates) casts its input and
  kernel to the compute dtype and its output back to float32: the multiply-adds, which are
  more than 95% of a training step's FLOPs, run in low precision (AMX or AVX512_BF16 on a
  CPU, tensor cores on a GPU) and accumulate in float32 inside the kernel;
* except where an instance norm follows (the image and grid UNets, the depth net): that
  output stays in the compute dtype, the norm takes its statistics in float32 and returns
  the compute dtype, which the next unit's ReLU and convolution read as it is. The values
  are those of casting the float32 norm's output for the next convolution (the convolution's
  output was low precision already), without the two casts and the float32 passes between
  (TensorFlow's fused kernel, :func:`ops.tf_kernels.instance_norm`, at the release sizes; the
  portable norm casts to float32 and back inside);
* everything else stays float32: the weights (the "master" copy Adam updates), batch and
  layer norm, the GRU's gating, the unprojection and projection gathers, the losses and the
  metrics. A low-precision model has the same variables, and reads and writes the same
  checkpoints, as a float32 one;
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
from collections.abc import Iterator

from ops.conv import lowp

__all__ = ["PRECISIONS", "conv_dtype", "lowp", "precision"]

#: Names accepted by ``--precision`` (``auto`` is resolved by
#: :func:`training.precision.resolve_precision`, which knows the hardware).
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
