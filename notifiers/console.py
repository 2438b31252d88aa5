"""The console channel: alerts printed to standard output, grouped by trial."""

from __future__ import annotations

from typing import Any

from notifiers.base import Notifier
from notifiers.render import message_lines
from snapshots.wording import printable


class ConsoleNotifier(Notifier):
    """Print each alert as plain lines, most severe change first."""

    kind = "console"

    def build(self, messages: list[dict[str, Any]]) -> list[str]:
        return [printable(line) for message in messages for line in message_lines(message)]

    def deliver(self, message: list[str], key: str) -> str:
        for line in message:
            print(line, file=self.env.stdout)
        self.env.stdout.flush()
        return "printed"
