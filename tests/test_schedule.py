"""Cron strings mean what crontab means, whatever APScheduler 3 numbers its weekdays from."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.schedule import cron_trigger, day_of_week

pytestmark = pytest.mark.one_backend  # no store: the SQLite run is enough


def fire_days(expr: str, count: int = 7) -> list[str]:
    trigger = cron_trigger(expr, UTC)
    when = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)  # a Saturday afternoon
    days = []
    for _ in range(count):
        when = trigger.get_next_fire_time(None, when)
        days.append(when.strftime("%a %H:%M"))
        when = when.replace(second=1)
    return days


def test_weekdays_mean_monday_to_friday() -> None:
    assert fire_days("0 15 * * 1-5", 6) == ["Mon 15:00", "Tue 15:00", "Wed 15:00",
                                            "Thu 15:00", "Fri 15:00", "Mon 15:00"]


@pytest.mark.parametrize(("field", "names"), [
    ("0", "sun"), ("7", "sun"), ("1-5", "mon,tue,wed,thu,fri"), ("5-7", "sun,fri,sat"),
    ("*/2", "sun,tue,thu,sat"), ("mon,wed", "mon,wed"), ("1/3", "mon,thu"), ("*", "*")])
def test_day_of_week_field(field: str, names: str) -> None:
    assert day_of_week(field) == names


@pytest.mark.parametrize("expr", ["0 15 * * 8", "0 15 * * 5-1", "0 25 * * *", "* * * *"])
def test_bad_cron_strings(expr: str) -> None:
    with pytest.raises(ValueError):
        cron_trigger(expr, UTC)


def test_six_fields_give_seconds() -> None:
    trigger = cron_trigger("*/5 * * * * *", UTC)
    start = datetime(2026, 11, 21, 16, 0, 1, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, start).second == 5
