"""Wording shared by every channel: headline, links, and an alert as plain lines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from snapshots.events import FOLD_SITES, SEVERITY_RANK, SITE_STATUS, folded, from_dict
from snapshots.results import reading
from snapshots.wording import enum_text, plural

TRIAL_URL = "https://clinicaltrials.gov/study/{nct_id}"
HISTORY_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=history"
HEADLINE_PIECES = 2
WATCH_EVENT = "watch.new_trials"


def as_text(value: Any) -> str:
    """A value of a payload shown as text, whatever it is (None shows as nothing)."""
    return "" if value is None else value if isinstance(value, str) else str(value)


def trial_url(nct_id: str) -> str:
    return TRIAL_URL.format(nct_id=nct_id)


def history_url(nct_id: str) -> str:
    return HISTORY_URL.format(nct_id=nct_id)


def page_url(base_url: str, nct_id: str) -> str:
    """The trial's page on the monitor's own history page (ctmonitor serve)."""
    return f"{base_url}/trials/{nct_id}"


def ordered(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most severe first, the order within a severity kept; a version's site status changes
    as one line (snapshots.events.folded)."""
    sites = sum(1 for c in changes if (c.get("category"), c.get("field")) == SITE_STATUS)
    if sites >= FOLD_SITES:
        changes = [event.to_dict() for event, _parts in folded(list(map(from_dict, changes)))]
    return sorted(changes, key=lambda c: -SEVERITY_RANK[c["severity"]])


def headline(message: dict[str, Any]) -> str:
    """What happened in a few words, e.g.
    "NCT05935098 terminated; primary completion 428 days earlier"."""
    if message.get("event") == WATCH_EVENT:
        count = len(message["trials"])
        return f"{plural(count, 'new trial')} match{'es' if count == 1 else ''} the watch " \
               f"{message['watch']}"
    if message.get("event") != "trial.changed":
        return message.get("title") or message.get("message", "ctmonitor")
    pieces: list[str] = []
    for change in ordered(message["changes"]):
        piece = _piece(change)
        if piece and piece not in pieces:
            pieces.append(piece)
    head = "; ".join(pieces[:HEADLINE_PIECES]) or "record changed"
    return f"{message['nct_id']} {head}"


def watch_trial_line(trial: dict[str, Any]) -> str:
    """A newly matching trial in a few words: "NCT… — title (Recruiting; Phase 2; sponsor;
    first posted 2026-03-02)"."""
    facts = [enum_text(trial["status"]) if trial.get("status") else None,
             trial.get("phase") and ", ".join(enum_text(p.strip())
                                               for p in str(trial["phase"]).split(",")),
             trial.get("sponsor"),
             f"first posted {trial['first_posted']}" if trial.get("first_posted") else None]
    shown = "; ".join(f for f in facts if f)
    return f"{trial['nct_id']} — {trial.get('title') or 'untitled'}" + (
        f" ({shown})" if shown else "")


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


def results_reading(change: dict[str, Any]) -> list[str]:
    """What posted results found, in lines, for the change that carries them."""
    return reading(change["results"]) if isinstance(change.get("results"), dict) else []


def message_lines(message: dict[str, Any]) -> list[str]:
    """An alert as plain text lines (console, email text part)."""
    if message.get("event") == WATCH_EVENT:
        return [headline(message), *(f"  {watch_trial_line(t)}  {t['url']}"
                                     for t in message["trials"])]
    if message.get("event") != "trial.changed":
        return [f"[ctmonitor] {message.get('message', '')}"]
    nct_id = message["nct_id"]
    lines = [f"{nct_id} — {message.get('title') or 'untitled'} "
             f"(version {message.get('previous_version')} -> {message.get('version')})"]
    for change in ordered(message["changes"]):
        lines.append(f"  [{change['severity']}] {change['summary']}")
        lines += [f"      {line}" for line in results_reading(change)]
    if message.get("page_url"):
        lines.append(f"  {message['page_url']}  (its history on ctmonitor)")
    lines.append(f"  {trial_url(nct_id)}  (record history: {history_url(nct_id)})")
    return lines


def text_body(messages: list[dict[str, Any]]) -> str:
    """One or more alerts as plain text: the title, then each alert's lines."""
    blocks = [[title(messages)], *(message_lines(m) for m in messages), ["Sent by ctmonitor."]]
    return "\n\n".join("\n".join(lines) for lines in blocks) + "\n"


@dataclass(frozen=True)
class Dialect:
    """How a chat service writes an alert: its escaping, links, bold, each change's mark,
    and what comes before a listed line and a results line (Slack mrkdwn, Markdown)."""

    escape: Callable[[str], str]
    link: Callable[[str, str], str]  # (url, text)
    bold: Callable[[str], str]
    marks: dict[str, str]  # by severity
    item: str = ""
    indent: str = "      "


def alert_head(message: dict[str, Any], d: Dialect) -> str:
    """An alert's first lines: the trial (linked), its versions and its histories; a
    watch's headline; the monitor's message."""
    if message.get("event") == WATCH_EVENT:
        return d.bold(d.escape(headline(message)))
    if message.get("event") != "trial.changed":
        return d.escape(str(message.get("message", "")))
    nct = message["nct_id"]
    page = (f" · {d.link(message['page_url'], 'its history on ctmonitor')}"
            if message.get("page_url") else "")
    return (f"{d.bold(d.link(trial_url(nct), nct))} {d.escape(as_text(message.get('title')))}\n"
            f"version {message.get('previous_version')} → {message.get('version')} · "
            f"{d.link(history_url(nct), 'record history')}{page}")


def alert_items(message: dict[str, Any], d: Dialect) -> list[str]:
    """An alert's listed lines: each change, most severe first (what results found
    under it), or each trial newly matching a watch."""
    if message.get("event") == WATCH_EVENT:
        return [f"{d.item}{d.link(t['url'], t['nct_id'])} "
                + d.escape(watch_trial_line(t).split(" — ", 1)[1]) for t in message["trials"]]
    return [line for c in ordered(message.get("changes", [])) for line in (
        f"{d.item}{d.marks[c['severity']]} {d.escape(c['summary'].replace(' -> ', ' → '))}",
        *(f"{d.indent}{d.escape(r)}" for r in results_reading(c)))]
