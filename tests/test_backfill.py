"""Backfill: every earlier version from the registry's own history, against a local server
that serves the internal endpoints: the real recorded answer, versions rendered from real
records the way the website renders them, changed shapes, failures, interruptions."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import load
from snapshots.store import Store
from snapshots.versions import Version
from tests.conftest import load as load_shared
from tests.conftest import write_config
from tests.support.builder import changed
from tests.support.http_sink import HttpSink
from tests.support.internal import render_internal
from tests.support.registry import FakeRegistry, Fault

RECORDED = "NCT03690141"
S = "protocolSection.statusModule"


def config_for(folder: Path, registry: FakeRegistry, ids: list[str], sink: HttpSink) -> Path:
    path = write_config(folder, registry.base_url, ids, f"""
[notifiers.hook]
type = "webhook"
url = "{sink.url}"
""")
    text = path.read_text().replace("backfill = false", "backfill = true")
    text = text.replace("[registry]\n", f'[registry]\nhistory_url = "{registry.history_url}"\n')
    path.write_text(text)
    return path


def versions(config: Path, nct_id: str) -> list[Version]:
    store = Store.open(load(config).store)
    try:
        return store.versions.history(nct_id)
    finally:
        store.close()


def rendered(record: dict[str, Any]) -> dict[str, Any]:
    """A v2 record as the internal endpoint renders it (a version body's study)."""
    return {"protocolSection": render_internal(record["protocolSection"]),
            "hasResults": record.get("hasResults", False)}


def real_life() -> list[dict[str, Any]]:
    """Four registry versions of a real record: not yet recruiting, recruiting, its primary
    completion slipping, and the record as API v2 serves it now."""
    now = load_shared("pairs", "NCT05414032_2026-02-25.json")
    opened = changed(now, f"{S}.overallStatus", "NOT_YET_RECRUITING")
    recruiting = changed(now, f"{S}.overallStatus", "RECRUITING")
    early = changed(recruiting, f"{S}.primaryCompletionDateStruct",
                    {"date": "2026-01", "type": "ESTIMATED"})
    return [changed(opened, f"{S}.primaryCompletionDateStruct",
                    {"date": "2026-01", "type": "ESTIMATED"}), early, recruiting, now]


def serve_history(registry: FakeRegistry, records: list[dict[str, Any]]) -> str:
    nct = records[-1]["protocolSection"]["identificationModule"]["nctId"]
    registry.histories[nct] = [({"version": i, "date": f"202{i}-01-15", "status": r[
        "protocolSection"]["statusModule"]["overallStatus"], "moduleLabels": []}, rendered(r))
        for i, r in enumerate(records)]
    registry.put(records[-1])
    return str(nct)


def test_the_first_check_loads_the_history_and_alerts_nothing_of_it(
        tmp_path: Path, registry: FakeRegistry, sink: HttpSink,
        capsys: pytest.CaptureFixture[str]) -> None:
    nct = serve_history(registry, real_life())
    config = config_for(tmp_path, registry, [nct], sink)
    assert main(["--config", str(config), "check"]) == 0
    assert "4 earlier versions loaded from the registry" in capsys.readouterr().out
    stored = versions(config, nct)
    assert [(v.number, v.source, v.registry_version) for v in stored] == [
        (1, "registry", 0), (2, "registry", 1), (3, "registry", 2), (4, "registry", 3),
        (5, "check", None)]
    assert stored[0].summary == "baseline (first version)"
    assert stored[1].summary == "Overall status: Not yet recruiting -> Recruiting"
    assert "Primary completion: 2026-01 (estimated) -> 2027-09 (estimated), 608 days later" \
        in stored[2].summary
    assert stored[3].events == [] and stored[4].events == []  # the live record joins
    assert sink.received == []  # backfill never alerts


def test_the_newest_loaded_version_and_the_live_record_give_no_event(
        tmp_path: Path, registry: FakeRegistry, sink: HttpSink,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Every real record, rendered as the internal endpoint renders text, comes back with no
    change event against itself as API v2 serves it."""
    for path in sorted((Path(__file__).parent.parent.parent / "shared" / "ctgov" / "studies")
                       .glob("*.json")) or [pytest.skip("../shared/ctgov is absent")]:
        record = json.loads(path.read_text())
        nct = serve_history(registry, [record])
    ids = sorted(registry.histories)
    config = config_for(tmp_path, registry, ids, sink)
    assert main(["--config", str(config), "check"]) == 0
    capsys.readouterr()
    for nct in ids:
        [loaded, live] = versions(config, nct)
        assert loaded.loaded and live.events == [], (nct, live.events)
    with_results = [n for n in ids if "resultsSection" in registry.records[n]]
    assert with_results  # the history gives no results section: not a change
    for nct in with_results:
        assert main(["--config", str(config), "diff", nct, "1", "2", "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == []


def test_the_recorded_history_answer_loads_its_ten_versions(
        tmp_path: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    answer = load_shared("history", f"{RECORDED}_history-true.json")
    bodies = []
    for change in answer["history"]["changes"]:
        study = copy.deepcopy(answer["study"])
        study["protocolSection"]["statusModule"]["overallStatus"] = change["status"]
        bodies.append((change, study))
    registry.histories[RECORDED] = bodies
    config = config_for(tmp_path, registry, [RECORDED], sink)
    assert main(["--config", str(config), "backfill", RECORDED]) == 0
    stored = versions(config, RECORDED)
    assert [(v.registry_version, v.registry_date, v.status) for v in stored] == [
        (c["version"], c["date"], c["status"]) for c in answer["history"]["changes"]]
    assert [v.summary for v in stored if v.events] == [
        "Overall status: Not yet recruiting -> Recruiting",
        "Overall status: Recruiting -> Active, not recruiting",
        "Overall status: Active, not recruiting -> Completed"]
    text = json.dumps(stored[-1].__dict__)
    assert "&#x2F;" not in text and "<mark" not in text
    assert sink.received == []


@pytest.mark.parametrize(("fault", "says"), [
    (Fault("/api/int/studies/", 200, body=b'{"versions": []}'),  # type: ignore[arg-type]
     "has an unknown shape"),
    (Fault("/api/int/studies/", 404, times=1), "no history of"),
    (Fault("/api/int/studies/", 403, times=1), "HTTP 403"),
    (Fault("/api/int/studies/", 429, times=3), "HTTP 429"),
    (Fault("/api/int/studies/", 500, times=3), "HTTP 500"),
], ids=["changed shape", "404", "403", "429s", "500s"])
def test_a_failed_backfill_leaves_the_check_and_every_other_trial_alone(
        tmp_path: Path, registry: FakeRegistry, sink: HttpSink, fault: Fault, says: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    nct = serve_history(registry, real_life())
    registry.put(changed(real_life()[-1], "protocolSection.identificationModule.nctId",
                         "NCT09999991"))
    registry.faults.append(fault)
    config = config_for(tmp_path, registry, [nct, "NCT09999991"], sink)
    assert main(["--config", str(config), "check"]) == 0
    out = capsys.readouterr().out
    assert "1 backfill failed" in out or "2 backfills failed" in out
    assert [v.source for v in versions(config, "NCT09999991")] == ["check"]
    store = Store.open(load(config).store)
    [trial] = store.versions.trials([nct])
    store.close()
    assert trial.backfill_error is not None and says in trial.backfill_error
    requests = len(registry.log)
    registry.data_timestamp = "2026-03-13T09:00:05"
    assert main(["--config", str(config), "check"]) == 0  # not retried within a day
    assert not any(line.startswith("/api/int") for line in registry.log[requests:])
    assert main(["--config", str(config), "backfill", nct]) == 0  # tried again on demand
    assert [v.source for v in versions(config, nct)] == ["registry"] * 4 + ["check"]


def test_an_unchanged_registry_is_still_one_request(
        tmp_path: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    nct = serve_history(registry, real_life())
    registry.faults.append(Fault("/api/int/studies/", 404, times=1))
    config = config_for(tmp_path, registry, [nct], sink)
    assert main(["--config", str(config), "check"]) == 0
    before = len(registry.log)
    assert main(["--config", str(config), "check"]) == 0
    assert registry.log[before:] == ["/version"]


def test_an_interrupted_backfill_resumes_with_no_version_twice_or_missing(
        tmp_path: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    """SIGKILL in the middle of `ctmonitor backfill`, then again, then to the end."""
    records = real_life() * 3  # twelve registry versions
    nct = serve_history(registry, records)
    config = config_for(tmp_path, registry, [nct], sink)
    assert main(["--config", str(config), "check"]) == 0  # live version, then the history
    registry.histories[nct].extend(
        ({"version": i, "date": f"2030-01-{i:02d}", "status": "RECRUITING"},
         rendered(records[i % 4])) for i in range(12, 30))
    for kill_after in (3, 9):
        started = len(registry.log)
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config),
                                 "backfill", nct], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        while (sum("/history/" in line for line in registry.log[started:]) < kill_after
               and proc.poll() is None):
            time.sleep(0.01)  # waiting for requests to arrive, not for timing
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert main(["--config", str(config), "backfill", nct]) == 0
    stored = versions(config, nct)
    assert [v.registry_version for v in stored if v.loaded] == list(range(30))
    assert [v.number for v in stored] == list(range(1, 32))
    assert stored[-1].source == "check"


def test_history_json_says_where_each_version_came_from(
        tmp_path: Path, registry: FakeRegistry, sink: HttpSink,
        capsys: pytest.CaptureFixture[str]) -> None:
    nct = serve_history(registry, real_life())
    config = config_for(tmp_path, registry, [nct], sink)
    assert main(["--config", str(config), "check"]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "history", nct, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(v["source"], v["registry_version"]) for v in shown] == [
        ("registry", 0), ("registry", 1), ("registry", 2), ("registry", 3), ("check", None)]
    assert main(["--config", str(config), "history", nct]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "registry history v1 of 2021-01-15" in lines[1]
