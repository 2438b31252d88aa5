"""Each primary outcome through a trial's versions: when it appeared, each change and its
kind, when it left, with the changes made after the study started and after its primary
completion marked from each version's own dates (the page an editor reads before
accepting a paper)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from snapshots import outcomes
from snapshots.wording import parse_date


@dataclass(frozen=True)
class Step:
    """One thing that happened to a primary outcome, in one version."""

    version: int
    date: str  # the day the registry published the version
    change: str  # "appeared", "left", or a kind of snapshots.outcomes.CHANGES
    summary: str
    severity: str
    after_start: bool
    after_primary_completion: bool


@dataclass
class Track:
    """One primary outcome from its first version to its last."""

    title: str
    steps: list[Step] = field(default_factory=list)
    current: bool = True  # still a primary outcome in the latest version

    @property
    def switched(self) -> bool:
        """Whether anything beyond a rewording happened after the study started."""
        return any(s.after_start and s.severity != "minor" and s.change != "appeared"
                   for s in self.steps)


def primary_history(versions: Iterable[tuple[int, str, dict[str, Any]]]) -> list[Track]:
    """The tracks of every primary outcome, from (number, date, snapshot) oldest first:
    those of the first version appear there, those added later where they came; the
    current ones first, then those that left."""
    tracks: dict[str, Track] = {}  # by the outcome's record as it stands now
    done: list[Track] = []
    previous: Any = None
    first = True
    for number, date, snapshot in versions:
        protocol = snapshot.get("protocolSection", {})
        module = protocol.get("outcomesModule") if isinstance(protocol, dict) else None
        if not first and module == previous:
            continue
        when = _moments(protocol, number, date)
        if first:  # every primary outcome appears: nothing to compare, nor to read
            primary = module.get("primaryOutcomes") if isinstance(module, dict) else None
            for record in primary if isinstance(primary, list) else []:
                if isinstance(record, dict):
                    title = outcomes.title_of(record)
                    tracks[_key(record)] = Track(title, [Step(
                        change="appeared", summary=f'Registered: "{title}"', severity="minor",
                        **when)])
        else:
            for change in outcomes.compare(previous, module):
                if change.kind == "primary":
                    _follow(change, tracks, done, when)
        previous, first = module, False
    return sorted(tracks.values(), key=lambda t: t.steps[0].version) + done


def _follow(change: outcomes.OutcomeChange, tracks: dict[str, Track], done: list[Track],
            when: dict[str, Any]) -> None:
    step = Step(change=change.change, summary=change.summary, severity=change.severity, **when)
    old = change.old if change.old and change.old.kind == "primary" else None
    new = change.new if change.new and change.new.kind == "primary" else None
    if change.detail.get("merged") and old is not None:
        new = None  # the merged outcome leaves; the one it went into goes on
    if change.detail.get("split") or change.change in ("added", "moved_to_primary"):
        if change.change == "added" and old is not None and _key(old) in tracks:
            _leave(tracks.pop(_key(old)), done, step)  # the outcome it replaces
        if new is not None:
            tracks[_key(new)] = Track(new.title, [step])
        return
    if old is None:
        return
    track = tracks.pop(_key(old), None)
    if track is None and new is not None:
        track = tracks.pop(_key(new), None)  # a second change of the same pair
    if track is None:
        return  # an outcome this history never saw appear
    if new is None:
        _leave(track, done, step)
        return
    track.steps.append(step)
    track.title = new.title
    tracks[_key(new)] = track


def _leave(track: Track, done: list[Track], step: Step) -> None:
    track.steps.append(step)
    track.current = False
    done.append(track)


def _key(outcome: outcomes.Outcome | dict[str, Any] | None) -> str:
    """An outcome by its record as it stands."""
    record = outcome.record if isinstance(outcome, outcomes.Outcome) else outcome
    return json.dumps(record, sort_keys=True, default=str)


def _moments(protocol: Any, number: int, date: str) -> dict[str, Any]:
    """The step's version and date, and whether that date is past the study's start and
    primary completion as this version gives them."""
    status = protocol.get("statusModule", {}) if isinstance(protocol, dict) else {}
    status = status if isinstance(status, dict) else {}
    day = parse_date(date)

    def past(struct: str) -> bool:
        value = status.get(struct)
        moment = parse_date(value.get("date")) if isinstance(value, dict) else None
        return day is not None and moment is not None and day > moment

    return {"version": number, "date": date, "after_start": past("startDateStruct"),
            "after_primary_completion": past("primaryCompletionDateStruct")}
