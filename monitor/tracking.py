"""Edits of the config file, which stays the truth for what is tracked and watched:
`track` / `untrack` and the page's forms change [trials].ids and [watches.NAME] with tomlkit,
keeping comments. An edit is loaded before it replaces the file (a config it would break is
refused, the file untouched), and replaces it whole (os.replace), so that a daemon reading
it again (monitor.live) never reads half of one."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from monitor.config import Settings, load, parse_nct, read_text
from snapshots.errors import ConfigError, MonitorError

T = TypeVar("T")
STUDY_URL = re.compile(r"^https?://(?:www\.)?(?:classic\.)?clinicaltrials\.gov/"
                       r"(?:study|ct2/show)/(?:record/)?(NCT[0-9]{8})(?:[/?#].*)?$",
                       re.IGNORECASE)


def parse_ids(values: list[str]) -> list[str]:
    """Upper-cased NCT ids, or a ConfigError naming the first malformed one."""
    ids = []
    for value in values:
        nct = parse_nct(value)
        if nct is None:
            raise ConfigError(f"{value!r} is not an NCT id (expected NCT followed by 8 digits)")
        ids.append(nct)
    return ids


def tracked_ids(settings: Settings, words: list[str]) -> list[str]:
    """parse_ids of words that the config tracks, or a MonitorError naming those it does not."""
    ids = parse_ids(words)
    untracked = [i for i in ids if i not in set(settings.trial_ids)]
    if untracked:
        raise MonitorError(f"{', '.join(untracked)}: not tracked (`ctmonitor track` adds)")
    return ids


def pasted_ids(text: str) -> list[str]:
    """The NCT ids in what was pasted: ids and registry study URLs (clinicaltrials.gov/study/
    NCT…, the classic ct2/show/NCT…), separated by spaces, commas or lines; a ConfigError
    names the first word that is neither."""
    ids: list[str] = []
    for word in re.split(r"[\s,;]+", text.strip()):
        if not word:
            continue
        url = STUDY_URL.match(word)
        nct = url.group(1).upper() if url else parse_nct(word)
        if nct is None:
            raise ConfigError(f"{word[:80]!r} is neither an NCT id nor a registry study URL")
        if nct not in ids:
            ids.append(nct)
    if not ids:
        raise ConfigError("no NCT id given")
    return ids


def edit(path: Path, change: Callable[[Any], T]) -> T:
    """Apply change to the file's TOML document; the file is replaced only when the edited
    config loads (else its ConfigError, and the file as it was). Edits take turns (a lock
    file beside it), so that two at once both land."""
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return _edit(path, change)


def _edit(path: Path, change: Callable[[Any], T]) -> T:
    import tomlkit  # loaded only to edit the file
    from tomlkit.exceptions import TOMLKitError

    try:
        doc = tomlkit.parse(read_text(path))
    except TOMLKitError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    result = change(doc)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    temp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(tomlkit.dumps(doc))
        shutil.copymode(path, temp)
        load(temp)  # beside the file: relative paths in it read the same
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return result


def edit_ids(path: Path, add: list[str] | None = None,
             remove: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Add and remove ids in the file; return (changed ids, ids that needed no change)."""

    def change(doc: Any) -> tuple[list[str], list[str]]:
        import tomlkit

        trials = doc.setdefault("trials", tomlkit.table())
        ids = trials.setdefault("ids", tomlkit.array())
        current = [str(i) for i in ids]
        changed: list[str] = []
        unchanged: list[str] = []
        for nct in add or []:
            (unchanged if nct in current else changed).append(nct)
            if nct not in current:
                ids.append(nct)
                current.append(nct)
        for nct in remove or []:
            if nct in current:
                del ids[current.index(nct)]
                current.remove(nct)
                changed.append(nct)
            else:
                unchanged.append(nct)
        if len(ids) > 3:
            ids.multiline(True)
        return changed, unchanged

    return edit(path, change)


def add_watch(path: Path, name: str, params: dict[str, str], track: bool) -> None:
    """A new [watches.NAME] with these query parameters (a name in use is refused)."""

    def change(doc: Any) -> None:
        import tomlkit

        watches = doc.setdefault("watches", tomlkit.table(is_super_table=True))
        if name in watches:
            raise ConfigError(f"a watch named {name!r} exists already")
        table = tomlkit.table()
        for key, value in params.items():
            table[key] = value
        if track:
            table["track"] = True
        watches[name] = table

    edit(path, change)


def remove_watch(path: Path, name: str) -> None:
    def change(doc: Any) -> None:
        watches = doc.get("watches", {})
        if name not in watches:
            raise ConfigError(f"no watch named {name!r}")
        del watches[name]

    edit(path, change)
