"""Outcome lists compared as a careful reader compares them (outcome switching).

Old and new outcomes are matched by meaning across the primary, secondary and other lists
(match): unchanged outcomes first; then, within a list, the most alike pairs by the words
each measure shares with the other outcome's whole text (or, nearly the same strings, by
rapidfuzz); then across the lists (a move); then, within a list, pairs sharing most of the
specific words of their measures. What is left is added or dropped, or split out of or
merged into a matched outcome. What a matched pair changed is judged apart for each thing
a rater looks at:

- timing: the time points named anywhere in the texts ("12 months", "week 48", "days 1, 8
  and 15"), so a time frame moved from the measure into its own field is no change;
- measurement and aggregation: the content words of measure and description, with typos,
  plural forms and spelled-out abbreviations taken as the same word; what is left over is
  either about how a result is summarised (mean, proportion, time to, change from baseline)
  or about what is measured;
- anything else (case, punctuation, bullets, markdown, rewording) is a rewording.

Severity follows the raters' classes: a primary outcome added, dropped or moved between the
lists is critical (major), a measurement, aggregation or timing change notable (minor), a
rewording minor (no change); secondary and other outcomes one step lower.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz

from snapshots import wording as w

LISTS = {"primaryOutcomes": "primary", "secondaryOutcomes": "secondary",
         "otherOutcomes": "other"}
FIELDS = {"primary": "primaryOutcome", "secondary": "secondaryOutcome",
          "other": "otherOutcome"}
CHANGES = ("added", "dropped", "moved_to_secondary", "moved_to_primary", "measurement",
           "aggregation", "timing", "reworded")
MAJOR = frozenset({"added", "dropped", "moved_to_secondary", "moved_to_primary"})
MINOR = frozenset({"measurement", "aggregation", "timing"})
# (primary, others): a secondary or other outcome's change is one step lower
SEVERITY = {"major": ("critical", "notable"), "minor": ("notable", "minor"),
            "none": ("minor", "minor")}
MATCH_SCORE = 60.0  # rapidfuzz 0-100: below this two outcomes are different outcomes
SAME_WORD = 85.0  # two words this alike are one word misspelt
NOVEL_WORDS = 3  # content words gained and lost, at least, for what is measured to change
MEASURE_SHARE = 0.4  # ... when they are this share of the old or the new words
MEASURE_WORDS = 15  # ... or this many whatever the share
DESCRIPTION_WEIGHT = 0.5  # a word only the description says counts this much
NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "fifteen": "15", "eighteen": "18", "twenty": "20", "thirty": "30", "sixty": "60",
    "ninety": "90",
}
UNITS = {
    "min": "minute", "mins": "minute", "minute": "minute", "minutes": "minute",
    "h": "hour", "hr": "hour", "hrs": "hour", "hour": "hour", "hours": "hour",
    "d": "day", "day": "day", "days": "day",
    "wk": "week", "wks": "week", "week": "week", "weeks": "week",
    "mo": "month", "mos": "month", "mth": "month", "mths": "month", "month": "month",
    "months": "month",
    "y": "year", "yr": "year", "yrs": "year", "year": "year", "years": "year",
    "yearss": "year",
}
WORD_UNITS = frozenset(u for u in UNITS if len(u) > 3)  # units that also come first: "week 48"
NUMBER = r"\d+(?:\.\d+)?"
NUMBERS = rf"{NUMBER}(?:\s*(?:,|-|–|/|&|\band\b|\bor\b|\bto\b|\bthrough\b)\s*{NUMBER})*"
UNIT = "|".join(sorted(map(re.escape, UNITS), key=len, reverse=True))
WORD_UNIT = "|".join(sorted(map(re.escape, WORD_UNITS), key=len, reverse=True))
TIME_AFTER = re.compile(rf"\b({NUMBERS})\s*-?\s*({UNIT})\b")  # "6 12 and 24 months"
TIME_BEFORE = re.compile(rf"\b({WORD_UNIT})\s+({NUMBERS})\b")  # "week 9 to 12"
NUMBER_RE = re.compile(NUMBER)
NUMBER_WORD = re.compile(r"\b(" + "|".join(NUMBER_WORDS) + r")\b")
MARKUP = re.compile(r"[*_`#~]+|\[ ?time frame:", re.I)
TIME_FRAME_IN_TEXT = re.compile(r"\[\s*time frame:\s*(.*?)\s*\]", re.I | re.S)
NOT_WORD = re.compile(r"[^\w%<>=+.]+|(?<!\d)\.|\.(?!\d)")
STOPWORDS = frozenset("""
a an the of and or in on at to by for with from as is are be been being was were will
would shall should can could may might that which who whom whose this these those it its
their there than then into onto over under per via each all any both either whether such
also not no nor other others during after before within up until till through throughout
between among about above below since while when where how what if so do does did has have
had being using use used measured measure measures measurement assessed assessment
evaluated evaluation evaluate assess determined determine defined define based according
following follow including include includes study primary secondary outcome outcomes
endpoint endpoints end point objective aim aims purpose effect effects efficacy compare
compared comparison versus vs investigate demonstrate show evaluate
""".split())
PARTICIPANT_WORDS = frozenset({"patient", "patients", "participant", "participants",
                               "subject", "subjects", "people", "persons", "individuals",
                               "volunteers", "woman", "women", "men", "children"})
PERCENT_WORDS = frozenset({"%", "percent", "percentage", "pct", "proportion"})
AGGREGATION = frozenset("""
mean median average geometric arithmetic proportion percent rate rates ratio number count
counts incidence frequency prevalence change changes difference time total cumulative sum
hazard odds risk area auc least squares responder responders duration fold reduction
increase improvement survival probability kaplan meier distribution
""".split())
GENERIC = AGGREGATION | frozenset("""
score scale index level value questionnaire test response inventory assessment rating
outcome safety tolerability adverse event participant group arm dose baseline week month
""".split())


@dataclass(frozen=True)
class Outcome:
    """One outcome of a version, with the parts a reader compares."""

    kind: str  # "primary", "secondary" or "other"
    record: dict[str, Any]
    measure: str  # normalised
    text: str  # normalised measure, time frame and description
    times: frozenset[str]  # "12 month", "48 week": every time point in the texts
    measure_words: frozenset[str]  # content words of the measure
    words: tuple[str, ...]  # content words of measure and description, in order
    known: frozenset[str]  # content words of all three (the time frame's too)

    @property
    def title(self) -> str:
        return title_of(self.record)


def title_of(record: dict[str, Any]) -> str:
    """An outcome as a reader names it: its measure, clipped."""
    return w.clip(str(record.get("measure") or "untitled"), 100)


@dataclass(frozen=True)
class OutcomeChange:
    """What happened to one outcome between two versions."""

    change: str  # one of CHANGES
    kind: str  # the list the outcome is in now (where it was, when dropped)
    old: Outcome | None
    new: Outcome | None
    summary: str
    severity: str
    detail: dict[str, bool] = field(default_factory=dict)  # split or merged: True

    @property
    def field(self) -> str:
        return FIELDS[self.kind]


def compare(old_module: Any, new_module: Any) -> list[OutcomeChange]:
    """The changes between two outcomesModule values, primary outcomes first."""
    olds, news = outcomes_of(old_module), outcomes_of(new_module)
    pairs = match(olds, news)
    changes: list[OutcomeChange] = []
    matched_old = {id(a) for a, _b in pairs}
    matched_new = {id(b) for _a, b in pairs}
    for a, b in pairs:
        changes.extend(_matched(a, b))
    gone = [a for a in olds if id(a) not in matched_old]
    came = [b for b in news if id(b) not in matched_new]
    changes.extend(_unmatched(gone, came, [a for a, _b in pairs], [b for _a, b in pairs]))
    order = {"primary": 0, "secondary": 1, "other": 2}
    return sorted(changes, key=lambda c: (order[c.kind], CHANGES.index(c.change)))


def outcomes_of(module: Any) -> list[Outcome]:
    if not isinstance(module, dict):
        return []
    found = []
    for key, kind in LISTS.items():
        items = module.get(key)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                found.append(read(item, kind))
    return found


def read(item: dict[str, Any], kind: str) -> Outcome:
    measure, time_frame, description = (_text(item.get(k)) for k in
                                        ("measure", "timeFrame", "description"))
    inline = TIME_FRAME_IN_TEXT.search(measure)  # older versions: "... [ Time Frame: x ]"
    if inline and not time_frame:
        time_frame = inline.group(1)
        measure = TIME_FRAME_IN_TEXT.sub(" ", measure)
    texts = [light(t) for t in (measure, time_frame, description)]
    times = frozenset(p for t in texts for p in time_points(t))
    untimed = [_plain(TIME_BEFORE.sub(" ", TIME_AFTER.sub(" ", t))) for t in texts]
    measure_words, description_words = content_words(untimed[0]), content_words(untimed[2])
    return Outcome(kind, item, _plain(texts[0]), _plain(" ".join(texts)), times,
                   frozenset(measure_words), measure_words + description_words,
                   frozenset(measure_words + description_words + content_words(untimed[1])))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def light(text: str) -> str:
    """Lower case, no markdown, numbers as digits; punctuation kept."""
    text = MARKUP.sub(" ", unicodedata.normalize("NFKC", text).lower())
    return NUMBER_WORD.sub(lambda m: NUMBER_WORDS[m.group(1)], text)


def normal(text: str) -> str:
    """light(), without bullets or punctuation, spaces collapsed."""
    return _plain(light(text))


def _plain(lit: str) -> str:
    """A light() text without bullets or punctuation, spaces collapsed."""
    return " ".join(NOT_WORD.sub(" ", lit).split())


def time_points(text: str) -> Iterator[str]:
    """Every "N unit" in a light() text: "6, 12 and 24 months" gives three."""
    rest = text
    for pattern, numbers_at, unit_at in ((TIME_AFTER, 1, 2), (TIME_BEFORE, 2, 1)):
        for found in pattern.finditer(rest):
            unit = UNITS[found.group(unit_at)]
            for number in NUMBER_RE.findall(found.group(numbers_at)):
                if float(number):  # "0 to 24 months": 0 is the baseline, named or not
                    yield f"{float(number):g} {unit}"
        rest = pattern.sub(" ", rest)


def content_words(text: str) -> tuple[str, ...]:
    """The words of a normal() text that say what is measured: no stop words (time points
    are taken out before), one form for participants and for per cent, plural forms as
    singular."""
    words = []
    for token in text.split():
        if token in STOPWORDS or token in UNITS:
            continue
        if token in PARTICIPANT_WORDS:
            token = "participant"
        elif token in PERCENT_WORDS:
            token = "percent"
        else:
            token = stem(token)
        words.append(token)
    return tuple(words)


def stem(word: str) -> str:
    """A word without its plural or verb ending: "achieved", "achieving" -> "achiev"."""
    for ending in ("ing", "ed", "es", "s"):
        if len(word) > len(ending) + 3 and word.endswith(ending) and not word.endswith("ss"):
            return word[: -len(ending)]
    return word


# -- matching -------------------------------------------------------------------------------
def similarity(a: Outcome, b: Outcome) -> float:
    """0-100: how alike two outcomes read. By words: 100 when the other outcome says every
    word of the shorter measure (the longer one says more of the same outcome: "POP value"
    and "POP (plant sterol oxidation products) value"), else the lower of the shares of
    each measure's words the other says ("Progression-free survival by independent central
    review" and "Overall survival by independent central review": 57%). By letters, when
    the measures are nearly the same string (letters alike say little of meaning otherwise:
    "gait score" and "axial score" are 70% alike)."""
    if a.measure == b.measure and a.measure:
        return 100.0
    short, long_ = sorted((a, b), key=lambda o: len(o.measure_words))
    by_words = _said(short, long_)
    if by_words < 1.0:
        by_words = min(by_words, _said(long_, short))
    spelling = fuzz.token_sort_ratio(a.measure, b.measure)
    return max(spelling if spelling >= SAME_WORD else 0.0, 100.0 * by_words)


def _said(a: Outcome, b: Outcome) -> float:
    """The share of a's measure words that b says anywhere."""
    if not a.measure_words:
        return 0.0
    return sum(1 for x in a.measure_words if _known(x, b.known)) / len(a.measure_words)


