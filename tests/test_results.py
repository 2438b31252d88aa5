"""What posted results found: the summary of every real record with results, read again
here straight from the record, and the compact reading of every shape the registry uses."""

from __future__ import annotations

import json
import subprocess
import sys
from html import escape
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import load
from notifiers.alerts import trial_payload
from notifiers.email import render_html
from snapshots.diff import diff
from snapshots.normalise import normalise
from snapshots.results import CATEGORIES_SHOWN, outcome_line, reading, summarise
from tests.conftest import CTGOV, write_config
from tests.support.builder import changed, study
from tests.support.http_sink import HttpSink
from tests.support.pages import serving
from tests.support.registry import FakeRegistry


def records_with_results() -> list[dict[str, Any]]:
    if not CTGOV.exists():
        pytest.skip("../shared/ctgov is absent: no real records with results to read")
    found = [json.loads(p.read_text()) for p in sorted((CTGOV / "studies").glob("*.json"))]
    return [r for r in found if isinstance(r, dict) and "resultsSection" in r]


@pytest.mark.one_backend
def test_every_real_summary_holds_the_records_primary_outcomes_as_written() -> None:
    records = records_with_results()
    assert len(records) >= 10
    for record in records:
        summary = summarise(record["resultsSection"])
        measures = [m for m in record["resultsSection"]["outcomeMeasuresModule"]
                    ["outcomeMeasures"] if m["type"] == "PRIMARY"]
        assert len(summary["primary_outcomes"]) == len(measures)
        for measure, got in zip(measures, summary["primary_outcomes"], strict=True):
            assert (got["title"], got["time_frame"], got["param"], got["unit"],
                    got["dispersion"]) == (measure["title"], measure.get("timeFrame"),
                                           measure.get("paramType"),
                                           measure.get("unitOfMeasure"),
                                           measure.get("dispersionType"))
            counts = {c["groupId"]: c["value"]
                      for c in (measure.get("denoms") or [{}])[0].get("counts", [])}
            assert got["groups"] == [{"id": g["id"], "title": g["title"],
                                      "participants": counts.get(g["id"])}
                                     for g in measure.get("groups", [])]
            written = [(c.get("title"), k.get("title"), m["groupId"], m["value"],
                        m.get("spread"), m.get("lowerLimit"), m.get("upperLimit"))
                       for c in measure.get("classes", []) for k in c["categories"]
                       for m in k["measurements"]]
            assert [(r["class"], r["category"], r["group"], r["value"], r["spread"],
                     r["lower"], r["upper"]) for r in got["rows"]] == written
            assert [(a["groups"], a["estimate"], a["lower"], a["upper"], a["p_value"])
                    for a in got["analyses"]] == [
                (a.get("groupIds"), a.get("paramValue"), a.get("ciLowerLimit"),
                 a.get("ciUpperLimit"), a.get("pValue")) for a in measure.get("analyses", [])]
            line = outcome_line(got)
            shown = list(dict.fromkeys(w[:2] for w in written))[:CATEGORIES_SHOWN]
            for cls, category, _, value, *_ in written:  # the registry's strings as written
                if (cls, category) in shown and value != "NA":
                    assert value.replace("-", "−") in line, (line, value)


def test_started_and_serious_adverse_events_are_the_records() -> None:
    for record in records_with_results():
        section = record["resultsSection"]
        summary = summarise(section)
        first = section["participantFlowModule"]["periods"][0]
        started = [m for m in first["milestones"] if m["type"] == "STARTED"][0]
        assert summary["participants_started"] == sum(
            int(a["numSubjects"]) for a in started["achievements"])
        assert summary["serious_adverse_events"] == [
            {"group": g["id"], "title": g["title"], "affected": g.get("seriousNumAffected"),
             "at_risk": g.get("seriousNumAtRisk")}
            for g in section["adverseEventsModule"]["eventGroups"]]


def test_real_readings_say_what_was_found() -> None:
    by_id = {r["protocolSection"]["identificationModule"]["nctId"]: r
             for r in records_with_results()}
    lines = reading(summarise(by_id["NCT02552212"]["resultsSection"]))
    assert lines[0] == (
        "Primary outcome: Percentage of Subjects With Ankylosing Spondylitis Disease Activity "
        "Score Major Improvement (ASDAS-…, % of subjects — 7.0 vs 47.2; odds ratio 15.231 "
        "(7.336 to 31.623), p < 0.001")
    assert lines[-1] == ("317 participants started; serious adverse events 4/158, 8/159, "
                         "3/96, 1/20, 15/243")
    assert reading(summarise(by_id["NCT01367860"]["resultsSection"]))[0].endswith(
        "units on a scale, mean — 2.63 (SD 2.9) vs 4.53 (SD 3.47); mean difference −1.89 "
        "(−4.05 to 0.26), p = 0.05")


