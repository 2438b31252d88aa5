"""What stands between the history page and the network: the token and the headers every
answer gets (an ASGI middleware), and bounds on connections that come before any token is
read (uvicorn's HTTP protocol, held to a time for each request's head, a cap on open
connections and a resource error logged at most once a minute)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from typing import Any
from urllib.parse import parse_qs, quote, unquote_to_bytes, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

TOKEN_COOKIE = "ctmonitor_token"
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; style-src 'self'; img-src 'self'; "
                                 b"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
HEAD_SECONDS = 10  # to send a request's head (the request line and headers)
KEEP_ALIVE_SECONDS = 5  # an idle kept-alive connection is closed after this
MAX_CONNECTIONS = 64  # open at once; more are closed as they come (the daemon needs its fds)
LOG_EVERY_SECONDS = 60.0
log = logging.getLogger("ctmonitor.web")


class Guard:
    """Every answer gets the security headers; only GET and HEAD are served; with a token
    set, every request must carry it (Bearer header, ?token= or the cookie a matching
    ?token= sets). A redirect names no host: the request's Host header is the client's."""

    def __init__(self, app: ASGIApp, token: str | None, https: bool) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.cookie = (f"{TOKEN_COOKIE}={quote(token or '', safe='')}; Path=/; HttpOnly; "
                       f"SameSite=Strict{'; Secure' if https else ''}").encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra: list[tuple[bytes, bytes]] = []
        if scope["method"] not in ("GET", "HEAD"):
            return await self.refuse(send, 405, b"only GET and HEAD are served here",
                                     [(b"allow", b"GET, HEAD")])
        if self.token is not None:
            from_query = self.matches(query_token(scope))
            if not (from_query or any(map(self.matches, given_tokens(scope)))):
                return await self.refuse(send, 401, b"a token is needed: Authorization: "
                                         b"Bearer TOKEN, or ?token=TOKEN",
                                         [(b"www-authenticate", b"Bearer")])
            if from_query:
                extra.append((b"set-cookie", self.cookie))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, relative(v) if k.lower() == b"location" else v)
                           for k, v in message.get("headers", [])]
                message["headers"] = [*headers, *SECURITY_HEADERS, *extra]
            await send(message)

        await self.app(scope, receive, with_headers)

    def matches(self, given: bytes | None) -> bool:
        assert self.token is not None
        return given is not None and hmac.compare_digest(given, self.token)  # constant time

    @staticmethod
    async def refuse(send: Send, code: int, text: bytes,
                     headers: list[tuple[bytes, bytes]]) -> None:
        await send({"type": "http.response.start", "status": code,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"), *headers,
                                *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": text + b"\n"})


def query_token(scope: Scope) -> bytes | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0].encode("latin-1") if values else None


def given_tokens(scope: Scope) -> list[bytes]:
    """The tokens of the Bearer header and of the cookie."""
    headers = dict(scope["headers"])
    given = []
    auth = headers.get(b"authorization", b"")
    if auth[:7].lower() == b"bearer ":
        given.append(auth[7:].strip())
    for part in headers.get(b"cookie", b"").split(b";"):
        name, _, value = part.strip().partition(b"=")
        if name == TOKEN_COOKIE.encode():
            given.append(unquote_to_bytes(value))
    return given


def relative(location: bytes) -> bytes:
    """A redirect's target without scheme and host (Starlette builds them from Host)."""
    parts = urlsplit(location.decode("latin-1"))
    return (parts.path or "/").encode("latin-1") + (b"?" + parts.query.encode("latin-1")
                                                    if parts.query else b"")


class Throttled:
    """A log message at most once per LOG_EVERY_SECONDS (a flood of refused connections
    must not write a flood of lines)."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self.last.get(message, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS:
            self.last[message] = now
            log.warning(message, *args)


THROTTLED = Throttled()


def loop_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The page's event loop errors (an accept() out of file descriptors, above all), each
    kind logged at most once a minute, in one line."""
    exc = context.get("exception")
    THROTTLED.warning("web: %s%s", context.get("message", "error"),
                      f" ({exc})" if exc else "")


class BoundedH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a time for each request's head and a cap on open
    connections, both applied before any token is read."""

    head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        over = len(self.connections) >= MAX_CONNECTIONS
        super().connection_made(transport)
        if over:
            THROTTLED.warning("web: %d connections open; closing new ones", MAX_CONNECTIONS)
            transport.close()
            return
        self.arm_head_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.waiting_for_head():
            self.arm_head_timer()
        elif self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
        super().connection_lost(exc)

    def waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def arm_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(HEAD_SECONDS, self.head_timeout)

    def head_timeout(self) -> None:
        self.head_timer = None
        if self.waiting_for_head() and not self.transport.is_closing():
            self.transport.close()
