"""The table that maps record paths to a category, a label, a severity and a wording.

The longest pattern that matches a prefix of a changed path wins ("*" matches any one
element, such as a list item's identity). A unit rule gathers every change below it into
one event; any other rule makes an event per changed value. A rule with no category is
registry bookkeeping and never makes an event.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from snapshots import wording as w
from snapshots.results import updated_summary

STOPPED = frozenset({"TERMINATED", "SUSPENDED", "WITHDRAWN"})
DATE_LABELS = {"start": "Start", "primaryCompletion": "Primary completion",
               "completion": "Completion"}
NOTABLE_DAYS = 30
NOTABLE_ENROLLMENT_SHARE = 0.20
RESULTS_MODULES = {
    "participantFlowModule": "Participant flow results",
    "baselineCharacteristicsModule": "Baseline characteristics results",
    "outcomeMeasuresModule": "Outcome measure results",
    "adverseEventsModule": "Adverse event results",
    "moreInfoModule": "Results point of contact and limitations",
}


@dataclass(frozen=True)
class Change:
    """What changed under one unit path: values in record form, None where absent."""

    where: str
    old: Any
    new: Any
    context: str
    old_record: dict[str, Any]
    new_record: dict[str, Any]

    def status(self, side: str, key: str) -> Any:
        record = self.old_record if side == "old" else self.new_record
        return record.get("protocolSection", {}).get("statusModule", {}).get(key)


Wording = Callable[[Change, str], str]


@dataclass(frozen=True)
class Rule:
    pattern: tuple[str, ...]
    category: str | None
    label: str = ""
    field: str = ""
    unit: bool = False
    severity: str | Callable[[Change], str] = "minor"
    summary: Wording | None = None
    days: bool = False

    def severity_of(self, change: Change) -> str:
        return self.severity(change) if callable(self.severity) else self.severity


def generic(change: Change, label: str) -> str:
    """"Label (item): old -> new", "Label: added X", or a short text diff."""
    head = f"{label}{change.context}"
    old, new = change.old, change.new
    scalar = not isinstance(old if new is None else new, dict | list)
    if old is None:
        return (f"{head}: {w.show(new)} (was not given)" if scalar
                else f"{head}: added {w.show(new)}")
    if new is None:
        return (f"{head}: no longer given (was {w.show(old)})" if scalar
                else f"{head}: removed {w.show(old)}")
    if isinstance(old, str) and isinstance(new, str) and max(len(old), len(new)) > w.TEXT_LIMIT:
        return f"{head} changed: {w.text_change(old, new)}"
    if isinstance(old, list) and isinstance(new, list):
        return f"{head}: {set_change(old, new)}"
    if isinstance(old, dict) and isinstance(new, dict):
        keys = [w.label_of(k).lower() for k in {**old, **new} if old.get(k) != new.get(k)]
        return f"{head} changed ({w.describe(new)}): {', '.join(keys)}"
    return f"{head}: {w.show(old)} -> {w.show(new)}"


def text_diff(change: Change, label: str) -> str:
    """Free text: the first few word-level edits rather than both whole texts."""
    if isinstance(change.old, str) and isinstance(change.new, str):
        return f"{label}{change.context} changed: {w.text_change(change.old, change.new)}"
    return generic(change, label)


def set_change(old: list[Any], new: list[Any]) -> str:
    gone = [w.show(v) for v in old if v not in new]
    came = [w.show(v) for v in new if v not in old]
    parts = ([f"added {', '.join(came)}"] if came else []) + (
        [f"removed {', '.join(gone)}"] if gone else [])
    return "; ".join(parts) or f"{w.show(old)} -> {w.show(new)}"


# -- status ---------------------------------------------------------------------------------
def overall_status(change: Change, label: str) -> str:
    text = generic(change, label)
    why = change.status("new", "whyStopped")
    if isinstance(change.new, str) and change.new in STOPPED and why:
        text += f" (why stopped: {w.clip(why)})"
    return text


def overall_severity(change: Change) -> str:
    return "critical" if isinstance(change.new, str) and change.new in STOPPED else "notable"


def why_stopped(change: Change, label: str) -> str:
    if change.new is None:
        return f'{label}: removed (was "{w.clip(str(change.old))}")'
    return f'{label}: "{w.clip(str(change.new), 200)}"'


def why_stopped_severity(change: Change) -> str:
    return "critical" if change.old is None and change.new else "notable"


# -- dates ----------------------------------------------------------------------------------
def date_text(change: Change, side: str) -> str:
    value = change.old if side == "old" else change.new
    struct = change.where.rsplit(".", 1)[0].rsplit(".", 1)[-1]
    kind = change.status(side, struct) or {}
    kind = kind.get("type") if isinstance(kind, dict) else None
    return f"{value} ({kind.lower()})" if isinstance(kind, str) and kind else str(value)


def date_summary(change: Change, label: str) -> str:
    if change.old is None:
        return f"{label}: set to {date_text(change, 'new')}"
    if change.new is None:
        return f"{label}: removed (was {date_text(change, 'old')})"
    text = f"{label}: {date_text(change, 'old')} -> {date_text(change, 'new')}"
    if w.gains_precision(change.old, change.new):
        return text + ", same period given more precisely"
    days = w.days_between(change.old, change.new)
    if days:
        return text + f", {w.plural(abs(days), 'day')} " + ("later" if days > 0 else "earlier")
    return text


def date_severity(change: Change) -> str:
    if w.gains_precision(change.old, change.new):
        return "minor"
    days = w.days_between(change.old, change.new)
    return "notable" if days is not None and abs(days) >= NOTABLE_DAYS else "minor"


def date_type_summary(change: Change, label: str) -> str:
    base = label.removesuffix(" date type")
    date = change.status("new", change.where.split(".")[-2])
    when = date.get("date", "date unknown") if isinstance(date, dict) else "date unknown"
    if change.new == "ACTUAL":
        return f"{base} confirmed as actual ({when})"
    return generic(change, label)


def date_type_severity(change: Change) -> str:
    return "notable" if change.new == "ACTUAL" else "minor"


# -- results and enrollment -----------------------------------------------------------------
def has_results(change: Change, label: str) -> str:
    if change.new:
        return "Results posted"
    return "Results no longer shown" if change.old else generic(change, label)


def first_posted(change: Change, label: str) -> str:
    return f"{label} on {change.new}" if change.old is None and change.new else generic(
        change, label)


def results_module(change: Change, label: str) -> str:
    if change.old is None:
        return f"{label} posted"
    return f"{label} removed" if change.new is None else f"{label} changed"


def outcome_results(change: Change, label: str) -> str:
    """Outcome measure results changed after posting: what moved, by measure."""
    if change.old is not None and change.new is not None:
        moved = updated_summary(change.old, change.new)
        if moved:
            return moved
    return results_module(change, label)


def updated_severity(change: Change) -> str:
    """Results that change after posting are news; their first posting is the hasResults
    event's (this one only lists the module)."""
    return "notable" if change.old is not None and change.new is not None else "minor"


