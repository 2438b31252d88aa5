"""The edge where a registry record enters: it is checked once against the shapes the monitor
reads, and a record that does not fit is a RecordError naming the field and what was
expected. Code past this edge (diff rules, wording, chart, pages, channels) trusts the types.

RECORD_SCHEMA is a JSON Schema of the fields the monitor interprets, with the types the
registry's own OpenAPI file (ctg-oas-v2.0.5.yaml) gives them (tests/test_record.py holds it
to that file); every other field may hold anything. fastjsonschema compiles it into plain
Python once per process, so a sweep of 100,000 records pays microseconds a record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from snapshots.errors import RecordError

# \Z, not $: a Python pattern (fastjsonschema's re.search) whose $ would let a newline end it
PARTIAL_DATE = r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?\Z"
TEXT: dict[str, Any] = {"type": "string"}
FLAG: dict[str, Any] = {"type": "boolean"}
TEXTS: dict[str, Any] = {"type": "array", "items": TEXT}
DATE: dict[str, Any] = {"type": "string", "pattern": PARTIAL_DATE}
NCT_FORM = re.compile(r"NCT[0-9]{8}")  # ASCII digits only, as the registry writes them
NCT_ID: dict[str, Any] = {"type": "string", "pattern": f"^{NCT_FORM.pattern}\\Z"}
FORMS = {PARTIAL_DATE: "a date such as 2026-03 or 2026-03-12",
         NCT_ID["pattern"]: "an NCT id such as NCT01234567"}


def is_nct_id(value: Any) -> bool:
    """An NCT id as the registry writes it: NCT and 8 ASCII digits, nothing around them."""
    return isinstance(value, str) and NCT_FORM.fullmatch(value) is not None


def table(**properties: dict[str, Any]) -> dict[str, Any]:
    """An object whose named fields have these shapes; other fields may hold anything."""
    return {"type": "object", "properties": properties}


def rows(**properties: dict[str, Any]) -> dict[str, Any]:
    """A list of such objects."""
    return {"type": "array", "items": table(**properties)}


DATE_STRUCT = table(date=DATE, type=TEXT)
STATUS = table(
    statusVerifiedDate=DATE, overallStatus=TEXT, lastKnownStatus=TEXT, whyStopped=TEXT,
    delayedPosting=FLAG,
    expandedAccessInfo=table(hasExpandedAccess=FLAG, nctId=TEXT, statusForNctId=TEXT),
    startDateStruct=DATE_STRUCT, primaryCompletionDateStruct=DATE_STRUCT,
    completionDateStruct=DATE_STRUCT, studyFirstSubmitDate=DATE, studyFirstSubmitQcDate=DATE,
    studyFirstPostDateStruct=DATE_STRUCT, resultsWaived=FLAG, resultsFirstSubmitDate=DATE,
    resultsFirstSubmitQcDate=DATE, resultsFirstPostDateStruct=DATE_STRUCT,
    dispFirstSubmitDate=DATE, dispFirstSubmitQcDate=DATE, dispFirstPostDateStruct=DATE_STRUCT,
    lastUpdateSubmitDate=DATE, lastUpdatePostDateStruct=DATE_STRUCT)
PERSON = rows(name=TEXT, role=TEXT)
OUTCOMES = rows(measure=TEXT, description=TEXT, timeFrame=TEXT)
PROTOCOL = table(
    identificationModule={**table(
        nctId=NCT_ID, nctIdAliases=TEXTS, briefTitle=TEXT, officialTitle=TEXT, acronym=TEXT,
        organization=table(fullName=TEXT),
        secondaryIdInfos=rows(id=TEXT, type=TEXT)), "required": ["nctId"]},
    statusModule=STATUS,
    sponsorCollaboratorsModule=table(
        leadSponsor=table(name=TEXT), collaborators=rows(name=TEXT),
        responsibleParty=table()),
    descriptionModule=table(briefSummary=TEXT, detailedDescription=TEXT),
    conditionsModule=table(conditions=TEXTS, keywords=TEXTS),
    designModule=table(studyType=TEXT, phases=TEXTS,
                       enrollmentInfo=table(count={"type": "integer"}, type=TEXT),
                       designInfo=table(primaryPurpose=TEXT)),
    oversightModule=table(isFdaRegulatedDrug=FLAG, isFdaRegulatedDevice=FLAG),
    armsInterventionsModule=table(
        armGroups=rows(label=TEXT, type=TEXT, description=TEXT, interventionNames=TEXTS),
        interventions=rows(type=TEXT, name=TEXT, description=TEXT, armGroupLabels=TEXTS)),
    outcomesModule=table(primaryOutcomes=OUTCOMES, secondaryOutcomes=OUTCOMES,
                         otherOutcomes=OUTCOMES),
    eligibilityModule=table(eligibilityCriteria=TEXT, stdAges=TEXTS, sex=TEXT),
    contactsLocationsModule=table(
        locations=rows(facility=TEXT, city=TEXT, state=TEXT, country=TEXT, status=TEXT,
                       contacts=PERSON),
        centralContacts=PERSON, overallOfficials=PERSON),
    referencesModule=table(references=rows(pmid=TEXT, citation=TEXT),
                           seeAlsoLinks=rows(url=TEXT, label=TEXT),
                           availIpds=rows(id=TEXT, url=TEXT, type=TEXT)),
)
MEASUREMENTS = rows(groupId=TEXT, value=TEXT, spread=TEXT, lowerLimit=TEXT, upperLimit=TEXT,
                    comment=TEXT)
DENOMS = rows(units=TEXT, counts=rows(groupId=TEXT, value=TEXT))
RESULTS = table(  # what snapshots.results reads
    participantFlowModule=table(periods=rows(milestones=rows(
        type=TEXT, achievements=rows(groupId=TEXT, numSubjects=TEXT)))),
    baselineCharacteristicsModule=table(),
    outcomeMeasuresModule=table(outcomeMeasures=rows(
        type=TEXT, title=TEXT, timeFrame=TEXT, paramType=TEXT, unitOfMeasure=TEXT,
        dispersionType=TEXT, groups=rows(id=TEXT, title=TEXT), denoms=DENOMS,
        classes=rows(title=TEXT, denoms=DENOMS,
                     categories=rows(title=TEXT, measurements=MEASUREMENTS)),
        analyses=rows(groupIds=TEXTS, statisticalMethod=TEXT, paramType=TEXT, paramValue=TEXT,
                      ciPctValue=TEXT, ciLowerLimit=TEXT, ciUpperLimit=TEXT, pValue=TEXT,
                      nonInferiorityType=TEXT))),
    adverseEventsModule=table(eventGroups=rows(
        id=TEXT, title=TEXT, seriousNumAffected={"type": "integer"},
        seriousNumAtRisk={"type": "integer"})),
    moreInfoModule=table())
RECORD_SCHEMA: dict[str, Any] = {
    **table(
        protocolSection=PROTOCOL, hasResults=FLAG,
        resultsSection=RESULTS,
        annotationSection=table(annotationModule=table(unpostedAnnotation=table(
            unpostedEvents=rows(type=TEXT, date=DATE)))),
        documentSection=table(largeDocumentModule=table(largeDocs=rows(
            filename=TEXT, label=TEXT))),
        derivedSection=table(miscInfoModule=table(submissionTracking=table(
            submissionInfos=rows(releaseDate=DATE, unreleaseDate=DATE, resetDate=DATE))))),
    "required": ["protocolSection"],
}

EXPECTED = {"string": "text", "boolean": "true or false", "integer": "a whole number",
            "object": "a table of fields", "array": "a list"}


def check_record(record: Any) -> None:
    """Raise RecordError("record unreadable: PATH: expected ..., got ...") unless record has
    the shapes RECORD_SCHEMA gives the fields the monitor reads."""
    import fastjsonschema

    try:
        _validator()(record)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise RecordError(f"record unreadable: {_problem(exc)}") from None


def _problem(exc: Any) -> str:
    where = exc.name.removeprefix("data").lstrip(".") or "the record"
    if exc.rule == "required":
        missing = [k for k in exc.definition["required"]
                   if not isinstance(exc.value, dict) or k not in exc.value]
        return f"{where}: missing {', '.join(missing)}"
    if exc.rule == "pattern":
        return f"{where}: expected {FORMS[exc.definition['pattern']]}, got {kind(exc.value)}"
    return f"{where}: expected {EXPECTED.get(exc.definition.get('type'), 'another type')}, " \
           f"got {kind(exc.value)}"


def kind(value: Any) -> str:
    """What a JSON value is, in words (never the value: it may be huge or hostile)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "other text" if value else "empty text"
    return "a list" if isinstance(value, list) else "a table of fields"


_compiled: list[Callable[[Any], Any]] = []


def _validator() -> Callable[[Any], Any]:
    """RECORD_SCHEMA compiled, once per process and only by the commands that read records
    (compiling takes a few milliseconds that list and history need not pay)."""
    if not _compiled:
        import fastjsonschema

        _compiled.append(fastjsonschema.compile(RECORD_SCHEMA, use_default=False))
    return _compiled[0]
