"""A store with history to review: the real pairs of ../shared/ctgov as two registry days,
a built trial whose primary completion slips three times (and whose primary outcome is
switched), and one with hostile text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monitor.cli import main
from tests.conftest import CTGOV, write_config
from tests.support.builder import changed, study
from tests.support.registry import FakeRegistry

SLIPPING = "NCT09000001"
HOSTILE = "NCT09000002"
CONTROL_TEXT = "\x00\x07\x1b[2J\r\nX\ufffe\x9b31m"  # none of it may reach a feed or a terminal
HOSTILE_TITLE = ('<script>document.title="pwned"</script><img src=x '
                 'onerror="document.title=\'pwned\'"> A trial')
S = "protocolSection.statusModule"
SUMMARY = ("This phase 2 study asks whether drug X given every three weeks lengthens overall "
           "survival in adults with advanced hepatocellular carcinoma.")
DAYS = [  # (primary completion, its type, completion, status, brief summary)
    ("2026-06-30", "ESTIMATED", "2026-12", "RECRUITING", SUMMARY),
    ("2026-12-31", "ESTIMATED", "2027-06", "RECRUITING", SUMMARY),
    ("2027-06-30", "ESTIMATED", "2027-12", "ACTIVE_NOT_RECRUITING",
     SUMMARY.replace("every three weeks", "every four weeks")),
    ("2027-09-30", "ACTUAL", "2027-12", "COMPLETED",
     SUMMARY.replace("every three weeks", "every four weeks") + " Enrollment has closed."),
]


def pair_days() -> tuple[dict[str, Any], dict[str, Any]]:
    """The older and newer record of every pair, by NCT id ({} where ../shared is absent)."""
    first: dict[str, Any] = {}
    second: dict[str, Any] = {}
    for path in sorted((CTGOV / "pairs").glob("*.json")) if CTGOV.exists() else []:
        nct = path.name.split("_")[0]
        (second if nct in first else first)[nct] = json.loads(path.read_text())
    return first, second


OS = {"measure": "Overall survival", "timeFrame": "3 years"}
ORR = {"measure": "Objective response rate (RECIST 1.1)", "timeFrame": "Up to 2 years"}
OUTCOMES = [  # its outcomes on each day: a time frame moved, then a switch of primary outcome
    {"primaryOutcomes": [OS]},
    {"primaryOutcomes": [dict(OS, timeFrame="4 years")]},
    {"primaryOutcomes": [dict(OS, timeFrame="4 years"), ORR]},
    {"primaryOutcomes": [ORR], "secondaryOutcomes": [dict(OS, timeFrame="4 years")]},
]


def slipping(day: int) -> dict[str, Any]:
    pcd, kind, completion, status, summary = DAYS[day]
    record = study(SLIPPING, status=status, primary_completion=(pcd, kind),
                   completion=(completion, "ESTIMATED"),
                   title="Drug X in advanced hepatocellular carcinoma")
    record = changed(record, "protocolSection.outcomesModule", OUTCOMES[day])
    record = changed(record, f"{S}.lastUpdatePostDateStruct.date", f"2026-03-1{2 + day}")
    return changed(record, "protocolSection.descriptionModule.briefSummary", summary)


def hostile(day: int) -> dict[str, Any]:
    record = study(HOSTILE, title=HOSTILE_TITLE)
    if day:
        record = changed(record, f"{S}.overallStatus", "TERMINATED")
        record = changed(record, f"{S}.whyStopped", '<img src=x onerror="alert(1)">funding'
                         + CONTROL_TEXT)
    return record


def fill(folder: Path, registry: FakeRegistry, extra: str = "") -> Path:
    """Four registry days checked through `ctmonitor check`; the config's path."""
    first, second = pair_days()
    ids = sorted({*first, SLIPPING, HOSTILE})
    config = write_config(folder, registry.base_url, ids, extra)
    for day in range(len(DAYS)):
        for record in (first if day == 0 else second).values():
            registry.put(record)
        registry.put(slipping(day))
        registry.put(hostile(min(day, 1)))
        registry.data_timestamp = f"2026-03-1{2 + day}T09:00:05"
        assert main(["--config", str(config), "check"]) == 0
    return config
