"""The JSON argument system shared by every script (train, val, test, demos, benchmarks).

Every key comes from the one table, :data:`config.KEYS` (type, default, help, choices and its
rules); :class:`Args` is the frozen dataclass of the keys the scripts take, generated from it.
Values come from layers, later layers winning::

    table defaults  <  script defaults  <  JSON file (--argsjs)  <  command line / overrides

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
The release's keys that do nothing here (``run_trace``, ...; :func:`config.ignored`) are
skipped in files and refused on the command line with what to use instead. A key whose
choices are a registry's names (``rnn``: :data:`models.fusion.FUSERS`; ``model``:
:data:`models.registry.MODELS`) is checked against the registry (:func:`registry_names`).

Public API: :class:`Args`, :class:`ConfigError`, :func:`load_args`, :func:`add_args_to_parser`,
:func:`parse_cli`, :func:`save_args`, :func:`schema`, :func:`registry_names`.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import os
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from config import KEYS, Key, arguments, ignored, table_dataclass
from config.values import (
    CLI_SOURCE,
    CliTokens,
    ConfigError,
    check_cross,
    coerce,
    json_type_name,
    logger,
)
from data.loaders.base import LoaderConfig

#: The arguments (every table key the scripts take), in table order.
_ARGS: dict[str, Key] = arguments()


def registry_names(key: Key) -> tuple[Any, ...]:
    """The names registered in the registry of ``key`` (:attr:`config.Key.registry`, a dotted
    path such as ``"models.fusion.FUSERS"``), imported on first use (it imports Keras). While
    the registry's module does not exist yet, the names the project ships
    (:attr:`config.Key.choices`)."""
    module, _, attr = (key.registry or "").rpartition(".")
    try:
        registry = getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as e:
        if e.name is None or not module.startswith(e.name):
            raise
        logger.debug("registry %s not found: %s takes %s", key.registry, key.name, key.choices)
        return tuple(key.choices or ())
    return tuple(registry)


def _coerce(value: Any, key: Key, source: str) -> Any:
    return coerce(value, key, source, registry_names)


@table_dataclass(_ARGS)
class Args:
    """All arguments of the project's scripts: one field per key of :func:`config.arguments`
    (see the module docstring), with the table's type and default.

    Build with :func:`load_args` or :func:`parse_cli` rather than directly; direct construction
    is validated too. Instances are immutable: use :meth:`replace` for a changed copy.
    Lists are stored as tuples.
    """

    def __post_init__(self) -> None:
        values = {}
        for name, key in _ARGS.items():
            v = _coerce(getattr(self, name), key, "Args(...)")
            object.__setattr__(self, name, v)
            values[name] = v
        check_cross(values, "Args(...)", warn=False)

    def to_dict(self) -> dict[str, Any]:
        """All keys in table order, JSON-ready (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in ((name, getattr(self, name)) for name in _ARGS)}

    def replace(self, **changes: Any) -> Args:
        """A validated copy with some keys changed (typed values, as in a JSON file), as
        :func:`load_args` ``(None, changes, defaults=self.to_dict())``."""
        return _build(None, dict(changes), "overrides", self.to_dict())

    def split_file_for(self, split: str) -> str:
        """The split file used for ``split`` ("train", "val" or "test"); the loaders' rule
        (:meth:`data.loaders.base.LoaderConfig.split_file_for`)."""
        return LoaderConfig.from_args(self).split_file_for(split)


def schema() -> dict[str, Key]:
    """Every argument (a field of :class:`Args`) with its table entry, in order."""
    return dict(_ARGS)


# --------------------------------------------------------------------------------------------
# Layers: defaults < script defaults < file < overrides
# --------------------------------------------------------------------------------------------
def _suggest(name: str) -> str:
    match = difflib.get_close_matches(name, list(_ARGS), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ""


def _unknown_key(source: str, name: str) -> ConfigError:
    why = ignored().get(name)
    if why is not None:
        return ConfigError(f"{source}: '{name}' is a release argument this project does not "
                           f"use ({why})")
    return ConfigError(f"{source}: unknown argument '{name}'{_suggest(name)}")


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
                          f"{json_type_name(obj)}")
    return obj


def _apply(values: dict[str, Any], layer: Mapping[str, Any], source: str) -> None:
    for name, value in layer.items():
        key = KEYS.get(name)
        if key is not None and key.ignored is not None and source != CLI_SOURCE:
            logger.debug("%s: ignoring the release argument '%s' (%s)", source, name,
                         key.ignored)
            continue
        if name not in _ARGS:
            raise _unknown_key(source, name)
        values[name] = _coerce(value, _ARGS[name], source)


