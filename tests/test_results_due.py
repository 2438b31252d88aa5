"""Results deadlines raised by real checks on the registry's clock, each once, also on days
the record does not change; and where list and status show them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import load
from snapshots.store import Store
from tests.conftest import write_config
from tests.support.builder import changed
from tests.support.http_sink import HttpSink
from tests.support.pages import serving
from tests.support.registry import FakeRegistry
from tests.test_deadlines import act

NCT = "NCT09000001"


def deadline_alerts(sink: HttpSink) -> list[tuple[str, str, Any, str]]:
    return [(c["field"], c["severity"], c["days"], c["summary"])
            for r in sink.received if r.body.get("event") == "trial.changed"
            for c in r.body["changes"] if c["path"] == "results deadline"]


def check_on(config: Path, registry: FakeRegistry, day: str) -> None:
    registry.data_timestamp = f"{day}T09:00:05"
    assert main(["--config", str(config), "check"]) == 0


@pytest.fixture
def config(tmp_path: Path, registry: FakeRegistry, sink: HttpSink) -> Path:
    registry.put(act())  # primary completion 2026-01-14: results due 2027-01-14
    return write_config(tmp_path, registry.base_url, [NCT],
                        f'[notifiers.hook]\ntype = "webhook"\nurl = "{sink.url}"\n')


def test_due_soon_then_overdue_each_once_on_days_the_record_does_not_change(
        config: Path, registry: FakeRegistry, sink: HttpSink,
        capsys: pytest.CaptureFixture[str]) -> None:
    for day in ("2026-11-01", "2026-12-14", "2026-12-15", "2026-12-16", "2027-02-13"):
        check_on(config, registry, day)
    assert deadline_alerts(sink) == [
        ("resultsDueSoon", "notable", -30, "Results due in 30 days (2027-01-14)")]
    for day in ("2027-02-14", "2027-03-20"):
        check_on(config, registry, day)
    assert deadline_alerts(sink)[1:] == [
        ("resultsOverdue", "critical", 31, "Results overdue: due 2027-01-14, 31 days late")]
    capsys.readouterr()
    assert main(["--config", str(config), "list"]) == 0
    assert "[Results overdue: due 2027-01-14, 65 days late]" in capsys.readouterr().out
    assert main(["--config", str(config), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["results_overdue"] == [f"{NCT}: due 2027-01-14, 65 days late"]


def test_results_submitted_late_are_said_once_and_are_never_overdue_again(
        config: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    check_on(config, registry, "2026-11-01")  # the baseline
    check_on(config, registry, "2027-02-20")
    registry.put(act(resultsFirstSubmitDate="2027-02-28"))
    for day in ("2027-03-01", "2027-03-02", "2027-06-01"):
        check_on(config, registry, day)
    assert [a[0] for a in deadline_alerts(sink)] == ["resultsOverdue", "resultsReportedLate"]
    assert deadline_alerts(sink)[1][2:] == (
        45, "Results reported 45 days late (due 2027-01-14, submitted 2027-02-28)")


def test_a_store_from_before_deadlines_learns_them_at_the_next_check(
        config: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    check_on(config, registry, "2026-11-01")
    store = Store.open(load(config).store)
    try:
        with store.transaction() as conn:
            conn.exec_driver_sql("UPDATE trials SET results_due = NULL")
    finally:
        store.close()
    check_on(config, registry, "2027-03-01")  # the record is unchanged
    assert [a[0] for a in deadline_alerts(sink)] == ["resultsOverdue"]


def test_a_baseline_alerts_nothing_and_its_standing_deadline_never_comes_later(
        config: Path, registry: FakeRegistry, sink: HttpSink,
        capsys: pytest.CaptureFixture[str]) -> None:
    for day in ("2027-03-01", "2027-03-02"):
        check_on(config, registry, day)
    assert deadline_alerts(sink) == []
    assert main(["--config", str(config), "list"]) == 0
    assert "[Results overdue: due 2027-01-14, 47 days late]" in capsys.readouterr().out


def test_a_channel_without_results_gets_no_deadline(
        tmp_path: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    registry.put(changed(act(), "protocolSection.statusModule.overallStatus", "COMPLETED"))
    config = write_config(tmp_path, registry.base_url, [NCT],
                          f'[notifiers.hook]\ntype = "webhook"\nurl = "{sink.url}"\n'
                          'categories = ["status"]\n')
    check_on(config, registry, "2026-11-01")
    check_on(config, registry, "2027-03-01")
    assert deadline_alerts(sink) == []


def test_the_pages_show_the_due_date_and_the_days_late(
        config: Path, registry: FakeRegistry) -> None:
    check_on(config, registry, "2027-03-01")
    settings = load(config)
    with serving(settings) as client:
        for path in ("/", f"/trials/{NCT}"):
            assert "Results overdue: due 2027-01-14, 46 days late" in client.get(path).text
