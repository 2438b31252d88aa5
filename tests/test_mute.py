"""Muting: a muted trial is still checked and stored; its alerts are held back, then sent
on unmute (or dropped, as [alerts] held_alerts says); list, status and the pages say so."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor import mutes
from monitor.cli import main
from monitor.config import load
from snapshots.store import Store
from tests.support.builder import changed, study
from tests.support.http_sink import HttpSink
from tests.support.pages import serving
from tests.support.registry import FakeRegistry

A, B = "NCT01000001", "NCT01000002"
S = "protocolSection.statusModule"


def day(offset: int) -> str:
    """A day relative to the machine's (a mute is the user's calendar)."""
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


def run(config: Path, *words: str) -> int:
    return main(["--config", str(config), *words])


def terminate_both(registry: FakeRegistry, stamp: str) -> None:
    for nct in (A, B):
        registry.put(changed(study(nct), f"{S}.overallStatus", "TERMINATED"))
    registry.data_timestamp = stamp


@pytest.fixture
def two_trials(registry: FakeRegistry, sink: HttpSink, make_config: Any) -> Path:
    config = make_config([A, B], f'[notifiers.hook]\ntype = "webhook"\nurl = "{sink.url}"\n')
    for nct in (A, B):
        registry.put(study(nct))
    assert run(config, "check") == 0
    return config


def test_a_muted_trial_is_checked_its_alerts_held_then_sent_on_unmute(
        two_trials: Path, registry: FakeRegistry, sink: HttpSink,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(two_trials, "mute", A) == 0
    assert capsys.readouterr().out == (f"{A}: muted until `ctmonitor unmute`, which will send "
                                       "what was held (still checked and stored)\n")
    terminate_both(registry, "2026-03-13T09:00:05")
    assert run(two_trials, "check") == 0
    assert [r.body["nct_id"] for r in sink.received] == [B]  # A's alert held back
    capsys.readouterr()
    assert run(two_trials, "history", A) == 0
    assert "Terminated" in capsys.readouterr().out  # still checked and stored
    assert run(two_trials, "list") == 0
    assert f"{A}" in (line := capsys.readouterr().out.splitlines()[0]) and "muted" in line
    assert run(two_trials, "status", "--json") == 0
    assert json.loads(capsys.readouterr().out)["muted_trials"] == [f"{A}: muted"]
    assert run(two_trials, "deliveries", "--status", "held", "--json") == 0
    held = json.loads(capsys.readouterr().out)
    assert sorted((d["channel"], d["nct_id"]) for d in held) == [("console", A), ("hook", A)]
    [hook] = [d for d in held if d["channel"] == "hook"]
    assert run(two_trials, "unmute", A) == 0
    assert capsys.readouterr().out == (f"{A}: unmuted; 2 held alerts to be sent with the next "
                                       "delivery\n")  # the console's and the webhook's
    assert run(two_trials, "check") == 0
    assert [r.body["nct_id"] for r in sink.received] == [B, A]
    assert sink.received[1].headers["Idempotency-Key"] == hook["idempotency_key"]


def test_with_held_alerts_drop_unmuting_drops_what_was_held(
        registry: FakeRegistry, sink: HttpSink, make_config: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config([A], f'[alerts]\nheld_alerts = "drop"\n\n[notifiers.hook]\n'
                              f'type = "webhook"\nurl = "{sink.url}"\n')
    registry.put(study(A))
    assert run(config, "check") == 0
    assert run(config, "mute", A, "--until", day(30)) == 0
    assert f"muted until {day(30)}, then drop what was held" in capsys.readouterr().out
    registry.put(changed(study(A), f"{S}.overallStatus", "TERMINATED"))
    registry.data_timestamp = "2026-03-13T09:00:05"
    assert run(config, "check") == 0
    assert run(config, "unmute", A) == 0
    assert "2 held alerts dropped" in capsys.readouterr().out
    assert run(config, "check") == 0
    assert sink.received == []
    capsys.readouterr()
    assert run(config, "deliveries", "--status", "dropped", "--json") == 0
    assert [d["nct_id"] for d in json.loads(capsys.readouterr().out)] == [A, A]


def test_a_mute_ends_on_its_day_and_what_it_held_goes_out(
        two_trials: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    assert run(two_trials, "mute", A, B, "--until", day(3)) == 0
    terminate_both(registry, "2026-03-13T09:00:05")
    assert run(two_trials, "check") == 0
    assert sink.received == []
    settings = load(two_trials)
    store = Store.open(settings.store)
    try:
        assert mutes.for_check(store, settings, day(2)).muted == {A, B}  # not yet
        assert mutes.for_check(store, settings, day(3)).muted == frozenset()
        assert store.versions.muted() == {}
        assert store.outbox.counts().get("pending") == 4  # two trials, two channels
    finally:
        store.close()


def test_the_pages_say_a_trial_is_muted(two_trials: Path) -> None:
    assert run(two_trials, "mute", A, "--until", day(10)) == 0
    settings = load(two_trials)
    with serving(settings) as client:
        assert f"muted until {day(10)}" in client.get("/").text
        assert f"alerts muted until {day(10)}" in client.get(f"/trials/{A}").text
        assert "muted" not in client.get(f"/trials/{B}").text.split("<main")[1].split(
            "Key dates")[0]


@pytest.mark.parametrize(("words", "says"), [
    (["mute", "NCT09999999"], "NCT09999999: not tracked"),
    (["mute", A, "--until", "next week"], "--until: expected a date such as 2027-01-31"),
    (["mute", A, "--until", "2020-01-01"], "--until 2020-01-01: that day is not after today"),
    (["unmute", "NCT123"], "NCT123"),
])
def test_mute_errors_are_one_line(two_trials: Path, capsys: pytest.CaptureFixture[str],
                                  words: list[str], says: str) -> None:
    capsys.readouterr()
    assert run(two_trials, *words) != 0
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1, err
