"""Tracked trials and every stored version of each, with its change events."""

from __future__ import annotations

import json
import secrets
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

import orjson
from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.engine import Connection

from snapshots.database import MAX_IN, Database, chunks, utcnow
from snapshots.deadlines import deadline
from snapshots.diff import diff_stored
from snapshots.events import ChangeEvent, folded, from_dict, is_material, one_line
from snapshots.internal import UNRENDERED, UNTRACKED
from snapshots.normalise import Snapshot, canonical_json, outline
from snapshots.schema import UNTRACKED_KEY, meta, outbox, trials, versions

SNAPSHOT_COMPRESSION = 6  # zlib level: snapshots are written once, read rarely
SHIFT = 1_000_000  # out of the way while versions are renumbered
BASELINE_SUMMARY = "baseline (first version)"


class Trial(NamedTuple):
    """A tracked trial as the store knows it: its latest version and how its checks went.
    (A named tuple: a check of 100,000 trials reads every row, and a frozen dataclass
    takes twice as long to build.)"""

    nct_id: str
    added_at: str
    alias_of: str | None
    missing_since: str | None
    last_checked_at: str | None
    last_error: str | None
    latest_version: int
    latest_hash: str | None
    latest_status: str | None
    title: str | None
    backfilled_at: str | None = None
    backfill_tried_at: str | None = None
    backfill_error: str | None = None
    status_verified: str | None = None
    results_due: str | None = None  # "" none; None not known yet
    results_submitted: str | None = None
    deadlines_raised: str | None = None
    muted_until: str | None = None  # None not muted, "" until unmuted, else the day it ends
    results_in_review: str | None = None  # the day of a submission under review


@dataclass(frozen=True)
class Version:
    """One stored version of a trial; data is None when only the listing was asked for."""

    nct_id: str
    number: int
    fetched_at: str
    last_update: str | None
    data_timestamp: str | None
    hash: str
    status: str | None
    events: list[dict[str, Any]]
    summary: str
    data: dict[str, Any] | None = None
    source: str = "check"  # or "registry": loaded from the registry's own history
    registry_version: int | None = None
    registry_date: str | None = None
    lacks: tuple[str, ...] = ()  # sections it could not record (snapshots.internal.filled)
    id: int = 0  # in the order versions were stored: what is new to a browser (seen)

    @property
    def loaded(self) -> bool:
        return self.source == "registry"


@dataclass(frozen=True)
class LastChange:
    """A trial's newest version with a material change (snapshots.events.is_material), as
    the overview lists it: what changed then, and what came after it by severity."""

    nct_id: str
    number: int
    fetched_at: str
    last_update: str | None
    summary: str
    since: dict[str, int] = field(default_factory=dict)  # severity -> events after it
    id: int = 0  # in the order versions were stored: what is new to a browser (seen)


READ_BATCH = 16  # versions read at a time by snapshots()
TRIAL_COLUMNS = [trials.c[name] for name in Trial._fields]
LISTED = [c for c in versions.c if c.name not in ("snapshot", "outline")]
# built once: what a trial's page asks, every time one is drawn
ONE_TRIAL = select(*TRIAL_COLUMNS).where(trials.c.nct_id == bindparam("nct_id"))
OUTLINES = (select(*LISTED, versions.c.outline).where(versions.c.nct_id == bindparam("nct_id"))
            .order_by(versions.c.number))


