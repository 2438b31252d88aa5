"""The page's forms: each write route refused without the token, without the CSRF token,
from another origin or with no origin; applied with them; the config file edited as `track`
edits it (comments kept), and the running daemon checking what the page added, unrestarted.
"""

from __future__ import annotations

import base64
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from markupsafe import escape
from sqlalchemy import func, select
from starlette.testclient import TestClient

from monitor.cli import main
from monitor.config import load
from monitor.manage import NOTE_COOKIE
from monitor.tracking import pasted_ids
from monitor.web import create_app
from snapshots.errors import ConfigError
from snapshots.schema import seen_marks
from snapshots.store import Store
from tests.conftest import free_port, write_config
from tests.support.builder import changed, study
from tests.support.pages import serving
from tests.support.registry import FakeRegistry
from tests.support.waiting import wait_for

TOKEN = "s3cret"
ORIGIN = "http://testserver"  # TestClient's
A, B = "NCT09000001", "NCT09000002"
WATCH = '\n[watches.hcc]\n"query.cond" = "hepatocellular carcinoma"\n'


def page_config(tmp_path: Path, registry: FakeRegistry, token: str | None = TOKEN,
                extra: str = "") -> Path:
    registry.put(study(A))
    registry.put(study(B, title="Another built study"))
    web = f'\n[web]\ntoken = "{token}"\n' if token else ""
    config = write_config(tmp_path, registry.base_url, [A], "# kept comment\n" + web + extra)
    registry.data_timestamp = "2026-03-12T09:00:05"
    assert main(["--config", str(config), "check"]) == 0
    return config


@pytest.fixture
def config(tmp_path: Path, registry: FakeRegistry) -> Path:
    return page_config(tmp_path, registry, extra=WATCH)


@pytest.fixture
def client(config: Path) -> Iterator[TestClient]:
    with serving(load(config)) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


def csrf_of(client: TestClient, path: str = "/") -> str:
    """The page's CSRF token for this client's browser cookie, as its forms carry it."""
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get(path).text)
    assert found, "the page has no form"
    return found.group(1)


def post(client: TestClient, path: str, data: dict[str, str] | None = None,
         csrf: bool = True, origin: str | None = ORIGIN) -> Any:
    form = {**(data or {}), "next": "/"}
    if csrf:
        form["csrf"] = csrf_of(client)
    headers = {"Origin": origin} if origin else {}
    return client.post(path, data=form, headers=headers, follow_redirects=False)


ROUTES = [  # (path, form, what it does, seen in the config file or the store)
    ("/trials", {"ids": f"https://clinicaltrials.gov/study/{B}?tab=history"}),
    (f"/trials/{A}/untrack", {}),
    (f"/trials/{A}/mute", {"until": ""}),
    (f"/trials/{A}/unmute", {}),
    ("/watches", {"name": "melanoma", "cond": "melanoma", "track": "on"}),
    ("/watches/hcc/remove", {}),
    ("/seen", {}),
]
IDS = [path.replace(f"/{A}", "").strip("/").replace("/", "-") for path, _ in ROUTES]


def state(config: Path) -> tuple[str, dict[str, str], int]:
    """What a form can change: the config file, the mutes, the seen marks."""
    settings = load(config)
    store = Store.open(settings.store)
    try:
        with store.transaction() as conn:
            marks = conn.execute(select(func.count()).select_from(seen_marks)).scalar()
        return config.read_text(), store.versions.muted(), marks or 0
    finally:
        store.close()


@pytest.mark.parametrize(("path", "form"), ROUTES, ids=IDS)
def test_a_write_route_is_refused_without_the_token_csrf_or_origin(
        config: Path, client: TestClient, path: str, form: dict[str, str]) -> None:
    before = state(config)
    assert post(client, path, form, csrf=False).status_code == 403
    assert post(client, path, form, origin="http://evil.example").status_code == 403
    assert post(client, path, form, origin=None).status_code == 403
    assert post(client, path, form, origin="null").status_code == 403
    csrf = csrf_of(client)
    del client.headers["Authorization"]
    client.cookies.clear()  # the token's cookie, and the browser's
    answer = client.post(path, data={**form, "csrf": csrf}, headers={"Origin": ORIGIN},
                         follow_redirects=False)
    assert answer.status_code == 401
    assert state(config) == before


@pytest.mark.parametrize(("path", "form"), ROUTES, ids=IDS)
def test_a_page_without_a_token_is_read_only(
        tmp_path: Path, registry: FakeRegistry, path: str, form: dict[str, str]) -> None:
    config = page_config(tmp_path, registry, token=None, extra=WATCH)
    before = state(config)
    with serving(load(config)) as client:
        assert "<form" not in client.get("/").text.replace('<form class="filters"', "")
        refused = post(client, path, form, csrf=False)  # the page gives no CSRF token
        assert refused.status_code == 403 and "this page is read-only" in refused.text
    assert state(config) == before


