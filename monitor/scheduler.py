"""The daemon: APScheduler calls one check on the configured cron schedule until a signal.

A daemon lock keeps a second daemon off the store; each check takes the writer lock, so a
manual check and a scheduled one never write at once. SIGTERM / SIGINT stop between two
trials (each trial's version is one transaction), deliver what can be delivered, exit 0.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from monitor import health, views, web
from monitor.config import Settings
from monitor.live import Live
from monitor.registry import RegistryClient
from monitor.runner import CheckInterrupted, connect, courier_for, run_check
from monitor.schedule import trigger
from snapshots.errors import MonitorError, StoreBusy
from snapshots.store import Store

log = logging.getLogger("ctmonitor")
STALENESS_EVERY_MINUTES = 10


class Daemon:
    """Runs checks for the scheduler; stop() asks the running check to end between trials."""

    def __init__(self, live: Live, store: Store) -> None:
        self.live = live
        self.store = store
        self.stopping = threading.Event()

    @property
    def settings(self) -> Settings:
        """The config file as it is now: an edit applies from the next check."""
        return self.live.settings

    def pause(self, seconds: float) -> None:
        """Delivery backoff that ends early when a stop is asked for."""
        self.stopping.wait(seconds)

    def pause_fetching(self, seconds: float) -> None:
        """Registry backoff and pacing: a stop asked for meanwhile ends the check here."""
        if self.stopping.wait(seconds):
            raise CheckInterrupted("check interrupted")

    def check(self) -> None:
        """One scheduled check; every outcome is logged, none escapes to the scheduler."""
        try:
            self.check_now()
        except StoreBusy as exc:
            log.warning("check skipped: %s", exc)
        except MonitorError as exc:
            log.error("check failed: %s", exc)
        except Exception:  # the daemon must outlive any one check
            log.exception("check crashed")

    def check_now(self) -> None:
        """One check under the writer lock; errors are the caller's."""
        if self.stopping.is_set():
            return
        settings = self.settings
        with self.store.writer_lock():
            client, courier = connect(settings, self.store,
                                      fetch_sleep=self.pause_fetching, deliver_sleep=self.pause)
            result = run_check(settings, self.store, client, courier,
                               should_stop=self.stopping.is_set)
        log.info(views.check_summary(result))
        for line in views.failure_lines(result):
            log.warning("trial failed: %s", line.strip())

    def watch(self) -> None:
        """Between checks: the staleness alert and retries of waiting deliveries."""
        try:
            with self.store.writer_lock():
                health.review_staleness(self.settings, self.store)
                courier_for(self.settings, self.store, self.pause).deliver()
        except MonitorError as exc:
            log.info("watch skipped: %s", exc)

    def poll(self, check_now: Callable[[], None]) -> None:
        """Between checks: ask /version, and check at once when dataTimestamp moved. A
        registry that does not answer is retried as any request, then left for the next
        poll: only checks count toward the failure alert."""
        try:
            client = RegistryClient(self.settings.registry, sleep=self.pause_fetching)
            stamp = client.data_timestamp()
        except MonitorError as exc:
            log.warning("poll: %s (the next poll or check asks again)", exc)
            return
        if stamp is not None and stamp != self.store.get_meta("data_timestamp"):
            log.info("the registry has refreshed (dataTimestamp %s): checking now", stamp)
            check_now()

    def stop(self, signum: int, _frame: Any) -> None:
        log.info("received %s: stopping after the current trial", signal.Signals(signum).name)
        self.stopping.set()


def run_daemon(settings: Settings, now: bool = False) -> int:
    """Run until SIGTERM or SIGINT; a check at start when now is true."""
    store = Store.open(settings.store)
    try:
        live = Live(settings)
        with store.daemon_lock(), history_page(live):
            return _serve(Daemon(live, store), settings, now)
    finally:
        store.close()


@contextmanager
def history_page(live: Live) -> Iterator[None]:
    """With [web] enabled: the history page in a thread of the daemon, stopped with it; its
    forms edit the config the daemon reads."""
    if not live.settings.web.enabled:
        yield
        return
    with web.Page(live) as page:
        log.info("the history page is at %s", page.address)
        yield


def _serve(daemon: Daemon, settings: Settings, now: bool) -> int:
    """The check at start runs before the schedule, so a registry that cannot be reached
    at start (a wrong base_url, no network) is one line and a non-zero exit, not a daemon
    that fails quietly. Later failures are logged and alerted; the daemon goes on.
    """
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, daemon.stop)
    if now:
        daemon.check_now()
    if daemon.stopping.is_set():
        log.info("ctmonitor daemon stopped")
        return 0
    from apscheduler.schedulers.background import BackgroundScheduler  # only for the daemon

    scheduler = BackgroundScheduler(
        timezone=ZoneInfo(settings.monitor.timezone),
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": settings.monitor.misfire_grace})
    scheduler.add_job(daemon.check, trigger(settings.monitor), id="check",
                      jitter=settings.monitor.jitter or None)
    scheduler.add_job(daemon.watch, "interval", minutes=STALENESS_EVERY_MINUTES, id="watch")
    if settings.monitor.poll_minutes:
        scheduler.add_job(daemon.poll, "interval", seconds=settings.monitor.poll_minutes * 60,
                          id="poll", args=[lambda: scheduler.modify_job(
                              "check", next_run_time=datetime.now(UTC))])
    scheduler.start()
    log.info("ctmonitor daemon started: %d trials from %s, schedule %r (%s), next check %s",
             len(settings.trial_ids), urlsplit(settings.registry.base_url).netloc,
             settings.monitor.schedule, settings.monitor.timezone,
             scheduler.get_job("check").next_run_time)
    while not daemon.stopping.wait(1.0):
        pass
    scheduler.shutdown(wait=True)
    log.info("ctmonitor daemon stopped")
    return 0
