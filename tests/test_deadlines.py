"""Results due and overdue under FDAAA 801 and its Final Rule, on the registry's clock."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from snapshots.deadlines import Deadline, deadline, notices
from snapshots.normalise import normalise
from tests.support.builder import changed, study

pytestmark = pytest.mark.one_backend  # no store: the SQLite run is enough

S = "protocolSection.statusModule"
D = "protocolSection.designModule"


def act(**status: Any) -> dict[str, Any]:
    """An applicable clinical trial: a drug under FDA oversight, started after the rule."""
    record = study("NCT09000001", status="COMPLETED", start=("2023-02-01", "ACTUAL"),
                   primary_completion=("2026-01-14", "ACTUAL"),
                   completion=("2026-03", "ACTUAL"), **status)
    return changed(record, "protocolSection.oversightModule", {"isFdaRegulatedDrug": True})


def due_of(record: dict[str, Any]) -> Deadline | None:
    return deadline(normalise(record).data)


def test_results_are_due_a_year_after_primary_completion() -> None:
    found = due_of(act())
    assert found == Deadline(date(2027, 1, 14), probable=False, submitted=None)


@pytest.mark.parametrize(("edit", "due"), [
    (lambda r: changed(r, f"{S}.primaryCompletionDateStruct", None), date(2027, 3, 31)),
    (lambda r: changed(r, f"{S}.primaryCompletionDateStruct", {"date": "2026-02"}),
     date(2027, 2, 28)),
    (lambda r: changed(r, f"{S}.dispFirstSubmitDate", "2026-12-01"), date(2029, 1, 14)),
    (lambda r: changed(r, f"{S}.primaryCompletionDateStruct", {"date": "2024-02-29"}),
     date(2025, 2, 28)),
], ids=["no primary completion: completion, month's last day", "month only: its last day",
        "certificate of delay: three years", "29 February"])
def test_the_due_date_follows_the_rule(edit: Any, due: date) -> None:
    found = due_of(edit(act()))
    assert found is not None and found.due == due


@pytest.mark.parametrize("edit", [
    lambda r: changed(r, "protocolSection.oversightModule", {"isFdaRegulatedDrug": False}),
    lambda r: changed(r, f"{D}.phases", ["PHASE1"]),
    lambda r: changed(r, f"{D}.phases", ["EARLY_PHASE1"]),
    lambda r: changed(r, f"{D}.designInfo", {"primaryPurpose": "DEVICE_FEASIBILITY"}),
    lambda r: changed(r, f"{D}.studyType", "OBSERVATIONAL"),
    lambda r: changed(r, f"{S}.overallStatus", "WITHDRAWN"),
    lambda r: changed(r, f"{S}.startDateStruct", None),
], ids=["not FDA-regulated", "phase 1 alone", "early phase 1", "device feasibility",
        "observational", "withdrawn", "no start date"])
def test_trials_the_law_does_not_cover_have_no_deadline(edit: Any) -> None:
    assert due_of(edit(act())) is None


def test_a_phase_1_2_trial_is_covered() -> None:
    assert due_of(changed(act(), f"{D}.phases", ["PHASE1", "PHASE2"])) is not None


def old_trial(**edits: Any) -> dict[str, Any]:
    """Started before the rule, completing after it, without the FDA flags of newer records."""
    return study("NCT09000002", status="COMPLETED", start=("2015-06", "ACTUAL"),
                 primary_completion=("2018-05-31", "ACTUAL"))


def test_a_probable_applicable_trial_needs_a_covered_intervention_and_a_us_site() -> None:
    found = due_of(old_trial())
    assert found == Deadline(date(2019, 5, 31), probable=True, submitted=None)
    behavioural = changed(old_trial(), "protocolSection.armsInterventionsModule.interventions",
                          [{"type": "BEHAVIORAL", "name": "Talk"}])
    assert due_of(behavioural) is None
    abroad = changed(old_trial(), "protocolSection.contactsLocationsModule.locations",
                     [{"facility": "Charité", "city": "Berlin", "country": "Germany"}])
    assert due_of(abroad) is None
    territory = changed(abroad, "protocolSection.contactsLocationsModule.locations",
                        [{"facility": "Hospital", "city": "San Juan", "country": "Puerto Rico"}])
    assert due_of(territory) is not None
    done_before = changed(old_trial(), f"{S}.primaryCompletionDateStruct",
                          {"date": "2016-12-01"})
    assert due_of(done_before) is None


@pytest.mark.parametrize(("today", "expected"), [
    (date(2026, 12, 14), None),
    (date(2026, 12, 15), ("resultsDueSoon", -30, "Results due in 30 days (2027-01-14)")),
    (date(2027, 1, 13), ("resultsDueSoon", -1, "Results due in 1 day (2027-01-14)")),
    (date(2027, 2, 13), None),  # within the 30 days' grace
    (date(2027, 2, 14), ("resultsOverdue", 31, "Results overdue: due 2027-01-14, 31 days late")),
], ids=["31 days before", "30 days before", "the day before", "in the grace", "after it"])
def test_due_soon_and_overdue_on_the_registrys_day(today: date,
                                                   expected: tuple[str, int, str] | None) -> None:
    found = due_of(act())
    assert found is not None
    assert [(n.field, n.days, n.summary) for n in notices(found.due, found.submitted, today)] == (
        [expected] if expected else [])


def test_a_submission_is_never_overdue_and_late_is_said_once_it_comes() -> None:
    under_review = due_of(act(resultsFirstSubmitDate="2027-02-28"))
    assert under_review is not None
    [late] = notices(under_review.due, under_review.submitted, date(2027, 6, 1))
    assert (late.field, late.days) == ("resultsReportedLate", 45)
    assert late.summary == "Results reported 45 days late (due 2027-01-14, submitted 2027-02-28)"
    on_time = due_of(act(resultsFirstSubmitDate="2027-01-10"))
    assert on_time is not None and notices(on_time.due, on_time.submitted, date(2028, 1, 1)) == []
