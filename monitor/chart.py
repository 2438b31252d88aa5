"""The key dates of a trial across its versions, as a milestone trend chart, drawn as an
inline SVG on the server (no script).

x is when the registry published each version, y the date that version forecast for the
start, the primary completion and the completion; the diagonal is where a forecast meets
the day it was made (a date on it is due now; a line that climbs is a date slipping).
Versions sit at their calendar dates, so a year between two versions looks like a year.
The axes' ticks bracket every point. A filled marker is an actual date, a hollow one an
estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from typing import Any

from snapshots.versions import Version
from snapshots.wording import parse_date

WIDTH, HEIGHT = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 92, 44, 40, 44
SERIES = (("start", "Start", "#1f5fa8", "circle"),
          ("primaryCompletion", "Primary completion", "#b34700", "square"),
          ("completion", "Completion", "#2d7a3a", "diamond"))
PAD_DAYS = 15  # around a single day, so that an axis has a length
MARKER = 5
CROWDED = 60  # versions from which the markers are drawn smaller
MOST_TICKS = 8


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    filled: bool
    title: str


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    shape: str
    points: list[Point]
    segments: list[str]  # polyline point lists: a missing date breaks the line


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    series: list[Series]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    rows: list[dict[str, Any]]  # the same dates as a table, for readers without the picture
    diagonal: tuple[float, float, float, float] | None = None  # x1, y1, x2, y2
    small: bool = False  # many versions: smaller markers

    @property
    def empty(self) -> bool:
        return not any(s.points for s in self.series)


def key_dates(status: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """{"start": ("2024-05", "ACTUAL"), ...} for the dates a statusModule gives."""
    found = {}
    for key, *_ in SERIES:
        struct = status.get(f"{key}DateStruct") or {}
        if struct.get("date"):
            found[key] = (str(struct["date"]), struct.get("type"))
    return found


def chart(modules: list[tuple[Version, dict[str, Any]]]) -> Chart:
    """The milestone trend chart of the versions' key dates (each version with its
    statusModule), oldest version on the left."""
    versions = [v for v, _ in modules]
    dates = [key_dates(status) for _, status in modules]
    days: dict[str, date | None] = {}  # versions repeat their dates: each read once

    def day_of(text: str) -> date | None:
        if text not in days:
            days[text] = parse_date(text)
        return days[text]

    made = [day_of(version_date(v)) for v in versions]
    forecast = [d for d in (day_of(d[0]) for ds in dates for d in ds.values()) if d]
    known_made = [d for d in made if d is not None]
    if not forecast or not known_made:
        return Chart(WIDTH, HEIGHT, [], [], [], [])
    x_ticks, x_low, x_high = _ticks(min(known_made), max(known_made))
    y_ticks, y_low, y_high = _ticks(min(forecast), max(forecast))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return LEFT + inner_w * (day - x_low).days / max((x_high - x_low).days, 1)

    def y(day: date) -> float:
        return TOP + inner_h * (1 - (day - y_low).days / max((y_high - y_low).days, 1))

    series = [_series(key, label, colour, shape, versions, made, dates, x, y, day_of)
              for key, label, colour, shape in SERIES]
    rows = [{"number": v.number, "when": version_date(v),
             **{key: ds.get(key) for key, *_ in SERIES}} for v, ds in zip(versions, dates,
                                                                           strict=True)]
    first, last = max(x_low, y_low), min(x_high, y_high)
    diagonal = ((round(x(first), 1), round(y(first), 1), round(x(last), 1), round(y(last), 1))
                if first < last else None)
    return Chart(WIDTH, HEIGHT, series,
                 [Tick(round(x(d), 1), label) for d, label in x_ticks],
                 [Tick(round(y(d), 1), label) for d, label in y_ticks], rows, diagonal,
                 len(versions) >= CROWDED)


def version_date(version: Any) -> str:
    """The day a version stands for: its date in the registry's history when loaded from
    there, else its registry update date, else when it was fetched."""
    return (getattr(version, "registry_date", None) or version.last_update
            or version.fetched_at[:10])


def _series(key: str, label: str, colour: str, shape: str, versions: list[Version],
            made: list[date | None], dates: list[dict[str, tuple[str, str | None]]],
            x: Any, y: Any, day_of: Any) -> Series:
    points: list[Point] = []
    segments: list[str] = []
    run: list[str] = []
    for version, when, found in zip(versions, made, dates, strict=True):
        value = found.get(key)
        day = day_of(value[0]) if value else None
        if value is None or day is None or when is None:
            if run:
                segments.append(" ".join(run))
            run = []
            continue
        kind = (value[1] or "").lower()
        point = Point(round(x(when), 1), round(y(day), 1), kind == "actual",
                      f"{label}, version {version.number} of {when.isoformat()}: {value[0]}"
                      + (f" ({kind})" if kind else ""))
        points.append(point)
        run.append(f"{point.x},{point.y}")
    if run:
        segments.append(" ".join(run))
    return Series(label, colour, shape, points, segments)


DAY_STEPS = (1, 2, 7)  # days between ticks, for a span of days or weeks
STEPS = ((1, "%Y-%m"), (3, "%Y-%m"), (6, "%Y-%m"), (12, "%Y"))  # months between ticks


def _ticks(low: date, high: date) -> tuple[list[tuple[date, str]], date, date]:
    """Ticks at months, quarters, half years or years (the finest that gives at most
    MOST_TICKS steps), the first at or before low and the last at or after high: the axis
    runs from one to the other, so they bracket every point."""
    if low == high:
        low, high = low - timedelta(days=PAD_DAYS), high + timedelta(days=PAD_DAYS)
    for days in DAY_STEPS:  # a span of weeks: ticks at days
        if (high - low).days <= days * MOST_TICKS:
            ticks = [low + timedelta(days=days * n)
                     for n in range(-(-(high - low).days // days) + 1)]
            return [(d, d.isoformat()) for d in ticks], ticks[0], ticks[-1]
    for months, form in STEPS:
        start = _month_floor(low, months)
        if _steps(start, high, months) <= MOST_TICKS:
            ticks = _run(start, high, months)
            return [(d, d.strftime(form)) for d in ticks], ticks[0], ticks[-1]
    years = -(-(high.year - low.year + 1) // MOST_TICKS)
    ticks = _run(date(low.year - low.year % years, 1, 1), high, 12 * years)
    return [(d, str(d.year)) for d in ticks], ticks[0], ticks[-1]


def _steps(start: date, high: date, months: int) -> int:
    """How many steps of months _run takes from start (a first of a month) to high."""
    end = high.year * 12 + high.month - 1 + (high.day > 1)  # the first tick at or after high
    return max(0, -(-(end - (start.year * 12 + start.month - 1)) // months))


def _run(start: date, high: date, months: int) -> list[date]:
    ticks = [start]
    while ticks[-1] < high:
        ticks.append(_add_months(ticks[-1], months))
    return ticks


def _month_floor(day: date, months: int) -> date:
    index = (day.year * 12 + day.month - 1) // months * months
    return date(index // 12, index % 12 + 1, 1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


DESCRIPTION = ("A milestone trend chart: across, the day the registry published each version; "
               "up, the start, primary completion and completion dates that version gave. The "
               "diagonal is where a forecast date meets the day it was made. A filled marker is "
               "an actual date, a hollow one an estimate. The table below gives the same dates.")


def svg(chart: Chart, nct_id: str) -> str:
    """The chart as an inline SVG element (Python, not a template: a chart of 200 versions
    is a thousand elements, and a template spends ten times as long on them)."""
    left, right, top, bottom = LEFT, chart.width - RIGHT, TOP, chart.height - BOTTOM
    out = [f'<svg class="chart" viewBox="0 0 {chart.width} {chart.height}" role="img" '
           'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">\n'
           f'<title id="chart-title">Key dates of {escape(nct_id)} as each version forecast '
           f'them</title>\n<desc id="chart-desc">{DESCRIPTION}</desc>\n']
    for t in chart.y_ticks:
        out.append(f'<line class="grid" x1="{left}" x2="{right}" y1="{t.at:g}" y2="{t.at:g}"/>'
                   f'<text class="tick" x="{left - 6}" y="{t.at + 4:g}" text-anchor="end">'
                   f"{escape(t.label)}</text>\n")
    for t in chart.x_ticks:
        out.append(f'<line class="grid" x1="{t.at:g}" x2="{t.at:g}" y1="{top}" y2="{bottom}"/>'
                   f'<text class="tick" x="{t.at:g}" y="{bottom + 18}" text-anchor="middle">'
                   f"{escape(t.label)}</text>\n")
    out.append(f'<text class="tick" x="{right}" y="{chart.height - 6}" text-anchor="end">'
               "published</text>\n")
    if chart.diagonal:
        x1, y1, x2, y2 = chart.diagonal
        out.append(f'<line class="diagonal" x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" '
                   'stroke="#6a737d" stroke-dasharray="6 4"><title>A forecast on this line is '
                   "the day it was made</title></line>\n")
    line, edge = (1.5, 1) if chart.small else (2, 2)
    for n, s in enumerate(chart.series):
        out.append(f'<g class="series" stroke="{s.colour}" fill="{s.colour}">'
                   f'<rect x="{100 + n * 190}" y="12" width="14" height="4"/>'
                   f'<text class="legend" x="{120 + n * 190}" y="19" stroke="none">'
                   f"{escape(s.label)}</text>\n")
        out.extend(f'<polyline points="{seg}" fill="none" stroke-width="{line}"/>\n'
                   for seg in s.segments)
        for p in s.points:
            out.append(f'<g fill="{s.colour if p.filled else "#ffffff"}" stroke-width="{edge}">'
                       f"<title>{escape(p.title)}</title>{_marker(s.shape, p, chart.small)}"
                       "</g>\n")
        out.append("</g>\n")
    out.append("</svg>")
    return "".join(out)


def _marker(shape: str, p: Point, small: bool) -> str:
    if small:
        return f'<circle cx="{p.x:g}" cy="{p.y:g}" r="2.5"/>'
    if shape == "circle":
        return f'<circle cx="{p.x:g}" cy="{p.y:g}" r="{MARKER}"/>'
    if shape == "square":
        return (f'<rect x="{round(p.x - 4.5, 1):g}" y="{round(p.y - 4.5, 1):g}" width="9" '
                'height="9"/>')
    x, y = p.x, p.y
    return (f'<polygon points="{x:g},{round(y - 6, 1):g} {round(x + 6, 1):g},{y:g} '
            f'{x:g},{round(y + 6, 1):g} {round(x - 6, 1):g},{y:g}"/>')


def table(chart: Chart) -> str:
    """The chart's dates as a table, for readers without the picture."""
    out = ['<table>\n<thead><tr><th scope="col">Version</th><th scope="col">Of</th>'
           + "".join(f'<th scope="col">{label}</th>' for _, label, *_ in SERIES)
           + "</tr></thead>\n<tbody>\n"]
    for row in chart.rows:
        cells = []
        for key, *_ in SERIES:
            value = row[key]
            cells.append("-" if not value else escape(value[0]) + (
                f" ({escape(str(value[1]).lower())})" if value[1] else ""))
        out.append(f'<tr><th scope="row">{row["number"]}</th><td>{escape(row["when"])}</td>'
                   + "".join(f"<td>{c}</td>" for c in cells) + "</tr>\n")
    out.append("</tbody>\n</table>")
    return "".join(out)
