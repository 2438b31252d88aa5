"""How a config key is declared: its type, default and choices.

The config loader (monitor) declares its sections with it and each channel class
(notifiers) declares its own keys with it, so it lives in the layer both may import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
              list: "a list", dict: "a table"}


@dataclass(frozen=True)
class Field:
    """One allowed key of a table: its type, default and, where it is an enum, its choices."""

    kind: type | tuple[type, ...]
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()
    expect: str = ""
    secret: bool = False  # never echo the value in an error

    def describe(self) -> str:
        if self.expect:
            return self.expect
        if self.choices:
            return "one of " + ", ".join(f'"{c}"' for c in self.choices)
        if self.kind == (int, float):
            return "a number"
        names = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        return " or ".join(TYPE_NAMES.get(k, k.__name__) for k in names)
