"""The JSON argument system shared by every script (train, val, test, demos, benchmarks).

One frozen dataclass, :class:`Args`, is the schema: every key with its type, default and help
text. Values come from three layers, later layers winning::

    schema defaults  <  script defaults  <  JSON file (--argsjs)  <  command line / overrides

The JSON files follow the release (``args/args_vlsm.json``, ``args/args_dlsm.json``): a flat
object ``{key: value}``. As in the release, a val/test script given ``--log RUN`` and no
``--argsjs`` reads ``RUN/args.json`` (the args the run was trained with).

Every key is a command-line flag of the same name::

    --batch_size 2            ints / floats / strings
    --sepup false             bools: true/false/1/0/yes/no/on/off; a bare ``--sepup`` is true
    --eval_thresh 0.3,0.4     lists: comma separated, JSON (``[0.3, 0.4]``) or several tokens
    --ckpt none               optional keys: ``none`` / ``null`` give None

Unknown keys (in a file, in an override dict or on the command line) and values of the wrong
type are rejected with a :class:`ConfigError` naming the source (file path or "command line"),
the key, and the expected and given types; an unknown key comes with the closest valid key.

Public API: :class:`Args`, :class:`ConfigError`, :func:`load_args`, :func:`add_args_to_parser`,
:func:`parse_cli`, :func:`save_args`, :func:`schema`.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import logging
import os
import types
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.schema import MODEL_SCHEMA

logger = logging.getLogger(__name__)

#: Name used in error messages for values given on the command line.
CLI_SOURCE = "command line"

#: Keys of the release's argument files that do nothing in this project: read from files (the
#: release's ``args_*.json`` and older runs' ``args.json`` hold them) and ignored; refused on
#: the command line with what to use instead.
IGNORED_KEYS = {
    "run_trace": "profile a training step with benchmarks/bm_profile_step.py",
    "vis": "the test scripts save pictures with --contact_sheet N and --save_preds N",
    "test_set_file": "the evaluated models are the split file's, their views fixed by "
                     "--eval_seed",
}


class ConfigError(ValueError):
    """An argument file or override is invalid. The message names the source and the key."""


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
        """A validated copy with some keys changed (typed values, as in a JSON file)."""
        return load_args(None, changes, defaults=self.to_dict())

    def split_file_for(self, split: str) -> str:
        """The split file used for ``split`` ("train", "val" or "test")."""
        if split == "val" and self.val_split_file is not None:
            return self.val_split_file
        if split == "test" and self.test_split_file is not None:
            return self.test_split_file
        return self.split_file


# --------------------------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArgSpec:
    """One schema entry.

    Attributes:
        name: the key.
        base: ``int``, ``float``, ``bool`` or ``str`` (the element type for lists).
        optional: whether None is allowed.
        is_list: whether the value is a list (stored as a tuple).
        default: the schema default.
        help: help text.
        choices: allowed values, or None.
        minimum: smallest allowed value (numbers, list elements), or None.
        group: section of the help output.
    """

    name: str
    base: type
    optional: bool
    is_list: bool
    default: Any
    help: str
    choices: tuple[Any, ...] | None
    minimum: float | None
    group: str

    @property
    def type_name(self) -> str:
        """Human-readable type, e.g. ``int``, ``list of float``, ``str or null``."""
        t = f"list of {self.base.__name__}" if self.is_list else self.base.__name__
        return f"{t} or null" if self.optional else t


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


def _json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class _Cli:
    """Raw command-line tokens of one key, parsed against the key's type later."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens


def _suggest(key: str) -> str:
    match = difflib.get_close_matches(key, list(_specs()), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ""


def _unknown_key(source: str, key: str) -> ConfigError:
    if key in IGNORED_KEYS:
        return ConfigError(f"{source}: '{key}' is a release argument this project does not "
                           f"use ({IGNORED_KEYS[key]})")
    return ConfigError(f"{source}: unknown argument '{key}'{_suggest(key)}")


def _type_error(source: str, spec: ArgSpec, given: str) -> ConfigError:
    return ConfigError(
        f"{source}: argument '{spec.name}' expects {spec.type_name}, got {given}")


def _scalar(value: Any, spec: ArgSpec, source: str) -> Any:
    """Check one typed (JSON-like) scalar against ``spec.base``; return it converted."""
    base = spec.base
    if base is bool:
        ok = isinstance(value, bool)
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise _type_error(source, spec, f"{_json_type_name(value)} {value!r}")
    return value


_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}


