"""Every pair in ../shared/ctgov/pairs replayed as two registry days through `ctmonitor
check` with a webhook channel: a material day alerts, a bookkeeping day does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from tests.conftest import CTGOV, NO_SHARED
from tests.support.http_sink import HttpSink
from tests.support.registry import FakeRegistry

MATERIAL = {"NCT05294952": {"overallStatus", "lastKnownStatus"},
            "NCT05414032": {"primaryCompletionDate", "completionDate", "enrollmentCount"},
            "NCT05935098": {"overallStatus", "whyStopped", "primaryCompletionDate",
                            "primaryCompletionDateType", "completionDate",
                            "completionDateType", "enrollmentCount", "enrollmentType"},
            "NCT07011550": {"overallStatus", "whyStopped", "startDate", "startDateType",
                            "enrollmentCount", "enrollmentType"}}
NOISE = {"NCT02552212", "NCT05329766", "NCT05911841", "NCT05923112", "NCT05923281"}


def days() -> tuple[dict[str, Any], dict[str, Any]]:
    if not CTGOV.exists():
        pytest.skip(NO_SHARED)
    first: dict[str, Any] = {}
    second: dict[str, Any] = {}
    for path in sorted((CTGOV / "pairs").glob("*.json")):
        nct = path.name.split("_")[0]
        (second if nct in first else first)[nct] = json.loads(path.read_text())
    return first, second


def test_replaying_the_pairs_alerts_every_material_change_and_no_noise(
        registry: FakeRegistry, sink: HttpSink, make_config: Any) -> None:
    first, second = days()
    assert set(first) == set(MATERIAL) | NOISE
    config: Path = make_config(sorted(first), f"""
[notifiers.hook]
type = "webhook"
url = "{sink.url}"
""")
    for record in first.values():
        registry.put(record)
    assert main(["--config", str(config), "check"]) == 0
    assert sink.received == []  # the first fetch is a baseline
    for record in second.values():
        registry.put(record)
    registry.data_timestamp = "2026-03-13T09:00:04"
    assert main(["--config", str(config), "check"]) == 0
    alerted = {post.body["nct_id"]: {c["field"] for c in post.body["changes"]}
               for post in sink.received}
    assert alerted == MATERIAL
    assert all(post.body["version"] == 2 and post.body["previous_version"] == 1
               for post in sink.received)
