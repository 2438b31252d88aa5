"""The store's schema under Alembic, PostgreSQL stores, and `ctmonitor store copy`.

The release store (tests/data/store-0.1.0.db) was made by ctmonitor 0.1.0, the release
before Alembic: two checks with a change, a watch, a trial gone from the registry, and
alerts in the outbox (see tests/data/README.md).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from monitor.cli import main
from monitor.config import load
from snapshots import migrations
from snapshots.copying import digest
from snapshots.errors import StoreError
from snapshots.schema import metadata
from snapshots.store import Store, parse_url, sqlite_url
from tests.conftest import write_config
from tests.support.builder import study
from tests.support.registry import FakeRegistry
from tests.support.stores import POSTGRES, server

pytestmark = pytest.mark.one_backend  # each test names the back ends it runs on

RELEASE_STORE = Path(__file__).parent / "data" / "store-0.1.0.db"
HEAD = migrations.HEAD


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def differences(url: str) -> list[Any]:
    """What the store's tables lack or have beyond the code's schema (Alembic compares)."""
    engine = create_engine(parse_url(url))
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), metadata))
    finally:
        engine.dispose()


def new_url(backend: str, tmp_path: Path) -> str:
    if backend == "postgresql":
        return POSTGRES.new_store(tmp_path)
    return sqlite_url(tmp_path / "s.db")


def alembic(url: str, *steps: tuple[str, str]) -> None:
    """Run Alembic commands ("upgrade", "head"), ... on the database at url."""
    engine = create_engine(parse_url(url))
    try:
        with engine.begin() as conn:
            config = migrations.alembic_config(conn)
            for verb, where in steps:
                getattr(command, verb)(config, where)
    finally:
        engine.dispose()


def release_config(tmp_path: Path, registry: FakeRegistry) -> Path:
    (tmp_path / "data").mkdir()
    shutil.copy(RELEASE_STORE, tmp_path / "data" / "snapshots.db")
    return write_config(tmp_path, registry.base_url,
                        ["NCT09000001", "NCT09000002", "NCT09000003"],
                        '[watches.hcc]\n"query.cond" = "hepatocellular carcinoma"\n')


def test_the_release_store_is_refused_until_migrated_then_migrates_in_place_whole(
        tmp_path: Path, registry: FakeRegistry, capsys: pytest.CaptureFixture[str]) -> None:
    config = release_config(tmp_path, registry)
    path = tmp_path / "data" / "snapshots.db"
    before = path.read_bytes()
    for words in (["list"], ["history", "NCT09000002"], ["check"], ["status"], ["run"],
                  ["serve", "--port", "0"], ["backfill"], ["store", "copy", "--to", "x.db"]):
        assert run(config, *words) == 1, words
        assert capsys.readouterr().err == (
            f"ctmonitor: store {path}: its schema is out of date (revision 0004, this "
            f"ctmonitor needs {HEAD}); run `ctmonitor store migrate`\n"), words
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["snapshots.db"]

    assert run(config, "store", "migrate") == 0
    assert capsys.readouterr().out == f"store {path}: migrated from revision 0004 to {HEAD}\n"
    assert differences(load(config).store) == []
    assert run(config, "history", "NCT09000002", "--json") == 0
    history = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["status"]) for v in history] == [(1, "NOT_YET_RECRUITING"),
                                                              (2, "RECRUITING")]
    assert "Primary completion" in history[1]["summary"]
    assert run(config, "deliveries", "--json") == 0
    assert sorted(d["nct_id"] for d in json.loads(capsys.readouterr().out)) == [
        "NCT09000002", "NCT09000003"]  # a change, and a trial gone from the registry
    assert run(config, "watches", "--json") == 0
    assert json.loads(capsys.readouterr().out)[0]["matches"] == 2

    registry.put(study("NCT09000001", status="COMPLETED"))
    registry.put(study("NCT09000002", status="RECRUITING", title="A second study",
                       primary_completion=("2026-01-27", "ACTUAL")))
    registry.data_timestamp = "2026-03-14T09:00:04"
    assert run(config, "check") == 0
    assert "Overall status: Recruiting -> Completed" in capsys.readouterr().out
    assert run(config, "store", "migrate") == 0
    assert capsys.readouterr().out == f"store {path}: up to date (revision {HEAD})\n"


def test_alembic_sees_the_revisions_the_store_is_judged_by() -> None:
    """Opening a store reads the revisions off the file names; Alembic, off the files."""
    scripts = ScriptDirectory(str(migrations.FOLDER))
    assert scripts.get_current_head() == HEAD
    assert sorted(s.revision for s in scripts.walk_revisions()) == list(migrations.REVISIONS)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migrations_make_the_schema_of_the_code_and_undo_it(
        backend: str, tmp_path: Path) -> None:
    url = new_url(backend, tmp_path)
    alembic(url, ("upgrade", "head"))
    assert differences(url) == []
    alembic(url, ("downgrade", "base"))
    engine = create_engine(parse_url(url))
    with engine.connect() as conn:
        assert inspect(conn).get_table_names() == ["alembic_version"]
    engine.dispose()
    alembic(url, ("upgrade", "head"))
    assert differences(url) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_revision_0010_gives_every_stored_version_its_outline(backend: str,
                                                             tmp_path: Path) -> None:
    """Versions stored at 0009 get the outline their page draws, from their snapshots, more
    than one batch of them; a snapshot that does not read keeps none (and fails alone)."""
    import zlib

    from snapshots.normalise import normalise, outline

    url = new_url(backend, tmp_path)
    alembic(url, ("upgrade", "0009"))
    records = [study("NCT01000001", status=s) for s in ("RECRUITING", "COMPLETED")]
    blobs = [zlib.compress(normalise(r).canonical) for r in records]
    engine = create_engine(parse_url(url))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO trials (nct_id, added_at, latest_version) VALUES "
                          "(:id, '2026-01-01T00:00:00Z', :n)"),
                     [{"id": "NCT01000001", "n": 1200}, {"id": "NCT01000002", "n": 1}])
        conn.execute(text("INSERT INTO versions (nct_id, number, fetched_at, hash, snapshot, "
                          "events, summary) VALUES (:id, :n, '2026-01-01T00:00:00Z', 'h', "
                          ":blob, '[]', '')"),
                     [*({"id": "NCT01000001", "n": n, "blob": blobs[n % 2]}
                        for n in range(1, 1201)),
                      {"id": "NCT01000002", "n": 1, "blob": b"\x00"}])
    engine.dispose()
    assert Store.migrate(url)[1].current == HEAD
    store = Store.open(url)
    try:
        with store.transaction() as conn:
            written = conn.execute(text("SELECT nct_id, outline FROM versions")).all()
        read = store.versions.outlines("NCT01000001")
    finally:
        store.close()
    assert [o is None for i, o in written if i == "NCT01000002"] == [True]
    assert all(o is not None for i, o in written if i == "NCT01000001")
    assert [o for _, o in read] == [outline(normalise(records[n % 2]).data)
                                    for n in range(1, 1201)]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_new_store_is_made_at_the_newest_revision_and_marked_for_the_old_release(
        backend: str, tmp_path: Path) -> None:
    url = new_url(backend, tmp_path)
    store = Store.open(url)
    try:
        assert store.found is not None and store.found.new
        assert store.get_meta("schema") == migrations.OLD_RELEASE_MARK  # 0.1 reads "newer"
    finally:
        store.close()
    assert differences(url) == []
    assert Store.migrate(url)[0].current == HEAD


def test_a_first_release_store_of_schema_1_is_upgraded_in_place(tmp_path: Path) -> None:
    """Schema 1 as 0.1's first form had it: no alembic_version, meta schema 1."""
    url = new_url("sqlite", tmp_path)
    alembic(url, ("upgrade", "0001"))
    engine = create_engine(parse_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("INSERT INTO trials (nct_id, added_at, latest_version) "
                          "VALUES ('NCT01000001', '2026-01-01T00:00:00Z', 1)"))
        conn.execute(text("INSERT INTO versions (nct_id, number, fetched_at, hash, snapshot, "
                          "events, summary) VALUES ('NCT01000001', 1, '2026-01-01T00:00:00Z', "
                          "'h', x'00', '[]', 'baseline')"))
    engine.dispose()
    before, after = Store.migrate(url)
    assert (before.current, after.current) == ("0001", HEAD)
    assert differences(url) == []
    store = Store.open(url)
    try:
        [version] = store.versions.history("NCT01000001")
        assert version.source == "check" and version.registry_version is None
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_store_of_a_newer_ctmonitor_is_refused_by_every_opening(
        backend: str, tmp_path: Path) -> None:
    url = new_url(backend, tmp_path)
    Store.open(url).close()
    engine = create_engine(parse_url(url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    refusal = (r"its schema \(revision 0099\) is newer than this ctmonitor's "
               rf"\({HEAD}\); upgrade ctmonitor")
    for opening in (Store.open, Store.open_readonly, Store.migrate):
        with pytest.raises(StoreError, match=refusal):
            opening(url)


def test_another_programs_postgresql_database_is_refused_and_left_untouched(
        tmp_path: Path) -> None:
    url = POSTGRES.new_store(tmp_path)
    engine = create_engine(parse_url(url))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE trials (id INTEGER, name TEXT)"))
    with pytest.raises(StoreError, match=r"not a ctmonitor store \(a database with the "
                                         r"tables trials\); left untouched"):
        Store.open(url)
    with engine.connect() as conn:
        assert inspect(conn).get_table_names() == ["trials"]
    engine.dispose()


def test_an_unreachable_postgresql_store_is_one_line_without_its_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CTM_TEST_SECRET", "s3cret")
    config = tmp_path / "config.toml"
    config.write_text('[store]\nurl = "postgresql://ctm:${CTM_TEST_SECRET}@127.0.0.1:1/ctm"\n',
                      encoding="utf-8")
    assert run(config, "list") == 1
    err = capsys.readouterr().err
    assert err.startswith("ctmonitor: store postgresql://ctm:***@127.0.0.1:1/ctm: connection "
                          "failed: ")
    assert err.count("\n") == 1 and "s3cret" not in err


@pytest.mark.parametrize(("table", "problem"), [
    ('path = "a.db"\nurl = "postgresql://h/db"', "store: set path (an SQLite file) or url "
                                                 "(PostgreSQL), not both"),
    ('url = "mysql://h/db"', "store.url: expected a postgresql:// URL"),
])
def test_a_store_table_with_a_wrong_url_is_one_line(
        tmp_path: Path, table: str, problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[store]\n{table}\n", encoding="utf-8")
    assert run(config, "list") == 2
    assert problem in capsys.readouterr().err


def test_store_copy_to_postgresql_and_back_keeps_every_row(
        tmp_path: Path, registry: FakeRegistry, capsys: pytest.CaptureFixture[str]) -> None:
    config = release_config(tmp_path, registry)
    assert run(config, "store", "migrate") == 0
    capsys.readouterr()
    postgres_url = server().create_database()
    assert run(config, "store", "copy", "--to", postgres_url) == 0
    out = capsys.readouterr().out.splitlines()
    # meta 4 (with the last version before 0008), trials 3, versions 3, checks 2, outbox 2,
    # watches 1, watch_matches 2
    assert out[0] == (f"copied store {tmp_path / 'data' / 'snapshots.db'} to {postgres_url}: "
                      "17 rows, every table's count and SHA-256 the same on both sides")
    assert [line.split()[0] for line in out[1:]] == [t.name for t in metadata.sorted_tables]

    team = tmp_path / "team"
    team.mkdir()
    team_config = write_config(team, registry.base_url, ["NCT09000001", "NCT09000002"],
                               "").read_text().replace('path = "data/snapshots.db"',
                                                       f'url = "{postgres_url}"')
    (team / "config.toml").write_text(team_config, encoding="utf-8")
    for words in (["history", "NCT09000002", "--json"], ["deliveries", "--json"]):
        assert run(config, *words) == 0
        local = capsys.readouterr().out
        assert run(team / "config.toml", *words) == 0
        assert capsys.readouterr().out == local

    assert run(config, "store", "copy", "--to", postgres_url) == 1
    assert capsys.readouterr().err == (f"ctmonitor: store {postgres_url}: not empty (rows in "
                                       "checks, outbox, trials, watches, versions, "
                                       "watch_matches); copy only into a new store\n")

    registry.put(study("NCT09000001", status="COMPLETED"))  # new ids after the copied ones
    registry.data_timestamp = "2026-03-14T09:00:04"
    assert run(team / "config.toml", "check") == 0
    assert "Recruiting -> Completed" in capsys.readouterr().out

    back = tmp_path / "back.db"
    assert run(team / "config.toml", "store", "copy", "--to", str(back)) == 0
    capsys.readouterr()
    team_store, back_store = Store.open_readonly(postgres_url), Store.open_readonly(
        sqlite_url(back))
    try:
        assert digest(back_store) == digest(team_store)
        assert [v.number for v in back_store.versions.history("NCT09000001")] == [1, 2]
    finally:
        team_store.close()
        back_store.close()