def match(olds: list[Outcome], news: list[Outcome]) -> list[tuple[Outcome, Outcome]]:
    """Pairs of the same outcome, each outcome used once: the unchanged ones, then the most
    alike pairs first within each list, then across the lists (a move), then within each
    list again by the words only they share (an outcome rewritten at results posting: "To
    evaluate the efficacy of X on FVC" and "Forced vital capacity (FVC) at week 52"). A
    tie goes to the pair whose whole texts are more alike, so the lists' order never
    matters."""
    pairs: list[tuple[Outcome, Outcome]] = []
    used_old: set[int] = set()
    used_new: set[int] = set()
    for across, score_of in ((False, same), (False, similarity), (True, similarity),
                             (False, kinship)):
        scored = []
        for i, a in enumerate(olds):
            for j, b in enumerate(news):
                if i in used_old or j in used_new or (a.kind != b.kind) != across:
                    continue
                score = score_of(a, b)
                if score >= MATCH_SCORE:
                    scored.append((-score, -fuzz.ratio(a.text, b.text), a.text, b.text, i, j))
        for *_order, i, j in sorted(scored):
            if i not in used_old and j not in used_new:
                used_old.add(i)
                used_new.add(j)
                pairs.append((olds[i], news[j]))
    return pairs


def same(a: Outcome, b: Outcome) -> float:
    return 100.0 if a.record == b.record else 0.0


