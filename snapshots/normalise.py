"""Normalise an API v2 study record into the snapshot a version is made of.

The snapshot keeps what users care about and leaves out derivedSection, which the
registry rewrites on every weekday refresh (versionHolder, MeSH trees and their order),
all but its record of the results' review cycle (TRACKING: submissions, returns and
withdrawals of results not yet public).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import orjson

from snapshots.errors import RecordError
from snapshots.record import check_record, kind

MAX_DEPTH = 254  # orjson's limit
KEPT_SECTIONS = ("protocolSection", "hasResults", "resultsSection", "annotationSection",
                 "documentSection")
TRACKING = ("derivedSection", "miscInfoModule", "submissionTracking")


@dataclass(frozen=True)
class Snapshot:
    """A normalised record, its canonical JSON (UTF-8) and the hash that decides if it is new."""

    nct_id: str
    data: dict[str, Any]
    canonical: bytes
    hash: str

    @property
    def status(self) -> str | None:
        return self.data["protocolSection"].get("statusModule", {}).get("overallStatus")

    @property
    def title(self) -> str | None:
        return self.data["protocolSection"].get("identificationModule", {}).get("briefTitle")

    @property
    def status_verified(self) -> str | None:
        return self.data["protocolSection"].get("statusModule", {}).get("statusVerifiedDate")

    @property
    def last_update(self) -> str | None:
        status = self.data["protocolSection"].get("statusModule", {})
        return (status.get("lastUpdatePostDateStruct") or {}).get("date")


def normalise(record: Any) -> Snapshot:
    """Project a study record onto KEPT_SECTIONS; raise RecordError if it is not one, or
    if a field the monitor reads has another shape (snapshots.record)."""
    nct_id = record_id(record)
    check_record(record)
    data = {key: record[key] for key in KEPT_SECTIONS if key in record}
    data.setdefault("hasResults", "resultsSection" in record)
    tracking = record.get("derivedSection", {}).get("miscInfoModule", {}).get(
        "submissionTracking")
    if tracking:
        data["derivedSection"] = {"miscInfoModule": {"submissionTracking": tracking}}
    canonical = canonical_json(data)
    return Snapshot(nct_id, data, canonical, hashlib.sha256(canonical).hexdigest())


def record_id(record: Any) -> str:
    """The NCT id of an API v2 study record, or a RecordError saying why it is not one."""
    if isinstance(record, list):
        raise RecordError("not a study record: a JSON array (an export of several studies?)")
    if not isinstance(record, dict):
        raise RecordError(f"not a study record: a JSON {type(record).__name__}")
    if "studies" in record:
        raise RecordError("not a study record: a search page (has 'studies')")
    protocol = record.get("protocolSection")
    if not isinstance(protocol, dict):
        raise RecordError("not a study record: no protocolSection")
    identification = protocol.get("identificationModule", {})
    if not isinstance(identification, dict):
        raise RecordError("record unreadable: protocolSection.identificationModule: expected "
                          f"a table of fields, got {kind(identification)}")
    nct_id = identification.get("nctId")
    if not isinstance(nct_id, str) or not nct_id:
        raise RecordError("not a study record: no protocolSection.identificationModule.nctId")
    return nct_id


OUTLINED = ("statusModule", "outcomesModule")  # what a trial's page draws


def outline(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The protocol modules a trial's page draws from (status and key dates, outcomes),
    each a table ({} when the record has none): stored beside each snapshot, so that the
    page reads a few kilobytes a version and not the record, which can be 800 kB."""
    protocol = data.get("protocolSection")
    protocol = protocol if isinstance(protocol, dict) else {}
    return {name: module if isinstance(module := protocol.get(name), dict) else {}
            for name in OUTLINED}


def canonical_json(data: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same data always gives the same bytes.

    orjson does this several times faster than the json module, which matters when a
    check normalises thousands of records; json is the fallback for what orjson refuses
    (integers beyond 64 bits). Data nested deeper than orjson goes (254 levels; real
    records nest about 8) is a RecordError: no later stage could walk it.
    """
    try:
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        if "recursion" not in str(exc).lower():
            try:
                return json.dumps(data, sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False).encode("utf-8")
            except RecursionError:
                pass
    raise too_deep()


def too_deep() -> RecordError:
    return RecordError(f"record unreadable: nested more than {MAX_DEPTH} levels deep")
