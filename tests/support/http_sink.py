"""A local HTTP endpoint standing in for Slack or a webhook receiver: records every POST
and answers from a script (status, headers, delay), then 200."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.local_server import LocalServer, QuietHandler


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # read the request, then close the connection without an answer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0  # what it was answered (0: the connection was dropped)
    raw: bytes = b""  # the body as sent (what a signature covers)


class HttpSink(LocalServer):
    def __init__(self) -> None:
        super().__init__()
        self.received: list[Received] = []
        self.script: list[Answer] = []
        self.down = False  # answer 503 to everything while True
        self.on_post: Callable[[Received], None] | None = None

    def start(self) -> str:
        self.serve(type("Handler", (_Handler,), {"sink": self}))
        return self.url

    @property
    def url(self) -> str:
        return f"{self.origin}/hook"

    def next_answer(self) -> Answer:
        if self.down:
            return Answer(503)
        return self.script.pop(0) if self.script else Answer()


def _json(body: bytes) -> Any:
    """A JSON body, None for any other (a form, XML)."""
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


class _Handler(QuietHandler):
    sink: HttpSink

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        if len(body) < length:  # the sender went away mid-body (killed): nothing was sent
            self.close_connection = True
            return
        received = Received(self.path, dict(self.headers), _json(body), raw=body)
        self.sink.received.append(received)
        if self.sink.on_post:
            self.sink.on_post(received)
        answer = self.sink.next_answer()
        if answer.delay:
            time.sleep(answer.delay)
        if answer.drop:
            self.close_connection = True
            return
        received.status = answer.status
        self.send(answer.status, b"ok", answer.headers, "text/plain")
