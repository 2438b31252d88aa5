"""Change events: every pair in ../shared/ctgov/pairs, built records for what they lack,
and properties that must hold for any record."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from deepdiff import DeepDiff
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapshots.diff import changed_paths, compare_records
from snapshots.errors import RecordError
from snapshots.events import DEFAULT_FLOOR, wanted
from snapshots.keyed import keyed
from snapshots.normalise import KEPT_SECTIONS
from tests.conftest import CTGOV, load, pair
from tests.support.builder import changed, study

pytestmark = pytest.mark.one_backend  # no store: the SQLite run is enough

DEFAULT_CATEGORIES = ("status", "dates", "results", "enrollment")
S = "protocolSection.statusModule"


def by_field(events: list) -> dict[str, Any]:
    return {e.field: e for e in events}


# -- the real pairs ---------------------------------------------------------------------------
@pytest.mark.parametrize("nct_id", ["NCT05911841", "NCT02552212", "NCT05329766",
                                    "NCT05923281", "NCT05923112"])
def test_noise_pairs_give_no_alerting_event(nct_id: str) -> None:
    events = compare_records(*pair(nct_id))
    assert wanted(events, DEFAULT_CATEGORIES, DEFAULT_FLOOR) == []
    assert events == []


def test_terminated_pair() -> None:
    events = by_field(compare_records(*pair("NCT05935098")))
    status = events["overallStatus"]
    assert (status.category, status.old, status.new, status.severity) == (
        "status", "ACTIVE_NOT_RECRUITING", "TERMINATED", "critical")
    assert status.summary.startswith("Overall status: Active, not recruiting -> Terminated "
                                     "(why stopped: This decision was conducted")
    assert status.path == f"{S}.overallStatus"
    assert events["whyStopped"].old is None and events["whyStopped"].severity == "critical"
    pcd = events["primaryCompletionDate"]
    assert (pcd.old, pcd.new, pcd.days, pcd.category) == ("2027-03-31", "2026-01-27", -428,
                                                          "dates")
    assert pcd.summary == ("Primary completion: 2027-03-31 (estimated) -> 2026-01-27 (actual), "
                           "428 days earlier")
    assert pcd.to_dict()["days"] == -428
    kind = events["primaryCompletionDateType"]
    assert (kind.old, kind.new, kind.severity) == ("ESTIMATED", "ACTUAL", "notable")
    assert events["completionDate"].days == -428
    assert events["completionDateType"].new == "ACTUAL"
    count = events["enrollmentCount"]
    assert (count.old, count.new, count.category, count.severity) == (263, 99, "enrollment",
                                                                       "notable")
    assert count.summary == "Enrollment: 263 -> 99 (-62%)"
    assert events["enrollmentType"].new == "ACTUAL"
    assert events["fullName"].category == "identification"
    assert not {"lastUpdateSubmitDate", "statusVerifiedDate", "date"} & set(events)


def test_registry_sets_unknown_without_any_update_date_moving() -> None:
    events = by_field(compare_records(*pair("NCT05294952")))
    assert set(events) == {"overallStatus", "lastKnownStatus"}
    assert (events["overallStatus"].old, events["overallStatus"].new) == ("NOT_YET_RECRUITING",
                                                                          "UNKNOWN")
    assert events["overallStatus"].severity == "notable"
    assert (events["lastKnownStatus"].old, events["lastKnownStatus"].new) == (
        None, "NOT_YET_RECRUITING")


def test_suspended_pair() -> None:
    events = compare_records(*pair("NCT07011550"))
    fields = by_field(events)
    assert fields["overallStatus"].new == "SUSPENDED"
    assert fields["overallStatus"].severity == "critical"
    assert fields["whyStopped"].new == "FDA"
    assert fields["startDate"].days == -107
    assert fields["startDateType"].new == "ACTUAL"
    assert (fields["enrollmentCount"].old, fields["enrollmentCount"].new) == (40, 7)
    site = [e for e in events if e.category == "locations"]
    assert len(site) == 1 and site[0].path == (
        "protocolSection.contactsLocationsModule.locations"
        "[MD Anderson Cancer Center|Houston|United States].status")
    assert (site[0].old, site[0].new) == ("RECRUITING", None)
    contacts = [e for e in events if e.category == "contacts"]
    assert len(contacts) == 3 and all(e.new is None for e in contacts)


def test_arms_rewritten_and_dates_slipped_pair() -> None:
    events = compare_records(*pair("NCT05414032"))
    fields = by_field(events)
    assert fields["primaryCompletionDate"].days == 427
    assert fields["primaryCompletionDate"].summary.endswith("427 days later")
    assert fields["completionDate"].days == 731
    assert (fields["enrollmentCount"].old, fields["enrollmentCount"].new) == (200, 102)
    arms = [e for e in events if e.category == "arms"]
    added = {e.new["label"] for e in arms if e.field == "armGroups" and e.old is None}
    removed = {e.old["label"] for e in arms if e.field == "armGroups" and e.new is None}
    assert added == {"MRD positive and/or radiological/clinical progression Cohort"}
    assert removed == {"MRD positive Cohort - Arm A (treatment)",
                       "MRD positive Cohort - Arm B (observation)"}
    assert all(e.severity == "notable" for e in arms)
    collaborator = [e for e in events if e.category == "sponsors"]
    assert [e.new["name"] for e in collaborator] == ["Personalis Inc."]
    assert {"briefSummary", "detailedDescription"} <= set(fields)


def test_every_pair_in_shared_is_covered() -> None:
    if not CTGOV.exists():
        pytest.skip("../shared/ctgov is absent")
    names = {p.name.split("_")[0] for p in (CTGOV / "pairs").glob("*.json")}
    covered = {"NCT05911841", "NCT02552212", "NCT05329766", "NCT05923281", "NCT05923112",
               "NCT05935098", "NCT05294952", "NCT07011550", "NCT05414032"}
    assert names <= covered


# -- built records ----------------------------------------------------------------------------
def events_between(old: dict, new: dict) -> dict[str, Any]:
    return by_field(compare_records(old, new))


def test_a_date_that_only_gains_precision_is_not_a_slip() -> None:
    old = study(primary_completion=("2025-04", "ESTIMATED"))
    new = study(primary_completion=("2025-04-11", "ESTIMATED"))
    event = events_between(old, new)["primaryCompletionDate"]
    assert event.days == 10 and event.severity == "minor"
    assert "earlier" not in event.summary and "later" not in event.summary
    assert "more precisely" in event.summary


def test_month_only_dates_count_as_the_first() -> None:
    old = study(completion=("2027-09", "ESTIMATED"))
    new = study(completion=("2027-11-15", "ESTIMATED"))
    assert events_between(old, new)["completionDate"].days == 75


def test_a_date_without_type_gaining_one() -> None:
    old = study(start=("2024-01", None))
    new = study(start=("2024-01", "ACTUAL"))
    events = events_between(old, new)
    assert set(events) == {"startDateType"}
    assert (events["startDateType"].old, events["startDateType"].new) == (None, "ACTUAL")


def test_small_date_move_is_minor_and_large_is_notable() -> None:
    base = study(primary_completion=("2027-03-31", "ESTIMATED"))
    small = study(primary_completion=("2027-04-20", "ESTIMATED"))
    large = study(primary_completion=("2027-05-01", "ESTIMATED"))
    assert events_between(base, small)["primaryCompletionDate"].severity == "minor"
    assert events_between(base, large)["primaryCompletionDate"].severity == "notable"


def test_results_posted() -> None:
    old = study(status="COMPLETED")
    new = changed(old, "hasResults", True)
    new = changed(new, f"{S}.resultsFirstPostDateStruct", {"date": "2026-04-01",
                                                           "type": "ESTIMATED"})
    new = changed(new, f"{S}.resultsFirstSubmitDate", "2026-03-01")
    new["resultsSection"] = load("studies", "study_NCT02369484.json")["resultsSection"]
    events = compare_records(old, new)
    fields = by_field(events)
    assert fields["hasResults"].summary == "Results posted"
    assert fields["hasResults"].severity == "notable"
    assert fields["resultsFirstPostDate"].new == "2026-04-01"
    assert {e.category for e in events} == {"results"}
    assert len(events) <= 4


def test_results_module_changes_are_summarised_per_module() -> None:
    record = load("studies", "study_NCT02369484.json")
    new = copy.deepcopy(record)
    outcome = new["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"][0]
    outcome["description"] = (outcome.get("description") or "") + " Corrected."
    events = compare_records(record, new)
    assert [e.summary for e in events] == ["Outcome measure results changed"]
    assert events[0].category == "results"


def test_enrollment_small_change_is_minor() -> None:
    event = events_between(study(enrollment=(100, "ESTIMATED")),
                           study(enrollment=(110, "ESTIMATED")))["enrollmentCount"]
    assert event.severity == "minor" and event.summary == "Enrollment: 100 -> 110 (+10%)"


def test_why_stopped_changed_is_notable_and_appearing_is_critical() -> None:
    a = study(status="TERMINATED")
    b = study(status="TERMINATED", whyStopped="Poor accrual")
    c = study(status="TERMINATED", whyStopped="Sponsor decision")
    assert events_between(a, b)["whyStopped"].severity == "critical"
    assert events_between(b, c)["whyStopped"].severity == "notable"
    assert events_between(c, a)["whyStopped"].new is None


def test_site_status_change_is_its_own_event() -> None:
    old = study()
    new = copy.deepcopy(old)
    new["protocolSection"]["contactsLocationsModule"]["locations"][0]["status"] = "COMPLETED"
    events = compare_records(old, new)
    assert len(events) == 1
    assert events[0].path == ("protocolSection.contactsLocationsModule.locations"
                              "[Mayo Clinic|Rochester|United States].status")
    assert events[0].summary == ("Site status (Mayo Clinic, Rochester, United States): "
                                 "Recruiting -> Completed")


def test_rewritten_primary_outcome_is_critical() -> None:
    old = study()
    new = changed(old, "protocolSection.outcomesModule.primaryOutcomes",
                  [{"measure": "Progression-free survival", "timeFrame": "2 years"}])
    events = compare_records(old, new)
    assert {e.severity for e in events} == {"critical"}
    assert {e.category for e in events} == {"outcomes"}


def test_phase_and_lead_sponsor_are_notable() -> None:
    old = study()
    new = changed(old, "protocolSection.designModule.phases", ["PHASE2", "PHASE3"])
    new = changed(new, "protocolSection.sponsorCollaboratorsModule.leadSponsor",
                  {"name": "New Pharma", "class": "INDUSTRY"})
    events = by_field(compare_records(old, new))
    assert events["phases"].severity == "notable"
    assert events["phases"].summary == "Phase: added Phase 3"
    assert events["leadSponsor"].severity == "notable"


def test_eligibility_has_a_short_text_diff() -> None:
    old = study()
    new = changed(old, "protocolSection.eligibilityModule.eligibilityCriteria",
                  "Inclusion Criteria:\n\n* Adults aged 18 to 75")
    event = by_field(compare_records(old, new))["eligibilityCriteria"]
    assert event.category == "eligibility"
    assert event.summary == 'Eligibility criteria changed: added "aged 18 to 75"'


def test_hostile_text_is_kept_as_data() -> None:
    old = study()
    new = changed(old, "protocolSection.identificationModule.briefTitle",
                  "<script>alert(1)</script>")
    event = by_field(compare_records(old, new))["briefTitle"]
    assert event.new == "<script>alert(1)</script>"


@pytest.mark.parametrize("document", [[], {"studies": []}, {"x": 1}])
def test_compare_refuses_what_is_not_a_study_record(document: object) -> None:
    with pytest.raises(RecordError):
        compare_records(document, study())


# -- properties -------------------------------------------------------------------------------
def real_records() -> list[dict]:
    if not CTGOV.exists():
        return [study()]
    return [load("studies", p.name) for p in sorted((CTGOV / "studies").glob("study_NCT*.json"))]


RECORDS = real_records()


def shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        return {k: shuffled(v, rng) for k, v in value.items()}
    if isinstance(value, list):
        items = [shuffled(v, rng) for v in value]
        rng.shuffle(items)
        return items
    return value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(RECORDS) - 1), seed=st.integers(0, 2**32))
def test_shuffling_any_list_gives_no_event(index: int, seed: int) -> None:
    record = RECORDS[index]
    assert compare_records(record, shuffled(record, random.Random(seed))) == []


@settings(max_examples=30, deadline=None)
@given(index=st.integers(0, len(RECORDS) - 1))
def test_a_record_against_itself_gives_no_event(index: int) -> None:
    assert compare_records(RECORDS[index], copy.deepcopy(RECORDS[index])) == []


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                      st.text(max_size=20), st.sampled_from(["2025-04", "2025", "2025-04-11",
                                                             "ACTUAL", "ESTIMATED"]))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
PATHS = [f"{S}.overallStatus", f"{S}.startDateStruct", f"{S}.primaryCompletionDateStruct.date",
         f"{S}.primaryCompletionDateStruct.type", f"{S}.completionDateStruct",
         "protocolSection.designModule.enrollmentInfo.count", "protocolSection.designModule",
         "protocolSection.contactsLocationsModule.locations", "protocolSection.outcomesModule",
         "protocolSection.armsInterventionsModule", "protocolSection.descriptionModule",
         "protocolSection.eligibilityModule", "hasResults", "resultsSection",
         "annotationSection", "documentSection", "derivedSection.miscInfoModule",
         "protocolSection.modelPredictions", f"{S}.whyStopped"]


@settings(max_examples=150, deadline=None)
@given(old_path=st.sampled_from(PATHS), old_value=json_value,
       new_path=st.sampled_from(PATHS), new_value=json_value)
def test_odd_records_are_refused_in_one_line_or_never_crash_the_diff(
        old_path: str, old_value: Any, new_path: str, new_value: Any) -> None:
    old = changed(study(), old_path, old_value)
    new = changed(study(), new_path, new_value)
    try:
        events = compare_records(old, new) + compare_records(new, old)
    except RecordError as exc:  # the edge (snapshots.record) refused one of them
        assert str(exc).startswith("record unreadable: ") and "\n" not in str(exc)
        return
    for event in events:
        assert event.summary and event.severity in ("minor", "notable", "critical")
        event.to_dict()


@pytest.mark.parametrize("module", ["statusModule", "designModule", "contactsLocationsModule",
                                    "armsInterventionsModule", "outcomesModule"])
def test_a_module_appearing_or_vanishing(module: str) -> None:
    full = study()
    bare = changed(full, f"protocolSection.{module}", None)
    assert compare_records(bare, full) and compare_records(full, bare)


def refreshed(record: dict, rng: random.Random) -> dict:
    """The next weekday's copy of a record when the sponsor changed nothing: what the
    registry rewrites on its own (API-NOTES.md section 5), with every list reordered."""
    new = shuffled(copy.deepcopy(record), rng)
    status = new["protocolSection"]["statusModule"]
    status["statusVerifiedDate"] = "2026-03"
    status["lastUpdateSubmitDate"] = "2026-03-11"
    status["lastUpdatePostDateStruct"] = {"date": "2026-03-13", "type": "ACTUAL"}
    for key in ("studyFirstPostDateStruct", "resultsFirstPostDateStruct",
                "dispFirstPostDateStruct"):
        if key in status:
            status[key]["type"] = "ACTUAL"
    derived = new.setdefault("derivedSection", {})
    derived.setdefault("miscInfoModule", {})["versionHolder"] = "2026-03-13"
    derived["miscInfoModule"]["modelPredictions"] = {"bmiLimits": {"minBmi": 18.5}}
    return new


@pytest.mark.parametrize("index", range(len(RECORDS)))
def test_a_bookkeeping_refresh_of_any_real_record_alerts_nobody(index: int) -> None:
    record = RECORDS[index]
    assert compare_records(record, refreshed(record, random.Random(index))) == []


# -- the walk that finds what differs (DeepDiff as the reference) -----------------------------
PAIRS = ["NCT02552212", "NCT05294952", "NCT05329766", "NCT05414032", "NCT05911841",
         "NCT05923112", "NCT05923281", "NCT05935098", "NCT07011550"]


def walk_and_deepdiff(old: dict, new: dict) -> tuple[set, set]:
    """The paths where two records' keyed snapshots differ: by the walk, and by DeepDiff
    told to go down to each value (its default stops at a dict that shares few keys). Values
    Python holds equal (0 and False, 1 and 1.0) are no change to the walk, nor to the event
    they would make, while DeepDiff calls them a type change; those are left out. The
    records are projected as normalise does, past the edge that would refuse odd shapes:
    the walk must agree with DeepDiff on any tree."""
    a, b = (keyed({k: r[k] for k in KEPT_SECTIONS if k in r}) for r in (old, new))
    found = DeepDiff(a, b, view="tree", threshold_to_diff_deeper=0)
    expected = {tuple(str(p) for p in level.path(output_format="list"))
                for levels in found.values() for level in levels if level.t1 != level.t2}
    return set(changed_paths(a, b)), expected


@pytest.mark.parametrize("nct_id", PAIRS)
def test_the_walk_finds_what_deepdiff_finds_in_real_pairs(nct_id: str) -> None:
    walked, expected = walk_and_deepdiff(*pair(nct_id))
    assert walked == expected


@settings(max_examples=150, deadline=None)
@given(index=st.integers(0, len(RECORDS) - 1), path=st.sampled_from(PATHS), value=json_value,
       seed=st.integers(0, 2**32))
def test_the_walk_finds_what_deepdiff_finds_in_odd_records(index: int, path: str, value: Any,
                                                           seed: int) -> None:
    old = RECORDS[index]
    new = shuffled(changed(old, path, value), random.Random(seed))
    for a, b in ((old, new), (new, old)):
        walked, expected = walk_and_deepdiff(a, b)
        assert walked == expected
