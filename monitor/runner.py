"""One check: fetch the tracked trials, sort each into new / changed / unchanged / failed,
store new versions with their events and alerts, then hand the outbox to delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from monitor import health
from monitor.config import Settings
from monitor.errors import MonitorError, RecordError
from monitor.registry import RegistryClient
from notifiers.delivery import Courier, DeliveryReport, monitor_rows, rows_for_version
from snapshots.diff import diff
from snapshots.events import ChangeEvent, one_line
from snapshots.normalise import Snapshot, normalise, record_id
from snapshots.store import Store, utcnow

BASELINE_SUMMARY = "baseline (first version)"
Progress = Callable[[int], None]


@dataclass
class CheckResult:
    """How each tracked trial was sorted in one check."""

    trials: int = 0
    requests: int = 0
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    fresh: bool = False
    interrupted: bool = False
    error: str | None = None
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    @property
    def outcome(self) -> str:
        if self.error:
            return "failed"
        return "interrupted" if self.interrupted else "fresh" if self.fresh else "ok"

    def summary(self) -> str:
        versions = len(self.new) + len(self.changed)
        line = (f"checked {self.trials} trial{'s' if self.trials != 1 else ''} with "
                f"{self.requests} request{'s' if self.requests != 1 else ''}: "
                f"{versions} new version{'s' if versions != 1 else ''}, "
                f"{len(self.unchanged)} unchanged, {len(self.failed)} failed")
        if self.missing:
            line += f", {len(self.missing)} not in the registry"
        if self.fresh:
            line += " (registry data unchanged since the last check)"
        if self.interrupted:
            line += " (interrupted; the rest waits for the next check)"
        if self.delivery.failed or self.delivery.pending:
            line += (f"; alerts: {self.delivery.sent} sent, {self.delivery.pending} to retry, "
                     f"{self.delivery.failed} failed")
        return line


class Check:
    """The state of one check run; run_check() is the way in."""

    def __init__(self, settings: Settings, store: Store, client: RegistryClient,
                 progress: Progress | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.progress = progress or (lambda n: None)
        self.should_stop = should_stop or (lambda: False)
        self.result = CheckResult(trials=len(settings.trial_ids))
        self.data_timestamp: str | None = None
        self.exc: MonitorError | None = None

    def run(self) -> CheckResult:
        ids = list(self.settings.trial_ids)
        self.store.ensure_trials(ids)
        check_id = self.store.begin_check()
        try:
            self.fetch(self.to_fetch(ids))
        except CheckInterrupted:
            self.result.interrupted = True
        except MonitorError as exc:
            self.exc = exc
            self.result.error = str(exc)
        finally:
            self.result.requests = self.client.requests
            self.store.finish_check(check_id, self.result.outcome, self.result.requests,
                                    self.data_timestamp, self.result.summary())
        if self.result.outcome in ("ok", "fresh"):
            self.store.set_meta("data_timestamp", self.data_timestamp)
        self.store.prune()
        return self.result

    def to_fetch(self, ids: list[str]) -> list[str]:
        """All tracked trials, or, when the registry has not refreshed, only those not yet done."""
        self.data_timestamp = self.client.data_timestamp()
        last = self.store.get_meta("data_timestamp")
        if self.data_timestamp is None or self.data_timestamp != last:
            return ids
        rows = {r["nct_id"]: r for r in self.store.trial_rows(ids)}
        pending = [i for i in ids if (not rows[i]["latest_version"] or rows[i]["last_error"])
                   and not rows[i]["missing_since"]]
        waiting = set(pending)
        self.result.fresh = not pending
        self.result.unchanged = [i for i in ids if i not in waiting]
        return pending

    def fetch(self, ids: list[str]) -> None:
        seen: set[str] = set()
        for batch, studies in self.client.fetch_batches(ids):
            asked = set(batch)
            hashes = self.store.latest_hashes(batch)
            unchanged: list[str] = []
            count = 0
            for record in studies:
                self.stop_if_asked()
                count += 1
                tracked = self.match(record, asked)
                if tracked is None or tracked in seen:
                    continue
                seen.add(tracked)
                if self.process(tracked, record, hashes.get(tracked)) == "unchanged":
                    unchanged.append(tracked)
            self.store.mark_checked(unchanged, utcnow())
            self.progress(count)
        for nct_id in ids:
            if nct_id not in seen:
                self.stop_if_asked()
                self.fetch_alone(nct_id)

    def stop_if_asked(self) -> None:
        if self.should_stop():
            raise CheckInterrupted("check interrupted")

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
                self.store.set_alias(nct_id, found.alias_of)
            latest = self.store.latest_hashes([nct_id]).get(nct_id)
            self.process(nct_id, found.record, latest)
        self.progress(1)

    def missing(self, nct_id: str) -> None:
        self.result.missing.append(nct_id)
        message = (f"{nct_id} is no longer in the registry (HTTP 404); its stored history "
                   "is kept")
        rows = monitor_rows(self.settings, "trial.missing", message,
                            f"missing:{nct_id}:{utcnow()}", nct_id)
        self.store.mark_missing(nct_id, utcnow(), rows)

    def fail(self, nct_id: str, problem: str) -> None:
        self.result.failed[nct_id] = problem
        self.store.mark_failed(nct_id, problem)

    def process(self, nct_id: str, record: Any, latest_hash: str | None) -> str:
        """Sort one fetched record: new, changed or unchanged; store what is new."""
        try:
            snapshot = normalise(record)
        except RecordError as exc:
            self.fail(nct_id, str(exc))
            return "failed"
        if snapshot.hash == latest_hash:
            self.result.unchanged.append(nct_id)
            return "unchanged"
        previous = self.store.version(nct_id) if latest_hash else None
        events = diff(previous.data or {}, snapshot.data) if previous else []
        self.store_version(nct_id, snapshot, events, baseline=previous is None)
        (self.result.changed if previous else self.result.new).append(nct_id)
        return "changed" if previous else "new"

    def store_version(self, nct_id: str, snapshot: Snapshot, events: list[ChangeEvent],
                      baseline: bool) -> None:
        self.store.add_version(
            nct_id, snapshot.canonical, snapshot.hash, snapshot.status, snapshot.title,
            snapshot.last_update, self.data_timestamp, [e.to_dict() for e in events],
            BASELINE_SUMMARY if baseline else one_line(events),
            outbox_for=lambda number: rows_for_version(self.settings, nct_id, snapshot.title,
                                                       number, events))


class CheckInterrupted(MonitorError):
    """The check was asked to stop between two trials."""


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
