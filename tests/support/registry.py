"""A local HTTP server that speaks the ClinicalTrials.gov API v2 shape, for tests and bench.

It serves /version, /studies?filter.ids=... (paged with opaque tokens, checking that every
page repeats the first page's parameters) and /studies/{id} (404, 301 for aliases), and
can be told to misbehave: scripted faults, rejected ids, empty pages.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.local_server import LocalServer, QuietHandler

PAGING_PARAMS = {"pageToken", "pageSize", "countTotal"}
UPDATED_SINCE = re.compile(r"AREA\[LastUpdatePostDate\]RANGE\[([0-9-]+),\s*MAX\]")


@dataclass
class Fault:
    """Answer the next requests whose path and query start with prefix like this, times times."""

    prefix: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "error"
    delay: float = 0.0
    times: int = 1
    action: Callable[[Any], None] | None = None  # takes the handler over (resets, trickles)


class FakeRegistry(LocalServer):
    """The registry's state; tests change it between checks."""

    def __init__(self, records: dict[str, dict[str, Any]] | None = None,
                 data_timestamp: str = "2026-03-12T09:00:05") -> None:
        super().__init__()
        self.records: dict[str, dict[str, Any]] = dict(records or {})
        self.data_timestamp = data_timestamp
        self.aliases: dict[str, str] = {}
        self.reject_ids: set[str] = set()
        self.faults: list[Fault] = []
        self.empty_pages = False
        self.page_size_cap = 1000
        self.extra_studies: list[dict[str, Any]] = []  # sent with every search page
        self.single_delay = 0.0  # seconds before answering GET /studies/{id}
        # the internal history endpoints: per trial, (change, study as the website renders it)
        self.histories: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
        self.log: list[str] = []
        self.user_agents: set[str] = set()
        self.lock = threading.Lock()
        self._encoded: dict[str, bytes] = {}
        self.bytes_sent = 0  # answer bodies sent (the benchmarks' bytes downloaded)

    def start(self) -> str:
        self.serve(type("Handler", (_Handler,), {"registry": self}))
        return self.base_url

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/v2"

    @property
    def history_url(self) -> str:
        return f"{self.origin}/api/int/studies"

    def history_answer(self, path: str) -> tuple[int, Any]:
        """GET /api/int/studies/{id}?history=true and /api/int/studies/{id}/history/{v}."""
        parts = path.removeprefix("/api/int/studies/").split("/")
        versions = self.histories.get(parts[0].upper())
        if versions is None:
            return 404, "not found"
        if len(parts) == 1:
            return 200, {"study": versions[-1][1], "history": {
                "changes": [change for change, _ in versions]}}
        number = int(parts[2]) if parts[2].isdigit() else -1
        if not 0 <= number < len(versions):
            return 404, "no such version"
        return 200, {"studyVersion": number, "study": versions[number][1]}

    def put(self, record: dict[str, Any]) -> None:
        nct = record["protocolSection"]["identificationModule"]["nctId"]
        self.records[nct] = record
        self._encoded.pop(nct, None)

    def put_raw(self, nct: str, record: dict[str, Any], body: bytes) -> None:
        """Serve body, as it is, as trial nct's record (which may lack a readable id, or
        hold what json.dumps cannot write); record answers the search's filters."""
        self.records[nct] = record
        self._encoded[nct] = body

    def encoded(self, nct: str) -> bytes:
        """A record's JSON, encoded once (pages of thousands of records stay cheap to serve)."""
        if nct not in self._encoded:
            self._encoded[nct] = json.dumps(self.records[nct]).encode()
        return self._encoded[nct]

    def requests_to(self, prefix: str) -> int:
        return sum(1 for line in self.log if line.startswith(prefix))

    # -- answering -------------------------------------------------------------------------
    def fault_for(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.prefix):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def last_update(self, nct: str) -> str:
        status = self.records[nct]["protocolSection"].get("statusModule", {})
        return str((status.get("lastUpdatePostDateStruct") or {}).get("date", ""))

    def matching(self, query: dict[str, list[str]]) -> list[str]:
        """The records a search matches: query.cond in a condition, query.term anywhere,
        filter.overallStatus among the statuses (enough of the API for search watches)."""
        cond = query.get("query.cond", [""])[0].lower()
        term = query.get("query.term", [""])[0].lower()
        statuses = {s for s in query.get("filter.overallStatus", [""])[0].split(",") if s}
        found = []
        for nct, record in sorted(self.records.items()):
            protocol = record["protocolSection"]
            conditions = protocol.get("conditionsModule", {}).get("conditions", [])
            if cond and not any(cond in c.lower() for c in conditions):
                continue
            if term and term not in json.dumps(record).lower():
                continue
            if statuses and protocol.get("statusModule", {}).get("overallStatus") not in statuses:
                continue
            found.append(nct)
        return found

    def search(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        token = query.get("pageToken", [None])[0]
        fixed = sorted((k, v) for k, v in query.items() if k not in PAGING_PARAMS)
        ids = [i.strip().upper() for i in
               query.get("filter.ids", [""])[0].replace("|", ",").split(",") if i.strip()]
        if any(i in self.reject_ids for i in ids):
            return 400, "filter.ids: invalid NCT id"
        size = min(int(query.get("pageSize", ["10"])[0]) or 10, self.page_size_cap)
        start, expected, empty_done = _untoken(token) if token else (0, fixed, False)
        if expected != fixed:
            return 400, "page parameters differ from the first page's"
        if self.empty_pages and token and not empty_done:
            return 200, {"studies": [], "nextPageToken": _token(start, fixed, True)}
        if "filter.ids" in query:
            found = [self.aliases.get(i, i) for i in ids if self.aliases.get(i, i) in self.records]
            since = UPDATED_SINCE.search(query.get("filter.advanced", [""])[0])
            if since:
                found = [n for n in found if self.last_update(n) >= since.group(1)]
        else:
            term = query.get("query.term", [""])[0]
            if "AREA[Nope]" in term:
                return 400, "query.term: unknown search area Nope"
            found = self.matching(query)
        fields = query.get("fields", [""])[0]
        encode = (lambda n: json.dumps(project(self.records[n])).encode()) if fields \
            else self.encoded
        studies = b",".join([*(encode(n) for n in found[start:start + size]),
                             *(json.dumps(s).encode() for s in self.extra_studies)])
        tail = b""
        if start + size < len(found):
            tail = b', "nextPageToken": "' + _token(start + size, fixed, False).encode() + b'"'
        return 200, b'{"studies": [' + studies + b"]" + tail + b"}"


def project(record: dict[str, Any]) -> dict[str, Any]:
    """A record cut to the fields a search watch asks for (fields=NCTId,BriefTitle,...)."""
    protocol = record["protocolSection"]
    status = protocol.get("statusModule", {})
    return {"protocolSection": {
        "identificationModule": {k: v for k, v in protocol["identificationModule"].items()
                                 if k in ("nctId", "briefTitle")},
        "statusModule": {k: v for k, v in status.items()
                         if k in ("overallStatus", "studyFirstPostDateStruct")},
        "designModule": {"phases": protocol.get("designModule", {}).get("phases", [])},
        "sponsorCollaboratorsModule": {"leadSponsor": protocol.get(
            "sponsorCollaboratorsModule", {}).get("leadSponsor", {})}}}


def _token(offset: int, fixed: list[Any], empty_done: bool) -> str:
    raw = json.dumps([offset, fixed, empty_done]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str) -> tuple[int, list[Any], bool]:
    padded = token + "=" * (-len(token) % 4)
    offset, fixed, empty_done = json.loads(base64.urlsafe_b64decode(padded))
    return offset, [tuple(x) for x in fixed], empty_done


class _Handler(QuietHandler):
    registry: FakeRegistry

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        reg = self.registry
        url = urlsplit(self.path)
        path = url.path.removeprefix("/api/v2")
        line = path + ("?" + url.query if url.query else "")
        reg.log.append(line)
        reg.user_agents.add(self.headers.get("User-Agent", ""))
        fault = reg.fault_for(line)
        if fault:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.action:
                return fault.action(self)
            return self.answer(fault.status, fault.body, fault.headers)
        if url.path.startswith("/api/int/studies/"):
            return self.answer(*reg.history_answer(url.path))
        if path == "/version":
            return self.answer(200, {"apiVersion": "2.0.5", "dataTimestamp": reg.data_timestamp})
        if path == "/studies":
            return self.answer(*reg.search(parse_qs(url.query)))
        if path.startswith("/studies/"):
            time.sleep(reg.single_delay)
            nct = path.split("/")[2].upper()
            if nct in reg.reject_ids:
                return self.answer(400, f"invalid NCT id {nct}")
            if nct in reg.aliases:
                moved_to = f"/api/v2/studies/{reg.aliases[nct]}"
                return self.answer(301, "moved", {"Location": moved_to})
            if nct in reg.records:
                return self.answer(200, reg.encoded(nct))
            return self.answer(404, f"study {nct} not found")
        return self.answer(404, "no such endpoint")

    def send(self, status: int, data: bytes, headers: dict[str, str] | None = None,
             content_type: str = "application/json") -> None:
        with self.registry.lock:
            self.registry.bytes_sent += len(data)
        super().send(status, data, headers, content_type)

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Bytes as they are, text as text/plain, anything else as JSON."""
        if isinstance(body, str):
            return self.send(status, body.encode(), headers, "text/plain")
        self.send(status, body if isinstance(body, bytes) else json.dumps(body).encode(), headers)
