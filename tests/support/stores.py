"""Where the tests' stores live: SQLite files (the default run) or databases of a real
PostgreSQL test cluster (`pytest --store-backend postgresql`), so that every test that
touches the store runs on both back ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapshots.store import sqlite_url
from tests.support import postgres

SQLITE_FILE = "data/snapshots.db"  # relative to the test's config


class Backend:
    """One back end's stores; the PostgreSQL ones are databases of one shared cluster."""

    cluster: postgres.Cluster | None = None

    def __init__(self, name: str) -> None:
        self.name = name
        self.stores: dict[Path, str] = {}  # a folder's store: a config rewritten keeps it

    @property
    def postgresql(self) -> bool:
        return self.name == "postgresql"

    def new_store(self, folder: Path) -> str:
        """The URL of folder's store: a file in it, or a database of its own."""
        if not self.postgresql:
            return sqlite_url(folder / SQLITE_FILE)
        if folder not in self.stores:
            self.stores[folder] = server().create_database()
        return self.stores[folder]

    def store_table(self, folder: Path) -> str:
        """The [store] table of a config in folder."""
        if not self.postgresql:
            return f'[store]\npath = "{SQLITE_FILE}"\n'
        return f'[store]\nurl = "{self.new_store(folder)}"\n'


def server() -> postgres.Cluster:
    """The test cluster, started on first use (skips the test where it cannot be)."""
    if Backend.cluster is None:
        reason = postgres.missing()
        if reason:
            pytest.skip(reason)
        Backend.cluster = postgres.Cluster().start()
    return Backend.cluster


def stop() -> None:
    if Backend.cluster is not None:
        Backend.cluster.stop()
        Backend.cluster = None


BACKEND = Backend("sqlite")  # the run's back end: conftest sets its name from the option
POSTGRES = Backend("postgresql")  # for the tests that need PostgreSQL in either run
