"""Text and JSON views of what the store holds, for the CLI."""

from __future__ import annotations

import json
from typing import Any

from snapshots.events import ChangeEvent
from snapshots.store import Version
from snapshots.wording import clip, enum_text, show


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def events_text(events: list[ChangeEvent], heading: str) -> list[str]:
    """Events grouped by category, most severe first within each."""
    if not events:
        return [f"{heading}: no changes"]
    lines = [f"{heading}: {len(events)} change{'s' if len(events) != 1 else ''}"]
    category = None
    for event in events:
        if event.category != category:
            category = event.category
            lines.append(f"{category}")
        lines.append(f"  [{event.severity}] {event.summary}")
    return lines


def version_json(version: Version) -> dict[str, Any]:
    return {"nct_id": version.nct_id, "version": version.number,
            "fetched_at": version.fetched_at, "last_update": version.last_update,
            "data_timestamp": version.data_timestamp, "status": version.status,
            "hash": version.hash, "summary": version.summary, "changes": version.events}


def history_lines(versions: list[Version]) -> list[str]:
    lines = []
    for v in versions:
        status = enum_text(v.status) if v.status else "-"
        lines.append(f"{v.number:>4}  {v.fetched_at}  registry update {v.last_update or '-':<10}"
                     f"  {status:<24}  {v.summary}")
    return lines


def trial_lines(rows: list[dict[str, Any]], ids: list[str]) -> list[str]:
    by_id = {r["nct_id"]: r for r in rows}
    lines = []
    for nct in ids:
        row = by_id.get(nct, {})
        status = enum_text(row["latest_status"]) if row.get("latest_status") else "not fetched yet"
        flags = []
        if row.get("missing_since"):
            flags.append(f"NOT IN THE REGISTRY since {row['missing_since']}")
        elif row.get("last_error"):
            flags.append(f"last check failed: {row['last_error']}")
        if row.get("alias_of"):
            flags.append(f"now {row['alias_of']}")
        versions = row.get("latest_version") or 0
        lines.append(f"{nct}  {status:<24} {versions:>3} version{'s' if versions != 1 else ' '}"
                     f"  checked {row.get('last_checked_at') or 'never':<20}  "
                     f"{clip(row.get('title') or '', 60)}"
                     + (f"  [{'; '.join(flags)}]" if flags else ""))
    return lines


def snapshot_lines(version: Version) -> list[str]:
    """The fields a clinician looks at first, then where to find the rest."""
    data = version.data or {}
    protocol = data.get("protocolSection", {})
    status = protocol.get("statusModule", {})
    design = protocol.get("designModule", {})
    ident = protocol.get("identificationModule", {})
    enrollment = design.get("enrollmentInfo", {})
    sponsor = protocol.get("sponsorCollaboratorsModule", {}).get("leadSponsor", {})
    lines = [f"{version.nct_id} version {version.number} (fetched {version.fetched_at})",
             f"  Title:              {ident.get('briefTitle', '-')}",
             f"  Overall status:     {show(status.get('overallStatus'))}"]
    if status.get("whyStopped"):
        lines.append(f"  Why stopped:        {status['whyStopped']}")
    for key, label in (("start", "Start"), ("primaryCompletion", "Primary completion"),
                       ("completion", "Completion")):
        struct = status.get(f"{key}DateStruct") or {}
        kind = f" ({struct['type'].lower()})" if struct.get("type") else ""
        lines.append(f"  {label + ':':<20}{struct.get('date', '-')}{kind}")
    lines += [f"  Phase:              {show(design.get('phases'))}",
              f"  Enrollment:         {enrollment.get('count', '-')} "
              f"({str(enrollment.get('type', '-')).lower()})",
              f"  Lead sponsor:       {sponsor.get('name', '-')}",
              f"  Results posted:     {show(data.get('hasResults'))}",
              f"  Registry update:    {version.last_update or '-'}",
              "  (--json prints the whole stored snapshot)"]
    return lines