class VersionLog:
    """Trials and their versions; a version is never changed or removed once written."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._untracked_through: int | None = None

    @property
    def untracked_through(self) -> int:
        """The last version stored before snapshots kept the results' review cycle (store
        revision 0008 wrote it; 0 in a store made since)."""
        if self._untracked_through is None:
            with self.db.transaction() as conn:
                value = conn.execute(select(meta.c.value).where(
                    meta.c.key == UNTRACKED_KEY)).scalar()
            self._untracked_through = int(value or 0)
        return self._untracked_through

    def _version(self, row: Any, data: dict[str, Any] | None = None) -> Version:
        return _version(row, data, lacks(row["source"], row["id"] <= self.untracked_through))

    # -- trials --------------------------------------------------------------------------
    def ensure_trials(self, ids: Iterable[str]) -> None:
        with self.db.transaction() as conn:
            known = set(conn.execute(select(trials.c.nct_id)).scalars())
            rows = [{"nct_id": i, "added_at": utcnow(), "latest_version": 0}
                    for i in ids if i not in known]
            if rows:
                conn.execute(insert(trials), rows)

    def mute(self, ids: list[str], until: str) -> None:
        """Hold back the trials' alerts until the day given ("" until unmuted)."""
        self.ensure_trials(ids)
        with self.db.transaction() as conn:
            conn.execute(update(trials).where(trials.c.nct_id.in_(ids))
                         .values(muted_until=until))
            _muted_again(conn)

    def unmute(self, ids: list[str], conn: Connection | None = None) -> None:
        with self.db.joined(conn) as c:
            c.execute(update(trials).where(trials.c.nct_id.in_(ids)).values(muted_until=None))
            _muted_again(c)

    def muted(self) -> dict[str, str]:
        """Every muted trial with the day its mute ends ("" none)."""
        with self.db.transaction() as conn:
            return dict(conn.execute(select(trials.c.nct_id, trials.c.muted_until)
                                     .where(trials.c.muted_until.is_not(None))).all())

    def trials(self, ids: Iterable[str] | None = None) -> list[Trial]:
        """The trials named (all when ids is None). A long list is not sent as an IN (...):
        the table is read whole and sifted here, which is also quicker at 100,000."""
        wanted = None if ids is None else set(ids)
        query = select(*TRIAL_COLUMNS)
        if wanted is not None and len(wanted) <= MAX_IN:
            query = query.where(trials.c.nct_id.in_(wanted))
        with self.db.transaction() as conn:
            rows = conn.execute(query).all()
        return [Trial(*row) for row in rows if wanted is None or row[0] in wanted]

    def trial(self, nct_id: str) -> Trial | None:
        with self.db.transaction() as conn:
            row = conn.execute(ONE_TRIAL, {"nct_id": nct_id}).first()
        return None if row is None else Trial(*row)

    def owed(self) -> set[str]:
        """Trials without a version, or whose last fetch failed, that the registry has not
        said are gone: what a check still owes them when the registry has not refreshed."""
        with self.db.transaction() as conn:
            return set(conn.execute(select(trials.c.nct_id).where(
                (trials.c.latest_version == 0) | trials.c.last_error.is_not(None),
                trials.c.missing_since.is_(None))).scalars())

    def latest_hashes(self, ids: list[str]) -> dict[str, str | None]:
        with self.db.transaction() as conn:
            rows = conn.execute(select(trials.c.nct_id, trials.c.latest_hash)
                                .where(trials.c.nct_id.in_(ids)))
            return {r.nct_id: r.latest_hash for r in rows}

    def unverified(self, ids: list[str]) -> set[str]:
        """Trials with versions whose row lacks what newer stores keep of the latest one
        (statusVerifiedDate before revision 0004, the results deadline before 0006)."""
        with self.db.transaction() as conn:
            return set(conn.execute(select(trials.c.nct_id).where(
                trials.c.nct_id.in_(ids), trials.c.latest_version > 0,
                trials.c.status_verified.is_(None) | trials.c.results_due.is_(None)))
                .scalars())

    def learn(self, nct_id: str, snapshot: Snapshot) -> None:
        """Fill in what the trial row keeps of its latest version, from that version."""
        with self.db.transaction() as conn:
            conn.execute(update(trials).where(trials.c.nct_id == nct_id)
                         .values(**_derived(snapshot)))

    def deadlines(self, ids: Iterable[str]) -> list[Trial]:
        """The trials among ids that have a results deadline."""
        wanted = set(ids)
        with self.db.transaction() as conn:
            rows = conn.execute(select(*TRIAL_COLUMNS).where(
                trials.c.results_due.is_not(None), trials.c.results_due != "")).all()
        return [Trial(*row) for row in rows if row[0] in wanted]

    def raise_deadlines(self, nct_id: str, raised: str, conn: Connection) -> None:
        conn.execute(update(trials).where(trials.c.nct_id == nct_id)
                     .values(deadlines_raised=raised))

    def mark_checked(self, ids: list[str], when: str) -> None:
        if not ids:
            return
        with self.db.transaction() as conn:
            for chunk in chunks(ids):
                conn.execute(update(trials).where(trials.c.nct_id.in_(chunk))
                             .values(last_checked_at=when, last_error=None, missing_since=None))

    def mark_failed(self, nct_id: str, error: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(update(trials).where(trials.c.nct_id == nct_id)
                         .values(last_error=error))

    def mark_missing(self, nct_id: str, when: str, conn: Connection) -> bool:
        """Mark a trial as not in the registry; True the first time (of this absence)."""
        since = conn.execute(select(trials.c.missing_since)
                             .where(trials.c.nct_id == nct_id)).scalar()
        conn.execute(update(trials).where(trials.c.nct_id == nct_id).values(
            missing_since=since or when, last_checked_at=when,
            last_error="not in the registry"))
        return since is None

    def set_alias(self, nct_id: str, alias_of: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(update(trials).where(trials.c.nct_id == nct_id).values(alias_of=alias_of))

    # -- versions ------------------------------------------------------------------------
    def add(self, nct_id: str, snapshot: Snapshot, events: list[ChangeEvent], summary: str,
            data_timestamp: str | None, conn: Connection) -> int:
        """Store the next version of a trial in the caller's transaction; its number."""
        now = utcnow()
        number = (conn.execute(select(trials.c.latest_version)
                               .where(trials.c.nct_id == nct_id)).scalar() or 0) + 1
        conn.execute(insert(versions).values(
            nct_id=nct_id, number=number, fetched_at=now, data_timestamp=data_timestamp,
            events=_events_json(events), summary=summary, **stored(snapshot)))
        conn.execute(update(trials).where(trials.c.nct_id == nct_id).values(
            latest_version=number, last_checked_at=now, last_error=None, missing_since=None,
            **_latest(snapshot)))
        return number

    def history(self, nct_id: str) -> list[Version]:
        """Every version of a trial, oldest first, without their snapshots."""
        with self.db.transaction() as conn:
            rows = conn.execute(select(*LISTED).where(versions.c.nct_id == nct_id)
                                .order_by(versions.c.number))
            return [_version(r._mapping) for r in rows]

    def insert_loaded(self, nct_id: str, snapshot: Snapshot, registry_version: int,
                      registry_date: str | None, conn: Connection) -> int | None:
        """Store a version loaded from the registry's history in the caller's transaction,
        after the loaded versions older than it and before every version a check found
        (those move up by one, with their alerts' version numbers). Its events, and those of
        the version after it, are computed from their neighbours; nothing is alerted. None
        when that registry version is stored already."""
        rows = conn.execute(select(versions.c.number, versions.c.source,
                                   versions.c.registry_version)
                            .where(versions.c.nct_id == nct_id)).all()
        loaded = [r.registry_version for r in rows if r.source == "registry"]
        if registry_version in loaded:
            return None
        number = 1 + sum(v < registry_version for v in loaded)
        self._make_room(nct_id, number, conn)
        conn.execute(insert(versions).values(
            nct_id=nct_id, number=number, fetched_at=utcnow(), events="[]", summary="",
            source="registry", registry_version=registry_version,
            registry_date=registry_date, **stored(snapshot)))
        for each in (number, number + 1):
            self._reword(nct_id, each, conn)
        latest = len(rows) + 1
        values: dict[str, Any] = {"latest_version": latest}
        if number == latest:  # nothing found by a check yet: the next check compares to it
            values.update(_latest(snapshot))
        conn.execute(update(trials).where(trials.c.nct_id == nct_id).values(**values))
        return number

    def _make_room(self, nct_id: str, number: int, conn: Connection) -> None:
        """Versions from number on move up by one (in two steps: (nct_id, number) is unique)."""
        later = (versions.c.nct_id == nct_id) & (versions.c.number >= number)
        conn.execute(update(versions).where(later).values(number=versions.c.number + SHIFT))
        conn.execute(update(versions).where((versions.c.nct_id == nct_id)
                                            & (versions.c.number >= number + SHIFT))
                     .values(number=versions.c.number - SHIFT + 1))
        conn.execute(update(outbox).where((outbox.c.nct_id == nct_id)
                                          & (outbox.c.version >= number))
                     .values(version=outbox.c.version + 1))

    def _reword(self, nct_id: str, number: int, conn: Connection) -> None:
        """A version's events and summary from the version before it, as a check words them."""
        pair = conn.execute(select(versions.c.id, versions.c.number, versions.c.snapshot,
                                   versions.c.source)
                            .where(versions.c.nct_id == nct_id,
                                   versions.c.number.in_((number - 1, number)))
                            .order_by(versions.c.number)).all()
        if not pair or pair[-1].number != number:
            return
        if len(pair) == 1:
            events: list[ChangeEvent] = []
            summary = BASELINE_SUMMARY
        else:
            old, new = (_data(r.snapshot) for r in pair)
            events = diff_stored(old, new, lacks(pair[0].source,
                                                 pair[0].id <= self.untracked_through))
            summary = one_line(events)
        conn.execute(update(versions).where(versions.c.nct_id == nct_id,
                                            versions.c.number == number)
                     .values(events=_events_json(events), summary=summary))

    def mark_backfill(self, nct_id: str, when: str, error: str | None) -> None:
        """Record a backfill of the trial: done, or tried and failed with error."""
        done = {"backfilled_at": when} if error is None else {}
        with self.db.transaction() as conn:
            conn.execute(update(trials).where(trials.c.nct_id == nct_id).values(
                backfill_tried_at=when, backfill_error=error, **done))

    def outlines(self, nct_id: str) -> list[tuple[Version, dict[str, dict[str, Any]]]]:
        """Every version of a trial, oldest first, with its outline (normalise.outline: the
        status and outcome modules), read without its snapshot."""
        with self.db.transaction() as conn:
            rows = conn.execute(OUTLINES, {"nct_id": nct_id}).all()
            return [(self._version(r._mapping), orjson.loads(zlib.decompress(r.outline))
                     if r.outline is not None else self._outline(r.id, conn)) for r in rows]

    @staticmethod
    def _outline(version_id: int, conn: Connection) -> dict[str, dict[str, Any]]:
        """The outline of a version written without one (by hand, not by this program)."""
        blob = conn.execute(select(versions.c.snapshot)
                            .where(versions.c.id == version_id)).scalar_one()
        return outline(_data(blob))

    def snapshots(self, nct_id: str) -> Iterator[Version]:
        """Every version of a trial with its snapshot, oldest first, a few read at a time
        (a trial with hundreds of versions is never all in memory)."""
        with self.db.transaction() as conn:
            rows = conn.execution_options(yield_per=READ_BATCH).execute(
                select(versions).where(versions.c.nct_id == nct_id)
                .order_by(versions.c.number))
            for row in rows:
                yield self._version(row._mapping, _data(row.snapshot))

    def get(self, nct_id: str, number: int | None = None,
            data: bool = True) -> Version | None:
        """One version, with its snapshot data unless data is false; the latest when number
        is None."""
        query = select(*(versions.c if data else LISTED)).where(versions.c.nct_id == nct_id)
        query = (query.where(versions.c.number == number) if number is not None
                 else query.order_by(versions.c.number.desc()).limit(1))
        with self.db.transaction() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return self._version(row._mapping, _data(row.snapshot) if data else None)


class ChangeLog:
    """Read side for review: which versions changed something, newest first."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def last_changes(self) -> dict[str, LastChange]:
        """Each trial's newest version with a material change (none for a trial without
        one), with the events of the versions after it counted by severity. A trial's
        versions are read newest first, and only until its material one."""
        query = (select(versions.c.id, versions.c.nct_id, versions.c.number,
                        versions.c.fetched_at, versions.c.last_update, versions.c.events)
                 .where(versions.c.events != "[]")
                 .order_by(versions.c.nct_id, versions.c.number.desc()))
        found: dict[str, LastChange] = {}
        after: dict[str, dict[str, int]] = {}
        with self.db.transaction() as conn:
            for row in conn.execute(query):
                if row.nct_id in found:
                    continue
                events = [from_dict(e) for e in json.loads(row.events)]
                material = [e for e in events if is_material(e)]
                counts = after.setdefault(row.nct_id, {})
                if not material:
                    for event, _parts in folded(events):  # as the pages show them
                        counts[event.severity] = counts.get(event.severity, 0) + 1
                    continue
                found[row.nct_id] = LastChange(row.nct_id, row.number, row.fetched_at,
                                               row.last_update, one_line(material), counts,
                                               row.id)
        return found

    def recent(self, limit: int, offset: int = 0, nct_id: str | None = None,
               containing: tuple[str, ...] = ()) -> list[Version]:
        """Versions with change events, newest first; containing narrows to versions whose
        stored events hold each of those texts (a cheap first cut the caller refines)."""
        query = select(*LISTED).where(versions.c.events != "[]")
        if nct_id:
            query = query.where(versions.c.nct_id == nct_id)
        for words in containing:
            query = query.where(versions.c.events.contains(words, autoescape=True))
        query = query.order_by(versions.c.fetched_at.desc(), versions.c.id.desc())
        with self.db.transaction() as conn:
            rows = conn.execute(query.limit(limit).offset(offset))
            return [_version(r._mapping) for r in rows]

    def stamp(self) -> tuple[Any, ...]:
        """Changes whenever a version is stored, a check is recorded or a trial is muted or
        unmuted: a cache key, in one query."""
        with self.db.transaction() as conn:
            return tuple(conn.execute(STAMP, {"key": MUTED_KEY}).one())


MUTED_KEY = "trials.muted_at"  # when a trial was last muted or unmuted (ChangeLog.stamp)
# as text: every page asks, and the statement built with select() costs three times as much
STAMP = text("SELECT (SELECT max(id) FROM versions), (SELECT max(id) FROM checks), "
             "(SELECT value FROM meta WHERE key = :key)")


def _muted_again(conn: Connection) -> None:
    conn.execute(delete(meta).where(meta.c.key == MUTED_KEY))
    conn.execute(insert(meta).values(key=MUTED_KEY, value=f"{utcnow()} {secrets.token_hex(4)}"))


def stored(snapshot: Snapshot) -> dict[str, Any]:
    """A version row's columns that come from its snapshot."""
    return {"last_update": snapshot.last_update, "hash": snapshot.hash,
            "status": snapshot.status,
            "snapshot": zlib.compress(snapshot.canonical, SNAPSHOT_COMPRESSION),
            "outline": zlib.compress(canonical_json(outline(snapshot.data)),
                                     SNAPSHOT_COMPRESSION)}


def _latest(snapshot: Snapshot) -> dict[str, Any]:
    """A trial row's columns that follow its latest version."""
    return {"latest_hash": snapshot.hash, "latest_status": snapshot.status,
            "title": snapshot.title, **_derived(snapshot)}


def _derived(snapshot: Snapshot) -> dict[str, Any]:
    """What a trial row keeps of its latest version beyond its hash, status and title."""
    found = deadline(snapshot.data)
    return {"status_verified": snapshot.status_verified,
            "results_due": found.due.isoformat() if found else "",
            "results_submitted": _day(found.submitted) if found else None,
            "results_in_review": _day(found.in_review) if found else None}


def _day(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _data(blob: bytes) -> dict[str, Any]:
    return orjson.loads(zlib.decompress(blob))  # type: ignore[no-any-return]


def _events_json(events: list[ChangeEvent]) -> str:
    return json.dumps([e.to_dict() for e in events], ensure_ascii=False)


def lacks(source: str, untracked: bool) -> tuple[str, ...]:
    """The sections a version could not record: those the registry's history does not give
    (loaded from it), the review cycle (stored before snapshots kept it)."""
    return (UNRENDERED if source == "registry" else ()) + (UNTRACKED if untracked else ())


def _version(row: Any, data: dict[str, Any] | None = None, lacking: tuple[str, ...] = ()
             ) -> Version:
    return Version(row["nct_id"], row["number"], row["fetched_at"], row["last_update"],
                   row["data_timestamp"], row["hash"], row["status"], json.loads(row["events"]),
                   row["summary"], data, row["source"], row["registry_version"],
                   row["registry_date"], lacking, row["id"])
