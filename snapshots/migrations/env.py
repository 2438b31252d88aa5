"""Alembic's environment: runs the revisions on the connection ctmonitor hands it, inside
the caller's transaction (snapshots.migrations.upgrade), on SQLite and PostgreSQL alike."""

from alembic import context

from snapshots.schema import metadata

context.configure(connection=context.config.attributes["connection"],
                  target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
