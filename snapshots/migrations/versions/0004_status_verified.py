"""Schema 4: each trial's statusVerifiedDate, for the incremental check's at-risk rule."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("trials") as trials:
        trials.add_column(sa.Column("status_verified", sa.String))
    op.execute("UPDATE meta SET value = '4' WHERE key = 'schema'")


def downgrade() -> None:
    with op.batch_alter_table("trials") as trials:
        trials.drop_column("status_verified")
    op.execute("UPDATE meta SET value = '3' WHERE key = 'schema'")
