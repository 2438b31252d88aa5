"""How much a stored version costs on each back end: an SQLite file and a PostgreSQL
database (a cluster of the tests' kind, started here), each filled with trials x versions
of real snapshots (compressed), measured after 1 version and after 10.

    python bench/store_bench.py [TRIALS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from bench.fleet import fill_store  # noqa: E402
from snapshots.store import parse_url, sqlite_url  # noqa: E402
from tests.support import postgres  # noqa: E402

VERSIONS = 10


def sqlite_size(url: str) -> int:
    engine = create_engine(parse_url(url))
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return Path(str(parse_url(url).database)).stat().st_size


def postgres_size(url: str) -> int:
    engine = create_engine(parse_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
        size = conn.execute(text(
            "SELECT sum(pg_total_relation_size(oid)) FROM pg_class "
            "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace")).scalar()
    engine.dispose()
    return int(size or 0)


def growth(name: str, trials: int, new_store: object, size: object) -> None:
    sizes = {}
    for versions in (1, VERSIONS):
        url = new_store()  # type: ignore[operator]
        started = time.perf_counter()
        fill_store(url, trials, versions, material=True)
        took = time.perf_counter() - started
        sizes[versions] = size(url)  # type: ignore[operator]
        print(f"{name:<10} {trials:,} trials x {versions:>2} versions: "
              f"{sizes[versions] / 1e6:7.1f} MB, written in {took:5.1f} s")
    per = (sizes[VERSIONS] - sizes[1]) / (trials * (VERSIONS - 1))
    print(f"{name:<10} growth per stored version: {per / 1024:.1f} KiB")


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        files = iter(range(10))
        growth("SQLite", trials, lambda: sqlite_url(Path(tmp) / f"s{next(files)}.db"),
               sqlite_size)
    reason = postgres.missing()
    if reason:
        print(f"PostgreSQL: skipped ({reason})")
        return
    cluster = postgres.Cluster().start()
    try:
        growth("PostgreSQL", trials, cluster.create_database, postgres_size)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
