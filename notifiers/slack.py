"""The Slack channel: an incoming webhook message in Block Kit, within Slack's limits.

When an alert does not fit (3,000 characters per text block, 50 blocks), the most severe
changes stay and the rest become "+N more changes" with the link.
"""

from __future__ import annotations

from typing import Any

from monitor.config import Field
from notifiers.base import Fail, Notifier
from notifiers.render import headline, history_url, ordered, trial_url

SLACK_TEXT_LIMIT = 3000
SLACK_BLOCK_LIMIT = 50
HEADER_LIMIT = 150
SEVERITY_MARKS = {"critical": ":red_circle: *critical*", "notable": ":large_orange_circle: "
                  "*notable*", "minor": ":white_circle: minor"}


def escape(text: str) -> str:
    """Slack mrkdwn: &, < and > are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackNotifier(Notifier):
    """Post a change summary to a Slack incoming webhook."""

    kind = "slack"
    fields = {"webhook_url": Field(str, required=True, expect="a Slack incoming webhook URL",
                                   secret=True)}

    @classmethod
    def check_options(cls, values: dict[str, Any], fail: Fail) -> dict[str, Any]:
        if not values["webhook_url"].startswith(("https://", "http://")):
            raise fail("webhook_url", "expected a Slack incoming webhook URL (https://...)")
        return values

    def send(self, messages: list[dict[str, Any]], key: str) -> str:
        return self.post_json(self.settings.options["webhook_url"], slack_message(messages))


def slack_message(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Block Kit for one alert or a digest: header, then per trial a title and its changes."""
    title = headline(messages[0]) if len(messages) == 1 else (
        f"{len(messages)} alerts: {headline(messages[0])}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(title, HEADER_LIMIT)}}]
    room = SLACK_BLOCK_LIMIT - 1 - len(messages)  # one title block per trial
    lines = [_lines(m) for m in messages]
    budget = _share(lines, room)
    for message, trial_lines, share in zip(messages, lines, budget, strict=True):
        blocks.append(_section(_title(message)))
        blocks += _pack(trial_lines, share, message)
    return {"text": _clip(title, SLACK_TEXT_LIMIT), "blocks": blocks[:SLACK_BLOCK_LIMIT]}


def _title(message: dict[str, Any]) -> str:
    if message.get("event") != "trial.changed":
        return escape(message.get("message", ""))
    nct = message["nct_id"]
    return (f"*<{trial_url(nct)}|{nct}>* {escape(message.get('title') or '')}\n"
            f"version {message.get('previous_version')} → {message.get('version')} · "
            f"<{history_url(nct)}|record history>")


def _lines(message: dict[str, Any]) -> list[str]:
    return [f"{SEVERITY_MARKS[c['severity']]} {escape(c['summary']).replace(' -&gt; ', ' → ')}"
            for c in ordered(message.get("changes", []))]


def _share(lines: list[list[str]], room: int) -> list[int]:
    """Blocks each trial may use: at least one when it has changes, the rest by need."""
    need = [max(1, -(-sum(len(x) + 1 for x in ls) // SLACK_TEXT_LIMIT)) if ls else 0
            for ls in lines]
    if sum(need) <= room:
        return need
    share = [min(n, 1) for n in need]
    spare = max(0, room - sum(share))
    for i, n in enumerate(need):
        extra = min(n - share[i], spare)
        share[i] += extra
        spare -= extra
    return share


def _pack(lines: list[str], blocks: int, message: dict[str, Any]) -> list[dict[str, Any]]:
    """Up to `blocks` sections of lines, most severe first; what is left is counted."""
    packed: list[list[str]] = []
    current: list[str] = []
    kept = 0
    for line in lines:
        line = _clip(line, SLACK_TEXT_LIMIT - 200)
        if sum(len(x) + 1 for x in current) + len(line) + 1 > SLACK_TEXT_LIMIT - 200:
            if len(packed) + 1 >= blocks:
                break
            packed.append(current)
            current = []
        current.append(line)
        kept += 1
    if current and blocks:
        packed.append(current)
    left = len(lines) - kept
    if left and packed:
        link = trial_url(message["nct_id"]) if message.get("nct_id") else ""
        packed[-1].append(f"+{left} more change{'s' if left != 1 else ''}"
                          + (f" — <{link}|see the trial>" if link else ""))
    return [_section("\n".join(p)) for p in packed]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SLACK_TEXT_LIMIT)}}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
