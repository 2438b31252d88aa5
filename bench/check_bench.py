"""Benchmark a check of N tracked trials against a local registry serving real records.

For N = 100, 1,000 and 10,000 trials (ids rewritten, contents of the real records in
../shared/ctgov kept) it runs four checks — a baseline (all new), nothing changed with the
same dataTimestamp, nothing changed with a new dataTimestamp, 1% of trials materially
changed — and prints requests, wall and CPU seconds, peak RSS, normalise + diff records per
second, and the one-request-per-trial approach of general monitors measured in the same run.
Then it times `ctmonitor list` and `ctmonitor history` on a store of 10,000 trials x 10
versions. Usage: python bench/check_bench.py [N ...]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import FleetServer  # noqa: E402

SIZES = (100, 1_000, 10_000)


# Runs `ctmonitor check` and reports the process's own CPU time and peak RSS on stderr.
CHECK = """
import resource, sys
from monitor.cli import main
status = main(sys.argv[1:])
usage = resource.getrusage(resource.RUSAGE_SELF)
print("usage", usage.ru_utime + usage.ru_stime, usage.ru_maxrss, file=sys.stderr)
sys.exit(status)
"""


def measure(config: Path) -> dict[str, Any]:
    """One `ctmonitor check` in a child process: its requests, wall, CPU and peak RSS."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHECK, "--config", str(config), "check"],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"check failed: {done.stderr.strip()}")
    summary = done.stdout.strip().splitlines()[-1]
    _, cpu, rss_kb = done.stderr.strip().splitlines()[-1].split()
    return {"summary": summary, "requests": int(summary.split(" with ")[1].split()[0]),
            "wall": wall, "cpu": float(cpu), "rss_mb": int(rss_kb) / 1024}


def write_config(folder: Path, base_url: str, n: int) -> Path:
    ids = [f"NCT9{i:07d}" for i in range(n)]
    path = folder / "config.toml"
    path.write_text(f'[registry]\nbase_url = "{base_url}"\nrate_limit = 0\n\n'
                    "[monitor]\nsweep_days = 0  # every check fetches everything: see README\n\n"
                    f'[store]\npath = "bench.db"\n\n[trials]\nids = {json.dumps(ids)}\n'
                    "backfill = false\n")
    return path


def store_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("bench.db*") if p.suffix in (".db", "-wal"))


def run_size(n: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, FleetServer(n) as fleet:
        folder = Path(tmp)
        config = write_config(folder, fleet.base_url, n)
        per_trial = fleet.per_trial_fetch()
        scenarios = [("baseline (all new)", None), ("same dataTimestamp", None),
                     ("new dataTimestamp, nothing changed", "refresh"),
                     ("1% materially changed", "change")]
        for name, action in scenarios:
            if action == "refresh":
                fleet.refresh()
            elif action == "change":
                fleet.change(max(1, n // 100))
            size_before = store_size(folder)
            row = measure(config)
            row.update(scenario=name, n=n, per_trial=per_trial,
                       growth=store_size(folder) - size_before,
                       rate=fleet.normalise_diff_rate())
            rows.append(row)
            print(format_row(row), flush=True)
    return rows


def format_row(row: dict[str, Any]) -> str:
    """One line of figures; the per-trial approach beside them (its fetches alone, unpaced,
    and the ratio of requests, which at the registry's 1 request/s is the ratio of time)."""
    per_trial = row["per_trial"]
    ratio = per_trial["requests"] / max(row["requests"], 1)
    return (f"{row['n']:>6} {row['scenario']:<36} {row['requests']:>4} req "
            f"{row['wall']:>6.2f} s wall {row['cpu']:>6.2f} s CPU "
            f"{row['rss_mb']:>4.0f} MB peak RSS "
            f"{row['rate']:>6.0f} rec/s normalise+diff  store {row['growth'] / 1024:+.0f} KiB | "
            f"per-trial GET: {per_trial['requests']:>5} req, {per_trial['wall']:.1f} s unpaced "
            f"-> {ratio:,.0f}x the requests")


def store_queries(trials: int = 10_000, versions: int = 10) -> None:
    """`ctmonitor list` and `history` on a store of trials x versions."""
    from bench.fleet import fill_store

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = write_config(folder, "http://127.0.0.1:9/api/v2", trials)
        started = time.perf_counter()
        fill_store(folder / "bench.db", trials, versions)
        print(f"\nstore of {trials:,} trials x {versions} versions built in "
              f"{time.perf_counter() - started:.1f} s, "
              f"{(folder / 'bench.db').stat().st_size / 1e6:.0f} MB")
        for args in (["list"], ["history", "NCT90004242"], ["history", "NCT90004242", "--json"]):
            best = min(timed(config, args) for _ in range(3))
            print(f"ctmonitor {' '.join(args):<30} {best:.2f} s "
                  "(best of 3, process start included)")


def timed(config: Path, args: list[str]) -> float:
    """Wall seconds of one command, process start included, started as an installed
    ctmonitor starts: from compiled bytecode (pip writes it at install). Where
    PYTHONDONTWRITEBYTECODE is set, as on some development machines, every start would
    compile our ~50 modules again (70 ms): the bytecode is kept beside the config instead,
    written by the first run (callers take the best of three)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(config.parent / "pycache")
    return wall([sys.executable, "-m", "monitor", "--config", str(config), *args],
                cwd=ROOT, env=env)


def wall(command: list[str], **options: Any) -> float:
    """Wall seconds of one command, which must succeed (options go to subprocess.run)."""
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, **options)
    return time.perf_counter() - started


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or list(SIZES)
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    print(f"{'N':>6} {'scenario':<36} figures")
    for n in sizes:
        run_size(n)
    store_queries()


if __name__ == "__main__":
    multiprocessing.set_start_method("spawn")
    main()
