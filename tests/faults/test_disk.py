"""The store's filesystem in trouble, with real `ctmonitor` processes on a real small
filesystem: a disk that fills during a check, and a store that can only be read."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import requests

from monitor.config import load
from monitor.web import Page
from tests.faults.test_faults import ZERO, accepted, record, webhook_table
from tests.faults.world import World, day_record
from tests.support import mounts
from tests.support.builder import changed
from tests.support.http_sink import HttpSink
from tests.support.registry import FakeRegistry
from tests.support.stores import BACKEND

DISK_KB = 8192
BIG_TEXT = 1_000_000  # characters of a description that does not compress

pytestmark = pytest.mark.skipif(BACKEND.postgresql, reason="the store is a PostgreSQL "
                                "database, not a file on the test's filesystem")


def incompressible(size: int) -> str:
    rng = random.Random(20261201)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(size))


def fill(folder: Path, leave_bytes: int) -> Path:
    """A file that takes all of folder's filesystem but leave_bytes."""
    stat = os.statvfs(folder)
    filler = folder / "filler"
    filler.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave_bytes))
    return filler


@pytest.mark.parametrize("room", [64 * 1024, int(BIG_TEXT * 1.8)],
                         ids=["no room for the new version", "room for the WAL, not the file"])
def test_a_full_disk_fails_the_check_cleanly_and_the_next_goes_on(
        room: int, tmp_path: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    with mounts.tmpfs(tmp_path / "disk", DISK_KB) as disk:
        world = World(disk, registry, webhook_table(sink))
        first = world.check()
        assert first is not None and first.returncode == 0, first and first.stderr
        world.advance(world.ids)
        big = world.ids[0]
        world.put(changed(day_record(big, world.day), "protocolSection.descriptionModule."
                          "detailedDescription", incompressible(BIG_TEXT)))
        filler = fill(disk, room)
        full = world.check()
        assert full is not None
        assert len(full.stderr.strip().splitlines()) == 1, full.stderr
        assert "full" in full.stderr, full.stderr
        filler.unlink()
        after = world.check()
        assert after is not None and after.returncode == 0, after and after.stderr
        assert record(world, world.account(accepted(sink), "hook")) == ZERO


def test_a_read_only_store_can_be_read(tmp_path: Path, registry: FakeRegistry,
                                       sink: HttpSink) -> None:
    """A backup, or a colleague's copy on a read-only mount: every reading command works
    there, and a check says in one line why it cannot."""
    with mounts.tmpfs(tmp_path / "disk", DISK_KB) as disk:
        world = World(disk, registry, webhook_table(sink))
        for _ in range(2):
            done = world.check()
            assert done is not None and done.returncode == 0, done and done.stderr
            world.advance(world.ids)
        mounts.read_only(disk)
        try:
            nct = world.ids[0]
            for command in (["list"], ["history", nct], ["show", nct], ["status"],
                            ["diff", nct]):
                done = world.run(command)
                assert done.returncode == 0, (command, done.stderr)
                assert done.stdout.strip(), command
            with Page(load(world.config)) as page:
                answer = requests.get(f"{page.address}trials/{nct}", timeout=10)
                assert answer.status_code == 200 and nct in answer.text
            refused = world.run(["check"])
            assert refused.returncode != 0 and len(refused.stderr.splitlines()) == 1, \
                refused.stderr
            assert "read-only" in refused.stderr or "readonly" in refused.stderr
        finally:
            mounts.writable(disk)
