"""The webhook channel: the INTERFACE.md payload POSTed as JSON with an Idempotency-Key."""

from __future__ import annotations

from typing import Any

from notifiers.base import Fail, Notifier
from snapshots.fields import Field


class WebhookNotifier(Notifier):
    """POST one JSON payload per trial version (a digest posts {"digest": [...]})."""

    kind = "webhook"
    fields = {"url": Field(str, required=True, expect="an http(s) URL", secret=True),
              "headers": Field(dict, {}, expect="a table of header names to strings",
                               secret=True)}

    @classmethod
    def check_options(cls, values: dict[str, Any], fail: Fail) -> dict[str, Any]:
        if not values["url"].startswith(("http://", "https://")):
            raise fail("url", "expected an http(s) URL")
        for name, value in values["headers"].items():
            if not isinstance(value, str):
                raise fail(f"headers.{name}", "expected a string")
        return values

    def build(self, messages: list[dict[str, Any]]) -> Any:
        return messages[0] if len(messages) == 1 else {"event": "digest", "alerts": messages}

    def deliver(self, message: Any, key: str) -> str:
        headers = {**self.settings.options["headers"], "Idempotency-Key": key}
        return self.post_json(self.settings.options["url"], message, headers)
