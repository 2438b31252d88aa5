"""Routing: a channel given trials, watches or tags receives only those alerts; the
monitor's own alerts go to every channel unless it says otherwise."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import load
from notifiers.alerts import alerts_for, monitor_alerts, watch_alerts
from snapshots.errors import ConfigError
from snapshots.events import ChangeEvent
from tests.support.builder import changed, study
from tests.support.http_sink import HttpSink
from tests.support.registry import FakeRegistry

A, B, C = "NCT09000001", "NCT09000002", "NCT09000003"
CONFIG = f'''
[trials]
ids = ["{A}", "{B}", "{C}"]
tags = {{ {A} = ["oncology", "sponsor-x"], {B} = ["cardiology"] }}

[watches.hcc]
"query.cond" = "hepatocellular carcinoma"

[notifiers.everything]
type = "console"

[notifiers.oncology]
type = "console"
tags = ["oncology"]
monitor_alerts = false

[notifiers.two]
type = "console"
trials = ["{C}"]
watches = ["hcc"]
tags = ["cardiology"]
'''
TERMINATED = ChangeEvent(A, "status", "overallStatus", "protocolSection.statusModule."
                         "overallStatus", "RECRUITING", "TERMINATED", "critical",
                         "Overall status: Recruiting -> Terminated")


def loaded(tmp_path: Path, text: str = CONFIG) -> Any:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load(path)


def channels_of(deliveries: list[Any]) -> set[str]:
    return {d.channel for d in deliveries}


def test_each_channel_receives_what_it_is_routed(tmp_path: Path) -> None:
    policy = loaded(tmp_path).alerts
    by_trial = {nct: channels_of(alerts_for(policy, nct, "t", 2,
                                            [replace(TERMINATED, nct_id=nct)]))
                for nct in (A, B, C)}
    assert by_trial == {A: {"everything", "oncology"}, B: {"everything", "two"},
                        C: {"everything", "two"}}
    trials = [{"nct_id": "NCT09000099"}]
    assert channels_of(watch_alerts(policy, "hcc", trials)) == {"everything", "two"}
    own = monitor_alerts(policy, "monitor.failing", "ctmonitor is failing", "failing:x")
    assert channels_of(own) == {"everything", "two"}  # oncology said monitor_alerts = false
    missing = monitor_alerts(policy, "trial.missing", f"{B} is gone", "missing:b", nct_id=B)
    assert channels_of(missing) == {"everything", "two"}


@pytest.mark.parametrize(("text", "says"), [
    (CONFIG.replace('tags = ["oncology"]', 'tags = ["oncolgy"]'),
     r"notifiers\.oncology\.tags\[0\]: expected a tag given in \[trials\] tags, got 'oncolgy'"),
    (CONFIG.replace(f'trials = ["{C}"]', 'trials = ["NCT01234567"]'),
     r"notifiers\.two\.trials\[0\]: expected a tracked NCT id"),
    (CONFIG.replace('watches = ["hcc"]', 'watches = ["hc"]'),
     r"notifiers\.two\.watches\[0\]: expected the name of a \[watches\.NAME\], got 'hc'"),
    (CONFIG.replace(f'{B} = ["cardiology"]', 'NCT01234567 = ["cardiology"]'),
     r"trials\.tags\.NCT01234567: expected a tracked NCT id"),
    (CONFIG.replace(f'{B} = ["cardiology"]', f'{B} = "cardiology"'),
     rf"trials\.tags\.{B}: expected a list of tags"),
    (CONFIG.replace('watches = ["hcc"]', "watches = [1]"),
     r"notifiers\.two\.watches: expected a list of \[watches\] names"),
])
def test_a_route_that_names_nothing_is_a_config_error(tmp_path: Path, text: str,
                                                      says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        loaded(tmp_path, text)


def test_routed_alerts_reach_real_receivers(tmp_path: Path, registry: FakeRegistry,
                                            sink: HttpSink) -> None:
    """Two webhooks: one takes the oncology trial only, the other everything."""
    other = HttpSink()
    other.start()
    try:
        config = tmp_path / "config.toml"
        config.write_text(f'''[monitor]
sweep_days = 0
[registry]
base_url = "{registry.base_url}"
rate_limit = 0
retries = 0
[trials]
ids = ["{A}", "{B}"]
tags = {{ {A} = ["oncology"] }}
[notifiers.onco]
type = "webhook"
url = "{sink.url}"
tags = ["oncology"]
[notifiers.all]
type = "webhook"
url = "{other.url}"
''')
        for nct in (A, B):
            registry.put(study(nct))
        assert main(["--config", str(config), "check"]) == 0
        for nct in (A, B):
            registry.put(changed(study(nct), "protocolSection.statusModule.overallStatus",
                                 "TERMINATED"))
        registry.data_timestamp = "2026-03-13T09:00:05"
        assert main(["--config", str(config), "check"]) == 0
        assert [r.body["nct_id"] for r in sink.received] == [A]
        assert sorted(r.body["nct_id"] for r in other.received) == [A, B]
    finally:
        other.stop()


def test_notify_test_says_what_a_channel_would_receive(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    assert main(["--config", str(path), "notify-test", "oncology"]) == 0
    said = capsys.readouterr().out.splitlines()[-1]
    assert said == (f"  receives: trials tagged oncology ({A}); the [alerts] categories; "
                    "severity as [alerts] says; not the monitor's own alerts")
    assert main(["--config", str(path), "notify-test", "everything"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(
        "  receives: every trial's and watch's alerts;")
