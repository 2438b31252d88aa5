"""A monitored world for the fault suite: a local registry whose trials change day by day,
a config for real `ctmonitor` processes, and the accounting after each case."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from monitor.config import load
from notifiers.alerts import alerts_for
from snapshots.events import from_dict
from snapshots.normalise import normalise
from snapshots.store import Store
from tests.conftest import FULL_SWEEPS
from tests.faults.tally import Tally
from tests.support.builder import study
from tests.support.registry import FakeRegistry
from tests.support.stores import BACKEND

STATUSES = ("RECRUITING", "ACTIVE_NOT_RECRUITING", "SUSPENDED", "RECRUITING")
PROCESS_SECONDS = 90  # a check still running after this long is a hang


def trial_ids(count: int) -> list[str]:
    return [f"NCT0900{i:04d}" for i in range(1, count + 1)]


def day_record(nct: str, day: int) -> dict[str, Any]:
    """The trial as the registry has it on a day: each day moves its status, its primary
    completion and its enrollment, all of which alert."""
    return study(nct, status=STATUSES[day % len(STATUSES)],
                 primary_completion=(f"{2027 + day // 12}-{day % 12 + 1:02d}-28", "ESTIMATED"),
                 enrollment=(100 + 7 * day, "ESTIMATED"), title=f"Trial {nct}")


class World:
    """The registry, the channel and a config for `ctmonitor check` processes."""

    def __init__(self, folder: Path, registry: FakeRegistry, channel: str, count: int = 8,
                 registry_extra: str = "", extra: str = "") -> None:
        self.folder = folder
        self.registry = registry
        self.ids = trial_ids(count)
        self.served: dict[str, set[str]] = defaultdict(set)
        self.day = 0
        for nct in self.ids:
            self.put(day_record(nct, 0))
        self.config = folder / "config.toml"
        self.config.write_text(
            f'[registry]\nbase_url = "{registry.base_url}"\nrate_limit = 0\nretries = 2\n'
            f"backoff = 0\ntimeout = 1\nanswer_timeout = 3\n{registry_extra}\n"
            f'{BACKEND.store_table(folder)}\n[trials]\nids = {json.dumps(self.ids)}\n'
            "backfill = false\n\n"
            f"[delivery]\nbackoff = 0\ntimeout = 1\n\n{channel}\n"
            + (extra.replace("[monitor]\n", FULL_SWEEPS) if "[monitor]\n" in extra
               else FULL_SWEEPS + extra), encoding="utf-8")
        self.tally = Tally()
        self.hidden: dict[str, dict[str, Any]] = {}  # records a fault took from the registry

    def put(self, record: dict[str, Any]) -> None:
        self.registry.put(record)
        snapshot = normalise(record)
        self.served[snapshot.nct_id].add(snapshot.hash)

    def advance(self, changing: list[str]) -> None:
        """The registry's next refresh, in which these trials change."""
        self.day += 1
        self.registry.data_timestamp = f"2026-04-{self.day % 28 + 1:02d}T09:{self.day // 28:02d}:05"
        for nct in changing:
            self.put(day_record(nct, self.day))

    def command(self, args: tuple[str, ...] = ("check",)) -> list[str]:
        return [sys.executable, "-m", "monitor", "--config", str(self.config), *args]

    def run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        """Any other command, which must end."""
        return subprocess.run(self.command(tuple(args)), capture_output=True, text=True,
                              timeout=PROCESS_SECONDS, check=False)

    def check(self) -> subprocess.CompletedProcess[str] | None:
        """One `ctmonitor check`; None (and a hang counted) if it does not end."""
        try:
            done = subprocess.run(self.command(), capture_output=True, text=True,
                                  timeout=PROCESS_SECONDS)
        except subprocess.TimeoutExpired:
            self.tally.hangs += 1
            return None
        self.saw(done.stderr)
        return done

    def saw(self, stderr: str) -> None:
        if "Traceback" in stderr:
            self.tally.tracebacks += 1

    def account(self, delivered: Counter[str], channel: str) -> Tally:
        """Lost and duplicated versions and alerts, once the faults are gone.

        delivered counts the alerts a channel accepted, by idempotency key. Every trial's
        last stored version must be what the registry serves now; no version is stored
        twice in a row or is one the registry never served; every stored version's alert
        was accepted, none for a version not stored; a repeat with the same key is counted.
        """
        tally = self.tally
        settings = load(self.config)
        if not BACKEND.postgresql:  # a SIGKILLed SQLite writer must leave a sound file
            path = make_url(settings.store).database
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                    tally.lost += 1
        store = Store.open_readonly(settings.store)
        try:
            expected: set[str] = set()
            for nct in self.ids:
                versions = store.versions.history(nct)
                hashes = [v.hash for v in versions]
                tally.duplicated += sum(a == b for a, b in zip(hashes, hashes[1:], strict=False))
                tally.duplicated += sum(h not in self.served[nct] for h in hashes)
                numbers = [v.number for v in versions]
                tally.duplicated += numbers != list(range(1, len(numbers) + 1))
                current = normalise(self.registry.records[nct]).hash
                tally.lost += not hashes or hashes[-1] != current
                for v in versions[1:]:
                    events = [from_dict(e) for e in v.events]
                    expected |= {a.key for a in alerts_for(settings.alerts, nct, None, v.number,
                                                           events) if a.channel == channel}
            waiting = [d for d in store.outbox.recent(limit=10_000)
                       if d.kind == "trial.changed" and d.status != "done"]
            tally.lost += len(waiting)
        finally:
            store.close()
        tally.lost += len(expected - delivered.keys())
        tally.duplicated += len(delivered.keys() - expected)
        tally.repeats += sum(count - 1 for count in delivered.values())
        return tally
