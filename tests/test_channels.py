"""Each channel against a real server on loopback: SMTP (aiosmtpd), Slack and webhooks
(a local HTTP endpoint)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from monitor import __version__
from monitor.config import load
from notifiers import build_notifiers
from notifiers.alerts import trial_payload
from notifiers.base import Environment, RetryableDelivery
from notifiers.email import render_html
from notifiers.render import text_body
from notifiers.sample import sample_payload
from notifiers.slack import SLACK_BLOCK_LIMIT, SLACK_TEXT_LIMIT, slack_message
from snapshots.diff import diff
from snapshots.events import ChangeEvent
from tests.conftest import SmtpInbox
from tests.support.builder import changed, study

pytestmark = pytest.mark.one_backend  # no store: the SQLite run is enough


def channel(tmp_path: Path, body: str, env: Environment | None = None) -> Any:
    path = tmp_path / "c.toml"
    path.write_text(body)
    notifiers = build_notifiers(load(path).channels, env or Environment())
    return next(iter(notifiers.values()))


def email_channel(tmp_path: Path, port: int, auth: str = "") -> Any:
    return channel(tmp_path, f"""
[notifiers.mail]
type = "email"
host = "127.0.0.1"
port = {port}
security = "none"
from = "ctmonitor@example.org"
to = ["investigator@example.org", "editor@example.org"]
{auth}
""")


def hostile_payload() -> dict[str, Any]:
    old = study(title="<script>alert('x')</script> A trial")
    new = changed(old, "protocolSection.statusModule.overallStatus", "TERMINATED")
    new = changed(new, "protocolSection.statusModule.whyStopped",
                  '<a href="https://evil.example">click</a> & <img src=x onerror=alert(1)>')
    events = diff(old, new)
    return trial_payload("NCT09000001", "<script>alert('x')</script> A trial", 2, 1, events)


# -- email ------------------------------------------------------------------------------------
def test_email_is_multipart_with_a_subject_that_says_what_happened(
        tmp_path: Path, smtp_server: SmtpInbox) -> None:
    mail = email_channel(tmp_path, smtp_server.port)  # type: ignore[attr-defined]
    answer = mail.send([sample_payload()], "key-1")
    assert answer == "accepted by 127.0.0.1"
    [message] = smtp_server.messages
    assert message["Subject"] == "NCT05935098 terminated; primary completion 428 days earlier"
    assert message["To"] == "investigator@example.org, editor@example.org"
    assert message["Message-ID"] == "<key-1@ctmonitor>"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "  [critical] Overall status: Active, not recruiting -> Terminated" in text
    assert "https://clinicaltrials.gov/study/NCT05935098?tab=history" in text
    assert 'href="https://clinicaltrials.gov/study/NCT05935098?tab=history"' in html


def test_hostile_record_text_arrives_inert_in_html(tmp_path: Path,
                                                   smtp_server: SmtpInbox) -> None:
    mail = email_channel(tmp_path, smtp_server.port)  # type: ignore[attr-defined]
    mail.send([hostile_payload()], "key-2")
    html = smtp_server.messages[0].get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and 'href="https://evil.example"' not in html
    text = smtp_server.messages[0].get_body(("plain",)).get_content()
    assert "<script>alert('x')</script> A trial" in text


def test_text_part_says_what_the_html_says() -> None:
    payload = sample_payload()
    html, text = render_html([payload]), text_body([payload])
    assert text.startswith("NCT05935098 terminated; primary completion 428 days earlier\n\n")
    for change in payload["changes"]:
        assert change["summary"] in text and escape(change["summary"]) in html
    assert "https://clinicaltrials.gov/study/NCT05935098" in text
    assert "\n\n\n" not in text


def test_smtp_refusing_the_message(tmp_path: Path) -> None:
    inbox = SmtpInbox(answer="554 5.7.1 Message rejected")
    port = inbox.start()
    try:
        with pytest.raises(RetryableDelivery, match="SMTP 554"):
            email_channel(tmp_path, port).send([sample_payload()], "k")
    finally:
        inbox.stop()


def test_smtp_login_refused_and_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = SmtpInbox(password="right")
    port = inbox.start()
    try:
        monkeypatch.setenv("CTM_SMTP_PASSWORD", "wrong")
        auth = 'username = "monitor"\npassword = "${CTM_SMTP_PASSWORD}"'
        with pytest.raises(RetryableDelivery, match="SMTP login refused") as caught:
            email_channel(tmp_path, port, auth).send([sample_payload()], "k")
        assert "wrong" not in str(caught.value)
        monkeypatch.setenv("CTM_SMTP_PASSWORD", "right")
        email_channel(tmp_path, port, auth).send([sample_payload()], "k")
        assert len(inbox.messages) == 1
    finally:
        inbox.stop()


def test_smtp_dropping_the_connection(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def drop() -> None:
        conn, _ = listener.accept()
        conn.sendall(b"220 hello\r\n")
        conn.recv(1024)
        conn.close()

    threading.Thread(target=drop, daemon=True).start()
    try:
        with pytest.raises(RetryableDelivery, match="SMTP server dropped the connection"):
            email_channel(tmp_path, port).send([sample_payload()], "k")
    finally:
        listener.close()


def test_email_config_is_checked_when_it_loads(tmp_path: Path) -> None:
    from snapshots.errors import ConfigError

    with pytest.raises(ConfigError, match=r"notifiers\.mail\.to: expected a list of email"):
        channel(tmp_path, '[notifiers.mail]\ntype = "email"\nhost = "h"\nfrom = "a@b"\n'
                          'to = ["nobody"]\n')


# -- slack ------------------------------------------------------------------------------------
def test_slack_message_shows_severity_old_new_and_the_link(sink: Any, tmp_path: Path) -> None:
    slack = channel(tmp_path, f'[notifiers.team]\ntype = "slack"\nwebhook_url = "{sink.url}"\n')
    assert slack.send([sample_payload()], "k") == "HTTP 200"
    assert sink.received[0].headers["User-Agent"].startswith("ctmonitor/")
    body = sink.received[0].body
    texts = "\n".join(b["text"]["text"] for b in body["blocks"])
    assert body["text"] == "NCT05935098 terminated; primary completion 428 days earlier"
    assert ":red_circle: *critical* Overall status: Active, not recruiting → Terminated" in texts
    assert "<https://clinicaltrials.gov/study/NCT05935098|NCT05935098>" in texts


def test_slack_escapes_record_text() -> None:
    body = slack_message([hostile_payload()])
    texts = "\n".join(b["text"]["text"] for b in body["blocks"])
    assert "&lt;script&gt;" in texts and "<script>" not in texts
    assert "&lt;a href" in texts and "&amp;" in texts


def many_changes(n: int, nct_id: str) -> list[ChangeEvent]:
    severities = ["minor", "notable", "critical"]
    return [ChangeEvent(nct_id, "contacts", "phone",
                        f"protocolSection.contactsLocationsModule.locations[Site {i}].contacts"
                        "[A|CONTACT].phone", "555-0100", "555-0199", severities[i % 3],
                        f"Site contact (Site number {i} of a long list, Some City, Country): "
                        f"555-0100 -> 555-0199 " + "x" * 40) for i in range(n)]


def site_moves(nct_id: str) -> list[ChangeEvent]:
    """32 sites of one version changing status, as NCT06989112's did on one day."""
    moves = ([("NOT_YET_RECRUITING", "RECRUITING")] * 28 + [("RECRUITING", "WITHDRAWN")] * 2
             + [("RECRUITING", "SUSPENDED")] + [("RECRUITING", "COMPLETED")])
    return [ChangeEvent(nct_id, "locations", "status",
                        f"protocolSection.contactsLocationsModule.locations[Site {i}].status",
                        old, new, "minor", f"Site status (Site {i}): {old} -> {new}")
            for i, (old, new) in enumerate(moves)]


