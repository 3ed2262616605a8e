"""The one schema of the LSM model configuration: every key, its default, choices and meaning.

Pure Python (no Keras import), so the argument system (:mod:`training.config`) and the model
(:func:`models.lsm.lsm_config`) read the same table: :class:`training.config.Args` takes the
default, choices, minimum and help text of each model key it exposes from here, and the model
takes its defaults from here. The defaults are the release's (``args/args_vlsm.json``,
``args/args_dlsm.json`` and the release code's own defaults, e.g. ``sepup`` and ``im_skip``
true for the D-LSM, ``proj_x`` 4).

Keys marked ``arg=False`` are model knobs without a command-line argument (the recurrent
cell's kernel, the grid bounds, ...): they keep their defaults in a run, or are derived from an
argument (``rnn_channels`` follows the ``grid_channels`` argument, as in the release where one
width serves both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MODEL_SCHEMA", "ModelKey", "model_defaults"]


@dataclass(frozen=True)
class ModelKey:
    """One model configuration key.

    Attributes:
        default: the release default.
        help: what it means (the argument's help text).
        choices: the allowed values, or None.
        minimum: the smallest allowed value (numbers), or None.
        arg: whether :class:`training.config.Args` exposes it as an argument.
    """

    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    arg: bool = True


#: Every model key, in the order of the model's configuration.
MODEL_SCHEMA: dict[str, ModelKey] = {
    "im_net": ModelKey("unet", "Image encoder.", choices=("unet",)),
    "grid_net": ModelKey("unet32", "3D grid network (unet32 for 32^3 grids, unet64 for 64^3).",
                         choices=("unet32", "unet64")),
    "rnn": ModelKey("gru", "3D convolutional recurrent fusion.", choices=("gru", "lstm")),
    "norm": ModelKey("IN", "Normalisation: IN (instance, offset only), BN or none.",
                     choices=("IN", "BN", "none")),
    "nvox": ModelKey(32, "Voxel grid resolution N (grid of N^3 over [-0.5, 0.5]^3).",
                     choices=(32, 64)),
    "im_h": ModelKey(224, "Network input height in pixels (renders are resized, K scaled; a "
                     "multiple of 16).", minimum=16),
    "im_w": ModelKey(224, "Network input width in pixels (renders are resized, K scaled; a "
                     "multiple of 16).", minimum=16),
    "ray_samples": ModelKey(64, "D-LSM: depth samples per ray in proj_slice.", minimum=1),
    "proj_x": ModelKey(4, "D-LSM: downsampling of the projected image (224 / proj_x pixels).",
                       choices=(4, 8)),
    "sepup": ModelKey(True, "D-LSM: separable convs and resize-conv upsampling in the depth "
                      "network (the release D-LSM: true)."),
    "im_skip": ModelKey(True, "D-LSM: skip features from the image encoder into the depth "
                        "network (the release D-LSM: true)."),
    "im_channels": ModelKey(32, "Channels of the image encoder's output features (release 32).",
                            minimum=1),
    "rnn_channels": ModelKey(32, "Hidden channels of the recurrent unit (the grid_channels "
                             "argument sets it).", minimum=1, arg=False),
    "rnn_kernel": ModelKey(3, "Side of the recurrent unit's 3D convolution kernel.", minimum=1,
                           arg=False),
    "rnn_layer_norm": ModelKey(True, "Layer norm in the recurrent cell.", arg=False),
    "grid_channels": ModelKey(32, "Hidden channels of the recurrent unit and base width of the "
                              "grid network (release 32).", minimum=1),
    "depth_channels": ModelKey(32, "D-LSM: base width of the depth network (release 32).",
                               minimum=1),
    "depth_head": ModelKey(
        "release", "D-LSM: output head. release: one depth channel trained with L1 over every "
        "pixel (the paper). mask: an extension, not in the paper: a depth channel trained with "
        "L1 over the true foreground only plus a foreground logit trained with cross-entropy; "
        "the depth map is the depth where the logit is > 0 and the background depth (10) "
        "elsewhere, which gives sharp silhouettes instead of blended object/background depth.",
        choices=("release", "mask")),
    "grid_range": ModelKey((-0.5, 0.5), "Grid bounds per axis (scene units).", arg=False),
    "z_range": ModelKey((1.0, 3.0), "D-LSM ray depth range (scene units).", arg=False),
    "proj_rounding": ModelKey("release", "Voxel lookup rounding of the D-LSM projection.",
                              arg=False),
}


def model_defaults() -> dict[str, Any]:
    """``{key: default}`` for every key of :data:`MODEL_SCHEMA` (a new dict)."""
    return {k: spec.default for k, spec in MODEL_SCHEMA.items()}
