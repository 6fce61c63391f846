"""How abstracts name the things the vocabularies stand for: outcomes, headache
types, comparators, the intervention. Patterns are general clinical wording,
matched case-insensitively on word boundaries."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from . import text as _text
from .version import TOPIC_WORDS, words_fingerprint  # noqa: F401 (words_fingerprint: kept for callers)
from .text import SHARED_WORDS, Checked, Specialised, guarded, guarded_pattern, required_literals

# Outcome → the ways abstracts name it. Order matters only for ties: a longer
# match wins over a shorter one inside it ("pressure pain threshold" over "pain").
OUTCOME_TERMS: dict[str, str] = {
    "pressure_pain_threshold": r"pressure[- ]pain thresholds?|\bPPTs?\b|algometr\w*|pain pressure thresholds?|"
    r"(?:mechanical |paw |periorbital )?withdrawal thresholds?|von Frey",
    "range_of_motion": r"range of (?:motion|movement)|\bC?ROM\b|neck (?:motion|mobility)|cervical mobility|flexion[- ]rotation|"
    r"(?:cervical|neck) (?:rotation|flexion|extension|lateral flexion|lateral bending)|(?:dorsiflexion|flexion|extension|rotation|abduction) range",
    # (alternatives are tried in order: the longer wording of a scale comes first)
    "quality_of_life": r"SF-?(?:36|12) (?:bodily pain|physical|mental|vitality|role|social)[\w -]{0,25}?(?:scores?|domains?|components?|subscales?)|"
    r"quality of life|\bQoL\b|\bSF-?36\b|\bSF-?12\b|EQ-?5D|well-being|\bMSQ\b",
    "medication_use": r"(?:rescue |analgesic |pain |acute )?medications? (?:use|intake|consumption|days)|(?:rescue|analgesic|symptomatic|acute) medications?|medication intake|drug (?:use|intake)|analgesic (?:use|intake|consumption|tablets)|triptan (?:use|intake|days)",
    "disability": r"disabilit\w*|\bNDI\b|\bHDI\b|HIT-?6|headache impact|functional (?:rating )?index|function index|\bFFI\b|\bfunction(?:al)? (?:capacity|status|outcome)|\b(?:Ped)?MIDAS\b|\bODI\b|\bSPADI\b|"
    r"shoulder pain and disability index",
    "frequency": r"headache (?:frequency|days?)|frequency|(?:headache |migraine )?(?:recurrences?|relapses?)\b|monthly (?:headache|migraine) days|\bMHDs?\b|(?:painful|headache|migraine) days|attacks?(?: per month| number)?|number of (?:attacks|headaches|paroxysms|episodes)|paroxysms|episodes per (?:week|month)|\bFPD\b|responders?|responder rate|\bresponded\b|\bresponse(?=\s+(?:rate|was|were))|"
    r"(?:headache|migraine|pain)-free days|(?:≥|>=|at least )\s*50\s*% (?:reduction|improvement|decrease)",
    "duration": r"duration of (?:the )?(?:attacks?|headaches?|migraines?|episodes?)|time to (?:headache )?(?:resolution|relief)|"
    r"(?<!disease )(?<!treatment )(?<!follow-up )duration|hours per (?:day|attack)|attack length",
    "pain_intensity": r"(?:headache|pain|migraine) (?:intensity|severity)|(?:headache|pain|migraine)\w*(?:\s+\w+){0,3}\s+(?:as\s+)?severe\b|intensity|\bVAS\b|visual analog(?:ue)? scale|\bNPRS\b|\bNRS\b|numeric(?:al)? (?:pain )?rating scale|pain scores?|\bpain\b|"
    r"(?:less|more) intense (?:headaches?|pain|attacks?)|intense headaches?",
    "blood_flow": r"blood flow|perfusion|oxygen(?:ation| saturation)|\b(?:S|St|Sm|Sp)O2\b|circulation|hemodynamic\w*|haemodynamic\w*|"
    r"\bTOI\b|tissue oxygenation(?: index)?|oxygenated ha?emoglobin|\bHbO2\b",
    "endorphins": r"endorphins?|β-endorphin|beta-endorphin|endogenous opioids?|enkephalins?",
    "other": (
        r"global rating of change|\bGRC\b|\bPASS\b|patient acceptable symptom|joint position (?:error|sense)|"
        r"electromyograph\w*|\bEMG\b|tenderness|headache index|insomnia|sleep|anxiety|depression|mood|fatigue|"
        r"satisfaction|acceptability|electrical pain thresholds?|thresholds?|sensory measures|functional (?:and sensory )?measures|"
        r"muscle (?:activation|strength|thickness)|self-efficacy|kinesiophobia|"
        r"(?:maximum |maximal |pain-free |unassisted )?mouth opening|jaw opening|interincisal opening|"
        r"return to (?:play|work|sport)|(?:much|very much) improved|global (?:perceived effect|impression of change)|\bPGIC\b|"
        r"(?:number of|fewer|more) (?:treatment )?visits|return visits|length of stay|(?:total )?effective rate"
    ),
}
_OUTCOME_PATTERNS = [(name, re.compile(p, re.I)) for name, p in OUTCOME_TERMS.items()]
# Each pattern with the words one of which it needs (text.required_literals): most
# sentences name two or three outcomes, so most patterns need not be run on them.
# The words of all of them are looked for in one pass, with the rules' words
# (text.SHARED_WORDS: a sentence that both read is scanned once). A pattern that is
# run is read with only its alternatives whose words are there ("other" has some
# thirty, of which a sentence names one or two): text.Specialised, the same matches.
_OUTCOME_RUN = [
    (name, Specialised([("", OUTCOME_TERMS[name], "")], re.IGNORECASE), required_literals(pattern))
    for name, pattern in _OUTCOME_PATTERNS
]
SHARED_WORDS.add(set().union(*(words for _, _, words in _OUTCOME_RUN if words)))
# Each whole pattern, behind a look-ahead on its first characters (text.guarded).
_OUTCOME_CHECKED = [(name, reader.whole, words) for name, reader, words in _OUTCOME_RUN]
# Words that name an outcome only when the sentence is about headache or pain:
# "frequency" in a physics abstract is not headache frequency.
GENERIC = re.compile(r"^(?:frequency|duration|intensity|attacks?)$", re.I)
PAIN_CONTEXT = guarded(re.compile(r"headache|migrain|\bpain|attack|\bTTH\b|\bCGH\b|\bMHD", re.I))
_PAIN_CONTEXT = Checked(PAIN_CONTEXT)  # not run on a sentence without one of its words


@lru_cache(maxsize=4096)
def _spans(text: str) -> tuple[tuple[tuple[int, int, str], ...], bool]:
    """Every outcome term in `text`, longest match kept, and whether the text speaks of pain."""
    present = SHARED_WORDS.words_in(text)
    candidates = sorted(
        (
            (m.start(), m.end(), name) for name, pattern, words in _OUTCOME_RUN
            if present is None or words is None or not words.isdisjoint(present)
            for m in pattern.finditer(text)
        ),
        key=lambda c: (c[0], -(c[1] - c[0])),
    )
    spans: list[tuple[int, int, str]] = []
    for start, end, name in candidates:
        if spans and start < spans[-1][1]:
            continue  # inside a longer (or earlier) term
        spans.append((start, end, name))
    return tuple(spans), bool(_PAIN_CONTEXT.search(text))


def outcome_spans(text: str, painful: bool = False) -> tuple[tuple[int, int, str], ...]:
    """Every outcome term in `text` as (start, end, outcome), longest match kept.
    `painful`: the text is part of an abstract about headache or pain, so "intensity"
    or "frequency" in a sentence that does not repeat the word is still the headache's."""
    spans, pain_here = _spans(text)
    if painful or pain_here:
        return spans
    return tuple(s for s in spans if not GENERIC.match(text[s[0] : s[1]]))


