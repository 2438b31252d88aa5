"""The command line: documented, one-line errors, compare, track/untrack."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from monitor import config
from monitor.cli import COMMANDS, build_parser, main
from snapshots.errors import StoreError
from tests.conftest import shared, write_config
from tests.support.builder import study
from tests.support.registry import Fault

ROOT = Path(__file__).resolve().parent.parent


def test_every_command_is_documented_with_help_text() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    for command in COMMANDS:
        name, help_text = command.name, command.help
        assert f"`ctmonitor {name}" in readme or f"/ `{name} " in readme, name
        assert help_text
        sub = parser._subparsers._group_actions[0].choices[name]  # type: ignore[union-attr,index]
        assert sub.format_help()


def test_python_dash_m_is_the_same_program() -> None:
    done = subprocess.run([sys.executable, "-m", "monitor", "--version"], capture_output=True,
                          text=True, cwd=ROOT, check=True)
    assert done.stdout.startswith("ctmonitor ")


# Libraries that only some commands use, imported where those commands use them: every
# command's start is what `list` and `history` cost (issue 14), and these are 0.26 s of it.
LOADED_WHEN_USED = ("requests", "urllib3", "bs4", "uvicorn", "jinja2", "tomlkit", "rich",
                    "sqlalchemy.dialects.postgresql", "apscheduler.schedulers")


def test_the_program_starts_without_the_libraries_only_some_commands_use() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, monitor.cli; "
         f"print(' '.join(m for m in {LOADED_WHEN_USED!r} if m in sys.modules))"],
        capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_compare_reads_a_pair_as_a_clinician(capsys: pytest.CaptureFixture[str]) -> None:
    old = shared("pairs", "NCT05935098_2026-03-12.json")
    new = shared("pairs", "NCT05935098_2026-03-13.json")
    assert main(["compare", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "status\n  [critical] Overall status: Active, not recruiting -> Terminated" in out
    assert ("  [notable] Primary completion: 2027-03-31 (estimated) -> 2026-01-27 (actual), "
            "428 days earlier") in out
    assert main(["compare", str(old), str(new), "--json"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert events[0]["field"] == "overallStatus"
    assert set(events[0]) == {"nct_id", "category", "field", "path", "old", "new", "severity",
                              "summary"}


def test_compare_of_a_noise_pair_says_no_changes(capsys: pytest.CaptureFixture[str]) -> None:
    old = shared("pairs", "NCT05923281_2023-06-28.json")
    new = shared("pairs", "NCT05923281_2023-06-29.json")
    assert main(["compare", str(old), str(new), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not a JSON file"),
    ('{"studies": []}', "not a study record: a search page"),
    (None, "no such file"),
])
def test_compare_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     content: str | None, message: str) -> None:
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    assert main(["compare", str(bad), str(bad)]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and str(bad) in err


def test_track_and_untrack_keep_comments(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text('# my trials\n[trials]\nids = ["NCT07120750"]  # the seed\n')
    assert main(["--config", str(config), "track", "nct05349331", "NCT07120750"]) == 0
    assert "tracking 1 more trial: NCT05349331 (NCT07120750 already tracked)" in \
        capsys.readouterr().out
    text = config.read_text()
    assert "# my trials" in text and "# the seed" in text
    assert main(["untrack", "NCT07120750", "--config", str(config)]) == 0
    from monitor.config import load

    assert load(config).trial_ids == ("NCT05349331",)
    assert "# my trials" in config.read_text()


def test_a_bad_nct_id_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[trials]\nids = []\n")
    assert main(["--config", str(config), "track", "NCT123"]) == 2
    err = capsys.readouterr().err
    assert err == "ctmonitor: 'NCT123' is not an NCT id (expected NCT followed by 8 digits)\n"
    assert config.read_text() == "[trials]\nids = []\n"


@pytest.mark.parametrize(("command", "says"), [
    (["track", "NCT\u0660\u0665\u0669\u0663\u0665\u0660\u0669\u0668"], "is not an NCT id"),
    (["track", "NCT\uff10\uff15\uff19\uff13\uff15\uff10\uff19\uff18"], "is not an NCT id"),
    (["serve", "--port", "99999"], "serve --port: expected a port from 1 to 65535"),
    (["serve", "--port", "-1"], "(0: any free port), got -1"),
])
def test_bad_words_on_the_command_line_are_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str],
        says: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[trials]\nids = []\n")
    assert main(["--config", str(config), *command]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert config.read_text() == "[trials]\nids = []\n"


def test_a_bad_config_is_one_line_and_exit_2(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[monitor]\nschedule = "soon"\n')
    assert main(["--config", str(config), "check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "monitor.schedule" in err


def test_a_corrupt_store_is_one_line_unless_traceback_is_asked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "data" / "snapshots.db"
    store.parent.mkdir()
    store.write_bytes(b"this is not a database" * 100)
    config = tmp_path / "config.toml"
    config.write_text('[trials]\nids = ["NCT05935098"]\n')
    status = main(["--config", str(config), "list"])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1
    assert err.endswith("snapshots.db: not a ctmonitor store (not an SQLite database); left "
                        "untouched\n")
    with pytest.raises(StoreError):
        main(["--config", str(config), "list", "--traceback"])


def test_ctrl_c_during_a_check_exits_130(tmp_path: Path, registry: Any) -> None:
    """SIGINT while the registry is slow to answer: one line, the shell's 130, no traceback."""
    registry.put(study("NCT01000001"))
    registry.faults.append(Fault("/version", 200, body="{}", delay=30))
    config = write_config(tmp_path, registry.base_url, ["NCT01000001"])
    # Started as from a terminal: a shell starts background jobs with SIGINT ignored, and
    # Python keeps it so (no KeyboardInterrupt), which a suite run with `&` passes down.
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "check"],
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 20
    while not registry.requests_to("/version") and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the request to arrive, not for timing
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert err.strip() == "ctmonitor: interrupted"


