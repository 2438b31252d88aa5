"""The snapshot store: one engine shared by the version log, the check log and the outbox.

SQLAlchemy Core on SQLite (WAL) by default, so that a server database can take its place
without rewriting the queries. Each new version is written in one transaction together
with its events and its outbox rows: a crash keeps what was committed and no half version.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, insert, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from snapshots.checklog import CheckLog
from snapshots.database import Database, reason
from snapshots.errors import StoreError
from snapshots.locks import hold, holder
from snapshots.outbox import Outbox
from snapshots.schema import SCHEMA_VERSION, UPGRADES, meta, metadata
from snapshots.versions import ChangeLog, VersionLog
from snapshots.watchlog import WatchLog

SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_HEADER_BYTES = 100


class Store(Database):
    """Open a store; its parts are .versions, .checks, .outbox and .changes, over one engine."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.versions = VersionLog(self)
        self.checks = CheckLog(self)
        self.outbox = Outbox(self)
        self.changes = ChangeLog(self)
        self.watches = WatchLog(self)

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating if needed) the SQLite store at path."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            check_file(path)
            engine = create_engine(f"sqlite:///{path}")
            event.listen(engine, "connect", _sqlite_pragmas)
            store = cls(engine, path)
            store._migrate()
        except (OSError, SQLAlchemyError) as exc:
            raise StoreError(f"store {path}: cannot open: {reason(exc)}") from None
        return store

    @classmethod
    def open_readonly(cls, path: Path) -> Store:
        """Open an existing store for reading only: SQLite refuses every write on it, and in
        WAL mode its reads never wait for a writer."""
        if not path.exists():
            raise StoreError(f"store {path}: no such file (run a check first)")
        check_file(path)
        try:
            engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
            event.listen(engine, "connect", _sqlite_read_pragmas)
            store = cls(engine, path)
            store.get_meta("schema")
        except (OSError, SQLAlchemyError, StoreError) as exc:
            raise StoreError(f"store {path}: cannot open: {reason(exc)}") from None
        return store

    def _migrate(self) -> None:
        """Create the tables of a new store, or bring an older one up to SCHEMA_VERSION in
        place (check_file has vouched for it), in one transaction."""
        with self.engine.begin() as conn:
            found = (conn.execute(select(meta.c.value).where(meta.c.key == "schema")).scalar()
                     if inspect(conn).has_table("meta") else None)
            if found is None:
                metadata.create_all(conn)
                conn.execute(insert(meta).values(key="schema", value=str(SCHEMA_VERSION)))
                return
            for version in range(int(found), SCHEMA_VERSION):
                for statement in UPGRADES[version]:
                    conn.exec_driver_sql(statement)
            self.set_meta("schema", str(SCHEMA_VERSION), conn)
            metadata.create_all(conn)

    def close(self) -> None:
        self.engine.dispose()

    def prune(self) -> None:
        """Retention of check records and delivered alerts; versions are never pruned."""
        self.checks.prune()
        self.outbox.prune()

    # -- locks ---------------------------------------------------------------------------
    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the one-writer lock of this store (a daemon's check or a manual check)."""
        with hold(self._lock_file("lock"), "checking it"):
            yield

    @contextmanager
    def daemon_lock(self) -> Iterator[None]:
        """Hold the lock that says a daemon runs on this store."""
        with hold(self._lock_file("daemon"), "running as a daemon on it"):
            yield

    def lock_holder(self, kind: str = "daemon") -> int | None:
        """The pid holding a lock ("daemon" or "lock"), or None when nobody does."""
        return holder(self._lock_file(kind))

    def _lock_file(self, kind: str) -> Path | None:
        return None if self.path is None else self.path.with_name(f"{self.path.name}.{kind}")

    # -- meta ----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self.transaction() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str | None, conn: Connection | None = None) -> None:
        """Set (or, with None, remove) a meta value."""
        with self.joined(conn) as c:
            c.execute(meta.delete().where(meta.c.key == key))
            if value is not None:
                c.execute(insert(meta).values(key=key, value=value))


def check_file(path: Path) -> None:
    """Refuse, before anything could write to it, a file that is not a ctmonitor store of
    this schema or older: another format, a truncated file, another program's SQLite
    database, or a newer ctmonitor's store. A missing or empty file is a new store."""
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        return
    with path.open("rb") as file:
        header = file.read(SQLITE_HEADER_BYTES)
    if len(header) < SQLITE_HEADER_BYTES or not header.startswith(SQLITE_MAGIC):
        raise StoreError(f"store {path}: not a ctmonitor store (not an SQLite database); "
                         "left untouched")
    page_size = int.from_bytes(header[16:18], "big")
    pages = int.from_bytes(header[28:32], "big")
    expected = (65536 if page_size == 1 else page_size) * pages
    if size < expected:
        raise StoreError(f"store {path}: the file is truncated ({size:,} of {expected:,} "
                         "bytes); restore it from a backup")
    _check_tables(path)


def _check_tables(path: Path) -> None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"store {path}: cannot open: {exc}") from None
    try:
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return
        missing = {"meta", "trials", "versions"} - tables
        if missing:
            shown = ", ".join(sorted(tables)[:4]) + (", ..." if len(tables) > 4 else "")
            raise StoreError(f"store {path}: not a ctmonitor store (an SQLite database with "
                             f"the tables {shown}); left untouched")
        found = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if found is None or not str(found[0]).isdigit():
            raise StoreError(f"store {path}: not a ctmonitor store (no schema version); "
                             "left untouched")
        if int(found[0]) > SCHEMA_VERSION:
            raise StoreError(f"store {path}: its schema {found[0]} is newer than this "
                             f"ctmonitor's ({SCHEMA_VERSION}); upgrade ctmonitor")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"store {path}: the file is damaged ({exc}); restore it from a "
                         "backup") from None
    finally:
        conn.close()


def _sqlite_read_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA busy_timeout=10000")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
