"""The delivery outbox: each alert waits here, with its channel, until a channel takes it.

Rows are written in the same transaction as the version they speak of, so an alert is
never lost nor sent for a version that was not stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from snapshots.database import (
    TIMESTAMP_FORMAT,
    Database,
    chunks,
    insert_new,
    row_fields,
    utcnow,
)
from snapshots.schema import outbox

KEEP_DONE_DELIVERIES_DAYS = 90


@dataclass(frozen=True)
class NewDelivery:
    """An alert to queue for one channel; key is its idempotency key."""

    channel: str
    kind: str
    key: str
    payload: dict[str, Any]
    nct_id: str | None = None
    version: int | None = None
    held: bool = False  # a muted trial's: kept back until it is unmuted


@dataclass(frozen=True)
class Delivery:
    """A queued alert: pending (to send or retry), done, failed for good, held (its trial
    is muted) or dropped (held, then its trial unmuted with [alerts] held_alerts = "drop")."""

    id: int
    channel: str
    kind: str
    nct_id: str | None
    version: int | None
    idempotency_key: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: str
    delivered_at: str | None


DELIVERY_FIELDS = tuple(f.name for f in fields(Delivery))


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(self, items: list[NewDelivery], conn: Connection | None = None) -> None:
        """Queue alerts (in the caller's transaction when given); a key queued before is
        not queued again."""
        if not items:
            return
        rows = [{"channel": i.channel, "kind": i.kind, "nct_id": i.nct_id,
                 "version": i.version, "idempotency_key": i.key,
                 "payload": json.dumps(i.payload, ensure_ascii=False),
                 "status": "held" if i.held else "pending",
                 "attempts": 0, "next_attempt_at": 0.0, "created_at": utcnow()} for i in items]
        with self.db.joined(conn) as c:
            c.execute(insert_new(c, outbox, "idempotency_key"), rows)

    def due(self, now: float) -> list[Delivery]:
        """Pending alerts whose next try is due, oldest first."""
        query = (select(outbox).where(outbox.c.status == "pending",
                                      outbox.c.next_attempt_at <= now).order_by(outbox.c.id))
        with self.db.transaction() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def mark_delivered(self, ids: list[int]) -> None:
        with self.db.transaction() as conn:
            for chunk in chunks(ids):  # a digest may carry more alerts than one IN takes
                conn.execute(update(outbox).where(outbox.c.id.in_(chunk)).values(
                    status="done", delivered_at=utcnow(), attempts=outbox.c.attempts + 1))

    def mark_attempt(self, ids: list[int], error: str, next_at: float, give_up: bool,
                     attempts: int | None = None) -> None:
        """Record failed tries: attempts is the count so far (one more when None)."""
        count = outbox.c.attempts + 1 if attempts is None else attempts
        with self.db.transaction() as conn:
            for chunk in chunks(ids):
                conn.execute(update(outbox).where(outbox.c.id.in_(chunk)).values(
                    attempts=count, last_error=error, next_attempt_at=next_at,
                    status="failed" if give_up else "pending"))

    def release(self, nct_ids: list[str], send: bool, conn: Connection | None = None) -> int:
        """The held alerts of these trials to send (pending) or not (dropped); how many."""
        with self.db.joined(conn) as c:
            done = c.execute(update(outbox).where(outbox.c.status == "held",
                                                  outbox.c.nct_id.in_(nct_ids))
                             .values(status="pending" if send else "dropped"))
            return int(done.rowcount or 0)

    def held_trials(self) -> set[str]:
        """The trials with held alerts."""
        with self.db.transaction() as conn:
            return set(conn.execute(select(outbox.c.nct_id).where(outbox.c.status == "held")
                                    .distinct()).scalars())

    def recent(self, status: str | None = None, limit: int = 100) -> list[Delivery]:
        """The newest alerts, of one status when given."""
        query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
        if status:
            query = query.where(outbox.c.status == status)
        with self.db.transaction() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def counts(self) -> dict[str, int]:
        """How many alerts there are of each status."""
        with self.db.transaction() as conn:
            rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
            return {status: count for status, count in rows}

    def prune(self, days: int = KEEP_DONE_DELIVERIES_DAYS) -> None:
        """Retention: delivered alerts older than days go; pending and failed ones stay."""
        cutoff = (datetime.now(UTC) - timedelta(days=days)).strftime(TIMESTAMP_FORMAT)
        with self.db.transaction() as conn:
            conn.execute(outbox.delete().where(outbox.c.status == "done",
                                               outbox.c.delivered_at < cutoff))


def _delivery(row: Any) -> Delivery:
    values = row_fields(row, DELIVERY_FIELDS)
    return Delivery(**{**values, "payload": json.loads(values["payload"])})
