"""Channels whose receiver answered 410 Gone: disabled until their config changes.

Kept in the store's meta table, with a fingerprint of the channel's options: a channel
given a new URL (or secret, or headers) is enabled again by that change alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import replace

from monitor.config import Settings
from notifiers.alerts import monitor_alerts
from notifiers.base import ChannelSettings
from snapshots.database import utcnow
from snapshots.store import Store

PREFIX = "channel.gone:"


def fingerprint(channel: ChannelSettings) -> str:
    text = json.dumps([channel.type, channel.options], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def disabled(store: Store, channels: tuple[ChannelSettings, ...]) -> dict[str, str]:
    """The configured channels disabled as they are configured now, with why."""
    found = {}
    for channel in channels:
        value = store.get_meta(PREFIX + channel.name)
        mark = json.loads(value) if value else None
        if mark and mark.get("fingerprint") == fingerprint(channel):
            found[channel.name] = (f"channel disabled since {mark['since']}: {mark['why']} "
                                   "(change its config to enable it again)")
    return found


def active(settings: Settings, off: Iterable[str]) -> Settings:
    """The settings without the disabled channels (disabled() gives them): no alert is
    queued for them."""
    off = set(off)
    return replace(settings, channels=tuple(c for c in settings.channels if c.name not in off))


def disable(store: Store, settings: Settings, name: str, why: str) -> None:
    """Mark the channel disabled and tell every other channel, once per episode."""
    channel = next(c for c in settings.channels if c.name == name)
    since = utcnow()
    store.set_meta(PREFIX + name, json.dumps({"fingerprint": fingerprint(channel),
                                              "since": since, "why": why}))
    message = (f"ctmonitor disabled its channel {name}: {why}; its alerts are not sent "
               "until its config changes")
    store.outbox.enqueue([d for d in monitor_alerts(
        settings.alerts, "monitor.channel_disabled", message,
        f"channel-gone:{name}:{fingerprint(channel)}") if d.channel != name])