def _build(argsjs: str | os.PathLike | None, layer: dict[str, Any], layer_source: str,
           defaults: Mapping[str, Any] | None) -> Args:
    """Apply defaults < script defaults < file < ``layer``; validate; build :class:`Args`."""
    values = {name: key.default for name, key in _ARGS.items()}
    if defaults:
        _apply(values, defaults, "defaults")
    if layer_source == CLI_SOURCE:  # --argsjs names the file; in a dict it is a plain value
        layer_js = layer.pop("argsjs", None)
        if argsjs is None and layer_js is not None:
            argsjs = _coerce(layer_js, _ARGS["argsjs"], layer_source)
    sources = []
    if argsjs is not None:
        path = Path(argsjs)
        _apply(values, _read_args_file(path), str(path))
        values["argsjs"] = str(path)
        sources.append(str(path))
    _apply(values, layer, layer_source)
    if layer:
        sources.append(layer_source)
    check_cross(values, " + ".join(sources) or "defaults")
    return Args(**values)


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


#: The ``--help`` section of each part (:data:`config.PARTS`).
_SECTIONS = {"run": "run", "loader": "data", "model": "model", "optimizer": "optimisation",
             "distribution": "distribution", "eval": "evaluation"}


def add_args_to_parser(parser: argparse.ArgumentParser,
                       hide: Collection[str] = ()) -> argparse.ArgumentParser:
    """Add a ``--<key>`` option for every argument to ``parser``, in sections by part.

    Options keep the raw strings and default to "not given" (``argparse.SUPPRESS``), so that
    :func:`load_args` can apply them over the file with the right precedence and type checks.

    Args:
        parser: the parser to extend.
        hide: keys left out of ``--help`` (still accepted: a script hides what it ignores).

    Returns:
        ``parser``.
    """
    groups = {part: parser.add_argument_group(f"{title} arguments")
              for part, title in _SECTIONS.items()}
    for key in _ARGS.values():
        default = list(key.default) if key.is_list else key.default
        text = f"{key.help} [{key.type_name}; default: {json.dumps(default)}]"
        if key.choices:
            more = f", or a name registered in {key.registry}" if key.registry else ""
            text += f" {{{', '.join(map(str, key.choices))}{more}}}"
        kwargs: dict[str, Any] = {"dest": key.name, "default": argparse.SUPPRESS,
                                  "help": argparse.SUPPRESS if key.name in hide
                                  else text.replace("%", "%%"),
                                  "metavar": key.type.__name__.upper()}
        if key.is_list:
            kwargs["nargs"] = "+"
        elif key.type is bool:
            kwargs.update(nargs="?", const="true")
        groups[key.part].add_argument(f"--{key.name}", **kwargs)
    return parser


def _cli_tokens_to_layer(tokens: list[str],
                         parser: argparse.ArgumentParser | None = None) -> dict[str, Any]:
    """Parse command-line tokens into ``{key: CliTokens}``; unknown flags raise."""
    if parser is None:
        parser = add_args_to_parser(_RaisingParser(allow_abbrev=False, add_help=False))
    ns, unknown = parser.parse_known_args(tokens)
    if unknown:
        flag = next((u for u in unknown if u.startswith("-")), None)
        if flag is None:
            raise ConfigError(f"{CLI_SOURCE}: unexpected value(s) {unknown} (a key takes one "
                              "value; give lists comma separated)")
        raise _unknown_key(CLI_SOURCE, flag.lstrip("-").split("=", 1)[0])
    return {name: CliTokens(list(raw) if isinstance(raw, list) else [raw])
            for name, raw in vars(ns).items() if name in _ARGS}


def _run_args_file(layer: Mapping[str, Any]) -> Path | None:
    """The ``args.json`` of the run a command line points at, if any: ``--log`` (a run folder
    or its parent, see :func:`training.runs.find_run`), else ``--ckpt`` (a checkpoint folder,
    whose parent is the run, or a run folder)."""
    from training.runs import ARGS_FILE, RunError, find_run

    if "log" in layer:
        log = _coerce(layer["log"], _ARGS["log"], CLI_SOURCE)
        if log is None:
            return None
        try:
            run = find_run(log)
        except RunError:
            return None  # the script reports it, with what to do
        found = run / ARGS_FILE
    elif "ckpt" in layer:
        ckpt = _coerce(layer["ckpt"], _ARGS["ckpt"], CLI_SOURCE)
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
            argsjs = _coerce(layer.pop("argsjs"), _ARGS["argsjs"], CLI_SOURCE)
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
    "Args",
    "ConfigError",
    "add_args_to_parser",
    "load_args",
    "parse_cli",
    "registry_names",
    "save_args",
    "schema",
]
