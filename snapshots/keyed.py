"""Give every list in a snapshot an identity, so a diff compares items, not positions.

Locations are matched by facility + city + country, outcomes by measure, arm groups by
label, and so on (LIST_KEYS); lists of plain values are sets; any other list of objects is
matched by content. A reordering alone therefore never shows up as a change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

Path = tuple[str, ...]


class KeyedList(dict[str, Any]):
    """A list turned into a mapping from each item's identity to the item."""


def _join(*parts: Any) -> str:
    return "|".join("" if p is None else str(p) for p in parts)


def _get(*names: str) -> Callable[[dict[str, Any]], str]:
    return lambda item: _join(*(item.get(n) for n in names))


def _first(*names: str) -> Callable[[dict[str, Any]], str]:
    return lambda item: next((str(item[n]) for n in names if item.get(n)), "")


LIST_KEYS: dict[str, Callable[[dict[str, Any]], str]] = {
    "protocolSection.contactsLocationsModule.locations": _get("facility", "city", "country"),
    "protocolSection.contactsLocationsModule.locations.*.contacts": _get("name", "role"),
    "protocolSection.contactsLocationsModule.centralContacts": _get("name", "role"),
    "protocolSection.contactsLocationsModule.overallOfficials": _get("name", "role"),
    "protocolSection.outcomesModule.primaryOutcomes": _get("measure"),
    "protocolSection.outcomesModule.secondaryOutcomes": _get("measure"),
    "protocolSection.outcomesModule.otherOutcomes": _get("measure"),
    "protocolSection.armsInterventionsModule.armGroups": _get("label"),
    "protocolSection.armsInterventionsModule.interventions": _get("type", "name"),
    "protocolSection.referencesModule.references": _first("pmid", "citation"),
    "protocolSection.referencesModule.seeAlsoLinks": _first("url", "label"),
    "protocolSection.referencesModule.availIpds": _first("id", "url", "type"),
    "protocolSection.sponsorCollaboratorsModule.collaborators": _get("name"),
    "protocolSection.identificationModule.secondaryIdInfos": _get("id", "type"),
    "documentSection.largeDocumentModule.largeDocs": _first("filename", "label"),
    "annotationSection.annotationModule.unpostedAnnotation.unpostedEvents": _get("type", "date"),
    "derivedSection.miscInfoModule.submissionTracking.submissionInfos": _get("releaseDate"),
}


def keyed(value: Any, path: Path = ()) -> Any:
    """A copy of value with every list replaced by a KeyedList."""
    if isinstance(value, dict):
        return {k: keyed(v, path + (k,)) for k, v in value.items()}
    if isinstance(value, list):
        return _keyed_list(value, path)
    return value


def _keyed_list(items: list[Any], path: Path) -> KeyedList:
    key_of = LIST_KEYS.get(_generic(path))
    groups: dict[str, list[tuple[Any, Any]]] = {}
    for item in items:
        item_keyed = keyed(item, path + ("*",))
        groups.setdefault(_identity(item, item_keyed, key_of), []).append((item, item_keyed))
    result = KeyedList()
    for key, group in groups.items():
        if len(group) == 1 or not isinstance(group[0][0], dict | list):
            result[key] = group[0][1]
            continue
        ranked = sorted(group, key=lambda pair: _canonical(pair[1]))
        for n, (_item, item_keyed) in enumerate(ranked, start=1):
            result[f"{key}#{n}"] = item_keyed
    return result


def _identity(item: Any, item_keyed: Any,
              key_of: Callable[[dict[str, Any]], str] | None) -> str:
    """The item's key by LIST_KEYS, else a digest of its content (order-insensitive)."""
    if isinstance(item, dict) and key_of is not None:
        return key_of(item)
    if isinstance(item, dict | list):
        return hashlib.sha1(_canonical(item_keyed).encode()).hexdigest()[:12]
    return str(item)


def _canonical(item: Any) -> str:
    return json.dumps(item, sort_keys=True, ensure_ascii=False)


def _generic(path: Path) -> str:
    return ".".join(path)


def unkeyed(value: Any) -> Any:
    """The record form of a keyed value: KeyedLists become lists again."""
    if isinstance(value, KeyedList):
        return [unkeyed(v) for v in value.values()]
    if isinstance(value, dict):
        return {k: unkeyed(v) for k, v in value.items()}
    return value
