"""Client for the ClinicalTrials.gov API v2: batched fetches, a freshness gate, polite retries."""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from monitor import __version__
from monitor.answers import BodyReader, PageReader, UnreadableAnswer
from monitor.config import RegistrySettings
from snapshots.errors import RegistryError
from snapshots.retry import backoff, retry_after
from snapshots.wording import clip

if TYPE_CHECKING:
    import requests

# requests (with urllib3, 95 ms) is imported where a request is made, not when the module
# loads: the commands that only read the store (list, history, ...) never make one.
USER_AGENT = ("ctmonitor/{} (a change monitor for tracked ClinicalTrials.gov records; "
              "python-requests/{})")
log = logging.getLogger("ctmonitor")
MAX_URL_BYTES = 6000
PAGE_SIZE = 1000
MAX_BACKOFF_SECONDS = 120.0  # a registry retry waits no longer, Retry-After or not
ERROR_TEXT_LIMIT = 120
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_EMPTY_PAGES = 10  # pages with no study that one request may page through
MAX_PAGES = 500  # pages one request may take at all (a search of 500,000 trials)
MAX_REDIRECTS = 5  # an id moved is one redirect; more is a loop
HISTORY_ATTEMPTS = 2  # the history endpoints are optional: a short try, then backfill waits


@dataclass(frozen=True)
class Page:
    """One page of a batch: the ids asked and their studies, parsed one by one; or, when
    paging went wrong, why the batch's remaining trials could not be fetched."""

    asked: list[str]
    studies: Iterator[dict[str, Any]]
    failure: str | None = None
    searched: bool = True  # False: the search could not answer for these ids (404, 400)


@dataclass(frozen=True)
class RegistryChange:
    """One version in a record's history: its number (from 0) and the registry's date."""

    version: int
    date: str


class HistoryError(RegistryError):
    """The registry's history endpoints answered something this monitor cannot read."""


class RedirectLoop(RegistryError):
    """The registry's redirects for a request do not end."""


class PagingError(RegistryError):
    """The registry's pages do not end: a token seen before, or more pages than can be."""


class PageGuard:
    """Stops paging that cannot end: a request for N ids that has had N studies is done, so
    a further page is one too many; a few empty pages are allowed; a token that comes back
    means a loop; and no request takes more than MAX_PAGES pages."""

    def __init__(self, what: str, most_studies: int | None = None) -> None:
        self.what = what
        self.most_studies = most_studies
        self.tokens: set[str] = set()
        self.pages = 0
        self.empty = 0
        self.studies = 0

    def next(self, token: str, studies: int) -> None:
        """Check the page just read (with studies) before following its token."""
        self.pages += 1
        self.empty += studies == 0
        self.studies += studies
        problem = None
        if token in self.tokens:
            problem = "the registry sent the same nextPageToken twice (a paging loop)"
        elif self.empty > MAX_EMPTY_PAGES:
            problem = f"the registry sent more than {MAX_EMPTY_PAGES} empty pages"
        elif self.most_studies is not None and self.studies >= self.most_studies:
            problem = (f"the registry sent more pages than {self.most_studies} ids can fill")
        elif self.pages >= MAX_PAGES:
            problem = f"the registry sent more than {MAX_PAGES} pages"
        if problem:
            raise PagingError(f"registry: {problem} fetching {self.what}; stopped paging")
        self.tokens.add(token)


@dataclass(frozen=True)
class SingleResult:
    """What GET /studies/{id} said about one id: the record, or that it is gone."""

    nct_id: str
    record: dict[str, Any] | None
    alias_of: str | None = None
    rejected: str | None = None
    unreadable: str | None = None  # an answer that is not a record: this trial's failure


