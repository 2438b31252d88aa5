"""What `python -m build` makes: a wheel with every file the program reads, an sdist whose
tests can run; .gitignore covers what a build leaves in the tree."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.one_backend  # no store: the SQLite run is enough

ROOT = Path(__file__).resolve().parent.parent
PROGRAM_FILES = ("monitor/templates/init-config.toml", "monitor/templates/trial.html.j2",
                 "monitor/static/style.css", "notifiers/templates/email.html.j2",
                 "snapshots/migrations/script.py.mako")


def test_the_wheel_and_sdist_hold_what_they_must(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                           str(tmp_path), str(ROOT)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "absent from the `packages` configuration" not in done.stdout + done.stderr
    [wheel] = tmp_path.glob("*.whl")
    [sdist] = tmp_path.glob("*.tar.gz")
    wheeled = set(zipfile.ZipFile(wheel).namelist())
    assert set(PROGRAM_FILES) <= wheeled
    with tarfile.open(sdist) as tar:
        packed = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {"tests/conftest.py", "tests/support/registry.py", "tests/faults/world.py",
            "tests/data/store-0.1.0.db", "Makefile", "config.toml", *PROGRAM_FILES} <= packed
    assert not [n for n in packed if "__pycache__" in n or n.endswith(".pyc")]
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert {"build/", "dist/", "*.egg-info/"} <= set(ignored)  # what a build leaves
