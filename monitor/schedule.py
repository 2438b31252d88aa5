"""Cron strings as crontab means them, turned into APScheduler 3.x triggers.

APScheduler 3 numbers weekdays from Monday = 0, while crontab has Sunday = 0 (its own
from_crontab warns of this), so "1-5" would fire Tuesday to Saturday. The day-of-week
field is therefore expanded here and handed over as day names. A sixth, leading field
gives seconds (as in "*/5 * * * * *"), for tests and short intervals.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


class Timing(Protocol):
    """[monitor] schedule and timezone (config.MonitorSettings)."""

    @property
    def schedule(self) -> str: ...

    @property
    def timezone(self) -> str: ...


def trigger(timing: Timing) -> CronTrigger:
    """The trigger of the configured schedule ([monitor] schedule and timezone)."""
    return cron_trigger(timing.schedule, ZoneInfo(timing.timezone))


def next_check(timing: Timing, now: datetime) -> str | None:
    when = trigger(timing).get_next_fire_time(None, now)
    return when.isoformat() if when else None


def cron_trigger(expr: str, tz: tzinfo) -> CronTrigger:
    """A trigger for a 5-field crontab string, or 6 fields with seconds first."""
    fields = expr.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ValueError(f"expected 5 fields, got {len(fields)}")
    second, minute, hour, day, month, weekday = fields
    return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                       day_of_week=day_of_week(weekday), timezone=tz)


def day_of_week(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday, names, ranges, steps) as day names."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"bad step in day of week {part!r}")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            first, last = (_day(x) for x in span.split("-", 1))
        else:
            first = _day(span)
            last = 6 if step else first
        if last < first:
            raise ValueError(f"day-of-week range {span!r} runs backwards")
        days.update(d % 7 for d in range(first, last + 1, step or 1))
    return ",".join(DAY_NAMES[d] for d in sorted(days))


def _day(text: str) -> int:
    text = text.strip().lower()
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text)
    if text[:3] in DAY_NAMES:
        return DAY_NAMES.index(text[:3])
    raise ValueError(f"bad day of week {text!r}")
