"""The change event: one thing that changed in a trial, as scripts and people read it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from snapshots.wording import clip, enum_text

CATEGORIES = (
    "status", "dates", "results", "enrollment", "design", "eligibility", "outcomes", "arms",
    "locations", "contacts", "sponsors", "identification", "description", "references",
    "documents", "other",
)
SEVERITIES = ("minor", "notable", "critical")  # least severe first
WATCH_CATEGORY = "new"  # a search watch's alert (trials newly matching), not a change event
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
DATE_FIELDS = frozenset({"startDate", "primaryCompletionDate", "completionDate"})
DEADLINE_FIELDS = frozenset({"resultsDueSoon", "resultsOverdue", "resultsReportedLate"})
MAX_VALUE_CHARS = 4000
SUMMARY_EVENTS = 2
SUMMARY_CHARS = 110


@dataclass(frozen=True)
class ChangeEvent:
    """A change event as INTERFACE.md defines it; days only for the key dates."""

    nct_id: str
    category: str
    field: str
    path: str
    old: Any
    new: Any
    severity: str
    summary: str
    days: int | None = None
    results: dict[str, Any] | None = None  # what results posted found (snapshots.results)
    change: str | None = None  # an outcome event's kind of change (snapshots.outcomes)

    def to_dict(self) -> dict[str, Any]:
        data = {"nct_id": self.nct_id, "category": self.category, "field": self.field,
                "path": self.path, "old": _bounded(self.old), "new": _bounded(self.new),
                "severity": self.severity, "summary": self.summary}
        if self.field in DATE_FIELDS or self.field in DEADLINE_FIELDS:
            data["days"] = self.days
        if self.results is not None:
            data["results"] = self.results
        if self.change is not None:
            data["change"] = self.change
        return data

    @property
    def rank(self) -> int:
        return SEVERITY_RANK[self.severity]


def _bounded(value: Any) -> Any:
    """Values too large for an alert (a whole results module) are replaced by a note."""
    if isinstance(value, dict | list):
        size = len(json.dumps(value, ensure_ascii=False))
        if size > MAX_VALUE_CHARS:
            return BOUNDED.format(size)
    return value


BOUNDED = "<{} characters, see the stored snapshot>"
_BOUNDED = re.compile(r"<\d+ characters, see the stored snapshot>")


def is_whole(event: dict[str, Any]) -> bool:
    """A stored event whose old and new values were kept whole (not cut for size)."""
    return not any(isinstance(v, str) and _BOUNDED.fullmatch(v)
                   for v in (event["old"], event["new"]))


def from_dict(data: dict[str, Any]) -> ChangeEvent:
    """A stored event (ChangeEvent.to_dict) back as a ChangeEvent."""
    return ChangeEvent(data["nct_id"], data["category"], data["field"], data["path"],
                       data["old"], data["new"], data["severity"], data["summary"],
                       data.get("days"), data.get("results"), data.get("change"))


@dataclass(frozen=True)
class Floor:
    """The least severity an event needs to be told, for each category: min_severity in
    the config, a severity for every category or a table of them ("default" for the
    rest)."""

    default: str = "minor"
    categories: tuple[tuple[str, str], ...] = ()

    def rank(self, category: str) -> int:
        return SEVERITY_RANK[dict(self.categories).get(category, self.default)]

    def describe(self) -> str:
        named = ", ".join(f"{c} {s}" for c, s in self.categories)
        return f"{self.default}" + (f" ({named})" if named else "")


# outcomes: only a primary outcome added, dropped or moved (snapshots.outcomes) by default
DEFAULT_FLOOR = Floor("minor", (("outcomes", "critical"),))


def wanted(events: list[ChangeEvent], categories: tuple[str, ...] | None,
           floor: Floor) -> list[ChangeEvent]:
    """The events of the given categories (None: all) at their floor or above."""
    return [e for e in events
            if (categories is None or e.category in categories)
            and e.rank >= floor.rank(e.category)]


SITE_STATUS = ("locations", "status")  # category and field of a site's recruitment status
FOLD_SITES = 2  # site status changes of one version shown as one line from this many


def folded(events: list[ChangeEvent]) -> list[tuple[ChangeEvent, list[ChangeEvent]]]:
    """Events to show, each with the events it stands for: a version's site status changes,
    when there are FOLD_SITES or more, become one line ("32 sites changed status: 28 not
    yet recruiting → recruiting, 2 recruiting → withdrawn"), in the place of the first."""
    sites = [e for e in events if (e.category, e.field) == SITE_STATUS]
    if len(sites) < FOLD_SITES:
        return [(e, []) for e in events]
    moves: dict[str, int] = {}
    for event in sites:
        move = f"{_status(event.old)} → {_status(event.new)}"
        moves[move] = moves.get(move, 0) + 1
    summary = f"{len(sites)} sites changed status: " + ", ".join(
        f"{n} {move}" for move, n in sorted(moves.items(), key=lambda m: -m[1]))
    worst = max(sites, key=lambda e: e.rank)
    line = ChangeEvent(worst.nct_id, "locations", "status",
                       "protocolSection.contactsLocationsModule.locations", None, None,
                       worst.severity, summary)
    shown: list[tuple[ChangeEvent, list[ChangeEvent]]] = []
    for event in events:
        if event is sites[0]:
            shown.append((line, sites))
        elif (event.category, event.field) != SITE_STATUS:
            shown.append((event, []))
    return shown


def _status(value: Any) -> str:
    return enum_text(value).lower() if isinstance(value, str) else "none"


MATERIAL_CATEGORIES = frozenset({"status", "dates", "results", "enrollment"})


def is_material(event: ChangeEvent) -> bool:
    """What a clinician follows a trial for: its status, key dates, results, enrollment,
    and a primary outcome added, dropped or moved (a critical outcome change)."""
    return event.category in MATERIAL_CATEGORIES or (
        event.category == "outcomes" and event.severity == "critical")


def one_line(events: list[ChangeEvent]) -> str:
    """A history line: the most severe events' summaries, or why there are none."""
    if not events:
        return "no material change (registry bookkeeping only)"
    fields = {e.field for e in events}
    shown = [e for e in sorted(events, key=lambda e: -e.rank)
             if not (e.field == "whyStopped" and "overallStatus" in fields)][:SUMMARY_EVENTS]
    more = len(events) - len(shown)
    return "; ".join(clip(e.summary, SUMMARY_CHARS) for e in shown) + (
        f"; +{more} more" if more > 0 else "")
