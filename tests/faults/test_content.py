"""Content faults: records whose fields the monitor reads are of the wrong type, null, a
list for a table or a table for a list, text full of control characters, or nested
thousands of levels deep, each in one trial of a real `ctmonitor check` over many. The
other trials' changes are still stored and alerted, a bad trial fails alone with one line
naming its field and shows as failing, nothing prints a traceback, no page answers 500, and
once the registry sends good records again nothing is lost. The cases count in the faults
summary line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from monitor.config import load
from monitor.web import create_app
from snapshots.store import Store
from tests.faults.test_faults import ZERO, accepted, record, webhook_table
from tests.faults.world import World, day_record
from tests.support import mutants
from tests.support.builder import changed
from tests.support.http_sink import HttpSink
from tests.support.registry import FakeRegistry

HEALTHY = 3  # trials whose records stay sound and change, among the bad ones


DEEP_MARK = "nested thousands of levels deep"  # replaced in the bytes the registry sends
DEEP_JSON = "[" * mutants.DEEP + "]" * mutants.DEEP


DEEP_PATHS = ["protocolSection.designModule.designInfo.extra",
              "protocolSection.statusModule.whyStopped"]


def deep_record(nct: str, path: str) -> dict[str, Any]:
    return changed(day_record(nct, 1), path, DEEP_MARK)


def bad_record(nct: str, field: mutants.Field, value: Any) -> dict[str, Any]:
    return mutants.with_value(day_record(nct, 1), field, value)


def ctmonitor(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", "--config", str(world.config),
                           *args], capture_output=True, text=True, timeout=90)


@pytest.mark.parametrize("variant", [*mutants.VARIANTS, "deep nesting"])
def test_a_bad_record_fails_its_own_trial_and_no_other(
        variant: str, tmp_path: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    makers: list[Callable[[str], dict[str, Any]]]
    if variant == "deep nesting":
        makers = [partial(deep_record, path=path) for path in DEEP_PATHS]
        expect = ["record unreadable: "] * len(makers)
        must_fail = [True] * len(makers)
    else:
        cases = list(mutants.cases(variant))
        makers = [partial(bad_record, field=f, value=v) for f, v in cases]
        expect = [mutants.expected_error(f, variant) for f, _ in cases]
        must_fail = [mutants.fails(f, variant) for f, _ in cases]
    world = World(tmp_path, registry, webhook_table(sink), count=HEALTHY + len(makers))
    first = world.check()
    assert first is not None and first.returncode == 0, first and first.stderr
    healthy, bad = world.ids[:HEALTHY], world.ids[HEALTHY:]
    world.advance(healthy)
    for nct, make, fails in zip(bad, makers, must_fail, strict=True):
        if fails:
            served = make(nct)  # served as it is: World.put would read it
            registry.put_raw(nct, served, json.dumps(served).replace(
                f'"{DEEP_MARK}"', DEEP_JSON).encode())
        else:
            world.put(make(nct))
    through = world.check()
    assert through is not None and through.returncode == 0, through and through.stderr
    assert "Traceback" not in through.stderr
    failing = set()
    store = Store.open_readonly(load(world.config).store)
    try:
        trials = {t.nct_id: t for t in store.versions.trials(world.ids)}
        for nct, prefix, fails in zip(bad, expect, must_fail, strict=True):
            error = trials[nct].last_error
            if fails:
                assert error and error.startswith(prefix), (nct, error, prefix)
                assert "\n" not in error
                failing.add(nct)
            else:
                assert error is None and trials[nct].latest_version == 2, (nct, error)
        assert all(trials[n].latest_version == 2 and not trials[n].last_error for n in healthy)
        assert {r.body["nct_id"] for r in sink.received} >= set(healthy)
        with TestClient(create_app(load(world.config), store)) as page:
            for route in ["/", "/changes", "/feed.atom", "/status",
                          *(f"/trials/{n}" for n in world.ids)]:
                assert page.get(route).status_code == 200, route
    finally:
        store.close()
    listed = ctmonitor(world, "list")
    assert listed.returncode == 0 and listed.stdout.count("last check failed: ") == len(failing)
    status = json.loads(ctmonitor(world, "status", "--json").stdout)
    assert {line.split(":")[0] for line in status["failing_trials"]} == failing
    assert status["last_check"].split(": ")[1].startswith("partial")
    world.advance(bad)  # the registry's next refresh mends the records
    after = world.check()
    assert after is not None and after.returncode == 0, after and after.stderr
    assert record(world, world.account(accepted(sink), "hook")) == ZERO
