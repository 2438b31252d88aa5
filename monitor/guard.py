"""The history page's guard (an ASGI middleware): the token, and the headers every answer
gets. The bounds on connections, which come before any token is read, are in
monitor.connections."""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs, quote, unquote_to_bytes, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "ctmonitor_token"
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; style-src 'self'; img-src 'self'; "
                                 b"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


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
    return values[0].encode() if values else None


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
