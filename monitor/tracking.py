"""track / untrack: edit [trials].ids in the config file with tomlkit, keeping comments."""

from __future__ import annotations

from pathlib import Path

from monitor.config import parse_nct, read_text
from snapshots.errors import ConfigError


def parse_ids(values: list[str]) -> list[str]:
    """Upper-cased NCT ids, or a ConfigError naming the first malformed one."""
    ids = []
    for value in values:
        nct = parse_nct(value)
        if nct is None:
            raise ConfigError(f"{value!r} is not an NCT id (expected NCT followed by 8 digits)")
        ids.append(nct)
    return ids


def edit_ids(path: Path, add: list[str] | None = None,
             remove: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Add and remove ids in the file; return (changed ids, ids that needed no change)."""
    import tomlkit  # loaded only to edit the file
    from tomlkit.exceptions import TOMLKitError

    try:
        doc = tomlkit.parse(read_text(path))
    except TOMLKitError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
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
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return changed, unchanged
