"""The SQLite store: versions round-trip, one transaction per version, one writer."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from snapshots.errors import StoreBusy, StoreError
from snapshots.normalise import normalise
from snapshots.outbox import NewDelivery
from snapshots.store import SCHEMA_VERSION, Store
from tests.support.builder import study


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "data" / "s.db")
    yield opened
    opened.close()


def add(store: Store, record: dict, alerts: list[NewDelivery] | None = None) -> int:
    snap = normalise(record)
    store.versions.ensure_trials([snap.nct_id])
    with store.transaction() as conn:
        number = store.versions.add(snap.nct_id, snap, [], "baseline", "2026-03-12T09:00:05",
                                    conn)
        store.outbox.enqueue(alerts or [], conn)
    return number


def test_versions_round_trip(store: Store) -> None:
    record = study("NCT01000001")
    assert add(store, record) == 1
    assert add(store, study("NCT01000001", status="COMPLETED")) == 2
    listed = store.versions.history("NCT01000001")
    assert [v.number for v in listed] == [1, 2]
    assert listed[1].status == "COMPLETED" and listed[0].data is None
    first = store.versions.get("NCT01000001", 1)
    assert first is not None and first.data == normalise(record).data
    assert store.versions.latest_hashes(["NCT01000001"]) == {"NCT01000001": listed[1].hash}


def test_a_failure_inside_the_transaction_leaves_no_half_version(store: Store) -> None:
    add(store, study("NCT01000001"))

    broken = NewDelivery(None, "trial.changed", "k", {})  # type: ignore[arg-type]
    with pytest.raises(StoreError):  # a channel is required: the insert fails
        add(store, study("NCT01000001", status="COMPLETED"), alerts=[broken])
    assert [v.number for v in store.versions.history("NCT01000001")] == [1]
    assert store.versions.trials(["NCT01000001"])[0].latest_version == 1
    assert store.outbox.recent() == []


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
        store.checks.finish(store.checks.begin(), "ok", 1, None, "")
    store.checks.prune(keep=2)
    assert len(store.checks.last(10)) == 2
    assert [v.number for v in store.versions.history("NCT01000001")] == [1]


def test_another_programs_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE trials (id INTEGER, name TEXT)")
    other.execute("INSERT INTO trials VALUES (1, 'not ours')")
    other.commit()
    other.close()
    before = path.read_bytes()
    for opening in (Store.open, Store.open_readonly):
        with pytest.raises(StoreError, match="not a ctmonitor store .an SQLite database with "
                                             "the tables trials.; left untouched"):
            opening(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_a_truncated_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store.open(path)
    for n in range(1, 40):
        add(store, study(f"NCT0100{n:04d}"))
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="the file is truncated"):
        Store.open(path)
    assert path.read_bytes() == data[: len(data) // 2]


def test_a_store_of_schema_1_is_upgraded_in_place(tmp_path: Path) -> None:
    """The first release's store (schema 1, without the backfill columns) keeps every
    version and gains the new columns when opened."""
    path = tmp_path / "s.db"
    store = Store.open(path)
    add(store, study("NCT01000001"))
    store.close()
    old = sqlite3.connect(path)
    for table, column in (("trials", "backfilled_at"), ("trials", "backfill_tried_at"),
                          ("trials", "backfill_error"), ("trials", "status_verified"),
                          ("versions", "source"),
                          ("versions", "registry_version"), ("versions", "registry_date")):
        old.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    old.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    old.commit()
    old.close()
    store = Store.open(path)
    try:
        assert store.get_meta("schema") == str(SCHEMA_VERSION)
        [version] = store.versions.history("NCT01000001")
        assert version.source == "check" and version.registry_version is None
        assert store.versions.trials(["NCT01000001"])[0].backfilled_at is None
    finally:
        store.close()
