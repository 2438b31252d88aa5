"""What each browser of the history page has seen: the newest version's id when it last
marked all seen (its id is hashed: the store keeps no cookie)."""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table("seen_marks",
                    sa.Column("viewer", sa.String, primary_key=True),
                    sa.Column("seen_through", sa.Integer, nullable=False),
                    sa.Column("marked_at", sa.String, nullable=False))


def downgrade() -> None:
    op.drop_table("seen_marks")
