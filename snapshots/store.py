"""The snapshot store: one engine shared by the version log, the check log and the outbox.

SQLAlchemy Core on an SQLite file (WAL) by default, or on PostgreSQL (psycopg 3): the same
tables and queries on both. Each new version is written in one transaction together with
its events and its outbox rows: a crash keeps what was committed and no half version. The
schema is Alembic's (snapshots.migrations): a store is used only at this program's revision.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, insert, select, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from snapshots import migrations
from snapshots.checklog import CheckLog
from snapshots.database import Database, reason
from snapshots.errors import StoreError, StoreOutOfDate
from snapshots.locks import ADVISORY_KEY, AdvisoryLocks, FileLocks, Holder, Locks
from snapshots.migrations import Revision
from snapshots.outbox import Outbox
from snapshots.schema import meta
from snapshots.seen import SeenLog
from snapshots.versions import ChangeLog, VersionLog
from snapshots.watchlog import WatchLog

SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_HEADER_BYTES = 100
POSTGRES_SCHEMES = ("postgresql", "postgresql+psycopg")
OPENING_KEY = 0  # the advisory lock a PostgreSQL store's creation or migration holds
CONNECT_TIMEOUT = 10  # seconds


def parse_url(target: str) -> URL:
    """A store's address: `sqlite:///PATH` or `postgresql://...` (driven by psycopg 3)."""
    try:
        url = make_url(target)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise StoreError("store: not a database URL") from None
    if url.drivername in POSTGRES_SCHEMES:
        return url.set(drivername="postgresql+psycopg")
    if url.drivername == "sqlite" and url.database:
        return url
    raise StoreError(f"store {url.render_as_string(hide_password=True)}: expected "
                     "postgresql://USER@HOST/DATABASE or an SQLite file")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def shown(url: URL) -> str:
    """The store as messages name it: its file, or its URL without the password."""
    if url.drivername == "sqlite":
        return str(url.database)
    return url.set(drivername="postgresql").render_as_string(hide_password=True)


class Store(Database):
    """Open a store; its parts are .versions, .checks, .outbox and .changes, over one engine."""

    def __init__(self, engine: Engine, url: URL) -> None:
        super().__init__(engine, f"store {shown(url)}")
        self.url = url
        self.locks = locks_of(url)
        self.found: Revision | None = None  # the revision _prepare found on opening
        self.versions = VersionLog(self)
        self.checks = CheckLog(self)
        self.outbox = Outbox(self)
        self.changes = ChangeLog(self)
        self.watches = WatchLog(self)
        self.seen = SeenLog(self)

    @property
    def sqlite(self) -> bool:
        return self.url.drivername == "sqlite"

    @property
    def name(self) -> str:
        return shown(self.url)

    @classmethod
    def open(cls, target: str, migrate: bool = False) -> Store:
        """Open the store at target (a URL), creating it when it does not exist yet.

        A store of an older schema is refused with the command that migrates it, unless
        migrate is true: then it is brought up to date (in one transaction). A store of a
        newer schema, or a database that is not a ctmonitor store, is refused untouched.
        """
        url = parse_url(target)
        path = Path(str(url.database)) if url.drivername == "sqlite" else None
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                if check_file(path):
                    if not _writable(url):
                        raise StoreError(f"store {path}: read-only here (reading commands "
                                         "work; a check must write)")
                    with _closing(_engine(url, readonly=True)) as engine:
                        _judge(url, engine, migrate)
            store = cls(_engine(url, readonly=False), url)
        except (OSError, SQLAlchemyError) as exc:
            raise StoreError(f"store {shown(url)}: cannot open: {reason(exc)}") from None
        try:
            store.found = store._prepare(migrate)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def migrate(cls, target: str) -> tuple[Revision, Revision]:
        """Bring the store at target up to date, while no daemon and no writer runs on it;
        the revisions before and after."""
        locks = locks_of(parse_url(target))
        with locks.hold("daemon"), locks.hold("writer"):
            store = cls.open(target, migrate=True)
            try:
                with store.transaction() as conn:
                    after = _revision(store.url, conn)
            finally:
                store.close()
        assert store.found is not None
        return store.found, after

    @classmethod
    def open_readonly(cls, target: str) -> Store:
        """Open an existing store for reading only: the database refuses every write on
        it (on SQLite, in WAL mode, its reads never wait for a writer)."""
        url = parse_url(target)
        if url.drivername == "sqlite":
            path = Path(str(url.database))
            if not check_file(path):
                raise StoreError(f"store {path}: no such file (run a check first)")
        try:
            engine, revision = _reader(url)
        except (OSError, SQLAlchemyError) as exc:
            raise StoreError(f"store {shown(url)}: cannot open: {reason(exc)}") from None
        if revision.new:
            engine.dispose()
            raise StoreError(f"store {shown(url)}: empty (run a check first)")
        return cls(engine, url)

    @classmethod
    def open_to_read(cls, target: str) -> Store:
        """The store for a command that only reads: an SQLite file that exists is opened
        read-only (it may be a backup on a read-only mount); otherwise as open() does."""
        url = parse_url(target)
        if url.drivername == "sqlite" and check_file(Path(str(url.database))):
            return cls.open_readonly(target)
        return cls.open(target)

    def _prepare(self, migrate: bool) -> Revision:
        """Refuse a store this program must not use; create a new store's tables, or (with
        migrate) bring an older store up to date, in one transaction that holds the store
        alone (so that two processes opening a new store do not both create it)."""
        with self.transaction() as conn:
            revision = _revision(self.url, conn)
        _refuse(self.url, revision, migrate)
        if not (revision.new or migrate and not revision.up_to_date):
            return revision
        with self.transaction() as conn:
            if self.sqlite:  # pysqlite would run DDL outside a transaction: begin one
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"),
                             {"a": ADVISORY_KEY, "b": OPENING_KEY})
            revision = _revision(self.url, conn)  # as it is now that no one else changes it
            _refuse(self.url, revision, migrate)
            if revision.new:
                migrations.create(conn)
            elif not revision.up_to_date:
                migrations.upgrade(conn)
            return revision

    def close(self) -> None:
        self.engine.dispose()

    def prune(self) -> None:
        """Retention of check records and delivered alerts; versions are never pruned."""
        self.checks.prune()
        self.outbox.prune()

    # -- locks ---------------------------------------------------------------------------
    def writer_lock(self, leave_file: bool = True) -> AbstractContextManager[None]:
        """Hold the one-writer lock of this store (a daemon's check or a manual check);
        without leave_file, an SQLite store's lock file goes when it is released."""
        return self.locks.hold("writer", leave_file)

    def daemon_lock(self) -> AbstractContextManager[None]:
        """Hold the lock that says a daemon runs on this store."""
        return self.locks.hold("daemon")

    def lock_holder(self, kind: str = "daemon") -> Holder | None:
        """Who holds a lock ("daemon" or "writer"), or None when nobody does."""
        return self.locks.holder(kind)

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


