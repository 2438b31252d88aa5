"""More processes for the history page ([web] workers = N): the process that listens
(`serve`, or the daemon with [web] enabled) starts N - 1 more of `ctmonitor serve`, each
handed the listening socket, and the kernel shares its connections among them. A page is
Python that runs one thread at a time, so a second process is a second core drawing pages
(`make bench-web`, a trial page drawn cold, 20 clients, 2 cores: p95 128 ms in one process,
93 ms in two). Each worker reads the config and the store itself; what one process knows that
another must (a form's note) travels with the browser, in a cookie (monitor.manage).

A worker stops when its parent closes the pipe on the worker's standard input, which also
happens when the parent dies however it dies; so no worker outlives the page it serves.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
from pathlib import Path

log = logging.getLogger("ctmonitor")
SOCKET_FLAG = "--listening-fd"  # serve's hidden option: serve this socket, as a worker
STOP_SECONDS = 8  # a worker gets this long to finish its requests, then it is killed


class Workers:
    """The N - 1 worker processes of a page that listens on sock."""

    def __init__(self, config: Path, sock: socket.socket, count: int) -> None:
        self.config = config
        self.sock = sock
        self.count = count
        self.running: list[subprocess.Popen[bytes]] = []
        self.stopping = threading.Event()

    def __enter__(self) -> Workers:
        fd = self.sock.fileno()
        for _ in range(self.count - 1):
            worker = subprocess.Popen(
                [sys.executable, "-m", "monitor", "--config", str(self.config.resolve()), "serve",
                 SOCKET_FLAG, str(fd)], pass_fds=(fd,), stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL)
            self.running.append(worker)
            threading.Thread(target=self._watch, args=(worker,), name="web worker",
                             daemon=True).start()
        return self

    def _watch(self, worker: subprocess.Popen[bytes]) -> None:
        """Say so when a worker stops on its own (the other processes go on serving)."""
        code = worker.wait()
        if not self.stopping.is_set():
            log.error("web: a worker process of the page stopped (exit status %s); the "
                      "other processes go on serving", code)

    def __exit__(self, *_exc: object) -> None:
        self.stopping.set()
        for worker in self.running:
            if worker.stdin:
                worker.stdin.close()  # its cue to stop
        for worker in self.running:
            try:
                worker.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def until_parent_goes(stop: threading.Event) -> None:
    """In a worker: set stop when standard input closes (the parent stopped, or died)."""

    def wait() -> None:
        try:
            sys.stdin.buffer.read()
        finally:
            stop.set()

    threading.Thread(target=wait, name="parent", daemon=True).start()
