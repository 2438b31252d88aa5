"""The milestone trend chart: versions at their calendar dates, forecasts up, the ticks
bracketing every point, readable with two versions and with two hundred."""

from __future__ import annotations

from datetime import date, timedelta

from monitor.chart import chart
from snapshots.versions import Version


def version(number: int, day: date) -> Version:
    return Version("NCT09000001", number, f"{day.isoformat()}T10:00:00Z", day.isoformat(),
                   None, "h", "RECRUITING", [], "")


def status(primary_completion: str, kind: str = "ESTIMATED") -> dict[str, object]:
    return {"startDateStruct": {"date": "2024-01", "type": "ACTUAL"},
            "primaryCompletionDateStruct": {"date": primary_completion, "type": kind}}


def test_versions_stand_at_their_calendar_dates() -> None:
    days = [date(2024, 2, 1), date(2024, 2, 2), date(2025, 2, 1)]
    made = chart([(version(n, d), status("2026-06-30")) for n, d in enumerate(days, 1)])
    xs = [p.x for p in made.series[1].points]
    assert (xs[1] - xs[0]) * 300 < xs[2] - xs[1]  # a day apart, then a year apart


def test_ticks_bracket_every_point_on_both_axes() -> None:
    made = chart([(version(1, date(2024, 3, 17)), status("2027-11-05")),
                  (version(2, date(2026, 8, 30)), status("2029-02-11", "ACTUAL"))])
    points = [p for s in made.series for p in s.points]
    ys = [t.at for t in made.y_ticks]
    xs = [t.at for t in made.x_ticks]
    assert all(min(ys) <= p.y <= max(ys) for p in points)
    assert all(min(xs) <= p.x <= max(xs) for p in points)
    assert 2 <= len(made.y_ticks) <= 9 and 2 <= len(made.x_ticks) <= 9
    assert made.series[1].points[1].filled and not made.series[1].points[0].filled
    assert made.diagonal is not None  # 2024-2026 published, forecasts 2024-2029


def test_two_hundred_versions_and_a_single_day_both_draw() -> None:
    start = date(2020, 1, 1)
    many = chart([(version(n, start + timedelta(days=7 * n)),
                   status((date(2024, 1, 1) + timedelta(days=3 * n)).isoformat()))
                  for n in range(1, 201)])
    assert many.small and len(many.series[1].points) == 200
    assert len(many.x_ticks) <= 9 and len(many.y_ticks) <= 9
    one = chart([(version(1, start), status("2020-01-01"))])
    assert not one.empty and len(one.x_ticks) >= 2 and len(one.y_ticks) >= 2
    assert chart([(version(1, start), {})]).empty
