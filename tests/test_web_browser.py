"""The history page in a real headless Chromium, used as a person would: find a trial,
open it, open a diff, follow a feed link; hostile record text stays inert.

Screenshots of the three main pages go to $CTMONITOR_SCREENSHOTS when it names a folder
(docs/ in the repository holds the committed ones).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest

from monitor.cli import main
from monitor.config import load
from tests.conftest import free_port, shared, write_config
from tests.support.builder import changed, study
from tests.support.history import HOSTILE, SLIPPING, fill
from tests.support.registry import FakeRegistry

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs "
                "them)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    NoAlertPresentException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `ctmonitor serve` over a store filled through checks."""
    folder = tmp_path_factory.mktemp("site")
    registry = FakeRegistry()
    registry.start()
    port = free_port()
    config = fill(folder, registry, f"\n[web]\nport = {port}\n")
    registry.stop()
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # printed once the socket listens
    assert "the history page is at" in line, proc.stderr.read() if proc.stderr else line
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    assert proc.wait(timeout=10) == 0
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def axe(tmp_path_factory: pytest.TempPathFactory) -> str:
    """axe-core's script, from npm (`npm pack`), loaded into the page by the test only:
    the monitor never serves it."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: axe-core comes from the npm registry")
    folder = tmp_path_factory.mktemp("axe")
    packed = subprocess.run([npm, "pack", "axe-core@4", "--silent"], cwd=folder,
                            capture_output=True, text=True, timeout=120, check=False)
    tarballs = list(folder.glob("axe-core-*.tgz"))
    if packed.returncode != 0 or not tarballs:
        pytest.skip(f"npm could not fetch axe-core: {packed.stderr.strip()[-200:]}")
    with tarfile.open(tarballs[0]) as tar:
        member = tar.extractfile("package/axe.min.js")
        assert member is not None
        return member.read().decode()


def screenshot(driver: Any, name: str) -> None:
    folder = os.environ.get("CTMONITOR_SCREENSHOTS")
    if folder:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(max(height, 700), 2400))
        driver.save_screenshot(str(Path(folder) / name))
        driver.set_window_size(1280, 1000)


def text(driver: Any) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


def test_find_a_trial_open_it_and_see_what_changed(site: str, browser: Any) -> None:
    shared("pairs")
    browser.get(site + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Tracked trials"
    screenshot(browser, "overview.png")
    box = browser.find_element(By.ID, "q")
    box.send_keys("tislelizumab", Keys.ENTER)
    # a key press does not wait for the page it submits, as a click does: wait for it
    WebDriverWait(browser, 10).until(gone(box))
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 1 and "NCT05935098" in rows[0].text
    assert "Terminated" in rows[0].text
    rows[0].find_element(By.LINK_TEXT, "NCT05935098").click()
    assert browser.current_url.endswith("/trials/NCT05935098")
    assert browser.find_element(By.CSS_SELECTOR, "svg.chart") is not None
    browser.find_element(By.PARTIAL_LINK_TEXT, "What changed from version 1").click()
    page = text(browser)
    assert "Primary completion: 2027-03-31 (estimated) -> 2026-01-27 (actual), 428 days " \
           "earlier" in page
    assert "Changed fields side by side" in page
    screenshot(browser, "diff.png")


def test_the_chart_shows_each_slip_of_the_primary_completion(site: str, browser: Any) -> None:
    browser.get(f"{site}/trials/{SLIPPING}")
    chart = browser.find_element(By.CSS_SELECTOR, "svg.chart")
    titles = [t.get_attribute("textContent") for t in chart.find_elements(By.TAG_NAME, "title")]
    slips = [t for t in titles if t.startswith("Primary completion, version")]
    assert slips == ["Primary completion, version 1 of 2026-03-12: 2026-06-30 (estimated)",
                     "Primary completion, version 2 of 2026-03-13: 2026-12-31 (estimated)",
                     "Primary completion, version 3 of 2026-03-14: 2027-06-30 (estimated)",
                     "Primary completion, version 4 of 2026-03-15: 2027-09-30 (actual)"]
    marks = chart.find_elements(By.CSS_SELECTOR, "g.series:nth-of-type(2) rect[width='9']")
    heights = [float(m.get_attribute("y")) for m in marks]
    assert heights == sorted(heights, reverse=True)  # later dates stand higher
    across = [float(m.get_attribute("x")) for m in marks]
    assert across == sorted(across) and len(set(across)) == 4  # published a day apart
    grid = [float(g.get_attribute("y1")) for g in chart.find_elements(By.CSS_SELECTOR,
                                                                       "line.grid")
            if g.get_attribute("y1") == g.get_attribute("y2")]
    assert min(grid) <= min(heights) and max(heights) + 9 <= max(grid)  # ticks bracket
    assert chart.find_element(By.CSS_SELECTOR, "line.diagonal") is not None
    assert "Version 4" in text(browser) and "Completed" in text(browser)
    screenshot(browser, "trial.png")
    browser.find_element(By.PARTIAL_LINK_TEXT, "What changed from version 2").click()
    assert browser.find_element(By.CSS_SELECTOR, "td.text del").text == "three"
    assert browser.find_element(By.CSS_SELECTOR, "td.text ins").text == "four"


def test_the_trial_page_follows_each_primary_outcome_through_the_versions(
        site: str, browser: Any) -> None:
    """Overall survival: registered, its time frame moved, then dropped to the secondary
    list; objective response rate added as a primary outcome, after the study started."""
    browser.get(f"{site}/trials/{SLIPPING}")
    section = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=outcomes]")
    tracks = section.find_elements(By.CSS_SELECTOR, "ol.outcomes > li")
    heads = [t.find_element(By.TAG_NAME, "h3").text for t in tracks]
    assert heads == ["Objective response rate (RECIST 1.1) changed after the study started",
                     "Overall survival (no longer primary) changed after the study started"]
    steps = [[s.text for s in t.find_elements(By.CSS_SELECTOR, "ol.steps > li")]
             for t in tracks]
    assert [s.splitlines()[0] for s in steps[1]] == [
        "Version 1 of 2026-03-12 appeared",
        "Version 2 of 2026-03-13 timing after the study started",
        "Version 4 of 2026-03-15 moved to secondary after the study started"]
    assert steps[1][1].splitlines()[1] == ("Primary outcome time frame (Overall survival): "
                                           "3 years -> 4 years")
    assert steps[0] == ["Version 3 of 2026-03-14 added after the study started\n"
                        'New primary outcome: "Objective response rate (RECIST 1.1)"']
    gone = tracks[1].find_element(By.CSS_SELECTOR, "h3 .name")
    assert "line-through" in gone.value_of_css_property("text-decoration")


def test_a_feed_link_gives_a_feed_of_the_trial(site: str, browser: Any) -> None:
    browser.get(f"{site}/trials/{SLIPPING}")
    href = browser.find_element(By.LINK_TEXT, "Atom feed of its changes").get_attribute("href")
    with urllib.request.urlopen(href, timeout=10) as answer:  # links relative to the feed
        parsed = feedparser.parse(answer.read(), response_headers={
            "content-location": href, "content-type": answer.headers["Content-Type"]})
    assert not parsed.bozo
    assert [e.id for e in parsed.entries] == [f"urn:ctmonitor:{SLIPPING}:v{n}" for n in (4, 3, 2)]
    assert "92 days later" in parsed.entries[0].summary
    browser.get(parsed.entries[0].link)
    assert "version 3 → 4" in browser.find_element(By.TAG_NAME, "h1").text


def test_hostile_record_text_is_shown_and_never_runs(site: str, browser: Any) -> None:
    for path in (f"/trials/{HOSTILE}", f"/trials/{HOSTILE}/diff", "/", "/changes"):
        browser.get(site + path)
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text  # noqa: B018 (an alert would be the attack working)
        assert browser.title != "pwned"
        assert browser.execute_script("return document.scripts.length") == 0
        assert not browser.find_elements(By.CSS_SELECTOR, "main img")
    browser.get(f"{site}/trials/{HOSTILE}")
    assert '<script>document.title="pwned"</script>' in text(browser)


PAGES = ("/", "/changes", "/changes?severity=minor", f"/trials/{SLIPPING}",
         f"/trials/{SLIPPING}/diff?from=2&to=3", f"/trials/{HOSTILE}")


def serious_violations(browser: Any, axe: str, base: str, paths: tuple[str, ...]
                       ) -> dict[str, list[Any]]:
    found = {}
    for path in paths:
        browser.get(base + path)
        browser.execute_script(axe)  # through the driver: the page itself runs no script
        violations = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']})"
            ".then(r => done(r.violations.map(v => [v.id, v.impact, v.nodes.length])));")
        bad = [v for v in violations if v[1] in ("serious", "critical")]
        if bad:
            found[path] = bad
    return found


def overflowing(browser: Any, base: str, paths: tuple[str, ...]) -> list[str]:
    """The pages that scroll sideways 320 px wide."""
    browser.set_window_size(320, 700)
    try:
        wide = []
        for path in paths:
            browser.get(base + path)
            if browser.execute_script(
                    "return document.documentElement.scrollWidth - window.innerWidth") > 0:
                wide.append(path)
        return wide
    finally:
        browser.set_window_size(1280, 1000)


def test_axe_finds_no_serious_or_critical_violation_on_any_page(site: str, browser: Any,
                                                                 axe: str) -> None:
    assert serious_violations(browser, axe, site, PAGES) == {}


def test_usable_on_a_phone_and_by_keyboard(site: str, browser: Any) -> None:
    assert overflowing(browser, site, PAGES) == []
    browser.get(site + "/")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    focused = browser.switch_to.active_element
    assert focused.text == "Skip to content"


# -- managing from the page ([web] token set) --------------------------------------------------
TOKEN = "s3cret"
MANAGED = "NCT09000001"
MANAGED_PAGES = ("/", "/changes", f"/trials/{MANAGED}")


@pytest.fixture(scope="module")
def managed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Any]]:
    """`ctmonitor serve` with a token, over a store of one checked trial; its address, its
    config, and a check to run against the registry, kept up."""
    folder = tmp_path_factory.mktemp("managed")
    registry = FakeRegistry()
    registry.start()
    registry.put(study(MANAGED))
    registry.put(study("NCT09000002", title="Another built study"))
    port = free_port()
    config = write_config(folder, registry.base_url, [MANAGED],
                          f'# our trials\n[web]\nport = {port}\ntoken = "{TOKEN}"\n'
                          '[watches.hcc]\n"query.cond" = "hepatocellular carcinoma"\n')

    days = iter(range(12, 28))

    def check(*records: dict[str, Any]) -> None:
        for record in records:
            registry.put(record)
        registry.data_timestamp = f"2026-03-{next(days)}T09:00:05"
        assert main(["--config", str(config), "check"]) == 0

    check()
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert "the history page is at" in proc.stdout.readline()
    yield f"http://127.0.0.1:{port}", config, check
    proc.terminate()
    assert proc.wait(timeout=10) == 0
    registry.stop()
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


def gone(element: Any) -> Any:
    """A wait's condition: the element's page was left. Chromium answers a question about a
    node of a page being replaced either "stale element" or "does not belong to the
    document" (an inspector error, in the moment of the navigation); both mean it is gone."""

    def left(_driver: Any) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    return left