def _parse_token(token: str, spec: ArgSpec, source: str) -> Any:
    """Parse one command-line token as a scalar of ``spec.base``."""
    t = token.strip()
    try:
        if spec.base is bool:
            if t.lower() in _TRUE:
                return True
            if t.lower() in _FALSE:
                return False
            raise ValueError(t)
        if spec.base is int:
            return int(t)
        if spec.base is float:
            return float(t)
    except ValueError:
        raise _type_error(source, spec, f"'{token}'") from None
    return token


def _from_cli(raw: _Cli, spec: ArgSpec, source: str) -> Any:
    """Turn the tokens given for one key on the command line into a typed value."""
    tokens = raw.tokens
    if spec.optional and len(tokens) == 1 and tokens[0].strip().lower() in ("none", "null"):
        return None
    if not spec.is_list:
        if len(tokens) != 1:
            raise _type_error(source, spec, f"{len(tokens)} values {tokens}")
        return _parse_token(tokens[0], spec, source)
    if len(tokens) == 1 and tokens[0].strip().startswith("["):
        try:
            value = json.loads(tokens[0])
        except json.JSONDecodeError:
            raise _type_error(source, spec, f"invalid JSON list '{tokens[0]}'") from None
        return value  # checked as a JSON value by _coerce
    parts = [p for tok in tokens for p in tok.split(",") if p.strip()]
    return tuple(_parse_token(p, spec, source) for p in parts)


def _coerce(value: Any, spec: ArgSpec, source: str, key: str) -> Any:
    """Validate a value for ``spec`` (type, choices, minimum); return its canonical form."""
    if isinstance(value, _Cli):
        value = _from_cli(value, spec, source)
    if value is None:
        if spec.optional:
            return None
        raise _type_error(source, spec, "null")
    if spec.is_list:
        if not isinstance(value, (list, tuple)):
            raise _type_error(source, spec, f"{_json_type_name(value)} {value!r}")
        value = tuple(_scalar(v, spec, source) for v in value)
        items = value
    else:
        value = _scalar(value, spec, source)
        items = (value,)
    for v in items:
        if spec.choices is not None and v not in spec.choices:
            close = difflib.get_close_matches(str(v), [str(c) for c in spec.choices], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{source}: argument '{key}' must be one of "
                              f"{list(spec.choices)}, got {v!r}{hint}")
        if spec.minimum is not None and v < spec.minimum:
            raise ConfigError(f"{source}: argument '{key}' must be >= {spec.minimum}, got {v!r}")
    return value


def _check_cross(values: Mapping[str, Any], source: str, warn: bool = True) -> None:
    """Constraints between keys. Raises :class:`ConfigError`; warns on odd combinations."""
    for key in ("im_batch", "val_im_batch", "test_im_batch"):
        if values[key] > values["num_renders"]:
            raise ConfigError(f"{source}: argument '{key}' ({values[key]}) exceeds num_renders "
                              f"({values['num_renders']}): views are drawn without replacement")
    for key in ("im_h", "im_w"):
        if values[key] % 16:
            raise ConfigError(f"{source}: argument '{key}' must be a multiple of 16 (the image "
                              f"UNet halves the resolution four times), got {values[key]}")
    for t in values["eval_thresh"]:
        if not 0.0 < t < 1.0:
            raise ConfigError(f"{source}: argument 'eval_thresh' values must lie in (0, 1), "
                              f"got {t}")
    expected_net = {32: "unet32", 64: "unet64"}[values["nvox"]]
    if warn and values["grid_net"] != expected_net:
        logger.warning("%s: grid_net %s with nvox %d (the release pairs nvox %d with %s)",
                       source, values["grid_net"], values["nvox"], values["nvox"], expected_net)


# --------------------------------------------------------------------------------------------
# Loading
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


