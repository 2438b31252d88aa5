"""What each ctmonitor command does; the CLI declares and parses them, these act."""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from monitor import config, health, mutes, views, web, workers
from monitor import export as exporting
from monitor.backfill import Backfill, due
from monitor.exits import ExitStatus
from monitor.live import Live
from monitor.registry import RegistryClient
from monitor.result import CheckResult
from monitor.results_due import today_of
from monitor.runner import connect, run_check
from monitor.scheduler import run_daemon
from monitor.tracking import edit_ids, parse_ids, tracked_ids
from notifiers import Environment, build_notifiers
from notifiers.courier import attempt
from notifiers.sample import sample_payload
from snapshots.copying import copy_store
from snapshots.diff import compare_records, diff_stored
from snapshots.errors import ConfigError, DeliveryError, MonitorError, RecordError, RegistryError
from snapshots.events import ChangeEvent
from snapshots.normalise import record_id
from snapshots.store import Store, parse_url, shown, sqlite_url
from snapshots.wording import plural, printable

PROGRESS_MIN_TRIALS = 300


def config_path(args: argparse.Namespace) -> Path:
    return Path(args.config) if args.config else config.default_config_path()


def settings_of(args: argparse.Namespace) -> config.Settings:
    return config.load(config_path(args))


@contextmanager
def opened(settings: config.Settings, reading: bool = False) -> Iterator[Store]:
    """The store, for reading only where the command only reads."""
    store = Store.open_to_read(settings.store) if reading else Store.open(settings.store)
    try:
        yield store
    finally:
        store.close()


def out(lines: str | list[str]) -> None:
    """Print lines (in one write: `list` may print 100,000), as a terminal should get them:
    a CRLF or an escape in a record's text neither splits a line nor acts on the terminal.
    A text is split at its newlines first (JSON's strings hold none)."""
    lines = lines.split("\n") if isinstance(lines, str) else lines
    if lines:
        sys.stdout.write("\n".join(map(printable, lines)) + "\n")


