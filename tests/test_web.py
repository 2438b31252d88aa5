"""The history page over HTTP: routes, errors, safety, feeds, and that it never writes."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import feedparser
import pytest
import requests
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from monitor.cli import main
from monitor.config import load
from monitor.web import compared
from notifiers.alerts import alerts_for
from notifiers.render import message_lines
from notifiers.slack import slack_message
from snapshots.copying import TableCopy, digest
from snapshots.diff import diff
from snapshots.store import Store
from tests.conftest import free_port, write_config
from tests.support.builder import changed, study
from tests.support.history import HOSTILE, SLIPPING, fill, slipping
from tests.support.pages import serving
from tests.support.registry import FakeRegistry
from tests.support.stores import BACKEND

PAGES = ["/", "/?sort=status", "/?sort=nct&q=drug", "/changes", "/changes?category=dates",
         "/changes?severity=critical", f"/changes?nct={SLIPPING}", f"/trials/{SLIPPING}",
         f"/trials/{SLIPPING}/diff", f"/trials/{SLIPPING}/diff?from=1&to=4",
         f"/trials/{HOSTILE}", "/feed.atom", f"/trials/{SLIPPING}/feed.atom", "/status",
         "/static/style.css"]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    registry = FakeRegistry()
    registry.start()
    yield fill(tmp_path_factory.mktemp("web"), registry)
    registry.stop()


@pytest.fixture
def client(config: Path) -> Iterator[TestClient]:
    with serving(load(config)) as test_client:
        yield test_client


def store_rows(config: Path) -> list[TableCopy]:
    """Every table's row count and hash (what `store copy` verifies with)."""
    store = Store.open_readonly(load(config).store)
    try:
        return digest(store)
    finally:
        store.close()


def test_every_page_answers_with_a_policy_that_allows_no_script(client: TestClient) -> None:
    for path in PAGES:
        answer = client.get(path)
        assert answer.status_code == 200, path
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy, path
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "<script" not in answer.text.replace("&lt;script", ""), path
        assert "http://" not in answer.text.replace("http://testserver", "").replace(
            "http://www.w3.org/", "") or path.endswith(".atom"), path  # nothing from elsewhere


def test_record_text_is_escaped(client: TestClient) -> None:
    page = client.get(f"/trials/{HOSTILE}").text
    assert "<script>document.title" not in page and "<img src=x" not in page
    assert "&lt;script&gt;document.title" in page and "&lt;img src=x onerror=" in page


def test_unknown_trials_and_bad_parameters_are_clear(client: TestClient) -> None:
    missing = client.get("/trials/NCT09999999")
    assert missing.status_code == 404 and "NCT09999999 has no stored versions" in missing.text
    for path, says in (("/trials/NCT123", "is not an NCT id"),
                       (f"/trials/{SLIPPING}/diff?from=abc", "from must be a whole number"),
                       (f"/trials/{SLIPPING}/diff?to=9", "to must be a whole number from 1 to 4"),
                       ("/changes?severity=urgent", "severity must be one of"),
                       ("/changes?nct=12", "is not an NCT id"), ("/?sort=title", "sort must be"),
                       ("/?page=7", "page must be a whole number from 1 to 1")):
        answer = client.get(path)
        assert answer.status_code == 400 and says in answer.text, path
    assert client.get("/nowhere").status_code == 404


def test_no_route_writes(client: TestClient, config: Path) -> None:
    before = store_rows(config)
    for path in PAGES:
        client.get(path)
    for method in ("post", "put", "delete", "patch"):
        answer = getattr(client, method)("/")
        assert answer.status_code == 405 and answer.headers["allow"] == "GET, HEAD"
    assert store_rows(config) == before


def test_pages_read_while_a_check_holds_the_write_lock(client: TestClient,
                                                       config: Path) -> None:
    if BACKEND.postgresql:
        pytest.skip("SQLite's write lock; PostgreSQL's readers never wait for writers")
    writer = sqlite3.connect(Path(make_url(load(config).store).database or ""), timeout=1)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE trials SET title = title")
    try:
        assert client.get(f"/trials/{SLIPPING}").status_code == 200
        assert client.get("/").status_code == 200
    finally:
        writer.rollback()
        writer.close()


def test_feeds_are_valid_atom(client: TestClient) -> None:
    every = feedparser.parse(client.get("/feed.atom").content)
    assert not every.bozo and every.feed.title == "ctmonitor: changes of tracked trials"
    assert f"urn:ctmonitor:{SLIPPING}:v4" in [e.id for e in every.entries]
    one = feedparser.parse(client.get(f"/trials/{SLIPPING}/feed.atom").content)
    assert not one.bozo and {e.id.split(":")[2] for e in one.entries} == {SLIPPING}
    assert client.get("/trials/NCT09999999/feed.atom").status_code == 404


def test_feeds_and_pages_hold_only_what_xml_allows(client: TestClient) -> None:
    """The hostile trial's reason for stopping carries a NUL, an ESC and U+FFFE."""
    for path in ("/feed.atom", f"/trials/{HOSTILE}/feed.atom"):
        body = client.get(path).content
        ElementTree.fromstring(body)  # raises on what XML 1.0 forbids
        assert b"funding" in body and b"[2J" in body, path
    page = client.get(f"/trials/{HOSTILE}").text
    assert "funding" in page and not set("\x00\x1b\ufffe") & set(page)


