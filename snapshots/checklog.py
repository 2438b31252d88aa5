"""The check log: when each check ran, how it ended, and what it cost."""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy import insert, select, update

from snapshots.database import Database, row_fields, utcnow
from snapshots.schema import checks

KEEP_CHECKS = 1000
SUCCEEDED = ("ok", "fresh", "partial")  # partial: the check ran, some of its trials failed
FAILING_OUTCOMES = ("failed", "partial")  # outcomes that count toward the failure alert


@dataclass(frozen=True)
class Check:
    """One check run; outcome is running, ok, fresh, partial, failed, interrupted or
    aborted."""

    id: int
    started_at: str
    finished_at: str | None
    requests: int
    outcome: str
    data_timestamp: str | None
    detail: str | None


CHECK_FIELDS = tuple(f.name for f in fields(Check))


class CheckLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def begin(self) -> int:
        """Record a new check; one still "running" belonged to a killed process: aborted."""
        with self.db.transaction() as conn:
            conn.execute(update(checks).where(checks.c.outcome == "running")
                         .values(outcome="aborted", finished_at=utcnow()))
            started = conn.execute(insert(checks).values(started_at=utcnow()))
            return int(started.inserted_primary_key[0])  # type: ignore[index]

    def finish(self, check_id: int, outcome: str, requests: int, data_timestamp: str | None,
               detail: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(update(checks).where(checks.c.id == check_id).values(
                finished_at=utcnow(), outcome=outcome, requests=requests,
                data_timestamp=data_timestamp, detail=detail))

    def describe(self, check_id: int, requests: int, detail: str) -> None:
        """What a finished check did after it was recorded (its backfill)."""
        with self.db.transaction() as conn:
            conn.execute(update(checks).where(checks.c.id == check_id).values(
                requests=requests, detail=detail))

    def last(self, limit: int = 1) -> list[Check]:
        """The newest finished checks, newest first."""
        with self.db.transaction() as conn:
            rows = conn.execute(select(checks).where(checks.c.outcome != "running")
                                .order_by(checks.c.id.desc()).limit(limit))
            return [Check(**row_fields(r, CHECK_FIELDS)) for r in rows]

    def last_success(self) -> Check | None:
        with self.db.transaction() as conn:
            row = conn.execute(select(checks).where(checks.c.outcome.in_(SUCCEEDED))
                               .order_by(checks.c.id.desc()).limit(1)).first()
            return Check(**row_fields(row, CHECK_FIELDS)) if row else None

    def prune(self, keep: int = KEEP_CHECKS) -> None:
        """Retention: the newest keep check records stay."""
        with self.db.transaction() as conn:
            newest = select(checks.c.id).order_by(checks.c.id.desc()).limit(keep)
            conn.execute(checks.delete().where(checks.c.id.not_in(newest.scalar_subquery())))
