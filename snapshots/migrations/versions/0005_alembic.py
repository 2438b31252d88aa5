"""Alembic keeps the revision from here on; an index for the change feed.

meta's `schema` stays, at 5, only so that ctmonitor 0.1 (which reads it) refuses this
store as newer than itself instead of writing to it.
"""

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_index("versions_by_fetched_at", "versions", ["fetched_at"])
    op.execute("UPDATE meta SET value = '5' WHERE key = 'schema'")


def downgrade() -> None:
    op.drop_index("versions_by_fetched_at", "versions")
    op.execute("UPDATE meta SET value = '4' WHERE key = 'schema'")
