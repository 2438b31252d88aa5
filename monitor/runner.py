"""One check: fetch the tracked trials, sort each into new / changed / unchanged / failed,
store new versions with their events and alerts, then hand the outbox to delivery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor import gone, health, mutes, views
from monitor.answers import OutOfBounds, Undecodable
from monitor.backfill import RETRY_AFTER_HOURS, Backfill, due
from monitor.config import Settings
from monitor.plan import LAST_SWEEP, Plan, plan
from monitor.registry import Page, RegistryClient
from monitor.result import CheckResult
from monitor.results_due import raise_due, registry_day
from monitor.tracking import edit_ids
from monitor.watches import SUMMARY_FIELDS, Watch, summary
from notifiers import Environment, build_notifiers
from notifiers.alerts import alerts_for, monitor_alerts, watch_alerts
from notifiers.courier import Courier
from snapshots.checklog import FAILING_OUTCOMES, SUCCEEDED
from snapshots.database import TIMESTAMP_FORMAT, utcnow
from snapshots.diff import diff_stored
from snapshots.errors import MonitorError, RecordError, RegistryError
from snapshots.events import ChangeEvent, one_line
from snapshots.normalise import Snapshot, normalise, record_id
from snapshots.store import Store
from snapshots.versions import BASELINE_SUMMARY
from snapshots.wording import plural

log = logging.getLogger("ctmonitor")
BACKFILL_PAUSED = "backfill_paused_until"  # the history endpoint kept failing: left till then

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
                   sleep=sleep, disabled=gone.disabled(store, settings.channels),
                   on_gone=lambda name, why: gone.disable(store, settings, name, why))


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
        self.check_id = 0
        self.wanted: list[str] = []
        self.not_found: list[str] = []  # ids the registry answered 404 for, when asked alone

    def run(self) -> CheckResult:
        """Fetch, sort, store and alert; the check's record and the registry's clock are
        written whatever happens, and a crash nobody foresaw fails the check, not the
        daemon."""
        ids = list(self.settings.trial_ids)
        self.store.versions.ensure_trials(ids)
        self.check_id = self.store.checks.begin()
        try:
            self.wanted = self.to_fetch(ids)
            self.fetch(self.wanted)
            self.run_watches()
            self.result.deadlines = raise_due(self.settings, self.store,
                                              registry_day(self.data_timestamp), self.result.new)
        except CheckInterrupted:
            self.result.interrupted = True
        except MonitorError as exc:
            self.exc = exc
            self.result.error = str(exc)
        except Exception as exc:  # a bug: recorded and alerted as a failed check
            log.error("check crashed", exc_info=log.isEnabledFor(logging.DEBUG))
            self.exc = CheckCrashed(f"check crashed: {unexpected(exc)}")
            self.exc.__cause__ = exc
            self.result.error = str(self.exc)
        finally:
            self.result.requests = self.client.requests
            self.store.checks.finish(self.check_id, self.result.outcome, self.result.requests,
                                     self.data_timestamp, views.check_summary(self.result))
        if self.result.outcome in SUCCEEDED:
            self.store.set_meta("data_timestamp", self.data_timestamp)
            if self.plan and self.plan.sweep and self.data_timestamp:
                self.store.set_meta(LAST_SWEEP, self.data_timestamp)
        self.store.prune()
        return self.result

    def backfill(self) -> None:
        """After the check's alerts, within what is left of its deadline: the registry's
        history of trials new to the store, or whose backfill failed more than a day ago.
        Nothing here fails the check: a failure is counted, and an endpoint that keeps
        failing is left alone for RETRY_AFTER_HOURS."""
        if not (self.settings.backfill and self.wanted and self.exc is None
                and not self.result.interrupted):
            return
        now = datetime.now(UTC)  # our own retry timing, not the registry's clock
        paused = self.store.get_meta(BACKFILL_PAUSED)
        if paused and paused > now.strftime(TIMESTAMP_FORMAT):
            return
        cutoff = (now - timedelta(hours=RETRY_AFTER_HOURS)).strftime(TIMESTAMP_FORMAT)
        ids = due(self.store, list(self.settings.trial_ids), cutoff)
        backfill = Backfill(self.store, self.client, self.progress, self.stop_if_asked)
        try:
            report = backfill.run(ids)
        except (CheckInterrupted, CheckTimedOut) as exc:
            report = backfill.report
            report.stopped = ("backfill interrupted" if isinstance(exc, CheckInterrupted) else
                              "backfill stopped at the check's deadline") + \
                "; the rest waits for the next check"
        self.result.loaded = report.loaded
        self.result.backfill_failed = report.failed
        self.result.backfill_stopped = report.stopped
        if report.endpoint_down:
            until = now + timedelta(hours=RETRY_AFTER_HOURS)
            self.store.set_meta(BACKFILL_PAUSED, until.strftime(TIMESTAMP_FORMAT))
        self.result.requests = self.client.requests
        self.store.checks.describe(self.check_id, self.result.requests,
                                   views.check_summary(self.result))

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
        found, unreadable = {}, 0
        for study in self.client.search(watch.params, SUMMARY_FIELDS, f"the watch {watch.name}"):
            trial = summary(study)
            if trial is None:
                unreadable += 1
            else:
                found[trial["nct_id"]] = trial
        if unreadable:
            log.warning("the watch %s: skipped %s without a sound NCT id", watch.name,
                        plural(unreadable, "result"))
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
                             self.data_timestamp)
            self.result.since, self.result.at_risk = self.plan.since, self.plan.at_risk
            return ids
        owed = self.store.versions.owed()
        pending = [i for i in ids if i in owed]
        self.result.fresh = not pending
        self.result.unchanged = [i for i in ids if i not in owed]
        return pending

    def fetch(self, ids: list[str]) -> None:
        """The trials of the plan: those it asks for by update date, the rest in full; then
        the ids the registry did not find, unless it seems to find nothing at all."""
        if self.plan is None or not self.plan.recent:
            self.fetch_pages(ids, None)
        else:
            self.fetch_pages([i for i in ids if i not in self.plan.recent], None)
            self.fetch_pages([i for i in ids if i in self.plan.recent], self.plan.since)
        self.settle_not_found()

    def settle_not_found(self) -> None:
        """A trial is missing only while the registry otherwise answers: 404 to /version
        and to the search, or to every tracked id at once, is a wrong base_url (or a proxy
        in the way), and marks nothing."""
        if not self.not_found:
            return
        url = self.settings.registry.base_url
        every = len(self.not_found) == len(self.settings.trial_ids) > 1
        if self.client.not_found >= {"/version", "/studies"} or every:
            what = ("every tracked trial" if every else
                    "/version, to the search and to " + plural(len(self.not_found), "trial"))
            raise RegistryError(f"registry: {url} answered 404 (not found) to {what}: is "
                                "registry.base_url right? No trial was marked missing")
        for nct_id in self.not_found:
            self.missing(nct_id)

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
            try:
                self.read_page(page, seen)
            except OutOfBounds as exc:  # this batch's answer, not the registry, is wrong
                for nct_id in page.asked:
                    if nct_id not in seen:
                        seen.add(nct_id)
                        self.fail(nct_id, str(exc))
        not_updated = [i for i in ids if i not in seen and i not in unanswered] if since else []
        self.result.unchanged += not_updated
        self.store.versions.mark_checked(not_updated, utcnow())
        seen.update(not_updated)
        for nct_id in ids:
            if nct_id not in seen:
                self.stop_if_asked()
                self.fetch_alone(nct_id)

    def read_page(self, page: Page, seen: set[str]) -> None:
        """Process the studies of a page as they are read."""
        asked = set(page.asked)
        hashes = self.store.versions.latest_hashes(page.asked)
        self.unverified = self.store.versions.unverified(page.asked)
        unchanged: list[str] = []
        count = 0
        try:
            for record in page.studies:
                self.stop_if_asked()
                count += 1
                tracked = self.match(record, asked)
                if tracked is None or tracked in seen:
                    continue
                seen.add(tracked)
                if isinstance(record, Undecodable):
                    self.fail(tracked, record.problem)
                elif self.process(tracked, record, hashes.get(tracked)) == "unchanged":
                    unchanged.append(tracked)
        finally:
            self.store.versions.mark_checked(unchanged, utcnow())
            self.progress(count)

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
        """The tracked id a record answers: its own NCT id or one of its aliases (read
        leniently: the record is checked when it is processed)."""
        if isinstance(record, Undecodable):
            return record.nct_id if record.nct_id in asked else None
        try:
            nct_id = record_id(record)
        except RecordError:
            return None
        if nct_id in asked:
            return nct_id
        aliases = record["protocolSection"]["identificationModule"].get("nctIdAliases")
        if not isinstance(aliases, list):
            return None
        return next((a for a in aliases if isinstance(a, str) and a in asked), None)

    def fetch_alone(self, nct_id: str) -> None:
        """A trial the batch did not return: gone (404), moved (301) or rejected (400)."""
        found = self.client.fetch_one(nct_id)
        if found.rejected is not None:
            self.fail(nct_id, f"the registry rejected the id: {found.rejected}")
        elif found.unreadable is not None:
            self.fail(nct_id, found.unreadable)
        elif found.record is None:
            self.not_found.append(nct_id)
        else:
            if found.alias_of:
                self.store.versions.set_alias(nct_id, found.alias_of)
            latest = self.store.versions.latest_hashes([nct_id]).get(nct_id)
            self.process(nct_id, found.record, latest)
        self.progress(1)

    def missing(self, nct_id: str) -> None:
        """Not in the registry: marked, and alerted once per absence; an id never seen
        there is a failing trial (a mistyped id?), not a trial gone."""
        if not self.store.versions.latest_hashes([nct_id]).get(nct_id):
            self.fail(nct_id, "not found in the registry (HTTP 404): is the id right?")
            return
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
        """Sort one fetched record: new, changed or unchanged; store what is new. A record
        that cannot be read fails its own trial, whatever is wrong with it."""
        try:
            snapshot = normalise(record)
            if snapshot.hash != latest_hash:
                previous = self.store.versions.get(nct_id) if latest_hash else None
                events = [] if previous is None else diff_stored(
                    previous.data or {}, snapshot.data, previous.lacks)
        except RecordError as exc:
            self.fail(nct_id, str(exc))
            return "failed"
        except MonitorError:
            raise  # the store's trouble is the check's
        except Exception as exc:  # a record shape nobody foresaw: this trial alone fails
            log.error("%s: record unreadable", nct_id, exc_info=log.isEnabledFor(logging.DEBUG))
            self.fail(nct_id, f"record unreadable: {unexpected(exc)}")
            return "failed"
        if snapshot.hash == latest_hash:
            self.result.unchanged.append(nct_id)
            if nct_id in self.unverified:  # an older store's row learns it now
                self.store.versions.learn(nct_id, snapshot)
            return "unchanged"
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


class CheckCrashed(MonitorError):
    """The check met an error nobody foresaw; it is recorded as failed with its reason."""


def unexpected(exc: BaseException) -> str:
    """An unforeseen error in one line: its type and where it was raised, never its text
    (which could hold a secret or a hostile record's bytes)."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"unexpected error ({type(exc).__name__}{where})"


def run_check(settings: Settings, store: Store, client: RegistryClient, courier: Courier,
              progress: Progress | None = None,
              should_stop: Callable[[], bool] | None = None) -> CheckResult:
    """One check of every tracked trial, then delivery of every alert that is due.

    A registry failure is recorded with the check and raised after the alerts that
    were already queued have been delivered. Backfill comes last, so that it never delays
    an alert. Channels disabled by their receiver (410 Gone; the courier read which) get
    no alerts queued; a muted trial's alerts are queued held back.
    """
    settings = mutes.for_check(store, gone.active(settings, courier.disabled))
    check = Check(settings, store, client, progress, should_stop)
    result = check.run()
    if not result.interrupted:
        health.review(settings, store, ok=result.outcome not in FAILING_OUTCOMES,
                      error=result.error or views.first_failure(result))
    result.delivery = courier.deliver()
    check.backfill()
    if check.exc is not None:
        raise check.exc
    return result
