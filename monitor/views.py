"""Everything the monitor shows on a screen or prints as JSON: the one place for wording
that is not an alert's."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

from monitor.backfill import BackfillReport
from monitor.result import CheckResult
from monitor.results_due import deadline_text, standing_lists
from monitor.watches import Watch
from notifiers.base import ChannelSettings
from snapshots.checklog import Check
from snapshots.copying import TableCopy
from snapshots.events import ChangeEvent
from snapshots.locks import Holder
from snapshots.migrations import Revision
from snapshots.outbox import Delivery
from snapshots.versions import Trial, Version
from snapshots.watchlog import WatchState
from snapshots.wording import clip, enum_text, plural, show

STATUS_WIDTH = 24  # the list's status column, wider when a status is longer
OUTCOME_MEANINGS = {
    "fresh": "the registry had not refreshed since the last check, so nothing was fetched",
    "partial": "it ran, but some trials failed",
    "aborted": "the process ended before the check did",
}


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def check_summary(result: CheckResult) -> str:
    """The line a check ends with: what it found, what it cost, what it could not do."""
    line = (f"checked {plural(result.trials, 'trial')} with "
            f"{plural(result.requests, 'request')}: "
            f"{plural(len(result.new) + len(result.changed), 'new version')}, "
            f"{len(result.unchanged)} unchanged, {len(result.failed)} failed")
    if result.missing:
        line += f", {len(result.missing)} not in the registry"
    if result.since:
        line += (f" (incremental: updated since {result.since}, "
                 f"{result.at_risk} at risk of an unannounced change asked in full)")
    if result.loaded:
        line += f", {plural(result.loaded, 'earlier version')} loaded from the registry"
    if result.backfill_failed:
        line += f", {plural(len(result.backfill_failed), 'backfill')} failed"
    if result.backfill_stopped:
        line += f"; {result.backfill_stopped}"
    if result.watch_new:
        line += "; watches: " + ", ".join(f"{name} {plural(n, 'new trial')}"
                                          for name, n in result.watch_new.items())
    if result.watch_failed:
        line += f"; {plural(len(result.watch_failed), 'watch', 'es')} failed"
    if result.deadlines:
        line += f"; {plural(len(result.deadlines), 'results deadline')} to report"
    if result.fresh:
        line += " (registry data unchanged since the last check)"
    if result.interrupted:
        line += " (interrupted; the rest waits for the next check)"
    report = result.delivery
    if report.failed or report.pending:
        line += (f"; alerts: {report.sent} sent, {report.pending} to retry, "
                 f"{report.failed} failed")
    return line


def first_failure(result: CheckResult) -> str | None:
    """The first trial that failed in a check, with its reason, and how many more."""
    if not result.failed:
        return None
    nct_id, problem = next(iter(result.failed.items()))
    more = len(result.failed) - 1
    return f"{nct_id}: {problem}" + (f" (+{more} more)" if more else "")


def failure_lines(result: CheckResult) -> list[str]:
    """One line per trial that failed in a check."""
    return [f"  {nct_id}: {problem}" for nct_id, problem in result.failed.items()]


def events_text(events: list[ChangeEvent], heading: str) -> list[str]:
    """Events grouped by category, most severe first within each."""
    if not events:
        return [f"{heading}: no changes"]
    lines = [f"{heading}: {plural(len(events), 'change')}"]
    category = None
    for event in events:
        if event.category != category:
            category = event.category
            lines.append(f"{category}")
        lines.append(f"  [{event.severity}] {event.summary}")
    return lines


def version_json(version: Version) -> dict[str, Any]:
    return {"nct_id": version.nct_id, "version": version.number,
            "fetched_at": version.fetched_at, "last_update": version.last_update,
            "data_timestamp": version.data_timestamp, "status": version.status,
            "hash": version.hash, "summary": version.summary, "changes": version.events,
            "source": version.source, "registry_version": version.registry_version,
            "registry_date": version.registry_date}


def origin(version: Version) -> str:
    """Where a version came from, as history and show say it."""
    if version.loaded:
        return f"registry history v{version.registry_version} of {version.registry_date}"
    return f"fetched {version.fetched_at}"


def history_lines(versions: list[Version]) -> list[str]:
    lines = []
    for v in versions:
        status = enum_text(v.status) if v.status else "-"
        lines.append(f"{v.number:>4}  {origin(v):<33}  registry update "
                     f"{v.last_update or '-':<10}  {status:<24}  {v.summary}")
    return lines


def backfill_lines(report: BackfillReport, requests: int) -> list[str]:
    lines = [f"{nct}: {problem}" for nct, problem in report.failed.items()]
    return [*lines, f"backfilled {plural(report.trials, 'trial')} with "
                    f"{plural(requests, 'request')}: {plural(report.loaded, 'earlier version')} "
                    f"loaded, {len(report.failed)} failed"
                    + (f"; {report.stopped}" if report.stopped else "")]


def trials_json(trials: list[Trial], ids: tuple[str, ...],
                counts: dict[str, int]) -> dict[str, Any]:
    by_id = {t.nct_id: t._asdict() for t in trials}
    return {"trials": [by_id.get(i, {"nct_id": i}) for i in ids],
            "failed_deliveries": counts.get("failed", 0),
            "pending_deliveries": counts.get("pending", 0)}


def trial_lines(trials: list[Trial], ids: tuple[str, ...], last: Check | None,
                counts: dict[str, int], today: date | None = None) -> list[str]:
    """One line per tracked trial, then where the checks and deliveries stand."""
    by_id = {t.nct_id: t for t in trials}
    statuses = {t.latest_status for t in trials}
    width = max([STATUS_WIDTH, *(len(enum_text(s)) for s in statuses if s)])
    lines = [_trial_line(nct, by_id.get(nct), width, today) for nct in ids]
    when = f"last check {last.finished_at} ({outcome(last.outcome)})" if last else "never checked"
    lines.append(f"{len(ids)} tracked; {when}; failed deliveries: {counts.get('failed', 0)}, "
                 f"waiting to retry: {counts.get('pending', 0)}")
    return lines


def muted_text(until: str) -> str:
    return f"muted until {until}" if until else "muted"


def outcome(word: str) -> str:
    """A check's outcome, with what it means where the word alone does not say."""
    meaning = OUTCOME_MEANINGS.get(word)
    return f"{word}: {meaning}" if meaning else word


