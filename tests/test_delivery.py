"""The outbox: alerts written with their version, sent until accepted, never lost, never
duplicated beyond an idempotent retry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import load
from monitor.registry import RegistryClient
from monitor.runner import run_check
from notifiers import build_notifiers
from notifiers.base import Environment
from notifiers.courier import Courier
from notifiers.sample import sample_payload
from snapshots.outbox import Delivery, NewDelivery
from snapshots.store import Store
from tests.conftest import SmtpInbox
from tests.faults.test_faults import email_table
from tests.support.builder import changed, study
from tests.support.http_sink import Answer, HttpSink
from tests.support.registry import FakeRegistry

ROOT = Path(__file__).resolve().parent.parent
S = "protocolSection.statusModule"


class Harness:
    """run_check with the clock and sleeps in the test's hands."""

    def __init__(self, config: Path) -> None:
        self.settings = load(config)
        self.store = Store.open(self.settings.store)
        self.now = 1_000_000.0
        self.slept: list[float] = []
        self.courier = Courier(self.store.outbox,
                               build_notifiers(self.settings.channels, Environment()),
                               self.settings.delivery, sleep=self.slept.append,
                               clock=lambda: self.now)

    def check(self) -> Any:
        client = RegistryClient(self.settings.registry, sleep=lambda s: None)
        return run_check(self.settings, self.store, client, self.courier)

    def rows(self) -> list[Delivery]:
        return self.store.outbox.recent()


def hook_config(make_config: Any, *urls: str, extra: str = "") -> Path:
    tables = "".join(f'\n[notifiers.hook{i}]\ntype = "webhook"\nurl = "{u}"\n'
                     for i, u in enumerate(urls))
    return make_config(["NCT01000001"], tables + extra)


def terminate(registry: FakeRegistry, day: str = "2026-03-13T09:00:04") -> None:
    record = registry.records["NCT01000001"]
    record = changed(record, f"{S}.overallStatus", "TERMINATED")
    registry.put(changed(record, f"{S}.whyStopped", "Funding withdrawn"))
    registry.data_timestamp = day


def terminated_after_baseline(registry: FakeRegistry, config: Path) -> Harness:
    """A harness whose trial was checked once, then terminated on the registry's next day."""
    registry.put(study("NCT01000001"))
    run = Harness(config)
    run.check()
    terminate(registry)
    return run


def test_retry_after_is_honoured_within_the_check_with_the_same_key(
        registry: FakeRegistry, sink: HttpSink, make_config: Any) -> None:
    run = terminated_after_baseline(registry, hook_config(make_config, sink.url))
    sink.script.append(Answer(429, {"Retry-After": "3"}))
    result = run.check()
    assert result.delivery.sent == 2  # webhook and console
    assert run.slept == [3.0]
    keys = [r.headers["Idempotency-Key"] for r in sink.received]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert {r.status for r in run.rows()} == {"done"}


def test_endpoint_down_for_two_checks_then_delivered_once(
        registry: FakeRegistry, sink: HttpSink, make_config: Any) -> None:
    run = terminated_after_baseline(registry, hook_config(make_config, sink.url))
    sink.down = True
    first = run.check()
    assert first.delivery.pending == 1 and first.delivery.sent == 1  # console went out
    run.now += 3600
    registry.data_timestamp = "2026-03-16T09:00:04"
    assert run.check().delivery.pending == 1
    sink.down = False
    run.now += 3600
    third = run.check()
    assert third.delivery.sent == 1
    delivered = [r for r in sink.received if r.body and r.body.get("event") == "trial.changed"]
    assert len({r.headers["Idempotency-Key"] for r in delivered}) == 1
    assert [r.status for r in run.rows()] == ["done", "done"]
    run.now += 3600
    run.check()
    assert len(sink.received) == len(delivered)  # nothing sent twice once accepted


