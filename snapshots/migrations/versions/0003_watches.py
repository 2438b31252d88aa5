"""Schema 3: search watches and the trials each has matched."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "watches",
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("baseline_at", sa.String, nullable=False),
        sa.Column("last_run_at", sa.String),
        sa.Column("matches", sa.Integer, nullable=False),
        sa.Column("last_new", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text))
    op.create_table(
        "watch_matches",
        sa.Column("watch", sa.String, sa.ForeignKey("watches.name", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("nct_id", sa.String, nullable=False),
        sa.Column("first_seen", sa.String, nullable=False),
        sa.UniqueConstraint("watch", "nct_id"))
    op.execute("UPDATE meta SET value = '3' WHERE key = 'schema'")


def downgrade() -> None:
    op.drop_table("watch_matches")
    op.drop_table("watches")
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")
