"""A small builder of API v2 study records, for cases the real records in ../shared lack."""

from __future__ import annotations

import copy
from typing import Any


def study(nct_id: str = "NCT09000001", status: str = "RECRUITING",
          start: tuple[str, str | None] = ("2024-01-15", "ACTUAL"),
          primary_completion: tuple[str, str | None] = ("2027-03-31", "ESTIMATED"),
          completion: tuple[str, str | None] = ("2027-09", "ESTIMATED"),
          enrollment: tuple[int, str] = (120, "ESTIMATED"), title: str = "A built study",
          version_holder: str = "2026-03-12", **status_extra: Any) -> dict[str, Any]:
    """A full-looking record with the modules a monitor reads."""

    def date(value: tuple[str, str | None]) -> dict[str, str]:
        return {"date": value[0], **({"type": value[1]} if value[1] else {})}

    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct_id, "briefTitle": title,
                                     "organization": {"fullName": "Example Org",
                                                      "class": "OTHER"}},
            "statusModule": {
                "statusVerifiedDate": "2026-02", "overallStatus": status,
                "startDateStruct": date(start),
                "primaryCompletionDateStruct": date(primary_completion),
                "completionDateStruct": date(completion),
                "studyFirstSubmitDate": "2023-11-01",
                "studyFirstPostDateStruct": {"date": "2023-11-03", "type": "ACTUAL"},
                "lastUpdateSubmitDate": "2026-02-20",
                "lastUpdatePostDateStruct": {"date": "2026-02-23", "type": "ACTUAL"},
                **status_extra,
            },
            "sponsorCollaboratorsModule": {"leadSponsor": {"name": "Example Org",
                                                           "class": "OTHER"}},
            "conditionsModule": {"conditions": ["Hepatocellular Carcinoma", "Liver Cancer"]},
            "designModule": {"studyType": "INTERVENTIONAL", "phases": ["PHASE2"],
                             "enrollmentInfo": {"count": enrollment[0], "type": enrollment[1]}},
            "armsInterventionsModule": {
                "armGroups": [{"label": "Arm A", "type": "EXPERIMENTAL"},
                              {"label": "Arm B", "type": "PLACEBO_COMPARATOR"}],
                "interventions": [{"type": "DRUG", "name": "Drug X",
                                   "armGroupLabels": ["Arm A"]}]},
            "outcomesModule": {"primaryOutcomes": [{"measure": "Overall survival",
                                                    "timeFrame": "3 years"}]},
            "eligibilityModule": {"eligibilityCriteria": "Inclusion Criteria:\n\n* Adults",
                                  "sex": "ALL", "stdAges": ["ADULT", "OLDER_ADULT"]},
            "contactsLocationsModule": {"locations": [
                {"facility": "Mayo Clinic", "city": "Rochester", "country": "United States",
                 "status": "RECRUITING"},
                {"facility": "Charité", "city": "Berlin", "country": "Germany",
                 "status": "RECRUITING"}]},
        },
        "derivedSection": {"miscInfoModule": {"versionHolder": version_holder}},
        "hasResults": False,
    }


def changed(record: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of record with the dotted path set to value (None deletes it)."""
    copy_ = copy.deepcopy(record)
    *parents, last = path.split(".")
    node = copy_
    for key in parents:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return copy_
