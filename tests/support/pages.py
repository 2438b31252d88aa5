"""The history page's app over a read-only store, through Starlette's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.testclient import TestClient

from monitor.config import Settings
from monitor.web import create_app
from snapshots.store import Store


@contextmanager
def serving(settings: Settings) -> Iterator[TestClient]:
    store = Store.open_readonly(settings.store)
    try:
        with TestClient(create_app(settings, store)) as client:
            yield client
    finally:
        store.close()
