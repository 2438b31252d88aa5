"""The monitor watches itself: failing checks, recovery and staleness, alerted once per episode."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from monitor import gone, views
from monitor.config import Settings
from monitor.results_due import today_of
from monitor.schedule import next_check
from notifiers.alerts import monitor_alerts
from snapshots.checklog import FAILING_OUTCOMES
from snapshots.database import parse_utc
from snapshots.store import Store

FAILING = "health.failing_since"
STALE = "health.stale_since"


def review(settings: Settings, store: Store, ok: bool, error: str | None = None) -> None:
    """After a check: queue a failure alert after N failures in a row (a check that failed,
    or one in which trials failed), a recovery after one check with none."""
    failing_since = store.get_meta(FAILING)
    if ok:
        if failing_since:
            store.outbox.enqueue(monitor_alerts(
                settings.alerts, "monitor.recovered", "ctmonitor recovered: a check succeeded "
                f"again after failing since {failing_since}", f"recovered:{failing_since}"))
            store.set_meta(FAILING, None)
        if store.get_meta(STALE):
            store.set_meta(STALE, None)
        return
    streak = failed_streak(store)
    if streak >= settings.monitor.failure_alert_after and not failing_since:
        since = store.checks.last(streak)[-1].started_at
        store.outbox.enqueue(monitor_alerts(
            settings.alerts, "monitor.failing", f"ctmonitor is failing: {streak} checks in a "
            f"row failed or left trials failing (last error: {error or 'unknown'})",
            f"failing:{since}"))
        store.set_meta(FAILING, since)


def failed_streak(store: Store, limit: int = 1000) -> int:
    streak = 0
    for check in store.checks.last(limit):
        if check.outcome not in FAILING_OUTCOMES:
            break
        streak += 1
    return streak


def review_staleness(settings: Settings, store: Store, now: datetime | None = None) -> bool:
    """Queue one staleness alert when no check has succeeded for stale_after_hours."""
    now = now or datetime.now(UTC)
    last = store.checks.last_success()
    since = last.finished_at if last else None
    if since is None or store.get_meta(STALE):
        return False
    age_hours = (now - parse_utc(since)).total_seconds() / 3600
    if age_hours < settings.monitor.stale_after_hours:
        return False
    store.outbox.enqueue(monitor_alerts(
        settings.alerts, "monitor.stale", f"ctmonitor is stale: no check has succeeded since "
        f"{since} ({age_hours:.0f} hours)", f"stale:{since}"))
    store.set_meta(STALE, since)
    return True


def report(settings: Settings, store: Store) -> dict[str, Any]:
    """Where the monitor stands: `ctmonitor status` and the web page's /status."""
    last = store.checks.last(1)
    return views.status_report(store.lock_holder("daemon"), last[0] if last else None,
                               next_check(settings.monitor, datetime.now(UTC)),
                               store.versions.trials(settings.trial_ids), store.outbox.counts(),
                               today_of(store), gone.disabled(store, settings.channels))
