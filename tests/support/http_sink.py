"""A local HTTP endpoint standing in for Slack or a webhook receiver: records every POST
and answers from a script (status, headers, delay), then 200."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


class HttpSink:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[Answer] = []
        self.down = False  # answer 503 to everything while True
        self.on_post: Callable[[Received], None] | None = None
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"sink": self}))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def next_answer(self) -> Answer:
        if self.down:
            return Answer(503)
        return self.script.pop(0) if self.script else Answer()


class _Handler(BaseHTTPRequestHandler):
    sink: HttpSink
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        received = Received(self.path, dict(self.headers), json.loads(body or b"null"))
        self.sink.received.append(received)
        if self.sink.on_post:
            self.sink.on_post(received)
        answer = self.sink.next_answer()
        if answer.delay:
            time.sleep(answer.delay)
        data = b"ok"
        self.send_response(answer.status)
        self.send_header("Content-Length", str(len(data)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
