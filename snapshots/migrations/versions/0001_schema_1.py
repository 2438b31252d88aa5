"""Schema 1 (ctmonitor 0.1 before backfill): trials, versions, checks, outbox, meta."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table("meta", sa.Column("key", sa.String, primary_key=True),
                    sa.Column("value", sa.Text))
    op.create_table(
        "trials",
        sa.Column("nct_id", sa.String, primary_key=True),
        sa.Column("added_at", sa.String, nullable=False),
        sa.Column("alias_of", sa.String),
        sa.Column("missing_since", sa.String),
        sa.Column("last_checked_at", sa.String),
        sa.Column("last_error", sa.Text),
        sa.Column("latest_version", sa.Integer, nullable=False),
        sa.Column("latest_hash", sa.String),
        sa.Column("latest_status", sa.String),
        sa.Column("title", sa.Text))
    op.create_table(
        "versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("nct_id", sa.String, sa.ForeignKey("trials.nct_id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("fetched_at", sa.String, nullable=False),
        sa.Column("last_update", sa.String),
        sa.Column("data_timestamp", sa.String),
        sa.Column("hash", sa.String, nullable=False),
        sa.Column("status", sa.String),
        sa.Column("snapshot", sa.LargeBinary, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.UniqueConstraint("nct_id", "number"))
    op.create_table(
        "checks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_at", sa.String, nullable=False),
        sa.Column("finished_at", sa.String),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String, nullable=False),
        sa.Column("data_timestamp", sa.String),
        sa.Column("detail", sa.Text))
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("nct_id", sa.String),
        sa.Column("version", sa.Integer),
        sa.Column("idempotency_key", sa.String, nullable=False, unique=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.String, nullable=False),
        sa.Column("delivered_at", sa.String))
    op.create_index("outbox_by_status", "outbox", ["status", "channel"])
    op.execute("INSERT INTO meta (key, value) VALUES ('schema', '1')")


def downgrade() -> None:
    for table in ("outbox", "checks", "versions", "trials", "meta"):
        op.drop_table(table)
