"""Results before they are public: the registry's review cycle as the snapshot keeps it
(derivedSection.miscInfoModule.submissionTracking, the rest of derivedSection left out),
its steps as results events, and deadlines that are not overdue while results are reviewed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import load
from snapshots.deadlines import in_review
from snapshots.diff import diff
from snapshots.normalise import normalise
from snapshots.store import Store
from tests.support.builder import changed, study
from tests.support.http_sink import HttpSink
from tests.support.registry import FakeRegistry
from tests.test_deadlines import act
from tests.test_migrations import alembic
from tests.test_results import unposted
from tests.test_results_due import NCT, check_on, deadline_alerts

TRACKING = "derivedSection.miscInfoModule.submissionTracking"
SUBMITTED = "Results submitted 2026-11-20, under the registry's quality-control review"
RETURNED = "Results returned to the sponsor after review (2026-12-15)"


def tracked(record: dict[str, Any], *steps: dict[str, Any], **more: Any) -> dict[str, Any]:
    """The record with submission tracking: one table of dates per submission."""
    return changed(record, TRACKING, {"submissionInfos": list(steps), **more})


def submission(release: str, n: int = 1, **dates: str) -> dict[str, Any]:
    return {"releaseDate": release, "mcpReleaseN": n, **dates}


def said(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e.category, e.severity, e.summary)
            for e in diff(normalise(old).data, normalise(new).data)]


def test_the_snapshot_keeps_the_review_cycle_and_no_other_derived_field() -> None:
    record = tracked(study(), submission("2026-11-20"))
    data = normalise(record).data
    assert data["derivedSection"] == {"miscInfoModule": {"submissionTracking": {
        "submissionInfos": [submission("2026-11-20")]}}}
    assert "derivedSection" not in normalise(study()).data  # versionHolder alone: nothing


@pytest.mark.parametrize(("before", "after", "says"), [
    ((), (submission("2026-11-20"),), SUBMITTED),
    ((submission("2026-11-20"),), (submission("2026-11-20", resetDate="2026-12-15"),),
     RETURNED),
    ((submission("2026-11-20"),), (submission("2026-11-20", unreleaseDate="2026-11-25"),),
     "Results submission withdrawn by the sponsor (2026-11-25)"),
    ((submission("2026-11-20", resetDate="2026-12-15"),),
     (submission("2026-11-20", resetDate="2026-12-15"), submission("2027-01-10", 2)),
     "Results submitted 2027-01-10, under the registry's quality-control review"),
], ids=["submitted", "returned", "withdrawn", "submitted-again"])
def test_each_step_of_submission_tracking_is_a_results_event(
        before: tuple[dict[str, Any], ...], after: tuple[dict[str, Any], ...],
        says: str) -> None:
    built = study(status="COMPLETED")
    old = tracked(built, *before) if before else built
    assert said(old, tracked(built, *after)) == [("results", "notable", says)]


def test_the_cycles_bookkeeping_raises_nothing() -> None:
    built = study(status="COMPLETED")
    old = tracked(built, submission("2026-11-20"))
    for new in (tracked(built, submission("2026-11-20", 2)),  # the release's number
                tracked(built, submission("2026-11-20"), estimatedResultsFirstSubmitDate="2027"),
                tracked(built, submission("2026-11-20"),
                        firstMcpInfo={"postDateStruct": {"date": "2026-12-20"}}),
                changed(old, "derivedSection.miscInfoModule.versionHolder", "2026-12-01")):
        assert said(old, new) == []


def test_a_step_in_both_the_tracking_and_the_unposted_events_is_said_once() -> None:
    built = study(status="COMPLETED")
    old = tracked({**built, "annotationSection": unposted(("RELEASE", "2026-11-20"))},
                  submission("2026-11-20"))
    new = tracked({**built, "annotationSection": unposted(("RELEASE", "2026-11-20"),
                                                          ("RESET", "2026-12-15"))},
                  submission("2026-11-20", resetDate="2026-12-15"))
    assert said(old, new) == [("results", "notable", RETURNED)]


def test_a_submission_is_under_review_until_it_is_returned_or_withdrawn() -> None:
    built = study(status="COMPLETED")
    assert in_review(normalise(tracked(built, submission("2026-11-20"))).data) is not None
    for ended in (submission("2026-11-20", resetDate="2026-11-20"),  # the same day
                  submission("2026-11-20", unreleaseDate="2026-11-22")):
        assert in_review(normalise(tracked(built, ended)).data) is None
    again = tracked(built, submission("2026-11-20", resetDate="2026-12-15"),
                    submission("2027-01-10", 2))
    assert str(in_review(normalise(again).data)) == "2027-01-10"
    public = {**built, "annotationSection": unposted(("RELEASE", "2026-11-20"))}
    assert str(in_review(normalise(public).data)) == "2026-11-20"  # the annotation alone


@pytest.fixture
def config(tmp_path: Path, registry: FakeRegistry, sink: HttpSink) -> Path:
    from tests.conftest import write_config

    registry.put(act())  # primary completion 2026-01-14: results due 2027-01-14
    return write_config(tmp_path, registry.base_url, [NCT],
                        f'[notifiers.hook]\ntype = "webhook"\nurl = "{sink.url}"\n')


def results_alerts(sink: HttpSink) -> list[str]:
    return [c["summary"] for r in sink.received if r.body.get("event") == "trial.changed"
            for c in r.body["changes"] if c["category"] == "results"]


def test_results_under_review_are_never_overdue_and_are_again_once_returned(
        config: Path, registry: FakeRegistry, sink: HttpSink,
        capsys: pytest.CaptureFixture[str]) -> None:
    check_on(config, registry, "2026-11-01")
    check_on(config, registry, "2026-12-20")
    registry.put(tracked(act(), submission("2027-01-10")))
    for day in ("2027-01-11", "2027-02-20", "2027-03-01"):
        check_on(config, registry, day)
    assert results_alerts(sink) == [
        "Results due in 25 days (2027-01-14)",
        "Results submitted 2027-01-10, under the registry's quality-control review"]
    capsys.readouterr()
    assert main(["--config", str(config), "list"]) == 0
    assert "[Results submitted 2027-01-10, under review (due 2027-01-14)]" in (
        capsys.readouterr().out)
    registry.put(tracked(act(), submission("2027-01-10", resetDate="2027-03-05")))
    check_on(config, registry, "2027-03-06")
    assert results_alerts(sink)[2:] == [
        "Results returned to the sponsor after review (2027-03-05)",
        "Results overdue: due 2027-01-14, 51 days late"]
    assert [a[0] for a in deadline_alerts(sink)] == ["resultsDueSoon", "resultsOverdue"]


def test_a_store_from_before_the_review_cycle_learns_it_without_an_alert(
        config: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    """The versions an older ctmonitor stored lack the cycle the record had all along: the
    first check after `store migrate` stores it silently; its next step is an alert."""
    check_on(config, registry, "2026-11-01")  # stored without a cycle, as the old code did
    store_url = load(config).store
    alembic(store_url, ("downgrade", "0007"))
    assert main(["--config", str(config), "store", "migrate"]) == 0
    registry.put(tracked(act(), submission("2026-11-20")))
    check_on(config, registry, "2026-11-21")
    assert results_alerts(sink) == []
    store = Store.open(store_url)
    try:
        latest = store.versions.get(NCT)
        assert latest is not None and latest.number == 2 and latest.events == []
    finally:
        store.close()
    registry.put(tracked(act(), submission("2026-11-20", resetDate="2026-12-15")))
    check_on(config, registry, "2026-12-16")
    assert results_alerts(sink) == [RETURNED, "Results due in 29 days (2027-01-14)"]


def test_a_store_made_since_alerts_the_first_submission(
        config: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    check_on(config, registry, "2026-11-01")
    registry.put(tracked(act(), submission("2026-11-20")))
    check_on(config, registry, "2026-11-21")
    assert results_alerts(sink) == [SUBMITTED]
