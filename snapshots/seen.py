"""What each browser of the history page has seen: "mark all seen" keeps the id of the
newest stored version, and what was stored after it is new to that browser. Browsers are
known by a random cookie, kept here only as a hash."""

from __future__ import annotations

import hashlib

from sqlalchemy import bindparam, delete, func, insert, select

from snapshots.database import Database, utcnow
from snapshots.schema import seen_marks, versions


def viewer_of(browser: str) -> str:
    return hashlib.sha256(browser.encode()).hexdigest()[:32]


# built once: every page of a browser asks
THROUGH = select(seen_marks.c.seen_through).where(seen_marks.c.viewer == bindparam("viewer"))


class SeenLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def through(self, browser: str) -> int | None:
        """The last version the browser has seen; None if it never marked all seen."""
        with self.db.transaction() as conn:
            return conn.execute(THROUGH, {"viewer": viewer_of(browser)}).scalar()

    def mark_all(self, browser: str) -> int | None:
        """Every version stored until now seen by the browser; the last one."""
        with self.db.transaction() as conn:
            newest = conn.execute(select(func.max(versions.c.id))).scalar()
            if newest is None:
                return None
            viewer = viewer_of(browser)
            conn.execute(delete(seen_marks).where(seen_marks.c.viewer == viewer))
            conn.execute(insert(seen_marks).values(viewer=viewer, seen_through=newest,
                                                   marked_at=utcnow()))
            return int(newest)