# -- checking -------------------------------------------------------------------------------
def check(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    with opened(settings) as store, store.writer_lock():
        result = check_once(settings, store)
    out([views.check_summary(result), *views.failure_lines(result)])
    return ExitStatus.DELIVERY_FAILED if result.delivery.failed else ExitStatus.OK


def check_once(settings: config.Settings, store: Store) -> CheckResult:
    """One check with the real registry client, channels and (on a terminal) a progress bar."""
    client, courier = connect(settings, store)
    with progress_bar(len(settings.trial_ids)) as advance:
        return run_check(settings, store, client, courier, advance)


@contextmanager
def progress_bar(total: int, what: str = "checking trials",
                 minimum: int = PROGRESS_MIN_TRIALS, sized: bool = True) -> Iterator[Any]:
    """A progress bar on a terminal for total items (sized), or a counter that runs on."""
    if total < minimum or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress  # only on a terminal: rich is slow to import

    with Progress(transient=True) as bar:
        task = bar.add_task(what, total=total if sized else None)
        yield lambda n: bar.advance(task, n)


def backfill(args: argparse.Namespace) -> int:
    """Load the registry's history of the trials named, or of every tracked trial not yet
    backfilled; never alerts."""
    settings = settings_of(args)
    with opened(settings) as store, store.writer_lock():
        ids = parse_ids(args.ids) if args.ids else due(store, list(settings.trial_ids))
        store.versions.ensure_trials(ids)
        client = RegistryClient(settings.registry)
        with progress_bar(len(ids), "loading earlier versions", 1, sized=False) as advance:
            report = Backfill(store, client, advance).run(ids)
    out(views.backfill_lines(report, client.requests))
    if report.failed:
        raise RegistryError(f"{plural(len(report.failed), 'backfill')} failed; "
                            "`ctmonitor backfill` tries them again")
    return ExitStatus.OK


def run(args: argparse.Namespace) -> int:
    return run_daemon(settings_of(args), now=args.now)


def serve(args: argparse.Namespace) -> int:
    """The history page alone, until SIGTERM or Ctrl-C."""
    settings = settings_of(args)
    if args.port is not None and not 0 <= args.port < 65536:
        raise ConfigError(f"serve --port: expected a port from 1 to 65535 (0: any free "
                          f"port), got {args.port}")
    settings = replace(settings, web=replace(
        settings.web, host=args.host or settings.web.host,
        port=settings.web.port if args.port is None else args.port))
    stop = threading.Event()
    worker = args.listening_fd is not None  # one of the page's processes ([web] workers)
    sock = socket.socket(fileno=args.listening_fd) if worker else None
    with web.Page(Live(settings), sock) as page:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        if worker:
            workers.until_parent_goes(stop)
        else:
            out(f"ctmonitor: the history page is at {page.address}")
            sys.stdout.flush()
        while not stop.wait(1.0) and page.thread.is_alive():
            pass
    return ExitStatus.OK


# -- the config ----------------------------------------------------------------------------
def init(args: argparse.Namespace) -> int:
    """Write a commented config (the seed trials, the console channel, every section)."""
    path = Path(args.path) if args.path else config_path(args)
    if path.exists() and not args.force:
        raise ConfigError(f"{path}: already exists; left as it is (--force replaces it)")
    if not path.parent.is_dir():
        raise ConfigError(f"{path}: no folder {path.parent} (make it first)")
    sample = resources.files("monitor").joinpath("templates/init-config.toml")
    path.write_text(sample.read_text(encoding="utf-8"), encoding="utf-8")
    out(views.initialised(path))
    return ExitStatus.OK


# -- the config's trial list ----------------------------------------------------------------
def track(args: argparse.Namespace) -> int:
    changed, unchanged = edit_ids(config_path(args), add=parse_ids(args.ids))
    out(views.tracked_line(changed, unchanged, adding=True))
    return ExitStatus.OK


def untrack(args: argparse.Namespace) -> int:
    changed, unchanged = edit_ids(config_path(args), remove=parse_ids(args.ids))
    out(views.tracked_line(changed, unchanged, adding=False))
    return ExitStatus.OK


# -- reading the store ----------------------------------------------------------------------
def list_trials(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    with opened(settings, reading=True) as store:
        trials = store.versions.trials(settings.trial_ids)
        counts = store.outbox.counts()
        last = store.checks.last(1)
        today = today_of(store)
    if args.json:
        out(views.dumps(views.trials_json(trials, settings.trial_ids, counts)))
    else:
        out(views.trial_lines(trials, settings.trial_ids, last[0] if last else None, counts,
                              today))
    return ExitStatus.OK


def history(args: argparse.Namespace) -> int:
    nct_id = parse_ids([args.nct_id])[0]
    with opened(settings_of(args), reading=True) as store:
        versions = store.versions.history(nct_id)
    if args.json:
        out(views.dumps([views.version_json(v) for v in versions]))
        return ExitStatus.OK
    if not versions:
        raise MonitorError(f"{nct_id}: no stored versions (is it tracked and checked?)")
    out(views.history_lines(versions))
    return ExitStatus.OK


def mute(args: argparse.Namespace) -> int:
    """Hold back the trials' alerts (still checked and stored) until unmuted or --until."""
    settings = settings_of(args)
    ids = tracked_ids(settings, args.ids)
    until = mutes.until_day(args.until, mutes.today())
    with opened(settings) as store:
        store.versions.mute(ids, until)
    then = (f"until {until}, then {settings.held_alerts} what was held" if until else
            f"until `ctmonitor unmute`, which will {settings.held_alerts} what was held")
    out(f"{', '.join(ids)}: muted {then} (still checked and stored)")
    return ExitStatus.OK


def unmute(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    ids = tracked_ids(settings, args.ids)
    with opened(settings) as store:
        released = mutes.unmute(store, settings, ids)
    fate = ("to be sent with the next delivery" if settings.held_alerts == "send"
            else "dropped ([alerts] held_alerts = \"drop\")")
    out(f"{', '.join(ids)}: unmuted; {plural(released, 'held alert')} {fate}")
    return ExitStatus.OK


def export(args: argparse.Namespace) -> int:
    """One row per stored version of the trials named (or of every tracked trial with
    --all), streamed to stdout as CSV or JSON lines (monitor.export)."""
    settings = settings_of(args)
    if bool(args.ids) == args.all:
        raise MonitorError("export: name trials (NCT ids) or give --all, not both")
    ids = parse_ids(args.ids) if args.ids else list(settings.trial_ids)
    with opened(settings, reading=True) as store:
        totals = {t.nct_id: t.latest_version for t in store.versions.trials(ids)}
        if args.ids:
            missing = [i for i in ids if not totals.get(i)]
            if missing:
                raise MonitorError(f"{', '.join(missing)}: no stored versions")
        rows = (exporting.row(v, totals[i]) for i in ids if totals.get(i)
                for v in store.versions.snapshots(i))
        exporting.write(rows, args.format, sys.stdout, scrub=sys.stdout.isatty())
    return ExitStatus.OK


def show(args: argparse.Namespace) -> int:
    nct_id = parse_ids([args.nct_id])[0]
    with opened(settings_of(args), reading=True) as store:
        version = store.versions.get(nct_id, args.number)
        latest = store.versions.get(nct_id, data=False) if version is None else version
    if latest is None:
        raise MonitorError(f"{nct_id}: no stored versions")
    if version is None:
        raise MonitorError(f"{nct_id}: no version {args.number} (versions 1 to "
                           f"{latest.number})")
    out(views.dumps(version.data) if args.json else views.snapshot_lines(version))
    return ExitStatus.OK


def diff_versions(args: argparse.Namespace) -> int:
    nct_id = parse_ids([args.nct_id])[0]
    with opened(settings_of(args), reading=True) as store:
        latest = store.versions.get(nct_id)
        if latest is None:
            raise MonitorError(f"{nct_id}: no stored versions")
        b = args.b or latest.number
        a = args.a if args.a is not None else b - 1
        if a == 0 and args.a is None:
            raise MonitorError(f"{nct_id}: version {b} is the first stored version; there "
                               "is none before it to compare with"
                               + (" yet" if latest.number == 1 else ""))
        old, new = store.versions.get(nct_id, a), store.versions.get(nct_id, b)
    for number, found in ((a, old), (b, new)):
        if found is None:
            raise MonitorError(f"{nct_id}: no version {number} (versions 1 to {latest.number})")
    events = diff_stored(old.data or {}, new.data or {}, old.lacks)  # type: ignore[union-attr]
    return print_events(args, events, f"{nct_id} version {a} -> {b}")


def compare(args: argparse.Namespace) -> int:
    old, new = read_record(args.old), read_record(args.new)
    if record_id(old) != record_id(new):
        print(f"ctmonitor: warning: {args.old} is {record_id(old)} and {args.new} is "
              f"{record_id(new)}: these are two different trials", file=sys.stderr)
    return print_events(args, compare_records(old, new), f"{args.old} -> {args.new}")


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
        out(views.events_text(events, heading))
    return ExitStatus.OK


# -- alerts ---------------------------------------------------------------------------------
def watches(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    with opened(settings, reading=True) as store:
        rows = views.watch_rows(settings.watches, store.watches.states())
    out(views.dumps(rows) if args.json else views.watch_lines(rows))
    return ExitStatus.OK


def deliveries(args: argparse.Namespace) -> int:
    with opened(settings_of(args), reading=True) as store:
        found = store.outbox.recent(args.status)
    out(views.dumps(views.delivery_json(found)) if args.json else views.delivery_lines(found))
    return ExitStatus.OK


def notify_test(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    notifiers = build_notifiers(settings.channels, Environment(timeout=settings.delivery.timeout))
    if args.name and args.name not in notifiers:
        raise ConfigError(f"{settings.path}: notifiers.{args.name}: no such channel "
                          f"(configured: {', '.join(notifiers) or 'none'})")
    failed = 0
    for name, notifier in notifiers.items():
        if args.name and name != args.name:
            continue
        answer, failure = attempt(notifier, notifier.build([sample_payload()]),
                                  f"notify-test-{name}")
        failed += failure is not None
        out(views.channel_answer(name, notifier.kind, answer,
                                 None if failure is None else str(failure)))
        out(views.sent_headers(getattr(notifier, "sent_headers", None),
                               notifier.settings.options.get("headers", {})))
        out(views.receives(notifier.settings, settings.tags))
    if failed:
        raise DeliveryError(f"{plural(failed, 'channel')} did not accept the sample alert")
    return ExitStatus.OK


def store_command(args: argparse.Namespace) -> int:
    """`store migrate`: bring the store's schema up to date. `store copy --to URL`: copy
    the whole store into a new one, verified."""
    settings = settings_of(args)
    if args.action == "migrate":
        if args.to:
            raise ConfigError("store migrate: takes no --to (store copy --to URL copies)")
        before, after = Store.migrate(settings.store)
        out(views.migrated(shown(parse_url(settings.store)), before, after))
        return ExitStatus.OK
    if not args.to:
        raise ConfigError("store copy: say where to, with --to URL (postgresql://... or "
                          "sqlite:///PATH)")
    target_url = copy_target(args.to)
    with opened(settings) as source, source.writer_lock():
        target = Store.open(target_url)
        try:
            with target.writer_lock(leave_file=False):  # a copy, not a store in use
                copied = copy_store(source, target)
        finally:
            target.close()
        out(views.copied(source.name, target.name, copied))
    return ExitStatus.OK


def copy_target(to: str) -> str:
    """`store copy --to`: a PostgreSQL URL as given; an SQLite file (a path or sqlite:///)
    relative to the current folder, in a folder that exists."""
    url = parse_url(to if "://" in to else sqlite_url(Path(to)))
    if url.drivername != "sqlite":
        return to
    path = Path(str(url.database)).expanduser().resolve()
    if not path.parent.is_dir():
        raise ConfigError(f"store copy: no folder {path.parent} (make it first)")
    return sqlite_url(path)


def status(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    with opened(settings, reading=True) as store:
        report = health.report(settings, store)
    out(views.dumps(report) if args.json else views.status_lines(report))
    return ExitStatus.OK