def _trial_line(nct: str, trial: Trial | None, width: int, today: date | None) -> str:
    status = enum_text(trial.latest_status) if trial and trial.latest_status else "not fetched yet"
    flags = []
    if trial and trial.missing_since:
        flags.append(f"NOT IN THE REGISTRY since {trial.missing_since}")
    elif trial and trial.last_error:
        flags.append(f"last check failed: {trial.last_error}")
    if trial and trial.alias_of:
        flags.append(f"now {trial.alias_of}")
    if trial and trial.muted_until is not None:
        flags.append(muted_text(trial.muted_until))
    deadline = deadline_text(trial, today)
    if deadline:
        flags.append(deadline)
    versions = trial.latest_version if trial else 0
    checked = (trial.last_checked_at if trial else None) or "never"
    return (f"{nct}  {status:<{width}} {versions:>3} version{'s' if versions != 1 else ' '}"
            f"  checked {checked:<20}  {clip((trial.title if trial else None) or '', 60)}"
            + (f"  [{'; '.join(flags)}]" if flags else ""))


def tracked_line(changed: list[str], unchanged: list[str], adding: bool) -> str:
    """What track / untrack did to the config's list."""
    listed = f": {', '.join(changed)}" if changed else ""
    if adding:
        return (f"tracking {plural(len(changed), 'more trial')}{listed}"
                + (f" ({', '.join(unchanged)} already tracked)" if unchanged else ""))
    return (f"stopped tracking {plural(len(changed), 'trial')}{listed}"
            + (f" ({', '.join(unchanged)} not tracked)" if unchanged else "")
            + "; stored history is kept")


def delivery_json(deliveries: list[Delivery]) -> list[dict[str, Any]]:
    return [{k: v for k, v in asdict(d).items() if k != "payload"} for d in deliveries]


def delivery_lines(deliveries: list[Delivery]) -> list[str]:
    lines = [f"{d.id:>5}  {d.status:<7}  {d.channel:<12} {d.kind:<15} "
             f"{d.nct_id or '-':<11} v{d.version or '-':<4} attempts {d.attempts}"
             + (f"  last error: {d.last_error}" if d.last_error else "")
             for d in deliveries]
    return lines or ["no deliveries"]


def status_report(daemon: Holder | None, last: Check | None, next_run: str | None,
                  trials: list[Trial], counts: dict[str, int],
                  today: date | None = None,
                  disabled: dict[str, str] | None = None) -> dict[str, Any]:
    """What `ctmonitor status` shows, as its JSON."""
    return {
        "daemon": f"running ({daemon})" if daemon else "not running",
        "last_check": (f"{last.finished_at}: {outcome(last.outcome)}; {last.detail}"
                       if last else None),
        "next_scheduled_check": next_run,
        "failing_trials": [f"{t.nct_id}: {t.last_error}" for t in trials if t.last_error],
        "failed_deliveries": counts.get("failed", 0),
        "deliveries_waiting_to_retry": counts.get("pending", 0),
        "disabled_channels": [f"{n}: {why}" for n, why in (disabled or {}).items()],
        "muted_trials": [f"{t.nct_id}: {muted_text(t.muted_until)}" for t in trials
                         if t.muted_until is not None],
        **standing_lists(trials, today),
    }


def migrated(store: str, before: Revision, after: Revision) -> str:
    if before.new:
        return f"store {store}: created at revision {after.current}"
    if before.current == after.current:
        return f"store {store}: up to date (revision {after.current})"
    return f"store {store}: migrated from revision {before.current} to {after.current}"


