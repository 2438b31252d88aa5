"""Search watches against a local registry that answers searches from real records, with
new trials registered between two registry refreshes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import load
from notifiers.slack import SLACK_BLOCK_LIMIT, slack_message
from snapshots.errors import ConfigError
from tests.conftest import load as load_shared
from tests.conftest import write_config
from tests.support.builder import changed, study
from tests.support.http_sink import HttpSink
from tests.support.registry import FakeRegistry, Fault

WATCH = """
[watches.phelan]   # Phelan-McDermid syndrome trials
"query.cond" = "Phelan"
"""


def real_trials() -> list[dict[str, Any]]:
    """The distinct real trials of the real search pages in ../shared/ctgov/search."""
    found: dict[str, dict[str, Any]] = {}
    for name in ("phelan_limit5", "phelan_next", "phelan_limit50", "keytruda_limit3",
                 "melanoma_recruiting_limit3", "nsclc_egfr_l858r", "age_count"):
        for record in load_shared("search", f"search_page_{name}.json")["studies"]:
            found[record["protocolSection"]["identificationModule"]["nctId"]] = record
    return [found[k] for k in sorted(found)]


def phelan_trials() -> list[dict[str, Any]]:
    """Those whose conditions name Phelan-McDermid syndrome: what the watch matches."""
    return [r for r in real_trials() if any(
        "phelan" in c.lower() for c in r["protocolSection"]["conditionsModule"]["conditions"])]


def config_for(folder: Path, registry: FakeRegistry, sink: HttpSink, watches: str = WATCH,
               ids: list[str] | None = None) -> Path:
    return write_config(folder, registry.base_url, ids or [], f"""
[notifiers.hook]
type = "webhook"
url = "{sink.url}"
""" + watches)


def check(config: Path) -> int:
    return main(["--config", str(config), "check"])


def test_a_watch_alerts_exactly_the_newly_registered_trials(
        tmp_path: Path, registry: FakeRegistry, sink: HttpSink,
        capsys: pytest.CaptureFixture[str]) -> None:
    trials = phelan_trials()
    others = [r for r in real_trials() if r not in trials]
    assert len(trials) >= 6 and others
    for record in trials[:-3] + others:
        registry.put(record)
    config = config_for(tmp_path, registry, sink)
    assert check(config) == 0  # the baseline: 40 matches, nothing alerted
    assert sink.received == []
    assert "watches: phelan 0 new trials" in capsys.readouterr().out
    for record in trials[-3:]:
        registry.put(record)
    registry.data_timestamp = "2026-03-13T09:00:05"
    assert check(config) == 0
    [post] = sink.received
    new = sorted(r["protocolSection"]["identificationModule"]["nctId"] for r in trials[-3:])
    assert post.body["event"] == "watch.new_trials" and post.body["watch"] == "phelan"
    assert [t["nct_id"] for t in post.body["trials"]] == new
    first = post.body["trials"][0]
    assert set(first) == {"nct_id", "title", "status", "phase", "sponsor", "first_posted", "url"}
    assert first["title"] and first["status"] and first["url"].endswith(first["nct_id"])
    assert first["first_posted"] is None  # these recorded search pages carry no such date
    searches = [line for line in registry.log if line.startswith("/studies?")]
    assert all("fields=NCTId%2CBriefTitle" in s and "pageSize=1000" in s for s in searches)
    assert "phelan 3 new trials" in capsys.readouterr().out
    registry.data_timestamp = "2026-03-14T09:00:05"
    assert check(config) == 0  # nothing new: nothing sent
    assert len(sink.received) == 1


def test_a_trial_that_leaves_and_comes_back_is_not_new(
        tmp_path: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    trials = phelan_trials()[:5]
    for record in trials:
        registry.put(record)
    config = config_for(tmp_path, registry, sink)
    assert check(config) == 0
    gone = trials[0]["protocolSection"]["identificationModule"]["nctId"]
    del registry.records[gone]
    registry.data_timestamp = "2026-03-13T09:00:05"
    assert check(config) == 0
    registry.put(trials[0])
    registry.data_timestamp = "2026-03-14T09:00:05"
    assert check(config) == 0
    assert sink.received == []


def test_an_unchanged_registry_runs_no_watch(tmp_path: Path, registry: FakeRegistry,
                                            sink: HttpSink) -> None:
    registry.put(phelan_trials()[0])
    config = config_for(tmp_path, registry, sink)
    assert check(config) == 0
    before = len(registry.log)
    assert check(config) == 0
    assert registry.log[before:] == ["/version"]


def test_track_true_tracks_new_matches_and_keeps_the_config_comments(
        tmp_path: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    trials = phelan_trials()
    registry.put(trials[0])
    config = config_for(tmp_path, registry, sink, WATCH + "track = true\n")
    assert check(config) == 0
    registry.put(trials[1])
    registry.data_timestamp = "2026-03-13T09:00:05"
    assert check(config) == 0
    new = trials[1]["protocolSection"]["identificationModule"]["nctId"]
    assert load(config).trial_ids == (new,)
    assert "# Phelan-McDermid syndrome trials" in config.read_text()
    registry.data_timestamp = "2026-03-14T09:00:05"
    assert check(config) == 0  # the tracked trial is checked from now on
    assert len([p for p in sink.received if p.body["event"] == "watch.new_trials"]) == 1


@pytest.mark.parametrize("bad_id", ["12345", "NCT123", "NCT\u0660\u0665\u0669\u0663\u0665"
                                    "\u0660\u0669\u0668", "NCT01234567\nNCT07654321",
                                    "nct01234567", 7, None])
def test_a_watch_tracks_only_sound_nct_ids(tmp_path: Path, registry: FakeRegistry,
                                           sink: HttpSink, bad_id: Any,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """Whatever ids a search answers with, the config stays loadable: a study without a
    sound NCT id is skipped with a warning, the others are tracked."""
    trials = phelan_trials()
    registry.put(trials[0])
    config = config_for(tmp_path, registry, sink, WATCH + "track = true\n")
    assert check(config) == 0
    registry.put(trials[1])
    registry.extra_studies.append(changed(trials[2], "protocolSection.identificationModule."
                                          "nctId", bad_id))
    registry.extra_studies.append(["not", "a", "study"])  # type: ignore[arg-type]
    registry.data_timestamp = "2026-03-13T09:00:05"
    assert check(config) == 0
    new = trials[1]["protocolSection"]["identificationModule"]["nctId"]
    assert load(config).trial_ids == (new,)
    assert "the watch phelan: skipped 2 results without a sound NCT id" in caplog.text


def test_a_rejected_query_fails_its_watch_only(tmp_path: Path, registry: FakeRegistry,
                                               sink: HttpSink, capsys: pytest.CaptureFixture[str]
                                               ) -> None:
    for record in phelan_trials()[:3]:
        registry.put(record)
    registry.put(study("NCT01000001"))
    config = config_for(tmp_path, registry, sink, WATCH + """
