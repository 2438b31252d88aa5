"""Incremental checks: only what can have changed is fetched; a change the registry makes
without moving an update date is still alerted, by the at-risk rule or by the sweep."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import load
from monitor.plan import LAST_SWEEP
from snapshots.store import Store
from tests.conftest import write_config
from tests.support.builder import changed, study
from tests.support.http_sink import HttpSink
from tests.support.registry import FakeRegistry, Fault

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


# -- the registry's clock, not the machine's ----------------------------------------------
# Replays of registry days years before and years after the machine's clock: every change
# must be alerted by the incremental fetch, and the at-risk rule and the sweep must follow
# the registry's dataTimestamp. Nothing here reads the day the suite runs.
EPOCHS = {"years before the clock": date(2019, 6, 3), "early 2026": date(2026, 2, 16),
          "years after the clock": date(2033, 9, 12)}


def registry_day(registry: FakeRegistry, base: date, day: int) -> date:
    """The registry's refresh of base + day: its dataTimestamp moves to that morning."""
    today = base + timedelta(days=day)
    registry.data_timestamp = f"{today.isoformat()}T09:00:05"
    return today


def updated(record: dict[str, Any], today: date, **fields: Any) -> dict[str, Any]:
    """The record as a sponsor's update posted today leaves it."""
    for key, value in fields.items():
        record = changed(record, f"{S}.{key}", value)
    return changed(record, f"{S}.lastUpdatePostDateStruct", {"date": today.isoformat(),
                                                             "type": "ACTUAL"})


@pytest.mark.parametrize("base", EPOCHS.values(), ids=EPOCHS.keys())
def test_replayed_days_alert_every_change_whatever_the_machine_clock_says(
        base: date, tmp_path: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    ids = [f"NCT0200000{i}" for i in range(1, 6)]
    verified = (base - timedelta(days=60)).isoformat()[:7]
    for nct in ids:
        registry.put(updated(study(nct, statusVerifiedDate=verified), base))
    config = config_for(tmp_path, registry, sink)
    config.write_text(config.read_text().replace(json.dumps([UPDATED, QUIET, AT_RISK]),
                                                 json.dumps(ids)))
    registry_day(registry, base, 0)
    assert main(["--config", str(config), "check"]) == 0  # the baseline: a full sweep
    statuses = ["ACTIVE_NOT_RECRUITING", "SUSPENDED", "COMPLETED", "TERMINATED"]
    for day, (nct, status) in enumerate(zip(ids, statuses, strict=False), start=1):
        today = registry_day(registry, base, day)
        registry.put(updated(registry.records[nct], today, overallStatus=status))
        before = len(registry.log)
        assert main(["--config", str(config), "check"]) == 0
        asked = [x for x in registry.log[before:] if x.startswith("/studies?")]
        assert asked and all("LastUpdatePostDate" in x for x in asked), asked  # incremental
        assert {r.body["nct_id"]: r.body["changes"][0]["new"] for r in sink.received
                if r.body["nct_id"] == nct} == {nct: status}
    assert alerted(sink) == set(ids[:4])


@pytest.mark.parametrize("base", EPOCHS.values(), ids=EPOCHS.keys())
def test_the_at_risk_rule_and_the_sweep_follow_the_registry_clock(
        base: date, tmp_path: Path, registry: FakeRegistry, sink: HttpSink,
        capsys: pytest.CaptureFixture[str]) -> None:
    old = (base - timedelta(days=700)).isoformat()[:7]  # 23 months before the registry's day
    registry.put(updated(study(UPDATED, statusVerifiedDate=base.isoformat()[:7]), base))
    registry.put(updated(study(QUIET, statusVerifiedDate=base.isoformat()[:7]),
                         base - timedelta(days=30)))
    registry.put(updated(study(AT_RISK, statusVerifiedDate=old), base))
    config = config_for(tmp_path, registry, sink)
    registry_day(registry, base, 0)
    assert main(["--config", str(config), "check"]) == 0
    registry_day(registry, base, 1)
    registry.put(changed(registry.records[AT_RISK], f"{S}.overallStatus", "UNKNOWN"))
    capsys.readouterr()
    assert main(["--config", str(config), "check"]) == 0
    assert "1 at risk of an unannounced change asked in full" in capsys.readouterr().out
    assert alerted(sink) == {AT_RISK}
    # QUIET changes without its update date moving: found by the sweep once sweep_days (7)
    # of the registry's days have passed, not before
    registry.put(changed(registry.records[QUIET], f"{S}.overallStatus", "SUSPENDED"))
    registry_day(registry, base, 6)
    assert main(["--config", str(config), "check"]) == 0
    assert alerted(sink) == {AT_RISK}
    registry_day(registry, base, 7)
    assert main(["--config", str(config), "check"]) == 0
    assert alerted(sink) == {AT_RISK, QUIET}


def test_a_registry_whose_clock_goes_back_is_swept_in_full(
        world: Path, registry: FakeRegistry) -> None:
    """A registry replaced by an older copy (a restored mirror, a replay started again):
    its dates say nothing about what the store holds, so every trial is asked in full."""
    refresh(registry, "2026-03-13T09:00:05")
    assert main(["--config", str(world), "check"]) == 0
    refresh(registry, "2025-11-03T09:00:05")
    before = len(registry.log)
    assert main(["--config", str(world), "check"]) == 0
    asked = [x for x in registry.log[before:] if x.startswith("/studies?")]
    assert asked and not any("LastUpdatePostDate" in x for x in asked)


def test_a_registry_without_a_data_timestamp_gets_full_sweeps(
        world: Path, registry: FakeRegistry) -> None:
    registry.faults.append(Fault("/version", 404, times=2))
    registry.put(changed(registry.records[QUIET], f"{S}.overallStatus", "SUSPENDED"))
    before = len(registry.log)
    assert main(["--config", str(world), "check"]) == 0
    asked = [x for x in registry.log[before:] if x.startswith("/studies?")]
    assert asked and not any("LastUpdatePostDate" in x for x in asked)
