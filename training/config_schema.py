"""The schema of the argument system: :class:`Args`, and how layers of values build one.

:class:`Args` is one frozen dataclass: every key with its type, default, help text, choices
and minimum (model keys from :data:`models.schema.MODEL_SCHEMA`). :func:`_build` applies the
layers ``schema defaults < script defaults < JSON file < overrides``, checks each value and the
constraints between keys, and builds it. File and command-line entry points
(:func:`training.config.load_args`, :func:`training.config.parse_cli`) sit on top, in
:mod:`training.config`, which re-exports every public name.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data.loaders.base import LoaderConfig
from models.schema import MODEL_SCHEMA
from training.config_values import (
    CLI_SOURCE,
    IGNORED_KEYS,
    ArgSpec,
    ConfigError,
    _check_cross,
    _coerce,
    _json_type_name,
    logger,
)


def _arg(default: Any, help: str, *, choices: Sequence[Any] | None = None,
         minimum: float | None = None, group: str = "") -> Any:
    """A schema entry: a dataclass field carrying its help text and constraints."""
    meta = {"help": help, "choices": tuple(choices) if choices else None, "minimum": minimum,
            "group": group}
    return field(default=default, metadata=meta)


def _model_arg(key: str, group: str) -> Any:
    """A schema entry for a model key: default, choices, minimum and help from the one model
    schema, :data:`models.schema.MODEL_SCHEMA`."""
    spec = MODEL_SCHEMA[key]
    return _arg(spec.default, spec.help, choices=spec.choices, minimum=spec.minimum, group=group)


# --------------------------------------------------------------------------------------------
# The schema
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Args:
    """All arguments of the project's scripts (the schema; see the module docstring).

    Build with :func:`load_args` or :func:`parse_cli` rather than directly; direct construction
    is validated too. Instances are immutable: use :meth:`replace` for a changed copy.
    Lists are stored as tuples.
    """

    # -- run ----------------------------------------------------------------------------------
    argsjs: str | None = _arg(
        None, "JSON file of arguments to start from (release key); the loaded Args record "
        "the file actually read.",
        group="run")
    logdir: str = _arg("./log", "Parent folder of training runs; a run writes "
                       "<logdir>/<timestamp>/train.", group="run")
    log: str | None = _arg(
        None, "An existing run folder (val/test/resume). Without --argsjs, <log>/args.json "
        "supplies the arguments, as in the release.", group="run")
    ckpt: str | None = _arg(None, "Checkpoint to restore (train: resume; test: evaluate), "
                            "e.g. mvnet-100000.", group="run")
    loglevel: str = _arg("info", "Logging level.",
                         choices=("debug", "info", "warning", "error", "critical"), group="run")
    rng_seed: int = _arg(0, "Seed of everything random in training (weights init, model "
                         "order, training views).", minimum=0, group="run")

    # -- data ---------------------------------------------------------------------------------
    data_root: str = _arg("datasets/full", "Data root in the release layout (renders/, "
                          "voxels/).", group="data")
    split_file: str = _arg("data/splits.json", "Split file {train|val|test: {synset: "
                           "[model_id, ...]}}; a bare name (e.g. splits_small) means "
                           "data/<name>.json.", group="data")
    val_split_file: str | None = _arg(None, "Split file for validation (None: split_file).",
                                      group="data")
    test_split_file: str | None = _arg(None, "Split file for testing (None: split_file).",
                                       group="data")
    split: str = _arg("test", "Split evaluated by the test scripts.",
                      choices=("train", "val", "test"), group="data")
    num_renders: int = _arg(20, "Rendered views per model in the data root.", minimum=1,
                            group="data")
    nvox: int = _model_arg("nvox", group="data")
    im_h: int = _model_arg("im_h", group="data")
    im_w: int = _model_arg("im_w", group="data")
    prefetch_threads: int = _arg(6, "Parallel example loaders (0: tf.data AUTOTUNE).",
                                 minimum=0, group="data")
    queue_size: int = _arg(32, "Examples buffered ahead of the model (the loader prefetches "
                           "ceil(queue_size / batch_size) batches).", minimum=1, group="data")
    loader: str = _arg("auto", "Input pipeline: tf (tf.data), numpy (threads, no TensorFlow "
                       "needed: JAX-only GPU machines) or auto (tf when TensorFlow is "
                       "installed, else numpy).", choices=("auto", "tf", "numpy"), group="data")
    eval_seed: int = _arg(1, "Seed of the fixed per-model view choice of val/test (kept apart "
                          "from rng_seed so numbers compare across runs).", minimum=0,
                          group="data")

    # -- model --------------------------------------------------------------------------------
    batch_size: int = _arg(8, "Models per training batch.", minimum=1, group="model")
    im_batch: int = _arg(4, "Views per model in training (sequence length of the GRU).",
                         minimum=1, group="model")
    im_net: str = _model_arg("im_net", group="model")
    grid_net: str = _model_arg("grid_net", group="model")
    rnn: str = _model_arg("rnn", group="model")
    norm: str = _model_arg("norm", group="model")
    im_channels: int = _model_arg("im_channels", group="model")
    grid_channels: int = _model_arg("grid_channels", group="model")
    depth_channels: int = _model_arg("depth_channels", group="model")
    depth_head: str = _model_arg("depth_head", group="model")
    ray_samples: int = _model_arg("ray_samples", group="model")
    proj_x: int = _model_arg("proj_x", group="model")
    sepup: bool = _model_arg("sepup", group="model")
    im_skip: bool = _model_arg("im_skip", group="model")
    init_from: str | None = _arg(None, "Warm start a new run: a checkpoint or run folder whose "
                                 "variables with the same path and shape are copied into the "
                                 "model (e.g. a trained V-LSM's trunk into a D-LSM); the rest "
                                 "keep their initialisation.", group="model")
    jit_compile: str = _arg("auto", "Compile the training step with XLA: auto (Keras decides: "
                            "XLA on JAX, and on TensorFlow where the model supports it), true or "
                            "false.", choices=("auto", "true", "false"), group="model")
    precision: str = _arg("auto", "Compute precision of the convolutions (weights, norms, "
                          "gathers and losses stay float32; models/precision.py): auto (bfloat16 "
                          "on AMX/AVX512_BF16 CPUs with TensorFlow and on GPUs of compute "
                          "capability 8+, else float32), float32, bfloat16, or float16 (loss "
                          "scaling; GPUs only, slow on a CPU). The val and test scripts "
                          "compute in float32 unless given --precision.",
                          choices=("auto", "float32", "bfloat16", "float16"), group="model")
    loss: str = _arg("ce", "Training loss: ce (sigmoid cross-entropy on voxels, V-LSM) or l1 "
                     "(depth, D-LSM).", choices=("ce", "l1"), group="model")

    # -- optimisation -------------------------------------------------------------------------
    lr: float = _arg(1e-3, "Adam learning rate.", minimum=0.0, group="optim")
    beta1: float = _arg(0.9, "Adam beta1.", minimum=0.0, group="optim")
    adam_epsilon: float = _arg(1e-8, "Adam epsilon: 1e-8 is the release's (TF1 "
                               "tf.train.AdamOptimizer); Keras' own default is 1e-7.",
                               minimum=0.0, group="optim")
    decay_rate: float = _arg(1.0, "Staircase exponential lr decay factor (1: constant lr).",
                             minimum=0.0, group="optim")
    decay_steps: int = _arg(10000, "Iterations between lr decays.", minimum=1, group="optim")
    niters: int = _arg(100000, "Training iterations.", minimum=1, group="optim")
    ckpt_iters: int = _arg(5000, "Iterations between checkpoints (mvnet-<iteration>).",
                           minimum=1, group="optim")
    max_minutes: float = _arg(0.0, "Stop training after this many minutes of wall time, with a "
                              "checkpoint (resume it later with --log RUN, which keeps the "
                              "limit unless given --max_minutes again); 0: no limit.",
                              minimum=0.0, group="optim")
    sum_iters: int = _arg(50, "Iterations between image/voxel summaries.", minimum=1,
                          group="optim")

    # -- scale-out (training/distribute.py) -----------------------------------------------------
    distribution: str = _arg("auto", "Data-parallel training (JAX backend): auto (over all "
                             "devices when there is more than one, or several processes), "
                             "data_parallel (ask for it), none (one device). batch_size is the "
                             "global batch, split evenly between the devices.",
                             choices=("auto", "none", "data_parallel"), group="distribution")
    coordinator: str | None = _arg(None, "HOST:PORT of process 0 for training over several "
                                   "processes (hosts); else $JAX_COORDINATOR_ADDRESS, or found "
                                   "by JAX under SLURM.", group="distribution")
    num_processes: int = _arg(0, "Processes of a multi-process run (0: from $JAX_NUM_PROCESSES "
                              "or SLURM's $SLURM_NTASKS, else 1).", minimum=0,
                              group="distribution")
    process_id: int = _arg(-1, "This process's index, 0 .. num_processes - 1 (-1: from "
                           "$JAX_PROCESS_ID or $SLURM_PROCID).", minimum=-1,
                           group="distribution")
    peer_timeout: int = _arg(60, "Seconds after which a silent process of a multi-process run "
                             "counts as dead (the others then stop, naming it).", minimum=5,
                             group="distribution")

    # -- evaluation ---------------------------------------------------------------------------
    val_batch_size: int = _arg(4, "Models per validation batch.", minimum=1, group="eval")
    val_im_batch: int = _arg(4, "Views per model in validation.", minimum=1, group="eval")
    test_batch_size: int = _arg(4, "Models per test batch.", minimum=1, group="eval")
    test_im_batch: int = _arg(4, "Views per model in testing.", minimum=1, group="eval")
    eval_thresh: tuple[float, ...] = _arg((0.4,), "Occupancy thresholds of the IoU metric.",
                                          group="eval")
    sleep_time: int = _arg(15, "Validation: minutes between checks for new checkpoints.",
                           minimum=0, group="eval")
    result_file: str | None = _arg(None, "Test: write the results table to this file (.txt "
                                   "and .json); refused if either exists (results never "
                                   "overwrite a table).", group="eval")
    savedir: str | None = _arg(None, "Test: folder for the result tables, saved predictions "
                               "and contact sheets (None: the run folder, or results/<name>/ "
                               "for a shipped model folder).", group="eval")

    def __post_init__(self) -> None:
        values = {}
        for name, spec in _specs().items():
            v = _coerce(getattr(self, name), spec, "Args(...)", name)
            object.__setattr__(self, name, v)
            values[name] = v
        _check_cross(values, "Args(...)", warn=False)

    def to_dict(self) -> dict[str, Any]:
        """All keys in schema order, JSON-ready (tuples become lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in ((f.name, getattr(self, f.name)) for f in dataclasses.fields(self))
        }

    def replace(self, **changes: Any) -> Args:
        """A validated copy with some keys changed (typed values, as in a JSON file), as
        :func:`training.config.load_args` ``(None, changes, defaults=self.to_dict())``."""
        return _build(None, dict(changes), "overrides", self.to_dict())

    def split_file_for(self, split: str) -> str:
        """The split file used for ``split`` ("train", "val" or "test"); the loaders' rule
        (:meth:`data.loaders.base.LoaderConfig.split_file_for`)."""
        return LoaderConfig.from_args(self).split_file_for(split)


