"""Waiting for a state a test can observe, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

WAIT_SECONDS = 60


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    """Poll until condition() is truthy; fail the test after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")
