"""Muted trials: checked and stored as ever, their alerts held back in the outbox until
they are unmuted (`ctmonitor unmute`, or the day given to `mute --until` comes), then sent
or dropped as [alerts] held_alerts says.

The day is the machine's (UTC): a mute is the user's calendar, not the registry's.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from monitor.config import Settings
from snapshots.errors import MonitorError
from snapshots.store import Store


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def until_day(text: str | None, day: str) -> str:
    """--until DATE as stored ("" when not given); a day that is not after today is refused."""
    if text is None:
        return ""
    try:
        until = date.fromisoformat(text)
    except ValueError:
        raise MonitorError(f"--until: expected a date such as 2027-01-31, got {text!r}") from None
    if until.isoformat() <= day:
        raise MonitorError(f"--until {text}: that day is not after today ({day})")
    return until.isoformat()


def for_check(store: Store, settings: Settings, day: str | None = None) -> Settings:
    """The settings a check works with: mutes whose day came ended first (with alerts
    held by a check that ran while a trial was unmuted), then the muted trials' alerts
    held."""
    day = day or today()
    muted = store.versions.muted()
    ended = [n for n, until in muted.items() if until and until <= day]
    ended += sorted(store.outbox.held_trials() - set(muted))
    if ended:
        unmute(store, settings, ended)
    return replace(settings, muted=frozenset(n for n in muted if n not in ended))


def unmute(store: Store, settings: Settings, ids: list[str]) -> int:
    """Unmute the trials; their held alerts become due (or dropped); how many there were."""
    with store.transaction() as conn:
        store.versions.unmute(ids, conn)
        return store.outbox.release(ids, settings.held_alerts == "send", conn)