def kinship(a: Outcome, b: Outcome) -> float:
    """0-100: the specific words of their measures (no counting or scale words) two
    outcomes share, as a share of the longer's; 0 unless they share two, or the whole of
    both. "Progression-free survival by blinded independent central review" and "Overall
    survival by independent central review" share half: a different outcome."""
    specific_a, specific_b = (o.measure_words - GENERIC for o in (a, b))
    if not specific_a or not specific_b:
        return 0.0
    shared = sum(1 for x in specific_a if _known(x, b.known - GENERIC))
    longer = max(len(specific_a), len(specific_b))
    if shared < 2 and shared < longer:
        return 0.0
    return 100.0 * shared / longer


# -- judging --------------------------------------------------------------------------------
def _matched(a: Outcome, b: Outcome) -> Iterator[OutcomeChange]:
    if a.record == b.record and a.kind == b.kind:
        return
    if a.kind != b.kind:
        if "primary" in (a.kind, b.kind):
            yield _moved(a, b)
            return
        yield _change("reworded", b, a, b, f"{_label(a)} moved to the {b.kind} outcomes"
                      f" ({b.title})")
        return
    kinds = judged(a, b)
    if not kinds:
        yield _change("reworded", b, a, b, f"{_label(b)} reworded ({b.title}): "
                      f"{_edits(a, b)}")
        return
    for kind, text in kinds:
        yield _change(kind, b, a, b, text)


