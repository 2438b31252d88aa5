"""The outbox: alerts are queued with their version and sent until a channel accepts them.

A row is marked done only after the channel accepted it. Failures are retried with
backoff (a channel's Retry-After wins) during the check and on later checks, up to
max_attempts, then marked failed; one failing channel never holds back the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from monitor.config import ChannelSettings, Settings
from notifiers.base import Environment, Notifier, RetryableDelivery
from notifiers.render import trial_url
from snapshots.events import SEVERITY_RANK, ChangeEvent, wanted
from snapshots.store import OutboxItem, Store, utcnow

log = logging.getLogger("ctmonitor")
RETRIES_IN_CHECK = 2
BACKOFF_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 3600.0
MAX_WAIT_IN_CHECK = 30.0


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    pending: int = 0
    answers: list[str] = field(default_factory=list)


def build_notifiers(settings: Settings, env: Environment) -> dict[str, Notifier]:
    from notifiers import NOTIFIERS

    return {c.name: NOTIFIERS[c.type](c, env) for c in settings.channels}


def trial_payload(nct_id: str, title: str | None, version: int, previous: int | None,
                  changes: list[ChangeEvent]) -> dict[str, Any]:
    """The webhook payload of INTERFACE.md for one trial version."""
    return {"event": "trial.changed", "nct_id": nct_id, "title": title or "",
            "url": trial_url(nct_id), "version": version, "previous_version": previous,
            "detected_at": utcnow(), "changes": [c.to_dict() for c in changes]}


def rows_for_version(settings: Settings, nct_id: str, title: str | None, version: int,
                     events: list[ChangeEvent]) -> list[dict[str, Any]]:
    """One outbox row per channel that wants some of this version's events."""
    rows = []
    for channel in settings.channels:
        changes = channel_events(settings, channel, events)
        if changes:
            payload = trial_payload(nct_id, title, version, version - 1, changes)
            rows.append(outbox_row(channel.name, "trial.changed", payload,
                                   f"{channel.name}:{nct_id}:v{version}", nct_id, version))
    return rows


def channel_events(settings: Settings, channel: ChannelSettings,
                   events: list[ChangeEvent]) -> list[ChangeEvent]:
    """[alerts] narrows first; a channel's own categories and min_severity narrow further."""
    chosen = wanted(events, settings.categories, settings.min_severity)
    return wanted(chosen, channel.categories, channel.min_severity or "minor")


def monitor_rows(settings: Settings, kind: str, message: str, key: str,
                 nct_id: str | None = None) -> list[dict[str, Any]]:
    """Rows for an alert about the monitor itself (failing, recovered, stale, missing trial)."""
    payload: dict[str, Any] = {"event": kind, "nct_id": nct_id, "title": message,
               "url": trial_url(nct_id) if nct_id else None, "message": message,
               "detected_at": utcnow(), "changes": []}
    return [outbox_row(c.name, kind, payload, f"{c.name}:{key}", nct_id, None)
            for c in settings.channels]


def outbox_row(channel: str, kind: str, payload: dict[str, Any], key: str,
               nct_id: str | None, version: int | None) -> dict[str, Any]:
    return {"channel": channel, "kind": kind, "nct_id": nct_id, "version": version,
            "idempotency_key": _key(key), "payload": json.dumps(payload, ensure_ascii=False),
            "status": "pending", "attempts": 0, "next_attempt_at": 0.0, "created_at": utcnow()}


def _most_severe_first(item: OutboxItem) -> int:
    return -max((SEVERITY_RANK[c["severity"]] for c in item.payload.get("changes", [])),
                default=len(SEVERITY_RANK))  # alerts about the monitor itself lead


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def attempt(notifier: Notifier, messages: list[dict[str, Any]],
            key: str) -> tuple[str | None, RetryableDelivery | None]:
    """Send once: (the channel's answer, None), or (None, why it did not take the alert).

    A channel's unexpected error counts as a failed try too, so that it is recorded and
    retried like any other, and never stops the channels after it.
    """
    try:
        return notifier.send(messages, key), None
    except RetryableDelivery as exc:
        return None, exc
    except Exception as exc:  # noqa: BLE001 (any channel bug is one failed delivery)
        log.debug("channel %s failed", notifier.name, exc_info=True)
        return None, RetryableDelivery(f"unexpected error ({type(exc).__name__})")


class Courier:
    """Sends what the outbox holds through the configured channels."""

    def __init__(self, store: Store, notifiers: dict[str, Notifier], max_attempts: int,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.notifiers = notifiers
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.clock = clock

    def deliver(self) -> DeliveryReport:
        """Send every due row; group a digest channel's rows into one message."""
        report = DeliveryReport()
        by_channel: dict[str, list[OutboxItem]] = {}
        for item in self.store.due(self.clock()):
            by_channel.setdefault(item.channel, []).append(item)
        for name, items in by_channel.items():
            notifier = self.notifiers.get(name)
            if notifier is None:
                self.store.mark_attempt([i.id for i in items], "channel no longer configured",
                                        self.clock(), give_up=True)
                report.failed += len(items)
                continue
            groups = ([sorted(items, key=_most_severe_first)]
                      if notifier.settings.mode == "digest" else [[i] for i in items])
            for group in groups:
                self._send(notifier, group, report)
        return report

    def _send(self, notifier: Notifier, group: list[OutboxItem], report: DeliveryReport) -> None:
        ids = [i.id for i in group]
        key = group[0].idempotency_key if len(group) == 1 else _key(
            "+".join(i.idempotency_key for i in group))
        attempts = max(i.attempts for i in group)
        for tried in range(RETRIES_IN_CHECK + 1):
            answer, failure = attempt(notifier, [i.payload for i in group], key)
            if failure is None:
                self.store.mark_delivered(ids)
                report.sent += len(group)
                report.answers.append(f"{notifier.name}: {answer}")
                return
            attempts += 1
            wait = self._backoff(attempts, failure.retry_after)
            last = attempts >= self.max_attempts
            if last or tried == RETRIES_IN_CHECK or wait > MAX_WAIT_IN_CHECK:
                self.store.mark_attempt(ids, str(failure), self.clock() + wait, give_up=last,
                                        attempts=attempts)
                report.failed += len(group) if last else 0
                report.pending += 0 if last else len(group)
                report.answers.append(f"{notifier.name}: {failure}")
                return
            self.sleep(wait)

    @staticmethod
    def _backoff(attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return min(BACKOFF_SECONDS * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
