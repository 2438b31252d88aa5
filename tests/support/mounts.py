"""Small real filesystems for the tests: a tmpfs of a given size, which a test can fill or
make read-only (root ignores file modes, not a read-only mount). Skips, saying why, where
this process may not mount."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise OSError(done.stderr.strip() or f"mount exited {done.returncode}")


@contextmanager
def tmpfs(at: Path, size_kb: int) -> Iterator[Path]:
    """A tmpfs of size_kb mounted at the folder at (made here), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root (the test makes a tmpfs)")
    at.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(at))
    except OSError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    try:
        yield at
    finally:
        subprocess.run(["umount", "-l", str(at)], check=False)


def read_only(at: Path) -> None:
    """Make the tmpfs at the folder at read-only."""
    _mount("-o", "remount,ro", str(at))


def writable(at: Path) -> None:
    _mount("-o", "remount,rw", str(at))
