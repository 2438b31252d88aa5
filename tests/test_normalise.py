"""Normalising records: what is kept, what the hash ignores, what is not a record."""

from __future__ import annotations

import pytest

from snapshots.errors import RecordError
from snapshots.normalise import normalise
from tests.conftest import load, pair
from tests.support.builder import study

pytestmark = pytest.mark.one_backend  # no store: the SQLite run is enough


@pytest.mark.parametrize("nct_id", ["NCT05911841", "NCT02552212"])
def test_refresh_noise_makes_no_new_version(nct_id: str) -> None:
    old, new = pair(nct_id)
    assert old != new
    assert normalise(old).hash == normalise(new).hash


@pytest.mark.parametrize("nct_id", ["NCT05935098", "NCT05294952", "NCT07011550"])
def test_a_real_change_makes_a_new_hash(nct_id: str) -> None:
    old, new = pair(nct_id)
    assert normalise(old).hash != normalise(new).hash


def test_snapshot_keeps_what_users_care_about() -> None:
    record = load("studies", "study_NCT02369484.json")
    snap = normalise(record)
    assert set(snap.data) == {"protocolSection", "hasResults", "resultsSection",
                              "documentSection"}
    assert snap.nct_id == "NCT02369484" and snap.status == "COMPLETED"


def test_derived_section_is_left_out() -> None:
    a = study(version_holder="2026-01-01")
    b = study(version_holder="2026-01-02")
    b["derivedSection"]["miscInfoModule"]["modelPredictions"] = {"bmiLimits": {"minBmi": 18}}
    assert normalise(a).hash == normalise(b).hash


@pytest.mark.parametrize(("document", "reason"), [
    ([], "a JSON array"),
    ("text", "a JSON str"),
    ({"studies": []}, "a search page"),
    ({"hasResults": False}, "no protocolSection"),
    ({"protocolSection": {"statusModule": {}}}, "no protocolSection.identificationModule.nctId"),
])
def test_not_a_study_record(document: object, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        normalise(document)
