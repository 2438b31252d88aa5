"""The history page's guard (an ASGI middleware): the token, the browser's cookie, forms
only from the page itself, and the headers every answer gets. The bounds on connections,
which come before any token is read, are in monitor.connections."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from urllib.parse import parse_qs, quote, unquote_to_bytes, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "ctmonitor_token"
BROWSER_COOKIE = "ctmonitor_browser"  # who marked what seen, and whose form it is
BROWSER_YEARS = 1
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; style-src 'self'; img-src 'self'; "
                                 b"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class Guard:
    """Every answer gets the security headers; GET and HEAD are served, POST only where
    posts(path) says (the page's forms) and only from the page's own origin; with a token
    set, every request must carry it (Bearer header, ?token= or the cookie a matching
    ?token= sets). A browser without the browser cookie gets one (request.state.browser).
    A redirect names no host: the request's Host header is the client's."""

    def __init__(self, app: ASGIApp, token: str | None, base_url: str | None,
                 posts: Callable[[str], bool] = lambda _path: False) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.https = (base_url or "").startswith("https://")
        self.origin = origin_of(base_url) if base_url else None
        self.posts = posts
        self.cookie = self.cookie_line(TOKEN_COOKIE, token or "")

    def cookie_line(self, name: str, value: str, extra: str = "") -> bytes:
        return (f"{name}={quote(value, safe='')}; Path=/; HttpOnly; SameSite=Strict{extra}"
                f"{'; Secure' if self.https else ''}").encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra: list[tuple[bytes, bytes]] = []
        posting = scope["method"] == "POST" and self.posts(scope["path"])
        if scope["method"] not in ("GET", "HEAD") and not posting:
            allow = b"GET, HEAD, POST" if self.posts(scope["path"]) else b"GET, HEAD"
            return await self.refuse(send, 405, b"only GET and HEAD are served here, and "
                                     b"POST from the page's forms", [(b"allow", allow)])
        if posting and not self.same_origin(scope):
            return await self.refuse(send, 403, b"refused: a form must come from this page "
                                     b"(its Origin is another site, or not given)", [])
        if self.token is not None:
            from_query = self.matches(query_token(scope))
            if not (from_query or any(map(self.matches, given_tokens(scope)))):
                return await self.refuse(send, 401, b"a token is needed: Authorization: "
                                         b"Bearer TOKEN, or ?token=TOKEN",
                                         [(b"www-authenticate", b"Bearer")])
            if from_query:
                extra.append((b"set-cookie", self.cookie))
        browser = cookie_values(scope, BROWSER_COOKIE)
        if not browser:
            browser = [secrets.token_urlsafe(18)]
            extra.append((b"set-cookie", self.cookie_line(
                BROWSER_COOKIE, browser[0], f"; Max-Age={BROWSER_YEARS * 365 * 86400}")))
        scope.setdefault("state", {})["browser"] = browser[0]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, relative(v) if k.lower() == b"location" else v)
                           for k, v in message.get("headers", [])]
                message["headers"] = [*headers, *SECURITY_HEADERS, *extra]
            await send(message)

        await self.app(scope, receive, with_headers)

    def same_origin(self, scope: Scope) -> bool:
        """The request's Origin is this page (its Host, or [web] base_url behind a proxy);
        a browser that sends no Origin must say Sec-Fetch-Site: same-origin."""
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin and origin != "null":
            host = headers.get(b"host", b"").decode("latin-1")
            return origin in (f"http://{host}", f"https://{host}", self.origin)
        return headers.get(b"sec-fetch-site") == b"same-origin"

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
    given += [value.encode() for value in cookie_values(scope, TOKEN_COOKIE)]
    return given


def cookie_values(scope: Scope, name: str) -> list[str]:
    headers = dict(scope["headers"])
    found = []
    for part in headers.get(b"cookie", b"").split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key == name.encode() and value:
            found.append(unquote_to_bytes(value).decode("utf-8", "replace"))
    return found


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def relative(location: bytes) -> bytes:
    """A redirect's target without scheme and host (Starlette builds them from Host)."""
    parts = urlsplit(location.decode("latin-1"))
    return (parts.path or "/").encode("latin-1") + (b"?" + parts.query.encode("latin-1")
                                                    if parts.query else b"")
