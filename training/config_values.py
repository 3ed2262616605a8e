"""Values of the argument system: one key's spec, and the parsing and checking of its values.

:class:`ArgSpec` describes one key of the schema (type, default, help, choices, minimum);
:func:`_coerce` checks a typed (JSON) value or the raw command-line tokens (:class:`_Cli`)
against it, and :func:`_check_cross` the constraints between keys. Every failure is a
:class:`ConfigError` naming the source, the key, and the expected and given types.

Knows nothing of :class:`training.config.Args` (the schema, in :mod:`training.config_schema`);
public names are re-exported by :mod:`training.config`.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: One logger for the whole argument system (:mod:`training.config` and its parts).
logger = logging.getLogger("training.config")

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


__all__ = ["CLI_SOURCE", "IGNORED_KEYS", "ArgSpec", "ConfigError"]