def test_bounded_attempts_then_failed_and_shown(registry: FakeRegistry, sink: HttpSink,
                                                make_config: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    registry.put(study("NCT01000001"))
    config = hook_config(make_config, sink.url, extra="\n[delivery]\nmax_attempts = 1\n")
    assert main(["--config", str(config), "check"]) == 0
    terminate(registry)
    sink.down = True
    assert main(["--config", str(config), "check"]) == 3
    out = capsys.readouterr().out
    assert "alerts: 1 sent, 0 to retry, 1 failed" in out
    main(["--config", str(config), "list"])
    assert "failed deliveries: 1" in capsys.readouterr().out
    main(["--config", str(config), "deliveries", "--status", "failed"])
    listing = capsys.readouterr().out
    assert "failed" in listing and "HTTP 503" in listing and sink.url not in listing


def test_one_failing_channel_never_holds_back_the_others(
        registry: FakeRegistry, sink: HttpSink, make_config: Any) -> None:
    good = HttpSink()
    good.start()
    try:
        config = hook_config(make_config, "http://127.0.0.1:9/down", good.url)
        run = terminated_after_baseline(registry, config)
        result = run.check()
        assert result.delivery.sent == 2 and result.delivery.pending == 1
        assert good.received[0].body["changes"][0]["field"] == "overallStatus"
    finally:
        good.stop()


def test_channel_narrowing_and_digest_mode(registry: FakeRegistry, sink: HttpSink,
                                           make_config: Any) -> None:
    registry.put(study("NCT01000001"))
    registry.put(study("NCT01000002"))
    config = make_config(["NCT01000001", "NCT01000002"], f"""
[notifiers.digest]
type = "webhook"
url = "{sink.url}"
mode = "digest"
categories = ["status", "enrollment"]
min_severity = "notable"
""")
    run = Harness(config)
    run.check()
    registry.put(changed(registry.records["NCT01000001"],
                         "protocolSection.designModule.enrollmentInfo.count", 400))
    stopped = changed(registry.records["NCT01000002"], f"{S}.overallStatus", "TERMINATED")
    registry.put(changed(stopped, f"{S}.whyStopped", "Funding withdrawn"))
    registry.data_timestamp = "2026-03-13T09:00:04"
    run.check()
    [post] = sink.received
    alerts = post.body["alerts"]
    assert post.body["event"] == "digest" and len(alerts) == 2
    fields = [[c["field"] for c in a["changes"]] for a in alerts]
    assert fields == [["overallStatus", "whyStopped"], ["enrollmentCount"]]  # critical first


def test_killed_between_send_and_mark_repeats_only_with_the_same_key(
        registry: FakeRegistry, sink: HttpSink, make_config: Any, tmp_path: Path) -> None:
    registry.put(study("NCT01000001"))
    config = hook_config(make_config, sink.url)
    assert main(["--config", str(config), "check"]) == 0
    terminate(registry)
    victim: list[subprocess.Popen[bytes]] = []

    def kill_sender(_received: Any) -> None:
        if len(sink.received) == 1:
            os.kill(victim[0].pid, signal.SIGKILL)
            victim[0].wait()

    sink.on_post = kill_sender
    victim.append(subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config),
                                    "check"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL))
    assert victim[0].wait(timeout=60) == -signal.SIGKILL
    store = Store.open(load(config).store)
    assert [v.number for v in store.versions.history("NCT01000001")] == [1, 2]
    assert {d.status for d in store.outbox.recent() if d.channel == "hook0"} == {"pending"}
    assert main(["--config", str(config), "check"]) == 0
    assert len(sink.received) == 2
    first, again = sink.received
    assert first.headers["Idempotency-Key"] == again.headers["Idempotency-Key"]
    assert sink.received[0].body["changes"] == sink.received[1].body["changes"]
    assert {d.status for d in store.outbox.recent()} == {"done"}
    store.close()