def test_track_from_the_page_edits_the_config_as_track_does(
        config: Path, client: TestClient) -> None:
    answer = post(client, "/trials", {"ids": f"https://clinicaltrials.gov/study/{B}?tab=history"
                                             f"\n{A}, nct09000003"})
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    text = config.read_text()
    assert "# kept comment" in text
    assert load(config).trial_ids == (A, B, "NCT09000003")
    page = client.get("/").text
    assert f"Now tracking {B}, NCT09000003; the next check fetches them." in page
    assert f"Tracked already: {A}." in page
    assert "Now tracking" not in client.get("/").text  # a note is shown once
    assert B in page  # the page reads the config as it is now


def test_a_bad_paste_is_a_note_and_the_config_stays(config: Path, client: TestClient) -> None:
    before = config.read_text()
    assert post(client, "/trials", {"ids": "NCT0900000 melanoma"}).status_code == 303
    assert escape("Not done: 'NCT0900000' is neither an NCT id nor a registry study URL"
                  ) in client.get("/").text
    assert config.read_text() == before


def test_untrack_a_trial_a_channel_routes_is_refused_whole(
        tmp_path: Path, registry: FakeRegistry) -> None:
    config = page_config(tmp_path, registry, extra=f'[notifiers.only]\ntype = "console"\n'
                                                   f'trials = ["{A}"]\n')
    before = config.read_text()
    with serving(load(config)) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        post(client, f"/trials/{A}/untrack")
        assert "Not done: " in client.get("/").text
    assert config.read_text() == before


def test_untrack_mute_unmute_and_watches_from_the_page(config: Path, client: TestClient) -> None:
    assert post(client, f"/trials/{A}/mute", {"until": ""}).status_code == 303
    assert state(config)[1] == {A: ""}
    assert '<span class="muted badge">muted</span>' in client.get("/").text  # not a kept page
    post(client, f"/trials/{A}/mute", {"until": "2026-01-01"})  # in the past: refused
    assert "Not done: --until 2026-01-01: that day is not after today" in client.get("/").text
    assert "alerts muted" in client.get(f"/trials/{A}").text
    post(client, f"/trials/{A}/unmute")
    assert state(config)[1] == {}
    post(client, "/watches", {"name": "melanoma", "cond": "melanoma", "term": "", "track": "on"})
    watches = {w.name: w for w in load(config).watches}
    assert watches["melanoma"].params == (("query.cond", "melanoma"),)
    assert watches["melanoma"].track
    post(client, "/watches/hcc/remove")
    assert [w.name for w in load(config).watches] == ["melanoma"]
    post(client, f"/trials/{A}/untrack")
    assert load(config).trial_ids == ()
    assert "# kept comment" in config.read_text()


def test_a_forms_note_is_shown_by_another_process_once_and_only_to_its_browser(
        config: Path, client: TestClient) -> None:
    """The note rides in a cookie signed for the browser: a second app over the same config
    (another process of the page, with nothing in common in memory) shows it, once; the same
    cookie in another browser, or altered, shows nothing."""
    post(client, "/trials", {"ids": B})
    note = f"Now tracking {B}; the next check fetches them."
    browser, carried = client.cookies["ctmonitor_browser"], client.cookies[NOTE_COOKIE]
    text, mac = carried.split(".")
    forged = base64.urlsafe_b64encode(b"You have won").decode().rstrip("=")

    def page(cookies: str) -> Any:
        other.cookies.clear()
        return other.get("/", headers={"Cookie": cookies})

    with serving(load(config)) as other:
        other.headers["Authorization"] = f"Bearer {TOKEN}"
        assert note not in page(f"{NOTE_COOKIE}={carried}").text  # in another browser
        wrong = mac[:-1] + ("1" if mac[-1] == "0" else "0")  # one hex digit off
        for altered in (f"{forged}.{mac}", f"{text}.{wrong}", text):
            shown = page(f"ctmonitor_browser={browser}; {NOTE_COOKIE}={altered}").text
            assert "You have won" not in shown and note not in shown
        answer = page(f"ctmonitor_browser={browser}; {NOTE_COOKIE}={carried}")
        assert note in answer.text
        assert f'{NOTE_COOKIE}=""; ' in answer.headers["set-cookie"]  # dropped, once shown


