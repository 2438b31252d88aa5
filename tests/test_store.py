"""The SQLite store: versions round-trip, one transaction per version, one writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import StoreBusy, StoreError
from snapshots.normalise import normalise
from snapshots.store import SCHEMA_VERSION, Store
from tests.support.builder import study


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(tmp_path / "data" / "s.db")
    yield opened
    opened.close()


def add(store: Store, record: dict, outbox_for=None) -> int:
    snap = normalise(record)
    store.ensure_trials([snap.nct_id])
    return store.add_version(snap.nct_id, snap.canonical, snap.hash, snap.status, snap.title,
                             snap.last_update, "2026-03-12T09:00:05", [], "baseline",
                             outbox_for=outbox_for)


def test_versions_round_trip(store: Store) -> None:
    record = study("NCT01000001")
    assert add(store, record) == 1
    assert add(store, study("NCT01000001", status="COMPLETED")) == 2
    listed = store.versions("NCT01000001")
    assert [v.number for v in listed] == [1, 2]
    assert listed[1].status == "COMPLETED" and listed[0].data is None
    first = store.version("NCT01000001", 1)
    assert first is not None and first.data == normalise(record).data
    assert store.latest_hashes(["NCT01000001"]) == {"NCT01000001": listed[1].hash}


def test_a_failure_inside_the_transaction_leaves_no_half_version(store: Store) -> None:
    add(store, study("NCT01000001"))

    def broken_outbox(number: int) -> list[dict]:
        return [{"channel": "x"}]  # misses required columns: the insert fails

    with pytest.raises(StoreError):
        add(store, study("NCT01000001", status="COMPLETED"), outbox_for=broken_outbox)
    assert [v.number for v in store.versions("NCT01000001")] == [1]
    assert store.trial_rows(["NCT01000001"])[0]["latest_version"] == 1
    assert store.deliveries() == []


def test_schema_version_is_recorded(store: Store) -> None:
    assert store.get_meta("schema") == str(SCHEMA_VERSION)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.open(path).set_meta("schema", str(SCHEMA_VERSION + 1))
    with pytest.raises(StoreError, match="newer than this ctmonitor"):
        Store.open(path)


def test_one_writer_at_a_time(store: Store, tmp_path: Path) -> None:
    other = Store.open(tmp_path / "data" / "s.db")
    with store.writer_lock():
        with pytest.raises(StoreBusy, match=r"process \d+ is checking it"):
            with other.writer_lock():
                pass
    with other.writer_lock():
        pass


def test_store_in_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open"):
        Store.open(blocker / "s.db")


def test_prune_keeps_the_newest_checks_and_every_version(store: Store) -> None:
    add(store, study("NCT01000001"))
    for _ in range(5):
        store.finish_check(store.begin_check(), "ok", 1, None, "")
    store.prune(keep_checks=2)
    assert len(store.last_checks(10)) == 2
    assert [v.number for v in store.versions("NCT01000001")] == [1]
