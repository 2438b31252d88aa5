"""Each version keeps its outline beside its snapshot: the status and outcome modules that
its trial's page draws (the key-dates chart, the primary outcomes through the versions),
compressed JSON of a few kilobytes, so that the page need not decompress and search whole
records (up to 800 kB). The versions stored before get theirs here, a few hundred at a
time, from their snapshots (one that does not read keeps none: its page reads the
snapshot, as before)."""

import zlib

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
BATCH = 500
OUTLINED = ("statusModule", "outcomesModule")  # snapshots.normalise.OUTLINED, as it was then
versions = sa.table("versions", sa.column("id", sa.Integer),
                    sa.column("snapshot", sa.LargeBinary), sa.column("outline", sa.LargeBinary))


def outline(snapshot: bytes) -> bytes | None:
    try:
        data = orjson.loads(zlib.decompress(snapshot))
    except (zlib.error, orjson.JSONDecodeError):
        return None
    protocol = data.get("protocolSection") if isinstance(data, dict) else None
    protocol = protocol if isinstance(protocol, dict) else {}
    return zlib.compress(orjson.dumps(
        {name: module if isinstance(module := protocol.get(name), dict) else {}
         for name in OUTLINED}), 6)


def upgrade() -> None:
    with op.batch_alter_table("versions") as table:
        table.add_column(sa.Column("outline", sa.LargeBinary))
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(sa.select(versions.c.id, versions.c.snapshot)
                            .where(versions.c.id > last).order_by(versions.c.id)
                            .limit(BATCH)).all()
        if not rows:
            return
        conn.execute(versions.update().where(versions.c.id == sa.bindparam("row"))
                     .values(outline=sa.bindparam("made")),
                     [{"row": r.id, "made": outline(r.snapshot)} for r in rows])
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("versions") as table:
        table.drop_column("outline")
