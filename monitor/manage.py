"""The history page's forms, only with [web] token set (a page without one stays
read-only): mark all seen, track and untrack trials, add and remove search watches, mute
and unmute.

Every form is a POST from the page's own origin (monitor.guard) carrying the CSRF token of
its browser (an HMAC of the browser's cookie). Trials and watches are edited in the config
file, which stays their truth (monitor.tracking); the daemon reads it again before its next
check (monitor.live). Mutes and seen marks are the store's. Each form answers 303 back to
the page it came from, with a note of what was done (or why not) shown there once: the note
rides in a signed cookie, so that whichever of the page's processes draws the next page
shows it ([web] workers).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match, Route

from monitor import mutes, tracking
from monitor.live import Live
from monitor.watches import QUERY_KEYS
from snapshots.errors import MonitorError
from snapshots.store import Store
from snapshots.wording import plural

if TYPE_CHECKING:
    from monitor.web import History

MAX_FORM_BYTES = 64 * 1024
NOTE_COOKIE = "ctmonitor_note"  # a form's note, for the page it goes back to
NOTE_CHARS = 600  # a longer note is cut (a cookie holds 4 KB, and a character up to 4 bytes)
NOTE_SECONDS = 300  # a note not shown by then is dropped
FORM_TYPE = "application/x-www-form-urlencoded"
WATCH_FIELDS = {"cond": "query.cond", "term": "query.term"}  # the form's fields, as params
WATCH_NAME = r"[A-Za-z0-9_-]{1,40}"


class Forms:
    """What one page's forms need: their CSRF tokens (keyed by [web] token when set, so that
    forms stay good across restarts and in every process of the page; else by a key of this
    process), the note each form leaves its browser, and a store to write (opened at the
    first form that needs it)."""

    def __init__(self, live: Live) -> None:
        web = live.settings.web
        self.key = hashlib.sha256(b"ctmonitor csrf " + web.token.encode()).digest() \
            if web.token else secrets.token_bytes(32)
        self.secure = (web.base_url or "").startswith("https://")
        self.live = live
        self._writer: Store | None = None
        self._lock = threading.Lock()

    def csrf(self, browser: str) -> str:
        return hmac.new(self.key, browser.encode(), hashlib.sha256).hexdigest()

    def valid(self, browser: str, given: str) -> bool:
        return hmac.compare_digest(self.csrf(browser), given)

    def writer(self) -> Store:
        with self._lock:
            if self._writer is None:
                self._writer = Store.open(self.live.settings.store)
            return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def leave_note(self, answer: Response, browser: str, note: str) -> None:
        """The note goes with the answer, signed for its browser, to be shown once."""
        if len(note) > NOTE_CHARS:
            note = note[:NOTE_CHARS - 1] + "…"
        text = base64.urlsafe_b64encode(note.encode()).decode().rstrip("=")
        answer.set_cookie(NOTE_COOKIE, f"{text}.{self._signed(browser, text)}",
                          max_age=NOTE_SECONDS, httponly=True, samesite="strict",
                          secure=self.secure)

    def note_of(self, request: Request) -> str | None:
        """The note the browser's last form left it (None: none, or not signed for it)."""
        text, _, mac = request.cookies.get(NOTE_COOKIE, "").partition(".")
        if not text or not hmac.compare_digest(mac, self._signed(request.state.browser, text)):
            return None
        try:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None

    def shown(self, request: Request, answer: Response) -> None:
        """A page that showed the note (or could not) drops its cookie."""
        if NOTE_COOKIE in request.cookies:
            answer.delete_cookie(NOTE_COOKIE, httponly=True, samesite="strict",
                                 secure=self.secure)

    def _signed(self, browser: str, text: str) -> str:
        return hmac.new(self.key, f"note {browser} {text}".encode(), hashlib.sha256).hexdigest()


Action = Callable[["History", dict[str, str], Request], str]


