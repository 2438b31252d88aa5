"""The daemon in a subprocess against a local registry, on a schedule of a few seconds.

Nothing here sleeps for a fixed time: each test waits for a state it can observe (a
request seen by the registry, a check in the store) and fails if it does not come.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor import health
from monitor.cli import main
from monitor.config import load
from snapshots.checklog import Check
from snapshots.store import Store
from tests.support.builder import study
from tests.support.http_sink import HttpSink
from tests.support.registry import FakeRegistry, Fault
from tests.support.waiting import WAIT_SECONDS, wait_for

ROOT = Path(__file__).resolve().parent.parent


class Daemon:
    def __init__(self, config: Path, *args: str) -> None:
        self.log = config.parent / f"daemon-{time.monotonic_ns()}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run", *args],
            cwd=ROOT, stdout=self.log.open("w"), stderr=subprocess.STDOUT)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return self.proc.wait(timeout=WAIT_SECONDS)

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()


def daemon_config(make_config: Any, sink: HttpSink, ids: list[str], extra: str = "") -> Path:
    return make_config(ids, f"""
[monitor]
schedule = "*/2 * * * * *"
jitter = 0

[notifiers.hook]
type = "webhook"
url = "{sink.url}"
""" + extra)


def checks(config: Path) -> list[Check]:
    store = Store.open(load(config).store)
    try:
        return list(reversed(store.checks.last(100)))
    finally:
        store.close()


def versions(config: Path, nct_id: str) -> list[int]:
    store = Store.open(load(config).store)
    try:
        return [v.number for v in store.versions.history(nct_id)]
    finally:
        store.close()


def pending(config: Path) -> int:
    store = Store.open(load(config).store)
    try:
        return store.outbox.counts().get("pending", 0)
    finally:
        store.close()


def test_scheduled_check_runs_and_sigterm_stops_cleanly(
        registry: FakeRegistry, sink: HttpSink, make_config: Any,
        daemons: list[Daemon]) -> None:
    registry.put(study("NCT01000001"))
    config = daemon_config(make_config, sink, ["NCT01000001"])
    daemon = Daemon(config)
    daemons.append(daemon)
    wait_for(lambda: versions(config, "NCT01000001") == [1], "a scheduled check")
    assert daemon.stop() == 0
    out = daemon.output()
    assert "checked 1 trial with 2 requests: 1 new version" in out
    assert "ctmonitor daemon stopped" in out


def test_a_second_daemon_is_refused_and_a_dead_ones_lock_is_released(
        registry: FakeRegistry, sink: HttpSink, make_config: Any, daemons: list[Daemon]) -> None:
    """Two daemons on one store give one check and one alert per change: the second exits
    4 naming the first; once the first is SIGKILLed, the lock is gone (the kernel or the
    database server ended its session) and a new daemon runs without sending it again."""
    registry.put(study("NCT01000001"))
    config = daemon_config(make_config, sink, ["NCT01000001"])
    first = Daemon(config, "--now")
    daemons.append(first)
    wait_for(lambda: "daemon started" in first.output(), "the first daemon to start")
    second = Daemon(config, "--now")
    daemons.append(second)
    assert second.proc.wait(timeout=WAIT_SECONDS) == 4
    assert second.output() == (f"ctmonitor: store is busy: held by {socket.gethostname()} pid "
                               f"{first.proc.pid}, running as a daemon on it; try again when "
                               "it is done\n")
    registry.put(study("NCT01000001", status="COMPLETED"))
    registry.data_timestamp = "2026-03-13T09:00:04"
    wait_for(lambda: sink.received, "the alert of the change")
    # the kill comes after the outbox recorded it (between the two, the alert would be sent
    # again, as delivery is at least once: that is the fault suite's to test)
    wait_for(lambda: pending(config) == 0, "the delivery to be recorded")
    first.proc.kill()
    first.proc.wait()
    third = Daemon(config, "--now")
    daemons.append(third)
    wait_for(lambda: "checked 1 trial" in third.output(), "the new daemon's check")
    assert third.stop() == 0
    assert versions(config, "NCT01000001") == [1, 2]
    assert [r.body["event"] for r in sink.received] == ["trial.changed"]


def test_a_manual_check_during_a_daemon_check_waits_its_turn(
        registry: FakeRegistry, sink: HttpSink, make_config: Any, daemons: list[Daemon],
        capsys: pytest.CaptureFixture[str]) -> None:
    registry.put(study("NCT01000001"))
    registry.faults.append(Fault("/studies", 200, delay=3.0, body='{"studies": []}'))
    config = daemon_config(make_config, sink, ["NCT01000001"])
    daemon = Daemon(config)
    daemons.append(daemon)
    wait_for(lambda: registry.requests_to("/studies?"), "the daemon's check to be under way")
    assert main(["--config", str(config), "check"]) == 4
    assert "store is busy" in capsys.readouterr().err
    assert daemon.stop() == 0


def test_registry_outage_gives_one_failure_alert_and_one_recovery_alert(
        registry: FakeRegistry, sink: HttpSink, make_config: Any,
        daemons: list[Daemon]) -> None:
    registry.put(study("NCT01000001"))
    registry.faults.append(Fault("/version", 503, times=10**6))
    config = daemon_config(make_config, sink, ["NCT01000001"])
    daemon = Daemon(config)
    daemons.append(daemon)
    wait_for(lambda: sum(c.outcome == "failed" for c in checks(config)) >= 4,
             "four failed checks")
    registry.faults.clear()
    wait_for(lambda: checks(config)[-1].outcome == "ok", "a check after the outage")
    wait_for(lambda: any(r.body.get("event") == "monitor.recovered" for r in sink.received),
             "the recovery alert")
    assert daemon.stop() == 0
    events = [r.body["event"] for r in sink.received]
    assert events.count("monitor.failing") == 1
    assert events.count("monitor.recovered") == 1
    failing = next(r.body for r in sink.received if r.body["event"] == "monitor.failing")
    assert "2 checks in a row failed" in failing["message"]
    assert "HTTP 503" in failing["message"]


def test_sigterm_mid_check_exits_zero_and_leaves_a_store_the_next_check_continues(
        registry: FakeRegistry, sink: HttpSink, make_config: Any,
        daemons: list[Daemon]) -> None:
    for n in range(1, 4):
        registry.put(study(f"NCT0100000{n}"))
    registry.faults.append(Fault("/studies", 200, delay=2.0, body=_page(registry)))
    config = daemon_config(make_config, sink, ["NCT01000001", "NCT01000002", "NCT01000003"])
    daemon = Daemon(config, "--now")
    daemons.append(daemon)
    wait_for(lambda: registry.requests_to("/studies?"), "the check to be under way")
    stop_within_seconds(daemon)
    assert main(["--config", str(config), "check"]) == 0
    for n in range(1, 4):
        assert versions(config, f"NCT0100000{n}") == [1]


def stop_within_seconds(daemon: Daemon) -> None:
    """SIGTERM mid-check: exit 0 within seconds, the check reported as interrupted."""
    started = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - started < 10
    assert "interrupted" in daemon.output()


def _page(registry: FakeRegistry) -> str:
    import json

    return json.dumps({"studies": list(registry.records.values())})


def test_sigkill_during_a_check_then_a_clean_next_check(
        registry: FakeRegistry, sink: HttpSink, make_config: Any,
        daemons: list[Daemon]) -> None:
    for n in range(1, 4):
        registry.put(study(f"NCT0100000{n}"))
    registry.faults.append(Fault("/studies/NCT01000003", 404, delay=2.0))
    registry.records.pop("NCT01000003")
    config = daemon_config(make_config, sink, ["NCT01000001", "NCT01000002", "NCT01000003"])
    daemon = Daemon(config, "--now")
    daemons.append(daemon)
    wait_for(lambda: registry.requests_to("/studies/NCT01000003"), "the check to be midway")
    assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    registry.put(study("NCT01000003"))
    assert main(["--config", str(config), "check"]) == 0
    assert [c.outcome for c in checks(config)] == ["aborted", "ok"]
    for n in range(1, 4):
        assert versions(config, f"NCT0100000{n}") == [1]


def test_staleness_alert_once_per_episode(registry: FakeRegistry, make_config: Any) -> None:
    registry.put(study("NCT01000001"))
    config = make_config(["NCT01000001"], "\n[monitor]\nstale_after_hours = 24\n")
    assert main(["--config", str(config), "check"]) == 0
    settings = load(config)
    store = Store.open(settings.store)
    later = datetime.now(UTC) + timedelta(hours=30)
    assert health.review_staleness(settings, store, later - timedelta(hours=10)) is False
    assert health.review_staleness(settings, store, later) is True
    assert health.review_staleness(settings, store, later + timedelta(hours=5)) is False
    assert [d.kind for d in store.outbox.recent("pending")] == ["monitor.stale"]
    health.review(settings, store, ok=True)
    assert store.get_meta(health.STALE) is None
    store.close()


def test_status_reports_the_daemon_and_the_last_check(
        registry: FakeRegistry, sink: HttpSink, make_config: Any, daemons: list[Daemon],
        capsys: pytest.CaptureFixture[str]) -> None:
    registry.put(study("NCT01000001"))
    config = daemon_config(make_config, sink, ["NCT01000001"])
    daemon = Daemon(config)
    daemons.append(daemon)
    wait_for(lambda: versions(config, "NCT01000001"), "a scheduled check")
    assert main(["--config", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert f"daemon: running ({socket.gethostname()} pid {daemon.proc.pid})" in out
    assert "last check: " in out and "next scheduled check: " in out
    assert daemon.stop() == 0
    main(["--config", str(config), "status", "--json"])
    assert '"daemon": "not running"' in capsys.readouterr().out


def test_sigterm_during_a_long_backoff_still_stops_within_seconds(
        registry: FakeRegistry, sink: HttpSink, make_config: Any,
        daemons: list[Daemon]) -> None:
    registry.put(study("NCT01000001"))
    registry.faults.append(Fault("/version", 503, {"Retry-After": "100"}, times=10))
    config = daemon_config(make_config, sink, ["NCT01000001"])
    daemon = Daemon(config, "--now")
    daemons.append(daemon)
    wait_for(lambda: registry.requests_to("/version"), "the first refused request")
    stop_within_seconds(daemon)


def test_the_daemon_checks_minutes_after_the_registry_refreshes(
        registry: FakeRegistry, sink: HttpSink, make_config: Any,
        daemons: list[Daemon]) -> None:
    """No check is scheduled this year; polling /version finds each refresh."""
    registry.put(study("NCT01000001"))
    config = make_config(["NCT01000001"], f"""
[monitor]
schedule = "0 0 1 1 *"
poll_minutes = 0.02

[notifiers.hook]
type = "webhook"
url = "{sink.url}"
""")
    daemon = Daemon(config)
    daemons.append(daemon)
    wait_for(lambda: len(checks(config)) == 1, "the check after the first poll")
    registry.put(study("NCT01000001", status="TERMINATED"))
    registry.data_timestamp = "2026-03-13T09:00:05"
    refreshed = time.monotonic()
    post = wait_for(lambda: sink.received, "the alert after the refresh")[0]
    assert post.body["changes"][0]["new"] == "TERMINATED"
    assert time.monotonic() - refreshed < WAIT_SECONDS / 2
    assert [c.outcome for c in checks(config)] == ["ok", "ok"]
    assert daemon.stop() == 0
    assert "checking now" in daemon.output()
