"""Copy a whole store to another (SQLite to PostgreSQL and back), verified row by row.

Every table of the schema is copied in key order in one transaction on the target, so a
failure midway leaves the target as empty as it was; then each table's rows are counted
and hashed on both sides, and the copy is good only when every count and hash agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.engine import Connection

from snapshots.errors import StoreError
from snapshots.schema import meta, metadata
from snapshots.store import Store

BATCH_ROWS = 1000


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int
    sha256: str


def copy_store(source: Store, target: Store) -> list[TableCopy]:
    """Copy every row of source into target (both Stores: target empty, both up to date);
    StoreError unless the counts and hashes of the two agree, table by table."""
    with target.transaction() as conn:
        filled = [t.name for t in tables() if t is not meta and _count(conn, t)]
        if filled:
            raise StoreError(f"{target.label}: not empty (rows in {', '.join(filled)}); "
                             "copy only into a new store")
    with source.transaction() as reading, target.transaction() as writing:
        writing.execute(meta.delete())  # a new store's own marks, replaced by the source's
        for table in tables():
            rows = reading.execution_options(yield_per=BATCH_ROWS).execute(_ordered(table))
            for batch in rows.mappings().partitions(BATCH_ROWS):
                writing.execute(insert(table), [dict(row) for row in batch])
            _advance_sequence(writing, table)
    copied = digest(source)
    if digest(target) != copied:
        raise StoreError(f"{target.label}: the copy does not match its source "
                         "(counts or hashes differ); the target keeps what was written")
    return copied


def tables() -> list[Table]:
    """The schema's tables, each before any table that refers to it."""
    return list(metadata.sorted_tables)


def digest(store: Store) -> list[TableCopy]:
    """Each table's row count and a SHA-256 over its rows in key order."""
    found = []
    with store.transaction() as conn:
        for table in tables():
            hashed = hashlib.sha256()
            rows = conn.execution_options(yield_per=BATCH_ROWS).execute(_ordered(table))
            count = 0
            for row in rows:
                hashed.update(_encoded(row))
                count += 1
            found.append(TableCopy(table.name, count, hashed.hexdigest()))
    return found


def _ordered(table: Table) -> Any:
    keys = list(table.primary_key.columns) or list(table.columns)
    return select(table).order_by(*keys)


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def _encoded(row: Iterable[Any]) -> bytes:
    parts = []
    for value in row:
        if value is None:
            parts.append(b"\x00N")
        elif isinstance(value, bytes | memoryview):
            parts.append(b"\x00B" + bytes(value))
        else:
            parts.append(b"\x00S" + repr(value).encode())
    return b"".join(parts) + b"\x01"


def _advance_sequence(conn: Connection, table: Table) -> None:
    """PostgreSQL: the id sequence past the copied ids (SQLite takes the largest id + 1)."""
    if conn.dialect.name == "postgresql" and "id" in table.c and table.c.id.primary_key:
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                          f"COALESCE(MAX(id), 0) + 1, false) FROM {table.name}"))