_SPECS: dict[str, ArgSpec] | None = None


def _specs() -> dict[str, ArgSpec]:
    """The schema, built once from :class:`Args`' annotations."""
    global _SPECS
    if _SPECS is None:
        hints = typing.get_type_hints(Args)
        specs = {}
        for f in dataclasses.fields(Args):
            tp = hints[f.name]
            optional = False
            args = typing.get_args(tp)
            if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
                non_none = [a for a in args if a is not type(None)]
                optional = len(non_none) < len(args)
                tp = non_none[0]
            is_list = typing.get_origin(tp) is tuple
            base = typing.get_args(tp)[0] if is_list else tp
            specs[f.name] = ArgSpec(
                name=f.name, base=base, optional=optional, is_list=is_list, default=f.default,
                help=f.metadata["help"], choices=f.metadata["choices"],
                minimum=f.metadata["minimum"], group=f.metadata["group"])
        _SPECS = specs
    return _SPECS


def schema() -> dict[str, ArgSpec]:
    """Every key of :class:`Args` with its type, default, help and constraints, in order."""
    return dict(_specs())


def _suggest(key: str) -> str:
    match = difflib.get_close_matches(key, list(_specs()), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ""


def _unknown_key(source: str, key: str) -> ConfigError:
    if key in IGNORED_KEYS:
        return ConfigError(f"{source}: '{key}' is a release argument this project does not "
                           f"use ({IGNORED_KEYS[key]})")
    return ConfigError(f"{source}: unknown argument '{key}'{_suggest(key)}")


# --------------------------------------------------------------------------------------------
# Layers: defaults < script defaults < file < overrides
# --------------------------------------------------------------------------------------------
def _read_args_file(path: Path) -> dict[str, Any]:
    try:
        with open(path) as f:
            obj = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"argument file not found: {path}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{path}: must hold a JSON object {{key: value}}, got "
                          f"{_json_type_name(obj)}")
    return obj


