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

Modules, each importing only the ones below it: this one (loading, the command line, the public
names) -> :mod:`training.config_schema` (:class:`Args`, the layering of values) ->
:mod:`training.config_values` (:class:`ArgSpec`, parsing and checking one value).
"""

from __future__ import annotations

import argparse
import json
import os
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from training.config_schema import Args, _build, _specs, _unknown_key, schema
from training.config_values import (
    CLI_SOURCE,
    IGNORED_KEYS,
    ArgSpec,
    ConfigError,
    _Cli,
    _coerce,
    logger,
)


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
    "IGNORED_KEYS",
    "ArgSpec",
    "Args",
    "ConfigError",
    "add_args_to_parser",
    "load_args",
    "parse_cli",
    "save_args",
    "schema",
]
