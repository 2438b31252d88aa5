"""When a trial's results are due under US law, and whether they are late: FDAAA 801 and its
Final Rule (42 CFR Part 11), as the FDAAA TrialsTracker applies them to registry records.

An applicable clinical trial is interventional, studies an FDA-regulated drug or device, is
not phase 1 alone nor a device feasibility study, started on or after 2017-01-18 (the
rule's effective date) and is not withdrawn. One that started earlier and completes after
that day is a probable applicable trial when it has a covered intervention and a US site.
Results are due a year after the primary completion date (the completion date where there
is none; a month-only date counts as the month's last day), three years after where a
certificate of delay was filed. This is how the law reads for US-regulated trials; the
registry's own applicability decisions are not public, so it cannot be certain.

"Today" is the registry's date (snapshots never read the machine's clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from snapshots.wording import parse_date, plural

EFFECTIVE = date(2017, 1, 18)
SOON_DAYS = 30  # "due in N days" from this many days before
GRACE_DAYS = 30  # overdue only after this many days past due
COVERED = frozenset({"DRUG", "DEVICE", "BIOLOGICAL", "GENETIC", "RADIATION",
                     "COMBINATION_PRODUCT", "DIAGNOSTIC_TEST"})
US = frozenset({"United States", "Puerto Rico", "Guam", "American Samoa",
                "Northern Mariana Islands", "Virgin Islands (U.S.)", "U.S. Virgin Islands"})
PHASE_ONE = frozenset({"PHASE1", "EARLY_PHASE1"})
DUE_SOON, OVERDUE, REPORTED_LATE = "resultsDueSoon", "resultsOverdue", "resultsReportedLate"


@dataclass(frozen=True)
class Deadline:
    """A trial's results deadline, and the day its results were first submitted."""

    due: date
    probable: bool  # started before the rule: a probable applicable trial
    submitted: date | None
    in_review: date | None = None  # a submission under the registry's review (in_review)


@dataclass(frozen=True)
class Notice:
    """A deadline event as it stands on a day: its field, days (until due: negative; or
    late) and wording."""

    field: str
    due: date
    days: int
    summary: str


def deadline(data: dict[str, Any]) -> Deadline | None:
    """The results deadline of a snapshot's trial, or None when the law sets it none."""
    protocol = data.get("protocolSection", {})
    status = protocol.get("statusModule", {})
    design = protocol.get("designModule", {})
    if (design.get("studyType") != "INTERVENTIONAL" or status.get("overallStatus") == "WITHDRAWN"
            or _phase_one_alone(design.get("phases"))
            or design.get("designInfo", {}).get("primaryPurpose") == "DEVICE_FEASIBILITY"):
        return None
    start = parse_date(status.get("startDateStruct", {}).get("date"))
    end = (parse_date(status.get("primaryCompletionDateStruct", {}).get("date"), last=True)
           or parse_date(status.get("completionDateStruct", {}).get("date"), last=True))
    if start is None or end is None:
        return None
    probable = start < EFFECTIVE
    if probable and not (end > EFFECTIVE and _covered(protocol) and _us_site(protocol)):
        return None
    oversight = protocol.get("oversightModule", {})
    if not probable and not (oversight.get("isFdaRegulatedDrug")
                             or oversight.get("isFdaRegulatedDevice")):
        return None
    years = 3 if status.get("dispFirstSubmitDate") else 1  # a certificate of delay
    return Deadline(add_years(end, years), probable,
                    parse_date(status.get("resultsFirstSubmitDate")), in_review(data))


REVIEW_STEPS = {"RELEASE": 0, "RESET": 1, "UNRELEASE": 1}  # on one day, a return comes after
TRACKED_STEPS = (("releaseDate", "RELEASE"), ("resetDate", "RESET"),
                 ("unreleaseDate", "UNRELEASE"))


def in_review(data: dict[str, Any]) -> date | None:
    """The day of the results submission under the registry's quality-control review: the
    latest step of the review cycle (derivedSection's submission tracking, the annotation's
    unposted events) when it is a submission, not a return or a withdrawal."""
    tracking = data.get("derivedSection", {}).get("miscInfoModule", {}).get(
        "submissionTracking", {})
    steps = [(day, kind) for info in tracking.get("submissionInfos") or []
             for key, kind in TRACKED_STEPS if (day := parse_date(info.get(key))) is not None]
    unposted = data.get("annotationSection", {}).get("annotationModule", {}).get(
        "unpostedAnnotation", {})
    steps += [(day, event.get("type")) for event in unposted.get("unpostedEvents") or []
              if event.get("type") in REVIEW_STEPS
              and (day := parse_date(event.get("date"))) is not None]
    if not steps:
        return None
    day, kind = max(steps, key=lambda step: (step[0], REVIEW_STEPS[step[1]]))
    return day if kind == "RELEASE" else None


def notices(due: date, submitted: date | None, today: date,
            reviewed: date | None = None) -> list[Notice]:
    """The deadline events that stand on today: due soon, overdue (after the grace days),
    or reported late; none while a submission is under review (since reviewed)."""
    if submitted is not None:
        late = (submitted - due).days
        return [Notice(REPORTED_LATE, due, late, f"Results reported {plural(late, 'day')} "
                       f"late (due {due}, submitted {submitted})")] if late > 0 else []
    if reviewed is not None:
        return []
    until = (due - today).days
    if 0 < until <= SOON_DAYS:
        return [Notice(DUE_SOON, due, -until, f"Results due in {plural(until, 'day')} ({due})")]
    if -until > GRACE_DAYS:
        return [Notice(OVERDUE, due, -until,
                       f"Results overdue: due {due}, {plural(-until, 'day')} late")]
    return []


def add_years(day: date, years: int) -> date:
    """The same day years later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _phase_one_alone(phases: Any) -> bool:
    return bool(phases) and set(phases) <= PHASE_ONE


def _covered(protocol: dict[str, Any]) -> bool:
    interventions = protocol.get("armsInterventionsModule", {}).get("interventions", [])
    return any(i.get("type") in COVERED for i in interventions)


def _us_site(protocol: dict[str, Any]) -> bool:
    locations = protocol.get("contactsLocationsModule", {}).get("locations", [])
    return any(site.get("country") in US for site in locations)
