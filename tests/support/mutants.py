"""Records gone wrong in every field the monitor reads: the fields come from the record
schema of snapshots.record, each set to a wrong type, a null, a list for a table or a table
for a list, text full of control characters, or nesting thousands of levels deep."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from snapshots.record import RECORD_SCHEMA

WRONG_TYPE = {"string": 7, "boolean": "yes", "integer": "120", "object": "some text",
              "array": "some text"}
CONTROL_TEXT = "\x00\x07\x1b[2J\x1b]0;owned\x07\r\nSet-Cookie: x\u202e\ufffe\ud7ff end"
DEEP = 3000
VARIANTS = ("wrong type", "null", "list for a table, table for a list",
            "control characters")


@dataclass(frozen=True)
class Field:
    path: tuple[str, ...]  # "0" stands for a list's first item
    type: str
    form: bool  # a registry date or an NCT id, whose form is checked too

    @property
    def name(self) -> str:
        """The path as the monitor's message names it: locations[0].facility."""
        return ".".join(self.path).replace(".0.", "[0].").removesuffix(".0")


def fields(schema: dict[str, Any] = RECORD_SCHEMA, path: tuple[str, ...] = ()
           ) -> Iterator[Field]:
    for name, sub in schema.get("properties", {}).items():
        here = (*path, name)
        yield Field(here, sub["type"], "pattern" in sub)
        if sub["type"] == "object":
            yield from fields(sub, here)
        elif sub["type"] == "array" and sub["items"]["type"] == "object":
            yield from fields(sub["items"], (*here, "0"))


def mutant(field: Field, variant: str) -> Any:
    """The value a field gets in a variant; None where the variant does not apply."""
    if variant == "wrong type":
        return WRONG_TYPE[field.type]
    if variant == "null":
        return "null"
    if variant == "control characters":
        return CONTROL_TEXT if field.type == "string" else None
    return {"object": ["a list"], "array": {"a": "table"}}.get(field.type)


def with_value(record: dict[str, Any], field: Field, value: Any) -> dict[str, Any]:
    """A copy of record with field set to value ("null" sets JSON null), its parents made
    where the record lacks them."""
    out = copy.deepcopy(record)
    node: Any = out
    for key, after in zip(field.path, (*field.path[1:], None), strict=True):
        if after is None:
            break
        fresh: Any = [{}] if after == "0" else {}
        if key == "0":
            if not node:
                node.append({})
            node = node[0]
            continue
        if not isinstance(node.get(key), list | dict):
            node[key] = fresh
        node = node[key]
    last = field.path[-1]
    node[0 if last == "0" else last] = None if value == "null" else value
    return out


def deep_value() -> list[Any]:
    value: list[Any] = []
    for _ in range(DEEP):
        value = [value]
    return value


def fails(field: Field, variant: str) -> bool:
    """Whether the record must fail its trial: every variant but control characters in free
    text (not a date, not an id)."""
    return variant != "control characters" or field.form


def cases(variant: str) -> Iterator[tuple[Field, Any]]:
    for field in fields():
        value = mutant(field, variant)
        if value is not None:
            yield field, value


def expected_error(field: Field, variant: str) -> str:
    """How the failing trial's reason starts (a record without a protocol section or an
    NCT id in text is no study record at all)."""
    if field.name == "protocolSection" or (field.name.endswith("identificationModule.nctId")
                                           and variant != "control characters"):
        return "not a study record: no "
    return f"record unreadable: {field.name}: expected "