def test_feeds_link_by_base_url_never_by_the_host_header(client: TestClient) -> None:
    feed = client.get("/feed.atom", headers={"Host": "evil.example"}).text
    assert "evil.example" not in feed and 'href="/changes"' in feed
    moved = client.get("/changes/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert moved.status_code in (301, 307) and moved.headers["location"] == "/changes"


def test_filters_narrow_the_change_feed(client: TestClient) -> None:
    dates = client.get(f"/changes?nct={SLIPPING}&category=dates").text
    assert "Primary completion: 2026-06-30 (estimated) -&gt; 2026-12-31" in dates
    assert "Brief summary changed" not in dates
    critical = client.get("/changes?severity=critical").text
    assert "Terminated" in critical and "Primary completion" not in critical


def test_status_is_json(client: TestClient) -> None:
    status = client.get("/status").json()
    assert status["last_check"].split(": ")[1].startswith("ok")
    assert status["failing_trials"] == [] and status["deliveries_waiting_to_retry"] == 0


def test_a_token_guards_every_request(config: Path) -> None:
    settings = load(config)
    settings = replace(settings, web=replace(settings.web, token="s3cret"))
    with serving(settings) as client:
        assert client.get("/").status_code == 401
        assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        first = client.get("/feed.atom?token=s3cret")
        assert first.status_code == 200 and "HttpOnly" in first.headers["set-cookie"]
        assert "Secure" not in first.headers["set-cookie"]  # the page is http here
        assert client.get(f"/trials/{SLIPPING}").status_code == 200  # by the cookie


def test_the_token_cookie_comes_only_from_a_token_that_matched(config: Path) -> None:
    settings = load(config)
    settings = replace(settings, web=replace(settings.web, token="s3cret",
                                             base_url="https://trials.example.org"))
    bearer = {"Authorization": "Bearer s3cret"}
    with serving(settings) as client:
        for given in ("a;%20Domain=evil.example", "x%0d%0aSet-Cookie:%20y=1", "wrong",
                      "%E2%82%AC"):
            answer = client.get(f"/?token={given}", headers=bearer)
            assert answer.status_code == 200, given  # the header's token lets it in
            assert not token_cookies(answer), given
        answer = client.get("/?token=s3cret")
        assert token_cookies(answer) == [
            "ctmonitor_token=s3cret; Path=/; HttpOnly; SameSite=Strict; Secure"]


def token_cookies(answer: Any) -> list[str]:
    return [c for c in answer.headers.get_list("set-cookie") if c.startswith("ctmonitor_token=")]


def test_listening_beyond_loopback_needs_a_token(config: Path, capsys: Any) -> None:
    assert main(["--config", str(config), "serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("ctmonitor: web: refusing to listen on 0.0.0.0 without [web] token (set a "
                   "token, or listen on 127.0.0.1)")


def test_the_daemon_serves_the_page_and_stops_on_sigterm(tmp_path: Path,
                                                         registry: FakeRegistry) -> None:
    registry.put(slipping(0))
    port = free_port()
    config = fill(tmp_path, registry, f"\n[web]\nenabled = true\nport = {port}\n")
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "daemon started" in line:
            break
    assert any(f"the history page is at http://127.0.0.1:{port}/" in x for x in lines), lines
    assert requests.get(f"http://127.0.0.1:{port}/trials/{SLIPPING}", timeout=5).ok
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 10
    assert "Traceback" not in proc.stderr.read()


def test_alerts_link_to_the_trial_page_when_base_url_is_set(config: Path) -> None:
    settings = load(config)
    policy = replace(settings.alerts, page_base_url="https://trials.example.org")
    events = diff(study(status="RECRUITING"), study(status="COMPLETED"))
    [alert] = [a for a in alerts_for(policy, "NCT09000001", "t", 2, events)
               if a.channel == "console"]
    page = "https://trials.example.org/trials/NCT09000001"
    assert alert.payload["page_url"] == page
    assert f"  {page}  (its history on ctmonitor)" in message_lines(alert.payload)
    assert page in str(slack_message([alert.payload]))
    plain = alerts_for(settings.alerts, "NCT09000001", "t", 2, events)[0].payload
    assert "page_url" not in plain


def test_consecutive_versions_show_what_a_fresh_diff_shows(config: Path) -> None:
    settings = load(config)
    store = Store.open_readonly(settings.store)
    try:
        compared_pairs = 0
        for trial in store.versions.trials(settings.trial_ids):
            for b in range(2, trial.latest_version + 1):
                _, _, shown = compared(store, trial.nct_id, b - 1, b)
                old, new = store.versions.get(trial.nct_id, b - 1), store.versions.get(
                    trial.nct_id, b)
                assert old and new
                fresh = diff(old.data or {}, new.data or {})
                assert [e.to_dict() for e in shown] == [e.to_dict() for e in fresh]
                compared_pairs += 1
        assert compared_pairs >= 5
    finally:
        store.close()


def test_a_value_cut_for_size_in_the_stored_events_is_shown_whole(
        tmp_path: Path, registry: FakeRegistry) -> None:
    """A results module is one event whose values (dicts) are cut in stored events when
    large; the diff page then diffs the snapshots."""
    details = "word " * 1200
    flow: dict[str, Any] = {"recruitmentDetails": details,
                            "groups": [{"id": "FG000", "title": "A"}]}
    path = "resultsSection.participantFlowModule"
    registry.put(changed(study("NCT01000001"), path, flow))
    config = write_config(tmp_path, registry.base_url, ["NCT01000001"])
    assert main(["--config", str(config), "check"]) == 0
    grown = {**flow, "recruitmentDetails": details + "and one more"}
    registry.put(changed(study("NCT01000001"), path, grown))
    registry.data_timestamp = "2026-03-13T09:00:05"
    assert main(["--config", str(config), "check"]) == 0
    store = Store.open_readonly(load(config).store)
    try:
        stored = store.versions.history("NCT01000001")[1].events
        assert stored[0]["new"].endswith("characters, see the stored snapshot>")
        _, _, [event] = compared(store, "NCT01000001", 1, 2)
        assert event.new == grown
    finally:
        store.close()
