"""Which tracked trials a check asks for, and how: a full sweep, or only what can have
changed since the last successful check.

An incremental check asks the registry for the tracked trials whose LastUpdatePostDate
moved since the last successful check (less a margin of days), plus, in full, every trial
the registry may change by itself without moving that date: a trial not finished whose
status was last verified nearly two years ago, which the registry sets to UNKNOWN on its
own (API-NOTES section 5), plus trials new to the store or whose last fetch failed. Every
sweep_days, or when no check has succeeded recently, a full sweep asks for every trial and
catches whatever else changed without a date moving.

Every "since" and every "today" here is on the registry's clock: the dataTimestamp of this
check and of the last successful one, never the machine's clock: a registry mirror that
lags, a replay of recorded days or a machine whose clock is wrong still gets every change.
A registry without a dataTimestamp gets full sweeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from snapshots.store import Store
from snapshots.versions import Trial
from snapshots.wording import parse_date

LAST_SWEEP = "last_sweep"  # the dataTimestamp of the last full sweep
MARGIN_DAYS = 3  # the registry's update dates are days, posted a day or two after the fact
OPEN_STATUSES = frozenset({"NOT_YET_RECRUITING", "RECRUITING", "ENROLLING_BY_INVITATION",
                           "ACTIVE_NOT_RECRUITING", "SUSPENDED"})
UNVERIFIED_DAYS = 2 * 365  # the registry's rule for UNKNOWN
AT_RISK_MARGIN_DAYS = 90  # fetched in full this long before the rule can apply


@dataclass
class Plan:
    """A check's plan: sweep every trial, or ask by update date for those in recent."""

    sweep: bool
    since: str | None = None  # YYYY-MM-DD: LastUpdatePostDate from this day on
    recent: set[str] = field(default_factory=set)
    at_risk: int = 0


def registry_time(stamp: str | None) -> datetime | None:
    """A dataTimestamp ("2026-03-12T09:00:05", UTC) as a datetime; None if it is not one.
    The store's own stamps (a trailing Z) read the same."""
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp.removesuffix("Z"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def plan(store: Store, ids: list[str], sweep_days: int, data_timestamp: str | None) -> Plan:
    """The plan of a check whose registry stands at data_timestamp."""
    now = registry_time(data_timestamp)
    last_sweep = registry_time(store.get_meta(LAST_SWEEP))
    last_ok = store.checks.last_success()
    last_stamp = registry_time(last_ok.data_timestamp) if last_ok else None
    if (sweep_days <= 0 or now is None or last_sweep is None or last_stamp is None
            or not last_sweep <= now < last_sweep + timedelta(days=sweep_days)
            or last_stamp > now):
        return Plan(sweep=True)  # also when the registry's clock went back: a replaced copy
    since = (last_stamp.date() - timedelta(days=MARGIN_DAYS)).isoformat()
    trials = store.versions.trials(ids)
    risky = {t.nct_id for t in trials if at_risk(t, now.date())}
    recent = {t.nct_id for t in trials if t.latest_version and not t.last_error
              and not t.missing_since and t.nct_id not in risky}
    return Plan(sweep=False, since=since, recent=recent, at_risk=len(risky))


def at_risk(trial: Trial, today: date) -> bool:
    """A trial the registry may soon set to UNKNOWN by itself, with no update date moving."""
    if trial.latest_status not in OPEN_STATUSES:
        return False
    verified = parse_date(trial.status_verified)
    return verified is None or (today - verified).days >= UNVERIFIED_DAYS - AT_RISK_MARGIN_DAYS
