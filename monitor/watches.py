"""Search watches: a saved API v2 query, checked with the trials, alerting on trials that
newly match it (and tracking them when asked to)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from notifiers.render import trial_url
from snapshots.errors import ConfigError
from snapshots.events import WATCH_CATEGORY
from snapshots.record import is_nct_id

QUERY_KEYS = ("query.cond", "query.term", "query.locn", "query.titles", "query.intr",
              "query.outc", "query.spons", "query.lead", "query.id", "query.patient")
FILTER_KEYS = ("filter.overallStatus", "filter.geo", "filter.ids", "filter.advanced",
               "filter.synonyms")
# What a watch's alert shows of each trial: API v2 field names for fields=.
SUMMARY_FIELDS = ("NCTId", "BriefTitle", "OverallStatus", "Phase", "LeadSponsorName",
                  "StudyFirstPostDate")
AREA = re.compile(r"AREA\[([^\]]*)\]")


@dataclass(frozen=True)
class Watch:
    """One [watches.NAME]: its API v2 parameters, and whether new matches are tracked."""

    name: str
    params: tuple[tuple[str, str], ...]
    track: bool = False

    @property
    def key(self) -> str:
        """The query's identity: a watch whose query changes starts a new baseline."""
        return "&".join(f"{k}={v}" for k, v in sorted(self.params))


def parse(name: str, table: Any, where: str) -> Watch:
    """A [watches.NAME] table, or a ConfigError naming the key."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of query.* and filter.* parameters")
    params: list[tuple[str, str]] = []
    track = table.get("track", False)
    if not isinstance(track, bool):
        raise ConfigError(f"{where}.track: expected true or false, got {track!r}")
    categories = table.get("categories", [WATCH_CATEGORY])
    if categories != [WATCH_CATEGORY]:
        raise ConfigError(f'{where}.categories: a watch\'s alerts have the category "new"; '
                          f"expected [\"new\"], got {categories!r}")
    for key, value in table.items():
        if key in ("track", "categories"):
            continue
        if key not in QUERY_KEYS + FILTER_KEYS:
            raise ConfigError(f"{where}.{key}: unknown parameter; expected one of "
                              + ", ".join(QUERY_KEYS + FILTER_KEYS))
        params.append((key, _value(value, f"{where}.{key}")))
    if not params:
        raise ConfigError(f"{where}: expected at least one query.* or filter.* parameter")
    advanced = dict(params).get("filter.advanced")
    if advanced is not None:
        check_advanced(advanced, f"{where}.filter.advanced")
    return Watch(name, tuple(params), track)


def _value(value: Any, where: str) -> str:
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return ",".join(value)
    if isinstance(value, str) and value.strip():
        return value
    raise ConfigError(f"{where}: expected a non-empty string or list of strings, got {value!r}")


def check_advanced(expr: str, where: str) -> None:
    """Essie syntax as far as it can be told without the registry: brackets and
    parentheses balance, and every AREA[...] names a field."""
    depth = {"[": 0, "(": 0}
    closing = {"]": "[", ")": "("}
    for char in expr:
        if char in depth:
            depth[char] += 1
        elif char in closing:
            depth[closing[char]] -= 1
            if depth[closing[char]] < 0:
                raise ConfigError(f"{where}: {char!r} closes nothing in {expr!r}")
    if any(depth.values()):
        raise ConfigError(f"{where}: unbalanced brackets or parentheses in {expr!r}")
    for field in AREA.findall(expr):
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", field):
            raise ConfigError(f"{where}: AREA[{field}] does not name a field in {expr!r}")


def summary(study: Any) -> dict[str, Any] | None:
    """What a watch's alert shows of a trial, from a study with SUMMARY_FIELDS; None for a
    study without a sound NCT id (the id is tracked when the watch says so)."""
    protocol = _table(_table(study).get("protocolSection"))
    ident = _table(protocol.get("identificationModule"))
    status = _table(protocol.get("statusModule"))
    nct = ident.get("nctId")
    if not isinstance(nct, str) or not is_nct_id(nct):
        return None
    phases = _table(protocol.get("designModule")).get("phases")
    return {"nct_id": nct, "title": _text(ident.get("briefTitle")) or "",
            "status": _text(status.get("overallStatus")),
            "phase": ", ".join(p for p in phases if isinstance(p, str)) or None
            if isinstance(phases, list) else None,
            "sponsor": _text(_table(_table(protocol.get("sponsorCollaboratorsModule"))
                                    .get("leadSponsor")).get("name")),
            "first_posted": _text(_table(status.get("studyFirstPostDateStruct")).get("date")),
            "url": trial_url(nct)}


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
