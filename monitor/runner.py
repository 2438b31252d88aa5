"""One check: fetch the tracked trials, sort each into new / changed / unchanged / failed,
store new versions with their events and alerts, then hand the outbox to delivery.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor import health, views
from monitor.backfill import RETRY_AFTER_HOURS, Backfill, due
from monitor.config import Settings
from monitor.plan import LAST_SWEEP, Plan, plan
from monitor.registry import RegistryClient
from monitor.result import CheckResult
from monitor.tracking import edit_ids
from monitor.watches import SUMMARY_FIELDS, Watch, summary
from notifiers import Environment, build_notifiers
from notifiers.alerts import alerts_for, monitor_alerts, watch_alerts
from notifiers.courier import Courier
from snapshots.database import TIMESTAMP_FORMAT, utcnow
from snapshots.diff import diff_stored
from snapshots.errors import MonitorError, RecordError
from snapshots.events import ChangeEvent, one_line
from snapshots.normalise import Snapshot, normalise, record_id
from snapshots.store import Store
from snapshots.versions import BASELINE_SUMMARY

Progress = Callable[[int], None]
Sleep = Callable[[float], None]


def connect(settings: Settings, store: Store, fetch_sleep: Sleep = time.sleep,
            deliver_sleep: Sleep = time.sleep) -> tuple[RegistryClient, Courier]:
    """The registry client and the courier of one check; the sleeps are their waits, which
    a daemon makes interruptible."""
    return (RegistryClient(settings.registry, sleep=fetch_sleep),
            courier_for(settings, store, deliver_sleep))


def courier_for(settings: Settings, store: Store, sleep: Sleep = time.sleep) -> Courier:
    env = Environment(timeout=settings.delivery.timeout)
    return Courier(store.outbox, build_notifiers(settings.channels, env), settings.delivery,
                   sleep=sleep)


class Check:
    """The state of one check run; run_check() is the way in."""

    def __init__(self, settings: Settings, store: Store, client: RegistryClient,
                 progress: Progress | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.progress = progress or (lambda _count: None)
        self.should_stop = should_stop or (lambda: False)
        self.result = CheckResult(trials=len(settings.trial_ids))
        self.minutes = settings.monitor.check_timeout_minutes
        self.deadline = time.monotonic() + self.minutes * 60
        self.data_timestamp: str | None = None
        self.plan: Plan | None = None  # set when the registry has refreshed: what to ask for
        self.unverified: set[str] = set()
        self.exc: MonitorError | None = None

    def run(self) -> CheckResult:
        ids = list(self.settings.trial_ids)
        self.store.versions.ensure_trials(ids)
        check_id = self.store.checks.begin()
        try:
            wanted = self.to_fetch(ids)
            self.fetch(wanted)
            if self.settings.backfill and wanted:
                self.backfill(ids)
            self.run_watches()
        except CheckInterrupted:
            self.result.interrupted = True
        except MonitorError as exc:
            self.exc = exc
            self.result.error = str(exc)
        finally:
            self.result.requests = self.client.requests
            self.store.checks.finish(check_id, self.result.outcome, self.result.requests,
                                     self.data_timestamp, views.check_summary(self.result))
        if self.result.outcome in ("ok", "fresh"):
            self.store.set_meta("data_timestamp", self.data_timestamp)
        if self.result.outcome == "ok" and self.plan and self.plan.sweep:
            self.store.set_meta(LAST_SWEEP, utcnow())
        self.store.prune()
        return self.result

    def backfill(self, ids: list[str]) -> None:
        """Load the registry's history of trials new to the store, or whose backfill failed
        more than a day ago; a failure is counted, never the check's."""
        now = datetime.now(UTC)
        cutoff = (now - timedelta(hours=RETRY_AFTER_HOURS)).strftime(TIMESTAMP_FORMAT)
        report = Backfill(self.store, self.client, self.progress, self.stop_if_asked).run(
            due(self.store, ids, cutoff))
        self.result.loaded = report.loaded
        self.result.backfill_failed = report.failed

    def run_watches(self) -> None:
        """Each search watch, when the registry has refreshed (or the watch is new): its
        trials never matched before are alerted, and tracked when it says so. A watch that
        fails is counted; the check and the other watches go on."""
        states = self.store.watches.states() if self.settings.watches else {}
        for watch in self.settings.watches:
            state = states.get(watch.name)
            if self.plan is None and state is not None and state.query == watch.key:
                continue
            self.stop_if_asked()
            try:
                self.run_watch(watch)
            except MonitorError as exc:
                self.result.watch_failed[watch.name] = str(exc)
                self.store.watches.failed(watch.name, str(exc))

    def run_watch(self, watch: Watch) -> None:
        found = {}
        for study in self.client.search(watch.params, SUMMARY_FIELDS, f"the watch {watch.name}"):
            trial = summary(study)
            if trial["nct_id"]:
                found[trial["nct_id"]] = trial
        with self.store.transaction() as conn:
            new = self.store.watches.new_matches(watch.name, watch.key, set(found), conn)
            self.store.outbox.enqueue(watch_alerts(self.settings.alerts, watch.name,
                                                   [found[n] for n in new]), conn)
        self.result.watch_new[watch.name] = len(new)
        if watch.track and new:
            edit_ids(self.settings.path, add=new)

    def to_fetch(self, ids: list[str]) -> list[str]:
        """All tracked trials, or, when the registry has not refreshed, only those not yet done."""
        self.data_timestamp = self.client.data_timestamp()
        last = self.store.get_meta("data_timestamp")
        if self.data_timestamp is None or self.data_timestamp != last:
            self.plan = plan(self.store, ids, self.settings.monitor.sweep_days,
                             datetime.now(UTC))
            self.result.since, self.result.at_risk = self.plan.since, self.plan.at_risk
            return ids
        owed = self.store.versions.owed()
        pending = [i for i in ids if i in owed]
        self.result.fresh = not pending
        self.result.unchanged = [i for i in ids if i not in owed]
        return pending

    def fetch(self, ids: list[str]) -> None:
        """The trials of the plan: those it asks for by update date, the rest in full."""
        if self.plan is None or not self.plan.recent:
            self.fetch_pages(ids, None)
            return
        self.fetch_pages([i for i in ids if i not in self.plan.recent], None)
        self.fetch_pages([i for i in ids if i in self.plan.recent], self.plan.since)

    def fetch_pages(self, ids: list[str], since: str | None) -> None:
        """Fetch ids in batches (with since, only those updated since); a trial the answer
        left out is fetched alone, unless it was left out for not being updated."""
        seen: set[str] = set()
        unanswered: set[str] = set()
        for page in self.client.fetch_batches(ids, since):
            if not page.searched:
                unanswered.update(page.asked)
            if page.failure is not None:
                for nct_id in page.asked:
                    if nct_id not in seen:
                        seen.add(nct_id)
                        self.fail(nct_id, page.failure)
                continue
            asked = set(page.asked)
            hashes = self.store.versions.latest_hashes(page.asked)
            self.unverified = self.store.versions.unverified(page.asked)
            unchanged: list[str] = []
            count = 0
            for record in page.studies:
                self.stop_if_asked()
                count += 1
                tracked = self.match(record, asked)
                if tracked is None or tracked in seen:
                    continue
                seen.add(tracked)
                if self.process(tracked, record, hashes.get(tracked)) == "unchanged":
                    unchanged.append(tracked)
            self.store.versions.mark_checked(unchanged, utcnow())
            self.progress(count)
        not_updated = [i for i in ids if i not in seen and i not in unanswered] if since else []
        self.result.unchanged += not_updated
        self.store.versions.mark_checked(not_updated, utcnow())
        seen.update(not_updated)
        for nct_id in ids:
            if nct_id not in seen:
                self.stop_if_asked()
                self.fetch_alone(nct_id)

    def stop_if_asked(self) -> None:
        """Between two trials: stop when asked to, or when the check has run too long."""
        if self.should_stop():
            raise CheckInterrupted("check interrupted")
        if time.monotonic() > self.deadline:
            raise CheckTimedOut(f"check timed out after {self.minutes:g} minutes "
                                "([monitor] check_timeout_minutes); it stopped between "
                                "trials and the rest waits for the next check")

    @staticmethod
    def match(record: Any, asked: set[str]) -> str | None:
        """The tracked id a record answers: its own NCT id or one of its aliases."""
        try:
            nct_id = record_id(record)
        except RecordError:
            return None
        if nct_id in asked:
            return nct_id
        aliases = record["protocolSection"]["identificationModule"].get("nctIdAliases") or []
        return next((a for a in aliases if a in asked), None)

    def fetch_alone(self, nct_id: str) -> None:
        """A trial the batch did not return: gone (404), moved (301) or rejected (400)."""
        found = self.client.fetch_one(nct_id)
        if found.rejected is not None:
            self.fail(nct_id, f"the registry rejected the id: {found.rejected}")
        elif found.record is None:
            self.missing(nct_id)
        else:
            if found.alias_of:
                self.store.versions.set_alias(nct_id, found.alias_of)
            latest = self.store.versions.latest_hashes([nct_id]).get(nct_id)
            self.process(nct_id, found.record, latest)
        self.progress(1)

    def missing(self, nct_id: str) -> None:
        """Not in the registry: marked, and alerted once per absence."""
        self.result.missing.append(nct_id)
        now = utcnow()
        message = (f"{nct_id} is no longer in the registry (HTTP 404); its stored history "
                   "is kept")
        with self.store.transaction() as conn:
            if self.store.versions.mark_missing(nct_id, now, conn):
                self.store.outbox.enqueue(monitor_alerts(
                    self.settings.alerts, "trial.missing", message, f"missing:{nct_id}:{now}",
                    nct_id), conn)

    def fail(self, nct_id: str, problem: str) -> None:
        self.result.failed[nct_id] = problem
        self.store.versions.mark_failed(nct_id, problem)

    def process(self, nct_id: str, record: Any, latest_hash: str | None) -> str:
        """Sort one fetched record: new, changed or unchanged; store what is new."""
        try:
            snapshot = normalise(record)
        except RecordError as exc:
            self.fail(nct_id, str(exc))
            return "failed"
        if snapshot.hash == latest_hash:
            self.result.unchanged.append(nct_id)
            if nct_id in self.unverified:  # a store from before schema 4 learns it now
                self.store.versions.set_verified(nct_id, snapshot.status_verified)
            return "unchanged"
        previous = self.store.versions.get(nct_id) if latest_hash else None
        events = [] if previous is None else diff_stored(previous.data or {}, snapshot.data,
                                                         previous.loaded)
        self.record(nct_id, snapshot, events, BASELINE_SUMMARY if previous is None
                    else one_line(events))
        (self.result.changed if previous else self.result.new).append(nct_id)
        return "changed" if previous else "new"

    def record(self, nct_id: str, snapshot: Snapshot, events: list[ChangeEvent],
               summary: str) -> None:
        """The new version, its events and its alerts: one transaction, all or nothing."""
        with self.store.transaction() as conn:
            number = self.store.versions.add(nct_id, snapshot, events, summary,
                                             self.data_timestamp, conn)
            self.store.outbox.enqueue(
                alerts_for(self.settings.alerts, nct_id, snapshot.title, number, events), conn)


class CheckInterrupted(MonitorError):
    """The check was asked to stop between two trials."""


class CheckTimedOut(MonitorError):
    """The check ran past its deadline and stopped between two trials."""


def run_check(settings: Settings, store: Store, client: RegistryClient, courier: Courier,
              progress: Progress | None = None,
              should_stop: Callable[[], bool] | None = None) -> CheckResult:
    """One check of every tracked trial, then delivery of every alert that is due.

    A registry failure is recorded with the check and raised after the alerts that
    were already queued have been delivered.
    """
    check = Check(settings, store, client, progress, should_stop)
    result = check.run()
    if not result.interrupted:
        health.review(settings, store, ok=check.exc is None, error=result.error)
    result.delivery = courier.deliver()
    if check.exc is not None:
        raise check.exc
    return result
