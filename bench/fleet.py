"""A fleet of N trials made from the real records in ../shared/ctgov (ids rewritten,
contents kept), served by the test registry in a child process so that the client's CPU
and memory are measured alone."""

from __future__ import annotations

import copy
import json
import multiprocessing
import time
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT.parent / "shared" / "ctgov" / "studies"
CHANGED_EVERY = 100  # 1% of the trials change materially


def templates() -> list[dict[str, Any]]:
    files = sorted(STUDIES.glob("study_NCT*.json"))
    if not files:
        raise SystemExit(f"no real records in {STUDIES}: the benchmark needs ../shared/ctgov")
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


def nct(i: int) -> str:
    return f"NCT9{i:07d}"


def record(tpls: list[dict[str, Any]], i: int, day: str, changes: int,
           recent: bool = False) -> dict[str, Any]:
    """Trial i on a given data day; `changes` material changes applied (0: as recorded).

    With recent, the status was verified this month (the recorded dates are years old, and
    a fleet of them would be mostly "at risk" of the registry's UNKNOWN rule), and a
    changed trial's last update was posted today, as the registry posts it.
    """
    tpl = tpls[i % len(tpls)]
    protocol = dict(tpl["protocolSection"])
    protocol["identificationModule"] = {**protocol["identificationModule"], "nctId": nct(i)}
    if recent:
        today = date.today()
        protocol["statusModule"] = {**protocol["statusModule"],
                                    "statusVerifiedDate": today.strftime("%Y-%m")}
        if changes:
            protocol["statusModule"]["lastUpdatePostDateStruct"] = {
                "date": today.isoformat(), "type": "ACTUAL"}
    if changes:
        status = copy.deepcopy(protocol["statusModule"])
        status["overallStatus"] = "TERMINATED" if changes % 2 else "SUSPENDED"
        status["whyStopped"] = f"Sponsor decision {changes}"
        status["primaryCompletionDateStruct"] = {"date": f"20{27 + changes % 3}-03-31",
                                                 "type": "ESTIMATED"}
        protocol["statusModule"] = status
    derived = dict(tpl.get("derivedSection", {}))
    derived["miscInfoModule"] = {**derived.get("miscInfoModule", {}), "versionHolder": day}
    return {**tpl, "protocolSection": protocol, "derivedSection": derived}


class Fleet:
    """The registry's view of the N trials: which day it is and how often each changed."""

    def __init__(self, n: int, recent: bool = False) -> None:
        self.n = n
        self.recent = recent
        self.tpls = templates()
        self.generation = 0
        self.changes: dict[int, int] = {}

    @property
    def day(self) -> str:
        return f"2026-03-{10 + self.generation:02d}"

    def records(self) -> list[dict[str, Any]]:
        return [record(self.tpls, i, self.day, self.changes.get(i, 0), self.recent)
                for i in range(self.n)]

    def advance(self, change: int) -> None:
        self.generation += 1
        for i in range(0, self.n, CHANGED_EVERY)[:change]:
            self.changes[i] = self.changes.get(i, 0) + 1


def _publish(registry: Any, fleet: Fleet) -> None:
    """Put the fleet's records and encode them now, so that serving a page is only sending
    it: the registry's own work is not the client's to wait for."""
    for rec in fleet.records():
        registry.put(rec)
        registry.encoded(rec["protocolSection"]["identificationModule"]["nctId"])
    registry.data_timestamp = f"{fleet.day}T09:00:05"


def _serve(n: int, recent: bool, conn: Connection) -> None:
    from tests.support.registry import FakeRegistry

    fleet = Fleet(n, recent)
    registry = FakeRegistry({})
    _publish(registry, fleet)
    conn.send(registry.start())
    while True:
        command, arg = conn.recv()
        if command == "stop":
            registry.stop()
            conn.send("stopped")
            return
        if command == "bytes":
            conn.send(registry.bytes_sent)
            continue
        fleet.advance(arg)
        _publish(registry, fleet)
        conn.send("ok")


