"""The history web page: `ctmonitor serve`, or `run` with [web] enabled = true.

Starlette routes render Jinja2 templates (autoescaped) from a store opened read-only, so
the page can neither write nor hold up a check. Everything it needs is served by itself
(no CDN, no script): it works offline, behind a firewall and with JavaScript off.
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from monitor import guard, health, manage, views
from monitor.chart import chart, svg, table, version_date
from monitor.config import Settings, WebSettings, parse_nct
from monitor.connections import ACCEPT_BURST, KEEP_ALIVE_SECONDS, bounded_h11, loop_errors
from monitor.live import Live
from monitor.results_due import deadline_text, today_of
from monitor.workers import Workers
from notifiers.render import history_url, trial_url
from snapshots.diff import diff_stored
from snapshots.errors import ConfigError, MonitorError
from snapshots.events import (
    CATEGORIES,
    SEVERITIES,
    SEVERITY_RANK,
    ChangeEvent,
    folded,
    from_dict,
    is_whole,
)
from snapshots.outcome_history import Track, primary_history
from snapshots.results import reading
from snapshots.store import Store
from snapshots.versions import LastChange, Trial, Version
from snapshots.wording import enum_text, plural, show, word_edits

if TYPE_CHECKING:
    from jinja2 import Environment

TRIALS_PER_PAGE = 100
CHANGES_PER_PAGE = 50
FEED_ENTRIES = 50
LONG_TEXT = 80  # characters: a longer text is compared word by word
CHART_CACHE = 256  # charts and outcome histories kept, the least recently made go first
PAGES_KEPT = 64  # pages drawn for every browser (kept)
TODAY_SECONDS = 1.0  # the registry's day is read again after this long
WORKER_THREADS = 4
STOP_SECONDS = 5  # open requests get this long to finish when the page stops
SORTS = ("change", "status", "nct")
HERE = Path(__file__).resolve().parent
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@functools.cache
def templates() -> Environment:
    """The page's templates, made (and jinja2 imported) the first time a page is drawn."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("monitor", "templates"),
                      autoescape=select_autoescape(["html", "j2", "xml"]),
                      trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters.update(status=lambda v: enum_text(v) if v else "-", show=show, results=reading,
                       deadline=deadline_text, when=when, since=since_text, event=event_item,
                       events=events_list)
    return env


def event_item(event: ChangeEvent, parts: list[ChangeEvent], category: bool = False) -> Any:
    """One change event as a list item: its severity (and category), its summary, the
    events it stands for as a line that opens, its results' reading (a filter, not a macro:
    /changes draws 150 of them)."""
    from markupsafe import Markup, escape

    sev = escape(event.severity)
    head = f'<li class="{sev}"><span class="sev">{sev}</span>'
    if category:
        head += f' <span class="cat">{escape(event.category)}</span>'
    summary = escape(event.summary)
    if parts:
        folded = "".join(f"<li>{escape(p.summary)}</li>" for p in parts)
        summary = Markup(f'<details class="fold"><summary>{summary}</summary><ul>{folded}'
                         "</ul></details>")
    results = ""
    if event.results:
        lines = "".join(f"<li>{escape(line)}</li>" for line in reading(event.results))
        results = f'<ul class="results">{lines}</ul>'
    return Markup(f"{head}\n  {summary}\n  {results}</li>")


def events_list(groups: list[tuple[str, Shown]]) -> Any:
    """A version's events by category (grouped()): a heading and a list each."""
    from markupsafe import Markup, escape

    return Markup("".join(
        f'<h4 class="category">{escape(category.capitalize())}</h4>\n<ul class="events">\n  '
        + "".join(event_item(e, parts) for e, parts in events) + "</ul>\n"
        for category, events in groups))


def when(stamp: Any, never: str = "never") -> Any:
    """A stored UTC time stamp as people read it, in a <time> element with the exact time
    on hover: <time datetime="…" title="…">3 hours ago</time> (a filter, not a macro: a
    macro call costs ten times as much, a hundred times a page)."""
    from markupsafe import Markup  # with jinja2: only where pages are drawn

    if not stamp:
        return Markup.escape(never)
    exact = Markup.escape(stamp)
    return Markup(f'<time datetime="{exact}" title="{exact}">'
                  f"{Markup.escape(ago(stamp, datetime.now(UTC)))}</time>")


