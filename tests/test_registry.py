"""The registry client against a local server speaking the API v2 shape."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest

from monitor.answers import PageReader, Undecodable
from monitor.config import RegistrySettings
from monitor.registry import (
    MAX_EMPTY_PAGES,
    MAX_PAGES,
    MAX_URL_BYTES,
    PageGuard,
    PagingError,
    RegistryClient,
)
from snapshots.errors import RegistryError
from snapshots.normalise import too_deep
from tests.support.builder import study
from tests.support.registry import FakeRegistry, Fault

pytestmark = pytest.mark.one_backend  # no store: the SQLite run is enough


def client_for(registry: FakeRegistry, **kw: float) -> tuple[RegistryClient, list[float]]:
    slept: list[float] = []
    settings = RegistrySettings(base_url=registry.base_url, rate_limit=kw.pop("rate_limit", 0),
                                timeout=kw.pop("timeout", 5), retries=int(kw.pop("retries", 3)),
                                backoff=kw.pop("backoff", 0.5))
    return RegistryClient(settings, sleep=slept.append), slept


def ids(n: int, start: int = 1) -> list[str]:
    return [f"NCT{i:08d}" for i in range(start, start + n)]


def fetched(client: RegistryClient, wanted: list[str]) -> list[str]:
    found = []
    for page in client.fetch_batches(wanted):
        assert page.failure is None, page.failure
        studies = page.studies
        found += [s["protocolSection"]["identificationModule"]["nctId"] for s in studies]
    return found


def test_version_gives_data_timestamp(registry: FakeRegistry) -> None:
    client, _ = client_for(registry)
    assert client.data_timestamp() == registry.data_timestamp
    assert client.requests == 1
    assert any(ua.startswith("ctmonitor/") for ua in registry.user_agents)


def test_batches_follow_page_tokens_with_identical_parameters(registry: FakeRegistry) -> None:
    for nct in ids(25):
        registry.put(study(nct))
    registry.page_size_cap = 10
    registry.empty_pages = True
    client, _ = client_for(registry)
    assert sorted(fetched(client, ids(25))) == ids(25)
    pages = [line for line in registry.log if line.startswith("/studies?")]
    assert len(pages) == 5  # 3 pages of studies, 2 empty pages in between
    assert all("pageToken=" in p for p in pages[1:])


def test_urls_stay_under_the_limit_and_cover_every_id(registry: FakeRegistry) -> None:
    wanted = ids(1200)
    for nct in wanted[::100]:
        registry.put(study(nct))
    client, _ = client_for(registry)
    batches = list(client.batches(wanted))
    assert sum(len(b) for b in batches) == 1200
    assert all(len(client.studies_url(b, None)) <= MAX_URL_BYTES for b in batches)
    assert len(batches) == 3
    assert sorted(fetched(client, wanted)) == wanted[::100]


def test_retry_after_is_honoured_on_429(registry: FakeRegistry) -> None:
    registry.faults.append(Fault("/version", 429, {"Retry-After": "7"}))
    client, slept = client_for(registry)
    assert client.data_timestamp() == registry.data_timestamp
    assert slept == [7.0]
    assert client.requests == 2


def test_5xx_is_retried_with_growing_backoff_then_fails_in_one_line(
        registry: FakeRegistry, caplog: pytest.LogCaptureFixture) -> None:
    """A line per retry, at once, and the last line, name the host tried."""
    caplog.set_level(logging.INFO, "ctmonitor")
    registry.faults.append(Fault("/version", 500, times=10))
    client, slept = client_for(registry, retries=3, backoff=1.0)
    host = registry.base_url.split("/")[2]
    with pytest.raises(RegistryError) as caught:
        client.data_timestamp()
    assert str(caught.value) == (f"registry: HTTP 500 fetching the registry version from "
                                 f"{host} (4 attempts)")
    retries = [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()]
    assert len(retries) == 3 and all(f"from {host}; trying again in" in r for r in retries)
    assert retries[0].endswith("(attempt 2 of 4)") and retries[2].endswith("(attempt 4 of 4)")
    assert len(slept) == 3
    assert 0.5 <= slept[0] <= 1.0 and 1.0 <= slept[1] <= 2.0 and 2.0 <= slept[2] <= 4.0


def test_a_slow_answer_times_out_and_is_retried(registry: FakeRegistry) -> None:
    registry.faults.append(Fault("/version", 200, delay=1.5, body="{}"))
    client, slept = client_for(registry, timeout=0.3, retries=1, backoff=0)
    assert client.data_timestamp() == registry.data_timestamp
    assert client.requests == 2


def test_unreachable_registry_is_one_line() -> None:
    settings = RegistrySettings(base_url="http://127.0.0.1:9/api/v2", rate_limit=0,
                                retries=1, backoff=0, timeout=2)
    with pytest.raises(RegistryError, match=r"^registry: cannot connect \(connection refused\) "
                                            r"fetching the registry version from 127\.0\.0\.1:9 "
                                            r"\(2 attempts\)$"):
        RegistryClient(settings, sleep=lambda s: None).data_timestamp()


def test_404_and_301_and_400_for_one_id(registry: FakeRegistry) -> None:
    registry.put(study("NCT00000002"))
    registry.aliases["NCT00000001"] = "NCT00000002"
    registry.reject_ids.add("NCT00000003")
    client, _ = client_for(registry)
    moved = client.fetch_one("NCT00000001")
    assert moved.alias_of == "NCT00000002" and moved.record is not None
    assert client.fetch_one("NCT00000004").record is None
    rejected = client.fetch_one("NCT00000003")
    assert rejected.record is None and "invalid" in (rejected.rejected or "")


def test_one_rejected_id_does_not_sink_the_batch(registry: FakeRegistry) -> None:
    for nct in ids(8):
        registry.put(study(nct))
    registry.reject_ids.add("NCT00000005")
    client, _ = client_for(registry)
    assert sorted(fetched(client, ids(8))) == [i for i in ids(8) if i != "NCT00000005"]


def test_pacing_keeps_to_the_rate_limit(registry: FakeRegistry) -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    settings = RegistrySettings(base_url=registry.base_url, rate_limit=2.0, retries=0)
    client = RegistryClient(settings, sleep=sleep, clock=lambda: now[0])
    for _ in range(3):
        client.data_timestamp()
    assert slept == [0.5, 0.5]


class Answer:
    """What PageReader reads of a requests.Response: raw.read1 gives the chunks in turn."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.raw = self
        self.chunks = chunks

    def read1(self, _size: int, decode_content: bool) -> bytes:
        return next(self.chunks, b"")

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("body", "token"), [
    (b'{"studies": [], "nextPageToken": "ZVt07cGH_kvI2"}', "ZVt07cGH_kvI2"),
    (b'{"nextPageToken":"a\\"b","studies":[]}', 'a"b'),
    (b'{"studies": [{"t": "say \\"nextPageToken\\": \\"x\\""}]}', None),
    (b'{"studies": [], "totalCount": 3}', None),
    (b' { "totalCount" : 12345 , "studies" : [ {"a": 1} , {"b": [2.5]} ] } ', None),
])
def test_a_page_is_read_study_by_study_with_its_token(body: bytes, token: str | None) -> None:
    for size in (1, 7, 65536):  # however the answer arrives
        chunks = iter([body[i:i + size] for i in range(0, len(body), size)])
        reader = PageReader(Answer(chunks), "a page", 10)  # type: ignore[arg-type]
        studies = list(reader.studies())
        assert studies == orjson.loads(body)["studies"] and reader.count == len(studies)
        assert reader.next_page_token() == token


