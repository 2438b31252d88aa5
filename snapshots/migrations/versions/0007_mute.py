"""Muted trials (`ctmonitor mute`): checked and stored as ever, their alerts held back in
the outbox (status "held") until they are unmuted."""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    with op.batch_alter_table("trials") as trials:
        trials.add_column(sa.Column("muted_until", sa.String))


def downgrade() -> None:
    with op.batch_alter_table("trials") as trials:
        trials.drop_column("muted_until")
