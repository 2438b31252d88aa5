"""Wording shared by every channel: headline, links, and an alert as plain lines."""

from __future__ import annotations

from typing import Any

from snapshots.events import SEVERITY_RANK
from snapshots.wording import enum_text

TRIAL_URL = "https://clinicaltrials.gov/study/{nct_id}"
HISTORY_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=history"
HEADLINE_PIECES = 2


def trial_url(nct_id: str) -> str:
    return TRIAL_URL.format(nct_id=nct_id)


def history_url(nct_id: str) -> str:
    return HISTORY_URL.format(nct_id=nct_id)


def page_url(base_url: str, nct_id: str) -> str:
    """The trial's page on the monitor's own history page (ctmonitor serve)."""
    return f"{base_url}/trials/{nct_id}"


def ordered(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most severe first; the order within a severity is kept."""
    return sorted(changes, key=lambda c: -SEVERITY_RANK[c["severity"]])


def headline(message: dict[str, Any]) -> str:
    """What happened in a few words, e.g.
    "NCT05935098 terminated; primary completion 428 days earlier"."""
    if message.get("event") != "trial.changed":
        return message.get("title") or message.get("message", "ctmonitor")
    pieces: list[str] = []
    for change in ordered(message["changes"]):
        piece = _piece(change)
        if piece and piece not in pieces:
            pieces.append(piece)
    head = "; ".join(pieces[:HEADLINE_PIECES]) or "record changed"
    return f"{message['nct_id']} {head}"


def title(messages: list[dict[str, Any]]) -> str:
    """The headline of one alert, or of a digest: "3 alerts: <the first one's headline>"."""
    if len(messages) == 1:
        return headline(messages[0])
    return f"{len(messages)} alerts: {headline(messages[0])}"


def _piece(change: dict[str, Any]) -> str:
    field, new = change["field"], change["new"]
    if field == "overallStatus" and isinstance(new, str):
        return "status " + enum_text(new).lower() if new == "UNKNOWN" else enum_text(new).lower()
    if change.get("days"):
        days = change["days"]
        label = change["summary"].split(":", 1)[0].lower()
        return f"{label} {abs(days)} days {'later' if days > 0 else 'earlier'}"
    if field == "hasResults" and new:
        return "results posted"
    if field == "enrollmentCount":
        return f"enrollment {change['old']} -> {new}"
    if field == "whyStopped":
        return ""
    return change["summary"][:1].lower() + change["summary"][1:60]


def message_lines(message: dict[str, Any]) -> list[str]:
    """An alert as plain text lines (console, email text part)."""
    if message.get("event") != "trial.changed":
        return [f"[ctmonitor] {message.get('message', '')}"]
    nct_id = message["nct_id"]
    lines = [f"{nct_id} — {message.get('title') or 'untitled'} "
             f"(version {message.get('previous_version')} -> {message.get('version')})"]
    for change in ordered(message["changes"]):
        lines.append(f"  [{change['severity']}] {change['summary']}")
    if message.get("page_url"):
        lines.append(f"  {message['page_url']}  (its history on ctmonitor)")
    lines.append(f"  {trial_url(nct_id)}  (record history: {history_url(nct_id)})")
    return lines


def text_body(messages: list[dict[str, Any]]) -> str:
    """One or more alerts as plain text: the title, then each alert's lines."""
    blocks = [[title(messages)], *(message_lines(m) for m in messages), ["Sent by ctmonitor."]]
    return "\n\n".join("\n".join(lines) for lines in blocks) + "\n"
