"""Config loading: typed settings, and one-line errors naming the file, the key, the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor import config
from snapshots.errors import ConfigError
from snapshots.events import Floor
from snapshots.store import sqlite_url

pytestmark = pytest.mark.one_backend  # no store: the SQLite run is enough

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads_with_the_seed_trials() -> None:
    settings = config.load(ROOT / "config.toml")
    assert settings.trial_ids == ("NCT07120750", "NCT05349331")
    assert settings.monitor.schedule == "0 15 * * 1-5"
    assert settings.store == sqlite_url((ROOT / "data" / "snapshots.db").resolve())
    assert [c.type for c in settings.channels] == ["console"]


def readme_config_examples() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```toml\n(.*?)```", text, flags=re.S)


def test_readme_config_examples_load_through_the_real_loader(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    examples = readme_config_examples()
    assert examples, "README.md shows no ```toml example"
    shaped = {"TELEGRAM_BOT_TOKEN": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
              "TELEGRAM_CHAT_ID": "-1001234567890",
              "WEBHOOK_SECRET": "whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u"}
    for name in set(re.findall(r"\$\{(\w+)\}", "".join(examples))):
        monkeypatch.setenv(name, "https://hooks.example.invalid/x" if "URL" in name
                           else shaped.get(name, "secret"))
    for example in examples:
        settings = config.load(write(tmp_path, example))
        assert settings.trial_ids or "[trials]" not in example


def test_defaults_when_sections_are_absent(tmp_path: Path) -> None:
    settings = config.load(write(tmp_path, ""))
    assert settings.registry.base_url == "https://clinicaltrials.gov/api/v2"
    assert settings.registry.rate_limit == 1.0
    assert settings.categories == ("status", "dates", "results", "enrollment", "outcomes")
    assert settings.min_severity == Floor("minor", (("outcomes", "critical"),))
    assert settings.store == sqlite_url((tmp_path / "data" / "snapshots.db").resolve())


@pytest.mark.parametrize(("text", "floor"), [
    ('min_severity = "notable"', Floor("notable")),
    ('min_severity = { outcomes = "notable" }', Floor("minor", (("outcomes", "notable"),))),
    ('min_severity = { default = "critical", dates = "notable" }',
     Floor("critical", (("dates", "notable"),))),
])
def test_min_severity_is_one_severity_or_a_table_by_category(tmp_path: Path, text: str,
                                                             floor: Floor) -> None:
    settings = config.load(write(tmp_path, f"[alerts]\n{text}\n"
                                           '[notifiers.c]\ntype = "console"\n' + text + "\n"))
    assert settings.min_severity == floor
    assert settings.channels[0].min_severity == floor


def test_relative_store_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "c.toml"
    path.write_text('[store]\npath = "x/y.db"\n', encoding="utf-8")
    assert config.load(path).store == sqlite_url((tmp_path / "sub" / "x" / "y.db").resolve())


def test_env_var_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_URL", "http://127.0.0.1:9/hook")
    settings = config.load(write(tmp_path, '[notifiers.hook]\ntype = "webhook"\n'
                                           'url = "${HOOK_URL}"\n'))
    assert settings.channels[0].options["url"] == "http://127.0.0.1:9/hook"


@pytest.mark.parametrize(("text", "expected"), [
    ('[trials]\nids = ["NCT123"]\n', r"trials\.ids\[0\]: expected an NCT id"),
    ('[trials]\nids = ["NCT05935098", 7]\n', r"trials\.ids\[1\]: expected an NCT id"),
    ('[trials]\nids = ["NCT05935098\\nNCT01000001"]\n', r"trials\.ids\[0\]: expected an NCT"),
    ('[monitor]\nschedule = "every day"\n', r"monitor\.schedule: expected a 5-field cron"),
    ('[monitor]\nschedule = "0 25 * * *"\n', r"monitor\.schedule: expected a valid cron"),
    ('[monitor]\ntimezone = "Mars/Base"\n', r"monitor\.timezone: expected an IANA time zone"),
    ('[monitor]\nschedul = "0 15 * * 1-5"\n', r"monitor\.schedul: unknown key; expected one of"),
    ('[registri]\n', r"registri: unknown section"),
    ('[registry]\nrate_limit = "fast"\n', r"registry\.rate_limit: expected a number"),
    ('[registry]\nbase_url = "ftp://x"\n', r"registry\.base_url: expected an http\(s\) URL"),
    ('[alerts]\ncategories = ["status", "gossip"]\n', r"alerts\.categories: expected categories"),
    ('[alerts]\nmin_severity = "huge"\n', r'alerts\.min_severity: expected "minor", "notable"'),
    ('[alerts]\nmin_severity = 3\n', r'alerts\.min_severity: expected "minor", "notable" or '
                                      r'"critical", or a table of them by category'),
    ('[alerts]\nmin_severity = { outcome = "critical" }\n',
     r'alerts\.min_severity\.outcome: unknown category; expected "default" or one of status'),
    ('[alerts]\nmin_severity = { outcomes = "loud" }\n',
     r'alerts\.min_severity\.outcomes: expected "minor", "notable" or "critical", got \'loud\''),
    ('[notifiers.c]\ntype = "console"\nmin_severity = { default = 1 }\n',
     r'notifiers\.c\.min_severity\.default: expected "minor", "notable" or "critical", got 1'),
    ('[notifiers.x]\ntype = "pager"\n', r'notifiers\.x\.type: expected one of "console"'),
    ('[notifiers.x]\ntype = "webhook"\n', r"notifiers\.x\.url: missing; expected an http"),
    ('[notifiers.x]\ntype = "console"\ncolour = "red"\n', r"notifiers\.x\.colour: unknown key"),
    ('[notifiers.x]\ntype = "webhook"\nurl = "${CTM_TEST_UNSET}"\n',
     r"notifiers\.x\.url: environment variable CTM_TEST_UNSET is not set"),
    ('[notifiers.x]\ntype = "console"\nmode = "weekly"\n', r'notifiers\.x\.mode: expected one of'),
    ("[trials\nids = 3", r"not valid TOML: .*\(at line 1, column \d+\)"),
    ('[registry]\ntimeout = inf\n', r"registry\.timeout: expected a finite number, got inf"),
    ('[registry]\nbackoff = nan\n', r"registry\.backoff: expected a finite number, got nan"),
    ('[delivery]\nbackoff = inf\n', r"delivery\.backoff: expected a finite number"),
    ('[monitor]\nstale_after_hours = -inf\n', r"monitor\.stale_after_hours: expected a finite"),
    ('[monitor]\njitter = -5\n', r"monitor\.jitter: expected 0 \(off\) or more, got -5"),
    ("a = " + "[" * 5000 + "]" * 5000 + "\n", r"not valid TOML here: nested too deeply"),
    ('[store]\nurl = "postgresql://u@db.example:abc/store"\n',
     r"store\.url: expected a postgresql:// URL with a port from 1 to 65535 \(or none\), "
     r"got a value that is not$"),
    ('[trials]\nids = ["NCT\u0660\u0665\u0669\u0663\u0665\u0660\u0669\u0668"]\n',
     r"trials\.ids\[0\]: expected an NCT id"),
    ('[trials]\nids = ["NCT\uff10\uff15\uff19\uff13\uff15\uff10\uff19\uff18"]\n',
     r"trials\.ids\[0\]: expected an NCT id"),
])
def test_bad_config_is_one_line_naming_file_and_key(tmp_path: Path, text: str,
                                                     expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert re.search(expected, message), message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        config.load(tmp_path / "nope.toml")


def test_ids_are_upper_cased_and_deduplicated(tmp_path: Path) -> None:
    settings = config.load(write(tmp_path, '[trials]\nids = ["nct05935098", "NCT05935098"]\n'))
    assert settings.trial_ids == ("NCT05935098",)


def test_a_long_list_of_ids_reads_whole_and_names_the_one_bad_id(tmp_path: Path) -> None:
    ids = [f"NCT{n:08d}" for n in range(5000, 0, -1)]
    settings = config.load(write(tmp_path, f"[trials]\nids = {ids + ids[:3]}\n".replace("'", '"')))
    assert settings.trial_ids == tuple(ids)  # in the config's order, once each
    with pytest.raises(ConfigError, match=r"trials\.ids\[5000\]: .* got 'NCT0001'"):
        config.load(write(tmp_path, f"[trials]\nids = {ids + ['NCT0001']}\n".replace("'", '"')))


def test_env_var_in_a_list_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTM_TRIAL", "NCT05935098")
    settings = config.load(write(tmp_path, '[trials]\nids = ["NCT01000001", "${CTM_TRIAL}"]\n'))
    assert settings.trial_ids == ("NCT01000001", "NCT05935098")


def test_secrets_are_never_echoed_in_errors(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTM_HOOK", "s3cr3t-token")
    path = write(tmp_path, '[notifiers.team]\ntype = "slack"\nwebhook_url = "${CTM_HOOK}"\n')
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert "s3cr3t-token" not in str(caught.value)
    assert "notifiers.team.webhook_url" in str(caught.value)


def test_a_value_from_the_environment_is_never_echoed(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A password given to a key of the wrong type, or to a key whose check echoes it."""
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-pw")
    for table in ('port = "${SMTP_PASSWORD}"\nto = ["a@example.org"]\n',
                  'port = 25\nto = ["${SMTP_PASSWORD}"]\n'):
        path = write(tmp_path, '[notifiers.mail]\ntype = "email"\nhost = "localhost"\n'
                     'from = "m@example.org"\n' + table)
        with pytest.raises(ConfigError) as caught:
            config.load(path)
        assert "hunter2" not in str(caught.value) and "notifiers.mail." in str(caught.value)