def locks_of(url: URL) -> Locks:
    if url.drivername == "sqlite":
        return FileLocks(Path(str(url.database)))
    return AdvisoryLocks(url, f"store {shown(url)}")


def check_file(path: Path) -> bool:
    """Refuse, before anything could write to it, a file that is not an SQLite database or
    is truncated; whether it holds anything (a missing or empty file is a new store).

    A file shorter than its header says is truncated only if SQLite finds it unsound too:
    a checkpoint the disk filled up in the middle of leaves such a file, and the pages it
    could not write still in the WAL, from which SQLite reads them."""
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        return False
    with path.open("rb") as file:
        header = file.read(SQLITE_HEADER_BYTES)
    if len(header) < SQLITE_HEADER_BYTES or not header.startswith(SQLITE_MAGIC):
        raise StoreError(f"store {path}: not a ctmonitor store (not an SQLite database); "
                         "left untouched")
    page_size = int.from_bytes(header[16:18], "big")
    pages = int.from_bytes(header[28:32], "big")
    expected = (65536 if page_size == 1 else page_size) * pages
    if size < expected and not sound(path):
        raise StoreError(f"store {path}: the file is truncated ({size:,} of {expected:,} "
                         "bytes); restore it from a backup")
    return True


def sound(path: Path) -> bool:
    """SQLite's own check of the database at path, with its WAL."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return bool(db.execute("PRAGMA quick_check").fetchone()[0] == "ok")
    except sqlite3.Error:
        return False


def _judge(url: URL, engine: Engine, migrate: bool) -> Revision:
    """Read the store's revision on engine and refuse what this program must not use."""
    with engine.connect() as conn:
        revision = _revision(url, conn)
    _refuse(url, revision, migrate)
    return revision


def _revision(url: URL, conn: Connection) -> Revision:
    try:
        return migrations.revision(conn)
    except migrations.ForeignDatabase as exc:
        raise StoreError(f"store {shown(url)}: not a ctmonitor store ({exc}); "
                         "left untouched") from None
    except SQLAlchemyError as exc:
        if url.drivername == "sqlite" and "not a database" in str(exc).lower():
            raise StoreError(f"store {shown(url)}: the file is damaged ({reason(exc)}); "
                             "restore it from a backup") from None
        raise


def _refuse(url: URL, revision: Revision, migrating: bool = False) -> None:
    problem = revision.problem(migrating)
    if problem:
        error = StoreOutOfDate if not revision.newer else StoreError
        raise error(f"store {shown(url)}: {problem}")


def _engine(url: URL, readonly: bool, immutable: bool = False) -> Engine:
    if url.drivername == "sqlite":
        if readonly:
            engine = create_engine(f"sqlite:///file:{url.database}?mode=ro"
                                   f"{'&immutable=1' if immutable else ''}&uri=true")
            event.listen(engine, "connect", _sqlite_read_pragmas)
        else:
            engine = create_engine(url)
            event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    options = "-c default_transaction_read_only=on" if readonly else ""
    return create_engine(url, pool_pre_ping=True,
                         connect_args={"options": options, "application_name": "ctmonitor",
                                       "connect_timeout": CONNECT_TIMEOUT})


def _reader(url: URL) -> tuple[Engine, Revision]:
    """A read-only engine and the store's revision. An SQLite file SQLite cannot open so (in
    a folder where it may not make its WAL's index: a read-only mount, a backup, another
    user's folder) is read as immutable, which takes nothing from a WAL left there (a clean
    close removes it)."""
    engine = _engine(url, readonly=True)
    try:
        return engine, _judge(url, engine, migrate=False)
    except SQLAlchemyError:
        engine.dispose()
        if url.drivername != "sqlite" or _writable(url):
            raise
    engine = _engine(url, readonly=True, immutable=True)
    return engine, _judge(url, engine, migrate=False)


def _writable(url: URL) -> bool:
    """Whether this process may write the SQLite file and beside it."""
    path = Path(str(url.database))
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


@contextmanager
def _closing(engine: Engine) -> Iterator[Engine]:
    try:
        yield engine
    finally:
        engine.dispose()


def _sqlite_read_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA busy_timeout=10000")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
