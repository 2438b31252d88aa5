"""Outcome changes judged as trained raters judge them (snapshots.outcomes): on the rated
steps of ../shared/ctgov/outcome-ratings, and on built records for each kind of change."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bench.outcome_figures import figures, read
from monitor.config import DEFAULT_CATEGORIES
from snapshots.diff import compare_records
from snapshots.events import DEFAULT_FLOOR, Floor, from_dict, wanted
from snapshots.outcome_history import primary_history
from snapshots.outcomes import compare
from tests.conftest import shared
from tests.support.builder import study

pytestmark = pytest.mark.one_backend  # no store: the SQLite run is enough

ORR = {"measure": "Objective response rate (ORR)",
       "timeFrame": "up to approximately 59 months",
       "description": "Percentage of participants with a complete or partial response per "
                      "RECIST 1.1 as assessed by the investigator."}
RFS = {"measure": "Relapse-free survival", "timeFrame": "5 years"}
OS = {"measure": "Overall survival", "timeFrame": "5 years"}


def outcomes(primary: list[dict[str, Any]], secondary: list[dict[str, Any]] | None = None
             ) -> dict[str, Any]:
    record = study()
    record["protocolSection"]["outcomesModule"] = {
        "primaryOutcomes": primary, **({"secondaryOutcomes": secondary} if secondary else {})}
    return record


def events(old: dict[str, Any], new: dict[str, Any]) -> list[Any]:
    return [e for e in compare_records(old, new) if e.category == "outcomes"]


def only(old: dict[str, Any], new: dict[str, Any]) -> Any:
    found = events(old, new)
    assert len(found) == 1, [e.summary for e in found]
    return found[0]


# -- the rated steps --------------------------------------------------------------------------
def test_the_rated_steps_meet_the_goals() -> None:
    """False alarms <= 20% of the steps rated no change, major changes >= 85% critical, any
    change >= 80% notable or above, no event where the primary texts are identical."""
    result = figures(read(shared("outcome-ratings", "dev.jsonl")))
    print("\n".join(result.lines()))
    assert result.false_alarms[1] == 79 and result.major_found[1] == 40
    assert result.meets_goals(), result.lines()


# -- each kind, worded ------------------------------------------------------------------------
def test_a_time_frame_tweak_is_notable_and_says_from_what_to_what() -> None:
    new = dict(ORR, timeFrame="up to approximately 58 months")
    event = only(outcomes([ORR]), outcomes([new]))
    assert (event.field, event.change, event.severity) == ("primaryOutcome", "timing", "notable")
    assert event.summary == ("Primary outcome time frame (Objective response rate (ORR)): "
                             "up to approximately 59 months -> up to approximately 58 months")
    assert event.old == ORR and event.new == new


def test_a_primary_outcome_moved_to_the_secondary_list_is_critical() -> None:
    event = only(outcomes([OS, RFS]), outcomes([OS], [RFS]))
    assert (event.change, event.severity) == ("moved_to_secondary", "critical")
    assert event.summary == ('Primary outcome dropped: "Relapse-free survival" '
                             "(kept as a secondary outcome)")


def test_a_secondary_outcome_made_primary_is_critical() -> None:
    event = only(outcomes([OS], [RFS]), outcomes([OS, RFS]))
    assert (event.change, event.severity) == ("moved_to_primary", "critical")
    assert event.summary == 'New primary outcome: "Relapse-free survival" (was a secondary outcome)'


def test_a_new_primary_outcome_names_the_one_it_replaces() -> None:
    gait = {"measure": "Gait score", "timeFrame": "3 weeks after surgery"}
    axial = {"measure": "Axial score", "timeFrame": "3 weeks after surgery"}
    event = only(outcomes([gait]), outcomes([axial]))
    assert (event.change, event.severity) == ("added", "critical")
    assert event.summary == 'New primary outcome: "Axial score" (replaces "Gait score")'
    assert event.old == gait and event.new == axial


def test_a_switch_between_survival_end_points_is_a_new_primary_outcome() -> None:
    pfs = {"measure": "Progression-free survival by blinded independent central review",
           "timeFrame": "up to 5 years"}
    overall = {"measure": "Overall survival by independent central review",
               "timeFrame": "up to 5 years"}
    event = only(outcomes([pfs]), outcomes([overall]))
    assert (event.change, event.severity) == ("added", "critical")
    assert event.summary.endswith('(replaces "Progression-free survival by blinded '
                                  'independent central review")')


def test_a_dropped_and_an_added_primary_outcome() -> None:
    assert only(outcomes([OS, RFS]), outcomes([OS])).summary == (
        'Primary outcome dropped: "Relapse-free survival"')
    added = only(outcomes([OS]), outcomes([OS, RFS]))
    assert added.change == "added"
    assert added.summary == 'New primary outcome: "Relapse-free survival"'


@pytest.mark.parametrize("new", [
    {"measure": "- overall survival", "timeFrame": "5 years"},  # a bullet, case
    {"measure": "**Overall Survival**", "timeFrame": "five years"},  # markdown, a number word
    {"measure": "Overall survival", "timeFrame": "5 years."},
])
def test_a_reformatted_outcome_is_a_minor_rewording(new: dict[str, str]) -> None:
    event = only(outcomes([OS]), outcomes([new]))
    assert (event.change, event.severity) == ("reworded", "minor")


def test_a_time_frame_moved_into_its_own_field_is_no_timing_change() -> None:
    old = {"measure": "Kidney graft function 6 weeks after transplantation"}
    new = {"measure": "Kidney graft function", "timeFrame": "6 weeks after transplantation"}
    event = only(outcomes([old]), outcomes([new]))
    assert (event.change, event.severity) == ("reworded", "minor")


def test_an_added_time_frame_and_a_new_definition_are_notable() -> None:
    old = {"measure": "Migraine headache frequency"}
    timed = only(outcomes([old]), outcomes([dict(old, timeFrame="12 months")]))
    assert (timed.change, timed.severity) == ("timing", "notable")
    assert timed.summary.endswith(": 12 months (was not given)")
    defined = {"measure": "Time to the first occurrence of microalbuminuria defined as "
                          "excretion of greater than 35 mg albumin/g urine creatinine"}
    measured = only(outcomes([{"measure": "Time to the first occurrence of microalbuminuria"}]),
                    outcomes([defined]))
    assert (measured.change, measured.severity) == ("measurement", "notable")


def test_secondary_outcomes_are_one_step_lower() -> None:
    qol = {"measure": "Quality of life (EORTC QLQ-C30)", "timeFrame": "1 year"}
    added = only(outcomes([OS]), outcomes([OS], [qol]))
    assert (added.field, added.change, added.severity) == ("secondaryOutcome", "added", "notable")
    timing = only(outcomes([OS], [qol]), outcomes([OS], [dict(qol, timeFrame="2 years")]))
    assert (timing.change, timing.severity) == ("timing", "minor")


def test_a_split_outcome_is_visible_and_not_a_new_outcome() -> None:
    both = {"measure": "Full clinical remission and GFR loss of 15 ml/min from baseline"}
    parts = [{"measure": "Full clinical remission"},
             {"measure": "GFR loss of 15 ml/min from baseline"}]
    found = events(outcomes([both]), outcomes(parts))
    assert not [e for e in found if e.severity == "critical"], [e.summary for e in found]
    assert any("split out of" in e.summary for e in found)


def test_the_order_of_the_lists_never_matters() -> None:
    listed = [OS, RFS, ORR, dict(ORR, measure="ORR by central review")]
    assert compare({"primaryOutcomes": listed}, {"primaryOutcomes": listed[::-1]}) == []


def test_odd_values_in_outcome_lists_are_skipped_not_fatal() -> None:
    old = {"primaryOutcomes": [OS, "not an outcome", {"measure": 7, "timeFrame": None}]}
    new = {"primaryOutcomes": [OS, {"measure": ["x"]}], "secondaryOutcomes": {"a": 1}}
    assert all(c.kind == "primary" for c in compare(old, new))
    assert compare("junk", None) == []


# -- what alerts, and the event's JSON --------------------------------------------------------
def test_only_major_primary_outcome_changes_alert_by_default() -> None:
    old = outcomes([ORR, RFS], [OS])
    new = copy.deepcopy(old)
    module = new["protocolSection"]["outcomesModule"]
    module["primaryOutcomes"] = [dict(ORR, timeFrame="up to approximately 58 months")]
    module["secondaryOutcomes"] = [OS, RFS]
    found = events(old, new)
    assert {e.change for e in found} == {"timing", "moved_to_secondary"}
    told = wanted(found, DEFAULT_CATEGORIES, DEFAULT_FLOOR)
    assert [e.change for e in told] == ["moved_to_secondary"]
    everything = wanted(found, DEFAULT_CATEGORIES, Floor("minor"))
    assert len(everything) == 2


def test_the_event_json_carries_the_kind_of_change() -> None:
    event = only(outcomes([OS, RFS]), outcomes([OS]))
    data = event.to_dict()
    assert data["change"] == "dropped" and data["field"] == "primaryOutcome"
    assert data["path"] == "protocolSection.outcomesModule.primaryOutcomes[Relapse-free survival]"
    assert data["old"] == RFS and data["new"] is None
    assert from_dict(data) == event
    assert "change" not in next(iter(compare_records(
        study(), study(status="TERMINATED")))).to_dict()


# -- each primary outcome through the versions ------------------------------------------------
def version(number: int, day: str, primary: list[dict[str, Any]],
            secondary: list[dict[str, Any]] | None = None) -> tuple[int, str, dict[str, Any]]:
    record = outcomes(primary, secondary)  # started 2024-01-15, primary completion 2027-03-31
    return number, day, record


def test_the_history_follows_each_primary_outcome_and_marks_late_changes() -> None:
    gait = {"measure": "Gait score", "timeFrame": "3 weeks"}
    axial = {"measure": "Axial score", "timeFrame": "3 weeks"}
    tracks = primary_history([
        version(1, "2023-11-03", [OS, gait]),
        version(2, "2023-12-01", [OS, gait]),  # no outcome changed: no step
        version(3, "2024-06-01", [dict(OS, timeFrame="6 years",
                                       description="Death from any cause"), gait]),
        version(4, "2027-05-02", [dict(OS, timeFrame="6 years",
                                       description="Death from any cause"), axial]),
    ])
    assert [(t.title, t.current, t.switched) for t in tracks] == [
        ("Overall survival", True, True), ("Axial score", True, True),
        ("Gait score", False, True)]
    survival, new, old = tracks
    assert [(s.version, s.change, s.after_start, s.after_primary_completion)
            for s in survival.steps] == [(1, "appeared", False, False),
                                         (3, "timing", True, False)]
    assert [(s.version, s.change, s.after_primary_completion) for s in new.steps] == [
        (4, "added", True)]
    assert [s.change for s in old.steps] == ["appeared", "added"]  # left: replaced
    assert old.steps[-1].summary == 'New primary outcome: "Axial score" (replaces "Gait score")'


def test_the_history_of_a_split_and_of_a_move() -> None:
    both = {"measure": "Full clinical remission and GFR loss of 15 ml/min from baseline"}
    parts = [{"measure": "Full clinical remission"},
             {"measure": "GFR loss of 15 ml/min from baseline"}]
    tracks = primary_history([version(1, "2023-11-03", [both]),
                              version(2, "2024-03-01", parts),
                              version(3, "2024-04-01", parts[:1], parts[1:])])
    assert [(t.title, t.current) for t in tracks] == [  # titles as they stand last
        ("Full clinical remission", True), ("GFR loss of 15 ml/min from baseline", False)]
    part, whole = tracks  # the whole went on as its closer part, the other split out of it
    assert [(s.version, s.change) for s in part.steps] == [(2, "reworded")]
    assert part.steps[0].summary.startswith("Primary outcome split out of")
    assert [s.change for s in whole.steps] == ["appeared", "reworded", "moved_to_secondary"]


def test_the_history_survives_odd_versions() -> None:
    assert primary_history([(1, "2024-01-01", {}), (2, "bad date", {"protocolSection": []}),
                            (3, "2024-03-01", outcomes([OS]))])[0].steps[0].change == "added"
