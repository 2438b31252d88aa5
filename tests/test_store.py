"""The store on the run's back end: versions round-trip, one transaction per version, one
writer; and what is refused on opening (SQLite files of other programs, truncated files)."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from snapshots.errors import StoreBusy, StoreError
from snapshots.locks import Holder
from snapshots.normalise import normalise
from snapshots.outbox import NewDelivery
from snapshots.store import Store, sqlite_url
from tests.support.builder import study


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
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


def test_a_nul_in_free_text_is_stored_on_every_backend(store: Store) -> None:
    """PostgreSQL's text holds no NUL; the registry may send one in any free-text field."""
    record = study("NCT01000001", status="RECRUITING\x00", title="A\x00title")
    add(store, record)
    [trial] = store.versions.trials(["NCT01000001"])
    assert trial.title == "A\ufffdtitle" and trial.latest_status == "RECRUITING\ufffd"
    first = store.versions.get("NCT01000001", 1)
    assert first is not None and first.data == normalise(record).data  # the blob keeps it


def test_more_trials_than_one_statement_takes_parameters(store: Store) -> None:
    """PostgreSQL refuses a statement of more than 65,535 parameters; a check of 70,000
    trials names them all, to read them, to mark them checked, to mark their alerts sent."""
    ids = [f"NCT{n:08d}" for n in range(70_000)]
    store.versions.ensure_trials(ids)
    store.versions.mark_checked(ids, "2026-11-23T15:00:00Z")
    found = store.versions.trials(ids)
    assert sorted(t.nct_id for t in found) == ids
    assert {t.last_checked_at for t in found} == {"2026-11-23T15:00:00Z"}
    assert [t.nct_id for t in store.versions.trials(ids[:2] + ["NCT99999999"])] == ids[:2]
    store.outbox.mark_delivered(list(range(1, 70_001)))  # no such alerts: nothing to mark
    assert store.outbox.recent() == []


def test_one_writer_at_a_time(store: Store, store_url: str) -> None:
    other = Store.open(store_url)
    try:
        with store.writer_lock():
            assert other.lock_holder("writer") == Holder.me()
            with pytest.raises(StoreBusy, match=f"held by {socket.gethostname()} pid "
                                                r"\d+, writing to it"):
                with other.writer_lock():
                    pass
        assert other.lock_holder("writer") is None
        with other.writer_lock():
            pass
    finally:
        other.close()


@pytest.mark.one_backend
def test_store_in_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open"):
        Store.open(sqlite_url(blocker / "s.db"))


def test_prune_keeps_the_newest_checks_and_every_version(store: Store) -> None:
    add(store, study("NCT01000001"))
    for _ in range(5):
        store.checks.finish(store.checks.begin(), "ok", 1, None, "")
    store.checks.prune(keep=2)
    assert len(store.checks.last(10)) == 2
    assert [v.number for v in store.versions.history("NCT01000001")] == [1]


@pytest.mark.one_backend
def test_another_programs_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE trials (id INTEGER, name TEXT)")
    other.execute("INSERT INTO trials VALUES (1, 'not ours')")
    other.commit()
    other.close()
    before = path.read_bytes()
    for opening in (Store.open, Store.open_readonly):
        with pytest.raises(StoreError, match="not a ctmonitor store .a database with "
                                             "the tables trials.; left untouched"):
            opening(sqlite_url(path))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


@pytest.mark.one_backend
def test_a_truncated_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store.open(sqlite_url(path))
    for n in range(1, 40):
        add(store, study(f"NCT0100{n:04d}"))
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="the file is truncated"):
        Store.open(sqlite_url(path))
    assert path.read_bytes() == data[: len(data) // 2]


def test_each_version_keeps_the_outline_its_page_draws(store: Store) -> None:
    """outlines() gives each version's status and outcome modules without its snapshot, as
    the record had them (a text that looks like a module's key is only text, an integer
    beyond 64 bits is stored); a version written without an outline (by hand) has it read
    from its snapshot."""
    from sqlalchemy import update

    from snapshots.schema import versions
    from tests.support.builder import changed

    built = study("NCT01000001", status="TERMINATED",
                  whyStopped='funding "statusModule": {"overallStatus": "RECRUITING"}')
    built = changed(built, "protocolSection.statusModule.oddField", 2**70)  # beyond orjson
    records = [built, changed(built, "protocolSection.outcomesModule", None),
               changed(built, "protocolSection.statusModule.overallStatus", "COMPLETED")]
    for record in records:
        add(store, record)
    with store.transaction() as conn:
        conn.execute(update(versions).where(versions.c.number == 3).values(outline=None))
    read = store.versions.outlines("NCT01000001")
    assert [v.number for v, _ in read] == [1, 2, 3]
    for (_version, outline), record in zip(read, records, strict=True):
        assert outline == {name: record["protocolSection"].get(name) or {}
                           for name in ("statusModule", "outcomesModule")}
        assert outline["statusModule"]["oddField"] == float(2**70)  # read back as JSON reads
    assert read[1][1]["outcomesModule"] == {}
