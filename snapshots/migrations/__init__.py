"""The store's schema revisions (Alembic, in versions/), and where a store stands on them.

A store made before Alembic (ctmonitor 0.1) has no alembic_version table but a `schema`
number in meta; numbers 1 to 4 are revisions 0001 to 0004. Every store since keeps
meta's `schema` at OLD_RELEASE_MARK so that 0.1 refuses it as newer than itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, inspect, select, text
from sqlalchemy.engine import Connection

from snapshots.schema import meta, metadata

FOLDER = Path(__file__).resolve().parent
# Revision NNNN is versions/NNNN_*.py (tests/test_migrations.py holds Alembic to it), so
# that opening a store reads neither Alembic nor its scripts: Alembic is slow to import
# and only a migration needs it.
REVISIONS = tuple(sorted(p.name[:4] for p in (FOLDER / "versions").glob("[0-9]*.py")))
HEAD = REVISIONS[-1]
OLD_RELEASE_MARK = "5"
STORE_TABLES = frozenset({"meta", "trials", "versions"})
MIGRATE_COMMAND = "ctmonitor store migrate"


class ForeignDatabase(Exception):
    """The database holds tables, but not a ctmonitor store's."""


@dataclass(frozen=True)
class Revision:
    """Where a store's schema stands: its revision (None: no tables yet, a new store)."""

    current: str | None
    head: str
    known: bool  # this program has the revision (False: a newer ctmonitor made it)

    @property
    def new(self) -> bool:
        return self.current is None

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def newer(self) -> bool:
        return self.current is not None and not self.known

    def problem(self, migrating: bool = False) -> str | None:
        """Why a program must not use this store as it is, in one phrase; None when it may
        (when migrating, an older store is what it may use)."""
        if self.new or self.up_to_date or (migrating and not self.newer):
            return None
        if self.newer:
            return (f"its schema (revision {self.current}) is newer than this ctmonitor's "
                    f"({self.head}); upgrade ctmonitor")
        return (f"its schema is out of date (revision {self.current}, this ctmonitor needs "
                f"{self.head}); run `{MIGRATE_COMMAND}`")


def revision(conn: Connection) -> Revision:
    """The store's revision; ForeignDatabase when the database is not a ctmonitor store."""
    tables = set(inspect(conn).get_table_names())
    current: str | None = None
    if "alembic_version" in tables:
        current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    elif tables:
        current = _old_release_revision(conn, tables)
    return Revision(current, HEAD, current is None or current in REVISIONS)


def _old_release_revision(conn: Connection, tables: set[str]) -> str:
    missing = STORE_TABLES - tables
    if missing:
        shown = ", ".join(sorted(tables)[:4]) + (", ..." if len(tables) > 4 else "")
        raise ForeignDatabase(f"a database with the tables {shown}")
    number = conn.execute(select(meta.c.value).where(meta.c.key == "schema")).scalar()
    if number is None or not str(number).isdigit():
        raise ForeignDatabase("no schema version")
    return f"{int(number):04d}"


def create(conn: Connection) -> None:
    """Make a new store's tables at the newest revision, in the caller's transaction."""
    from alembic import command

    metadata.create_all(conn)
    conn.execute(insert(meta).values(key="schema", value=OLD_RELEASE_MARK))
    command.stamp(alembic_config(conn), "head")


def upgrade(conn: Connection) -> Revision:
    """Bring the store up to the newest revision in the caller's transaction; where it
    stood before."""
    from alembic import command

    before = revision(conn)
    if before.new or before.newer or before.up_to_date:
        return before
    config = alembic_config(conn)
    if not inspect(conn).has_table("alembic_version"):
        assert before.current is not None
        command.stamp(config, before.current)  # a 0.1 store: its meta number, as a revision
    command.upgrade(config, "head")
    return before


def alembic_config(conn: Connection) -> Any:
    """Alembic's configuration for running these revisions on conn (env.py takes it)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(FOLDER))
    config.attributes["connection"] = conn
    return config
