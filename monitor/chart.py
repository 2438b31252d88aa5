"""The key dates of a trial across its versions, laid out for an inline SVG chart.

Drawn on the server (no script): one line per date (start, primary completion,
completion) over the versions, so that a slipping date reads as a line that climbs.
A filled marker is an actual date, a hollow one an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from snapshots.versions import Version
from snapshots.wording import parse_date

WIDTH, HEIGHT = 720, 320
LEFT, RIGHT, TOP, BOTTOM = 92, 24, 40, 44
SERIES = (("start", "Start", "#1f5fa8", "circle"),
          ("primaryCompletion", "Primary completion", "#b34700", "square"),
          ("completion", "Completion", "#2d7a3a", "diamond"))
PAD_DAYS = 30
MARKER = 5


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
    """The chart of the versions' key dates (each version with its statusModule), oldest
    version on the left."""
    versions = [v for v, _ in modules]
    dates = [key_dates(status) for _, status in modules]
    parsed = [parse_date(d[0]) for ds in dates for d in ds.values()]
    known = [d for d in parsed if d is not None]
    low = min(known, default=date.today()) - timedelta(days=PAD_DAYS)
    high = max(known, default=date.today()) + timedelta(days=PAD_DAYS)
    span = max((high - low).days, 1)

    def x(i: int) -> float:
        inner = WIDTH - LEFT - RIGHT
        return LEFT + (inner / 2 if len(versions) == 1 else inner * i / (len(versions) - 1))

    def y(day: date) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (day - low).days / span)

    series = [_series(key, label, colour, shape, versions, dates, x, y)
              for key, label, colour, shape in SERIES]
    x_ticks = [Tick(x(i), f"v{v.number}") for i, v in enumerate(versions)]
    rows = [{"number": v.number, "when": version_date(v),
             **{key: ds.get(key) for key, *_ in SERIES}} for v, ds in zip(versions, dates,
                                                                           strict=True)]
    return Chart(WIDTH, HEIGHT, series, _thin(x_ticks), _year_ticks(low, high, y), rows)


def version_date(version: Any) -> str:
    """The day a version stands for: its date in the registry's history when loaded from
    there, else its registry update date, else when it was fetched."""
    return (getattr(version, "registry_date", None) or version.last_update
            or version.fetched_at[:10])


def _series(key: str, label: str, colour: str, shape: str, versions: list[Version],
            dates: list[dict[str, tuple[str, str | None]]], x: Any, y: Any) -> Series:
    points: list[Point] = []
    segments: list[str] = []
    run: list[str] = []
    for i, (version, found) in enumerate(zip(versions, dates, strict=True)):
        value = found.get(key)
        day = parse_date(value[0]) if value else None
        if value is None or day is None:
            if run:
                segments.append(" ".join(run))
            run = []
            continue
        kind = (value[1] or "").lower()
        point = Point(round(x(i), 1), round(y(day), 1), kind == "actual",
                      f"{label}, version {version.number}: {value[0]}"
                      + (f" ({kind})" if kind else ""))
        points.append(point)
        run.append(f"{point.x},{point.y}")
    if run:
        segments.append(" ".join(run))
    return Series(label, colour, shape, points, segments)


def _year_ticks(low: date, high: date, y: Any) -> list[Tick]:
    """A tick each 1 January in range, or each quarter when the range is short."""
    if high.year - low.year >= 2:
        days = [date(year, 1, 1) for year in range(low.year + 1, high.year + 1)
                if date(year, 1, 1) < high]
        step = max(1, len(days) // 8)
        return [Tick(round(y(d), 1), str(d.year)) for d in days[::step]]
    days = [date(year, month, 1) for year in range(low.year, high.year + 1)
            for month in (1, 4, 7, 10) if low < date(year, month, 1) < high]
    return [Tick(round(y(d), 1), d.strftime("%Y-%m")) for d in days]


def _thin(ticks: list[Tick], most: int = 12) -> list[Tick]:
    """At most `most` labels along the x axis, the last version always among them."""
    if len(ticks) <= most:
        return ticks
    step = -(-len(ticks) // most)
    kept = ticks[::step]
    return kept if kept[-1] is ticks[-1] else [*kept[:-1], ticks[-1]]
