"""The history page as a clinician reads it each morning: the last material change and what
came after it, /changes from notable up with a version's site changes as one line, times
as "3 hours ago" with the exact time kept."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from monitor.cli import main
from monitor.config import load
from monitor.web import ago
from tests.conftest import write_config
from tests.support.builder import changed, study
from tests.support.pages import serving
from tests.support.registry import FakeRegistry

A = "NCT09000001"
S = "protocolSection.statusModule"
SITES = "protocolSection.contactsLocationsModule.locations"


def sites(status: str, n: int = 6) -> list[dict[str, str]]:
    return [{"facility": f"Site {i}", "city": "Lyon", "country": "France", "status": status}
            for i in range(n)]


@pytest.fixture
def client(tmp_path: Path, registry: FakeRegistry) -> Iterator[TestClient]:
    """A: suspended on day 2; its summary reworded on day 3 and six sites recruiting on
    day 4 (neither material)."""
    config = write_config(tmp_path, registry.base_url, [A])
    first = changed(study(A), SITES, sites("NOT_YET_RECRUITING"))
    suspended = changed(changed(first, f"{S}.overallStatus", "SUSPENDED"), f"{S}.whyStopped",
                        "Drug supply")
    reworded = changed(suspended, "protocolSection.descriptionModule",
                       {"briefSummary": "A reworded summary."})
    days = [first, suspended, reworded, changed(reworded, SITES, sites("RECRUITING"))]
    for n, day in enumerate(days):
        registry.put(day)
        registry.data_timestamp = f"2026-03-1{2 + n}T09:00:05"
        assert main(["--config", str(config), "check"]) == 0
    with serving(load(config)) as test_client:
        yield test_client


def cells(html: str) -> list[str]:
    row = html.split("<tbody>")[1].split("</tr>")[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip()
            for c in row.split("<td")[1:]]


def test_the_overview_shows_the_last_material_change_and_what_came_after(
        client: TestClient) -> None:
    change = cells(client.get("/").text)[1]
    assert "Overall status: Recruiting -&gt; Suspended" in change
    assert "since then: 2 minor" in change  # the summary, then the sites (one line)
    assert "Brief summary" not in change


def test_changes_start_at_notable_and_fold_a_versions_site_changes(client: TestClient) -> None:
    page = client.get("/changes").text
    assert "Suspended" in page and "Brief summary" not in page and "sites changed" not in page
    everything = client.get("/changes?severity=minor").text
    assert everything.count("6 sites changed status: 6 not yet recruiting → recruiting") == 1
    folded = everything.split("<details")[1].split("</details>")[0]
    assert folded.count("Site status (Site") == 6  # each one, when opened
    trial = client.get(f"/trials/{A}").text
    assert trial.count("6 sites changed status") == 1


def test_times_read_as_ago_with_the_exact_time_kept(client: TestClient) -> None:
    page = client.get("/").text
    stamp = re.search(r'<time datetime="([0-9T:Z-]{20})" title="\1">([^<]+)</time>', page)
    assert stamp is not None, page
    assert stamp.group(2) in ("just now", "1 minute ago", "2 minutes ago")  # checked just now


@pytest.mark.parametrize(("seconds", "says"), [
    (5, "just now"), (90, "1 minute ago"), (3 * 3600 + 60, "3 hours ago"),
    (86400 * 2, "2 days ago"), (86400 * 45, "1 month ago"), (86400 * 800, "2 years ago"),
    (-60, "in the future"),
])
def test_ago_words_a_stamp(seconds: int, says: str) -> None:
    now = datetime(2026, 12, 1, 19, 14, 38, tzinfo=UTC)
    then = (now - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ago(then, now) == says
    assert ago("not a stamp", now) == "not a stamp"
