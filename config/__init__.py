"""The project's configuration keys, defined once: :mod:`config.keys` (standard library only,
the bottom layer: every package may import it)."""

from config.keys import (
    KEYS,
    PARTS,
    Key,
    arguments,
    defaults,
    ignored,
    keys_of,
    table_dataclass,
)

__all__ = ["KEYS", "PARTS", "Key", "arguments", "defaults", "ignored", "keys_of",
           "table_dataclass"]
