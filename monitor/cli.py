"""The ctmonitor command line: parse, dispatch, and turn errors into one line and a status.

This is the one place where a MonitorError becomes a message and an exit status.
"""

from __future__ import annotations

import argparse
import logging
import sys
from enum import IntEnum

from monitor import __version__, commands
from monitor.errors import ConfigError, DeliveryError, MonitorError, StoreBusy

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    CONFIG = 2
    DELIVERY_FAILED = 3
    BUSY = 4


COMMANDS: list[tuple[str, str, str]] = [
    ("check", "check every tracked trial now: fetch, snapshot, diff, notify", "check"),
    ("run", "the daemon: check on the configured schedule until SIGTERM/SIGINT", "run"),
    ("track", "add trials (NCT ids) to the config file, keeping its comments", "track"),
    ("untrack", "remove trials from the config file (their history stays in the store)",
     "untrack"),
    ("list", "tracked trials with their latest status and last check", "list_trials"),
    ("history", "one line per stored version of a trial", "history"),
    ("show", "a stored snapshot of a trial (normalised)", "show"),
    ("diff", "change events between two stored versions (default: the last two)",
     "diff_versions"),
    ("compare", "change events between two API v2 study records given as files", "compare"),
    ("deliveries", "alerts in the outbox: sent, waiting for a retry, failed", "deliveries"),
    ("notify-test", "send a sample alert through one channel or all", "notify_test"),
    ("status", "daemon running or not, last and next check, failing trials and deliveries",
     "status"),
]


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
    for name, help_text, func in COMMANDS:
        cmd = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        cmd.set_defaults(func=getattr(commands, func))
        add_arguments(name, cmd)
    return parser


def add_arguments(name: str, cmd: argparse.ArgumentParser) -> None:
    if name in ("track", "untrack"):
        cmd.add_argument("ids", nargs="+", metavar="NCT")
    if name in ("history", "show", "diff"):
        cmd.add_argument("nct_id", metavar="NCT")
    if name == "show":
        cmd.add_argument("--version", type=int, dest="number", help="version number")
    if name == "diff":
        cmd.add_argument("a", nargs="?", type=int, help="older version (default: the one "
                                                        "before the latest)")
        cmd.add_argument("b", nargs="?", type=int, help="newer version (default: the latest)")
    if name == "compare":
        cmd.add_argument("old", metavar="OLD.json")
        cmd.add_argument("new", metavar="NEW.json")
    if name == "run":
        cmd.add_argument("--now", action="store_true", help="also check once at start")
    if name == "notify-test":
        cmd.add_argument("name", nargs="?", metavar="NAME", help="channel (default: all)")
    if name == "deliveries":
        cmd.add_argument("--status", choices=["pending", "done", "failed"])
    if name in ("history", "show", "diff", "compare", "list", "deliveries", "status"):
        cmd.add_argument("--json", action="store_true", help="one JSON document on stdout")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = args.log_level or ("INFO" if args.command == "run" else "WARNING")
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    try:
        return int(args.func(args))
    except MonitorError as exc:
        if args.traceback:
            raise
        print(f"ctmonitor: {exc}", file=sys.stderr)
        return int(status_of(exc))
    except KeyboardInterrupt:
        return int(ExitStatus.ERROR)
    except Exception as exc:  # a bug: still one line (its text could hold a secret)
        if args.traceback:
            raise
        print(f"ctmonitor: unexpected error ({type(exc).__name__}); run again with "
              "--traceback for details", file=sys.stderr)
        return int(ExitStatus.ERROR)


def status_of(exc: MonitorError) -> ExitStatus:
    if isinstance(exc, ConfigError):
        return ExitStatus.CONFIG
    if isinstance(exc, StoreBusy):
        return ExitStatus.BUSY
    if isinstance(exc, DeliveryError):
        return ExitStatus.DELIVERY_FAILED
    return ExitStatus.ERROR
