"""Load a trial's earlier versions from the registry's own record history.

Each version the registry lists and the store lacks is read from the website's internal
endpoints, brought to the API v2 form (snapshots.internal), and stored before the versions
found by checks, in its own transaction: an interrupted backfill resumes where it stopped.
Nothing is alerted: a status change of 2019 is history, not news.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.registry import HistoryError, RegistryClient
from snapshots.database import utcnow
from snapshots.errors import RecordError, RegistryError
from snapshots.internal import from_internal
from snapshots.normalise import normalise
from snapshots.store import Store

RETRY_AFTER_HOURS = 24  # a failed backfill is tried again by a check at most once a day
MAX_FAILURES_IN_A_ROW = 3  # then the endpoint is taken to be down, not these trials' history


@dataclass
class BackfillReport:
    trials: int = 0
    loaded: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    stopped: str | None = None  # why it stopped before the last trial
    endpoint_down: bool = False


class Backfill:
    """Backfills trials one by one; between(), called before each request, may stop it."""

    def __init__(self, store: Store, client: RegistryClient,
                 progress: Callable[[int], None] | None = None,
                 between: Callable[[], None] | None = None) -> None:
        self.store = store
        self.client = client
        self.progress = progress or (lambda _count: None)
        self.between = between or (lambda: None)
        self.report = BackfillReport()

    def run(self, ids: list[str]) -> BackfillReport:
        """Each trial in turn; after MAX_FAILURES_IN_A_ROW failures in a row the endpoint is
        down, and the trials left wait (report.stopped says so)."""
        in_a_row = 0
        for nct_id in ids:
            self.between()
            self.report.trials += 1
            try:
                self.report.loaded += self.trial(nct_id)
            except RegistryError as exc:
                self.report.failed[nct_id] = str(exc)
                self.store.versions.mark_backfill(nct_id, utcnow(), str(exc))
                in_a_row += 1
                if in_a_row >= MAX_FAILURES_IN_A_ROW and nct_id != ids[-1]:
                    self.report.endpoint_down = True
                    self.report.stopped = (f"backfill: history endpoint unreachable ({exc}); "
                                           f"retrying after {RETRY_AFTER_HOURS} hours")
                    break
            else:
                in_a_row = 0
                self.store.versions.mark_backfill(nct_id, utcnow(), None)
        return self.report

    def trial(self, nct_id: str) -> int:
        """Load every version of one trial not stored yet; how many were loaded."""
        changes = self.client.history(nct_id)
        stored = {v.registry_version for v in self.store.versions.history(nct_id) if v.loaded}
        loaded = 0
        for change in changes:
            if change.version in stored:
                continue
            self.between()
            study = self.client.history_version(nct_id, change.version)
            try:
                snapshot = normalise(from_internal(study))
            except RecordError as exc:
                raise HistoryError(f"registry: version {change.version} of {nct_id}: "
                                   f"{exc}") from None
            with self.store.transaction() as conn:
                self.store.versions.insert_loaded(nct_id, snapshot, change.version,
                                                  change.date, conn)
            loaded += 1
            self.progress(1)
        return loaded


def due(store: Store, ids: list[str], cutoff: str | None = None) -> list[str]:
    """Tracked trials with stored versions whose history is not loaded yet, and which were
    not tried since cutoff (when given)."""
    return [t.nct_id for t in store.versions.trials(ids)
            if t.latest_version and not t.backfilled_at
            and (cutoff is None or t.backfill_tried_at is None
                 or t.backfill_tried_at < cutoff)]
