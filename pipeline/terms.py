"""How abstracts name the things the vocabularies stand for: outcomes, headache
types, comparators, the intervention. All of it is data, checked when it loads:
the outcome terms, general clinical wording, in rules/outcomes.yml; the topic's
own words in topics/<topic>/words.yml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from . import text as _text
from . import yamldata
from .rules import OUTCOMES_FILE, RULES_DIR
from .text import (
    SHARED_WORDS,
    Checked,
    Specialised,
    guarded,
    guarded_pattern,
    required_literals,
)
from .version import TOPIC_WORDS, words_fingerprint  # noqa: F401 (words_fingerprint: kept for callers)
from .vocab import OUTCOMES

OUTCOME_TERMS_FILE = RULES_DIR / OUTCOMES_FILE
_WORD_KEYS = {"pattern", "examples", "counterexamples", "note", "case_sensitive"}


class WordsError(ValueError):
    """A topic words file that cannot be used, with the file and the entry."""


class OutcomeTermsError(ValueError):
    """An outcome terms file (rules/outcomes.yml) that cannot be used, with the file and the entry."""


def _read(path: Path, error: type[ValueError], what: str) -> object:
    try:
        return yamldata.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except yaml.YAMLError as e:
        raise error(f"{path.name}: not valid YAML: {e}") from None


def _word_pattern(raw: object, where: str, error: type[ValueError] = WordsError, keys: set[str] = _WORD_KEYS,
                  whole: bool = False) -> str:
    """One entry's pattern, after checking its examples and counterexamples (found
    anywhere in them, or with `whole`, matching the whole of each)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("pattern"), str):
        raise error(f"{where}: needs a pattern")
    unknown = set(raw) - keys
    if unknown:
        raise error(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    pattern = raw["pattern"]  # folded YAML (>-) joins its lines with one space
    try:
        rx = re.compile(f"^(?:{pattern})$" if whole else pattern, 0 if raw.get("case_sensitive") else re.I)
    except re.error as e:
        raise error(f"{where}: pattern does not compile: {e}") from None
    for ex in raw.get("examples") or []:
        if not rx.search(str(ex)):
            raise error(f"{where}: example does not match: {ex!r}")
    for ex in raw.get("counterexamples") or []:
        if rx.search(str(ex)):
            raise error(f"{where}: counterexample matches: {ex!r}")
    return pattern


# --- the outcome terms (rules/outcomes.yml) -------------------------------------------


@dataclass(frozen=True)
class OutcomeTerms:
    terms: dict[str, str]  # outcome → its patterns joined by "|", outcomes in the file's order
    generic: str  # the words that name an outcome only with pain_context (a whole term)
    pain_context: str
    examples: dict[str, tuple[str, ...]]
    counterexamples: dict[str, tuple[str, ...]]


_OUTCOME_KEYS = {"patterns", "examples", "counterexamples", "note"}
_OUTCOMES_FILE_KEYS = {"about", "outcomes", "generic", "pain_context"}


def _texts(raw: object, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise OutcomeTermsError(f"{where}: expected a list of sentences")
    return tuple(raw)


def plain_outcome_spans(text: str, patterns: list[tuple[str, re.Pattern]], generic: re.Pattern,
                        pain_context: re.Pattern) -> list[tuple[int, int, str]]:
    """What outcome_spans() finds in a sentence read on its own, read the plain way:
    every pattern run, the longest (then the earliest, then the outcome written first)
    of overlapping terms kept, and a generic word kept only beside pain_context."""
    candidates = sorted(
        ((m.start(), m.end(), name) for name, rx in patterns for m in rx.finditer(text)),
        key=lambda c: (c[0], -(c[1] - c[0])),
    )
    spans: list[tuple[int, int, str]] = []
    for c in candidates:
        if not spans or c[0] >= spans[-1][1]:
            spans.append(c)
    if pain_context.search(text):
        return spans
    return [s for s in spans if not generic.match(text[s[0] : s[1]])]


def load_outcome_terms(path: str | Path = OUTCOME_TERMS_FILE) -> OutcomeTerms:
    """The outcome terms file, checked: every outcome one of vocab.OUTCOMES, every
    pattern compiling, every example read as naming its outcome and no counterexample."""
    path = Path(path)
    data = _read(path, OutcomeTermsError, "outcome terms file")
    if not isinstance(data, dict) or not isinstance(data.get("outcomes"), dict):
        raise OutcomeTermsError(f"{path.name}: expected outcomes, generic and pain_context")
    unknown = set(data) - _OUTCOMES_FILE_KEYS
    if unknown:
        raise OutcomeTermsError(f"{path.name}: unknown top-level key(s) {', '.join(sorted(unknown))}")
    terms: dict[str, str] = {}
    examples: dict[str, tuple[str, ...]] = {}
    counterexamples: dict[str, tuple[str, ...]] = {}
    for name, raw in data["outcomes"].items():
        where = f"{path.name}: outcome {name}"
        if name not in OUTCOMES:
            raise OutcomeTermsError(f"{where}: not an outcome of pipeline/vocab.py (known: {', '.join(OUTCOMES)})")
        if not isinstance(raw, dict):
            raise OutcomeTermsError(f"{where}: needs patterns and examples")
        unknown = set(raw) - _OUTCOME_KEYS
        if unknown:
            raise OutcomeTermsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        patterns = raw.get("patterns")
        if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p for p in patterns):
            raise OutcomeTermsError(f"{where}: patterns must be a list of regular expressions")
        for pattern in patterns:
            try:
                re.compile(pattern, re.I)
            except re.error as e:
                raise OutcomeTermsError(f"{where}: pattern does not compile: {pattern!r}: {e}") from None
        terms[name] = "|".join(patterns)  # in order: at one position the alternative written first wins
        try:
            re.compile(terms[name], re.I)
        except re.error as e:
            raise OutcomeTermsError(f"{where}: patterns do not compile together: {e}") from None
        examples[name] = _texts(raw.get("examples"), f"{where}: examples")
        counterexamples[name] = _texts(raw.get("counterexamples"), f"{where}: counterexamples")
        if not examples[name]:
            raise OutcomeTermsError(f"{where}: at least one example is required")
    keys = _WORD_KEYS - {"case_sensitive"}
    generic = _word_pattern(data.get("generic"), f"{path.name}: generic", OutcomeTermsError, keys, whole=True)
    pain = _word_pattern(data.get("pain_context"), f"{path.name}: pain_context", OutcomeTermsError, keys)
    read = (
        [(name, re.compile(p, re.I)) for name, p in terms.items()],
        re.compile(f"^(?:{generic})$", re.I),
        re.compile(pain, re.I),
    )
    for name in terms:
        where = f"{path.name}: outcome {name}"
        for ex in examples[name]:
            found = plain_outcome_spans(ex, *read)
            if name not in {o for _, _, o in found}:
                raise OutcomeTermsError(f"{where}: example does not name it: {ex!r} (read as {_found(ex, found)})")
        for ex in counterexamples[name]:
            found = plain_outcome_spans(ex, *read)
            if name in {o for _, _, o in found}:
                raise OutcomeTermsError(f"{where}: counterexample names it: {ex!r} (read as {_found(ex, found)})")
    return OutcomeTerms(terms, generic, pain, examples, counterexamples)


def _found(text: str, spans: list[tuple[int, int, str]]) -> str:
    return ", ".join(f"{o} {text[a:b]!r}" for a, b, o in spans) or "nothing"


_OUTCOMES = load_outcome_terms()
# Outcome → the ways abstracts name it (a pattern), in the file's order. Where two
# terms overlap the longer wins ("pressure pain threshold" over "pain"); the order
# matters only for ties.
OUTCOME_TERMS: dict[str, str] = _OUTCOMES.terms
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
# "frequency" in a physics abstract is not headache frequency (rules/outcomes.yml:
# generic, pain_context).
GENERIC = re.compile(f"^(?:{_OUTCOMES.generic})$", re.I)
PAIN_CONTEXT = guarded(re.compile(_OUTCOMES.pain_context, re.I))
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
    r"\s*(?:(?:fewer|less|more|lower|higher|greater|smaller|longer|shorter)\s+)?"
    r"(?:(?:for|on)\s+(?:the\s+)?)?$"  # "1.2 points for the NDI", "2 points on the NPRS"
)


_NEXT_CLAUSE = re.compile(r";|,\s+(?:and|but|while|whereas)\s")


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
    # A term after the number is its outcome only within its clause: in "substance P
    # fell by 38%, and β-endorphin rose" the endorphins are the next clause's.
    after = [s for s in spans if s[0] >= pos and not _NEXT_CLAUSE.search(text, pos, s[0])]
    if after:
        return after[0][2]
    inside = [s for s in spans if s[0] <= pos < s[1]]
    return inside[0][2] if inside else default


# The topic's own words (the intervention, its neighbours, the condition and its
# types) live with the topic, in topics/<topic>/words.yml: data with examples,
# checked here when they load.


def load_words(path: str | Path = TOPIC_WORDS) -> dict:
    """The topic's words file: {intervention, neighbours, condition: pattern, types: {type: pattern}}."""
    path = Path(path)
    data = _read(path, WordsError, "topic words file")
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