def judged(a: Outcome, b: Outcome) -> list[tuple[str, str]]:
    """The minor changes (measurement, aggregation, timing) of a matched pair, worded.

    What is measured changed when the content words gained and lost are a large share of
    either text (MEASURE_SHARE), or many (MEASURE_WORDS): a few words either way is a
    rewording, and explaining text added at results posting is rarely much of it."""
    found = []
    gained, lost = word_changes(a, b)
    moved = _weight(gained, b) + _weight(lost, a)
    share = max(_weight(gained, b) / max(1, len(b.words)),
                _weight(lost, a) / max(1, len(a.words)))
    if (moved >= NOVEL_WORDS and share >= MEASURE_SHARE) or moved >= MEASURE_WORDS:
        summarised = sum(1 for x in gained + lost if x in AGGREGATION)
        kind = "aggregation" if 2 * summarised >= moved else "measurement"
        what = "summary measure" if kind == "aggregation" else "measure"
        found.append((kind, f"{_label(b)} {what} ({a.title}): {_edits(a, b)}"))
    timing = _timing(a, b)
    if timing:
        found.append(("timing", f"{_label(b)} time frame ({b.title}): {timing}"))
    return found


def _weight(words: list[str], outcome: Outcome) -> float:
    """Words of the measure count whole, words only the description says half: the title
    says what is measured, the description explains it."""
    return sum(1.0 if x in outcome.measure_words else DESCRIPTION_WEIGHT for x in words)


def word_changes(a: Outcome, b: Outcome) -> tuple[list[str], list[str]]:
    """Content words of measure and description that the new outcome gains and the old one
    loses (a word found in the other's time frame is no change), not counting
    misspellings or an abbreviation spelled out ("mi" and "myocardial infarction")."""
    gained = [x for x in dict.fromkeys(b.words) if not _known(x, a.known)]
    lost = [x for x in dict.fromkeys(a.words) if not _known(x, b.known)]
    spelled_new, spelled_old = _spelled_out(a.known, b.words), _spelled_out(b.known, a.words)
    return ([x for x in gained if x not in spelled_new],
            [x for x in lost if x not in spelled_old])


def _known(word: str, words: frozenset[str] | set[str]) -> bool:
    if word in words:
        return True
    if len(word) < 5:
        return False
    for other in words:
        if len(other) >= 5 and (other.startswith(word) or word.startswith(other)
                                or fuzz.ratio(word, other) >= SAME_WORD):
            return True
    return False