def signed_in(browser: Any, base: str) -> None:
    browser.get(f"{base}/?token={TOKEN}")  # the cookie it sets carries the token on


def press(browser: Any, button: str) -> str:
    """Press the button of that text (or CSS selector) and wait for the page it goes to."""
    page = browser.find_element(By.TAG_NAME, "html")
    found = (browser.find_element(By.CSS_SELECTOR, button) if button.startswith("button[")
             else browser.find_element(By.XPATH, f"//button[text()='{button}']"))
    found.click()
    WebDriverWait(browser, 10).until(gone(page))
    return text(browser)


def test_track_a_pasted_url_by_keyboard_alone_mute_and_stop_tracking(
        managed: tuple[str, Path, Any], browser: Any) -> None:
    base, config, _check = managed
    signed_in(browser, base)
    box = browser.find_element(By.ID, "ids")
    box.send_keys("https://clinicaltrials.gov/study/NCT09000002?tab=history")
    box.send_keys(Keys.TAB)
    browser.switch_to.active_element.send_keys(Keys.ENTER)  # the Track button
    WebDriverWait(browser, 10).until(gone(box))
    assert "Now tracking NCT09000002; the next check fetches them." in text(browser)
    assert "NCT09000002" in load(config).trial_ids and "# our trials" in config.read_text()
    browser.find_element(By.LINK_TEXT, "NCT09000002").click()
    assert "has no stored versions here" in text(browser)  # not fetched yet
    browser.get(f"{base}/trials/{MANAGED}")
    press(browser, "Mute")
    assert "alerts muted" in text(browser)
    press(browser, "Unmute")
    assert "unmuted; 0 held alerts to be sent." in text(browser)
    press(browser, f"Stop tracking {MANAGED}")
    assert f"No longer tracking {MANAGED} (its history stays in the store)." in text(browser)
    assert load(config).trial_ids == ("NCT09000002",)
    browser.get(f"{base}/")
    browser.find_element(By.ID, "ids").send_keys(MANAGED)
    assert f"Now tracking {MANAGED}" in press(browser, "Track")
    # a form of another page, sent from the browser to this one, is refused
    browser.get(f"{base}/")
    browser.execute_script(
        "document.querySelectorAll('input[name=csrf]').forEach(i => i.value = 'forged')")
    browser.find_element(By.ID, "ids").send_keys("NCT09000003")
    press(browser, "Track")
    assert "the form has expired or is not this page's" in text(browser)
    assert "NCT09000003" not in load(config).trial_ids


