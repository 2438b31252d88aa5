"""What every channel shares: its declared config fields, its limits, and how it is sent."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from snapshots.errors import ConfigError, DeliveryError
from snapshots.events import Floor
from snapshots.fields import Field
from snapshots.retry import retry_after

if TYPE_CHECKING:
    import requests

Fail = Callable[[str, str], ConfigError]
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Route:
    """What a routed channel receives: these trials' alerts, those of trials with these
    tags, these watches' alerts; nothing else."""

    trials: frozenset[str] = frozenset()
    watches: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    def describe(self) -> str:
        parts = [f"{label} {', '.join(sorted(values))}" for label, values in (
            ("trials", self.trials), ("trials tagged", self.tags), ("watches", self.watches))
            if values]
        return "; ".join(parts)


@dataclass(frozen=True)
class ChannelSettings:
    """One [notifiers.NAME] table: the shared keys plus the type's own options."""

    name: str
    type: str
    categories: tuple[str, ...] | None = None
    min_severity: Floor | None = None  # narrows [alerts] min_severity further
    mode: str = "immediate"
    options: dict[str, Any] = field(default_factory=dict)
    route: Route | None = None  # None: every trial's and watch's alerts
    monitor_alerts: bool = True  # the monitor's own (failing, recovered, stale...)


def new_session() -> requests.Session:
    """A requests session that says who posts (ctmonitor and its version, as the registry
    client does); requests (95 ms to import) loads only when a channel is built."""
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = f"ctmonitor/{program_version()} (change alerts)"
    return session


def program_version() -> str:
    try:
        return metadata.version("ctmonitor")
    except metadata.PackageNotFoundError:  # run from a source tree never installed
        return "unknown"


@dataclass
class Environment:
    """The outside world a channel talks to, passed in so tests can swap it."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    session: requests.Session = field(default_factory=new_session)
    timeout: float = TIMEOUT_SECONDS  # [delivery] timeout: one answer of a channel


class RetryableDelivery(DeliveryError):
    """The channel refused for now; retry_after (seconds) is its own hint, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChannelGone(RetryableDelivery):
    """The receiver answered 410 Gone: the channel is disabled until its config changes."""


class Notifier:
    """One configured channel. Subclasses declare kind, fields and limits, and send."""

    kind: ClassVar[str] = ""
    fields: ClassVar[dict[str, Field]] = {}

    def __init__(self, settings: ChannelSettings, env: Environment) -> None:
        self.settings = settings
        self.env = env

    @property
    def name(self) -> str:
        return self.settings.name

    @classmethod
    def check_options(cls, values: dict[str, Any], fail: Fail) -> dict[str, Any]:
        """Validate the type's own keys when the config loads; return the options kept."""
        return values

    def build(self, messages: list[dict[str, Any]]) -> Any:
        """The channel's one message of these alerts (webhook payloads). Apart from sending,
        so that an alert a channel cannot make a message of fails there, and only there."""
        return messages

    def deliver(self, message: Any, key: str) -> str:
        """Send a built message; return what the channel said. Raise RetryableDelivery
        when it did not accept it."""
        raise NotImplementedError

    def send(self, messages: list[dict[str, Any]], key: str) -> str:
        return self.deliver(self.build(messages), key)

    def post_json(self, url: str, body: Any, headers: dict[str, str] | None = None) -> str:
        """POST JSON; 2xx is accepted, 410 Gone raises ChannelGone, anything else
        RetryableDelivery."""
        return self.post(url, json_body(body), headers)

    def post(self, url: str, body: bytes, headers: dict[str, str] | None = None) -> str:
        """POST a JSON body already encoded (what a signature is made over)."""
        import requests

        headers = {"Content-Type": "application/json", **(headers or {})}
        try:
            response = self.env.session.post(url, data=body, headers=headers,
                                             timeout=self.env.timeout)
        except requests.Timeout:
            raise RetryableDelivery(f"timed out after {self.env.timeout:g} s") from None
        except requests.RequestException as exc:
            raise RetryableDelivery(f"cannot connect ({type(exc).__name__})") from None
        if response.status_code == 410:
            raise ChannelGone("HTTP 410 Gone: the receiver says this address is no more")
        if not 200 <= response.status_code < 300:
            raise RetryableDelivery(f"HTTP {response.status_code}",
                                    retry_after(response.headers.get("Retry-After")))
        return f"HTTP {response.status_code}"


def json_body(value: Any) -> bytes:
    """JSON as a channel posts it: UTF-8, compact."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