@pytest.mark.parametrize("size", [1, 4096, 65536])
def test_a_study_too_deep_to_decode_stands_alone_in_its_page(size: int) -> None:
    """Its trial fails alone (named by its first nctId), the studies after it are read."""
    deep = (b'{"protocolSection": {"identificationModule": {"nctId": "NCT00000002"}}, '
            b'"x": ' + b'[{"s": "]}[\\\"", "t": ' * 3000 + b'1' + b'}]' * 3000 + b'}')
    body = (b'{"studies": [{"n": 1}, ' + deep + b', {"n": 3}], "nextPageToken": "t2"}')
    chunks = iter([body[i:i + size] for i in range(0, len(body), size)])
    reader = PageReader(Answer(chunks), "3 trials", 10)  # type: ignore[arg-type]
    first, middle, last = reader.studies()
    assert (first, last) == ({"n": 1}, {"n": 3}) and reader.next_page_token() == "t2"
    assert middle == Undecodable("NCT00000002", str(too_deep()))


def test_a_page_that_is_not_json_is_one_line(registry: FakeRegistry) -> None:
    registry.faults.append(Fault("/studies", 200, body="<html>maintenance</html>"))
    client, _ = client_for(registry)
    with pytest.raises(RegistryError, match="^registry: answer for NCT00000001 is not JSON$"):
        fetched(client, ids(1))


@pytest.mark.parametrize(("pages", "asked", "says"), [
    ([("a", 1), ("a", 0)], 5, "the same nextPageToken twice"),
    ([("a", 2), ("b", 1)], 3, "more pages than 3 ids can fill"),
    ([(f"t{i}", 0) for i in range(MAX_EMPTY_PAGES + 1)], 5, "more than 10 empty pages"),
    ([(f"t{i}", 1) for i in range(MAX_PAGES)], None, "more than 500 pages"),
], ids=["repeated token", "more pages than ids", "empty pages", "hard cap"])
def test_paging_that_cannot_end_is_stopped(pages: list[tuple[str, int]], asked: int | None,
                                           says: str) -> None:
    guard = PageGuard("3 trials", most_studies=asked)
    with pytest.raises(PagingError, match=says):
        for token, studies in pages:
            guard.next(token, studies)


def test_a_paging_loop_fails_its_batch_and_not_the_rest(registry: FakeRegistry) -> None:
    for nct in ids(3):
        registry.put(study(nct))
    registry.faults.append(Fault("/studies?", 200, times=50,
                                 body=b'{"studies": [], "nextPageToken": "x"}'))  # type: ignore[arg-type]
    client, _ = client_for(registry)
    pages = []
    for page in client.fetch_batches(ids(3)):  # each page read before the next, as a check
        pages.append((page, list(page.studies)))
    *read, (failed, _) = pages
    assert [(p.failure, studies) for p, studies in read] == [(None, []), (None, [])]
    assert failed.failure is not None and "same nextPageToken twice" in failed.failure
    assert failed.asked == ids(3)
    assert registry.requests_to("/studies?") == 2
