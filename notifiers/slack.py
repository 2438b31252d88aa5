"""The Slack channel: an incoming webhook message in Block Kit, within Slack's limits.

When an alert does not fit (3,000 characters per text block, 50 blocks), the most severe
changes stay and the rest become "+N more changes" with the link.
"""

from __future__ import annotations

from typing import Any

from notifiers.base import Fail, Notifier
from notifiers.render import WATCH_EVENT, Dialect, alert_head, alert_items, title, trial_url
from snapshots.fields import Field
from snapshots.wording import plural, truncate

SLACK_TEXT_LIMIT = 3000
SLACK_BLOCK_LIMIT = 50
HEADER_LIMIT = 150
PACK_LIMIT = SLACK_TEXT_LIMIT - 200  # room left in a block for "+N more changes"
SEVERITY_MARKS = {"critical": ":red_circle: *critical*", "notable": ":large_orange_circle: "
                  "*notable*", "minor": ":white_circle: minor"}


def escape(text: str) -> str:
    """Slack mrkdwn: &, < and > are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SLACK = Dialect(escape, lambda url, text: f"<{url}|{text}>", lambda text: f"*{text}*",
                SEVERITY_MARKS)


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

    def build(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return slack_message(messages)

    def deliver(self, message: dict[str, Any], key: str) -> str:
        return self.post_json(self.settings.options["webhook_url"], message)


def slack_message(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Block Kit for one alert or a digest: a header, then a section or more per trial
    (its title, then its changes, most severe first); trials past the block limit are
    counted in a last section."""
    heading = title(messages)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(heading, HEADER_LIMIT)}}]
    room = SLACK_BLOCK_LIMIT - 2  # the header, and a section counting trials left out
    shown = messages[:room]
    lines = [[alert_head(m, SLACK), *alert_items(m, SLACK)] for m in shown]
    for message, trial_lines, share in zip(shown, lines, _share(lines, room), strict=True):
        blocks += _pack(trial_lines, share, message)
    if len(messages) > len(shown):
        left = len(messages) - len(shown)
        blocks.append(_section(f"+{plural(left, 'more trial')} changed in this check "
                               "(see `ctmonitor list`)"))
    return {"text": truncate(heading, SLACK_TEXT_LIMIT), "blocks": blocks}


def _share(lines: list[list[str]], room: int) -> list[int]:
    """Blocks each trial may use: one at least, more by need while there is room."""
    need = [len(_greedy(ls)) for ls in lines]
    if sum(need) <= room:
        return need
    share = [1 for _ in need]
    spare = max(0, room - sum(share))
    for i, n in enumerate(need):
        extra = min(n - share[i], spare)
        share[i] += extra
        spare -= extra
    return share


def _greedy(lines: list[str]) -> list[list[str]]:
    """Lines gathered into as few blocks of PACK_LIMIT characters as they go."""
    packed: list[list[str]] = [[]]
    size = 0
    for line in (truncate(x, PACK_LIMIT) for x in lines):
        if packed[-1] and size + len(line) + 1 > PACK_LIMIT:
            packed.append([])
            size = 0
        packed[-1].append(line)
        size += len(line) + 1
    return packed


def _pack(lines: list[str], blocks: int, message: dict[str, Any]) -> list[dict[str, Any]]:
    """Up to `blocks` sections of lines, most severe first; what is left is counted."""
    packed = _greedy(lines)
    left = sum(len(p) for p in packed[blocks:])
    packed = packed[:blocks]
    if left:
        link = trial_url(message["nct_id"]) if message.get("nct_id") else ""
        noun = "more trial" if message.get("event") == WATCH_EVENT else "more change"
        packed[-1].append(f"+{plural(left, noun)}"
                          + (f" — <{link}|see the trial>" if link else ""))
    return [_section("\n".join(p)) for p in packed]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SLACK_TEXT_LIMIT)}}
