"""What each ctmonitor command does; the CLI parses and reports errors, these act."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from monitor import config, views
from monitor.errors import ConfigError, DeliveryError, MonitorError, RecordError
from monitor.registry import RegistryClient
from monitor.runner import run_check
from monitor.tracking import edit_ids, parse_ids
from notifiers.base import Environment
from notifiers.delivery import Courier, attempt, build_notifiers
from notifiers.sample import sample_payload
from snapshots.diff import compare_records, diff
from snapshots.events import ChangeEvent
from snapshots.normalise import record_id
from snapshots.store import Store

PROGRESS_MIN_TRIALS = 300


def config_path(args: argparse.Namespace) -> Path:
    return Path(args.config) if args.config else config.default_config_path()


def settings_of(args: argparse.Namespace) -> config.Settings:
    return config.load(config_path(args))


@contextmanager
def opened(settings: config.Settings) -> Iterator[Store]:
    store = Store.open(settings.store_path)
    try:
        yield store
    finally:
        store.close()


def out(text: str = "") -> None:
    print(text, file=sys.stdout)


# -- checking -------------------------------------------------------------------------------
def check(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    with opened(settings) as store, store.writer_lock():
        result = check_once(settings, store)
    out(result.summary())
    return 3 if result.delivery.failed else 0


def check_once(settings: config.Settings, store: Store) -> Any:
    """One check with the real registry client, channels and (on a terminal) a progress bar."""
    client = RegistryClient(settings.registry)
    courier = Courier(store, build_notifiers(settings, Environment()), settings.max_attempts)
    with progress_bar(len(settings.trial_ids)) as advance:
        return run_check(settings, store, client, courier, advance)


@contextmanager
def progress_bar(total: int) -> Iterator[Any]:
    if total < PROGRESS_MIN_TRIALS or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("checking trials", total=total)
        yield lambda n: bar.advance(task, n)


def run(args: argparse.Namespace) -> int:
    from monitor.scheduler import run_daemon

    return run_daemon(settings_of(args), now=args.now)


# -- the config's trial list ----------------------------------------------------------------
def track(args: argparse.Namespace) -> int:
    changed, unchanged = edit_ids(config_path(args), add=parse_ids(args.ids))
    out(f"tracking {len(changed)} more trial{'s' if len(changed) != 1 else ''}"
        + (f": {', '.join(changed)}" if changed else "")
        + (f" ({', '.join(unchanged)} already tracked)" if unchanged else ""))
    return 0


def untrack(args: argparse.Namespace) -> int:
    changed, unchanged = edit_ids(config_path(args), remove=parse_ids(args.ids))
    out(f"stopped tracking {len(changed)} trial{'s' if len(changed) != 1 else ''}"
        + (f": {', '.join(changed)}" if changed else "")
        + (f" ({', '.join(unchanged)} not tracked)" if unchanged else "")
        + "; stored history is kept")
    return 0


# -- reading the store ----------------------------------------------------------------------
def list_trials(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    with opened(settings) as store:
        rows = store.trial_rows(settings.trial_ids)
        counts = store.delivery_counts()
        last = store.last_checks(1)
    if args.json:
        by_id = {r["nct_id"]: r for r in rows}
        out(views.dumps({"trials": [by_id.get(i, {"nct_id": i}) for i in settings.trial_ids],
                         "failed_deliveries": counts.get("failed", 0),
                         "pending_deliveries": counts.get("pending", 0)}))
        return 0
    for line in views.trial_lines(rows, list(settings.trial_ids)):
        out(line)
    when = (f"last check {last[0]['finished_at']} ({last[0]['outcome']})" if last
            else "never checked")
    out(f"{len(settings.trial_ids)} tracked; {when}; failed deliveries: "
        f"{counts.get('failed', 0)}, waiting to retry: {counts.get('pending', 0)}")
    return 0


def history(args: argparse.Namespace) -> int:
    nct_id = parse_ids([args.nct_id])[0]
    with opened(settings_of(args)) as store:
        versions = store.versions(nct_id)
    if args.json:
        out(views.dumps([views.version_json(v) for v in versions]))
        return 0
    if not versions:
        raise MonitorError(f"{nct_id}: no stored versions (is it tracked and checked?)")
    for line in views.history_lines(versions):
        out(line)
    return 0


def show(args: argparse.Namespace) -> int:
    nct_id = parse_ids([args.nct_id])[0]
    with opened(settings_of(args)) as store:
        version = store.version(nct_id, args.number)
    if version is None:
        which = f"version {args.number}" if args.number else "stored versions"
        raise MonitorError(f"{nct_id}: no {which}")
    if args.json:
        out(views.dumps(version.data))
    else:
        for line in views.snapshot_lines(version):
            out(line)
    return 0


def diff_versions(args: argparse.Namespace) -> int:
    nct_id = parse_ids([args.nct_id])[0]
    with opened(settings_of(args)) as store:
        latest = store.version(nct_id)
        if latest is None:
            raise MonitorError(f"{nct_id}: no stored versions")
        b = args.b or latest.number
        a = args.a if args.a is not None else b - 1
        old, new = store.version(nct_id, a), store.version(nct_id, b)
    for number, found in ((a, old), (b, new)):
        if found is None:
            raise MonitorError(f"{nct_id}: no version {number} (versions 1 to {latest.number})")
    events = diff(old.data or {}, new.data or {})  # type: ignore[union-attr]
    return print_events(args, events, f"{nct_id} version {a} -> {b}")


def compare(args: argparse.Namespace) -> int:
    events = compare_records(read_record(args.old), read_record(args.new))
    return print_events(args, events, f"{args.old} -> {args.new}")


def read_record(name: str) -> Any:
    try:
        record = json.loads(Path(name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MonitorError(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RecordError(f"{name}: not a JSON file ({exc})") from None
    try:
        record_id(record)
    except RecordError as exc:
        raise RecordError(f"{name}: {exc}") from None
    return record


def print_events(args: argparse.Namespace, events: list[ChangeEvent], heading: str) -> int:
    if args.json:
        out(views.dumps([e.to_dict() for e in events]))
    else:
        for line in views.events_text(events, heading):
            out(line)
    return 0


# -- alerts ---------------------------------------------------------------------------------
def deliveries(args: argparse.Namespace) -> int:
    with opened(settings_of(args)) as store:
        rows = store.deliveries(args.status)
    if args.json:
        out(views.dumps([{k: v for k, v in r.items() if k != "payload"} for r in rows]))
        return 0
    for r in rows:
        out(f"{r['id']:>5}  {r['status']:<7}  {r['channel']:<12} {r['kind']:<15} "
            f"{r['nct_id'] or '-':<11} v{r['version'] or '-':<4} attempts {r['attempts']}"
            + (f"  last error: {r['last_error']}" if r["last_error"] else ""))
    if not rows:
        out("no deliveries")
    return 0


def notify_test(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    notifiers = build_notifiers(settings, Environment())
    if args.name and args.name not in notifiers:
        raise ConfigError(f"{settings.path}: notifiers.{args.name}: no such channel "
                          f"(configured: {', '.join(notifiers) or 'none'})")
    failed = 0
    for name, notifier in notifiers.items():
        if args.name and name != args.name:
            continue
        answer, failure = attempt(notifier, [sample_payload()], f"notify-test-{name}")
        if failure is not None:
            failed += 1
            answer = f"FAILED: {failure}"
        out(f"{name} ({notifier.kind}): {answer}")
    if failed:
        raise DeliveryError(f"{failed} channel{'s' if failed != 1 else ''} did not accept "
                            "the sample alert")
    return 0


def status(args: argparse.Namespace) -> int:
    from monitor.scheduler import status_report

    settings = settings_of(args)
    with opened(settings) as store:
        report = status_report(settings, store)
    if args.json:
        out(views.dumps(report))
    else:
        for key, value in report.items():
            shown = "; ".join(value) if isinstance(value, list) else value
            out(f"{key.replace('_', ' ')}: {shown if shown not in (None, '') else '-'}")
    return 0
