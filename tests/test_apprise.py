"""The apprise channel, through apprise's own plugins against real local servers: json://,
form:// and xml:// to an HTTP receiver, mailto:// to an SMTP server on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from tests.conftest import SmtpInbox
from tests.support.builder import changed, study
from tests.support.http_sink import Answer, HttpSink
from tests.support.registry import FakeRegistry

A, B = "NCT01000001", "NCT01000002"
S = "protocolSection.statusModule"


@pytest.fixture
def inbox() -> Any:
    box = SmtpInbox()
    port = box.start()
    yield box, port
    box.stop()


def apprise_table(sink: HttpSink, port: int, extra: str = "") -> str:
    host = sink.origin.split("//", 1)[1]
    urls = [f"json://{host}/hook", f"form://{host}/hook", f"xml://{host}/hook",
            f"mailto://127.0.0.1:{port}?mode=insecure&from=ctmonitor@example.org"
            "&to=team@example.org"]
    return ('[notifiers.everywhere]\ntype = "apprise"\nurls = ['
            + ", ".join(f'"{u}"' for u in urls) + "]\n" + extra)


def kinds(sink: HttpSink) -> list[str]:
    return [r.headers["Content-Type"].split(";")[0] for r in sink.received]


def terminate(registry: FakeRegistry, *ids: str) -> None:
    for nct in ids:
        record = changed(study(nct), f"{S}.overallStatus", "TERMINATED")
        registry.put(changed(record, f"{S}.whyStopped", "Funding *withdrawn* [sic]"))
    registry.data_timestamp = "2026-03-13T09:00:05"


def test_an_alert_reaches_every_service_in_markdown_titled_as_the_email(
        registry: FakeRegistry, sink: HttpSink, inbox: Any, make_config: Any) -> None:
    box, port = inbox
    config = make_config([A], apprise_table(sink, port))
    registry.put(study(A))
    assert main(["--config", str(config), "check"]) == 0
    terminate(registry, A)
    assert main(["--config", str(config), "check"]) == 0
    assert kinds(sink) == ["application/json", "application/x-www-form-urlencoded",
                           "application/xml"]
    posted = sink.received[0].body
    assert posted["title"] == f"{A} terminated"
    body = posted["message"]
    assert body.startswith(f"**[{A}](https://clinicaltrials.gov/study/{A})** A built study")
    assert "- 🔴 **critical** Overall status: Recruiting → Terminated \\(why stopped" in body
    assert r"Funding \*withdrawn\* \[sic\]" in body  # record text is not Markdown
    assert b"Terminated" in sink.received[1].raw and b"Terminated" in sink.received[2].raw
    [mail] = box.messages
    assert mail["Subject"] == f"{A} terminated" and mail["To"] == "team@example.org"


def test_a_digest_is_one_message_per_service(registry: FakeRegistry, sink: HttpSink,
                                             inbox: Any, make_config: Any) -> None:
    box, port = inbox
    config = make_config([A, B], apprise_table(sink, port, 'mode = "digest"\n'))
    for nct in (A, B):
        registry.put(study(nct))
    assert main(["--config", str(config), "check"]) == 0
    terminate(registry, A, B)
    assert main(["--config", str(config), "check"]) == 0
    assert len(sink.received) == 3 and len(box.messages) == 1
    assert sink.received[0].body["title"].startswith("2 alerts: ")
    assert A in sink.received[0].body["message"] and B in sink.received[0].body["message"]


def test_a_retry_sends_only_to_the_services_that_did_not_take_it(
        registry: FakeRegistry, sink: HttpSink, inbox: Any, make_config: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    box, port = inbox
    config = make_config([A], apprise_table(sink, port)
                         + "\n[delivery]\nbackoff = 0.01\n")
    registry.put(study(A))
    assert main(["--config", str(config), "check"]) == 0
    terminate(registry, A)
    sink.script.append(Answer(500))  # the json service refuses once
    assert main(["--config", str(config), "check"]) == 0
    assert kinds(sink) == ["application/json", "application/x-www-form-urlencoded",
                           "application/xml", "application/json"]
    assert [r.status for r in sink.received] == [500, 200, 200, 200]
    assert len(box.messages) == 1
    capsys.readouterr()
    assert main(["--config", str(config), "deliveries", "--status", "done"]) == 0
    assert "everywhere" in capsys.readouterr().out


def test_notify_test_names_each_service_without_its_secrets(
        sink: HttpSink, inbox: Any, make_config: Any, capsys: pytest.CaptureFixture[str]) -> None:
    box, port = inbox
    config = make_config([A], apprise_table(sink, port))
    assert main(["--config", str(config), "notify-test", "everywhere"]) == 0
    answer = capsys.readouterr().out.splitlines()[0]
    assert answer.startswith("everywhere (apprise): json://127.0.0.1:")
    assert answer.count(": sent") == 4


@pytest.mark.parametrize(("url", "says"), [
    ("nosuchservice://user:S3CRET@example.org", "apprise cannot read this URL (scheme "
                                                "'nosuchservice'; see its list of services)"),
    ("tgram://S3CRET", "apprise cannot read this URL (scheme 'tgram'"),
    ("S3CRET", "apprise cannot read this URL (expected SCHEME://...)"),
])
def test_a_url_apprise_cannot_read_is_a_config_error_that_keeps_its_secret(
        make_config: Any, capsys: pytest.CaptureFixture[str], url: str, says: str) -> None:
    config = make_config([A], f'[notifiers.x]\ntype = "apprise"\nurls = ["{url}"]\n')
    assert main(["--config", str(config), "check"]) == 2
    err = capsys.readouterr().err
    assert f"notifiers.x.urls[0]: {says}" in err and "S3CRET" not in err
    assert err.count("\n") == 1


def test_a_service_that_fails_for_good_is_counted_like_any_channel(
        registry: FakeRegistry, make_config: Any, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    config = make_config([A], '[notifiers.x]\ntype = "apprise"\n'
                              'urls = ["json://127.0.0.1:9/down"]\n'
                              "[delivery]\nmax_attempts = 1\n")
    registry.put(study(A))
    assert main(["--config", str(config), "check"]) == 0
    terminate(registry, A)
    assert main(["--config", str(config), "check"]) == 3
    capsys.readouterr()
    assert main(["--config", str(config), "deliveries", "--status", "failed"]) == 0
    assert "1 service of 1 did not take it: json://127.0.0.1:9/down" in capsys.readouterr().out
