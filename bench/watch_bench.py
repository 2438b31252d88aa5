"""Benchmark a search watch of 20,000 matches: its baseline run, then a run after a
refresh in which 1% of the matches are newly registered, as `ctmonitor check` processes
against the test registry (in its own process). Prints requests, wall seconds and peak RSS.
Usage: python bench/watch_bench.py [MATCHES]
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.check_bench import measure  # noqa: E402


def serve(matches: int, conn: Connection) -> None:
    """The registry: matches trials of one condition; a refresh adds 1% more."""
    from tests.support.builder import study
    from tests.support.registry import FakeRegistry

    registry = FakeRegistry()
    registry.start()
    for i in range(matches):
        registry.put(study(f"NCT8{i:07d}", title=f"Bench trial {i}"))
    conn.send(registry.base_url)
    while conn.recv() != "stop":
        for i in range(matches, matches + matches // 100):
            registry.put(study(f"NCT8{i:07d}", title=f"Bench trial {i}"))
        registry.data_timestamp = "2026-03-13T09:00:05"
        conn.send(len(registry.log))
    registry.stop()


def main(matches: int) -> None:
    mine, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(matches, theirs))
    server.start()
    base_url = mine.recv()
    folder = Path(tempfile.mkdtemp(prefix="ctmonitor-watch-bench-"))
    config = folder / "config.toml"
    config.write_text(f'[registry]\nbase_url = "{base_url}"\nrate_limit = 0\n\n[store]\n'
                      'path = "s.db"\n\n[trials]\nids = []\n\n[watches.bench]\n'
                      f'"query.cond" = "Hepatocellular"\n', encoding="utf-8")
    print(f"a watch of {matches:,} matches (2 cores)")
    for name in ("baseline", f"refresh, {matches // 100:,} newly matching"):
        if name != "baseline":
            mine.send("refresh")
            mine.recv()
        got = measure(config)
        print(f"  {name:<32} {got['requests']:>3} requests  {got['wall']:5.1f} s wall  "
              f"{got['cpu']:5.1f} s CPU  peak RSS {got['rss_mb']:.0f} MB")
        print(f"    {got['summary']}")
    mine.send("stop")
    server.join()


if __name__ == "__main__":
    multiprocessing.set_start_method("spawn")
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