def enrollment(change: Change, label: str) -> str:
    text = generic(change, label)
    if isinstance(change.old, int) and isinstance(change.new, int) and change.old:
        share = (change.new - change.old) / change.old
        text += f" ({share:+.0%})"
    return text


def enrollment_severity(change: Change) -> str:
    old, new = change.old, change.new
    if not isinstance(old, int) or not isinstance(new, int) or not old:
        return "minor"
    return "notable" if abs(new - old) / old >= NOTABLE_ENROLLMENT_SHARE else "minor"


REVIEW_CYCLE = {  # annotationSection's unposted events: results between submission and posting
    "RELEASE": "Results submitted {date}, under the registry's quality-control review",
    "RESET": "Results returned to the sponsor after review ({date})",
    "UNRELEASE": "Results submission withdrawn by the sponsor ({date})",
}


def review_step(kind: str) -> Wording:
    """A step of the review cycle as submission tracking records it (a date per step)."""
    def summary(change: Change, label: str) -> str:
        if change.new is None:
            return f"{label} no longer listed (was {w.show(change.old)})"
        return REVIEW_CYCLE[kind].format(date=change.new)
    return summary


def unposted_event(change: Change, label: str) -> str:
    item = change.new or change.old or {}
    when = item.get("date") or "date unknown"
    if change.new is not None and item.get("type") in REVIEW_CYCLE:
        return REVIEW_CYCLE[item["type"]].format(date=when)
    verb = "recorded" if change.new is not None else "no longer listed"
    return f"{label} {verb}: {w.show(item.get('type'))} on {when}"


