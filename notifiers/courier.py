"""Sends the outbox: each due alert through its channel until the channel accepts it.

A row is marked done only after the channel accepted it. Failures are retried with
backoff (a channel's Retry-After wins) during the check and on later checks, up to
max_attempts, then marked failed; one failing channel never holds back the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from notifiers.alerts import idempotency_key
from notifiers.base import ChannelGone, Notifier, RetryableDelivery
from snapshots.events import SEVERITY_RANK
from snapshots.outbox import Delivery, Outbox
from snapshots.retry import backoff

log = logging.getLogger("ctmonitor")
RETRIES_IN_CHECK = 2
MAX_BACKOFF_SECONDS = 3600.0  # between later checks' retries of one alert
MAX_WAIT_IN_CHECK = 30.0


@dataclass(frozen=True)
class DeliverySettings:
    """[delivery]: how hard the outbox tries."""

    max_attempts: int = 8  # tries of one alert before it is marked failed
    timeout: float = 30.0  # seconds a channel (SMTP, Slack, webhook) may take to answer
    backoff: float = 2.0  # seconds before the first retry, doubling after each


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    pending: int = 0


def attempt(notifier: Notifier, message: Any,
            key: str) -> tuple[str | None, RetryableDelivery | None]:
    """Send a built message once: (the channel's answer, None), or (None, why it did not
    take the alert).

    A channel's unexpected error counts as a failed try too, so that it is recorded and
    retried like any other, and never stops the channels after it.
    """
    try:
        return notifier.deliver(message, key), None
    except RetryableDelivery as exc:
        return None, exc
    except Exception as exc:  # noqa: BLE001 (any channel bug is one failed delivery)
        log.debug("channel %s failed", notifier.name, exc_info=True)
        return None, RetryableDelivery(f"unexpected error ({type(exc).__name__})")


def build(notifier: Notifier, payloads: list[dict[str, Any]]) -> tuple[Any, str | None]:
    """The channel's message of these alerts, or None and why it cannot make one."""
    try:
        return notifier.build(payloads), None
    except Exception as exc:  # noqa: BLE001 (this channel's trouble, no one else's)
        return None, f"this channel cannot make its message of the alert ({type(exc).__name__})"


class Courier:
    """Sends what the outbox holds through the configured channels."""

    def __init__(self, outbox: Outbox, notifiers: dict[str, Notifier],
                 settings: DeliverySettings, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time,
                 disabled: dict[str, str] | None = None,
                 on_gone: Callable[[str, str], None] | None = None) -> None:
        self.outbox = outbox
        self.notifiers = notifiers
        self.max_attempts = settings.max_attempts
        self.backoff = settings.backoff
        self.sleep = sleep
        self.clock = clock
        self.disabled = dict(disabled or {})  # channel -> why (a receiver's 410 Gone)
        self.on_gone = on_gone  # told of a channel that answered 410 Gone

    def deliver(self) -> DeliveryReport:
        """Send every due alert; a digest channel's alerts go as one message. A channel
        whose receiver answers 410 Gone is disabled, and what on_gone queued (the others
        told of it) is sent in the same run."""
        report = DeliveryReport()
        gone = len(self.disabled)
        by_channel: dict[str, list[Delivery]] = {}
        for item in self.outbox.due(self.clock()):
            by_channel.setdefault(item.channel, []).append(item)
        for name, items in by_channel.items():
            notifier = self.notifiers.get(name)
            if notifier is None or name in self.disabled:
                self._give_up(items, self.disabled.get(name, "channel no longer configured"),
                              report)
                continue
            groups = ([sorted(items, key=_most_severe_first)]
                      if notifier.settings.mode == "digest" else [[i] for i in items])
            for n, group in enumerate(groups):
                if name in self.disabled:
                    self._give_up([i for g in groups[n:] for i in g], self.disabled[name],
                                  report)
                    break
                self._send(notifier, group, report)
        if len(self.disabled) > gone:
            more = self.deliver()
            report.sent += more.sent
            report.failed += more.failed
            report.pending += more.pending
        return report

    def _built(self, notifier: Notifier, group: list[Delivery],
               report: DeliveryReport) -> tuple[Any, list[Delivery]]:
        """The channel's message of the group, and the alerts in it. An alert the channel
        cannot make a message of is marked failed for this channel, with why (the other
        channels still send it); a digest goes on without it."""
        message, why = build(notifier, [i.payload for i in group])
        if why is None:
            return message, group
        if len(group) > 1:
            reasons = {i.id: build(notifier, [i.payload])[1] for i in group}
            good = [i for i in group if reasons[i.id] is None]
            if 0 < len(good) < len(group):
                for item in group:
                    if reasons[item.id]:
                        self._give_up([item], reasons[item.id] or why, report)
                return self._built(notifier, good, report)
        self._give_up(group, why, report)
        return None, []

    def _give_up(self, items: list[Delivery], why: str, report: DeliveryReport) -> None:
        self.outbox.mark_attempt([i.id for i in items], why, self.clock(), give_up=True)
        report.failed += len(items)

    def _send(self, notifier: Notifier, group: list[Delivery], report: DeliveryReport) -> None:
        message, group = self._built(notifier, group, report)
        if not group:
            return
        ids = [i.id for i in group]
        key = group[0].idempotency_key if len(group) == 1 else idempotency_key(
            "+".join(i.idempotency_key for i in group))
        attempts = max(i.attempts for i in group)
        for tried in range(RETRIES_IN_CHECK + 1):
            _answer, failure = attempt(notifier, message, key)
            if failure is None:
                self.outbox.mark_delivered(ids)
                report.sent += len(group)
                return
            if isinstance(failure, ChannelGone):
                why = f"channel disabled: {failure}"
                self.disabled[notifier.name] = why
                self._give_up(group, why, report)
                if self.on_gone is not None:
                    self.on_gone(notifier.name, str(failure))
                return
            attempts += 1
            wait = backoff(attempts, self.backoff, MAX_BACKOFF_SECONDS, failure.retry_after)
            last = attempts >= self.max_attempts
            if last or tried == RETRIES_IN_CHECK or wait > MAX_WAIT_IN_CHECK:
                self.outbox.mark_attempt(ids, str(failure), self.clock() + wait, give_up=last,
                                         attempts=attempts)
                report.failed += len(group) if last else 0
                report.pending += 0 if last else len(group)
                return
            self.sleep(wait)


def _most_severe_first(item: Delivery) -> int:
    changes = item.payload.get("changes")
    ranks = [SEVERITY_RANK.get(str(c.get("severity")), 0) for c in changes if isinstance(c, dict)
             ] if isinstance(changes, list) else []  # a payload of any shape sorts
    return -max(ranks, default=len(SEVERITY_RANK))  # alerts about the monitor itself lead
