"""`ctmonitor export`: one row per stored version, with the columns cthist writes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from tests.conftest import write_config
from tests.support.builder import study

# clinicaltrials_gov_download() of the R package cthist (bgcarlisle/cthist), in its order
CTHIST = [
    "nctid", "version_number", "total_versions", "version_date", "overall_status",
    "study_start_date", "study_start_date_precision", "primary_completion_date",
    "primary_completion_date_precision", "primary_completion_date_type", "enrolment",
    "enrolment_type", "min_age", "max_age", "sex", "accepts_healthy_volunteers", "criteria",
    "outcome_measures", "overall_contacts", "central_contacts", "responsible_party",
    "lead_sponsor", "collaborators", "locations", "whystopped", "results_posted",
    "references", "orgstudyid", "secondaryids",
]


@pytest.fixture
def three_versions(tmp_path: Path, registry: Any) -> Path:
    """NCT09000001 in three versions (a date moved and an outcome added; then terminated)
    and NCT09000002 in one."""
    config = write_config(tmp_path, registry.base_url, ["NCT09000001", "NCT09000002"])
    registry.put(study("NCT09000001"))
    registry.put(study("NCT09000002"))
    assert main(["--config", str(config), "check"]) == 0
    second = study("NCT09000001", primary_completion=("2027-06", "ESTIMATED"),
                   lastUpdatePostDateStruct={"date": "2026-04-02", "type": "ACTUAL"})
    second["protocolSection"]["outcomesModule"]["secondaryOutcomes"] = [
        {"measure": "Quality of life", "timeFrame": "1 year", "description": "EORTC QLQ-C30"}]
    registry.put(second)
    registry.data_timestamp = "2026-04-02T09:00:05"
    assert main(["--config", str(config), "check"]) == 0
    third = json.loads(json.dumps(second))
    third["protocolSection"]["statusModule"].update(
        overallStatus="TERMINATED", whyStopped="Sponsor decision, \"strategic\"",
        lastUpdatePostDateStruct={"date": "2026-05-04", "type": "ACTUAL"})
    registry.put(third)
    registry.data_timestamp = "2026-05-04T09:00:05"
    assert main(["--config", str(config), "check"]) == 0
    return config


def exported(config: Path, capsys: pytest.CaptureFixture[str], *words: str) -> str:
    capsys.readouterr()
    assert main(["--config", str(config), "export", *words]) == 0
    return capsys.readouterr().out


def test_the_csv_has_cthists_columns_and_a_row_per_version(
        three_versions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reader = csv.DictReader(io.StringIO(exported(three_versions, capsys, "NCT09000001")))
    assert reader.fieldnames is not None
    assert reader.fieldnames[:len(CTHIST)] == CTHIST
    assert reader.fieldnames[len(CTHIST):] == [
        "study_start_date_type", "completion_date", "completion_date_precision",
        "completion_date_type", "primary_outcomes", "secondary_outcomes", "source"]
    rows = list(reader)
    assert [(r["version_number"], r["total_versions"]) for r in rows] == [
        ("1", "3"), ("2", "3"), ("3", "3")]
    first, second, third = rows
    assert first["version_date"] == "2026-02-23" and third["version_date"] == "2026-05-04"
    assert (first["overall_status"], third["overall_status"]) == ("Recruiting", "Terminated")
    assert (first["primary_completion_date"], first["primary_completion_date_precision"],
            first["primary_completion_date_type"]) == ("2027-03-31", "day", "Estimated")
    assert (second["primary_completion_date"],
            second["primary_completion_date_precision"]) == ("2027-06-01", "month")
    assert (first["completion_date"], first["completion_date_precision"]) == ("2027-09-01",
                                                                              "month")
    assert (first["enrolment"], first["enrolment_type"]) == ("120", "Estimated")
    assert (first["whystopped"], third["whystopped"]) == ("NA", 'Sponsor decision, "strategic"')
    assert first["results_posted"] == "FALSE" and first["source"] == "check"
    assert json.loads(first["outcome_measures"]) == [
        {"section": "Primary Outcome Measures", "label": "1.",
         "content": "Overall survival [ Time Frame: 3 years ]"}]
    assert json.loads(second["outcome_measures"])[1] == {
        "section": "Secondary Outcome Measures", "label": "1.",
        "content": "Quality of life [ Time Frame: 1 year ]\n\nEORTC QLQ-C30"}
    assert json.loads(second["secondary_outcomes"])[0]["measure"] == "Quality of life"
    assert json.loads(first["lead_sponsor"]) == {"name": "Example Org", "class": "OTHER"}
    assert first["sex"] == "All" and first["criteria"].startswith("Inclusion Criteria:")


def test_json_lines_carry_the_same_keys_as_json_values(
        three_versions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = exported(three_versions, capsys, "--all", "--format", "jsonl").splitlines()
    rows = [json.loads(line) for line in lines]
    assert [(r["nctid"], r["version_number"]) for r in rows] == [
        ("NCT09000001", 1), ("NCT09000001", 2), ("NCT09000001", 3), ("NCT09000002", 1)]
    assert rows[0]["enrolment"] == 120 and rows[0]["results_posted"] is False
    assert rows[0]["whystopped"] is None
    assert rows[0]["primary_outcomes"] == [{"measure": "Overall survival",
                                            "timeFrame": "3 years"}]


def test_export_errors_are_one_line(three_versions: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    for words, says in ((["NCT09000009"], "NCT09000009: no stored versions"),
                        (["NCT09000001", "--all"], "name trials (NCT ids) or give --all"),
                        ([], "name trials (NCT ids) or give --all"),
                        (["NCT123"], "NCT123")):
        capsys.readouterr()
        assert main(["--config", str(three_versions), "export", *words]) != 0
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1, err
