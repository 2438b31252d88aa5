"""The engine the store's modules share, its transactions, and the store's clock format."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from snapshots.errors import StoreError

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # every time the store writes, in UTC
# Values in one IN (...): a statement takes at most 65,535 parameters on PostgreSQL (and
# 32,766 on many SQLite builds), and a check may name 100,000 trials.
MAX_IN = 10_000

T = TypeVar("T")


def utcnow() -> str:
    return datetime.now(UTC).strftime(TIMESTAMP_FORMAT)


def parse_utc(text: str) -> datetime:
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)


class Database:
    """One engine; every query of the store runs in one of its transactions."""

    def __init__(self, engine: Engine, label: str = "store") -> None:
        self.engine = engine
        self.label = label  # how errors name it

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction: committed when the block ends, rolled back when it raises."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"{self.label}: {reason(exc)}") from None

    @contextmanager
    def joined(self, conn: Connection | None) -> Iterator[Connection]:
        """The caller's transaction when it passes one, else a transaction of its own."""
        if conn is not None:
            yield conn
        else:
            with self.transaction() as own:
                yield own


def chunks(values: list[T], size: int = MAX_IN) -> Iterator[list[T]]:
    """values in lists of at most size, for one IN (...) each."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


def reason(exc: Exception) -> str:
    """The first line of a database error, without SQLAlchemy's wrapping."""
    orig = getattr(exc, "orig", None)
    return str(orig or exc).splitlines()[0]


def row_fields(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    mapping = row._mapping
    return {name: mapping[name] for name in names}


def insert_new(conn: Connection, table: Table, key: str) -> Any:
    """An INSERT that skips rows whose unique key is already stored, and only those: any
    other constraint still fails the transaction (SQLite's OR IGNORE would skip them too)."""
    # The dialect of the store at hand only: PostgreSQL's takes 42 ms to import, a tenth
    # of every command's start, and an SQLite store never needs it.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing(index_elements=[key])
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
