"""`ctmonitor check` end to end against a local registry: versions, the freshness gate,
missing and moved trials, failures midway."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import load
from snapshots.store import Store
from tests.conftest import pair
from tests.support.builder import changed, study
from tests.support.http_sink import HttpSink
from tests.support.registry import FakeRegistry, Fault


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def stored(config: Path, nct_id: str) -> list[int]:
    store = Store.open(load(config).store)
    try:
        return [v.number for v in store.versions.history(nct_id)]
    finally:
        store.close()


def test_pairs_make_two_versions_for_a_real_change_and_one_for_noise(
        registry: FakeRegistry, make_config, capsys: pytest.CaptureFixture[str]) -> None:
    old_term, new_term = pair("NCT05935098")
    old_noise, new_noise = pair("NCT05911841")
    registry.put(old_term)
    registry.put(old_noise)
    config = make_config(["NCT05935098", "NCT05911841"])
    assert run(config, "check") == 0
    assert capsys.readouterr().out.strip() == (
        "checked 2 trials with 2 requests: 2 new versions, 0 unchanged, 0 failed")
    registry.put(new_term)
    registry.put(new_noise)
    registry.data_timestamp = "2026-03-13T09:00:04"
    assert run(config, "check") == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("checked 2 trials with 2 requests: 1 new version, "
                                "1 unchanged, 0 failed")
    assert "Overall status: Active, not recruiting -> Terminated" in out
    assert stored(config, "NCT05935098") == [1, 2]
    assert stored(config, "NCT05911841") == [1]
    assert run(config, "history", "NCT05935098", "--json") == 0
    history = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in history] == [1, 2]
    assert history[0]["summary"] == "baseline (first version)"
    assert history[1]["status"] == "TERMINATED"
    assert {c["field"] for c in history[1]["changes"]} >= {"overallStatus", "whyStopped",
                                                          "primaryCompletionDate"}


def test_unchanged_data_timestamp_costs_exactly_one_request(
        registry: FakeRegistry, make_config, capsys: pytest.CaptureFixture[str]) -> None:
    registry.put(study("NCT01000001"))
    config = make_config(["NCT01000001"])
    run(config, "check")
    registry.log.clear()
    assert run(config, "check") == 0
    assert registry.log == ["/version"]
    assert "with 1 request: 0 new versions, 1 unchanged" in capsys.readouterr().out


def test_a_newly_tracked_trial_is_fetched_even_when_the_registry_has_not_refreshed(
        registry: FakeRegistry, make_config) -> None:
    registry.put(study("NCT01000001"))
    registry.put(study("NCT01000002"))
    config = make_config(["NCT01000001"])
    run(config, "check")
    assert run(config, "track", "NCT01000002") == 0
    registry.log.clear()
    run(config, "check")
    assert registry.log == ["/version", "/studies?filter.ids=NCT01000002&pageSize=1000"]
    assert stored(config, "NCT01000002") == [1]


def test_a_trial_gone_from_the_registry_alerts_once_and_keeps_its_history(
        registry: FakeRegistry, make_config, capsys: pytest.CaptureFixture[str]) -> None:
    registry.put(study("NCT01000001"))
    config = make_config(["NCT01000001"])
    run(config, "check")
    del registry.records["NCT01000001"]
    for day in ("2026-03-13T09:00:04", "2026-03-16T09:00:04"):
        registry.data_timestamp = day
        assert run(config, "check") == 0
    out = capsys.readouterr().out
    assert out.count("NCT01000001 is no longer in the registry") == 1
    assert "1 not in the registry" in out
    assert stored(config, "NCT01000001") == [1]
    run(config, "list")
    assert "NOT IN THE REGISTRY" in capsys.readouterr().out


def test_a_moved_trial_is_followed_and_the_alias_recorded(
        registry: FakeRegistry, make_config, capsys: pytest.CaptureFixture[str]) -> None:
    registry.put(study("NCT01000009"))
    registry.aliases["NCT01000001"] = "NCT01000009"
    config = make_config(["NCT01000001"])
    assert run(config, "check") == 0
    assert stored(config, "NCT01000001") == [1]
    run(config, "list")
    assert "now NCT01000009" in capsys.readouterr().out


def test_one_rejected_id_fails_alone(registry: FakeRegistry, make_config,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    for nct in ("NCT01000001", "NCT01000002", "NCT01000003"):
        registry.put(study(nct))
    registry.reject_ids.add("NCT01000002")
    config = make_config(["NCT01000001", "NCT01000002", "NCT01000003"])
    assert run(config, "check") == 0
    assert "2 new versions, 0 unchanged, 1 failed" in capsys.readouterr().out
    assert stored(config, "NCT01000003") == [1]


def test_an_unreachable_registry_is_one_line_and_non_zero(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import write_config

    config = write_config(tmp_path, "http://127.0.0.1:9/api/v2", ["NCT01000001"])
    assert run(config, "check") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("ctmonitor: registry: cannot connect")


def test_a_check_failing_midway_keeps_what_was_committed_and_the_next_continues(
        registry: FakeRegistry, make_config, capsys: pytest.CaptureFixture[str]) -> None:
    base = study("NCT01000001")
    registry.put(base)
    config = make_config(["NCT01000001", "NCT01000002"])
    registry.faults.append(Fault("/studies/NCT01000002", 500, times=10))
    assert run(config, "check") == 1
    assert "HTTP 500 fetching NCT01000002" in capsys.readouterr().err
    assert stored(config, "NCT01000001") == [1]
    registry.faults.clear()
    registry.put(study("NCT01000002"))
    registry.put(changed(base, "protocolSection.statusModule.overallStatus", "COMPLETED"))
    assert run(config, "check") == 0  # same dataTimestamp: the failed check did not count
    assert stored(config, "NCT01000001") == [1, 2]
    assert stored(config, "NCT01000002") == [1]


def check_both_sides(registry: FakeRegistry, make_config, nct_id: str) -> Path:
    """A pair's older record checked, then its newer one on the registry's next day."""
    old, new = pair(nct_id)
    registry.put(old)
    config = make_config([nct_id])
    run(config, "check")
    registry.put(new)
    registry.data_timestamp = "2026-03-16T09:00:04"
    run(config, "check")
    return config


def test_a_refresh_that_only_touches_bookkeeping_alerts_nobody(
        registry: FakeRegistry, make_config, capsys: pytest.CaptureFixture[str]) -> None:
    config = check_both_sides(registry, make_config, "NCT05329766")
    out = capsys.readouterr().out.split("\n", 1)[1]  # the second check's output
    assert out.strip() == "checked 1 trial with 2 requests: 1 new version, 0 unchanged, 0 failed"
    run(config, "history", "NCT05329766")
    assert "no material change" in capsys.readouterr().out


def test_a_registry_without_search_or_version_is_read_one_trial_at_a_time(
        registry: FakeRegistry, make_config, capsys: pytest.CaptureFixture[str]) -> None:
    registry.put(study("NCT01000001"))
    registry.put(study("NCT01000002"))
    registry.faults += [Fault("/version", 404, times=10), Fault("/studies?", 404, times=10)]
    config = make_config(["NCT01000001", "NCT01000002"])
    assert run(config, "check") == 0
    assert "2 new versions, 0 unchanged, 0 failed" in capsys.readouterr().out
    assert registry.requests_to("/studies/NCT0100000") == 2


def test_diff_and_show_read_the_stored_versions(
        registry: FakeRegistry, make_config, capsys: pytest.CaptureFixture[str]) -> None:
    old, _ = pair("NCT05935098")
    config = check_both_sides(registry, make_config, "NCT05935098")
    capsys.readouterr()
    assert run(config, "diff", "NCT05935098", "--json") == 0
    latest = json.loads(capsys.readouterr().out)
    assert run(config, "diff", "NCT05935098", "1", "2", "--json") == 0
    assert json.loads(capsys.readouterr().out) == latest
    assert run(config, "history", "NCT05935098", "--json") == 0
    assert json.loads(capsys.readouterr().out)[1]["changes"] == latest
    assert run(config, "diff", "NCT05935098", "2", "1") == 0
    assert "Overall status: Terminated -> Active, not recruiting" in capsys.readouterr().out
    assert run(config, "show", "NCT05935098", "--version", "1", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["protocolSection"] == old["protocolSection"] and "derivedSection" not in shown
    assert run(config, "show", "NCT05935098") == 0
    assert "Overall status:     Terminated" in capsys.readouterr().out
    assert run(config, "diff", "NCT05935098", "1", "7") == 1
    assert capsys.readouterr().err == "ctmonitor: NCT05935098: no version 7 (versions 1 to 2)\n"


def test_the_progress_bar_shows_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from monitor.commands import PROGRESS_MIN_TRIALS, progress_bar

    with progress_bar(PROGRESS_MIN_TRIALS * 10) as advance:
        assert advance is None  # pytest's stderr is not a terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with progress_bar(PROGRESS_MIN_TRIALS - 1) as advance:
        assert advance is None
    with progress_bar(PROGRESS_MIN_TRIALS) as advance:
        assert callable(advance)
        advance(PROGRESS_MIN_TRIALS)


def test_a_malformed_record_fails_its_trial_only(
        registry: FakeRegistry, make_config, capsys: pytest.CaptureFixture[str]) -> None:
    registry.put(study("NCT01000001"))
    registry.faults.append(Fault("/studies/NCT01000002", 200, body="[1, 2, 3]"))
    config = make_config(["NCT01000001", "NCT01000002"])
    assert run(config, "check") == 0
    assert "1 new version, 0 unchanged, 1 failed" in capsys.readouterr().out
    run(config, "list")
    assert "last check failed: not a study record: a JSON array" in capsys.readouterr().out


def test_a_check_past_its_deadline_stops_between_trials_and_is_recorded_failed(
        registry: FakeRegistry, make_config, capsys: pytest.CaptureFixture[str]) -> None:
    ids = [f"NCT0100000{i}" for i in range(1, 7)]
    for nct in ids:
        registry.put(study(nct))
    registry.faults.append(Fault("/studies?", 404))  # each trial is then fetched alone
    registry.single_delay = 0.4
    config = make_config(ids, "\n[monitor]\ncheck_timeout_minutes = 0.01\n")
    assert run(config, "check") == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]  # the test server may log too
    assert err.startswith("ctmonitor: check timed out after 0.01 minutes")
    done = [nct for nct in ids if stored(config, nct)]
    assert 0 < len(done) < len(ids)  # stopped between two trials, what was done is kept
    store = Store.open(load(config).store)
    try:
        [last] = store.checks.last(1)
    finally:
        store.close()
    assert last.outcome == "failed" and last.detail is not None
    registry.single_delay = 0
    assert run(config, "check") == 0  # the next check does the rest
    assert all(stored(config, nct) == [1] for nct in ids)


# -- a check nothing can derail ------------------------------------------------------------
def webhook(sink: HttpSink) -> str:
    return f'\n[notifiers.hook]\ntype = "webhook"\nurl = "{sink.url}"\n'


def events(sink: HttpSink) -> list[str]:
    return [r.body["event"] for r in sink.received]


@pytest.mark.parametrize("how", ["a mistyped base_url", "every tracked id answers 404"])
def test_a_misconfigured_registry_marks_nothing_missing_and_alerts_nobody(
        how: str, registry: FakeRegistry, make_config, sink: HttpSink,
        capsys: pytest.CaptureFixture[str]) -> None:
    ids = ["NCT01000001", "NCT01000002", "NCT01000003"]
    for nct in ids:
        registry.put(study(nct))
    config = make_config(ids, webhook(sink))
    assert run(config, "check") == 0
    registry.data_timestamp = "2026-03-13T09:00:05"
    if how == "a mistyped base_url":
        config.write_text(config.read_text().replace("/api/v2", "/api/v3"))
    else:
        registry.records.clear()
    capsys.readouterr()
    assert run(config, "check") == 1
    err = [line for line in capsys.readouterr().err.splitlines()
           if line.startswith("ctmonitor")]  # the test server may log too
    assert len(err) == 1 and "answered 404" in err[0] and "registry.base_url" in err[0]
    assert load(config).registry.base_url in err[0]
    assert "trial.missing" not in events(sink)
    store = Store.open(load(config).store)
    try:
        assert not any(t.missing_since for t in store.versions.trials(ids))
    finally:
        store.close()


def test_an_id_never_seen_in_the_registry_is_not_found_not_gone(
        registry: FakeRegistry, make_config, sink: HttpSink,
        capsys: pytest.CaptureFixture[str]) -> None:
    registry.put(study("NCT01000001"))
    config = make_config(["NCT01000001", "NCT09999999"], webhook(sink))
    assert run(config, "check") == 0
    out = capsys.readouterr().out
    assert "NCT09999999: not found in the registry (HTTP 404)" in out
    assert "no longer" not in out and events(sink) == []
    run(config, "list")
    assert "last check failed: not found in the registry" in capsys.readouterr().out


def test_failing_trials_count_toward_the_failure_alert(
        registry: FakeRegistry, make_config, sink: HttpSink,
        capsys: pytest.CaptureFixture[str]) -> None:
    registry.put(study("NCT01000001"))
    registry.put(changed(study("NCT01000002"), "protocolSection.statusModule.whyStopped", 7))
    config = make_config(["NCT01000001", "NCT01000002"], webhook(sink))
    for day in ("2026-03-12T09:00:05", "2026-03-13T09:00:05"):
        registry.data_timestamp = day
        assert run(config, "check") == 0
    [failing] = [r.body for r in sink.received if r.body["event"] == "monitor.failing"]
    assert ("NCT01000002: record unreadable: protocolSection.statusModule.whyStopped: "
            "expected text, got a number") in failing["message"]
    run(config, "status")
    assert "partial" in capsys.readouterr().out
    registry.put(study("NCT01000002"))
    assert run(config, "check") == 0  # retried although the registry has not refreshed
    assert events(sink).count("monitor.recovered") == 1


def test_a_crash_nobody_foresaw_fails_the_check_and_the_next_one_runs(
        registry: FakeRegistry, make_config, sink: HttpSink, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import monitor.runner

    registry.put(study("NCT01000001"))
    config = make_config(["NCT01000001"], webhook(sink))
    assert run(config, "check") == 0

    def broken(*_args: object) -> None:
        raise AttributeError("a bug")

    monkeypatch.setattr(monitor.runner, "plan", broken)  # stands for any unforeseen bug
    for day in ("2026-03-13T09:00:05", "2026-03-16T09:00:05"):
        registry.data_timestamp = day
        assert run(config, "check") == 1
    err = capsys.readouterr().err
    assert "check crashed: unexpected error (AttributeError at test_check.py:" in err
    assert "a bug" not in err  # an error's text may hold a secret: only its type and place
    store = Store.open(load(config).store)
    try:
        assert [c.outcome for c in store.checks.last(2)] == ["failed", "failed"]
    finally:
        store.close()
    assert events(sink) == ["monitor.failing"]
    monkeypatch.undo()
    assert run(config, "check") == 0


def test_backfill_waits_for_the_alerts_and_stops_when_the_history_endpoint_is_down(
        registry: FakeRegistry, make_config, sink: HttpSink,
        capsys: pytest.CaptureFixture[str]) -> None:
    tracked = ["NCT01000001"]
    registry.put(study(tracked[0]))
    config = make_config(tracked, webhook(sink))
    assert run(config, "check") == 0
    new = [f"NCT03{i:06d}" for i in range(500)]
    for nct in new:
        registry.put(study(nct))
    registry.put(study(tracked[0], status="SUSPENDED"))
    registry.data_timestamp = "2026-03-13T09:00:05"
    registry.faults.append(Fault("/api/int/", 503, times=10_000))
    config = make_config(tracked + new, webhook(sink))
    config.write_text(config.read_text().replace("backfill = false", "backfill = true").replace(
        "rate_limit = 0\n", f'rate_limit = 0\nhistory_url = "{registry.history_url}"\n'))
    sink.on_post = lambda _r: registry.log.append("ALERT")
    capsys.readouterr()
    assert run(config, "check") == 0
    out = capsys.readouterr().out
    assert "501 new versions, 0 unchanged, 0 failed" in out  # 1 changed, 500 new
    assert "backfill: history endpoint unreachable (registry: HTTP 503" in out
    assert "retrying after 24 hours" in out
    history = [i for i, line in enumerate(registry.log) if line.startswith("/api/int/")]
    assert 0 < len(history) <= 6  # 3 trials in a row, 2 tries each, then it waits
    assert registry.log.index("ALERT") < history[0]  # the alert went out first
    registry.data_timestamp = "2026-03-16T09:00:05"
    assert run(config, "check") == 0
    assert sum(line.startswith("/api/int/") for line in registry.log) == len(history)
