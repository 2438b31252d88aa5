"""What a check costs at 100,000 tracked trials, with and without the incremental fetch,
and whether a check, `list` and `history` stay flat as the store grows.

A synthetic registry of N trials made from the real records in ../shared/ctgov (ids
rewritten; statuses verified this month and a changed trial's last update posted today,
as the registry does: see fleet.record), served from a child process. Checks:

1. base: the first check, every trial new (a full fetch);
2. the same dataTimestamp: nothing to do;
3. a 1%-changed day, incremental ([monitor] sweep_days = 7, the default);
4. another 1%-changed day, full (sweep_days = 0, as on a sweep day);
5. the store thickened to 10 versions per trial (older copies slipped in below each
   trial's versions, in SQL), then a third 1%-changed day, incremental: its CPU and peak
   RSS against check 3's.

Each prints requests, bytes downloaded (answer bodies the registry sent), CPU and wall
seconds, peak RSS of the check process, the store's size, and how many of the changed
trials got a new version and an alert. `list` and `history` are timed (wall, process start
included, best of 3) before and after the store is thickened, beside the time it takes
to read a config of N ids and the floor under `list` (a bare script that prints the same
rows, and importing SQLAlchemy). Usage: python bench/incremental_bench.py [N]
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.check_bench import measure, store_size, timed, wall  # noqa: E402
from bench.fleet import FleetServer, nct  # noqa: E402

CHANGED_SHARE = 100  # 1 trial in 100 changes on a changed day
VERSIONS = 10  # versions per trial in the thickened store


def write_config(folder: Path, base_url: str, n: int, sweep_days: int) -> Path:
    ids = [nct(i) for i in range(n)]
    path = folder / "config.toml"
    path.write_text(f'[registry]\nbase_url = "{base_url}"\nrate_limit = 0\n\n'
                    f"[monitor]\nsweep_days = {sweep_days}\n\n"
                    f'[store]\npath = "bench.db"\n\n[trials]\nids = {json.dumps(ids)}\n'
                    'backfill = false\n\n[notifiers.console]\ntype = "console"\n')
    return path


def alerts(folder: Path) -> int:
    with sqlite3.connect(folder / "bench.db") as db:
        return int(db.execute("SELECT count(*) FROM outbox WHERE kind = 'trial.changed'")
                   .fetchone()[0])


def run(n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, FleetServer(n, recent=True) as fleet:
        folder = Path(tmp)
        full_bytes = None
        changed = max(1, n // CHANGED_SHARE)
        for name, action, sweep_days in (
                ("base check (all new)", None, 7),
                ("same dataTimestamp", None, 7),
                ("1% changed, incremental", "change", 7),
                ("1% changed, full fetch", "change", 0),
                (f"{VERSIONS} versions, incremental", "thicken", 7)):
            config = write_config(folder, fleet.base_url, n, sweep_days)
            if action == "thicken":
                review(folder, config, n)
                thicken(folder / "bench.db", VERSIONS)
                action = "change"
            if action == "change":
                fleet.change(changed)
            sent, alerted = fleet.bytes_sent(), alerts(folder) if rows else 0
            row = measure(config)
            row.update(scenario=name, bytes=fleet.bytes_sent() - sent,
                       store=store_size(folder), alerted=alerts(folder) - alerted,
                       changed=changed if action else 0)
            if name.startswith("base"):
                full_bytes = row["bytes"]
            row["share"] = row["bytes"] / full_bytes if full_bytes else 1.0
            rows.append(row)
            print(format_row(row), flush=True)
        review(folder, config, n)
    return rows


# What `list` costs with none of the program: its columns read with sqlite3, one line
# printed per trial; no config, no SQLAlchemy, no status names or clipping.
BARE_LIST = """
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT nct_id, latest_status, latest_version, "
    "last_checked_at, title, missing_since, last_error, alias_of FROM trials").fetchall()
sys.stdout.write("".join(f"{i}  {s:<24} {v:>3} versions  checked {c or 'never':<20}  "
                         f"{(t or '')[:60]}\\n" for i, s, v, c, t, *_ in rows))
"""


def review(folder: Path, config: Path, n: int) -> None:
    """`list` and `history` on the store as it stands, what reading the config costs, and
    the floor under `list`: the bare script above, and importing SQLAlchemy."""
    from monitor.config import load

    with sqlite3.connect(folder / "bench.db") as db:
        stored = db.execute("SELECT count(*) FROM versions").fetchone()[0]
    started = time.perf_counter()
    load(config)
    print(f"  store of {stored:,} versions, {store_size(folder) / 1e9:.1f} GB; reading the "
          f"config of {n:,} ids takes {time.perf_counter() - started:.2f} s", flush=True)
    reviewed = nct(n // 2 // CHANGED_SHARE * CHANGED_SHARE)  # changes on every changed day
    for args in (["list"], ["history", reviewed], ["history", reviewed, "--json"]):
        best = min(timed(config, args) for _ in range(3))
        print(f"  ctmonitor {' '.join(args):<28} {best:.2f} s (wall, best of 3, process start "
              "included)", flush=True)
    for label, script in (("bare list script", [BARE_LIST, str(folder / "bench.db")]),
                          ("import sqlalchemy", ["import sqlalchemy"])):
        best = min(wall([sys.executable, "-c", *script]) for _ in range(3))
        print(f"  {label:<38} {best:.2f} s (floor under `list`)", flush=True)


def thicken(path: Path, versions: int) -> None:
    """Give every trial `versions` versions or more: copies of its first version slipped in
    below the versions it has (a store that has been checked for a long time)."""
    with sqlite3.connect(path) as db:
        extra = versions - db.execute("SELECT min(latest_version) FROM trials").fetchone()[0]
        db.execute("UPDATE versions SET number = number + 1000000")
        db.execute("UPDATE versions SET number = number - 1000000 + ?", (extra,))
        for number in range(1, extra + 1):
            db.execute("INSERT INTO versions (nct_id, number, fetched_at, last_update, "
                       "data_timestamp, hash, status, snapshot, outline, events, summary, source) "
                       "SELECT nct_id, ?, fetched_at, last_update, data_timestamp, hash, status, "
                       "snapshot, outline, '[]', summary, source FROM versions WHERE number = ?",
                       (number, extra + 1))
        db.execute("UPDATE trials SET latest_version = latest_version + ?", (extra,))


def format_row(row: dict[str, Any]) -> str:
    changed = (f"{row['alerted']:>5} of {row['changed']:>5} changed alerted"
               if row["changed"] else "")
    return (f"{row['scenario']:<26} {row['requests']:>5} req {row['bytes'] / 1e6:>9,.1f} MB "
            f"({row['share']:>7.2%} of full) {row['cpu']:>6.1f} s CPU {row['wall']:>6.1f} s "
            f"wall {row['rss_mb']:>5.0f} MB RSS  store {row['store'] / 1e6:>6,.0f} MB  "
            f"{changed}")


if __name__ == "__main__":
    import multiprocessing

    multiprocessing.set_start_method("spawn")
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
