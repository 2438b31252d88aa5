"""The ctmonitor command line: every command declared once, parsed, dispatched, and its
errors turned into one line and an exit status (the one place where that happens).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from monitor import __version__, commands, logs, workers
from monitor.exits import ExitStatus, status_of
from snapshots.errors import MonitorError
from snapshots.wording import printable


@dataclass(frozen=True)
class Arg:
    """One argument of a command, as argparse's add_argument takes it."""

    names: tuple[str, ...]
    options: dict[str, Any]


def arg(*names: str, **options: Any) -> Arg:
    return Arg(names, options)


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    handler: Callable[[argparse.Namespace], int]
    args: tuple[Arg, ...] = ()
    json: bool = False  # takes --json


NCT = arg("nct_id", metavar="NCT")
NCTS = arg("ids", nargs="+", metavar="NCT")

COMMANDS = (
    Command("check", "check every tracked trial now: fetch, snapshot, diff, notify",
            commands.check),
    Command("run", "the daemon: check on the configured schedule until SIGTERM/SIGINT",
            commands.run, (arg("--now", action="store_true", help="also check once at start"),)),
    Command("backfill", "load every earlier version of trials from the registry's own "
            "history (default: tracked trials not yet backfilled); never alerts",
            commands.backfill, (arg("ids", nargs="*", metavar="NCT"),)),
    Command("serve", "the history web page alone (read-only on the store)", commands.serve,
            (arg("--host", help="address to listen on (default: [web] host)"),
             arg("--port", type=int, help="port (default: [web] port; 0: any free port)"),
             arg(workers.SOCKET_FLAG, type=int, help=argparse.SUPPRESS))),
    Command("init", "write a commented config file (default: --config, else ./config.toml)",
            commands.init, (arg("path", nargs="?", metavar="PATH"),
                            arg("--force", action="store_true", help="replace a file there"))),
    Command("track", "add trials (NCT ids) to the config file, keeping its comments",
            commands.track, (NCTS,)),
    Command("untrack", "remove trials from the config file (their history stays in the store)",
            commands.untrack, (NCTS,)),
    Command("mute", "hold back trials' alerts (they are still checked and stored) until "
            "unmuted or the day given", commands.mute,
            (NCTS, arg("--until", metavar="DATE", help="the day alerts resume (YYYY-MM-DD)"))),
    Command("unmute", "send (or drop, as [alerts] held_alerts says) trials' held alerts and "
            "alert on them again", commands.unmute, (NCTS,)),
    Command("list", "tracked trials with their latest status and last check",
            commands.list_trials, json=True),
    Command("history", "one line per stored version of a trial", commands.history, (NCT,),
            json=True),
    Command("show", "a stored snapshot of a trial (normalised)", commands.show,
            (NCT, arg("--version", type=int, dest="number", help="version number")), json=True),
    Command("diff", "change events between two stored versions (default: the last two)",
            commands.diff_versions,
            (NCT, arg("a", nargs="?", type=int,
                      help="older version (default: the one before the latest)"),
             arg("b", nargs="?", type=int, help="newer version (default: the latest)")),
            json=True),
    Command("export", "one row per stored version (cthist's CSV columns, or JSON lines) "
            "of the trials named or, with --all, of every tracked trial, to stdout",
            commands.export,
            (arg("ids", nargs="*", metavar="NCT"),
             arg("--all", action="store_true", help="every tracked trial"),
             arg("--format", choices=["csv", "jsonl"], default="csv",
                 help="csv (the default) or jsonl"))),
    Command("compare", "change events between two API v2 study records given as files",
            commands.compare, (arg("old", metavar="OLD.json"), arg("new", metavar="NEW.json")),
            json=True),
    Command("watches", "the search watches, with their last run, matches and new trials",
            commands.watches, json=True),
    Command("deliveries", "alerts in the outbox: sent, waiting for a retry, failed",
            commands.deliveries,
            (arg("--status", choices=["pending", "done", "failed", "held", "dropped"]),),
            json=True),
    Command("notify-test", "send a sample alert through one channel or all",
            commands.notify_test,
            (arg("name", nargs="?", metavar="NAME", help="channel (default: all)"),)),
    Command("store", "migrate: bring the store's schema up to date; copy --to URL: copy the "
            "whole store (SQLite and PostgreSQL, either way) into an empty one, verified",
            commands.store_command,
            (arg("action", choices=["migrate", "copy"]),
             arg("--to", metavar="URL", help="copy: postgresql://USER@HOST/DB, or an "
                 "SQLite file: a path, or sqlite:///PATH; a relative path is relative to "
                 "the current folder (sqlite:////srv/x.db is /srv/x.db), whose folder "
                 "must exist"))),
    Command("status", "daemon running or not, last and next check, failing trials and "
            "deliveries", commands.status, json=True),
)


def common_options(suppress: bool) -> argparse.ArgumentParser:
    """--config, --traceback, --log-level: before or after the command name alike."""
    common = argparse.ArgumentParser(add_help=False)
    default = argparse.SUPPRESS if suppress else None
    common.add_argument("--config", default=default,
                        help="config file (default: $CTMONITOR_CONFIG, then ./config.toml)")
    common.add_argument("--traceback", action="store_true",
                        default=argparse.SUPPRESS if suppress else False,
                        help="show tracebacks of errors")
    common.add_argument("--log-level", default=default,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log level on stderr (default: INFO for run, else WARNING)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_options(suppress=True)
    parser = argparse.ArgumentParser(prog="ctmonitor", parents=[common_options(False)],
                                     description="Scheduled change monitor for "
                                                 "ClinicalTrials.gov records.")
    parser.add_argument("--version", action="version", version=f"ctmonitor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        cmd = sub.add_parser(command.name, parents=[common], help=command.help,
                             description=command.help)
        cmd.set_defaults(func=command.handler)
        for argument in command.args:
            cmd.add_argument(*argument.names, **argument.options)
        if command.json:
            cmd.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = args.log_level or ("INFO" if args.command == "run" else "WARNING")
    logs.setup(level)
    try:
        return int(args.func(args))
    except MonitorError as exc:
        if args.traceback:
            raise
        print(f"ctmonitor: {printable(str(exc))}", file=sys.stderr)
        return int(status_of(exc))
    except KeyboardInterrupt:
        print("ctmonitor: interrupted", file=sys.stderr)
        return int(ExitStatus.INTERRUPTED)
    except Exception as exc:  # a bug: still one line (its text could hold a secret)
        if args.traceback:
            raise
        print(f"ctmonitor: unexpected error ({type(exc).__name__}); run again with "
              "--traceback for details", file=sys.stderr)
        return int(ExitStatus.ERROR)
