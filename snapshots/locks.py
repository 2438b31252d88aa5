"""File locks that keep one writer per store: flock on a file beside it holding the pid."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from snapshots.errors import StoreBusy

PID_BYTES = 32


@contextmanager
def hold(path: Path | None, doing: str) -> Iterator[None]:
    """An exclusive flock on path holding our pid; StoreBusy naming the holder if taken.

    The kernel drops the lock when the process dies, even by SIGKILL.
    """
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, PID_BYTES, 0).decode(errors="replace").strip() or "?"
            raise StoreBusy(f"store is busy: process {pid} is {doing}; "
                            "try again when it is done") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def holder(path: Path | None) -> int | None:
    """The pid holding the lock on path, or None when nobody does."""
    if path is None or not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(fd, PID_BYTES, 0).decode(errors="replace").strip()
        return int(text) if text.isdigit() else -1
    finally:
        os.close(fd)
    return None