AGO_UNITS = ((86400 * 365, "year"), (86400 * 30, "month"), (86400 * 7, "week"),
             (86400, "day"), (3600, "hour"), (60, "minute"))


def ago(stamp: Any, now: datetime) -> str:
    """"3 hours ago" for a stored UTC time stamp (as it is, when it is not one)."""
    try:
        then = datetime.fromisoformat(str(stamp))  # "2026-12-01T19:14:38Z", as stored
    except ValueError:
        return str(stamp)
    if then.tzinfo is None:
        return str(stamp)
    seconds = (now - then).total_seconds()
    if seconds < 0:
        return "in the future"
    for size, unit in AGO_UNITS:
        if seconds >= size:
            return f"{plural(int(seconds // size), unit)} ago"
    return "just now"


def since_text(counts: dict[str, int]) -> str:
    """"since then: 1 notable, 3 minor" (most severe first)."""
    return "since then: " + ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES)
                                      if counts.get(s))


@dataclass(frozen=True)
class OverviewRow:
    trial: Trial | None
    nct_id: str
    last_change: LastChange | None
    title: str  # lower case, for the search box


class BadRequest(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(400, detail)


class History:
    """What the pages read from the store, with the small caches that keep them quick; the
    config as it stands (monitor.live); what the forms need (manage.Forms)."""

    def __init__(self, live: Live, store: Store) -> None:
        self.live = live
        self.store = store
        self.forms = manage.Forms(live)
        self._overview: tuple[Any, dict[str, list[OverviewRow]]] | None = None
        self._drawn: OrderedDict[tuple[str, int], Drawn] = OrderedDict()
        self._today: tuple[float, date | None] | None = None
        self.pages: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()

    @property
    def settings(self) -> Settings:
        return self.live.settings

    @property
    def generation(self) -> int:
        """How many times the config was read again, after reading it again if it changed."""
        self.live.settings  # noqa: B018 (the read is what is wanted)
        return self.live.generation

    @property
    def writable(self) -> bool:
        """The page's forms (seen marks, trials, watches, mutes) only with [web] token set."""
        return self.settings.web.token is not None

    def overview(self, sort: str) -> list[OverviewRow]:
        """Every tracked trial with its last material change, in the order asked for;
        read and sorted again only after the store changed."""
        ids = self.settings.trial_ids
        stamp = (self.store.changes.stamp(), ids)
        if self._overview is None or self._overview[0] != stamp:
            trials = {t.nct_id: t for t in self.store.versions.trials(ids)}
            changes = self.store.changes.last_changes()
            rows = [OverviewRow(trials.get(i), i, changes.get(i),
                                ((trials[i].title if i in trials else None) or "").lower())
                    for i in ids]
            self._overview = (stamp, {key: sorted(rows, key=order)
                                      for key, order in SORT_KEYS.items()})
        return self._overview[1][sort]

    def trial(self, nct_id: str) -> Trial:
        found = self.store.versions.trial(nct_id)
        if found is None or not found.latest_version:
            raise HTTPException(404, f"{nct_id} has no stored versions here")
        return found

    def drawn(self, trial: Trial) -> Drawn:
        """The trial's versions, its key-dates chart (and its SVG) and its primary outcomes
        through the versions, from one read of their outlines (status and outcome modules),
        kept until the trial's next version (pages render in several threads: an entry may
        go at any time, so the one made here is returned)."""
        key = (trial.nct_id, trial.latest_version)
        made = self._drawn.get(key)
        if made is None:
            rows = self.store.versions.outlines(trial.nct_id)
            dates = chart([(v, m["statusModule"]) for v, m in rows])
            made = self._drawn[key] = Drawn(
                [v for v, _ in rows], dates,
                None if dates.empty else markup(svg(dates, trial.nct_id)),
                None if dates.empty else markup(table(dates)),
                primary_history((v.number, version_date(v), {"protocolSection": m})
                                for v, m in rows))
            while len(self._drawn) > CHART_CACHE:
                self._drawn.popitem(last=False)
        return made

    def keep(self, key: tuple[Any, ...], body: bytes) -> None:
        """A page drawn for every browser (kept), the least recently drawn going first."""
        self.pages[key] = body
        while len(self.pages) > PAGES_KEPT:
            self.pages.popitem(last=False)

    def today(self) -> date | None:
        """The registry's day at the last check, read again at most once a second."""
        now = time.monotonic()
        if self._today is None or now - self._today[0] >= TODAY_SECONDS:
            self._today = (now, today_of(self.store))
        return self._today[1]


@dataclass(frozen=True)
class Drawn:
    versions: list[Version]  # oldest first, without snapshots
    chart: Any
    svg: Any  # the chart's markup, or None without dates
    table: Any  # its dates as a table's markup, or None
    outcomes: list[Track]


def markup(text: str) -> Any:
    from markupsafe import Markup

    return Markup(text)


# -- pages ------------------------------------------------------------------------------------
def drawn(name: str, **context: Any) -> str:
    """A template drawn, less what XML 1.0 forbids (a NUL, an ESC, U+FFFE in a record's
    text): the feeds stay XML and the pages parse the same in every browser."""
    return NOT_XML.sub("", templates().get_template(name).render(**context))


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page, with what its forms need: the browser's CSRF token (a slot for it in a page
    drawn for every browser: kept), the note of its last form, and whether trials may be
    managed here."""
    history: History = request.app.state.history
    browser = getattr(request.state, "browser", "")
    every = getattr(request.state, "kept", False)  # drawn for every browser: none's note
    csrf = CSRF_SLOT if every else history.forms.csrf(browser)
    note = None if every else history.forms.note_of(request)
    answer = HTMLResponse(drawn(name, request=request, csrf=csrf, note=note,
                                writable=history.writable,
                                here=request.url.path + (f"?{request.url.query}"
                                                         if request.url.query else ""),
                                **context), status_code)
    if not every:
        history.forms.shown(request, answer)
    return answer


def seen_through(request: Request) -> int | None:
    """The last version this browser has seen (None: it never marked all seen, or the page
    has no forms); read once a request."""
    history: History = request.app.state.history
    if not hasattr(request.state, "through"):
        request.state.through = (history.store.seen.through(request.state.browser)
                                 if history.writable else None)
    return request.state.through  # type: ignore[no-any-return]


CSRF_SLOT = "0" * 64  # where a kept page takes each browser's CSRF token (a hex HMAC's size)


def kept(marks: bool) -> Callable[[Callable[[Request], Response]], Callable[[Request], Response]]:
    """A page drawn once for every browser that has seen as much (the overview, /changes, a
    trial page: what many open each morning; a diff is quick to draw), until the store changes
    (a version, a check, a mute), the config is read again or the minute turns (its times
    say "3 minutes ago"); each browser's CSRF token goes into its copy. A page that marks
    what is new (marks) is kept per seen mark; one that marks nothing, for every mark. A
    browser with a form's note waiting gets a page of its own."""

    def keeping(route: Callable[[Request], Response]) -> Callable[[Request], Response]:
        @functools.wraps(route)
        def page(request: Request) -> Response:
            history: History = request.app.state.history
            browser = request.state.browser
            if manage.NOTE_COOKIE in request.cookies:
                return route(request)
            key = (request.url.path, request.url.query, history.store.changes.stamp(),
                   history.generation, seen_through(request) if marks else None,
                   int(time.time() // 60))
            body = history.pages.get(key)
            if body is None:
                request.state.kept = True
                answer = route(request)
                if answer.status_code != 200:
                    return answer
                body = bytes(answer.body)
                history.keep(key, body)
            csrf = (history.forms.csrf(browser).encode() if history.writable
                    else CSRF_SLOT.encode())
            return HTMLResponse(body.replace(CSRF_SLOT.encode(), csrf))

        return page

    return keeping


@kept(marks=True)
def overview(request: Request) -> Response:
    history: History = request.app.state.history
    query = request.query_params
    text = query.get("q", "").strip()
    sort = choice(query, "sort", SORTS, "change")
    rows = history.overview(sort)
    through = seen_through(request)
    fresh = 0 if through is None else sum(
        1 for r in rows if r.last_change and r.last_change.id > through)
    if text:
        needle = text.lower()
        rows = [r for r in rows if needle in r.nct_id.lower() or needle in r.title]
    page, pages = paging(query, len(rows), TRIALS_PER_PAGE)
    shown = rows[(page - 1) * TRIALS_PER_PAGE: page * TRIALS_PER_PAGE]
    watches = views.watch_rows(history.settings.watches, history.store.watches.states())
    return render(request, "overview.html.j2", rows=shown, total=len(rows), q=text, sort=sort,
                  page=page, pages=pages, date_of=version_date, watches=watches,
                  today=history.today(), through=through, fresh=fresh)


def _by_last_change(row: OverviewRow) -> tuple[int, str]:
    """Newest change first, trials never changed last (an ascending key)."""
    if row.last_change is None:
        return (1, row.nct_id)
    stamp = row.last_change.fetched_at
    return (0, stamp.translate(DESCENDING) + row.nct_id)


DESCENDING = str.maketrans("0123456789", "9876543210")  # timestamps sort newest first
SORT_KEYS: dict[str, Any] = {
    "change": _by_last_change,
    "status": lambda r: ((r.trial.latest_status if r.trial else None) or "~", r.nct_id),
    "nct": lambda r: r.nct_id,
}


@kept(marks=False)
def trial_page(request: Request) -> Response:
    history: History = request.app.state.history
    nct_id = nct_param(request.path_params["nct"])
    trial = history.trial(nct_id)
    made = history.drawn(trial)
    timeline = [(v, grouped([from_dict(e) for e in v.events])) for v in reversed(made.versions)]
    return render(request, "trial.html.j2", trial=trial, chart=made.chart, chart_svg=made.svg,
                  chart_table=made.table, outcomes=made.outcomes, timeline=timeline,
                  numbers=[v.number for v in made.versions],
                  registry_url=trial_url(nct_id), registry_history=history_url(nct_id),
                  date_of=version_date, today=history.today())


def diff_page(request: Request) -> Response:
    history: History = request.app.state.history
    nct_id = nct_param(request.path_params["nct"])
    trial = history.trial(nct_id)
    latest = trial.latest_version
    b = integer(request.query_params, "to", latest, 1, latest)
    a = integer(request.query_params, "from", max(b - 1, 1), 1, latest)
    old, new, events = compared(history.store, nct_id, a, b)
    fields = [field_row(e) for e in events]
    return render(request, "diff.html.j2", trial=trial, old=old, new=new,
                  groups=grouped(events), fields=fields, numbers=list(range(1, latest + 1)),
                  date_of=version_date)


def compared(store: Store, nct_id: str, a: int, b: int
             ) -> tuple[Version, Version, list[ChangeEvent]]:
    """Versions a and b and the change events between them. Consecutive versions use the
    events stored with b (what the check found and alerted), unless a value was cut for
    size there; any other pair is diffed from the two snapshots."""
    versions = store.versions
    if b == a + 1:
        old, new = versions.get(nct_id, a, data=False), versions.get(nct_id, b, data=False)
        if old and new and all(map(is_whole, new.events)):
            return old, new, list(map(from_dict, new.events))
    old, new = versions.get(nct_id, a), versions.get(nct_id, b)
    if old is None or new is None:
        raise HTTPException(404, f"{nct_id} has no version {a if old is None else b}")
    events = diff_stored(old.data or {}, new.data or {}, old.lacks) if a != b else []
    return old, new, events


@kept(marks=True)
def changes_page(request: Request) -> Response:
    history: History = request.app.state.history
    query = request.query_params
    category = choice(query, "category", CATEGORIES, "")
    severity = choice(query, "severity", SEVERITIES, "notable")  # not a screen of sites
    nct_id = nct_param(query["nct"]) if query.get("nct") else ""
    page = integer(query, "page", 1, 1, 10**6)
    entries = change_entries(history, category, severity, nct_id, CHANGES_PER_PAGE,
                             (page - 1) * CHANGES_PER_PAGE)
    through = seen_through(request)
    fresh = 0 if through is None else sum(1 for v, _ in entries if v.id > through)
    return render(request, "changes.html.j2", entries=entries, category=category,
                  severity=severity, nct=nct_id, page=page, categories=CATEGORIES,
                  severities=SEVERITIES, more=len(entries) == CHANGES_PER_PAGE,
                  date_of=version_date, through=through, fresh=fresh)


def change_entries(history: History, category: str, severity: str, nct_id: str, limit: int,
                   offset: int) -> list[tuple[Version, Shown]]:
    """Versions with the wanted events, newest first, each with those events."""
    # a cheap first cut by the stored events' text: a severity is "at least", so only the
    # top one can be asked for as it is written
    top = severity if severity == SEVERITIES[-1] else ""
    containing = tuple(f'"{key}": "{value}"' for key, value in
                       (("category", category), ("severity", top)) if value)
    floor = SEVERITY_RANK[severity] if severity else 0
    found = []
    for version in history.store.changes.recent(limit, offset, nct_id or None, containing):
        events = [e for e in map(from_dict, version.events)
                  if (not category or e.category == category) and e.rank >= floor]
        if events:
            found.append((version, folded(events)))
    return found


def feed(request: Request) -> Response:
    history: History = request.app.state.history
    nct_id = request.path_params.get("nct")
    trial = None
    if nct_id is not None:
        nct_id = nct_param(nct_id)
        trial = history.trial(nct_id)
    entries = change_entries(history, "", "", nct_id or "", FEED_ENTRIES, 0)
    base = (history.settings.web.base_url or "").rstrip("/")  # never the Host header
    self_url = base + request.url.remove_query_params("token").path
    body = drawn("feed.atom.j2", entries=entries, trial=trial, base=base, self_url=self_url,
                 updated=entries[0][0].fetched_at if entries else "1970-01-01T00:00:00Z")
    return Response(body, media_type="application/atom+xml")


def status(request: Request) -> Response:
    history: History = request.app.state.history
    return JSONResponse(health.report(history.settings, history.store))


async def error_page(request: Request, exc: Exception) -> Response:
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "the page could not be made"
    if isinstance(exc, MonitorError):
        code, detail = 503, str(exc)
    return render(request, "error.html.j2", code, code=code, detail=detail)


# -- reading parameters -----------------------------------------------------------------------
def nct_param(value: str) -> str:
    nct = parse_nct(value)
    if nct is None:
        raise BadRequest(f"{value!r} is not an NCT id (NCT followed by 8 digits)")
    return nct


def choice(query: Any, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = query.get(name, "") or default
    if value and value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return str(value)


def integer(query: Any, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}; got {raw!r}")
    return int(raw)


def paging(query: Any, count: int, size: int) -> tuple[int, int]:
    pages = max(1, math.ceil(count / size))
    return integer(query, "page", 1, 1, pages), pages


# -- shaping events for the templates ---------------------------------------------------------
Shown = list[tuple[ChangeEvent, list[ChangeEvent]]]  # an event, and those it stands for


def grouped(events: list[ChangeEvent]) -> list[tuple[str, Shown]]:
    """Events by category (in the order events come), most severe first in each, a
    version's site status changes as one line that opens to show them (folded)."""
    groups: dict[str, Shown] = {}
    for event, parts in folded(events):
        groups.setdefault(event.category, []).append((event, parts))
    return [(c, sorted(es, key=lambda e: -e[0].rank)) for c, es in groups.items()]


def field_row(event: ChangeEvent) -> dict[str, Any]:
    """A changed field side by side; long texts as word runs marked kept / gone / new."""
    row: dict[str, Any] = {"event": event, "old": show(event.old, 10_000),
                           "new": show(event.new, 10_000), "words": None}
    if (isinstance(event.old, str) and isinstance(event.new, str)
            and max(len(event.old), len(event.new)) > LONG_TEXT):
        row["words"] = list(word_edits(event.old, event.new))
    return row


# -- the app, its guard and its server --------------------------------------------------------
@asynccontextmanager
async def few_threads(_app: Starlette) -> AsyncIterator[None]:
    """Pages render in WORKER_THREADS threads: more only fight over the GIL and memory. The
    loop's errors (out of file descriptors) are logged at most once a minute."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
    asyncio.get_running_loop().set_exception_handler(loop_errors)
    try:
        yield
    finally:
        _app.state.history.forms.close()


def on_loop(route: Callable[[Request], Response]) -> Callable[[Request], Awaitable[Response]]:
    """A page drawn on the event loop's own thread, for a store in an SQLite file: its reads
    never wait (WAL), so a page is CPU work alone, which worker threads only make contend
    for the GIL at every read (a trial page drawn cold, 20 clients, runs taken in turns:
    about 95 requests a second in threads, 150 on the loop). On PostgreSQL a query waits on
    the network, and pages are drawn in WORKER_THREADS threads, which go on meanwhile."""

    async def page(request: Request) -> Response:
        return route(request)

    return page


def create_app(settings: Settings | Live, store: Store) -> ASGIApp:
    """The page's ASGI app over a store opened read-only (its forms open their own)."""
    live = Live.of(settings)
    draw = on_loop if store.sqlite else lambda route: route
    routes = [*manage.ROUTES,
        Route("/", draw(overview)), Route("/changes", draw(changes_page)),
        Route("/feed.atom", draw(feed)), Route("/status", draw(status)),
        Route("/trials/{nct}", draw(trial_page)), Route("/trials/{nct}/diff", draw(diff_page)),
        Route("/trials/{nct}/feed.atom", draw(feed)),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: error_page,
                                                       Exception: error_page},
                    lifespan=few_threads)
    app.state.history = History(live, store)
    web = live.settings.web
    return guard.Guard(app, web.token, web.base_url, manage.posts)


def check_binding(web: WebSettings) -> None:
    """Refuse to serve beyond this machine without a token."""
    if not web.loopback and not web.token:
        raise ConfigError(f"web: refusing to listen on {web.host} without [web] token "
                          "(set a token, or listen on 127.0.0.1)")


def listen(web: WebSettings) -> socket.socket:
    """The page's listening socket, bound now so that a taken port is one clear line."""
    check_binding(web)
    family = socket.AF_INET6 if ":" in web.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((web.host, web.port))
    except OSError as exc:
        sock.close()
        raise MonitorError(f"web: cannot listen on {web.host}:{web.port}: "
                           f"{exc.strerror or exc}") from None
    sock.listen(ACCEPT_BURST)
    sock.set_inheritable(True)
    return sock


class Page:
    """The history page served by uvicorn from a thread, over its own read-only store, so
    that the daemon's or serve's main thread keeps the signals and says when to stop; with
    [web] workers, from more processes too (monitor.workers). A worker is given the socket
    its parent listens on."""

    def __init__(self, settings: Settings | Live, sock: socket.socket | None = None) -> None:
        live = Live.of(settings)
        settings = live.settings
        self.sock = listen(settings.web) if sock is None else sock
        self.workers = Workers(settings.path, self.sock,
                               settings.web.workers if sock is None else 1)
        try:
            self.store = Store.open_readonly(settings.store)
        except MonitorError:
            self.sock.close()
            raise
        host = settings.web.host if ":" not in settings.web.host else f"[{settings.web.host}]"
        self.address = f"http://{host}:{self.sock.getsockname()[1]}/"
        import uvicorn  # 38 ms with asyncio: loaded only by the commands that serve

        config = uvicorn.Config(create_app(live, self.store), log_level="warning",
                                access_log=False, lifespan="on", server_header=False,
                                timeout_graceful_shutdown=STOP_SECONDS, http=bounded_h11(),
                                timeout_keep_alive=KEEP_ALIVE_SECONDS, backlog=ACCEPT_BURST)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="web", daemon=True)

    def __enter__(self) -> Page:
        self.thread.start()
        self.workers.__enter__()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.workers.__exit__()
        self.thread.join(STOP_SECONDS + 2)
        self.store.close()
        self.sock.close()
