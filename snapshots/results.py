"""What a trial's posted results found: the summary a "results posted" event carries
(INTERFACE.md, third round), built once when the results appear, and its compact reading
for people ("Primary outcome: …, % of participants — 30.6 (95% CI 19.6–43.7) vs 20.6
(11.5–32.7); risk difference 9.9 (−5.4 to 25.3), p = 0.2114").

Values are the registry's own strings, never re-rounded. The record's shapes were checked
where it entered (snapshots.record), so the fields read here are of the types given there.
"""

from __future__ import annotations

import re
from typing import Any

from snapshots.wording import clip, plural

TITLE_CHARS = 100
GROUPS_SIDE_BY_SIDE = 2  # more groups are named one by one
CATEGORIES_SHOWN = 3
PARAMS = {"MEAN": "mean", "MEDIAN": "median", "LEAST_SQUARES_MEAN": "least-squares mean",
          "GEOMETRIC_MEAN": "geometric mean", "GEOMETRIC_LEAST_SQUARES_MEAN":
          "geometric least-squares mean", "LOG_MEAN": "log mean"}
CONFIDENCE = re.compile(r"(\d+(?:\.\d+)?)% Confidence Interval", re.IGNORECASE)
SPREADS = {"standard deviation": "SD", "standard error": "SE",
           "geometric coefficient of variation": "CV"}  # a spread: one number
RANGES = {"full range": "range", "inter-quartile range": "IQR"}  # a range: lower–upper
ABBREVIATION = re.compile(r"\s*\([^)]*\)\s*$")  # "Risk Difference (RD)" -> "Risk Difference"


def summarise(section: dict[str, Any] | None) -> dict[str, Any]:
    """The results summary of a snapshot's resultsSection."""
    section = section or {}
    outcomes = (section.get("outcomeMeasuresModule") or {}).get("outcomeMeasures") or []
    groups = (section.get("adverseEventsModule") or {}).get("eventGroups") or []
    return {
        "participants_started": participants_started(section.get("participantFlowModule")),
        "primary_outcomes": [outcome(m) for m in outcomes if m.get("type") == "PRIMARY"],
        "serious_adverse_events": [
            {"group": g.get("id"), "title": g.get("title"),
             "affected": g.get("seriousNumAffected"), "at_risk": g.get("seriousNumAtRisk")}
            for g in groups],
    }


def participants_started(flow: dict[str, Any] | None) -> int | None:
    """Who started the first period, all groups together (None where not given)."""
    periods = (flow or {}).get("periods") or []
    for milestone in (periods[0].get("milestones") or []) if periods else []:
        if milestone.get("type") == "STARTED":
            counts = [a.get("numSubjects") for a in milestone.get("achievements") or []]
            numbers = [int(c) for c in counts if isinstance(c, str) and c.isdigit()]
            return sum(numbers) if numbers else None
    return None


def outcome(measure: dict[str, Any]) -> dict[str, Any]:
    """One outcome measure as the summary holds it."""
    analysed = _analysed(measure)
    return {
        "title": measure.get("title"), "time_frame": measure.get("timeFrame"),
        "param": measure.get("paramType"), "unit": measure.get("unitOfMeasure"),
        "dispersion": measure.get("dispersionType"),
        "groups": [{"id": g.get("id"), "title": g.get("title"),
                    "participants": analysed.get(g.get("id"))}
                   for g in measure.get("groups") or []],
        "rows": [row for c in measure.get("classes") or [] for row in _rows(c)],
        "analyses": [{"groups": a.get("groupIds") or [], "method": a.get("statisticalMethod"),
                      "param": a.get("paramType"), "estimate": a.get("paramValue"),
                      "ci_pct": a.get("ciPctValue"), "lower": a.get("ciLowerLimit"),
                      "upper": a.get("ciUpperLimit"), "p_value": a.get("pValue"),
                      "non_inferiority": a.get("nonInferiorityType")}
                     for a in measure.get("analyses") or []],
    }


def _analysed(holder: dict[str, Any]) -> dict[Any, Any]:
    """Participants analysed by group, from a measure's or a class's first denominator."""
    denoms = holder.get("denoms") or []
    return {c.get("groupId"): c.get("value") for c in (denoms[0].get("counts") or [])
            } if denoms else {}


