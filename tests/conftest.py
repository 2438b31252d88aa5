"""Shared fixtures: the real records in ../shared/ctgov, a local registry, a config, a store."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.registry import FakeRegistry

ROOT = Path(__file__).resolve().parent.parent
CTGOV = ROOT.parent / "shared" / "ctgov"
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
    path.write_text(textwrap.dedent(f"""\
        [registry]
        base_url = "{base_url}"
        rate_limit = 0
        retries = 2
        backoff = 0
        timeout = 5

        [store]
        path = "data/snapshots.db"

        [trials]
        ids = {json.dumps(ids)}

        [notifiers.console]
        type = "console"
        """) + textwrap.dedent(extra), encoding="utf-8")
    return path


@pytest.fixture
def make_config(tmp_path: Path, registry: FakeRegistry) -> Any:
    def make(ids: list[str], extra: str = "") -> Path:
        return write_config(tmp_path, registry.base_url, ids, extra)
    return make