[watches.broken]
"query.term" = "AREA[Nope]x"
""", ids=["NCT01000001"])
    assert check(config) == 0
    out = capsys.readouterr().out
    assert "phelan 0 new trials" in out and "1 watch failed" in out
    assert main(["--config", str(config), "watches", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["phelan"]["matches"] == 3 and rows["phelan"]["new_trials"] == 0
    assert rows["broken"]["last_run_at"] is None


def test_a_search_whose_pages_never_end_is_stopped(tmp_path: Path, registry: FakeRegistry,
                                                   sink: HttpSink,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    registry.faults.append(Fault("/studies?query.cond", 200, times=50,
                                 body=b'{"studies": [], "nextPageToken": "again"}'))  # type: ignore[arg-type]
    config = config_for(tmp_path, registry, sink)
    assert check(config) == 0
    assert "1 watch failed" in capsys.readouterr().out
    assert registry.requests_to("/studies?query.cond") == 2


@pytest.mark.parametrize(("table", "says"), [
    ('[watches.x]\n"query.condition" = "hcc"\n', r"watches\.x\.query\.condition: unknown "),
    ('[watches.x]\n"filter.advanced" = "AREA[Phase]PHASE3)"\n', r"filter\.advanced: .\). "
                                                                 "closes nothing"),
    ('[watches.x]\n"filter.advanced" = "AREA[]x"\n', r"AREA\[\] does not name a field"),
    ('[watches.x]\ntrack = true\n', r"watches\.x: expected at least one query"),
])
def test_a_malformed_watch_is_a_config_error_naming_the_key(tmp_path: Path, table: str,
                                                            says: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(table)
    with pytest.raises(ConfigError, match=says):
        load(path)


def test_the_interface_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('''[watches.hcc]
"query.cond" = "hepatocellular carcinoma"
"filter.overallStatus" = ["NOT_YET_RECRUITING", "RECRUITING"]
track = false
categories = ["new"]
''')
    [watch] = load(path).watches
    assert dict(watch.params)["filter.overallStatus"] == "NOT_YET_RECRUITING,RECRUITING"


def test_slack_keeps_a_long_list_within_its_limits() -> None:
    trials = [{"nct_id": f"NCT0{i:07d}", "title": "A trial " * 30, "status": "RECRUITING",
               "phase": "PHASE2", "sponsor": "Sponsor", "first_posted": "2026-03-02",
               "url": f"https://clinicaltrials.gov/study/NCT0{i:07d}"} for i in range(400)]
    message = slack_message([{"event": "watch.new_trials", "watch": "hcc", "trials": trials}])
    assert len(message["blocks"]) <= SLACK_BLOCK_LIMIT
    assert all(len(b["text"]["text"]) <= 3000 for b in message["blocks"])
    assert "more trials" in message["blocks"][-1]["text"]["text"]
    assert message["text"] == "400 new trials match the watch hcc"


def test_a_changed_record_is_not_a_new_match(tmp_path: Path, registry: FakeRegistry,
                                             sink: HttpSink) -> None:
    record = phelan_trials()[0]
    registry.put(record)
    config = config_for(tmp_path, registry, sink)
    assert check(config) == 0
    registry.put(changed(record, "protocolSection.statusModule.overallStatus", "COMPLETED"))
    registry.data_timestamp = "2026-03-13T09:00:05"
    assert check(config) == 0
    assert sink.received == []