def _rows(cls: dict[str, Any]) -> list[dict[str, Any]]:
    """A class's measurements; each with its comment, and the class's own count of
    participants analysed where the class has one, only where given."""
    own = _analysed(cls)
    rows = []
    for category in cls.get("categories") or []:
        for m in category.get("measurements") or []:
            extra = {"comment": m["comment"]} if m.get("comment") else {}
            if m.get("groupId") in own:
                extra["participants"] = own[m.get("groupId")]
            rows.append({"class": cls.get("title"), "category": category.get("title"),
                         "group": m.get("groupId"), "value": m.get("value"),
                         "spread": m.get("spread"), "lower": m.get("lowerLimit"),
                         "upper": m.get("upperLimit"), **extra})
    return rows


# -- reading ----------------------------------------------------------------------------------
def reading(results: dict[str, Any]) -> list[str]:
    """The summary as lines a clinician takes in at a glance: each primary outcome, then
    who started and serious adverse events; most important first."""
    lines = [outcome_line(o) for o in results.get("primary_outcomes") or []]
    started = results.get("participants_started")
    serious = [g for g in results.get("serious_adverse_events") or []
               if isinstance(g.get("at_risk"), int)]
    if started is not None or serious:
        facts = [f"{plural(started, 'participant')} started"] if started is not None else []
        if serious:
            facts.append("serious adverse events " + ", ".join(
                f"{g['affected']}/{g['at_risk']}" for g in serious))
        lines.append("; ".join(facts))
    return lines


def outcome_line(o: dict[str, Any]) -> str:
    head = f"Primary outcome: {clip(o.get('title') or 'untitled', TITLE_CHARS)}"
    measure = ", ".join(x for x in (unit_text(o.get("unit")), PARAMS.get(o.get("param") or "")
                                    ) if x)
    head += f", {measure}" if measure else ""
    values = values_text(o)
    if not values:
        return f"{head} — no values posted"
    tests = [analysis_text(a) for a in o.get("analyses") or []]
    return f"{head} — {values}" + "".join(f"; {t}" for t in tests if t)


def unit_text(unit: str | None) -> str:
    return re.sub(r"^percentage of ", "% of ", unit or "", flags=re.IGNORECASE)


def values_text(o: dict[str, Any]) -> str:
    """The measurements: side by side for two groups ("a vs b"), named for more; by
    category where there are several."""
    rows = o.get("rows") or []
    groups = {g["id"]: g for g in o.get("groups") or []}
    order = [g for g in groups if any(r["group"] == g for r in rows)]
    categories = list(dict.fromkeys((r["class"], r["category"]) for r in rows))
    parts = []
    for cls, category in categories[:CATEGORIES_SHOWN]:
        here = {r["group"]: r for r in rows if (r["class"], r["category"]) == (cls, category)}
        shown = [value_text(here[g], o, first=i == 0, group=groups.get(g))
                 for i, g in enumerate(order) if g in here]
        named = len(order) > GROUPS_SIDE_BY_SIDE
        text = ("; ".join(f"{groups[g].get('title') or g}: {v}"
                          for g, v in zip([g for g in order if g in here], shown, strict=True))
                if named else " vs ".join(shown))
        label = " ".join(x for x in (cls, category) if x)
        parts.append(f"{label}: {text}" if label and len(categories) > 1 else text)
    more = len(categories) - CATEGORIES_SHOWN
    return " | ".join(parts) + (f" | +{more} more" if more > 0 else "")


def value_text(row: dict[str, Any], o: dict[str, Any], first: bool,
               group: dict[str, Any] | None) -> str:
    """One group's value with its spread as the outcome's dispersion says ("30.6 (95% CI
    19.6–43.7)", "12.1 (SD 3.4)"), or a count of the group's participants ("12 of 62")."""
    value = row.get("value")
    if value in (None, "NA"):
        return "NA" + (f" ({clip(row['comment'], 60)})" if row.get("comment") else "")
    text = number(value)
    analysed = row.get("participants") or (group or {}).get("participants")
    if o.get("param") == "COUNT_OF_PARTICIPANTS" and analysed:
        return f"{text} of {analysed}"
    dispersion = (o.get("dispersion") or "").lower()
    confidence = CONFIDENCE.fullmatch(o.get("dispersion") or "")
    low, high = row.get("lower"), row.get("upper")
    if confidence and low is not None and high is not None:
        label = f"{confidence.group(1)}% CI " if first else ""
        return f"{text} ({label}{number(low)}–{number(high)})"
    if dispersion in RANGES and low is not None and high is not None:
        return f"{text} ({RANGES[dispersion]} {number(low)}–{number(high)})"
    if dispersion in SPREADS and row.get("spread") is not None:
        return f"{text} ({SPREADS[dispersion]} {number(row['spread'])})"
    return text