def test_a_versions_site_status_changes_are_one_line_in_every_channel() -> None:
    line = ("32 sites changed status: 28 not yet recruiting → recruiting, 2 recruiting → "
            "withdrawn, 1 recruiting → suspended, 1 recruiting → completed")
    payload = trial_payload("NCT06989112", "Many sites", 5, 4, site_moves("NCT06989112"))
    assert len(payload["changes"]) == 32  # the payload keeps every event for scripts
    slack = "\n".join(b["text"]["text"] for b in slack_message([payload])["blocks"][1:])
    assert slack.count("sites changed status") == 1 and line in slack
    assert "Site status (Site" not in slack
    text = text_body([payload])
    assert f"[minor] {line}" in text and "Site status (Site" not in text


def test_a_digest_of_200_changes_fits_slacks_limits() -> None:
    messages = [trial_payload(f"NCT0900{i:04d}", f"Trial {i}", 3, 2,
                              many_changes(20, f"NCT0900{i:04d}")) for i in range(10)]
    body = slack_message(messages)
    assert len(body["blocks"]) <= SLACK_BLOCK_LIMIT
    assert all(len(b["text"]["text"]) <= SLACK_TEXT_LIMIT for b in body["blocks"])
    texts = "\n".join(b["text"]["text"] for b in body["blocks"])
    assert texts.count(":red_circle:") > 0