def load_args(argsjs: str | os.PathLike | None = None,
              overrides: Sequence[str] | Mapping[str, Any] | None = None, *,
              defaults: Mapping[str, Any] | None = None) -> Args:
    """Build :class:`Args` from defaults, an optional JSON file and overrides.

    Args:
        argsjs: JSON file ``{key: value}`` (e.g. ``args/args_vlsm.json``), or None. Its
            ``argsjs`` entry, if any, is type-checked and replaced by the file's own path.
            If None, ``--argsjs`` in command-line ``overrides`` names the file (in a dict,
            ``argsjs`` is an ordinary value).
        overrides: either command-line tokens (``["--batch_size", "2", "--sepup", "false"]``;
            values parsed from strings; errors name "command line"), or a dict of typed values
            (``{"batch_size": 2}``; errors name "overrides"). Highest precedence.
        defaults: script-specific defaults (typed), between the schema defaults and the file.

    Returns:
        The validated, immutable arguments.

    Raises:
        ConfigError: missing or invalid file; unknown key (with the closest valid key); wrong
            type (naming the source, key, expected and given type); a value outside its
            choices or range; inconsistent keys (e.g. ``im_batch`` > ``num_renders``).
    """
    if isinstance(overrides, Mapping):
        return _build(argsjs, dict(overrides), "overrides", defaults)
    if overrides is None:
        return _build(argsjs, {}, "overrides", defaults)
    return _build(argsjs, _cli_tokens_to_layer(list(overrides)), CLI_SOURCE, defaults)


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


