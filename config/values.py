"""Checking values against the table: one key's value (:func:`coerce`), and the rules between
keys (:func:`check_cross`).

A value is either typed (from a JSON file or a dict of overrides) or the raw tokens given for
a key on the command line (:class:`CliTokens`), parsed here against the key's type. Every
failure is a :class:`ConfigError` whose message is one line naming the source (file path,
"command line", ...), the key, and what was expected and given.

Standard library only, like :mod:`config.keys`.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

from config.keys import Key

__all__ = ["CLI_SOURCE", "CliTokens", "ConfigError", "check_cross", "coerce", "json_type_name"]

logger = logging.getLogger("training.config")

#: Name used in error messages for values given on the command line.
CLI_SOURCE = "command line"


class ConfigError(ValueError):
    """An argument file or override is invalid. The message names the source and the key."""


class CliTokens:
    """Raw command-line tokens of one key, parsed against the key's type by :func:`coerce`."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens


def json_type_name(value: Any) -> str:
    """The JSON name of a value's type: ``null``, ``list``, ``object``, or the Python name."""
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _type_error(source: str, key: Key, given: str) -> ConfigError:
    return ConfigError(f"{source}: argument '{key.name}' expects {key.type_name}, got {given}")


def _scalar(value: Any, key: Key, source: str) -> Any:
    """Check one typed (JSON-like) scalar against ``key.type``; return it converted."""
    if key.type is bool:
        ok = isinstance(value, bool)
    elif key.type is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif key.type is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise _type_error(source, key, f"{json_type_name(value)} {value!r}")
    return value


_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}


def _parse_token(token: str, key: Key, source: str) -> Any:
    """Parse one command-line token as a scalar of ``key.type``."""
    t = token.strip()
    try:
        if key.type is bool:
            if t.lower() in _TRUE:
                return True
            if t.lower() in _FALSE:
                return False
            raise ValueError(t)
        if key.type is int:
            return int(t)
        if key.type is float:
            return float(t)
    except ValueError:
        raise _type_error(source, key, f"'{token}'") from None
    return token


def _from_cli(raw: CliTokens, key: Key, source: str) -> Any:
    """Turn the tokens given for one key on the command line into a typed value."""
    tokens = raw.tokens
    if key.optional and len(tokens) == 1 and tokens[0].strip().lower() in ("none", "null"):
        return None
    if not key.is_list:
        if len(tokens) != 1:
            raise _type_error(source, key, f"{len(tokens)} values {tokens}")
        return _parse_token(tokens[0], key, source)
    if len(tokens) == 1 and tokens[0].strip().startswith("["):
        try:
            return json.loads(tokens[0])  # checked as a JSON value by coerce
        except json.JSONDecodeError:
            raise _type_error(source, key, f"invalid JSON list '{tokens[0]}'") from None
    parts = [p for tok in tokens for p in tok.split(",") if p.strip()]
    return tuple(_parse_token(p, key, source) for p in parts)


def coerce(value: Any, key: Key, source: str,
           registered: Callable[[Key], Collection[Any]] | None = None) -> Any:
    """Check a value of ``key`` (type, choices, minimum) and return its canonical form.

    Args:
        value: a typed value, or the :class:`CliTokens` of the command line.
        key: the table entry.
        source: where the value comes from, for messages (a file path, "command line", ...).
        registered: for a registry key (:attr:`Key.registry`), returns the registry's names;
            asked only for a value outside the names the project ships (:attr:`Key.choices`).
            None: those names only.

    Returns:
        The value: floats for float keys, tuples for lists, None for a null optional key.

    Raises:
        ConfigError: one line naming the source and the key.
    """
    if isinstance(value, CliTokens):
        value = _from_cli(value, key, source)
    if value is None:
        if key.optional:
            return None
        raise _type_error(source, key, "null")
    if key.is_list:
        if not isinstance(value, (list, tuple)):
            raise _type_error(source, key, f"{json_type_name(value)} {value!r}")
        value = tuple(_scalar(v, key, source) for v in value)
        items = value
    else:
        value = _scalar(value, key, source)
        items = (value,)
    for v in items:
        choices = key.choices
        if choices is not None and v not in choices and key.registry and registered:
            choices = tuple(registered(key))
        if choices is not None and v not in choices:
            close = difflib.get_close_matches(str(v), [str(c) for c in choices], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{source}: argument '{key.name}' must be one of "
                              f"{list(choices)}, got {v!r}{hint}")
        if key.minimum is not None and v < key.minimum:
            raise ConfigError(f"{source}: argument '{key.name}' must be >= {key.minimum}, "
                              f"got {v!r}")
    return value


def check_cross(values: Mapping[str, Any], source: str, warn: bool = True) -> None:
    """The rules between keys of a full set of arguments.

    Raises:
        ConfigError: a view count over ``num_renders``, an image size not a multiple of 16,
            an IoU threshold outside (0, 1).
    """
    for name in ("im_batch", "val_im_batch", "test_im_batch"):
        if values[name] > values["num_renders"]:
            raise ConfigError(f"{source}: argument '{name}' ({values[name]}) exceeds "
                              f"num_renders ({values['num_renders']}): views are drawn without "
                              "replacement")
    for name in ("im_h", "im_w"):
        if values[name] % 16:
            raise ConfigError(f"{source}: argument '{name}' must be a multiple of 16 (the image "
                              f"UNet halves the resolution four times), got {values[name]}")
    for t in values["eval_thresh"]:
        if not 0.0 < t < 1.0:
            raise ConfigError(f"{source}: argument 'eval_thresh' values must lie in (0, 1), "
                              f"got {t}")
    expected_net = {32: "unet32", 64: "unet64"}[values["nvox"]]
    if warn and values["grid_net"] != expected_net:
        logger.warning("%s: grid_net %s with nvox %d (the release pairs nvox %d with %s)",
                       source, values["grid_net"], values["nvox"], values["nvox"], expected_net)
