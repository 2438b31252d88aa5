"""`ctmonitor export`: one row per stored version, for analyses of registry histories.

The CSV has the columns the R package cthist writes (clinicaltrials_gov_download(), in
its order and with its value forms: dates in full with a "day" or "month" precision,
statuses as the registry's pages word them, JSON for lists), so an analysis written for
cthist runs on a store of ours; the columns cthist lacks follow. JSON lines carry the same
keys with JSON values. Rows are written as they are read, a trial's versions a few at a
time.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from monitor.chart import version_date
from snapshots.versions import Version
from snapshots.wording import UNPRINTABLE, enum_text, parse_date

CTHIST_COLUMNS = (
    "nctid", "version_number", "total_versions", "version_date", "overall_status",
    "study_start_date", "study_start_date_precision", "primary_completion_date",
    "primary_completion_date_precision", "primary_completion_date_type", "enrolment",
    "enrolment_type", "min_age", "max_age", "sex", "accepts_healthy_volunteers", "criteria",
    "outcome_measures", "overall_contacts", "central_contacts", "responsible_party",
    "lead_sponsor", "collaborators", "locations", "whystopped", "results_posted",
    "references", "orgstudyid", "secondaryids",
)
OWN_COLUMNS = (
    "study_start_date_type", "completion_date", "completion_date_precision",
    "completion_date_type", "primary_outcomes", "secondary_outcomes", "source",
)
COLUMNS = CTHIST_COLUMNS + OWN_COLUMNS
FORMATS = ("csv", "jsonl")
SECTIONS = {"primaryOutcomes": "Primary Outcome Measures",
            "secondaryOutcomes": "Secondary Outcome Measures",
            "otherOutcomes": "Other Outcome Measures"}


def row(version: Version, total: int) -> dict[str, Any]:
    """A version's key fields under COLUMNS, as JSON values (None where not given)."""
    data = version.data or {}
    protocol = _dict(data.get("protocolSection"))
    status, design, eligibility, contacts, sponsors, ident, outcomes, references = (
        _dict(protocol.get(f"{name}Module")) for name in (
            "status", "design", "eligibility", "contactsLocations", "sponsorCollaborators",
            "identification", "outcomes", "references"))
    enrolment = _dict(design.get("enrollmentInfo"))
    start, start_precision, start_type = _date(status, "startDateStruct")
    pc, pc_precision, pc_type = _date(status, "primaryCompletionDateStruct")
    done, done_precision, done_type = _date(status, "completionDateStruct")
    healthy = eligibility.get("healthyVolunteers")
    return {
        "nctid": version.nct_id, "version_number": version.number, "total_versions": total,
        "version_date": version_date(version), "overall_status": _enum(status.get("overallStatus")),
        "study_start_date": start, "study_start_date_precision": start_precision,
        "primary_completion_date": pc, "primary_completion_date_precision": pc_precision,
        "primary_completion_date_type": pc_type, "enrolment": enrolment.get("count"),
        "enrolment_type": _enum(enrolment.get("type")),
        "min_age": eligibility.get("minimumAge"), "max_age": eligibility.get("maximumAge"),
        "sex": _enum(eligibility.get("sex")),
        "accepts_healthy_volunteers": None if not isinstance(healthy, bool)
        else ("Yes" if healthy else "No"),
        "criteria": eligibility.get("eligibilityCriteria"),
        "outcome_measures": _measures(outcomes),
        "overall_contacts": contacts.get("overallOfficials"),
        "central_contacts": contacts.get("centralContacts"),
        "responsible_party": sponsors.get("responsibleParty"),
        "lead_sponsor": sponsors.get("leadSponsor"),
        "collaborators": sponsors.get("collaborators"), "locations": contacts.get("locations"),
        "whystopped": status.get("whyStopped"),
        "results_posted": data.get("hasResults") if isinstance(data.get("hasResults"), bool)
        else None,
        "references": references.get("references"),
        "orgstudyid": _dict(ident.get("orgStudyIdInfo")).get("id"),
        "secondaryids": ident.get("secondaryIdInfos"),
        "study_start_date_type": start_type, "completion_date": done,
        "completion_date_precision": done_precision, "completion_date_type": done_type,
        "primary_outcomes": outcomes.get("primaryOutcomes"),
        "secondary_outcomes": outcomes.get("secondaryOutcomes"), "source": version.source,
    }


def write(rows: Iterator[dict[str, Any]], form: str, out: TextIO, scrub: bool = False) -> None:
    """Write rows to out as CSV (a header first) or JSON lines. With scrub (a terminal),
    a record's control characters are left out of the CSV's cells."""
    if form == "jsonl":
        for found in rows:
            out.write(json.dumps(found, ensure_ascii=False) + "\n")  # escapes every control
        return
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for found in rows:
        cells = [_cell(found[c]) for c in COLUMNS]
        writer.writerow([UNPRINTABLE.sub("", c) for c in cells] if scrub else cells)


def _cell(value: Any) -> str:
    """A CSV cell as cthist writes one: NA for a missing value, TRUE/FALSE, JSON for
    lists and tables."""
    if value is None:
        return "NA"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _enum(value: Any) -> str | None:
    """"ACTIVE_NOT_RECRUITING" -> "Active, not recruiting", as the registry's pages say."""
    return enum_text(value) if isinstance(value, str) else None


def _date(status: dict[str, Any], struct: str) -> tuple[str | None, str | None, str | None]:
    """(YYYY-MM-DD, "day" or "month", "Actual" or "Estimated"); a month-only date is its
    first day, as cthist gives it."""
    value = _dict(status.get(struct))
    text, kind = value.get("date"), _enum(value.get("type"))
    day = parse_date(text)
    if day is None:
        return None, None, kind
    return day.isoformat(), "month" if len(str(text)) == 7 else "day", kind


def _measures(module: dict[str, Any]) -> list[dict[str, str]] | None:
    """The outcomes as cthist's outcome_measures: section, label and the history page's
    one text per outcome (measure, "[ Time Frame: ... ]", description)."""
    found = []
    for key, section in SECTIONS.items():
        items = module.get(key)
        for n, item in enumerate(items if isinstance(items, list) else [], start=1):
            if not isinstance(item, dict):
                continue
            text = str(item.get("measure") or "")
            if item.get("timeFrame"):
                text += f" [ Time Frame: {item['timeFrame']} ]"
            if item.get("description"):
                text += f"\n\n{item['description']}"
            found.append({"section": section, "label": f"{n}.", "content": text})
    return found or None