def test_a_form_goes_back_only_to_a_path_of_the_page(config: Path, client: TestClient) -> None:
    for target, back in (("/changes?severity=minor", "/changes?severity=minor"),
                         ("https://evil.example/", "/"), ("//evil.example/", "/"),
                         ("/\\evil.example", "/")):
        answer = client.post("/seen", data={"csrf": csrf_of(client), "next": target},
                             headers={"Origin": ORIGIN}, follow_redirects=False)
        assert answer.headers["location"] == back


def test_pasted_ids_read_ids_and_study_urls_only() -> None:
    assert pasted_ids(f"{A.lower()}\nhttps://www.clinicaltrials.gov/study/{B}#x "
                      f"https://classic.clinicaltrials.gov/ct2/show/NCT09000003?term=a"
                      f", {A}") == [A, B, "NCT09000003"]
    for bad in ("https://evil.example/study/NCT09000001", "NCT090000011", "  "):
        with pytest.raises(ConfigError):
            pasted_ids(bad)


def test_the_running_daemon_checks_a_trial_the_page_added(
        tmp_path: Path, registry: FakeRegistry) -> None:
    port = free_port()
    config = page_config(tmp_path, registry, extra=(
        f'port = {port}\nenabled = true\n[monitor]\nschedule = "*/2 * * * * *"\njitter = 0\n'))
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "daemon started" in line:
                break
        page = requests.Session()
        page.headers["Authorization"] = f"Bearer {TOKEN}"
        base = f"http://127.0.0.1:{port}"
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.get(base + "/").text)
        assert csrf
        answer = page.post(base + "/trials", data={"ids": B, "csrf": csrf.group(1)},
                           headers={"Origin": base}, allow_redirects=False, timeout=10)
        assert answer.status_code == 303

        def checked() -> bool:
            store = Store.open_readonly(load(config).store)
            try:
                return bool(store.versions.history(B))
            finally:
                store.close()

        wait_for(checked, "a scheduled check of the trial the page added")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "config reloaded: 2 tracked trials" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_mark_all_seen_marks_what_came_after_as_new_per_browser(
        tmp_path: Path, registry: FakeRegistry) -> None:
    config = page_config(tmp_path, registry)
    with serving(load(config)) as first, serving(load(config)) as second:
        for client in (first, second):
            client.headers["Authorization"] = f"Bearer {TOKEN}"
        assert "new</span>" not in first.get("/").text  # never marked: nothing is new
        assert post(first, "/seen").status_code == 303
        assert "Nothing new since you marked all seen" in first.get("/").text
        registry.put(changed(study(A), "protocolSection.statusModule.overallStatus",
                             "COMPLETED"))
        registry.data_timestamp = "2026-03-13T09:00:05"
        assert main(["--config", str(config), "check"]) == 0
        overview = first.get("/").text
        assert "<title>(1 new) Tracked trials · ctmonitor</title>" in overview
        assert '<span class="badge new">new</span>' in overview
        changes = first.get("/changes").text
        assert "(1 new) Changes" in changes and "1 new</strong> since" in changes
        assert "new</span>" not in second.get("/").text  # another browser never marked
        post(first, "/seen")
        assert "new</span>" not in first.get("/").text


def test_a_page_drawn_once_carries_each_browsers_own_csrf_token(
        config: Path, client: TestClient) -> None:
    first = csrf_of(client)
    assert csrf_of(client) == first  # the same browser, the same page kept
    client.cookies.clear()  # another browser: the page is the same, its token its own
    second = csrf_of(client)
    assert second != first
    answer = client.post("/seen", data={"csrf": second, "next": "/"},
                         headers={"Origin": ORIGIN}, follow_redirects=False)
    assert answer.status_code == 303
    answer = client.post("/seen", data={"csrf": first, "next": "/"},
                         headers={"Origin": ORIGIN}, follow_redirects=False)
    assert answer.status_code == 403  # the first browser's token is not this one's


def test_edits_at_once_all_land(config: Path) -> None:
    """Two forms (or a form and `track`) at once: each edit takes its turn."""
    import threading

    from monitor.tracking import edit_ids

    ids = [f"NCT0910000{i}" for i in range(8)]
    threads = [threading.Thread(target=edit_ids, args=(config,), kwargs={"add": [i]})
               for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(load(config).trial_ids) == {A, *ids}


def test_behind_a_proxy_the_base_urls_origin_is_the_pages(
        tmp_path: Path, registry: FakeRegistry) -> None:
    config = page_config(tmp_path, registry, extra='base_url = "https://trials.example.org"\n')
    settings = load(config)
    store = Store.open_readonly(settings.store)
    # over https, as the proxy is: the browser's cookie is Secure
    with TestClient(create_app(settings, store), base_url="https://testserver") as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        assert post(client, "/seen", origin="https://trials.example.org").status_code == 303
        assert post(client, "/seen", origin="https://trials.example.org.evil.example"
                    ).status_code == 403
    store.close()
