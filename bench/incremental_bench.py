"""What a check costs at 100,000 tracked trials, with and without the incremental fetch.

A synthetic registry of N trials made from the real records in ../shared/ctgov (ids
rewritten; statuses verified this month and a changed trial's last update posted today,
as the registry does: see fleet.record), served from a child process. Four checks:

1. base: the first check, every trial new (a full fetch);
2. the same dataTimestamp: nothing to do;
3. a 1%-changed day, incremental ([monitor] sweep_days = 7, the default);
4. another 1%-changed day, full (sweep_days = 0, as on a sweep day).

Each prints requests, bytes downloaded (answer bodies the registry sent), CPU and wall
seconds, peak RSS of the check process, the store's size, and how many of the changed
trials got a new version and an alert. Usage: python bench/incremental_bench.py [N]
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.check_bench import measure, store_size  # noqa: E402
from bench.fleet import FleetServer, nct  # noqa: E402

CHANGED_SHARE = 100  # 1 trial in 100 changes on a changed day


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
        for name, action, sweep_days in (
                ("base check (all new)", None, 7),
                ("same dataTimestamp", None, 7),
                ("1% changed, incremental", "change", 7),
                ("1% changed, full fetch", "change", 0)):
            if action == "change":
                fleet.change(max(1, n // CHANGED_SHARE))
            config = write_config(folder, fleet.base_url, n, sweep_days)
            sent, alerted = fleet.bytes_sent(), alerts(folder) if rows else 0
            row = measure(config)
            row.update(scenario=name, bytes=fleet.bytes_sent() - sent,
                       store=store_size(folder), alerted=alerts(folder) - alerted,
                       changed=max(1, n // CHANGED_SHARE) if action else 0)
            if name.startswith("base"):
                full_bytes = row["bytes"]
            row["share"] = row["bytes"] / full_bytes if full_bytes else 1.0
            rows.append(row)
            print(format_row(row), flush=True)
    return rows


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