def form_route(path: str, action: Action) -> Route:
    """A POST route: the form read and checked, then action (in a worker thread, as pages
    are drawn) gives the note; a MonitorError is the note of a refusal."""

    async def endpoint(request: Request) -> Response:
        history: History = request.app.state.history
        if not history.writable:
            raise HTTPException(403, "this page is read-only: set [web] token in the config "
                                "to use its forms")
        form = await read_form(request)
        browser = request.state.browser
        if not history.forms.valid(browser, form.get("csrf", "")):
            raise HTTPException(403, "the form has expired or is not this page's: reload the "
                                "page and send it again")
        try:
            note = await anyio.to_thread.run_sync(action, history, form, request)
        except MonitorError as exc:
            note = f"Not done: {exc}"
        answer = RedirectResponse(back_to(form.get("next", "")), 303)
        history.forms.leave_note(answer, browser, note)
        return answer

    return Route(path, endpoint, methods=["POST"])


async def read_form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").split(";")[0].strip() != FORM_TYPE:
        raise HTTPException(415, f"a form is sent as {FORM_TYPE}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, f"a form is at most {MAX_FORM_BYTES // 1024} KiB")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[-1] for key, values in fields.items()}


def back_to(target: str) -> str:
    """Where a form goes back to: a path of this page only (never another site)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def nct_of(request: Request) -> str:
    return tracking.parse_ids([request.path_params["nct"]])[0]


# -- the actions --------------------------------------------------------------------------------
def mark_seen(history: History, _form: dict[str, str], request: Request) -> str:
    through = history.forms.writer().seen.mark_all(request.state.browser)
    return "Marked all seen: what comes from now on is marked new." if through else \
        "Nothing stored yet to mark."


def track(history: History, form: dict[str, str], _request: Request) -> str:
    ids = tracking.pasted_ids(form.get("ids", ""))
    added, already = tracking.edit_ids(history.settings.path, add=ids)
    note = f"Now tracking {', '.join(added)}; the next check fetches them." if added else ""
    if already:
        note += f" Tracked already: {', '.join(already)}."
    return note.strip()


def untrack(history: History, _form: dict[str, str], request: Request) -> str:
    nct = nct_of(request)
    removed, _ = tracking.edit_ids(history.settings.path, remove=[nct])
    return (f"No longer tracking {nct} (its history stays in the store)." if removed
            else f"{nct} was not tracked.")


def mute(history: History, form: dict[str, str], request: Request) -> str:
    nct = tracked(history, request)
    until = mutes.until_day(form.get("until") or None, mutes.today())
    history.forms.writer().versions.mute([nct], until)
    return (f"{nct} muted{' until ' + until if until else ''}: still checked and stored, "
            f"its alerts held back.")


def unmute(history: History, _form: dict[str, str], request: Request) -> str:
    nct = tracked(history, request)
    released = mutes.unmute(history.forms.writer(), history.settings, [nct])
    fate = "to be sent" if history.settings.held_alerts == "send" else "dropped"
    return f"{nct} unmuted; {plural(released, 'held alert')} {fate}."


def tracked(history: History, request: Request) -> str:
    return tracking.tracked_ids(history.settings, [request.path_params["nct"]])[0]


def add_watch(history: History, form: dict[str, str], _request: Request) -> str:
    name = form.get("name", "").strip()
    if not re.fullmatch(WATCH_NAME, name):
        raise MonitorError("a watch's name is 1 to 40 letters, digits, - or _")
    params = {WATCH_FIELDS[k]: form[k].strip() for k in WATCH_FIELDS if form.get(k, "").strip()}
    if not params:
        raise MonitorError("a watch needs a condition or search words")
    tracking.add_watch(history.settings.path, name, params, form.get("track") == "on")
    return f"Watch {name} added; its first run, at the next check, is its baseline."


def remove_watch(history: History, _form: dict[str, str], request: Request) -> str:
    name = request.path_params["name"]
    tracking.remove_watch(history.settings.path, name)
    return f"Watch {name} removed."


ROUTES = [
    form_route("/seen", mark_seen),
    form_route("/trials", track),
    form_route("/trials/{nct}/untrack", untrack),
    form_route("/trials/{nct}/mute", mute),
    form_route("/trials/{nct}/unmute", unmute),
    form_route("/watches", add_watch),
    form_route("/watches/{name}/remove", remove_watch),
]
assert set(WATCH_FIELDS.values()) <= set(QUERY_KEYS)


def posts(path: str) -> bool:
    """The paths the page's forms are sent to (the guard lets POST through to these)."""
    scope = {"type": "http", "path": path, "method": "POST"}
    return any(route.matches(scope)[0] is Match.FULL for route in ROUTES)
