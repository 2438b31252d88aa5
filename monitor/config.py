"""Load config.toml into typed, validated settings.

Every problem is a ConfigError naming the file, the key and what is expected, so that a
user fixes it from one line.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import rtoml

from monitor.schedule import cron_trigger
from monitor.watches import Watch
from monitor.watches import parse as parse_watch
from notifiers import NOTIFIERS, ChannelSettings
from notifiers.alerts import AlertPolicy
from notifiers.base import Route
from notifiers.courier import DeliverySettings
from snapshots.errors import ConfigError, StoreError
from snapshots.events import CATEGORIES, DEFAULT_FLOOR, SEVERITIES, WATCH_CATEGORY, Floor
from snapshots.fields import Field
from snapshots.record import is_nct_id
from snapshots.store import POSTGRES_SCHEMES, parse_url, sqlite_url

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_CATEGORIES = ("status", "dates", "results", "enrollment", "outcomes")
DEFAULT_BASE_URL = "https://clinicaltrials.gov/api/v2"
DEFAULT_HISTORY_URL = "https://clinicaltrials.gov/api/int/studies"
DEFAULT_SCHEDULE = "0 15 * * 1-5"
DEFAULT_STORE = "data/snapshots.db"
LOOPBACK_HOSTS = ("localhost", "::1")
MOST_WORKERS = 32  # [web] workers


@dataclass(frozen=True)
class RegistrySettings:
    base_url: str = DEFAULT_BASE_URL
    history_url: str = DEFAULT_HISTORY_URL  # the website's internal endpoints (backfill)
    rate_limit: float = 1.0
    timeout: float = 30.0
    answer_timeout: float = 600.0  # one whole answer, however slowly its body comes
    retries: int = 4
    backoff: float = 2.0


@dataclass(frozen=True)
class WebSettings:
    """[web]: the history page. Loopback unless a token guards it."""

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    enabled: bool = False
    base_url: str | None = None
    workers: int = 1  # processes that serve the page (monitor.workers)

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")


@dataclass(frozen=True)
class MonitorSettings:
    schedule: str = DEFAULT_SCHEDULE
    timezone: str = "UTC"
    jitter: int = 60
    misfire_grace: int = 3600
    failure_alert_after: int = 2  # checks are daily: two failed days in a row is news
    stale_after_hours: float = 72.0
    check_timeout_minutes: float = 30.0  # past it a check stops between trials, as failed
    sweep_days: int = 7  # a full fetch this often; checks between ask by update date
    poll_minutes: float = 10.0  # between scheduled checks, ask /version this often (0: off)


@dataclass(frozen=True)
class Settings:
    path: Path
    monitor: MonitorSettings
    registry: RegistrySettings
    store: str  # the store's URL: sqlite:///PATH (the default) or postgresql://...
    trial_ids: tuple[str, ...]
    backfill: bool
    categories: tuple[str, ...]
    min_severity: Floor
    delivery: DeliverySettings
    channels: tuple[ChannelSettings, ...]
    web: WebSettings = WebSettings()
    watches: tuple[Watch, ...] = ()
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)  # [trials] tags
    held_alerts: str = "send"  # a muted trial's held alerts on unmute: "send" or "drop"
    muted: frozenset[str] = frozenset()  # the store's muted trials, as a check starts

    @property
    def alerts(self) -> AlertPolicy:
        return AlertPolicy(self.channels, self.categories, self.min_severity,
                           self.web.base_url, self.tags, self.muted)


ROUTE_KEYS = ("trials", "watches", "tags")  # a channel's routing, in Route's order
FLOOR_EXPECTED = ('"minor", "notable" or "critical", or a table of them by category such as '
                  '{ default = "minor", outcomes = "critical" }')
SECTIONS = {
    "monitor": {
        "schedule": Field(str, MonitorSettings.schedule, expect="a 5-field cron string"),
        "timezone": Field(str, MonitorSettings.timezone,
                          expect="an IANA time zone such as \"UTC\""),
        "jitter": Field(int, MonitorSettings.jitter),
        "misfire_grace": Field(int, MonitorSettings.misfire_grace),
        "failure_alert_after": Field(int, MonitorSettings.failure_alert_after),
        "stale_after_hours": Field((int, float), MonitorSettings.stale_after_hours),
        "check_timeout_minutes": Field((int, float), MonitorSettings.check_timeout_minutes),
        "sweep_days": Field(int, MonitorSettings.sweep_days),
        "poll_minutes": Field((int, float), MonitorSettings.poll_minutes),
    },
    "registry": {
        "base_url": Field(str, RegistrySettings.base_url, expect="an http(s) URL"),
        "history_url": Field(str, RegistrySettings.history_url, expect="an http(s) URL"),
        "rate_limit": Field((int, float), RegistrySettings.rate_limit),
        "timeout": Field((int, float), RegistrySettings.timeout),
        "answer_timeout": Field((int, float), RegistrySettings.answer_timeout),
        "retries": Field(int, RegistrySettings.retries),
        "backoff": Field((int, float), RegistrySettings.backoff),
    },
    "store": {"path": Field(str, None), "url": Field(str, None, secret=True,
                                                  expect="a postgresql:// URL")},
    "trials": {"ids": Field(list, [], expect="a list of NCT ids such as \"NCT01234567\""),
               "backfill": Field(bool, True),
               "tags": Field(dict, {}, expect="a table of NCT ids to lists of tags, such as "
                                             '{ NCT05935098 = ["oncology"] }')},
    "alerts": {
        "categories": Field(list, list(DEFAULT_CATEGORIES)),
        "min_severity": Field((str, dict), None, expect=FLOOR_EXPECTED),
        "held_alerts": Field(str, "send", choices=("send", "drop")),
    },
    "delivery": {
        "max_attempts": Field(int, DeliverySettings.max_attempts),
        "timeout": Field((int, float), DeliverySettings.timeout),
        "backoff": Field((int, float), DeliverySettings.backoff),
    },
    "web": {
        "host": Field(str, WebSettings.host, expect="an address to listen on"),
        "port": Field(int, WebSettings.port),
        "token": Field(str, secret=True),
        "enabled": Field(bool, WebSettings.enabled),
        "base_url": Field(str, expect="an http(s) URL"),
        "workers": Field(int, WebSettings.workers),
    },
    "notifiers": {},
    "watches": {},
}

CHANNEL_FIELDS = {
    "type": Field(str, required=True),
    "categories": Field(list),
    "min_severity": Field((str, dict), None, expect=FLOOR_EXPECTED),
    "mode": Field(str, "immediate", choices=("immediate", "digest")),
    "trials": Field(list, None, expect="a list of tracked NCT ids"),
    "watches": Field(list, None, expect="a list of [watches] names"),
    "tags": Field(list, None, expect="a list of tags given in [trials] tags"),
    "monitor_alerts": Field(bool, True),
}


def default_config_path() -> Path:
    """--config, else $CTMONITOR_CONFIG, else ./config.toml (the caller passes --config)."""
    return Path(os.environ.get("CTMONITOR_CONFIG") or "config.toml")


def load(path: Path) -> Settings:
    """Read and validate the config file at path."""
    try:
        raw = parse_toml(read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML here: nested too deeply") from None
    return Loader(path).settings(raw)


def parse_toml(text: str) -> dict[str, Any]:
    """The TOML document in text. rtoml reads it (a list of 100,000 ids in 0.03 s, where
    Python's tomllib takes 0.3 s); a document rtoml refuses goes to tomllib, whose error
    names the line and column, and which has the last word on what TOML is."""
    try:
        return rtoml.loads(text)
    except rtoml.TomlParsingError:
        return tomllib.loads(text)


def read_text(path: Path) -> str:
    """The config file's text, or a ConfigError saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (name one with --config PATH or "
                          "$CTMONITOR_CONFIG, or write one with `ctmonitor init`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


def parse_nct(value: Any) -> str | None:
    """An NCT id as the registry writes it ("nct01234567 " -> "NCT01234567"), else None."""
    if not isinstance(value, str):
        return None
    nct = value.strip().upper()
    return nct if is_nct_id(nct) else None


def only_strings(values: list[Any]) -> bool:
    """Every value is a string (the quick way, for lists of 100,000)."""
    return set(map(type, values)) <= {str}


class Loader:
    """Validates one parsed config document; every error names self.path and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.from_env: set[str] = set()  # keys whose value holds a ${VAR}: never echoed
        self.env_values: set[str] = set()

    def fail(self, key: str, problem: str) -> ConfigError:
        """The error; a value from the environment is never in it, whoever wrote it."""
        for value in sorted(self.env_values, key=len, reverse=True):
            problem = problem.replace(value, "(a value from the environment)")
        return ConfigError(f"{self.path}: {key}: {problem}")

    def shown(self, key: str, value: Any, secret: bool = False) -> str:
        """A value as an error may echo it: not a secret, nor what came from ${VAR}."""
        if secret or key in self.from_env:
            return "a value that is not" + (" (from the environment)" if not secret else "")
        return repr(value)

    def settings(self, raw: dict[str, Any]) -> Settings:
        raw = self.expand(raw, "")
        tables = {name: self.table(raw, name, spec) for name, spec in SECTIONS.items()
                  if name not in ("notifiers", "watches")}
        for key in raw:
            if key not in SECTIONS:
                raise self.fail(key, "unknown section; expected one of " + ", ".join(SECTIONS))
        registry = RegistrySettings(**self.registry(tables["registry"]))
        monitor = MonitorSettings(**self.monitor(tables["monitor"]))
        alerts = tables["alerts"]
        trial_ids = self.trial_ids(tables["trials"]["ids"])
        tags = self.tags(tables["trials"]["tags"], trial_ids)
        watches = self.watches(raw.get("watches", {}))
        channels = self.channels(raw.get("notifiers", {}))
        self.routes(raw.get("notifiers", {}), trial_ids, tags, watches)
        return Settings(
            path=self.path,
            monitor=monitor,
            registry=registry,
            store=self.store(tables["store"]),
            trial_ids=trial_ids,
            backfill=tables["trials"]["backfill"],
            categories=self.categories("alerts.categories", alerts["categories"]),
            min_severity=self.floor("alerts.min_severity", alerts["min_severity"]) or DEFAULT_FLOOR,
            delivery=DeliverySettings(**self.delivery(tables["delivery"])),
            channels=channels,
            web=WebSettings(**self.web(tables["web"])),
            watches=watches,
            tags=tags,
            held_alerts=alerts["held_alerts"],
        )

    def expand(self, value: Any, key: str) -> Any:
        """Replace ${VAR} in every string with the environment's value."""
        if isinstance(value, dict):
            return {k: self.expand(v, f"{key}.{k}" if key else k) for k, v in value.items()}
        if isinstance(value, list):
            if only_strings(value) and "${" not in "".join(value):
                return value  # plain strings, as [trials] ids: 100,000 of them, at times
            return [self.expand(v, f"{key}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            self.from_env.add(key)
            return ENV_REF.sub(lambda m: self.env(m.group(1), key), value)
        return value

    def env(self, name: str, key: str) -> str:
        if name not in os.environ:
            raise self.fail(key, f"environment variable {name} is not set")
        if os.environ[name]:
            self.env_values.add(os.environ[name])
        return os.environ[name]

    def table(self, raw: dict[str, Any], name: str, spec: dict[str, Field]) -> dict[str, Any]:
        section = raw.get(name, {})
        if not isinstance(section, dict):
            raise self.fail(name, "expected a table")
        return self.fields(section, spec, name)

    def fields(self, section: dict[str, Any], spec: dict[str, Field], where: str) -> dict[str, Any]:
        for key in section:
            if key not in spec:
                allowed = ", ".join(spec) or "no keys"
                raise self.fail(f"{where}.{key}", f"unknown key; expected one of {allowed}")
        values = {}
        for key, rule in spec.items():
            values[key] = self.value(section, key, rule, f"{where}.{key}")
        return values

    def value(self, section: dict[str, Any], key: str, rule: Field, name: str) -> Any:
        if key not in section:
            if rule.required:
                raise self.fail(name, f"missing; expected {rule.describe()}")
            return rule.default
        value = section[key]
        kinds = rule.kind if isinstance(rule.kind, tuple) else (rule.kind,)
        shown = self.shown(name, value, rule.secret)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            raise self.fail(name, f"expected {rule.describe()}, got {shown}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(name, f"expected a finite number, got {shown}")
        if rule.choices and value not in rule.choices:
            raise self.fail(name, f"expected {rule.describe()}, got {shown}")
        return value

    def positive(self, key: str, value: int | float) -> Any:
        if value <= 0:
            raise self.fail(key, f"expected a number above 0, got {value!r}")
        return value

    def registry(self, table: dict[str, Any]) -> dict[str, Any]:
        for key in ("base_url", "history_url"):
            if not re.match(r"^https?://[^/\s]+", table[key]):
                raise self.fail(f"registry.{key}", "expected an http(s) URL, got "
                                + self.shown(f"registry.{key}", table[key]))
        if table["rate_limit"] < 0:
            raise self.fail("registry.rate_limit", "expected requests per second, 0 or more")
        if table["retries"] < 0 or table["backoff"] < 0:
            raise self.fail("registry.retries", "expected retries and backoff of 0 or more")
        self.positive("registry.timeout", table["timeout"])
        self.positive("registry.answer_timeout", table["answer_timeout"])
        return {**table, "base_url": table["base_url"].rstrip("/"),
                "history_url": table["history_url"].rstrip("/")}

    def delivery(self, table: dict[str, Any]) -> dict[str, Any]:
        self.positive("delivery.max_attempts", table["max_attempts"])
        self.positive("delivery.timeout", table["timeout"])
        if table["backoff"] < 0:
            raise self.fail("delivery.backoff", "expected seconds, 0 or more")
        return table

    def store(self, table: dict[str, Any]) -> str:
        """[store] path (SQLite, relative to this file's folder) or url (PostgreSQL)."""
        if table["url"] is None:
            return sqlite_url((self.path.parent / (table["path"] or DEFAULT_STORE)).resolve())
        if table["path"] is not None:
            raise self.fail("store", "set path (an SQLite file) or url (PostgreSQL), not both")
        scheme, separator, _ = table["url"].partition("://")
        if not separator or scheme not in POSTGRES_SCHEMES:
            raise self.fail("store.url", "expected a postgresql:// URL, got a value that is not")
        try:
            port = parse_url(table["url"]).port
        except StoreError:
            port = -1
        if port is not None and not 0 < port < 65536:
            raise self.fail("store.url", "expected a postgresql:// URL with a port from 1 to "
                            "65535 (or none), got a value that is not")
        return str(table["url"])

    def web(self, table: dict[str, Any]) -> dict[str, Any]:
        if not 0 < table["port"] < 65536:
            raise self.fail("web.port", "expected a port from 1 to 65535, got "
                            + self.shown("web.port", table["port"]))
        base = table["base_url"]
        if base is not None and not re.match(r"^https?://[^/\s]+", base):
            raise self.fail("web.base_url", "expected an http(s) URL, got "
                            + self.shown("web.base_url", base))
        if not 1 <= table["workers"] <= MOST_WORKERS:
            raise self.fail("web.workers", f"expected 1 to {MOST_WORKERS} processes, got "
                            + self.shown("web.workers", table["workers"]))
        return {**table, "token": table["token"] or None,
                "base_url": base.rstrip("/") if base else None}

    def monitor(self, table: dict[str, Any]) -> dict[str, Any]:
        try:
            tz = ZoneInfo(table["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail("monitor.timezone",
                            f"expected an IANA time zone such as \"UTC\", got {table['timezone']!r}"
                            ) from None
        check_cron(table["schedule"], tz, lambda problem: self.fail("monitor.schedule", problem))
        self.positive("monitor.failure_alert_after", table["failure_alert_after"])
        self.positive("monitor.stale_after_hours", table["stale_after_hours"])
        self.positive("monitor.check_timeout_minutes", table["check_timeout_minutes"])
        for key in ("sweep_days", "poll_minutes", "jitter", "misfire_grace"):
            if table[key] < 0:
                raise self.fail(f"monitor.{key}", f"expected 0 (off) or more, got {table[key]!r}")
        return table

    def trial_ids(self, ids: list[Any]) -> tuple[str, ...]:
        if all(map(is_nct_id, ids)):
            return tuple(dict.fromkeys(ids))  # all written as the registry writes them
        seen: dict[str, None] = {}
        for i, value in enumerate(ids):
            nct = parse_nct(value)
            if nct is None:
                raise self.fail(f"trials.ids[{i}]",
                                f"expected an NCT id such as \"NCT01234567\", got {value!r}")
            seen[nct] = None
        return tuple(seen)

    def categories(self, key: str, values: list[Any]) -> tuple[str, ...]:
        for value in values:
            if value not in (*CATEGORIES, WATCH_CATEGORY):
                raise self.fail(key, f"expected categories from {', '.join(CATEGORIES)}, "
                                     f"got {value!r}")
        return tuple(values)

    def watches(self, tables: Any) -> tuple[Watch, ...]:
        if not isinstance(tables, dict):
            raise self.fail("watches", "expected tables [watches.NAME]")
        try:
            return tuple(parse_watch(name, table, f"watches.{name}")
                         for name, table in tables.items())
        except ConfigError as exc:
            raise self.fail(*str(exc).split(": ", 1)) from None

    def channels(self, tables: Any) -> tuple[ChannelSettings, ...]:
        if not isinstance(tables, dict):
            raise self.fail("notifiers", "expected tables [notifiers.NAME]")
        return tuple(self.channel(name, table) for name, table in tables.items())

    def channel(self, name: str, table: Any) -> ChannelSettings:
        """One [notifiers.NAME]: the shared keys, then the type's own, checked by its class."""
        where = f"notifiers.{name}"
        if not isinstance(table, dict):
            raise self.fail(where, "expected a table with a type")
        kind = table.get("type")
        if kind not in NOTIFIERS:
            raise self.fail(f"{where}.type", "expected one of "
                            + ", ".join(f'"{k}"' for k in NOTIFIERS) + f", got {kind!r}")
        values = self.fields(table, {**CHANNEL_FIELDS, **NOTIFIERS[kind].fields}, where)
        common = {k: values.pop(k) for k in CHANNEL_FIELDS}

        def fail(key: str, problem: str) -> ConfigError:
            return self.fail(f"{where}.{key}", problem)

        cats = common["categories"]
        routed = [common[k] for k in ROUTE_KEYS]
        for key, names in zip(ROUTE_KEYS, routed, strict=True):
            if names is not None and not only_strings(names):
                raise fail(key, f"expected {CHANNEL_FIELDS[key].describe()}")
        route = None if all(v is None for v in routed) else Route(
            frozenset(filter(None, map(parse_nct, routed[0] or []))),
            frozenset(routed[1] or []), frozenset(routed[2] or []))
        return ChannelSettings(
            name=name, type=kind, mode=common["mode"], route=route,
            monitor_alerts=common["monitor_alerts"],
            min_severity=self.floor(f"{where}.min_severity", common["min_severity"]),
            categories=None if cats is None else self.categories(f"{where}.categories", cats),
            options=NOTIFIERS[kind].check_options(values, fail),
        )


    def tags(self, table: dict[str, Any], ids: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        """[trials] tags: NCT id -> its tags (a channel's tags = [...] routes by them)."""
        tracked, found = set(ids), {}
        for key, values in table.items():
            nct = parse_nct(key)
            if nct is None or nct not in tracked:
                raise self.fail(f"trials.tags.{key}", "expected a tracked NCT id (one of "
                                "trials.ids)")
            if not isinstance(values, list) or not only_strings(values):
                raise self.fail(f"trials.tags.{key}", "expected a list of tags (strings)")
            found[nct] = tuple(values)
        return found

    def routes(self, tables: dict[str, Any], ids: tuple[str, ...],
               tags: dict[str, tuple[str, ...]], watches: tuple[Watch, ...]) -> None:
        """A channel's trials, watches and tags must name what the config has: a typo would
        route nothing there, silently."""
        known = {"trials": set(ids), "watches": {w.name for w in watches},
                 "tags": {t for values in tags.values() for t in values}}
        for name, table in tables.items():
            for key in ROUTE_KEYS:
                for i, value in enumerate(table.get(key) or []):
                    shown = parse_nct(value) or value if key == "trials" else value
                    if shown not in known[key]:
                        what = {"trials": "a tracked NCT id (one of trials.ids)",
                                "watches": "the name of a [watches.NAME]",
                                "tags": "a tag given in [trials] tags"}[key]
                        raise self.fail(f"notifiers.{name}.{key}[{i}]",
                                        f"expected {what}, got {value!r}")

    def floor(self, key: str, value: str | dict[str, Any] | None) -> Floor | None:
        """min_severity: one severity for every category, or a table by category whose
        "default" (else "minor") covers the categories it does not name."""
        if value is None:
            return None
        if isinstance(value, str):
            return Floor(self.severity(key, value))
        for category in value:
            if category != "default" and category not in CATEGORIES:
                raise self.fail(f"{key}.{category}", 'unknown category; expected "default" '
                                "or one of " + ", ".join(CATEGORIES))
        named = tuple((c, self.severity(f"{key}.{c}", s)) for c, s in value.items()
                      if c != "default")
        return Floor(self.severity(f"{key}.default", value.get("default", "minor")), named)

    def severity(self, key: str, value: Any) -> str:
        if value not in SEVERITIES:
            raise self.fail(key, 'expected "minor", "notable" or "critical", got '
                            + self.shown(key, value))
        return str(value)


def check_cron(expr: str, tz: Any, fail: Any) -> None:
    """Raise fail(problem) unless expr is a valid cron string (see cron_trigger)."""
    if len(expr.split()) not in (5, 6):
        raise fail(f"expected a 5-field cron string such as \"0 15 * * 1-5\", got {expr!r}")
    try:
        cron_trigger(expr, tz)
    except ValueError as exc:
        raise fail(f"expected a valid cron string, got {expr!r} ({exc})") from None
