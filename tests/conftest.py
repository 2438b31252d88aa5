"""Shared fixtures: the real records in ../shared/ctgov, a local registry, a config, a store."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.local_server import free_port
from tests.support.registry import FakeRegistry
from tests.support.stores import BACKEND, stop

BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--store-backend", choices=BACKENDS, default="sqlite",
                     help="where the tests' stores live: SQLite files (default) or databases "
                          "of a PostgreSQL test cluster started for the run")


def pytest_configure(config: pytest.Config) -> None:
    BACKEND.name = config.getoption("--store-backend")
    config.addinivalue_line("markers", "one_backend: the same whatever the run's back end "
                            "(no store, or only stores it names itself): not repeated in the "
                            "PostgreSQL run")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND.postgresql:
        same = [item for item in items if item.get_closest_marker("one_backend")]
        config.hook.pytest_deselected(items=same)
        items[:] = [item for item in items if not item.get_closest_marker("one_backend")]


def pytest_unconfigure(config: pytest.Config) -> None:
    stop()


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A new store on the run's back end."""
    return BACKEND.new_store(tmp_path)

ROOT = Path(__file__).resolve().parent.parent
CTGOV = ROOT.parent / "shared" / "ctgov"
FULL_SWEEPS = "[monitor]\nsweep_days = 0\n\n"
NO_SHARED = "../shared/ctgov is absent (a plain clone): the real-record tests need it"


def shared(*parts: str) -> Path:
    """A file of ../shared/ctgov; skips the test with the reason where it is absent."""
    path = CTGOV.joinpath(*parts)
    if not path.exists():
        pytest.skip(NO_SHARED)
    return path


def load(*parts: str) -> Any:
    return json.loads(shared(*parts).read_text(encoding="utf-8"))


def pair(nct_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The older and newer record of a pair in ../shared/ctgov/pairs."""
    if not CTGOV.exists():
        pytest.skip(NO_SHARED)
    files = sorted((CTGOV / "pairs").glob(f"{nct_id}_*.json"))
    assert len(files) == 2, files
    return tuple(json.loads(f.read_text(encoding="utf-8")) for f in files)  # type: ignore[return-value]


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    server = FakeRegistry()
    server.start()
    yield server
    server.stop()


def write_config(folder: Path, base_url: str, ids: list[str], extra: str = "") -> Path:
    """A config for tests: a local registry, no pacing, quick retries, a console channel."""
    path = folder / "config.toml"
    monitor = FULL_SWEEPS  # checks fetch every trial unless a test turns incremental on
    extra = textwrap.dedent(extra)
    if "[monitor]\n" in extra:
        extra, monitor = extra.replace("[monitor]\n", FULL_SWEEPS, 1), ""
    path.write_text(textwrap.dedent(f"""\
        [registry]
        base_url = "{base_url}"
        rate_limit = 0
        retries = 2
        backoff = 0
        timeout = 5

        {{store}}
        {{monitor}}
        [trials]
        ids = {json.dumps(ids)}
        backfill = false

        [notifiers.console]
        type = "console"
        """).replace("{store}\n", BACKEND.store_table(folder)).replace("{monitor}\n", monitor)
        + extra, encoding="utf-8")
    return path


@pytest.fixture
def make_config(tmp_path: Path, registry: FakeRegistry) -> Any:
    def make(ids: list[str], extra: str = "") -> Path:
        return write_config(tmp_path, registry.base_url, ids, extra)
    return make


# CI runs a fixed set of examples so that a green run stays green; locally they vary.
from hypothesis import settings as hypothesis_settings  # noqa: E402

hypothesis_settings.register_profile("ci", derandomize=True)
if __import__("os").environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture
def sink() -> Iterator[Any]:
    from tests.support.http_sink import HttpSink

    server = HttpSink()
    server.start()
    yield server
    server.stop()


class SmtpInbox:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it accepts."""

    def __init__(self, answer: str = "250 OK", password: str | None = None) -> None:
        self.messages: list[Any] = []
        self.answer = answer
        self.password = password
        self.controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.answer.startswith("250"):
            from email import message_from_bytes, policy

            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return self.answer

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        ok = auth_data.password.decode() == self.password
        return AuthResult(success=ok, handled=False)

    def start(self, port: int | None = None) -> int:
        from aiosmtpd.controller import Controller

        options: dict[str, Any] = {}
        if self.password is not None:
            options = {"authenticator": self.authenticate, "auth_require_tls": False,
                       "auth_required": True}
        port = port or free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=port, **options)
        self.controller.start()
        return port

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpInbox]:
    inbox = SmtpInbox()
    inbox.port = inbox.start()  # type: ignore[attr-defined]
    yield inbox
    inbox.stop()