def test_notify_test_reports_each_channel(sink: HttpSink, make_config: Any,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = hook_config(make_config, sink.url, "http://127.0.0.1:9/down")
    assert main(["--config", str(config), "notify-test", "hook0"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == ["hook0 (webhook): HTTP 200",
                                                        "  Idempotency-Key: notify-test-hook0"]
    assert sink.received[0].body["changes"][0]["field"] == "overallStatus"
    assert main(["--config", str(config), "notify-test"]) == 3
    captured = capsys.readouterr()
    assert "hook1 (webhook): FAILED: cannot connect" in captured.out
    assert "console (console): printed" in captured.out
    assert captured.err == "ctmonitor: 1 channel did not accept the sample alert\n"


def test_a_channel_crashing_is_a_failed_try_not_a_failed_check(
        registry: FakeRegistry, sink: HttpSink, make_config: Any) -> None:
    config = make_config(["NCT01000001"], f"""
[notifiers.hook]
type = "webhook"
url = "{sink.url}"
headers = {{ X-Team = "Onkologie ☃" }}
""")
    run = terminated_after_baseline(registry, config)
    result = run.check()
    assert result.delivery.sent == 1 and result.delivery.pending == 1  # console, then hook
    [row] = [r for r in run.rows() if r.channel == "hook"]
    assert row.last_error == "unexpected error (UnicodeEncodeError)"
    assert row.status == "pending" and row.attempts == 3


def test_no_log_line_names_a_channel_urls_path_or_query(
        registry: FakeRegistry, sink: HttpSink, make_config: Any) -> None:
    """At DEBUG, urllib3 logs every request it makes: a Slack or webhook URL's path is its
    secret, and so is a token in its query."""
    secret = "/services/T0/B0/PATHSECRET?token=QUERYSECRET"
    config = make_config(["NCT01000001"], f"""
[notifiers.team]
type = "slack"
webhook_url = "{sink.url}{secret}"

[notifiers.hook]
type = "webhook"
url = "{sink.url}/hooks/HOOKSECRET?sig=SIGSECRET"

[notifiers.gone]
type = "webhook"
url = "http://127.0.0.1:1/hooks/GONESECRET"
""")
    registry.put(study("NCT01000001"))
    logged = ""
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config),
                               "--log-level", "DEBUG", "check"], capture_output=True,
                              text=True, cwd=ROOT, check=False)
        logged += done.stderr
        terminate(registry)
    assert {r.path for r in sink.received} >= {f"/hook{secret}",
                                               "/hook/hooks/HOOKSECRET?sig=SIGSECRET"}
    assert '"POST /... HTTP/1.1" 200' in logged  # urllib3 still says what it did
    for word in ("PATHSECRET", "QUERYSECRET", "HOOKSECRET", "SIGSECRET", "GONESECRET",
                 "/services/"):
        assert word not in logged, word


def test_record_text_no_channel_expected_still_reaches_every_channel(
        registry: FakeRegistry, sink: HttpSink, make_config: Any,
        smtp_server: SmtpInbox) -> None:
    """A CRLF in a status and a header after it: the email's subject stays one line (no
    header is added), Slack, the webhook and the console get it too."""
    port = smtp_server.port  # type: ignore[attr-defined]
    config = make_config(["NCT01000001"], email_table(port) + f"""
[notifiers.team]
type = "slack"
webhook_url = "{sink.url}/slack"

[notifiers.hook]
type = "webhook"
url = "{sink.url}"
""")
    run = terminated_after_baseline(registry, config)
    record = changed(registry.records["NCT01000001"], f"{S}.overallStatus",
                     "TERMINATED\r\nBcc: everyone@example.org")
    registry.put(record)
    assert run.check().delivery.sent == 4
    assert {r.status for r in run.rows()} == {"done"}
    [mail] = smtp_server.messages
    assert "\n" not in mail["Subject"] and "Bcc" not in mail and "terminated" in mail["Subject"]
    assert {r.path for r in sink.received} == {"/hook", "/hook/slack"}


def test_an_alert_a_channel_cannot_make_a_message_of_fails_there_only(
        sink: HttpSink, make_config: Any) -> None:
    """A payload of a shape the email and Slack builders do not know (an older program's,
    or a bug's): those channels mark it failed with why, the webhook posts it, and a
    digest goes on with the alerts it can show."""
    config = make_config([], f"""
[notifiers.team]
type = "slack"
webhook_url = "{sink.url}/slack"
mode = "digest"

[notifiers.hook]
type = "webhook"
url = "{sink.url}"
""")
    run = Harness(config)
    odd = {"event": "trial.changed", "nct_id": "NCT01000001", "changes": [{"what": "?"}]}
    good = sample_payload()
    with run.store.transaction() as conn:
        run.store.outbox.enqueue([NewDelivery(c, "trial.changed", f"{c}-{n}", p)
                                  for c in ("team", "hook")
                                  for n, p in (("odd", odd), ("good", good))], conn)
    report = run.courier.deliver()
    assert (report.sent, report.failed) == (3, 1)
    rows = {r.idempotency_key: r for r in run.rows()}
    assert rows["team-odd"].status == "failed"
    assert rows["team-odd"].last_error == ("this channel cannot make its message of the "
                                           "alert (KeyError)")
    assert {k for k, r in rows.items() if r.status == "done"} == {"team-good", "hook-odd",
                                                                  "hook-good"}
    slack = [r for r in sink.received if r.path == "/hook/slack"]
    assert len(slack) == 1 and "NCT05935098" in json.dumps(slack[0].body)