class FleetServer:
    """The child process serving the fleet; a mirror of the fleet for client-side figures."""

    def __init__(self, n: int, recent: bool = False) -> None:
        self.n = n
        self.recent = recent
        self.mirror = Fleet(n, recent)
        self.previous: Fleet | None = None

    def __enter__(self) -> FleetServer:
        self.conn, child = multiprocessing.Pipe()
        self.proc = multiprocessing.Process(target=_serve, args=(self.n, self.recent, child),
                                            daemon=True)
        self.proc.start()
        self.base_url = self.conn.recv()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.conn.send(("stop", None))
        self.conn.recv()
        self.proc.join()

    def _advance(self, change: int) -> None:
        self.previous = copy.deepcopy(self.mirror)
        self.mirror.advance(change)
        self.conn.send(("advance", change))
        self.conn.recv()

    def bytes_sent(self) -> int:
        """Bytes of answer bodies the registry has sent so far."""
        self.conn.send(("bytes", None))
        return int(self.conn.recv())

    def refresh(self) -> None:
        """A new dataTimestamp; every record's versionHolder moves, nothing else."""
        self._advance(0)

    def change(self, count: int) -> None:
        """A new dataTimestamp with `count` trials materially changed."""
        self._advance(count)

    def per_trial_fetch(self) -> dict[str, float]:
        """What a general monitor does: GET /studies/{id} for every trial (fetch only)."""
        import requests

        session = requests.Session()
        started = time.perf_counter()
        for i in range(self.n):
            session.get(f"{self.base_url}/studies/{nct(i)}", timeout=30).raise_for_status()
        return {"requests": self.n, "wall": time.perf_counter() - started}

    def normalise_diff_rate(self) -> float:
        """Records per second for normalise + hash + diff where the hash moved, as a check."""
        from snapshots.diff import diff
        from snapshots.normalise import normalise

        old = self.previous or self.mirror
        old_hashes = {nct(i): normalise(r).hash for i, r in enumerate(old.records())}
        started = time.process_time()
        for i, rec in enumerate(self.mirror.records()):
            snap = normalise(rec)
            if snap.hash != old_hashes[snap.nct_id] and self.previous is not None:
                diff(normalise(record(old.tpls, i, old.day, old.changes.get(i, 0))).data,
                     snap.data)
        return self.n / max(time.process_time() - started, 1e-9)


def fill_store(where: Path | str, trials: int, versions: int, material: bool = False) -> None:
    """A store (an SQLite file, or a store URL) of trials x versions with real snapshots,
    written in bulk.

    With material, version v of a trial carries v - 1 material changes (status, why
    stopped, primary completion: see record()) and the change events from version v - 1,
    as a check would have stored them; otherwise every version is the same record.
    """
    from sqlalchemy import insert, update

    from snapshots.database import utcnow
    from snapshots.diff import diff
    from snapshots.events import one_line
    from snapshots.normalise import normalise
    from snapshots.schema import trials as trials_table
    from snapshots.schema import versions as versions_table
    from snapshots.store import Store, sqlite_url
    from snapshots.versions import stored

    tpls = templates()
    kinds: dict[tuple[int, int], tuple[Any, dict[str, Any], str, str]] = {}  # (template,
    for t in range(len(tpls)):  # version) -> (snapshot, its columns, events JSON, summary)
        previous: Any = None
        for v in range(1, versions + 1):
            snap = normalise(record(tpls, t, "2026-03-13", v - 1 if material else 0))
            events: list[Any] = [] if previous is None else diff(previous.data, snap.data)
            kinds[t, v] = (snap, stored(snap),
                           json.dumps([e.to_dict() for e in events]),
                           "baseline" if previous is None else one_line(events))
            previous = snap
    store = Store.open(sqlite_url(where) if isinstance(where, Path) else where)
    ids = [nct(i) for i in range(trials)]
    store.versions.ensure_trials(ids)
    now = utcnow()
    with store.transaction() as conn:
        for start in range(0, trials, 1000):
            rows = []
            for i in range(start, min(start + 1000, trials)):
                for v in range(1, versions + 1):
                    snap, columns, stored_events, summary = kinds[i % len(tpls), v]
                    rows.append({**columns, "nct_id": ids[i], "number": v, "fetched_at": now,
                                 "last_update": "2026-03-13",
                                 "data_timestamp": "2026-03-13T09:00:05", "hash": f"{i}-{v}",
                                 "events": stored_events, "summary": summary})
            conn.execute(insert(versions_table), rows)
        conn.execute(update(trials_table).values(latest_version=versions, last_checked_at=now))
    store.close()


if __name__ == "__main__":
    multiprocessing.set_start_method("spawn")
