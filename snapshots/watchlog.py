"""Search watches' memory: every trial a watch has matched, and how its runs went."""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from snapshots.database import Database, row_fields, utcnow
from snapshots.schema import watch_matches, watches


@dataclass(frozen=True)
class WatchState:
    name: str
    query: str
    baseline_at: str
    last_run_at: str | None
    matches: int
    last_new: int
    last_error: str | None


STATE_FIELDS = tuple(f.name for f in fields(WatchState))


class WatchLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def states(self) -> dict[str, WatchState]:
        with self.db.transaction() as conn:
            return {r.name: WatchState(**row_fields(r, STATE_FIELDS))
                    for r in conn.execute(select(watches))}

    def new_matches(self, name: str, query: str, ids: set[str], conn: Connection) -> list[str]:
        """Record a run's matches in the caller's transaction; the trials never matched
        before, sorted. The first run of a watch (or of a changed query) is its baseline:
        it records the matches and says none is new."""
        now = utcnow()
        known = conn.execute(select(watches.c.query).where(watches.c.name == name)).scalar()
        if known != query:
            conn.execute(delete(watch_matches).where(watch_matches.c.watch == name))
            conn.execute(delete(watches).where(watches.c.name == name))
            conn.execute(insert(watches).values(name=name, query=query, baseline_at=now,
                                                matches=0, last_new=0))
            seen: set[str] = set()
        else:
            seen = set(conn.execute(select(watch_matches.c.nct_id)
                                    .where(watch_matches.c.watch == name)).scalars())
        new = sorted(ids - seen)
        if new:
            conn.execute(insert(watch_matches), [{"watch": name, "nct_id": n, "first_seen": now}
                                                 for n in new])
        conn.execute(update(watches).where(watches.c.name == name).values(
            last_run_at=now, matches=len(ids), last_error=None,
            last_new=0 if known != query else len(new)))
        return [] if known != query else new

    def failed(self, name: str, error: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(update(watches).where(watches.c.name == name)
                         .values(last_run_at=utcnow(), last_error=error))
