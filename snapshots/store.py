"""The snapshot store: trials, every version, check runs and the delivery outbox.

SQLAlchemy Core on SQLite (WAL) by default, so that a server database can take its place
without rewriting the queries. Each new version is written in one transaction together
with its events and its outbox rows: a crash keeps what was committed and no half version.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import StoreError
from snapshots.locks import hold, holder
from snapshots.schema import SCHEMA_VERSION, checks, meta, metadata, outbox, trials, versions

KEEP_CHECKS = 1000
KEEP_DONE_DELIVERIES_DAYS = 90
SNAPSHOT_COMPRESSION = 6  # zlib level: snapshots are written once, read rarely

@dataclass(frozen=True)
class Version:
    """One stored version of a trial; data is None when only the listing was asked for."""

    nct_id: str
    number: int
    fetched_at: str
    last_update: str | None
    data_timestamp: str | None
    hash: str
    status: str | None
    events: list[dict[str, Any]]
    summary: str
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class OutboxItem:
    id: int
    channel: str
    kind: str
    nct_id: str | None
    version: int | None
    idempotency_key: str
    payload: dict[str, Any]
    attempts: int


TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # every time the store writes, in UTC


def utcnow() -> str:
    return datetime.now(UTC).strftime(TIMESTAMP_FORMAT)


class Store:
    """Load, save and list snapshots; the only module that speaks SQL."""

    def __init__(self, engine: Engine, path: Path | None = None) -> None:
        self.engine = engine
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating if needed) the SQLite store at path."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(f"sqlite:///{path}")
            event.listen(engine, "connect", _sqlite_pragmas)
            store = cls(engine, path)
            store._migrate()
        except (OSError, SQLAlchemyError) as exc:
            raise StoreError(f"store {path}: cannot open: {_reason(exc)}") from None
        return store

    def _migrate(self) -> None:
        with self.engine.begin() as conn:
            metadata.create_all(conn)
            found = conn.execute(select(meta.c.value).where(meta.c.key == "schema")).scalar()
            if found is None:
                conn.execute(insert(meta).values(key="schema", value=str(SCHEMA_VERSION)))
            elif int(found) > SCHEMA_VERSION:
                raise StoreError(f"store schema {found} is newer than this ctmonitor "
                                 f"({SCHEMA_VERSION}); upgrade ctmonitor")

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"store: {_reason(exc)}") from None

    @contextmanager
    def writer_lock(self, wait: bool = False) -> Iterator[None]:
        """Hold the one-writer lock of this store (a daemon's check or a manual check)."""
        with hold(self._lock_file("lock"), wait, "checking it"):
            yield

    @contextmanager
    def daemon_lock(self) -> Iterator[None]:
        """Hold the lock that says a daemon runs on this store."""
        with hold(self._lock_file("daemon"), False, "running as a daemon on it"):
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
        with self._conn(conn) as c:
            c.execute(meta.delete().where(meta.c.key == key))
            if value is not None:
                c.execute(insert(meta).values(key=key, value=value))

    @contextmanager
    def _conn(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.transaction() as c:
                yield c

    # -- trials --------------------------------------------------------------------------
    def ensure_trials(self, ids: Iterable[str]) -> None:
        with self.transaction() as conn:
            known = set(conn.execute(select(trials.c.nct_id)).scalars())
            rows = [{"nct_id": i, "added_at": utcnow(), "latest_version": 0}
                    for i in ids if i not in known]
            if rows:
                conn.execute(insert(trials), rows)

    def trial_rows(self, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        query = select(trials)
        if ids is not None:
            query = query.where(trials.c.nct_id.in_(list(ids)))
        with self.transaction() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def latest_hashes(self, ids: list[str]) -> dict[str, str | None]:
        with self.transaction() as conn:
            rows = conn.execute(select(trials.c.nct_id, trials.c.latest_hash)
                                .where(trials.c.nct_id.in_(ids)))
            return {r.nct_id: r.latest_hash for r in rows}

    def mark_checked(self, ids: list[str], when: str, error: str | None = None) -> None:
        if not ids:
            return
        with self.transaction() as conn:
            conn.execute(update(trials).where(trials.c.nct_id.in_(ids))
                         .values(last_checked_at=when, last_error=error, missing_since=None))

    def mark_failed(self, nct_id: str, error: str) -> None:
        with self.transaction() as conn:
            conn.execute(update(trials).where(trials.c.nct_id == nct_id)
                         .values(last_error=error))

    def mark_missing(self, nct_id: str, when: str, outbox_rows: list[dict[str, Any]]) -> bool:
        """Mark a trial as not in the registry; True (and queue the alert) the first time."""
        with self.transaction() as conn:
            since = conn.execute(select(trials.c.missing_since)
                                 .where(trials.c.nct_id == nct_id)).scalar()
            conn.execute(update(trials).where(trials.c.nct_id == nct_id).values(
                missing_since=since or when, last_checked_at=when,
                last_error="not in the registry"))
            if since is None and outbox_rows:
                conn.execute(insert(outbox), outbox_rows)
            return since is None

    def set_alias(self, nct_id: str, alias_of: str) -> None:
        with self.transaction() as conn:
            conn.execute(update(trials).where(trials.c.nct_id == nct_id).values(alias_of=alias_of))

    # -- versions ------------------------------------------------------------------------
    def add_version(self, nct_id: str, snapshot_json: bytes, hash_: str, status: str | None,
                    title: str | None, last_update: str | None, data_timestamp: str | None,
                    events: list[dict[str, Any]], summary: str,
                    outbox_for: Callable[[int], list[dict[str, Any]]] | None = None) -> int:
        """Store a new version with its events and outbox rows in one transaction.

        outbox_for(number) builds the alerts of the version once its number is known.
        """
        now = utcnow()
        with self.transaction() as conn:
            number = (conn.execute(select(trials.c.latest_version)
                                   .where(trials.c.nct_id == nct_id)).scalar() or 0) + 1
            conn.execute(insert(versions).values(
                nct_id=nct_id, number=number, fetched_at=now, last_update=last_update,
                data_timestamp=data_timestamp, hash=hash_, status=status,
                snapshot=zlib.compress(snapshot_json, SNAPSHOT_COMPRESSION),
                events=json.dumps(events, ensure_ascii=False), summary=summary))
            conn.execute(update(trials).where(trials.c.nct_id == nct_id).values(
                latest_version=number, latest_hash=hash_, latest_status=status, title=title,
                last_checked_at=now, last_error=None, missing_since=None))
            rows = outbox_for(number) if outbox_for else []
            if rows:
                conn.execute(insert(outbox), rows)
        return number

    def versions(self, nct_id: str) -> list[Version]:
        cols = [c for c in versions.c if c.name != "snapshot"]
        with self.transaction() as conn:
            rows = conn.execute(select(*cols).where(versions.c.nct_id == nct_id)
                                .order_by(versions.c.number))
            return [_version(r._mapping) for r in rows]

    def version(self, nct_id: str, number: int | None = None) -> Version | None:
        """One version with its snapshot data; the latest when number is None."""
        query = select(versions).where(versions.c.nct_id == nct_id)
        query = (query.where(versions.c.number == number) if number is not None
                 else query.order_by(versions.c.number.desc()).limit(1))
        with self.transaction() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        data = orjson.loads(zlib.decompress(row.snapshot))
        return _version(row._mapping, data)

    # -- checks --------------------------------------------------------------------------
    def begin_check(self) -> int:
        """Record a new check; one still "running" belonged to a killed process: aborted."""
        with self.transaction() as conn:
            conn.execute(update(checks).where(checks.c.outcome == "running")
                         .values(outcome="aborted", finished_at=utcnow()))
            started = conn.execute(insert(checks).values(started_at=utcnow()))
            return int(started.inserted_primary_key[0])  # type: ignore[index]

    def finish_check(self, check_id: int, outcome: str, requests: int,
                     data_timestamp: str | None, detail: str) -> None:
        with self.transaction() as conn:
            conn.execute(update(checks).where(checks.c.id == check_id).values(
                finished_at=utcnow(), outcome=outcome, requests=requests,
                data_timestamp=data_timestamp, detail=detail))

    def prune(self, keep_checks: int = KEEP_CHECKS) -> None:
        """Retention: keep the newest keep_checks check records and the outbox rows that are
        not done or are younger than KEEP_DONE_DELIVERIES_DAYS; versions are never pruned."""
        cutoff = (datetime.now(UTC) - timedelta(days=KEEP_DONE_DELIVERIES_DAYS)).strftime(
            TIMESTAMP_FORMAT)
        with self.transaction() as conn:
            newest = select(checks.c.id).order_by(checks.c.id.desc()).limit(keep_checks)
            conn.execute(checks.delete().where(checks.c.id.not_in(newest.scalar_subquery())))
            conn.execute(outbox.delete().where(outbox.c.status == "done",
                                               outbox.c.delivered_at < cutoff))

    def last_checks(self, limit: int = 1) -> list[dict[str, Any]]:
        with self.transaction() as conn:
            rows = conn.execute(select(checks).where(checks.c.outcome != "running")
                                .order_by(checks.c.id.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]

    def last_success(self) -> dict[str, Any] | None:
        with self.transaction() as conn:
            row = conn.execute(select(checks).where(checks.c.outcome.in_(("ok", "fresh")))
                               .order_by(checks.c.id.desc()).limit(1)).first()
            return dict(row._mapping) if row else None

    # -- outbox --------------------------------------------------------------------------
    def enqueue(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            with self.transaction() as conn:
                conn.execute(insert(outbox).prefix_with("OR IGNORE"), rows)

    def due(self, now: float) -> list[OutboxItem]:
        query = (select(outbox).where(outbox.c.status == "pending",
                                      outbox.c.next_attempt_at <= now).order_by(outbox.c.id))
        with self.transaction() as conn:
            return [OutboxItem(r.id, r.channel, r.kind, r.nct_id, r.version, r.idempotency_key,
                               json.loads(r.payload), r.attempts) for r in conn.execute(query)]

    def mark_delivered(self, ids: list[int]) -> None:
        with self.transaction() as conn:
            conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(
                status="done", delivered_at=utcnow(), attempts=outbox.c.attempts + 1))

    def mark_attempt(self, ids: list[int], error: str, next_at: float, give_up: bool,
                     attempts: int | None = None) -> None:
        """Record failed tries: attempts is the count so far (one more when None)."""
        count = outbox.c.attempts + 1 if attempts is None else attempts
        with self.transaction() as conn:
            conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(
                attempts=count, last_error=error, next_attempt_at=next_at,
                status="failed" if give_up else "pending"))

    def deliveries(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
        if status:
            query = query.where(outbox.c.status == status)
        with self.transaction() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def delivery_counts(self) -> dict[str, int]:
        with self.transaction() as conn:
            rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
            return {status: count for status, count in rows}


def _version(row: Any, data: dict[str, Any] | None = None) -> Version:
    return Version(row["nct_id"], row["number"], row["fetched_at"], row["last_update"],
                   row["data_timestamp"], row["hash"], row["status"], json.loads(row["events"]),
                   row["summary"], data)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _reason(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig or exc).splitlines()[0]
