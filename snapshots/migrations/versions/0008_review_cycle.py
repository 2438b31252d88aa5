"""Snapshots keep the results' review cycle (derivedSection.miscInfoModule.
submissionTracking). The versions stored before lack it: their last id is kept in meta, so
that a diff takes the cycle from the later version (the first check after the upgrade stores
a version without events for a trial that has one, and alerts nothing). A trial row keeps
the day of a submission under review, when a deadline must not read as overdue."""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
KEY = "snapshots.untracked_through"  # snapshots.schema.UNTRACKED_KEY, as this revision wrote it


def upgrade() -> None:
    with op.batch_alter_table("trials") as trials:
        trials.add_column(sa.Column("results_in_review", sa.String))
    op.execute(sa.text("INSERT INTO meta (key, value) SELECT :key, CAST(COALESCE(MAX(id), 0) "
                       "AS VARCHAR) FROM versions").bindparams(key=KEY))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM meta WHERE key = :key").bindparams(key=KEY))
    with op.batch_alter_table("trials") as trials:
        trials.drop_column("results_in_review")