def _apply(values: dict[str, Any], layer: Mapping[str, Any], source: str) -> None:
    specs = _specs()
    for key, value in layer.items():
        if key in IGNORED_KEYS and source != CLI_SOURCE:
            logger.debug("%s: ignoring the release argument '%s' (%s)", source, key,
                         IGNORED_KEYS[key])
            continue
        if key not in specs:
            raise _unknown_key(source, key)
        values[key] = _coerce(value, specs[key], source, key)


def _build(argsjs: str | os.PathLike | None, layer: dict[str, Any], layer_source: str,
           defaults: Mapping[str, Any] | None) -> Args:
    """Apply defaults < script defaults < file < ``layer``; validate; build :class:`Args`."""
    values = {name: spec.default for name, spec in _specs().items()}
    if defaults:
        _apply(values, defaults, "defaults")
    if layer_source == CLI_SOURCE:  # --argsjs names the file; in a dict it is a plain value
        layer_js = layer.pop("argsjs", None)
        if argsjs is None and layer_js is not None:
            argsjs = _coerce(layer_js, _specs()["argsjs"], layer_source, "argsjs")
    sources = []
    if argsjs is not None:
        path = Path(argsjs)
        _apply(values, _read_args_file(path), str(path))
        values["argsjs"] = str(path)
        sources.append(str(path))
    _apply(values, layer, layer_source)
    if layer:
        sources.append(layer_source)
    _check_cross(values, " + ".join(sources) or "defaults")
    return Args(**values)


__all__ = ["Args", "schema"]
