"""Benchmark backfill: 100 trials of 20 registry versions each, loaded by `ctmonitor
backfill` from a local server speaking the internal history endpoints, at rate_limit = 0.

Version bodies are real records of ../shared/ctgov/studies rendered the way the website
renders text (tests/support/internal.py), each version with another status and primary
completion date. Prints requests, wall seconds, and the store's growth per loaded version.
Usage: python bench/backfill_bench.py [TRIALS [VERSIONS]]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import nct, templates  # noqa: E402
from tests.support.internal import render_internal  # noqa: E402
from tests.support.registry import FakeRegistry  # noqa: E402

STATUSES = ("NOT_YET_RECRUITING", "RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED")


def body(template: dict, trial: int, version: int) -> dict:
    protocol = json.loads(json.dumps(template["protocolSection"]))
    protocol["identificationModule"]["nctId"] = nct(trial)
    status = protocol.setdefault("statusModule", {})
    status["overallStatus"] = STATUSES[min(version * len(STATUSES) // 20, 3)]
    status["primaryCompletionDateStruct"] = {"date": f"20{26 + version // 6}-0{version % 6 + 1}",
                                             "type": "ESTIMATED"}
    return {"protocolSection": render_internal(protocol), "hasResults": False}


def main(trials: int, versions: int) -> None:
    tpls = templates()
    registry = FakeRegistry()
    registry.start()
    for i in range(trials):
        registry.histories[nct(i)] = [
            ({"version": v, "date": f"2020-{v % 12 + 1:02d}-01", "status": "RECRUITING"},
             body(tpls[i % len(tpls)], i, v)) for v in range(versions)]
    folder = Path(tempfile.mkdtemp(prefix="ctmonitor-backfill-bench-"))
    config = folder / "config.toml"
    config.write_text(f'[registry]\nbase_url = "{registry.base_url}"\nhistory_url = '
                      f'"{registry.history_url}"\nrate_limit = 0\n\n[store]\npath = "s.db"\n\n'
                      f"[trials]\nids = {json.dumps([nct(i) for i in range(trials)])}\n",
                      encoding="utf-8")
    store = folder / "s.db"
    subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "list"],
                   check=True, capture_output=True, cwd=ROOT)  # an empty store to grow
    empty = store.stat().st_size
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config),
                           "backfill", *[nct(i) for i in range(trials)]],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    registry.stop()
    if done.returncode:
        raise SystemExit(done.stderr)
    loaded = trials * versions
    grown = store.stat().st_size + sum(p.stat().st_size for p in folder.glob("s.db-*")) - empty
    print(done.stdout.strip().splitlines()[-1])
    print(f"{trials} trials x {versions} versions: {len(registry.log)} requests, {wall:.1f} s "
          f"wall ({loaded / wall:.0f} versions/s), store +{grown / 1e6:.1f} MB "
          f"({grown / loaded / 1e3:.1f} KB per loaded version)")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args + [100, 20][len(args):]))
