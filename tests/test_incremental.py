"""Incremental checks: only what can have changed is fetched; a change the registry makes
without moving an update date is still alerted, by the at-risk rule or by the sweep."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import load
from monitor.plan import LAST_SWEEP
from snapshots.store import Store
from tests.conftest import write_config
from tests.support.builder import changed, study
from tests.support.http_sink import HttpSink
from tests.support.registry import FakeRegistry

S = "protocolSection.statusModule"
UPDATED, QUIET, AT_RISK = "NCT01000001", "NCT01000002", "NCT01000003"


def config_for(folder: Path, registry: FakeRegistry, sink: HttpSink) -> Path:
    path = write_config(folder, registry.base_url, [UPDATED, QUIET, AT_RISK],
                        f'[notifiers.hook]\ntype = "webhook"\nurl = "{sink.url}"\n')
    path.write_text(path.read_text().replace("sweep_days = 0", "sweep_days = 7"))
    return path


def refresh(registry: FakeRegistry, stamp: str) -> None:
    registry.data_timestamp = stamp


def alerted(sink: HttpSink) -> set[str]:
    return {r.body["nct_id"] for r in sink.received if r.body.get("event") == "trial.changed"}


@pytest.fixture
def world(tmp_path: Path, registry: FakeRegistry, sink: HttpSink) -> Path:
    registry.put(study(UPDATED))
    registry.put(study(QUIET, statusVerifiedDate="2026-02"))
    registry.put(study(AT_RISK, status="RECRUITING", statusVerifiedDate="2024-01"))
    config = config_for(tmp_path, registry, sink)
    assert main(["--config", str(config), "check"]) == 0  # the first check is a full sweep
    return config


def test_an_incremental_check_asks_by_update_date_and_in_full_for_trials_at_risk(
        world: Path, registry: FakeRegistry, sink: HttpSink,
        capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    registry.put(changed(changed(registry.records[UPDATED], f"{S}.overallStatus", "COMPLETED"),
                         f"{S}.lastUpdatePostDateStruct", {"date": "2026-11-20",
                                                           "type": "ACTUAL"}))
    # the registry's own change: no update date moves
    registry.put(changed(changed(registry.records[AT_RISK], f"{S}.overallStatus", "UNKNOWN"),
                         f"{S}.lastKnownStatus", "RECRUITING"))
    registry.put(changed(registry.records[QUIET], f"{S}.overallStatus", "SUSPENDED"))
    before = len(registry.log)
    refresh(registry, "2026-03-13T09:00:05")
    assert main(["--config", str(world), "check"]) == 0
    searches = [x for x in registry.log[before:] if x.startswith("/studies?")]
    assert any("LastUpdatePostDate" in s and UPDATED in s and AT_RISK not in s
               for s in searches)  # asked by update date
    assert any("LastUpdatePostDate" not in s and AT_RISK in s for s in searches)  # in full
    assert "1 at risk of an unannounced change asked in full" in capsys.readouterr().out
    assert alerted(sink) == {UPDATED, AT_RISK}  # AT_RISK: by the at-risk rule
    # QUIET changed without its update date moving and is not at risk: the sweep finds it
    store = Store.open(load(world).store)
    store.set_meta(LAST_SWEEP, "2026-01-01T00:00:00Z")
    store.close()
    refresh(registry, "2026-03-14T09:00:05")
    assert main(["--config", str(world), "check"]) == 0
    assert alerted(sink) == {UPDATED, AT_RISK, QUIET}  # QUIET: by the sweep
    assert all("LastUpdatePostDate" not in s for s in registry.log[-2:])


def test_a_trial_left_out_for_not_being_updated_is_unchanged_not_missing(
        world: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    refresh(registry, "2026-03-13T09:00:05")
    assert main(["--config", str(world), "check"]) == 0
    assert not any(x.startswith("/studies/") for x in registry.log)  # nobody fetched alone
    store = Store.open(load(world).store)
    try:
        trials = {t.nct_id: t for t in store.versions.trials([UPDATED, QUIET, AT_RISK])}
    finally:
        store.close()
    assert all(t.missing_since is None and t.latest_version == 1 for t in trials.values())
    assert trials[QUIET].status_verified == "2026-02"