def copied(source: str, target: str, tables: list[TableCopy]) -> list[str]:
    rows = sum(t.rows for t in tables)
    return [f"copied store {source} to {target}: {plural(rows, 'row')}, every table's count "
            "and SHA-256 the same on both sides",
            *(f"  {t.table:<14} {t.rows:>9,}  {t.sha256[:16]}" for t in tables)]


def status_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in report.items():
        shown = "; ".join(value) if isinstance(value, list) else value
        lines.append(f"{key.replace('_', ' ')}: {shown if shown not in (None, '') else '-'}")
    return lines


def watch_rows(watches: tuple[Watch, ...], states: dict[str, WatchState]
               ) -> list[dict[str, Any]]:
    """Each configured watch with how its runs went (its JSON in `watches --json`)."""
    rows = []
    for watch in watches:
        state = states.get(watch.name)
        current = state is not None and state.query == watch.key
        rows.append({"name": watch.name, "query": dict(watch.params), "track": watch.track,
                     "baseline_at": state.baseline_at if current and state else None,
                     "last_run_at": state.last_run_at if current and state else None,
                     "matches": state.matches if current and state else None,
                     "new_trials": state.last_new if current and state else None,
                     "last_error": state.last_error if state else None})
    return rows


def watch_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for row in rows:
        query = "&".join(f"{k}={v}" for k, v in row["query"].items())
        ran = (f"last run {row['last_run_at']}: {row['matches']} matching, "
               f"{row['new_trials']} new" if row["last_run_at"] else "not run yet")
        lines.append(f"{row['name']}  {query}  {ran}" + ("  (tracks new matches)"
                                                       if row["track"] else "")
                     + (f"  [last run failed: {row['last_error']}]" if row["last_error"]
                        else ""))
    return lines or ["no watches ([watches.NAME] in the config)"]


def channel_answer(name: str, kind: str, answer: str | None, failure: str | None) -> str:
    return f"{name} ({kind}): {answer if failure is None else f'FAILED: {failure}'}"


def receives(channel: ChannelSettings, tags: dict[str, tuple[str, ...]]) -> str:
    """What a channel is given, in a line: its routing, categories and floor."""
    route = channel.route
    if route is None:
        what = "every trial's and watch's alerts"
    else:
        tagged = sorted(n for n, t in tags.items() if route.tags.intersection(t))
        what = route.describe() + (f" ({', '.join(tagged)})" if tagged else "")
    cats = ", ".join(channel.categories) if channel.categories else "the [alerts] categories"
    floor = channel.min_severity.describe() if channel.min_severity else "as [alerts] says"
    own = "; and the monitor's own alerts" if channel.monitor_alerts else (
        "; not the monitor's own alerts")
    return f"  receives: {what}; {cats}; severity {floor}{own}"


def sent_headers(headers: dict[str, str] | None, configured: dict[str, str]) -> list[str]:
    """The headers a receiver got from a webhook, those of the config not shown (they may
    hold a token)."""
    return [f"  {k}: {'(from the config, not shown)' if k in configured else v}"
            for k, v in (headers or {}).items()]


def snapshot_lines(version: Version) -> list[str]:
    """The fields a clinician looks at first, then where to find the rest."""
    data = version.data or {}
    protocol = data.get("protocolSection", {})
    status = protocol.get("statusModule", {})
    design = protocol.get("designModule", {})
    ident = protocol.get("identificationModule", {})
    enrollment = design.get("enrollmentInfo", {})
    sponsor = protocol.get("sponsorCollaboratorsModule", {}).get("leadSponsor", {})
    lines = [f"{version.nct_id} version {version.number} ({origin(version)})",
             f"  Title:              {ident.get('briefTitle', '-')}",
             f"  Overall status:     {show(status.get('overallStatus'))}"]
    if status.get("whyStopped"):
        lines.append(f"  Why stopped:        {status['whyStopped']}")
    for key, label in (("start", "Start"), ("primaryCompletion", "Primary completion"),
                       ("completion", "Completion")):
        struct = status.get(f"{key}DateStruct") or {}
        kind = f" ({struct['type'].lower()})" if struct.get("type") else ""
        lines.append(f"  {label + ':':<20}{struct.get('date', '-')}{kind}")
    lines += [f"  Phase:              {show(design.get('phases'))}",
              f"  Enrollment:         {enrollment.get('count', '-')} "
              f"({str(enrollment.get('type', '-')).lower()})",
              f"  Lead sponsor:       {sponsor.get('name', '-')}",
              f"  Results posted:     {show(data.get('hasResults'))}",
              f"  Registry update:    {version.last_update or '-'}",
              "  (--json prints the whole stored snapshot)"]
    return lines


def initialised(path: Path) -> list[str]:
    return [f"wrote {path.resolve()}: two seed trials and the console channel; every other "
            "section is there, commented", "next: ctmonitor check (or ctmonitor run)"]
