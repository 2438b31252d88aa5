"""The README's alert examples are what the code produces for the real pair NCT05935098."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.config import DEFAULT_CATEGORIES
from notifiers.alerts import trial_payload
from notifiers.render import message_lines, text_body
from notifiers.slack import slack_message
from snapshots.diff import compare_records
from snapshots.events import DEFAULT_FLOOR, wanted
from tests.conftest import pair

pytestmark = pytest.mark.one_backend  # no store: the SQLite run is enough

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def payload() -> dict:
    old, new = pair("NCT05935098")
    events = wanted(compare_records(old, new), DEFAULT_CATEGORIES, DEFAULT_FLOOR)
    message = trial_payload("NCT05935098", new["protocolSection"]["identificationModule"]
                            ["briefTitle"], 2, 1, events)
    message["detected_at"] = "2026-03-13T15:02:11Z"
    return message


def blocks(language: str) -> list[str]:
    """The README's fenced blocks of one language ("" for plain fences), in order."""
    found: list[str] = []
    current: list[str] = []
    opened: str | None = None
    for line in README.splitlines():
        if line.startswith("```"):
            if opened is None:
                opened, current = line[3:].strip(), []
            else:
                if opened == language:
                    found.append("\n".join(current) + "\n")
                opened = None
        elif opened is not None:
            current.append(line)
    return found


def test_readme_console_alert_is_the_real_output() -> None:
    first = blocks("")[0]
    assert first.strip().splitlines() == message_lines(payload())


def test_readme_slack_message_is_the_real_output() -> None:
    shown = next(b for b in blocks("json") if '"blocks"' in b)
    assert json.loads(shown) == slack_message([payload()])


def test_readme_email_is_the_real_text_part() -> None:
    shown = next(b for b in blocks("") if b.startswith("Subject:"))
    body = shown.split("\n\n", 1)[1]
    assert body == text_body([payload()])