def test_one_alert_too_big_keeps_the_most_severe_and_counts_the_rest() -> None:
    body = slack_message([trial_payload("NCT09000001", "Big", 2, 1,
                                        many_changes(2000, "NCT09000001"))])
    assert len(body["blocks"]) <= SLACK_BLOCK_LIMIT
    assert all(len(b["text"]["text"]) <= SLACK_TEXT_LIMIT for b in body["blocks"])
    texts = "\n".join(b["text"]["text"] for b in body["blocks"])
    kept = texts.count("Site contact")
    assert f"+{2000 - kept} more changes — <https://clinicaltrials.gov/study/NCT09000001|" in texts
    criticals = sum(1 for i in range(2000) if i % 3 == 2)
    assert texts.count(":red_circle:") == criticals  # every critical change kept
    assert texts.count(":white_circle:") < criticals


# -- webhook ----------------------------------------------------------------------------------
def test_webhook_posts_the_interface_payload_with_an_idempotency_key(sink: Any,
                                                                     tmp_path: Path) -> None:
    hook = channel(tmp_path, f'[notifiers.hook]\ntype = "webhook"\nurl = "{sink.url}"\n'
                             '[notifiers.hook.headers]\nAuthorization = "Bearer t"\n')
    hook.send([sample_payload()], "abc123")
    received = sink.received[0]
    assert received.headers["Idempotency-Key"] == "abc123"
    assert received.headers["Authorization"] == "Bearer t"
    assert received.headers["User-Agent"].startswith(f"ctmonitor/{__version__} ")
    assert set(received.body) == {"event", "nct_id", "title", "url", "version",
                                  "previous_version", "detected_at", "changes"}
    assert received.body["event"] == "trial.changed"


@pytest.mark.parametrize(("status", "headers", "expected"), [
    (500, {}, "HTTP 500"), (429, {"Retry-After": "12"}, "HTTP 429")])
def test_webhook_failures_are_retryable(sink: Any, tmp_path: Path, status: int,
                                        headers: dict[str, str], expected: str) -> None:
    from tests.support.http_sink import Answer

    sink.script.append(Answer(status, headers))
    hook = channel(tmp_path, f'[notifiers.hook]\ntype = "webhook"\nurl = "{sink.url}"\n')
    with pytest.raises(RetryableDelivery, match=expected) as caught:
        hook.send([sample_payload()], "k")
    assert caught.value.retry_after == (12.0 if headers else None)
    assert sink.url not in str(caught.value)


def test_webhook_timeout(sink: Any, tmp_path: Path) -> None:
    from tests.support.http_sink import Answer

    sink.script.append(Answer(200, delay=1.0))
    hook = channel(tmp_path, f'[notifiers.hook]\ntype = "webhook"\nurl = "{sink.url}"\n',
                   Environment(timeout=0.2))
    with pytest.raises(RetryableDelivery, match="timed out"):
        hook.send([sample_payload()], "k")


@pytest.fixture
def tls_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A test certificate authority the SMTP client trusts (through SSL_CERT_FILE)."""
    import trustme

    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    return ca


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_over_tls(tmp_path: Path, tls_ca: Any, security: str) -> None:
    import ssl

    from aiosmtpd.controller import Controller

    from tests.conftest import free_port

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("localhost").configure_cert(server_context)
    inbox = SmtpInbox()
    port = free_port()
    options = ({"tls_context": server_context, "require_starttls": True}
               if security == "starttls" else {"ssl_context": server_context})
    controller = Controller(inbox, hostname="localhost", port=port, **options)
    if security == "ssl":
        controller.ready_timeout = 5
    controller.start()
    try:
        mail = channel(tmp_path, f"""
[notifiers.mail]
type = "email"
host = "localhost"
port = {port}
security = "{security}"
from = "ctmonitor@example.org"
to = ["investigator@example.org"]
""")
        assert mail.send([sample_payload()], "k") == "accepted by localhost"
        assert inbox.messages[0]["Subject"].startswith("NCT05935098 terminated")
    finally:
        controller.stop()


def test_a_digest_of_more_trials_than_blocks_counts_the_rest() -> None:
    messages = [trial_payload(f"NCT0900{i:04d}", f"Trial {i}", 3, 2,
                              many_changes(2, f"NCT0900{i:04d}")) for i in range(100)]
    body = slack_message(messages)
    assert len(body["blocks"]) == SLACK_BLOCK_LIMIT
    assert body["blocks"][-1]["text"]["text"].startswith("+52 more trials changed")
    assert all(len(b["text"]["text"]) <= SLACK_TEXT_LIMIT for b in body["blocks"])
