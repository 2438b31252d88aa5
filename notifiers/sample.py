"""A sample alert for notify-test, made by the real diff from a real kind of change:
a trial terminated early, its completion dates confirmed months ahead of the estimate.
"""

from __future__ import annotations

from typing import Any

from notifiers.alerts import trial_payload
from snapshots.diff import diff

SAMPLE_ID = "NCT05935098"
SAMPLE_TITLE = "[ctmonitor test alert] A study of an anti-CCR8 antibody in solid tumours"


def _record(status: str, pcd: dict[str, str], extra: dict[str, Any]) -> dict[str, Any]:
    return {"protocolSection": {
        "identificationModule": {"nctId": SAMPLE_ID, "briefTitle": SAMPLE_TITLE},
        "statusModule": {"overallStatus": status, "primaryCompletionDateStruct": pcd, **extra},
    }, "hasResults": False}


def sample_payload() -> dict[str, Any]:
    old = _record("ACTIVE_NOT_RECRUITING", {"date": "2027-03-31", "type": "ESTIMATED"}, {})
    new = _record("TERMINATED", {"date": "2026-01-27", "type": "ACTUAL"},
                  {"whyStopped": "Sponsor decision, not driven by safety concerns."})
    return trial_payload(SAMPLE_ID, SAMPLE_TITLE, 2, 1, diff(old, new))