def analysis_text(a: dict[str, Any]) -> str:
    """"risk difference 9.9 (−5.4 to 25.3), p = 0.2114"; a p-value alone where no estimate."""
    pieces = []
    if a.get("estimate") is not None:
        name = ABBREVIATION.sub("", a.get("param") or "estimate").lower()
        interval = (f" ({number(a['lower'])} to {number(a['upper'])})"
                    if a.get("lower") is not None and a.get("upper") is not None else "")
        pieces.append(f"{name} {number(a['estimate'])}{interval}")
    if a.get("p_value") is not None:
        p = str(a["p_value"]).strip()
        pieces.append(f"p {p[0]} {p[1:].strip()}" if p[:1] in "<>≤≥" else f"p = {p}")
    return ", ".join(pieces)


def number(text: Any) -> str:
    """The registry's number as written, with a true minus sign."""
    return re.sub(r"^-(?=\d|\.)", "−", str(text).strip())


# -- results updated after posting ------------------------------------------------------------
UPDATES_SHOWN = 2


def updates(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    """What moved between two outcomeMeasuresModule: each measure added or removed (by type
    and title), each value changed ("Overall Survival, Arm A median 14.2 → 14.6 months"),
    each analysis whose estimate or p-value changed."""
    before, after = _measures(old), _measures(new)
    moved = [f"{after[k]['title']} added" for k in after if k not in before]
    moved += [f"{before[k]['title']} removed" for k in before if k not in after]
    for key in (k for k in after if k in before):
        moved += _values_moved(before[key], after[key]) + _analyses_moved(before[key],
                                                                          after[key])
    return moved


def updated_summary(old: dict[str, Any] | None, new: dict[str, Any] | None) -> str | None:
    """"Results updated: …" naming what moved (the first UPDATES_SHOWN, then a count), or
    None when no measure, value or analysis moved (a description was reworded)."""
    moved = updates(old, new)
    if not moved:
        return None
    more = len(moved) - UPDATES_SHOWN
    return "Results updated: " + "; ".join(moved[:UPDATES_SHOWN]) + (
        f"; +{more} more" if more > 0 else "")


def _measures(module: dict[str, Any] | None) -> dict[tuple[Any, Any], dict[str, Any]]:
    return {(m.get("type"), m.get("title")): outcome(m)
            for m in (module or {}).get("outcomeMeasures") or []}


def _values_moved(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    rows_a = {(r["class"], r["category"], r["group"]): r for r in a["rows"]}
    titles = {g["id"]: g.get("title") or g["id"] for g in b["groups"]}
    param = PARAMS.get(b.get("param") or "", "")
    unit = unit_text(b.get("unit"))
    moved = []
    for r in b["rows"]:
        old = rows_a.get((r["class"], r["category"], r["group"]))
        if old is None or old["value"] == r["value"]:
            continue
        where = " ".join(x for x in (r["class"], r["category"]) if x)
        who = " ".join(x for x in (titles.get(r["group"], r["group"]), where, param) if x)
        moved.append(f"{clip(b['title'] or 'untitled', TITLE_CHARS)}, {who} "
                     f"{number(old['value'])} → {number(r['value'])}"
                     + (f" {unit}" if unit else ""))
    if len(b["rows"]) != len(a["rows"]) and not moved:
        grew = len(b["rows"]) > len(a["rows"])
        moved.append(f"{b['title']}: values {'added' if grew else 'removed'}")
    return moved


def _analyses_moved(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    title = clip(b["title"] or "untitled", TITLE_CHARS)
    moved = [f"{title}, {analysis_text(old)} → {analysis_text(new)}"
             for old, new in zip(a["analyses"], b["analyses"], strict=False)
             if (old["estimate"], old["p_value"]) != (new["estimate"], new["p_value"])]
    shared = min(len(a["analyses"]), len(b["analyses"]))
    moved += [f"{title}, analysis added: {analysis_text(x)}" for x in b["analyses"][shared:]]
    moved += [f"{title}, analysis removed: {analysis_text(x)}" for x in a["analyses"][shared:]]
    return moved