def forget() -> None:
    """Drop what is remembered of the abstracts read so far: the outcome terms of
    their sentences, and their sentences (text.sentences)."""
    _spans.cache_clear()
    _text.forget()


# extract() calls this before each record, so a repeated abstract costs what a new one does.
outcome_spans.cache_clear = forget  # type: ignore[attr-defined]


# What may stand between a number and the outcome named right after it.
ADJACENT = re.compile(
    r"[-−–+]?\d+(?:[.,·]\d+)*\s*(?:%|°|mm|cm|points?|days?|hours?|h|min|kg|kPa|degrees?|units?|doses?|[a-zA-Z]{1,4}/[a-zA-Z0-9²]+)?"
    r"\s*(?:(?:fewer|less|more|lower|higher|greater|smaller|longer|shorter)\s+)?$"
)


def outcome_at(text: str, pos: int, default: str | None = "other", painful: bool = False) -> str | None:
    """The outcome a number at `pos` belongs to: the nearest outcome term before it in
    the same clause, else the nearest after it, else `default`."""
    spans = outcome_spans(text, painful)
    # "by 1.2 NDI points", "14 mm less pain", "2.1 fewer headache days": an outcome
    # named right after the number (its unit and a comparative between) is its own.
    for s in spans:
        if s[0] >= pos and ADJACENT.match(text, pos, s[0]):
            return s[2]
    before = [s for s in spans if s[1] <= pos]
    if before:
        return before[-1][2]
    after = [s for s in spans if s[0] >= pos]
    if after:
        return after[0][2]
    inside = [s for s in spans if s[0] <= pos < s[1]]
    return inside[0][2] if inside else default


