"""The history page under a flood of idle and half-sent connections, served by a real
daemon allowed 256 file descriptors: its checks go on, the idle connections are closed
(after monitor.connections.HEAD_SECONDS), the page answers again, and the log stays a few
lines. The case counts in the faults summary line."""

from __future__ import annotations

import resource
import select
import socket
import subprocess
from pathlib import Path

import requests

from monitor.config import load
from snapshots.store import Store
from tests.conftest import free_port
from tests.faults.test_faults import ZERO, accepted, record, webhook_table
from tests.faults.world import World
from tests.support.http_sink import HttpSink
from tests.support.registry import FakeRegistry
from tests.support.waiting import WAIT_SECONDS, wait_for

FILE_LIMIT = 256
IDLE = 300  # connections that never send a byte
HALF_SENT = 20  # connections that send part of a request's head, then nothing


def few_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def flood(port: int) -> list[socket.socket]:
    socks = []
    for n in range(IDLE + HALF_SENT):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if n >= IDLE:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(sock)
    return socks


def closed_by_server(socks: list[socket.socket]) -> bool:
    """Whether the page closed every one of the sockets (each reads its end)."""
    open_ = []
    for sock in socks:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            open_.append(sock)
            continue
        try:
            if sock.recv(65536):
                open_.append(sock)  # an answer first; its close comes next
                continue
        except OSError:
            pass
        sock.close()
    socks[:] = open_
    return not socks


def stored_versions(world: World) -> int:
    store = Store.open_readonly(load(world.config).store)
    try:
        return sum(len(store.versions.history(n)) for n in world.ids)
    finally:
        store.close()


def test_idle_connections_neither_starve_the_daemon_nor_stop_the_page(
        tmp_path: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    port = free_port()
    world = World(tmp_path, registry, webhook_table(sink),
                  extra=f'[monitor]\nschedule = "*/2 * * * * *"\njitter = 0\n\n'
                        f"[web]\nenabled = true\nport = {port}\n")
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(world.command(("run", "--now")), stdout=out,
                                  stderr=subprocess.STDOUT, preexec_fn=few_files)
    socks: list[socket.socket] = []
    try:
        status = f"http://127.0.0.1:{port}/status"
        wait_for(lambda: answers(status) and stored_versions(world) == len(world.ids),
                 "the daemon's first check and its page")
        socks = flood(port)
        world.advance(world.ids)
        wait_for(lambda: stored_versions(world) == 2 * len(world.ids),
                 "a check through the flood")
        wait_for(lambda: closed_by_server(socks), "the page to close idle connections")
        wait_for(lambda: answers(status), "the page to answer after the flood")
    finally:
        for sock in socks:
            sock.close()
        daemon.terminate()
        daemon.wait(timeout=WAIT_SECONDS)
    lines = log.read_text().splitlines()
    world.saw(log.read_text())
    assert daemon.returncode == 0, lines
    assert len([line for line in lines if "web:" in line]) <= 2, lines
    assert record(world, world.account(accepted(sink), "hook")) == ZERO
