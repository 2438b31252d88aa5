"""The fault suite: real `ctmonitor check` processes against a registry and channels that
fail in every way we know of. A case sets its fault after a registry refresh, runs a check
through it, clears it and runs one more check; then nothing may be lost or duplicated, no
process may print a traceback or hang. A loop of SIGKILLs at random moments of checks
follows. The counts end the run in one line (tests/faults/conftest.py)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from monitor.answers import MAX_ANSWER_BYTES, MAX_STUDY_CHARS
from tests.conftest import SmtpInbox, free_port
from tests.faults import breakers
from tests.faults.tally import RESULTS, Tally
from tests.faults.world import PROCESS_SECONDS, World, day_record
from tests.support.builder import changed, study
from tests.support.http_sink import Answer, HttpSink
from tests.support.registry import FakeRegistry, Fault

KILLS = 50
ZERO = {"lost": 0, "duplicated": 0, "tracebacks": 0, "hangs": 0}


@dataclass(frozen=True)
class Case:
    name: str
    fault: Callable[[World, Any], None]  # (the world, the channel's server)
    registry_extra: str = ""
    extra: str = ""
    fails: bool = False  # the check through the fault cannot complete


def search(fault: Fault) -> Callable[[World, Any], None]:
    return lambda world, _: world.registry.faults.append(fault)


def big_record(world: World, _: Any) -> None:
    nct = world.ids[0]
    world.put(changed(day_record(nct, world.day), "protocolSection.descriptionModule."
                      "detailedDescription", "A long description. " * 500_000))  # 10 MB


def odd_record(world: World, _: Any) -> None:
    record = changed(day_record(world.ids[1], world.day), "protocolSection.newModule",
                     {"someKey": [1, 2, {"deep": None}]})
    record["protocolSection"].pop("designModule")
    record["protocolSection"].pop("statusModule")
    record["somethingNew"] = {"added": "by the registry"}
    world.put(record)


def slow_single_studies(world: World, _: Any) -> None:
    world.registry.faults.append(Fault("/studies?", 404, times=1))
    world.registry.single_delay = 0.5


def gzip_bomb() -> bytes:
    """Past the answer bound unpacked (1 GB of spaces in a page), 1 MB on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip format
    spaces = b" " * 2**20
    parts = [packer.compress(b'{"studies": [')]
    parts += [packer.compress(spaces) for _ in range(MAX_ANSWER_BYTES // 2**20 * 2)]
    return b"".join([*parts, packer.compress(b"]}"), packer.flush()])


def hostile_page(make: Callable[[], bytes], headers: dict[str, str] | None = None
                 ) -> Callable[[World, Any], None]:
    """The batch's page is made at fault time (a bomb is not built at import)."""
    return lambda world, _: world.registry.faults.append(
        Fault("/studies?", 200, headers or {}, make()))  # type: ignore[arg-type]


def long_string() -> bytes:
    study_ = {"protocolSection": {"identificationModule": {
        "nctId": "NCT09000001", "briefTitle": "x" * (MAX_STUDY_CHARS + 2**20)}}}
    return json.dumps({"studies": [study_]}).encode()


def redirect_loop(world: World, _: Any) -> None:
    """Two trials whose ids redirect to each other: the search finds neither."""
    a, b = world.ids[:2]
    world.hidden = {n: world.registry.records.pop(n) for n in (a, b)}
    world.registry.aliases.update({a: b, b: a})


def sink_script(*answers: Answer) -> Callable[[World, Any], None]:
    def apply(_world: World, sink: Any) -> None:
        sink.script.extend(answers)
    return apply


def sink_down(_world: World, sink: Any) -> None:
    sink.down = True


REGISTRY_CASES = [
    Case("500 burst within the retries", search(Fault("/studies?", 500, times=2))),
    Case("502 past the retries", search(Fault("/studies?", 502, times=3)), fails=True),
    Case("503 burst on /version", search(Fault("/version", 503, times=2))),
    Case("429 with Retry-After", search(Fault("/studies?", 429, {"Retry-After": "1"}))),
    Case("429 without Retry-After", search(Fault("/studies?", 429, times=2))),
    Case("connection reset mid-body", search(Fault("/studies?", 0,
                                                   action=breakers.reset_mid_body)), fails=True),
    Case("truncated JSON", search(Fault("/studies?", 200,
                                        body=b'{"studies": [{"protocolSection": {"ide')),  # type: ignore[arg-type]
         fails=True),
    Case("HTML with 200 from /version", search(Fault("/version", 200,
                                                     body="<html><p>Maintenance</p></html>")),
         fails=True),
    Case("HTML with 200 from a search", search(Fault("/studies?", 200,
                                                     body="<html><p>Maintenance</p></html>")),
         fails=True),
    Case("an answer trickling a byte a second", search(Fault("/version", 0,
                                                             action=breakers.trickle)),
         fails=True),
    Case("a registry that never answers", search(Fault("/studies?", 0, times=3,
                                                       action=breakers.silence)), fails=True),
    Case("a nextPageToken that repeats", search(Fault("/studies?", 0, times=50,
                                                      action=breakers.page_loop("same")))),
    Case("a study for an id never asked for",
         lambda world, _: world.registry.extra_studies.append(study("NCT07777777"))),
    Case("a 10 MB record", big_record),
    Case("a record with unknown keys and missing modules", odd_record),
    Case("a gzip bomb", hostile_page(gzip_bomb, {"Content-Encoding": "gzip"})),
    Case("400 KB of nested brackets", hostile_page(
        lambda: b'{"studies": [{"a": ' + b"[" * 400_000 + b"]" * 400_000 + b"}]}")),
    Case("a 33 MB string", hostile_page(long_string)),
    Case("a 301 loop between two ids", redirect_loop),
    Case("a check past its deadline", slow_single_studies,
         extra="[monitor]\ncheck_timeout_minutes = 0.02\n", fails=True),
]
WEBHOOK_CASES = [
    Case("webhook refusing (503)", sink_down),
    Case("webhook timing out", sink_script(*[Answer(delay=1.5)] * 3)),
    Case("webhook accepting, then dropping the connection", sink_script(*[Answer(drop=True)] * 3)),
    Case("webhook 429 with Retry-After", sink_script(Answer(429, {"Retry-After": "1"}))),
    Case("webhook 500 then accepting", sink_script(Answer(500))),
]
SMTP_CASES = ["SMTP refusing (554)", "SMTP never greeting", "SMTP hanging up after the "
              "greeting", "SMTP not listening"]


def webhook_table(sink: HttpSink) -> str:
    return f'[notifiers.hook]\ntype = "webhook"\nurl = "{sink.url}"\n'


def email_table(port: int) -> str:
    return (f'[notifiers.mail]\ntype = "email"\nhost = "127.0.0.1"\nport = {port}\n'
            'security = "none"\nfrom = "ctmonitor@example.org"\nto = ["team@example.org"]\n')


def accepted(sink: HttpSink) -> Counter[str]:
    return Counter(r.headers["Idempotency-Key"] for r in sink.received
                   if 200 <= r.status < 300 and r.body.get("event") == "trial.changed")


def run_case(world: World, fails: bool, fault: Callable[[], None],
             clear: Callable[[], None]) -> None:
    first = world.check()
    assert first is not None and first.returncode == 0, first and first.stderr
    world.advance(world.ids[::2])
    fault()
    through = world.check()
    if through is not None:
        assert (through.returncode != 0) == fails, through.stderr
        assert len(through.stderr.strip().splitlines()) <= 1, through.stderr
    clear()
    after = world.check()
    assert after is not None and after.returncode == 0, after and after.stderr


def record(world: World, tally: Tally) -> dict[str, int]:
    tally.cases += 1
    RESULTS.add(tally)
    return {k: getattr(tally, k) for k in ZERO}


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    server = HttpSink()
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("case", REGISTRY_CASES + WEBHOOK_CASES, ids=lambda c: c.name)
def test_a_fault_loses_and_duplicates_nothing(case: Case, tmp_path: Path,
                                             registry: FakeRegistry, sink: HttpSink) -> None:
    world = World(tmp_path, registry, webhook_table(sink), registry_extra=case.registry_extra,
                  extra=case.extra)

    def clear() -> None:
        registry.faults.clear()
        registry.extra_studies.clear()
        registry.aliases.clear()
        registry.records.update(world.hidden)
        registry.single_delay = 0.0
        sink.down = False
        sink.script.clear()

    run_case(world, case.fails, lambda: case.fault(world, sink), clear)
    assert record(world, world.account(accepted(sink), "hook")) == ZERO


@pytest.mark.parametrize("name", SMTP_CASES)
def test_a_mail_server_fault_loses_and_duplicates_nothing(name: str, tmp_path: Path,
                                                          registry: FakeRegistry) -> None:
    port = free_port()
    world = World(tmp_path, registry, email_table(port))
    inbox = SmtpInbox()
    stub: Any = None

    def fault() -> None:
        nonlocal stub
        inbox.stop()
        if name == "SMTP refusing (554)":
            stub = SmtpInbox(answer="554 5.7.1 Message rejected")
            stub.start(port)
        elif name == "SMTP never greeting":
            stub = breakers.TcpStub(greeting=None, hold=True, port=port)
        elif name.startswith("SMTP hanging up"):
            stub = breakers.TcpStub(greeting=b"220 ready\r\n", hold=False, port=port)

    def clear() -> None:
        if stub is not None:
            stub.stop()
        inbox.start(port)

    inbox.start(port)
    try:
        run_case(world, False, fault, clear)
    finally:
        inbox.stop()
    keys = Counter(m["Message-ID"].strip("<>").split("@")[0] for m in inbox.messages
                   if str(m["Subject"]).startswith("NCT"))
    assert record(world, world.account(keys, "mail")) == ZERO


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
        tmp_path: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    """Checks killed with SIGKILL at random moments while the registry changes between
    them, alerts posted slowly enough for kills to fall between a send and its record."""
    world = World(tmp_path, registry, webhook_table(sink), count=20)
    sink.script.extend([Answer(delay=0.02)] * 100_000)
    rng = random.Random(20261122)
    first = world.check()
    assert first is not None and first.returncode == 0
    started = time.monotonic()
    world.advance(rng.sample(world.ids, 8))
    timed = world.check()
    assert timed is not None and timed.returncode == 0
    span = time.monotonic() - started
    tally = world.tally
    for _ in range(KILLS * 3):
        if tally.kills == KILLS:
            break
        world.advance(rng.sample(world.ids, 8))
        proc = subprocess.Popen(world.command(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            proc.wait(timeout=rng.uniform(0.05, span))  # the kill's random moment
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            tally.kills += 1
        try:
            _, err = proc.communicate(timeout=PROCESS_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            tally.hangs += 1
            continue
        world.saw(err)
    assert tally.kills == KILLS
    after = world.check()
    assert after is not None and after.returncode == 0, after and after.stderr
    tally.cases -= 1  # the loop is counted in kills, not as a case
    assert record(world, world.account(accepted(sink), "hook")) == ZERO