# The topic's own words (the intervention, its neighbours, the condition and its
# types) live with the topic, in topics/<topic>/words.yml: data with examples,
# checked here when they load.
_WORD_KEYS = {"pattern", "examples", "counterexamples", "note", "case_sensitive"}


class WordsError(ValueError):
    """A topic words file that cannot be used, with the file and the entry."""


def _word_pattern(raw: object, where: str) -> str:
    """One entry's pattern, after checking its examples and counterexamples."""
    if not isinstance(raw, dict) or not isinstance(raw.get("pattern"), str):
        raise WordsError(f"{where}: needs a pattern")
    unknown = set(raw) - _WORD_KEYS
    if unknown:
        raise WordsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    pattern = raw["pattern"]  # folded YAML (>-) joins its lines with one space
    try:
        rx = re.compile(pattern, 0 if raw.get("case_sensitive") else re.I)
    except re.error as e:
        raise WordsError(f"{where}: pattern does not compile: {e}") from None
    for ex in raw.get("examples") or []:
        if not rx.search(str(ex)):
            raise WordsError(f"{where}: example does not match: {ex!r}")
    for ex in raw.get("counterexamples") or []:
        if rx.search(str(ex)):
            raise WordsError(f"{where}: counterexample matches: {ex!r}")
    return pattern


def load_words(path: str | Path = TOPIC_WORDS) -> dict:
    """The topic's words file: {intervention, neighbours, condition: pattern, types: {type: pattern}}."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WordsError(f"topic words file not found: {path}") from None
    except yaml.YAMLError as e:
        raise WordsError(f"{path.name}: not valid YAML: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("types"), dict):
        raise WordsError(f"{path.name}: expected intervention, neighbours, condition and types")
    out = {key: _word_pattern(data.get(key), f"{path.name}: {key}") for key in ("intervention", "neighbours", "condition")}
    out["types"] = {str(k): _word_pattern(v, f"{path.name}: types.{k}") for k, v in data["types"].items()}
    return out


_WORDS = load_words()
# Kept as text (extract.py, registry.py and claim_finder.py compile them with their
# own flags), each behind a look-ahead on its first characters: the same matches.
HEADACHE_TERMS: dict[str, str] = {kind: guarded_pattern(pattern) for kind, pattern in _WORDS["types"].items()}
HEADACHE_WORD = guarded(re.compile(_WORDS["condition"], re.I))
DRY_NEEDLING = guarded(re.compile(_WORDS["intervention"], re.I))
# Interventions that are neighbours of dry needling, not dry needling.
NEIGHBOURS = guarded(re.compile(_WORDS["neighbours"], re.I))

