"""Results deadlines raised by checks, on the registry's day: a trial's events of
snapshots.deadlines (due soon, overdue, reported late) that stand today and were not raised
before go to the channels that take results, each once, even on a day the record did not
change. The trial row keeps the deadline of its latest version and what was raised."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from monitor.config import Settings
from monitor.plan import registry_time
from notifiers.alerts import alerts_for
from snapshots.deadlines import DUE_SOON, OVERDUE, Notice, notices
from snapshots.events import ChangeEvent
from snapshots.store import Store
from snapshots.versions import Trial
from snapshots.wording import parse_date, plural

SEVERITY = {DUE_SOON: "notable", OVERDUE: "critical"}  # reported late: notable


def registry_day(stamp: str | None) -> date | None:
    moment = registry_time(stamp)
    return moment.date() if moment else None


def standing(trial: Trial, today: date) -> list[Notice]:
    """The trial's deadline events that stand on today."""
    if not trial.results_due:
        return []
    return notices(date.fromisoformat(trial.results_due), parse_date(trial.results_submitted),
                   today, parse_date(trial.results_in_review))


def deadline_text(trial: Trial | None, today: date | None) -> str | None:
    """The trial's results deadline as list and the pages show it: the event that stands
    (due in N days, overdue, reported late), else a submission under review, else its due
    date; nothing where there is none or it was met."""
    if trial is None or not trial.results_due:
        return None
    for notice in standing(trial, today) if today else []:
        return notice.summary
    if trial.results_submitted:
        return None
    if trial.results_in_review:
        return (f"Results submitted {trial.results_in_review}, under review "
                f"(due {trial.results_due})")
    return f"Results due {trial.results_due}"


def standing_lists(trials: list[Trial], today: date | None) -> dict[str, list[str]]:
    """`status`'s trials with results overdue, and due soon."""
    overdue, soon = [], []
    for trial in trials:
        for n in standing(trial, today) if today else []:
            if n.field == OVERDUE:
                overdue.append(f"{trial.nct_id}: due {n.due}, {plural(n.days, 'day')} late")
            elif n.field == DUE_SOON:
                soon.append(f"{trial.nct_id}: due in {plural(-n.days, 'day')} ({n.due})")
    return {"results_overdue": overdue, "results_due_soon": soon}


def today_of(store: Store) -> date | None:
    """The registry's day at the last check."""
    return registry_day(store.get_meta("data_timestamp"))


def raise_due(settings: Settings, store: Store, today: date | None,
              baselines: Iterable[str] = ()) -> list[ChangeEvent]:
    """Queue the deadline events that stand today and were never raised; the events. A
    trial's baseline (its first version, this check) alerts nothing, as ever: what stands
    then is marked raised, and shows in list and on the page. Without the registry's day
    (no /version) nothing is raised."""
    if today is None:
        return []
    quiet = set(baselines)
    raised = []
    for trial in store.versions.deadlines(settings.trial_ids):
        before = set((trial.deadlines_raised or "").split())
        fresh = [n for n in standing(trial, today) if f"{n.field}:{n.due}" not in before]
        if not fresh:
            continue
        events = [ChangeEvent(trial.nct_id, "results", n.field, "results deadline", None,
                              n.due.isoformat(), SEVERITY.get(n.field, "notable"), n.summary,
                              n.days) for n in fresh]
        keys = {f"{n.field}:{n.due}" for n in fresh}
        with store.transaction() as conn:
            if trial.nct_id not in quiet:
                store.outbox.enqueue(alerts_for(settings.alerts, trial.nct_id, trial.title,
                                                trial.latest_version, events,
                                                occasion=",".join(sorted(keys))), conn)
                raised += events
            store.versions.raise_deadlines(trial.nct_id, "\n".join(sorted(before | keys)),
                                           conn)
    return raised
