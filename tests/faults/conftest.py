"""The fault suite's summary line, printed at the end of every run that ran its cases."""

from __future__ import annotations

from typing import Any

from tests.faults.tally import RESULTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if RESULTS.cases or RESULTS.kills:
        terminalreporter.write_line(RESULTS.line())
