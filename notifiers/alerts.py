"""What alert each channel gets: the one place that turns change events into outbox rows.

[alerts] narrows first (categories, min_severity); each channel's own categories and
min_severity narrow further. Every alert carries an idempotency key that is the same on
every retry of it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from notifiers.base import ChannelSettings
from notifiers.render import page_url, trial_url
from snapshots.database import utcnow
from snapshots.events import DEFAULT_FLOOR, WATCH_CATEGORY, ChangeEvent, Floor, wanted
from snapshots.outbox import NewDelivery


@dataclass(frozen=True)
class AlertPolicy:
    """Who is told what: the channels and the [alerts] narrowing every channel starts from."""

    channels: tuple[ChannelSettings, ...]
    categories: tuple[str, ...]
    min_severity: Floor = DEFAULT_FLOOR
    page_base_url: str | None = None  # [web] base_url: alerts link to the trial's page there
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)  # [trials] tags, by trial
    held: frozenset[str] = frozenset()  # muted trials: their alerts are queued held back

    def routed(self, channel: ChannelSettings, nct_id: str) -> bool:
        """Whether the channel takes this trial's alerts (channel.route)."""
        route = channel.route
        return route is None or nct_id in route.trials or not route.tags.isdisjoint(
            self.tags.get(nct_id, ()))


def alerts_for(policy: AlertPolicy, nct_id: str, title: str | None, version: int,
               events: list[ChangeEvent], occasion: str | None = None) -> list[NewDelivery]:
    """One alert per channel that wants some of this version's events. Events raised on a
    day rather than by a new version (a results deadline) name their occasion: the key is
    its, and the payload's version is the trial's latest on both sides."""
    alerts = []
    for channel in policy.channels:
        if not policy.routed(channel, nct_id):
            continue
        changes = channel_events(policy, channel, events)
        if changes:
            payload = trial_payload(nct_id, title, version,
                                    version if occasion else version - 1, changes,
                                    policy.page_base_url)
            key = idempotency_key(f"{channel.name}:{nct_id}:{occasion or f'v{version}'}")
            alerts.append(NewDelivery(channel.name, "trial.changed", key, payload, nct_id,
                                      version, held=nct_id in policy.held))
    return alerts


def channel_events(policy: AlertPolicy, channel: ChannelSettings,
                   events: list[ChangeEvent]) -> list[ChangeEvent]:
    chosen = wanted(events, policy.categories, policy.min_severity)
    return wanted(chosen, channel.categories, channel.min_severity or Floor())


def monitor_alerts(policy: AlertPolicy, kind: str, message: str, key: str,
                   nct_id: str | None = None) -> list[NewDelivery]:
    """An alert about the monitor itself (failing, recovered, stale, missing trial) to every
    channel that takes them (a missing trial's only where that trial is routed); key names
    the episode, so that it is queued once."""
    payload: dict[str, Any] = {"event": kind, "nct_id": nct_id, "title": message,
                               "url": trial_url(nct_id) if nct_id else None,
                               "message": message, "detected_at": utcnow(), "changes": []}
    return [NewDelivery(c.name, kind, idempotency_key(f"{c.name}:{key}"), payload, nct_id,
                        held=nct_id in policy.held)
            for c in policy.channels
            if c.monitor_alerts and (nct_id is None or policy.routed(c, nct_id))]


def watch_alerts(policy: AlertPolicy, watch: str, trials: list[dict[str, Any]]
                 ) -> list[NewDelivery]:
    """One alert per channel that takes the category "new": the trials newly matching a
    search watch (the webhook payload "watch.new_trials" of INTERFACE.md)."""
    if not trials:
        return []
    payload = {"event": "watch.new_trials", "watch": watch, "trials": trials,
               "detected_at": utcnow()}
    ids = ",".join(t["nct_id"] for t in trials)
    return [NewDelivery(c.name, "watch.new_trials",
                        idempotency_key(f"{c.name}:watch:{watch}:{ids}"), payload)
            for c in policy.channels
            if (c.categories is None or WATCH_CATEGORY in c.categories)
            and (c.route is None or watch in c.route.watches)]


def trial_payload(nct_id: str, title: str | None, version: int, previous: int | None,
                  changes: list[ChangeEvent], page_base_url: str | None = None
                  ) -> dict[str, Any]:
    """The webhook payload of INTERFACE.md for one trial version; page_url (the trial's
    page on the monitor's own web page) only when [web] base_url is set."""
    payload = {"event": "trial.changed", "nct_id": nct_id, "title": title or "",
               "url": trial_url(nct_id), "version": version, "previous_version": previous,
               "detected_at": utcnow(), "changes": [c.to_dict() for c in changes]}
    if page_base_url:
        payload["page_url"] = page_url(page_base_url, nct_id)
    return payload


def idempotency_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]
