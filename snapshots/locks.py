"""The locks that keep one daemon and one writer per store, across processes and hosts.

Two kinds: "daemon" (a daemon runs on the store) and "writer" (a check or any other write
is under way). Each is held by a session the system ends when its holder dies, even by
SIGKILL, so a lock is never broken by a guess:
- SQLite: an flock on a file beside the store, holding "HOST pid"; the kernel drops it.
- PostgreSQL: a session advisory lock on a connection of its own, whose application_name
  says "ctmonitor KIND HOST pid N"; the server drops it when that connection ends (TCP
  keepalives end it within about a minute when the holder's host vanishes).
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import URL

from snapshots.errors import StoreBusy, StoreError

HOLDER_BYTES = 300
KINDS = {"daemon": 1, "writer": 2}  # the advisory lock's second key
ADVISORY_KEY = 0x63746D6F  # "ctmo": the advisory locks' first key, ctmonitor's
KEEPALIVES = "keepalives=1 keepalives_idle=20 keepalives_interval=5 keepalives_count=4"
HOLDER = re.compile(r"(?P<host>\S+) pid (?P<pid>\d+)$")  # as str(Holder) writes it


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int

    def __str__(self) -> str:
        return f"{self.host} pid {self.pid}"

    @classmethod
    def me(cls) -> Holder:
        return cls(socket.gethostname(), os.getpid())

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        """The holder at the end of text ("... HOST pid N"), or None."""
        found = HOLDER.search(text.strip())
        return cls(found["host"], int(found["pid"])) if found else None


DOING = {"daemon": "running as a daemon on it", "writer": "writing to it"}


def busy(holder: Holder | None, kind: str) -> StoreBusy:
    who = f"held by {holder}" if holder else "held by another process"
    return StoreBusy(f"store is busy: {who}, {DOING[kind]}; try again when it is done")


class Locks(Protocol):
    def hold(self, kind: str, leave_file: bool = True) -> AbstractContextManager[None]: ...

    def holder(self, kind: str) -> Holder | None: ...


class FileLocks:
    """flock on STORE.daemon / STORE.lock beside an SQLite store."""

    def __init__(self, store: Path) -> None:
        self.store = store

    def _file(self, kind: str) -> Path:
        return self.store.with_name(f"{self.store.name}.{'lock' if kind == 'writer' else kind}")

    @contextmanager
    def hold(self, kind: str, leave_file: bool = True) -> Iterator[None]:
        """Hold the lock; without leave_file its file goes when it is released (for a store
        no one else uses yet, such as a copy being made)."""
        self.store.parent.mkdir(parents=True, exist_ok=True)
        path = self._file(kind)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise busy(_read(fd), kind) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(Holder.me()).encode(), 0)
            yield
        finally:
            if not leave_file:
                path.unlink(missing_ok=True)
            os.close(fd)

    def holder(self, kind: str) -> Holder | None:
        path = self._file(kind)
        if not path.exists():
            return None
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd) or Holder("?", 0)
        finally:
            os.close(fd)
        return None


def _read(fd: int) -> Holder | None:
    return Holder.parse(os.pread(fd, HOLDER_BYTES, 0).decode(errors="replace"))


class AdvisoryLocks:
    """Session advisory locks of a PostgreSQL store, each on a connection of its own."""

    def __init__(self, url: URL, label: str) -> None:
        self.url = url.set(drivername="postgresql")  # libpq's form of it
        self.label = label  # how errors name the store

    def _connect(self, application: str) -> Any:
        import psycopg  # only PostgreSQL stores need it, and it is slow to import

        try:
            conninfo = psycopg.conninfo.make_conninfo(
                self.url.render_as_string(hide_password=False),
                application_name=application[:63])
            return psycopg.connect(f"{conninfo} {KEEPALIVES}", autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"{self.label}: cannot open: "
                             f"{str(exc).strip().splitlines()[0]}") from None

    @contextmanager
    def hold(self, kind: str, leave_file: bool = True) -> Iterator[None]:
        me = Holder.me()
        conn = self._connect(f"ctmonitor {kind} {me}")
        try:
            got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                               (ADVISORY_KEY, KINDS[kind])).fetchone()
            if not (got and got[0]):
                raise busy(self._holder(conn, kind), kind)
            yield
        finally:
            conn.close()  # ends the session, and with it the lock

    def holder(self, kind: str) -> Holder | None:
        with self._connect("ctmonitor status") as conn:
            return self._holder(conn, kind)

    @staticmethod
    def _holder(conn: Any, kind: str) -> Holder | None:
        row = conn.execute(
            "SELECT a.application_name, l.pid FROM pg_locks l "
            "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s "
            "AND l.objid = %s AND l.objsubid = 2 AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
            (ADVISORY_KEY, KINDS[kind])).fetchone()
        if row is None:
            return None
        found = Holder.parse(row[0] or "")  # application_name: "ctmonitor KIND HOST pid N"
        return found or Holder("the database server", int(row[1]))  # its name is hidden
