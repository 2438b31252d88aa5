"""Each trial's results deadline under FDAAA 801 (snapshots.deadlines), the day its results
were first submitted, and which deadline events were raised (each once). A trial of an
older store learns its deadline when it is next fetched (NULL until then)."""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("trials") as trials:
        trials.add_column(sa.Column("results_due", sa.String))
        trials.add_column(sa.Column("results_submitted", sa.String))
        trials.add_column(sa.Column("deadlines_raised", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("trials") as trials:
        trials.drop_column("deadlines_raised")
        trials.drop_column("results_submitted")
        trials.drop_column("results_due")
