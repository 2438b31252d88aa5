"""Schema 2: versions loaded from the registry's own history (backfill)."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("trials") as trials:
        trials.add_column(sa.Column("backfilled_at", sa.String))
        trials.add_column(sa.Column("backfill_tried_at", sa.String))
        trials.add_column(sa.Column("backfill_error", sa.Text))
    with op.batch_alter_table("versions") as versions:
        versions.add_column(sa.Column("source", sa.String, nullable=False,
                                      server_default="check"))
        versions.add_column(sa.Column("registry_version", sa.Integer))
        versions.add_column(sa.Column("registry_date", sa.String))
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")


def downgrade() -> None:
    with op.batch_alter_table("versions") as versions:
        for column in ("registry_date", "registry_version", "source"):
            versions.drop_column(column)
    with op.batch_alter_table("trials") as trials:
        for column in ("backfill_error", "backfill_tried_at", "backfilled_at"):
            trials.drop_column(column)
    op.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