def test_add_and_remove_a_watch(managed: tuple[str, Path, Any], browser: Any) -> None:
    base, config, _check = managed
    signed_in(browser, base)
    browser.find_element(By.ID, "watch-name").send_keys("melanoma")
    browser.find_element(By.ID, "watch-cond").send_keys("melanoma")
    press(browser, "Add watch")
    assert "Watch melanoma added" in text(browser)
    assert [w.name for w in load(config).watches] == ["hcc", "melanoma"]
    press(browser, "button[aria-label='Remove watch melanoma']")
    assert [w.name for w in load(config).watches] == ["hcc"]


def test_what_is_new_since_this_browser_marked_all_seen(
        managed: tuple[str, Path, Any], browser: Any) -> None:
    base, _config, check = managed
    signed_in(browser, base)
    press(browser, "Mark all seen")
    assert "Nothing new since you marked all seen." in text(browser)
    check(changed(study(MANAGED), "protocolSection.statusModule.overallStatus", "SUSPENDED"))
    browser.get(f"{base}/")
    assert browser.title == "(1 new) Tracked trials · ctmonitor"
    row = browser.find_element(By.CSS_SELECTOR, "tbody tr.new")
    assert MANAGED in row.text and "new" in row.text
    browser.get(f"{base}/changes")
    assert browser.title == "(1 new) Changes · ctmonitor"
    screenshot(browser, "changes-new.png")
    press(browser, "Mark all seen")
    assert browser.title == "Changes · ctmonitor"
    assert not browser.find_elements(By.CSS_SELECTOR, "li.new")


def test_the_forms_pass_axe_and_fit_a_phone(managed: tuple[str, Path, Any], browser: Any,
                                            axe: str) -> None:
    base, _config, _check = managed
    signed_in(browser, base)
    assert serious_violations(browser, axe, base, MANAGED_PAGES) == {}
    assert overflowing(browser, base, MANAGED_PAGES) == []