def _spelled_out(abbreviations: frozenset[str], words: tuple[str, ...]) -> set[str]:
    """Words of a run whose initials spell one of the abbreviations."""
    found: set[str] = set()
    for short in abbreviations:
        n = len(short)
        if not 2 <= n <= 6 or not short.isalpha():
            continue
        for i in range(len(words) - n + 1):
            run = words[i:i + n]
            if "".join(x[0] for x in run) == short:
                found.update(run)
    return found


def _timing(a: Outcome, b: Outcome) -> str:
    """How the time frame changed, worded; "" when it did not: the same time frame, the
    same time points named anywhere in the texts (a time frame moved into its field), or
    no time point on either side (a period reworded: "end of study", "until discharge")."""
    old, new = _time_frame(a), _time_frame(b)
    if normal(old) == normal(new) or a.times == b.times:
        return ""
    if not old:
        return f"{w.clip(new, 120)} (was not given)" if new else ""
    if not new:
        return f"no longer given (was {w.clip(old, 120)})"
    return f"{w.clip(old, 120)} -> {w.clip(new, 120)}"


def _time_frame(outcome: Outcome) -> str:
    return _text(outcome.record.get("timeFrame")).strip()


def _unmatched(gone: list[Outcome], came: list[Outcome], olds: list[Outcome],
               news: list[Outcome]) -> Iterator[OutcomeChange]:
    """Outcomes with no counterpart: added or dropped, unless one is part of a matched one
    (olds and news: a split or a merge, a rewording), and a new primary outcome names the
    one it replaces."""
    gone_primary = [a for a in gone if a.kind == "primary"]
    for b in came:
        whole = _part_of(b, olds)
        if whole is not None:
            yield _change("reworded", b, whole, b, f"{_label(b)} split out of "
                          f"\"{whole.title}\": \"{b.title}\"", split=True)
            continue
        replaced = gone_primary.pop(0) if b.kind == "primary" and gone_primary else None
        text = f'New {b.kind} outcome: "{b.title}"'
        if replaced is not None:
            text += f' (replaces "{replaced.title}")'
        yield _change("added", b, replaced, b, text)
    for a in gone:
        if a.kind == "primary" and a not in gone_primary:
            continue  # replaced: told with the outcome that replaces it
        whole = _part_of(a, news)
        if whole is not None:
            yield _change("reworded", a, a, whole, f"{_label(a)} merged into "
                          f"\"{whole.title}\": \"{a.title}\"", merged=True)
            continue
        yield _change("dropped", a, a, None, f'{_label(a)} dropped: "{a.title}"')


def _part_of(part: Outcome, wholes: list[Outcome]) -> Outcome | None:
    """The outcome of the same list whose measure holds nearly all of part's measure."""
    words = part.measure_words
    for whole in wholes:
        if (whole is part or whole.kind != part.kind
                or len(whole.measure_words) <= len(words)):
            continue
        inside = sum(1 for x in words if _known(x, whole.measure_words))
        if words and inside >= 0.8 * len(words):
            return whole
    return None


def _moved(a: Outcome, b: Outcome) -> OutcomeChange:
    if a.kind == "primary":
        return _change("moved_to_secondary", a, a, b, f'Primary outcome dropped: "{a.title}" '
                       f"(kept as a{'n' if b.kind == 'other' else ''} {b.kind} outcome)")
    return _change("moved_to_primary", b, a, b, f'New primary outcome: "{b.title}" '
                   f"(was a{'n' if a.kind == 'other' else ''} {a.kind} outcome)")


def _change(change: str, where: Outcome, old: Outcome | None, new: Outcome | None,
            summary: str, **detail: bool) -> OutcomeChange:
    kind = "primary" if change.startswith("moved") else where.kind
    klass = "major" if change in MAJOR else "minor" if change in MINOR else "none"
    severity = SEVERITY[klass][0 if kind == "primary" else 1]
    return OutcomeChange(change, kind, old, new, summary, severity, detail)


def _label(outcome: Outcome) -> str:
    return f"{outcome.kind.capitalize()} outcome"


def _edits(a: Outcome, b: Outcome) -> str:
    old = " ".join(_text(a.record.get(k)) for k in ("measure", "description")).strip()
    new = " ".join(_text(b.record.get(k)) for k in ("measure", "description")).strip()
    return w.text_change(old, new)
