"""The typed edge where a record enters (snapshots.record): the schema of the fields the
monitor reads agrees with the registry's own OpenAPI file, every field gone wrong fails with
one line naming it, and a record that passes goes through every later stage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from notifiers.alerts import trial_payload
from notifiers.render import message_lines
from snapshots.diff import diff
from snapshots.errors import RecordError
from snapshots.normalise import normalise
from snapshots.record import RECORD_SCHEMA, check_record
from tests.conftest import shared
from tests.support import mutants
from tests.support.builder import changed, study
from tests.support.mutants import VARIANTS, Field

pytestmark = pytest.mark.one_backend
OPENAPI_TYPES = {"string": "string", "boolean": "boolean", "integer": "integer",
                 "object": "object", "array": "array"}


def openapi_schema(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_the_record_schema_gives_every_field_the_registry_s_own_type() -> None:
    import yaml

    spec = yaml.safe_load(shared("ctg-oas-v2.0.5.yaml").read_text(encoding="utf-8"))
    checked = 0
    for field in mutants.fields():
        theirs = openapi_schema(spec, spec["components"]["schemas"]["Study"])
        for key in field.path:
            theirs = openapi_schema(spec, theirs["items"] if key == "0"
                                    else theirs["properties"][key])
        if field.name == "hasResults":  # the spec leaves it out; every real record has it
            continue
        assert theirs.get("type", "string") == field.type, field.name  # enums: strings
        checked += 1
    assert checked > 100


def test_every_real_record_fits_the_schema() -> None:
    files = [*shared("studies").glob("*.json"), *shared("pairs").glob("*.json")]
    for path in files:
        check_record(json.loads(path.read_text(encoding="utf-8")))
    assert len(files) > 40


def test_the_reason_names_the_field_and_what_was_expected() -> None:
    record = changed(study("NCT07011550"), "protocolSection.statusModule.whyStopped", 3)
    with pytest.raises(RecordError) as raised:
        normalise(record)
    assert str(raised.value) == ("record unreadable: protocolSection.statusModule.whyStopped: "
                                 "expected text, got a number")


CASES = [(field, variant, value) for variant in VARIANTS
         for field, value in mutants.cases(variant)]


@pytest.mark.parametrize(("field", "variant", "value"), CASES,
                         ids=[f"{v}: {f.name}" for f, v, _ in CASES])
def test_a_field_gone_wrong_fails_with_one_line_or_goes_through_every_stage(
        field: Field, variant: str, value: Any) -> None:
    base = study("NCT09000001")
    record = mutants.with_value(base, field, value)
    if mutants.fails(field, variant):
        with pytest.raises(RecordError) as raised:
            normalise(record)
        assert str(raised.value).startswith(mutants.expected_error(field, variant))
        assert "\n" not in str(raised.value) and len(str(raised.value)) < 200
        return
    events = diff(normalise(base).data, normalise(record).data)  # the edge let it in
    payload = trial_payload("NCT09000001", "A built study", 2, 1, events, None)
    assert not events or message_lines(payload)


@pytest.mark.parametrize("where", ["protocolSection.designModule.designInfo.extra",
                                   "protocolSection.statusModule.whyStopped",
                                   "resultsSection.moreInfoModule.pointOfContact"])
def test_a_record_nested_thousands_of_levels_deep_fails_with_one_line(where: str) -> None:
    record = changed(study(), where, mutants.deep_value())
    with pytest.raises(RecordError, match="^record unreadable: "):
        normalise(record)


def test_fields_the_monitor_does_not_read_may_hold_anything() -> None:
    record = changed(study(), "protocolSection.designModule.maskingInfo", [1, None, {"a": []}])
    record["protocolSection"]["ipdSharingStatementModule"] = "anything"
    record["derivedSection"]["conditionBrowseModule"] = None  # only its review cycle is read
    assert normalise(record).nct_id == "NCT09000001"
    assert RECORD_SCHEMA["required"] == ["protocolSection"]

