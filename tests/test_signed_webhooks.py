"""Webhooks signed as Standard Webhooks say, verified with the standardwebhooks package as a
receiver would; a receiver's 410 Gone disables its channel."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from monitor.cli import main
from tests.support.builder import changed, study
from tests.support.http_sink import Answer, HttpSink
from tests.support.registry import FakeRegistry
from tests.test_delivery import hook_config, terminate, terminated_after_baseline

SECRET = "whsec_" + base64.b64encode(b"a secret of 24 bytes.....").decode()


def verified(received: Any, secret: str = SECRET) -> Any:
    """The payload, as a receiver verifies it (raises when the signature is wrong)."""
    headers = {k.lower(): v for k, v in received.headers.items()}
    return Webhook(secret).verify(received.raw, headers)


def test_signed_posts_verify_as_standard_webhooks_also_when_retried(
        registry: FakeRegistry, sink: HttpSink, make_config: Any) -> None:
    config = hook_config(make_config, sink.url, extra=f'secret = "{SECRET}"\n')
    run = terminated_after_baseline(registry, config)
    sink.script.append(Answer(500))
    assert run.check().delivery.sent == 2  # the webhook (on its second try) and the console
    first, second = sink.received
    assert [r.status for r in sink.received] == [500, 200]
    for received in (first, second):
        assert verified(received)["changes"][0]["field"] == "overallStatus"
        assert received.headers["webhook-id"] == received.headers["Idempotency-Key"]
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert second.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):
        verified(second, "whsec_" + base64.b64encode(b"another secret, 24 bytes").decode())
    tampered = type(second)(second.path, second.headers, None, raw=second.raw + b" ")
    with pytest.raises(WebhookVerificationError):
        verified(tampered)


def test_an_unsigned_webhook_has_no_signature_headers(
        registry: FakeRegistry, sink: HttpSink, make_config: Any) -> None:
    run = terminated_after_baseline(registry, hook_config(make_config, sink.url))
    run.check()
    assert not [h for h in sink.received[0].headers if h.lower().startswith("webhook-")]


@pytest.mark.parametrize("secret", ["not-a-secret", "whsec_!!!", "whsec_a=b"])
def test_a_bad_secret_is_a_config_error_that_never_shows_it(
        make_config: Any, capsys: pytest.CaptureFixture[str], secret: str) -> None:
    config = hook_config(make_config, "http://127.0.0.1:9/x", extra=f'secret = "{secret}"\n')
    assert main(["--config", str(config), "check"]) == 2
    err = capsys.readouterr().err
    assert "notifiers.hook0.secret: expected a Standard Webhooks secret" in err
    assert secret not in err.replace("whsec_\" and", "") and err.count("\n") == 1


def test_notify_test_shows_the_headers_a_receiver_gets(
        sink: HttpSink, make_config: Any, capsys: pytest.CaptureFixture[str]) -> None:
    extra = f'secret = "{SECRET}"\nheaders = {{ Authorization = "Bearer t0k" }}\n'
    config = hook_config(make_config, sink.url, extra=extra)
    assert main(["--config", str(config), "notify-test", "hook0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "hook0 (webhook): HTTP 200"
    shown = dict(line.strip().split(": ", 1) for line in lines[1:])
    assert shown["Authorization"] == "(from the config, not shown)"
    assert shown["webhook-id"] == "notify-test-hook0"
    assert shown["webhook-signature"] == sink.received[0].headers["webhook-signature"]
    assert verified(sink.received[0])["nct_id"]
    assert "t0k" not in "\n".join(lines)


def test_a_410_gone_disables_the_channel_tells_the_others_and_status(
        registry: FakeRegistry, sink: HttpSink, make_config: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    other = HttpSink()
    other.start()
    try:
        config = hook_config(make_config, sink.url, other.url)
        registry.put(study("NCT01000001"))
        assert main(["--config", str(config), "check"]) == 0
        terminate(registry)
        sink.script.append(Answer(410))
        assert main(["--config", str(config), "check"]) == 3  # that alert was not delivered
        assert [r.status for r in sink.received] == [410]
        told = [r.body for r in other.received]
        assert [b["event"] for b in told] == ["trial.changed", "monitor.channel_disabled"]
        assert "disabled its channel hook0: HTTP 410 Gone" in told[1]["message"]
        capsys.readouterr()
        assert main(["--config", str(config), "status", "--json"]) == 0
        [disabled] = json.loads(capsys.readouterr().out)["disabled_channels"]
        assert disabled.startswith("hook0: channel disabled since ")
        assert main(["--config", str(config), "deliveries", "--status", "failed"]) == 0
        assert "channel disabled" in capsys.readouterr().out
        # the next change: nothing is posted to the disabled channel, the other gets it
        registry.put(changed(
            registry.records["NCT01000001"], "protocolSection.statusModule.whyStopped",
            "Funding withdrawn for good"))
        registry.data_timestamp = "2026-03-16T09:00:04"
        assert main(["--config", str(config), "check"]) == 0
        assert len(sink.received) == 1 and len(other.received) == 3
        # a new address for it enables it again
        config.write_text(config.read_text().replace(sink.url, sink.url + "/v2"))
        registry.put(changed(
            registry.records["NCT01000001"], "protocolSection.statusModule.whyStopped",
            "Funding withdrawn, finally"))
        registry.data_timestamp = "2026-03-17T09:00:04"
        assert main(["--config", str(config), "check"]) == 0
        assert [r.status for r in sink.received] == [410, 200]
        capsys.readouterr()
        assert main(["--config", str(config), "status", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["disabled_channels"] == []
    finally:
        other.stop()
