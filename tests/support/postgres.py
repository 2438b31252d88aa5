"""A real PostgreSQL server for the tests: a cluster in a temporary folder, on a free
loopback port, removed afterwards.

PostgreSQL refuses to run as root, and the machines run everything as root: there the
cluster runs as the `postgres` system user (runuser), elsewhere as the current user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from itertools import count
from pathlib import Path

import psycopg

from tests.support.local_server import free_port

SERVER_USER = "postgres"
BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # newest first


def binary(name: str) -> str | None:
    for folder in BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


def missing() -> str | None:
    """Why no test cluster can be made here, or None when it can."""
    if binary("initdb") is None or binary("pg_ctl") is None:
        return "PostgreSQL's initdb/pg_ctl are not installed (.ci/run installs them)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: cannot start PostgreSQL as another user"
    return None


class Cluster:
    """initdb + pg_ctl start in a temp folder; databases made on demand; stop removes it."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ctmonitor-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.names = count(1)
        self.as_root = os.geteuid() == 0

    def run(self, *command: str) -> None:
        prefix = ["runuser", "-u", SERVER_USER, "--"] if self.as_root else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command[:2])} failed: {done.stderr.strip()}")

    def start(self) -> Cluster:
        if self.as_root:
            shutil.chown(self.folder, SERVER_USER, SERVER_USER)
        self.run(str(binary("initdb")), "-D", str(self.data), "-U", SERVER_USER,
                 "--auth=trust", "--encoding=UTF8", "--locale=C", "-N")
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        self.run(str(binary("pg_ctl")), "-D", str(self.data), "-o", options,
                 "-l", str(self.folder / "server.log"), "-w", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"store{next(self.names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self.run(str(binary("pg_ctl")), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