def save_args(args: Args, path: str | os.PathLike) -> None:
    """Write ``args`` as a JSON file readable by :func:`load_args` (atomic write)."""
    from data.io import write_json

    write_json(path, args.to_dict())


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
class _RaisingParser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`ConfigError` instead of exiting."""

    def error(self, message: str) -> typing.NoReturn:
        raise ConfigError(f"{CLI_SOURCE}: {message}")


_GROUP_TITLES = {"run": "run", "data": "data", "model": "model", "optim": "optimisation",
                 "eval": "evaluation"}


def add_args_to_parser(parser: argparse.ArgumentParser,
                       hide: Collection[str] = ()) -> argparse.ArgumentParser:
    """Add a ``--<key>`` option for every schema key to ``parser``.

    Options keep the raw strings and default to "not given" (``argparse.SUPPRESS``), so that
    :func:`load_args` can apply them over the file with the right precedence and type checks.

    Args:
        parser: the parser to extend.
        hide: keys left out of ``--help`` (still accepted: a script hides what it ignores).

    Returns:
        ``parser``.
    """
    groups: dict[str, argparse._ArgumentGroup] = {}
    for spec in _specs().values():
        group = groups.get(spec.group)
        if group is None:
            group = parser.add_argument_group(f"{_GROUP_TITLES.get(spec.group, spec.group)} "
                                              "arguments")
            groups[spec.group] = group
        default = list(spec.default) if spec.is_list else spec.default
        text = f"{spec.help} [{spec.type_name}; default: {json.dumps(default)}]"
        if spec.choices:
            text += f" {{{', '.join(map(str, spec.choices))}}}"
        kwargs: dict[str, Any] = {"dest": spec.name, "default": argparse.SUPPRESS,
                                  "help": argparse.SUPPRESS if spec.name in hide
                                  else text.replace("%", "%%"),
                                  "metavar": spec.base.__name__.upper()}
        if spec.is_list:
            kwargs["nargs"] = "+"
        elif spec.base is bool:
            kwargs.update(nargs="?", const="true")
        group.add_argument(f"--{spec.name}", **kwargs)
    return parser


def _cli_tokens_to_layer(tokens: list[str],
                         parser: argparse.ArgumentParser | None = None) -> dict[str, Any]:
    """Parse command-line tokens into ``{key: _Cli(tokens)}``; unknown flags raise."""
    if parser is None:
        parser = add_args_to_parser(_RaisingParser(allow_abbrev=False, add_help=False))
    ns, unknown = parser.parse_known_args(tokens)
    if unknown:
        flag = next((u for u in unknown if u.startswith("-")), None)
        if flag is None:
            raise ConfigError(f"{CLI_SOURCE}: unexpected value(s) {unknown} (a key takes one "
                              "value; give lists comma separated)")
        raise _unknown_key(CLI_SOURCE, flag.lstrip("-").split("=", 1)[0])
    specs = _specs()
    layer: dict[str, Any] = {}
    for key, raw in vars(ns).items():
        if key not in specs:
            continue
        layer[key] = _Cli(list(raw) if isinstance(raw, list) else [raw])
    return layer


def _run_args_file(layer: Mapping[str, Any]) -> Path | None:
    """The ``args.json`` of the run a command line points at, if any: ``--log`` (a run folder
    or its parent, see :func:`training.runs.find_run`), else ``--ckpt`` (a checkpoint folder,
    whose parent is the run, or a run folder)."""
    from training.runs import ARGS_FILE, RunError, find_run

    if "log" in layer:
        log = _coerce(layer["log"], _specs()["log"], CLI_SOURCE, "log")
        if log is None:
            return None
        try:
            run = find_run(log)
        except RunError:
            return None  # the script reports it, with what to do
        found = run / ARGS_FILE
    elif "ckpt" in layer:
        ckpt = _coerce(layer["ckpt"], _specs()["ckpt"], CLI_SOURCE, "ckpt")
        if ckpt is None or not Path(ckpt).is_dir():
            return None
        run = Path(ckpt) if (Path(ckpt) / ARGS_FILE).is_file() else Path(ckpt).parent
        found = run / ARGS_FILE
    else:
        return None
    if not found.is_file():
        return None
    logger.info("reading arguments of run %s from %s", run, found)
    return found


def parse_cli(argv: Sequence[str] | None = None, *, description: str | None = None,
              defaults: Mapping[str, Any] | None = None,
              extra: Callable[[argparse.ArgumentParser], None] | None = None,
              hide: Collection[str] = (), unused: Collection[str] = (),
              ) -> tuple[Args, argparse.Namespace]:
    """Parse a script's command line into :class:`Args` (the one call a script makes).

    The file is ``--argsjs`` if given, else the ``args.json`` of the run that ``--log`` (the run
    folder or its parent; release behaviour for val/test scripts) or else ``--ckpt`` (a
    checkpoint folder of the run) points at, if it has one, else none.

    Args:
        argv: tokens (default ``sys.argv[1:]``).
        description: the script's ``--help`` description.
        defaults: the script's own defaults (e.g. ``{"split": "val"}``), below the file.
        extra: adds script-only options to the parser (not part of :class:`Args`).
        hide: keys left out of ``--help`` (still accepted).
        unused: keys the script does not use: a warning names them when given.

    Returns:
        ``(args, extra_namespace)``: the validated arguments and the script-only options
        (an empty namespace when ``extra`` is None).

    Exits:
        with status 2 and one line on stderr (the :class:`ConfigError` message, then a pointer
        to ``--help``; no usage dump) for any invalid input, 0 after ``--help``.
    """
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False)
    extra_parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    if extra is not None:
        extra(parser)
        extra(extra_parser)
    add_args_to_parser(parser, hide)
    extra_dests = {a.dest for a in extra_parser._actions}
    try:
        known, rest = extra_parser.parse_known_args(argv)
        core = _RaisingParser(allow_abbrev=False, add_help=False)
        add_args_to_parser(core)
        if any(t in ("-h", "--help") for t in rest):
            parser.parse_args(["--help"])  # prints help and exits 0
        layer = _cli_tokens_to_layer(rest, core)
        argsjs: str | os.PathLike | None = None
        if "argsjs" in layer:
            argsjs = _coerce(layer.pop("argsjs"), _specs()["argsjs"], CLI_SOURCE, "argsjs")
        if argsjs is None:
            argsjs = _run_args_file(layer)
        args = _build(argsjs, layer, CLI_SOURCE, defaults)
    except ConfigError as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n({parser.prog} --help lists the "
                    "arguments)\n")
    ignored = sorted(k for k in layer if k in unused)
    if ignored:
        logger.warning("%s does not use %s (ignored)", parser.prog,
                       ", ".join(f"--{k}" for k in ignored))
    extra_ns = argparse.Namespace(**{k: v for k, v in vars(known).items() if k in extra_dests
                                     and k != "help"})
    return args, extra_ns


__all__ = [
    "CLI_SOURCE",
    "ArgSpec",
    "Args",
    "ConfigError",
    "add_args_to_parser",
    "load_args",
    "parse_cli",
    "save_args",
    "schema",
]