def test_record_text_reaches_the_terminal_as_plain_lines(
        tmp_path: Path, registry: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A CRLF in a status and escapes in a title: every line printed (`check` through the
    console channel, `history`, `show`, `list`) is one line, with nothing a terminal acts
    on."""
    hostile = "\x1b]0;owned\x07\x1b[2J\u202eA trial\x9b31m"
    registry.put(study("NCT09000001", title=hostile))
    config = write_config(tmp_path, registry.base_url, ["NCT09000001"])
    assert main(["--config", str(config), "check"]) == 0
    registry.put(study("NCT09000001", status="TERMINATED\r\nInjected line", title=hostile))
    registry.data_timestamp = "2026-03-13T09:00:05"  # the registry's next refresh
    assert main(["--config", str(config), "check"]) == 0
    printed = capsys.readouterr().out
    for command in (["history", "NCT09000001"], ["show", "NCT09000001"], ["list"]):
        assert main(["--config", str(config), *command]) == 0
        printed += capsys.readouterr().out
    assert "A trial" in printed and "Injected line" in printed
    assert not set("\x1b\x07\x9b\r\u202e") & set(printed)
    assert not any(line.startswith("Injected line") for line in printed.splitlines())


def test_init_writes_a_config_that_loads_and_explains_every_section(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.toml"
    assert main(["--config", str(path), "init"]) == 0
    assert str(path.resolve()) in capsys.readouterr().out
    settings = config.load(path)
    assert settings.trial_ids == ("NCT07120750", "NCT05349331")
    assert [c.type for c in settings.channels] == ["console"]
    # Every commented key is a real one: the file loads with them all switched on.
    for name in ("SMTP_PASSWORD", "SLACK_WEBHOOK_URL", "WEBHOOK_URL", "CTMONITOR_WEB_TOKEN"):
        monkeypatch.setenv(name, "https://example.org/x")
    monkeypatch.setenv("WEBHOOK_SECRET", "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw")
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "-1001234567890")
    text = path.read_text()
    assert "password = \"${SMTP_PASSWORD}\"" in text and "s3cret" not in text
    switched = "\n".join(re.sub(r"^# (?=\[|[\"a-z_.]+ = )", "", line)
                         for line in text.splitlines())
    on = tmp_path / "all.toml"
    on.write_text(switched.replace('path = "data/snapshots.db"', "# path"))
    everything = config.load(on)
    assert {c.type for c in everything.channels} == {"console", "email", "slack", "webhook",
                                                      "apprise"}
    assert everything.watches and everything.web.token
    assert main(["--config", str(path), "init"]) == 2  # never over a file
    assert "already exists" in capsys.readouterr().err
    assert main(["init", str(tmp_path / "nowhere" / "c.toml")]) == 2


def test_a_missing_config_says_how_to_name_or_make_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "config.toml"), "list"]) == 2
    err = capsys.readouterr().err
    assert "--config PATH" in err and "$CTMONITOR_CONFIG" in err and "ctmonitor init" in err


def test_store_copy_lands_where_the_user_points_and_says_so(
        tmp_path: Path, registry: Any, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative target is relative to the current folder, printed absolute; a folder
    that does not exist is refused; no lock file is left beside the copy."""
    registry.put(study("NCT09000001"))
    (tmp_path / "cfg").mkdir()
    config = write_config(tmp_path / "cfg", registry.base_url, ["NCT09000001"])
    assert main(["--config", str(config), "check"]) == 0
    (tmp_path / "srv" / "backup").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["--config", str(config), "store", "copy", "--to",
                 "sqlite:///srv/backup/x.db"]) == 0
    copy = tmp_path / "srv" / "backup" / "x.db"
    assert f"to {copy}: " in capsys.readouterr().out
    assert sorted(p.name for p in copy.parent.iterdir()) == ["x.db"]
    for words, says in ((["store", "copy", "--to", str(tmp_path / "no" / "dir" / "x.db")],
                         f"store copy: no folder {tmp_path / 'no' / 'dir'} (make it first)"),
                        (["store", "migrate", "--to", "x.db"], "store migrate: takes no --to")):
        assert main(["--config", str(config), *words]) == 2
        assert says in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_messages_say_what_is_so(tmp_path: Path, registry: Any,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """One stored version, a version that does not exist, two different trials compared,
    the word "fresh", a status longer than the list's column."""
    registry.put(study("NCT09000001", status="UNKNOWN"))
    registry.put(study("NCT09000002"))
    config = write_config(tmp_path, registry.base_url, ["NCT09000001", "NCT09000002"])
    assert main(["--config", str(config), "check"]) == 0
    assert main(["--config", str(config), "check"]) == 0  # the registry has not refreshed
    capsys.readouterr()
    for words, says in (
            (["diff", "NCT09000001"], "NCT09000001: version 1 is the first stored version; "
                                      "there is none before it to compare with yet"),
            (["show", "NCT09000001", "--version", "0"], "no version 0 (versions 1 to 1)"),
            (["show", "NCT09000001", "--version", "5"], "no version 5 (versions 1 to 1)")):
        assert main(["--config", str(config), *words]) == 1
        assert capsys.readouterr().err.endswith(f"{says}\n"), words
    old, new = tmp_path / "a.json", tmp_path / "b.json"
    old.write_text(json.dumps(study("NCT09000001")))
    new.write_text(json.dumps(study("NCT09000002")))
    assert main(["compare", str(old), str(new)]) == 0
    assert "these are two different trials" in capsys.readouterr().err
    assert main(["--config", str(config), "list"]) == 0
    first, second, summary = capsys.readouterr().out.splitlines()
    assert first.index(" 1 version") == second.index(" 1 version")  # the columns line up
    assert "(fresh: the registry had not refreshed since the last check" in summary
    assert main(["--config", str(config), "status"]) == 0
    assert "fresh: the registry had not refreshed" in capsys.readouterr().out