# -- shapes the shared records lack, from a builder ---------------------------------------------
def measure(param: str, dispersion: str | None, rows: list[tuple[str, str, dict[str, str]]],
            groups: int = 2, analyses: list[dict[str, Any]] | None = None,
            unit: str = "months") -> dict[str, Any]:
    """A primary outcome measure: rows of (class, category, {group: value or "v|lo|hi"})."""
    def measurement(group: str, text: str) -> dict[str, str]:
        value, *rest = text.split("|")
        out = {"groupId": group, "value": value}
        if len(rest) == 1:
            out["spread"] = rest[0]
        elif len(rest) == 2:
            out["lowerLimit"], out["upperLimit"] = rest
        return out

    classes: dict[str, list[dict[str, Any]]] = {}
    for cls, category, values in rows:
        classes.setdefault(cls, []).append(
            {**({"title": category} if category else {}),
             "measurements": [measurement(g, v) for g, v in values.items()]})
    return {"type": "PRIMARY", "title": "Overall Survival", "timeFrame": "5 years",
            "paramType": param, "unitOfMeasure": unit,
            **({"dispersionType": dispersion} if dispersion else {}),
            "groups": [{"id": f"OG00{i}", "title": f"Arm {'ABCDEF'[i]}"} for i in range(groups)],
            "denoms": [{"units": "Participants", "counts": [
                {"groupId": f"OG00{i}", "value": str(60 + i)} for i in range(groups)]}],
            "classes": [{**({"title": c} if c else {}), "categories": cats}
                        for c, cats in classes.items()],
            "analyses": analyses or []}


def line_of(m: dict[str, Any]) -> str:
    return reading(summarise({"outcomeMeasuresModule": {"outcomeMeasures": [m]}}))[0]


@pytest.mark.parametrize(("m", "says"), [
    (measure("MEDIAN", "95% Confidence Interval",
             [("", "", {"OG000": "14.2|11.9|16.8", "OG001": "NA|9.1|NA"})],
             analyses=[{"groupIds": ["OG000", "OG001"], "paramType": "Hazard Ratio (HR)",
                        "paramValue": "0.72", "ciPctValue": "95", "ciLowerLimit": "0.55",
                        "ciUpperLimit": "0.94", "pValue": "0.016",
                        "statisticalMethod": "Log Rank"}]),
     "months, median — 14.2 (95% CI 11.9–16.8) vs NA; hazard ratio 0.72 (0.55 to 0.94), "
     "p = 0.016"),
    (measure("MEDIAN", "Inter-Quartile Range", [("", "", {"OG000": "3|1|7", "OG001": "4|2|9"})]),
     "— 3 (IQR 1–7) vs 4 (IQR 2–9)"),
    (measure("LEAST_SQUARES_MEAN", "Standard Error",
             [("", "", {"OG000": "-1.2|0.3", "OG001": "0.4|0.31"})],
             analyses=[{"groupIds": ["OG000", "OG001"], "pValue": "<.001"}]),
     "months, least-squares mean — −1.2 (SE 0.3) vs 0.4 (SE 0.31); p < .001"),
    (measure("GEOMETRIC_MEAN", "Geometric Coefficient of Variation",
             [("", "", {"OG000": "210|35.2"})], groups=1, unit="ng/mL"),
     "ng/mL, geometric mean — 210 (CV 35.2)"),
    (measure("COUNT_OF_PARTICIPANTS", None,
             [("", c, {"OG000": n, "OG001": m}) for c, n, m in
              (("Complete response", "3", "1"), ("Partial response", "12", "8"),
               ("Stable disease", "20", "22"), ("Progression", "25", "30"))],
             unit="Participants"),
     "Participants — Complete response: 3 of 60 vs 1 of 61 | Partial response: 12 of 60 vs "
     "8 of 61 | Stable disease: 20 of 60 vs 22 of 61 | +1 more"),
    (measure("MEAN", "Standard Deviation",
             [("", "", {f"OG00{i}": f"{10 + i}|2" for i in range(4)})], groups=4),
     "— Arm A: 10 (SD 2); Arm B: 11 (SD 2); Arm C: 12 (SD 2); Arm D: 13 (SD 2)"),
], ids=["time to event", "IQR", "least squares, SE", "geometric CV", "categories",
        "many groups"])
def test_every_shape_reads_well(m: dict[str, Any], says: str) -> None:
    assert says in line_of(m)


def test_the_results_posted_event_carries_the_summary() -> None:
    record = records_with_results()[0]
    before = {k: v for k, v in record.items() if k not in ("resultsSection", "hasResults")}
    events = diff(normalise(before).data, normalise(record).data)
    [posted] = [e for e in events if e.field == "hasResults"]
    assert posted.results == summarise(record["resultsSection"])
    assert posted.to_dict()["results"] == posted.results
    assert all("results" not in e.to_dict() for e in events if e.field != "hasResults")


