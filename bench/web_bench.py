"""Benchmark the history page: a store of 10,000 trials x 10 versions with real records,
`ctmonitor serve` in its own process, 20 concurrent clients.

It times the trials overview (/), a trial page, /changes and a diff page: each client
asks for one kind of page over and over (a different trial each time) for
REQUESTS_PER_CLIENT requests; it prints p50 / p95 / max latency and requests per second per
page, then the server's peak RSS. The page has its token, so its forms are drawn, and each
client is a browser that marked all seen before the last versions were stored: the pages
look its mark up and mark what is new. The page is served by WORKERS processes ([web]
workers; 1, the default, unless given). Goal (issues 10 and 28): p95 <= 150 ms for each
page, RSS <= 200 MB.
Usage: python bench/web_bench.py [TRIALS [WORKERS]]
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import fill_store, nct  # noqa: E402
from monitor.manage import NOTE_COOKIE  # noqa: E402

VERSIONS = 10
CLIENTS = 20
REQUESTS_PER_CLIENT = 50
TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def processes(pid: int) -> list[int]:
    """The server's process and its workers."""
    return [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]


def run_clients(base: str, paths: list[str]) -> list[float]:
    """CLIENTS threads, each asking for its share of paths in turn; latencies in ms."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client(share: list[str]) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {TOKEN}"
            session.cookies.update(browsers.pop())
            for path in share:
                started = time.perf_counter()
                answer = session.get(base + path, timeout=30)
                took = (time.perf_counter() - started) * 1000
                assert answer.status_code == 200, (path, answer.status_code)
                with lock:
                    latencies.append(took)

    browsers = list(BROWSERS)
    threads = [threading.Thread(target=client, args=(paths[i::CLIENTS],))
               for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


BROWSERS: list[dict[str, str]] = []  # each client's browser cookie


def mark_seen(base: str, store: Path) -> None:
    """CLIENTS browsers that marked all seen by the page's own form, their marks then moved
    back to before the last tenth of the versions was stored (so that there is news)."""
    for _ in range(CLIENTS):
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {TOKEN}"
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', session.get(base + "/").text)
            assert csrf, "the page has no form"
            answer = session.post(base + "/seen", data={"csrf": csrf.group(1), "next": "/"},
                                  headers={"Origin": base}, allow_redirects=False)
            assert answer.status_code == 303, answer.status_code
            session.get(base + answer.headers["location"])  # shows the form's note, once
            BROWSERS.append({k: v for k, v in session.cookies.get_dict().items()
                             if v and k != NOTE_COOKIE})
    with sqlite3.connect(store) as db:
        db.execute("UPDATE seen_marks SET seen_through = seen_through * 9 / 10")


def main(trials: int, workers: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ctmonitor-web-bench-"))
    started = time.perf_counter()
    fill_store(folder / "data" / "snapshots.db", trials, VERSIONS, material=True)
    print(f"store of {trials:,} trials x {VERSIONS} versions written in "
          f"{time.perf_counter() - started:.1f} s "
          f"({(folder / 'data' / 'snapshots.db').stat().st_size / 1e6:.0f} MB)")
    port = free_port()
    ids = ", ".join(f'"{nct(i)}"' for i in range(trials))
    config = folder / "config.toml"
    config.write_text(f'[store]\npath = "data/snapshots.db"\n\n[trials]\nids = [{ids}]\n\n'
                      f'[web]\nport = {port}\ntoken = "{TOKEN}"\nworkers = {workers}\n',
                      encoding="utf-8")
    server = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config),
                               "serve"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert server.stdout is not None
    print(server.stdout.readline().strip())
    base = f"http://127.0.0.1:{port}"
    count = CLIENTS * REQUESTS_PER_CLIENT
    step = max(1, trials // count)
    pages = {
        "/ (overview, 100 of 10,000)": ["/?sort=change"] * count,
        "/trials/NCT… (trial page)": [f"/trials/{nct(i * step % trials)}" for i in range(count)],
        "/changes (notable, 50 versions)": ["/changes"] * count,
        "/trials/NCT…/diff (v9 -> v10)": [f"/trials/{nct(i * step % trials)}/diff"
                                         for i in range(count)],
    }
    try:
        mark_seen(base, folder / "data" / "snapshots.db")
        run_clients(base, ["/", f"/trials/{nct(0)}"] * CLIENTS)  # warm up
        print(f"{CLIENTS} concurrent clients, {count} requests per page, "
              f"{os.cpu_count()} cores, {workers} server process{'es' if workers > 1 else ''}")
        print(f"{'page':<32} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'req/s':>7}")
        for name, paths in pages.items():
            began = time.perf_counter()
            latencies = sorted(run_clients(base, paths))
            wall = time.perf_counter() - began
            p95 = latencies[int(len(latencies) * 0.95) - 1]
            print(f"{name:<32} {statistics.median(latencies):>7.1f} {p95:>7.1f} "
                  f"{latencies[-1]:>7.1f} {len(latencies) / wall:>7.0f}")
        peaks = [peak_rss_mb(pid) for pid in processes(server.pid)]
        print(f"server peak RSS: {' + '.join(f'{p:.0f}' for p in peaks)} MB"
              + (f" = {sum(peaks):.0f} MB" if len(peaks) > 1 else ""))
    finally:
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000,
         int(sys.argv[2]) if len(sys.argv) > 2 else 1)