class RegistryClient:
    """Speaks API v2; counts its requests; paces, retries and backs off on its own.

    sleep and clock come in from outside so tests run without waiting.
    """

    def __init__(self, settings: RegistrySettings, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        import requests

        self.settings = settings
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT.format(__version__, requests.__version__)
        self.session.max_redirects = MAX_REDIRECTS
        self.sleep = sleep
        self.clock = clock
        self.requests = 0
        self.not_found: set[str] = set()  # "/version", "/studies": endpoints that said 404
        self._last_request: float | None = None

    # -- endpoints -----------------------------------------------------------------------
    def data_timestamp(self) -> str | None:
        """GET /version: the registry's dataTimestamp, which moves once per refresh.

        None when the registry has no /version (404): the check then fetches everything.
        """
        response = self.get("/version", what="the registry version", allow=(404,))
        if response.status_code == 404:
            response.close()
            self.not_found.add("/version")
            return None
        answer = self._json(response, "/version")
        stamp = answer.get("dataTimestamp") if isinstance(answer, dict) else None
        return stamp if isinstance(stamp, str) else None

    def fetch_batches(self, ids: list[str], updated_since: str | None = None
                      ) -> Iterator[Page]:
        """Yield every page of every batch, its studies parsed one by one; with
        updated_since (YYYY-MM-DD), only the studies whose LastUpdatePostDate is that day
        or later.

        A batch the registry rejects with 400 is split in halves until the bad id stands
        alone, so one bad id never sinks the rest; a lone rejected id yields no studies.
        A registry without the search endpoint (404) yields none either: the caller then
        fetches each trial alone. Paging that does not end fails that batch alone: its last
        page carries the failure.
        """
        for batch in self.batches(ids, updated_since):
            try:
                yield from self._fetch_batch(batch, updated_since)
            except PagingError as exc:
                yield Page(batch, iter(()), str(exc))

    def search(self, params: tuple[tuple[str, str], ...], fields: tuple[str, ...],
               what: str) -> Iterator[dict[str, Any]]:
        """Every study matching API v2 search parameters, with only the fields named, page
        by page (the same parameters on every page; PageGuard stops paging that does not
        end). A query the registry rejects (400) is a RegistryError with its message."""
        guard = PageGuard(what)
        token: str | None = None
        while True:
            query = [*params, ("fields", ",".join(fields)), ("pageSize", str(PAGE_SIZE))]
            if token:
                query.append(("pageToken", token))
            url = f"{self.settings.base_url}/studies?{urllib.parse.urlencode(query)}"
            response = self.request(url, what=what, allow=(400,))
            if response.status_code == 400:
                raise RegistryError(f"registry: rejected {what}: "
                                    f"{self.excerpt(response, what)}")
            page = PageReader(response, what, self.settings.answer_timeout)
            yield from page.studies()
            token = page.next_page_token()
            if not token:
                return
            guard.next(token, page.count)

    def history(self, nct_id: str) -> list[RegistryChange]:
        """The registry's versions of a record, oldest first, from the website's internal
        endpoint (undocumented: any other shape is a HistoryError)."""
        response = self.request(f"{self.settings.history_url}/{nct_id}?history=true",
                                what=f"the history of {nct_id}", allow=(404,),
                                attempts=HISTORY_ATTEMPTS)
        if response.status_code == 404:
            response.close()
            raise HistoryError(f"registry: no history of {nct_id} (HTTP 404)")
        answer = self._json(response, f"the history of {nct_id}")
        changes = (answer.get("history") or {}).get("changes") if isinstance(answer, dict) \
            else None
        if not isinstance(changes, list) or not all(
                isinstance(c, dict) and isinstance(c.get("version"), int)
                and isinstance(c.get("date"), str) for c in changes):
            raise HistoryError(f"registry: the history of {nct_id} has an unknown shape "
                               "(expected history.changes with version and date)")
        return sorted((RegistryChange(c["version"], c["date"]) for c in changes),
                      key=lambda c: c.version)

    def history_version(self, nct_id: str, version: int) -> dict[str, Any]:
        """One version of a record as the website renders it ({"protocolSection": ...})."""
        what = f"version {version} of {nct_id}"
        answer = self._json(self.request(
            f"{self.settings.history_url}/{nct_id}/history/{version}", what=what,
            attempts=HISTORY_ATTEMPTS), what)
        study = answer.get("study") if isinstance(answer, dict) else None
        if not isinstance(study, dict) or not isinstance(study.get("protocolSection"), dict):
            raise HistoryError(f"registry: {what} has an unknown shape (expected "
                               "study.protocolSection)")
        return study

    def fetch_one(self, nct_id: str) -> SingleResult:
        """GET /studies/{id}: 404 is "not in the registry", a 301 names the id's new home."""
        try:
            response = self.get(f"/studies/{nct_id}", what=nct_id, allow=(400, 404))
        except RedirectLoop as exc:
            return SingleResult(nct_id, None, unreadable=str(exc))
        if response.status_code == 404:
            return SingleResult(nct_id, None)
        if response.status_code == 400:
            return SingleResult(nct_id, None, rejected=self.excerpt(response, nct_id))
        try:
            record = self._json(response, nct_id)
        except UnreadableAnswer as exc:
            return SingleResult(nct_id, None, unreadable=str(exc))
        try:
            found = record["protocolSection"]["identificationModule"]["nctId"]
        except (KeyError, TypeError):
            found = None  # not a study record: the check reports it for this trial
        moved = any(r.status_code in (301, 308) for r in response.history)
        alias = found if moved and found and found != nct_id else None
        return SingleResult(nct_id, record, alias_of=alias)

    # -- batching ------------------------------------------------------------------------
    def batches(self, ids: list[str], updated_since: str | None = None
                ) -> Iterator[list[str]]:
        """Cut ids into batches whose request URL stays under MAX_URL_BYTES."""
        budget = MAX_URL_BYTES - len(self.studies_url([], None, updated_since))
        batch: list[str] = []
        used = 0
        for nct in ids:
            if batch and used + len(nct) + 1 > budget:
                yield batch
                batch, used = [], 0
            batch.append(nct)
            used += len(nct) + 1
        if batch:
            yield batch

    def studies_url(self, ids: list[str], token: str | None,
                    updated_since: str | None = None) -> str:
        """The /studies URL for one page; commas stay unescaped so more ids fit a URL."""
        query = f"filter.ids={','.join(ids)}&pageSize={PAGE_SIZE}"
        if updated_since:
            query += "&filter.advanced=" + urllib.parse.quote(
                f"AREA[LastUpdatePostDate]RANGE[{updated_since},MAX]", safe="")
        if token:
            query += "&pageToken=" + urllib.parse.quote(token, safe="")
        return f"{self.settings.base_url}/studies?{query}"

    def _fetch_batch(self, batch: list[str], updated_since: str | None
                     ) -> Iterator[Page]:
        token: str | None = None
        guard = PageGuard(_count(batch), most_studies=len(batch))
        while True:
            url = self.studies_url(batch, token, updated_since)
            response = self.request(url, what=_count(batch), allow=(400, 404))
            if response.status_code in (400, 404):
                response.close()
                if response.status_code == 404:
                    self.not_found.add("/studies")
                if response.status_code == 404 or len(batch) == 1:
                    yield Page(batch, iter(()), searched=False)  # no search, or a bad id
                    return
                half = len(batch) // 2
                yield from self._fetch_batch(batch[:half], updated_since)
                yield from self._fetch_batch(batch[half:], updated_since)
                return
            page = PageReader(response, _count(batch), self.settings.answer_timeout)
            yield Page(batch, page.studies())
            token = page.next_page_token()
            if not token:
                return
            guard.next(token, page.count)

    # -- transport -----------------------------------------------------------------------
    def get(self, path: str, what: str, allow: tuple[int, ...] = ()) -> requests.Response:
        return self.request(self.settings.base_url + path, what, allow)

    def request(self, url: str, what: str, allow: tuple[int, ...] = (),
                attempts: int | None = None) -> requests.Response:
        """GET url, retrying connection errors, timeouts, 429 and 5xx with backoff, up to
        attempts tries (registry.retries + 1 unless given).

        The answer comes back as soon as its headers do; its body is the caller's to read
        (body(), or a PageReader), within answer_timeout.
        """
        import requests

        attempts = min(attempts or self.settings.retries + 1, self.settings.retries + 1)
        for attempt in range(1, attempts + 1):
            self._pace()
            self.requests += 1
            try:
                response = self.session.get(url, timeout=self.settings.timeout, stream=True)
            except requests.TooManyRedirects:
                raise RedirectLoop(f"registry: redirects for {what} do not end (more than "
                                   f"{MAX_REDIRECTS})") from None
            except requests.Timeout:
                problem, wait = f"timed out after {self.settings.timeout:g} s", None
            except requests.RequestException as exc:
                problem, wait = f"cannot connect ({_reason(exc)})", None
            else:
                if response.ok or response.status_code in allow:
                    return response
                if response.status_code not in RETRY_STATUSES:
                    raise RegistryError(f"registry: HTTP {response.status_code} fetching {what}: "
                                        f"{self.excerpt(response, what)}")
                response.close()
                problem = f"HTTP {response.status_code}"
                wait = retry_after(response.headers.get("Retry-After"))
            host = urllib.parse.urlsplit(url).netloc
            if attempt == attempts:
                raise RegistryError(f"registry: {problem} fetching {what} from {host} "
                                    f"({attempts} attempts)")
            pause = backoff(attempt, self.settings.backoff, MAX_BACKOFF_SECONDS, wait,
                            jitter=True)
            log.info("registry: %s fetching %s from %s; trying again in %.0f s "
                     "(attempt %d of %d)", problem, what, host, pause, attempt + 1, attempts)
            self.sleep(pause)
        raise AssertionError("unreachable")

    def _pace(self) -> None:
        if self.settings.rate_limit <= 0:
            return
        gap = 1.0 / self.settings.rate_limit
        now = self.clock()
        if self._last_request is not None and now - self._last_request < gap:
            self.sleep(gap - (now - self._last_request))
            now = self.clock()
        self._last_request = now

    def body(self, response: requests.Response, what: str) -> bytes:
        """The whole body of an answer, read within answer_timeout however it trickles."""
        return BodyReader(response, what, self.settings.answer_timeout).whole()

    def excerpt(self, response: requests.Response, what: str) -> str:
        """An error answer's text, on one line and short, for a one-line message."""
        text = self.body(response, what).decode(response.encoding or "utf-8", errors="replace")
        return clip(text, ERROR_TEXT_LIMIT)

    def _json(self, response: requests.Response, what: str) -> Any:
        try:
            return orjson.loads(self.body(response, what))  # bytes: no decoded copy
        except orjson.JSONDecodeError as exc:
            problem = ("is nested too deeply to read" if "depth" in str(exc)
                       else "is not JSON")
            raise UnreadableAnswer(f"registry: answer for {what} {problem}") from None


def _count(ids: list[str]) -> str:
    return ids[0] if len(ids) == 1 else f"{len(ids)} trials"


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host",
                   "Temporary failure in name resolution", "Connection reset"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