def _rule(pattern: str, category: str | None, label: str = "", **kw: Any) -> Rule:
    return Rule(tuple(pattern.split(".")), category, label, **kw)


S = "protocolSection.statusModule"
TRACKING = "derivedSection.miscInfoModule.submissionTracking"
BOOKKEEPING = ("statusVerifiedDate", "lastUpdateSubmitDate", "lastUpdatePostDateStruct",
               "studyFirstSubmitDate", "studyFirstSubmitQcDate", "studyFirstPostDateStruct",
               "resultsFirstPostDateStruct.type", "dispFirstPostDateStruct.type")

RULES: list[Rule] = [
    _rule("*", "other"),
    _rule("protocolSection.*", "other"),
    # status
    _rule(S, "other"),
    _rule(f"{S}.overallStatus", "status", "Overall status", field="overallStatus",
          severity=overall_severity, summary=overall_status),
    _rule(f"{S}.lastKnownStatus", "status", "Last known status", field="lastKnownStatus",
          severity="notable"),
    _rule(f"{S}.whyStopped", "status", "Why stopped", field="whyStopped",
          severity=why_stopped_severity, summary=why_stopped),
    _rule(f"{S}.expandedAccessInfo.statusForNctId", "status", "Expanded access status",
          severity="notable"),
    _rule(f"{S}.expandedAccessInfo.nctId", "status", "Expanded access record"),
    *[_rule(f"{S}.{b}", None) for b in BOOKKEEPING],
    # dates
    *[_rule(f"{S}.{key}DateStruct.date", "dates", label, field=f"{key}Date",
            severity=date_severity, summary=date_summary, days=True)
      for key, label in DATE_LABELS.items()],
    *[_rule(f"{S}.{key}DateStruct.type", "dates", f"{label} date type", field=f"{key}DateType",
            severity=date_type_severity, summary=date_type_summary)
      for key, label in DATE_LABELS.items()],
    # results
    _rule("hasResults", "results", "Results", field="hasResults", severity="notable",
          summary=has_results),
    _rule(f"{S}.resultsFirstPostDateStruct.date", "results", "Results first posted",
          field="resultsFirstPostDate", severity="notable", summary=first_posted),
    *[_rule(f"{S}.{key}", "results", label) for key, label in (
        ("resultsFirstSubmitDate", "Results first submitted"),
        ("resultsFirstSubmitQcDate", "Results passed quality control"),
        ("resultsWaived", "Results waived"),
        ("dispFirstSubmitDate", "Certification or delay request submitted"),
        ("dispFirstSubmitQcDate", "Certification or delay request passed quality control"),
        ("dispFirstPostDateStruct", "Certification or delay request posted"))],
    _rule("resultsSection", "results", "Results section", unit=True, summary=results_module),
    *[_rule(f"resultsSection.{key}", "results", label, unit=True, summary=results_module)
      for key, label in RESULTS_MODULES.items() if key != "outcomeMeasuresModule"],
    _rule("resultsSection.outcomeMeasuresModule", "results", "Outcome measure results",
          unit=True, severity=updated_severity, summary=outcome_results),
    _rule("annotationSection", "results"),
    _rule("annotationSection.annotationModule.unpostedAnnotation.unpostedResponsibleParty",
          None),  # the party the protocol already names: bookkeeping of the review cycle
    _rule("annotationSection.annotationModule.unpostedAnnotation.unpostedEvents.*", "results",
          "Results submission event", unit=True, severity="notable", summary=unposted_event),
    _rule("derivedSection", None),  # the registry's bookkeeping, but for the review cycle
    *[_rule(f"{TRACKING}.submissionInfos.*.{key}", "results", label, severity="notable",
            summary=review_step(kind)) for key, kind, label in (
        ("releaseDate", "RELEASE", "Results submission"),
        ("resetDate", "RESET", "Results return after review"),
        ("unreleaseDate", "UNRELEASE", "Results withdrawal"))],
    # enrollment and design
    _rule("protocolSection.designModule", "design"),
    _rule("protocolSection.designModule.phases", "design", "Phase", unit=True,
          severity="notable"),
    _rule("protocolSection.designModule.enrollmentInfo.count", "enrollment", "Enrollment",
          field="enrollmentCount", severity=enrollment_severity, summary=enrollment),
    _rule("protocolSection.designModule.enrollmentInfo.type", "enrollment", "Enrollment type",
          field="enrollmentType"),
    # arms, outcomes, eligibility
    _rule("protocolSection.armsInterventionsModule", "arms", severity="notable"),
    _rule("protocolSection.armsInterventionsModule.armGroups.*", "arms", "Arm group",
          unit=True, severity="notable"),
    _rule("protocolSection.armsInterventionsModule.interventions.*", "arms", "Intervention",
          unit=True, severity="notable"),
    _rule("protocolSection.outcomesModule", "outcomes"),
    _rule("protocolSection.outcomesModule.primaryOutcomes.*", "outcomes",
          "Primary outcome", unit=True, severity="critical"),
    _rule("protocolSection.outcomesModule.secondaryOutcomes.*", "outcomes",
          "Secondary outcome", unit=True),
    _rule("protocolSection.outcomesModule.otherOutcomes.*", "outcomes", "Other outcome",
          unit=True),
    _rule("protocolSection.eligibilityModule", "eligibility"),
    _rule("protocolSection.eligibilityModule.eligibilityCriteria", "eligibility",
          "Eligibility criteria", summary=text_diff),
    _rule("protocolSection.eligibilityModule.stdAges", "eligibility", "Age groups", unit=True),
    # locations and contacts
    _rule("protocolSection.contactsLocationsModule", "contacts"),
    _rule("protocolSection.contactsLocationsModule.locations.*", "locations", "Site",
          unit=True),
    _rule("protocolSection.contactsLocationsModule.locations.*.status", "locations",
          "Site status"),
    _rule("protocolSection.contactsLocationsModule.locations.*.contacts.*", "contacts",
          "Site contact", unit=True),
    _rule("protocolSection.contactsLocationsModule.centralContacts.*", "contacts",
          "Central contact", unit=True),
    _rule("protocolSection.contactsLocationsModule.overallOfficials.*", "contacts",
          "Overall official", unit=True),
    # sponsors and identification
    _rule("protocolSection.sponsorCollaboratorsModule", "sponsors"),
    _rule("protocolSection.sponsorCollaboratorsModule.leadSponsor", "sponsors",
          "Lead sponsor", unit=True, severity="notable"),
    _rule("protocolSection.sponsorCollaboratorsModule.collaborators.*", "sponsors",
          "Collaborator", unit=True),
    _rule("protocolSection.sponsorCollaboratorsModule.responsibleParty", "sponsors",
          "Responsible party", unit=True),
    _rule("protocolSection.identificationModule", "identification"),
    _rule("protocolSection.identificationModule.organization.fullName", "identification",
          "Organization"),
    _rule("protocolSection.identificationModule.nctIdAliases", "identification",
          "NCT id aliases", unit=True),
    _rule("protocolSection.identificationModule.secondaryIdInfos.*", "identification",
          "Secondary id", unit=True),
    # description, references, documents
    _rule("protocolSection.descriptionModule", "description", summary=text_diff),
    _rule("protocolSection.conditionsModule", "description"),
    _rule("protocolSection.conditionsModule.conditions", "description", "Conditions",
          unit=True),
    _rule("protocolSection.conditionsModule.keywords", "description", "Keywords", unit=True),
    _rule("protocolSection.referencesModule", "references"),
    _rule("protocolSection.referencesModule.references.*", "references", "Reference",
          unit=True),
    _rule("protocolSection.referencesModule.seeAlsoLinks.*", "references", "Link", unit=True),
    _rule("protocolSection.referencesModule.availIpds.*", "references",
          "Available IPD/information", unit=True),
    _rule("documentSection", "documents"),
    _rule("documentSection.largeDocumentModule.largeDocs.*", "documents", "Document",
          unit=True),
]

UNIT_PATTERNS = [r.pattern for r in RULES if r.unit]


def matches(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    return len(pattern) <= len(path) and all(
        p == "*" or p == e for p, e in zip(pattern, path, strict=False))


@functools.lru_cache(maxsize=4096)  # the same paths change in trial after trial
def rule_for(path: tuple[str, ...]) -> Rule:
    """The most specific rule for a changed path (the longest matching pattern)."""
    best = RULES[0]
    for rule in RULES:
        if len(rule.pattern) >= len(best.pattern) and matches(rule.pattern, path):
            best = rule
    return best


def is_unit(path: tuple[str, ...]) -> bool:
    return any(len(p) == len(path) and matches(p, path) for p in UNIT_PATTERNS)
