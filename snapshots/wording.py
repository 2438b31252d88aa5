"""How values read to a clinician: status names, dates, phases, short text diffs."""

from __future__ import annotations

import calendar
import difflib
import functools
import json
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

STATUS_NAMES = {
    "ACTIVE_NOT_RECRUITING": "Active, not recruiting",
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "ENROLLING_BY_INVITATION": "Enrolling by invitation",
    "UNKNOWN": "Unknown (not verified recently)",
    "NA": "Not applicable",
    "EARLY_PHASE1": "Early phase 1",
}
TEXT_LIMIT = 80
DIFF_PIECES = 3
# What a terminal acts on rather than shows: C0 and C1 controls (ESC starts a command) and
# the bidirectional overrides that make a line read otherwise than it is; a tab is kept.
UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
LINE_BREAKS = re.compile("[\r\n]+")


def printable(line: str) -> str:
    """One line as it may reach a terminal: line breaks inside it become a space, what a
    terminal would act on is dropped."""
    return UNPRINTABLE.sub("", LINE_BREAKS.sub(" ", line))


@functools.lru_cache(maxsize=1024)  # a few dozen values, read 100,000 times by `list`
def enum_text(value: str) -> str:
    """RECRUITING -> Recruiting, PHASE2 -> Phase 2, NO_INTERVENTION -> No intervention."""
    if value in STATUS_NAMES:
        return STATUS_NAMES[value]
    text = re.sub(r"^PHASE(\d)$", r"PHASE \1", value).replace("_", " ").lower()
    return text[:1].upper() + text[1:]


# Single-word registry enum values; multi-word ones carry an underscore and need no list.
PLAIN_ENUMS = frozenset({
    "RECRUITING", "COMPLETED", "SUSPENDED", "TERMINATED", "WITHDRAWN", "AVAILABLE", "WITHHELD",
    "UNKNOWN", "ACTUAL", "ESTIMATED", "NA", "PHASE1", "PHASE2", "PHASE3", "PHASE4",
    "INTERVENTIONAL", "OBSERVATIONAL", "RANDOMIZED", "PARALLEL", "SEQUENTIAL", "CROSSOVER",
    "FACTORIAL", "NONE", "SINGLE", "DOUBLE", "TRIPLE", "QUADRUPLE", "TREATMENT", "PREVENTION",
    "DIAGNOSTIC", "SCREENING", "OTHER", "DRUG", "DEVICE", "BIOLOGICAL", "PROCEDURE",
    "RADIATION", "BEHAVIORAL", "GENETIC", "COMBINATION_PRODUCT", "EXPERIMENTAL", "MALE",
    "FEMALE", "ALL", "CHILD", "ADULT", "CONTACT", "SPONSOR", "INDUSTRY", "NIH", "FED", "INDIV",
    "NETWORK", "AMBIG", "RESET", "RELEASE", "UNRELEASE", "BACKGROUND", "RESULT", "DERIVED",
    "YES", "NO", "UNDECIDED", "COHORT", "PROSPECTIVE", "RETROSPECTIVE", "PARTICIPANT",
    "INVESTIGATOR", "CARE_PROVIDER", "OUTCOMES_ASSESSOR",
})


def is_enum(value: Any) -> bool:
    """A registry enum value (shown in words), not free text such as "FDA" or an acronym."""
    return isinstance(value, str) and (value in PLAIN_ENUMS or bool(
        re.fullmatch(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+", value)))


def show(value: Any, limit: int = TEXT_LIMIT) -> str:
    """One value as it should read inside a summary line."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if is_enum(value):
        return enum_text(value)
    if isinstance(value, list):
        return ", ".join(show(v, limit) for v in value) or "(none)"
    if isinstance(value, dict):
        return describe(value, limit)
    return clip(str(value), limit)


def describe(item: dict[str, Any], limit: int = TEXT_LIMIT) -> str:
    """A short name for an object: its first naming field, else its scalar values."""
    for key in ("measure", "label", "name", "facility", "citation", "filename", "id", "url"):
        if item.get(key):
            text = str(item[key])
            if key == "facility":
                text = ", ".join(str(item[k]) for k in ("facility", "city", "country")
                                 if item.get(k))
            return clip(text, limit)
    scalars = [show(v, 30) for v in item.values() if not isinstance(v, dict | list)]
    return clip("; ".join(scalars), limit) or clip(json.dumps(item, ensure_ascii=False), limit)


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    """Text on one line (white space folded), cut to limit characters with an ellipsis."""
    return truncate(" ".join(text.split()), limit)


def truncate(text: str, limit: int) -> str:
    """Text cut to limit characters with an ellipsis; its lines are kept."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plural(count: int, word: str, suffix: str = "s") -> str:
    """'1 trial', '3 trials'."""
    return f"{count} {word}{'' if count == 1 else suffix}"


def label_of(name: str) -> str:
    """primaryPurpose -> Primary purpose."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower()
    return words[:1].upper() + words[1:]


def parse_date(value: Any, last: bool = False) -> date | None:
    """A registry date; month-only and year-only dates count as the first day of their
    period, or with last as its last day."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", value.strip())
    if not match:
        return None
    year, month, day = match.groups()
    try:
        if last and day is None:
            end_month = int(month or 12)
            return date(int(year), end_month, calendar.monthrange(int(year), end_month)[1])
        return date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return None


def gains_precision(old: Any, new: Any) -> bool:
    """2025-04 -> 2025-04-11: the same period, only more precise."""
    return (isinstance(old, str) and isinstance(new, str) and len(new) > len(old)
            and new.startswith(old))


def days_between(old: Any, new: Any) -> int | None:
    a, b = parse_date(old), parse_date(new)
    return (b - a).days if a and b else None


def word_edits(old: str, new: str) -> Iterator[tuple[str, str, str]]:
    """(op, old words, new words) for each run of a word-level diff; op is equal, insert,
    delete or replace."""
    a, b = old.split(), new.split()
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        yield op, " ".join(a[i1:i2]), " ".join(b[j1:j2])


def text_change(old: str, new: str) -> str:
    """The first few word-level edits between two texts, e.g. 'added "…"; "a" -> "b"'."""
    pieces = []
    for op, gone, came in word_edits(old, new):
        gone, came = clip(gone, 60), clip(came, 60)
        if op == "insert":
            pieces.append(f'added "{came}"')
        elif op == "delete":
            pieces.append(f'removed "{gone}"')
        elif op == "replace":
            pieces.append(f'"{gone}" -> "{came}"')
    more = len(pieces) - DIFF_PIECES
    text = "; ".join(pieces[:DIFF_PIECES])
    return text + (f"; +{more} more edits" if more > 0 else "") if pieces else "whitespace only"