def test_the_summary_is_made_only_when_results_appear() -> None:
    built = study("NCT09000001")
    events = diff(normalise(built).data,
                  normalise(changed(built, "protocolSection.statusModule.overallStatus",
                                    "COMPLETED")).data)
    assert all(e.results is None for e in events)


def with_results(record: dict[str, Any], *measures: dict[str, Any]) -> dict[str, Any]:
    return {**record, "hasResults": True,
            "resultsSection": {"outcomeMeasuresModule": {"outcomeMeasures": list(measures)}}}


SURVIVAL = measure("MEDIAN", "95% Confidence Interval",
                   [("", "", {"OG000": "14.2|11.9|16.8", "OG001": "11.0|9.1|13.2"})])


@pytest.mark.parametrize(("after", "says"), [
    (measure("MEDIAN", "95% Confidence Interval",
             [("", "", {"OG000": "14.6|11.9|16.8", "OG001": "11.0|9.1|13.2"})]),
     "Results updated: Overall Survival, Arm A median 14.2 → 14.6 months"),
    ({**SURVIVAL, "analyses": [{"groupIds": ["OG000", "OG001"], "paramType": "Hazard Ratio",
                                "paramValue": "0.70", "pValue": "0.01"}]},
     "Results updated: Overall Survival, analysis added: hazard ratio 0.70, p = 0.01"),
    ({**SURVIVAL, "title": "Overall Survival at 5 Years"},
     "Results updated: Overall Survival at 5 Years added; Overall Survival removed"),
], ids=["a value", "an analysis", "a measure renamed"])
def test_results_updated_after_posting_name_the_outcome_and_what_moved(
        after: dict[str, Any], says: str) -> None:
    built = study("NCT09000001", status="COMPLETED")
    old = normalise(with_results(built, SURVIVAL)).data
    [event] = diff(old, normalise(with_results(built, after)).data)
    assert (event.category, event.severity, event.summary) == ("results", "notable", says)


def test_every_channel_and_the_page_show_what_was_found(
        tmp_path: Path, registry: FakeRegistry, sink: HttpSink) -> None:
    built = study("NCT09000001", status="COMPLETED")
    registry.put(built)
    config = write_config(tmp_path, registry.base_url, ["NCT09000001"],
                          f'[notifiers.team]\ntype = "slack"\nwebhook_url = "{sink.url}"\n')
    assert main(["--config", str(config), "check"]) == 0
    registry.put(with_results(built, SURVIVAL))
    registry.data_timestamp = "2026-03-13T09:00:05"
    printed = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config),
                              "check"], capture_output=True, text=True, check=True).stdout
    line = "Primary outcome: Overall Survival, months, median — 14.2 (95% CI 11.9–16.8) vs 11.0"
    assert f"  [notable] Results posted\n      {line}" in printed  # the console
    slack = json.dumps(sink.received[-1].body, ensure_ascii=False)
    assert line in slack
    payload = trial_payload("NCT09000001", "t", 2, 1, [e for e in diff(
        normalise(built).data, normalise(with_results(built, SURVIVAL)).data)
        if e.field == "hasResults"])
    assert escape(line) in render_html([payload])  # the email
    settings = load(config)
    with serving(settings) as client:
        assert escape(line) in client.get("/trials/NCT09000001").text


def unposted(*events: tuple[str, str]) -> dict[str, Any]:
    return {"annotationModule": {"unpostedAnnotation": {
        "unpostedResponsibleParty": "Example Org",
        "unpostedEvents": [{"type": t, "date": d} for t, d in events]}}}


@pytest.mark.parametrize(("before", "after", "says"), [
    ((), (("RELEASE", "2026-11-20"),),
     "Results submitted 2026-11-20, under the registry's quality-control review"),
    ((("RELEASE", "2026-11-20"),), (("RELEASE", "2026-11-20"), ("RESET", "2026-12-15")),
     "Results returned to the sponsor after review (2026-12-15)"),
    ((("RELEASE", "2026-11-20"),), (("RELEASE", "2026-11-20"), ("UNRELEASE", "2026-11-25")),
     "Results submission withdrawn by the sponsor (2026-11-25)"),
], ids=["submitted", "returned", "withdrawn"])
def test_results_under_review_reach_users_as_results_events(
        before: tuple[tuple[str, str], ...], after: tuple[tuple[str, str], ...],
        says: str) -> None:
    built = study("NCT09000001", status="COMPLETED")
    old = normalise({**built, **({"annotationSection": unposted(*before)} if before else {})})
    new = normalise({**built, "annotationSection": unposted(*after)})
    events = diff(old.data, new.data)
    assert [(e.category, e.severity, e.summary) for e in events] == [
        ("results", "notable", says)]
