"""The store's tables (SQLAlchemy Core) at the newest revision of snapshots/migrations.

A change here comes with a new revision there that makes it on an existing store.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    UniqueConstraint,
)
from sqlalchemy import String as _String
from sqlalchemy import Text as _Text
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class _NoNul:
    """Text as PostgreSQL can hold it: a NUL (which the registry may send in any free-text
    field) is stored as U+FFFD on every backend, so a SQLite store copies to PostgreSQL.
    The snapshot itself, a blob, keeps every character."""

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


class String(_NoNul, TypeDecorator[str]):
    impl = _String
    cache_ok = True


class Text(_NoNul, TypeDecorator[str]):
    impl = _Text
    cache_ok = True


meta = Table("meta", metadata, Column("key", String, primary_key=True), Column("value", Text))
# the last version stored before snapshots kept the results' review cycle (revision 0008)
UNTRACKED_KEY = "snapshots.untracked_through"

trials = Table(
    "trials", metadata,
    Column("nct_id", String, primary_key=True),
    Column("added_at", String, nullable=False),
    Column("alias_of", String),
    Column("missing_since", String),
    Column("last_checked_at", String),
    Column("last_error", Text),
    Column("latest_version", Integer, nullable=False, default=0),
    Column("latest_hash", String),
    Column("latest_status", String),
    Column("title", Text),
    Column("backfilled_at", String),  # the registry's history was loaded
    Column("backfill_tried_at", String),
    Column("backfill_error", Text),
    Column("status_verified", String),  # statusVerifiedDate of the latest version
    # the latest version's results deadline (snapshots.deadlines): "" none, NULL not known yet
    Column("results_due", String),
    Column("results_submitted", String),
    Column("deadlines_raised", Text),  # "FIELD:DUE" of each deadline event raised, one a line
    # alerts held back: NULL not muted, "" until unmuted, YYYY-MM-DD the day they resume
    Column("muted_until", String),
    Column("results_in_review", String),  # the day of a results submission under review
)

versions = Table(
    "versions", metadata,
    Column("id", Integer, primary_key=True),
    Column("nct_id", String, ForeignKey("trials.nct_id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("fetched_at", String, nullable=False),
    Column("last_update", String),
    Column("data_timestamp", String),
    Column("hash", String, nullable=False),
    Column("status", String),
    Column("snapshot", LargeBinary, nullable=False),
    Column("events", Text, nullable=False, default="[]"),
    Column("summary", Text, nullable=False, default=""),
    Column("source", String, nullable=False, default="check", server_default="check"),
    Column("registry_version", Integer),  # loaded from the registry's history
    Column("registry_date", String),
    Column("outline", LargeBinary),  # normalise.outline, compressed: what its page draws
    UniqueConstraint("nct_id", "number"),
)
Index("versions_by_fetched_at", versions.c.fetched_at)  # the change feed, newest first

checks = Table(
    "checks", metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", String, nullable=False),
    Column("finished_at", String),
    Column("requests", Integer, nullable=False, default=0),
    Column("outcome", String, nullable=False, default="running"),
    Column("data_timestamp", String),
    Column("detail", Text),
)

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("nct_id", String),
    Column("version", Integer),
    Column("idempotency_key", String, nullable=False, unique=True),
    Column("payload", Text, nullable=False),
    Column("status", String, nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False, default=0.0),
    Column("last_error", Text),
    Column("created_at", String, nullable=False),
    Column("delivered_at", String),
)
Index("outbox_by_status", outbox.c.status, outbox.c.channel)

watches = Table(
    "watches", metadata,
    Column("name", String, primary_key=True),
    Column("query", Text, nullable=False),  # the watch's parameters: another starts anew
    Column("baseline_at", String, nullable=False),
    Column("last_run_at", String),
    Column("matches", Integer, nullable=False, default=0),
    Column("last_new", Integer, nullable=False, default=0),
    Column("last_error", Text),
)

watch_matches = Table(
    "watch_matches", metadata,
    Column("watch", String, ForeignKey("watches.name", ondelete="CASCADE"), nullable=False),
    Column("nct_id", String, nullable=False),
    Column("first_seen", String, nullable=False),
    UniqueConstraint("watch", "nct_id"),
)

seen_marks = Table(  # what each browser of the history page last marked seen
    "seen_marks", metadata,
    Column("viewer", String, primary_key=True),  # a hash of the browser's cookie
    Column("seen_through", Integer, nullable=False),  # the newest version's id then
    Column("marked_at", String, nullable=False),
)
