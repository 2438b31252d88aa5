"""Bounds on the history page's connections, applied before any token is read: uvicorn's
HTTP/1.1 protocol held to a time for each request's head, a cap on open connections (the
daemon shares the process's file descriptors), and the event loop's resource errors logged
at most once a minute."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

HEAD_SECONDS = 10  # to send a request's head (the request line and headers)
KEEP_ALIVE_SECONDS = 5  # an idle kept-alive connection is closed after this
MAX_CONNECTIONS = 64  # open at once; more are closed as they come
ACCEPT_BURST = 16  # the listen backlog, and so what asyncio accepts in one go
LOG_EVERY_SECONDS = 60.0
log = logging.getLogger("ctmonitor.web")


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


def connection_cap() -> int:
    """MAX_CONNECTIONS, or a quarter of the process's file descriptors when that is less:
    asyncio accepts a burst before the first is closed, and the daemon's store, registry
    and channels must always find a descriptor free."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return MAX_CONNECTIONS
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, soft // 4 - ACCEPT_BURST))


def loop_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The page's event loop errors (an accept() out of file descriptors, above all), each
    kind logged at most once a minute, in one line."""
    exc = context.get("exception")
    THROTTLED.warning("web: %s%s", context.get("message", "error"),
                      f" ({exc})" if exc else "")


@functools.cache
def bounded_h11() -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol with a time for each request's head and a cap on open
    connections, both applied before any token is read. Made on first use: uvicorn loads
    only with the commands that serve."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    cap = connection_cap()

    class BoundedH11(H11Protocol):

        head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            over = len(self.connections) >= cap
            super().connection_made(transport)
            if over:
                THROTTLED.warning("web: %d connections open; closing new ones", cap)
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

    return BoundedH11
