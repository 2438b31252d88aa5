"""The milestone trend chart: versions at their calendar dates, forecasts up, the ticks
bracketing every point, readable with two versions and with two hundred."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import date, timedelta

from monitor.chart import MOST_TICKS, STEPS, _month_floor, _run, _ticks, chart, svg
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


def test_ticks_are_the_finest_steps_that_stay_few() -> None:
    """Across spans of days to decades: at most MOST_TICKS steps, bracketing both ends, and
    no finer step of months would have stayed within MOST_TICKS (counted by walking)."""
    draw = random.Random(11)
    for _ in range(3000):
        low = date(1995, 1, 1) + timedelta(days=draw.randrange(12000))
        high = low + timedelta(days=draw.choice((0, 9, 40, 400, 3000, 12000)) + draw.randrange(60))
        ticks, first, last = _ticks(low, high)
        assert len(ticks) - 1 <= MOST_TICKS and first <= low and last >= high
        if (high - low).days > 7 * MOST_TICKS:
            finer = [m for m, _ in STEPS if len(_run(_month_floor(low, m), high, m)) - 1
                     <= MOST_TICKS]
            step = (ticks[1][0].year - first.year) * 12 + ticks[1][0].month - first.month
            assert step == (finer[0] if finer else step), (low, high)


def test_the_chart_is_svg_with_a_marker_per_date_and_its_texts_escaped() -> None:
    odd = '2027-01-01 <script>alert("x")</script>'  # not a date: no marker
    made = chart([(version(1, date(2024, 3, 17)), status("2027-11-05")),
                  (version(2, date(2026, 8, 30)), status(odd, "ACTUAL")),
                  (version(3, date(2026, 9, 30)), status("2029-02-11", "ACTUAL"))])
    root = ET.fromstring(svg(made, "NCT09000001"))  # well-formed XML
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert len(titles) == 1 + 1 + 3 + 2  # the chart's, the diagonal's, 3 starts, 2 others
    assert "Primary completion, version 3 of 2026-09-30: 2029-02-11 (actual)" in titles
    assert not any("script" in (t or "") for t in titles)
    series = made.series[1]
    hostile = replace(made, series=[replace(series, label='<b>"&', points=[
        replace(series.points[0], title='</title><script>x</script>')])])
    root = ET.fromstring(svg(hostile, "NCT09000001"))
    assert [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")][-1] == (
        "</title><script>x</script>")
    assert [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")][-1] == '<b>"&'
