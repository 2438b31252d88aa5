"""The webhook channel: the INTERFACE.md payload POSTed as JSON with an Idempotency-Key,
signed as Standard Webhooks say when the channel has a secret (webhook-id, the same key;
webhook-timestamp; webhook-signature, "v1," and the HMAC-SHA256 of id.timestamp.body)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Any

from notifiers.base import Fail, Notifier, json_body
from snapshots.fields import Field

SECRET_PREFIX = "whsec_"


class WebhookNotifier(Notifier):
    """POST one JSON payload per trial version (a digest posts {"digest": [...]})."""

    kind = "webhook"
    fields = {"url": Field(str, required=True, expect="an http(s) URL", secret=True),
              "headers": Field(dict, {}, expect="a table of header names to strings",
                               secret=True),
              "secret": Field(str, None, secret=True,
                              expect='a Standard Webhooks secret: "whsec_" and base64')}
    sent_headers: dict[str, str] | None = None  # of the last post: notify-test shows them

    @classmethod
    def check_options(cls, values: dict[str, Any], fail: Fail) -> dict[str, Any]:
        if not values["url"].startswith(("http://", "https://")):
            raise fail("url", "expected an http(s) URL")
        for name, value in values["headers"].items():
            if not isinstance(value, str):
                raise fail(f"headers.{name}", "expected a string")
        if values["secret"] is not None and secret_key(values["secret"]) is None:
            raise fail("secret", 'expected a Standard Webhooks secret: "whsec_" and base64 '
                       "(e.g. from `python -c \"import base64, os; print('whsec_' + "
                       "base64.b64encode(os.urandom(24)).decode())\"`)")
        return values

    def build(self, messages: list[dict[str, Any]]) -> Any:
        return messages[0] if len(messages) == 1 else {"event": "digest", "alerts": messages}

    def deliver(self, message: Any, key: str) -> str:
        body = json_body(message)
        headers = {**self.settings.options["headers"], "Idempotency-Key": key}
        secret = self.settings.options.get("secret")
        if secret:
            stamp = str(int(time.time()))
            headers |= {"webhook-id": key, "webhook-timestamp": stamp,
                        "webhook-signature": signature(secret, key, stamp, body)}
        self.sent_headers = headers
        return self.post(self.settings.options["url"], body, headers)


def secret_key(secret: str) -> bytes | None:
    """The key of a "whsec_..." secret, None when it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def signature(secret: str, key: str, stamp: str, body: bytes) -> str:
    """The webhook-signature header of Standard Webhooks."""
    secret_bytes = secret_key(secret)
    assert secret_bytes is not None  # checked when the config loaded
    digest = hmac.new(secret_bytes, f"{key}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
