"""[web] workers: the page served by several processes on one socket, each able to serve
alone (the others stopped with SIGSTOP), a form's note shown by another process than the
one that took the form, and no worker outliving its page however the page stops."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from monitor.cli import main
from monitor.config import load
from monitor.manage import NOTE_COOKIE
from snapshots.errors import ConfigError
from tests.conftest import free_port, write_config
from tests.support.builder import study
from tests.support.registry import FakeRegistry
from tests.support.waiting import wait_for

TOKEN = "s3cret"
A, B = "NCT09000001", "NCT09000002"


@pytest.fixture
def config(tmp_path: Path, registry: FakeRegistry) -> Path:
    registry.put(study(A))
    path = write_config(tmp_path, registry.base_url, [A],
                        f'[web]\nport = {free_port()}\ntoken = "{TOKEN}"\nworkers = 2\n')
    assert main(["--config", str(path), "check"]) == 0
    return path


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def gone(pid: int) -> bool:
    """The process ended (a zombie too: who reaps an orphan is not the test's to say)."""
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


def stopped(pid: int) -> None:
    """SIGSTOP the process and wait until every thread of it has stopped (the signal takes
    a moment: a thread still running could accept the next connection and hold it)."""
    os.kill(pid, signal.SIGSTOP)

    def all_stopped() -> bool:
        states = [(task / "status").read_text() for task in Path(f"/proc/{pid}/task").iterdir()]
        return all("\nState:\tT" in state for state in states)

    wait_for(all_stopped, f"process {pid} to stop")


def sockets(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


@pytest.fixture
def page(config: Path) -> Iterator[tuple[subprocess.Popen[str], int, str]]:
    """`ctmonitor serve` with workers = 2: the process, its worker's pid, the page's URL."""
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().split(" at ")[-1].strip().rstrip("/")
        [worker] = wait_for(lambda: children(proc.pid), "the worker process")
        wait_for(lambda: ask(address, "/status").status_code == 200, "the page")
        yield proc, worker, address
    finally:
        for pid in [proc.pid, *children(proc.pid)] if proc.poll() is None else []:
            os.kill(pid, signal.SIGCONT)
        proc.kill()
        proc.wait()


def ask(address: str, path: str, cookies: dict[str, str] | None = None,
        form: dict[str, str] | None = None) -> requests.Response:
    """One request on a connection of its own (a stopped process holds none); a worker that
    is still starting takes it from the socket's queue when it is ready."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Connection": "close"}
    if form is None:
        return requests.get(address + path, headers=headers, cookies=cookies, timeout=30)
    return requests.post(address + path, data=form, cookies=cookies, allow_redirects=False,
                         headers={**headers, "Origin": address}, timeout=30)


def test_each_process_serves_and_a_note_crosses_between_them(
        config: Path, page: tuple[subprocess.Popen[str], int, str]) -> None:
    proc, worker, address = page
    listening = sockets(proc.pid) & sockets(worker)
    assert listening, "the worker does not share the page's socket"
    stopped(proc.pid)  # only the worker can answer
    first = ask(address, f"/trials/{A}")
    assert first.status_code == 200 and A in first.text
    cookies = {"ctmonitor_browser": str(first.cookies["ctmonitor_browser"])}
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', first.text)
    assert csrf
    answer = ask(address, "/trials", cookies, {"csrf": csrf.group(1), "ids": B, "next": "/"})
    assert answer.status_code == 303
    cookies[NOTE_COOKIE] = str(answer.cookies[NOTE_COOKIE])
    stopped(worker)
    os.kill(proc.pid, signal.SIGCONT)  # only the page's first process can answer
    shown = ask(address, "/", cookies)
    assert f"Now tracking {B}; the next check fetches them." in shown.text
    assert load(config).trial_ids == (A, B)
    os.kill(worker, signal.SIGCONT)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert gone(worker)  # the page waited for it


def test_no_worker_outlives_its_page_and_a_lost_worker_is_said(
        page: tuple[subprocess.Popen[str], int, str]) -> None:
    proc, worker, address = page
    os.kill(worker, signal.SIGKILL)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "a worker process of the page stopped (exit status -9)" in line, line
    assert ask(address, f"/trials/{A}").status_code == 200  # the page goes on
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def test_a_worker_stops_when_its_page_is_killed(
        page: tuple[subprocess.Popen[str], int, str]) -> None:
    proc, worker, _address = page
    proc.kill()  # no chance to stop its workers: they see their input close
    proc.wait()
    wait_for(lambda: gone(worker), "the worker to stop")


@pytest.mark.parametrize("value", ["0", "33", '"two"'])
def test_workers_must_be_a_small_count(tmp_path: Path, registry: FakeRegistry,
                                       value: str) -> None:
    path = write_config(tmp_path, registry.base_url, [A], f"[web]\nworkers = {value}\n")
    with pytest.raises(ConfigError, match=r"web\.workers"):
        load(path)
