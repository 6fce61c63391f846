"""Abstract text helpers: sections, sentences with character offsets, numbers as written.

Everything the extractor reports points back into the stored abstract, so
sentences are kept with their start and end offsets in that exact string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Section labels (structured abstracts, or "(2) Background:" inline) whose
# sentences describe the question or the method rather than what was found.
# Section labels are read by their words, so compound labels ("PATIENTS AND
# METHODS", "BACKGROUND AND PURPOSE", "RESULTS AND CONCLUSIONS") work too.
# "OUTCOMES" or "INTERVENTION AND OUTCOME" heads a case report's results ("MAIN OUTCOME MEASURES" is methods).
RESULT_SECTIONS = re.compile(r"\b(?:results?|findings|conclusions?|discussion|interpretation|perspective|outcomes? and results?|outcomes?(?!\s+(?:measures?|variables?|assessments?)))\b", re.I)
PREAMBLE_SECTIONS = re.compile(
    r"\b(?:background|introduction|context|rationale|objectives?|aims?|purpose|importance|methods?|"
    r"methodology|materials?|design|patients|participants|setting|subjects|interventions?|measures|"
    r"data sources|study selection|data extraction|eligibility|search|selection criteria|"
    r"data collection|registration|funding|hypothesis)\b",
    re.I,
)

LABEL_LINE = re.compile(r"^([A-Z][A-Za-z /&-]{1,60}):\s")
INLINE_LABEL = re.compile(
    r"((?:Background|Introduction|Context|Objectives?|Aims?|Purpose|Methods?|Methodology|Materials and methods|"
    r"Patients and methods|Subjects and methods|Design|Setting|Participants|Patients|Interventions?|"
    r"Main outcome measures?|Outcome measures|Results?|Findings|Conclusions?|Discussion|Interpretation|"
    r"Significance|Trial registration|Case (?:description|presentation|report|summary)s?|Clinical features|Outcomes?)"
    r"(?: and [A-Za-z]+)?):\s+",
    re.I,
)
INLINE_SECTION = re.compile(r"\((\d{1,2})\)\s*([A-Z][A-Za-z ]{2,40}):\s")
# A sentence ends at . ! or ? followed by space and a capital, digit or bracket,
# unless the dot ends a common abbreviation.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"“])")
ABBREVIATIONS = re.compile(
    r"(?:\b(?:vs|e\.g|i\.e|et al|approx|Fig|Figs|No|Dr|Prof|Mr|Mrs|Ms|St|cf|ca|resp|min|max|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.|\b[A-Z]\.)$"
)

WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}
_UNITS = "one|two|three|four|five|six|seven|eight|nine"
_TEENS = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
_TENS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
# "Forty-two", "one hundred and twenty", "Seventy-eight", "twelve".
WORD_NUMBER_RE = re.compile(
    rf"\b(?:(?:{_UNITS}) hundred(?: and)?[ -])?(?:(?:{_TENS})(?:[- ](?:{_UNITS}))?|{_TEENS}|{_UNITS})\b"
    rf"|\b(?:{_UNITS}) hundred\b",
    re.I,
)


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int
    end: int
    section: str | None  # the label of the section it belongs to, if any

    @property
    def is_preamble(self) -> bool:
        """Background, aims or methods: says what was planned, not what was found."""
        return bool(self.section and not RESULT_SECTIONS.search(self.section) and PREAMBLE_SECTIONS.search(self.section))

    @property
    def is_result(self) -> bool:
        return bool(self.section and RESULT_SECTIONS.search(self.section))


def sentences(abstract: str) -> list[Sentence]:
    """The abstract's sentences, each with its offsets and section label.

    Split once per abstract: the document model, the effect reader and the harm
    reader all ask for them (see forget())."""
    return list(_sentences(abstract))


def forget() -> None:
    """Drop the remembered splits (a benchmark that repeats abstracts calls this)."""
    _sentences.cache_clear()


@lru_cache(maxsize=16)
def _sentences(abstract: str) -> tuple[Sentence, ...]:
    out: list[Sentence] = []
    pos = 0
    for line in abstract.split("\n"):
        line_start = pos
        pos += len(line) + 1
        section = None
        body_start = 0
        m = LABEL_LINE.match(line)
        if m:
            section, body_start = m.group(1), m.end()
        # Numbered inline sections: "(1) Objective: ... (2) Background: ...".
        cuts = [(body_start, section)]
        for inline in INLINE_SECTION.finditer(line, body_start):
            cuts.append((inline.start(), inline.group(2)))
        cuts.append((len(line), None))
        for (a, label), (b, _) in zip(cuts, cuts[1:]):
            chunk = line[a:b]
            if label and chunk.startswith("("):
                chunk_body = INLINE_SECTION.match(chunk)
                offset = chunk_body.end() if chunk_body else 0
            else:
                offset = 0
            for s_start, s_end in _split(chunk, offset):
                # One paragraph with labels inside it: "Background: ... Methods: ...".
                inline = INLINE_LABEL.match(chunk, s_start, s_end)
                if inline:
                    label, s_start = inline.group(1), inline.end()
                text = chunk[s_start:s_end]
                if text.strip():
                    out.append(Sentence(text, line_start + a + s_start, line_start + a + s_end, label))
    return tuple(out)


# The longest stretch read as one sentence. Real abstracts' sentences stay well
# under 1,500 characters; the extractor's work per number grows with its
# sentence, so an unpunctuated run of text (a table pasted into an abstract, a
# hostile record) is cut into pieces of at most this size, at the last clause
# break (";", ",") or space before the limit. Total work stays linear.
MAX_SENTENCE_CHARS = 2_000
_BREAKS = ("; ", ", ", " ")


def _split(chunk: str, offset: int) -> list[tuple[int, int]]:
    spans = []
    start = offset
    for m in SENTENCE_END.finditer(chunk, offset):
        # Only the tail can end in an abbreviation: look at a bounded window, not
        # the whole text since the last cut.
        if ABBREVIATIONS.search(chunk[max(start, m.start() - 12) : m.start()]):
            continue
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(chunk.rstrip())))
    return [piece for a, b in spans if b > a for piece in _bounded(chunk, a, b)]


def _bounded(chunk: str, a: int, b: int) -> list[tuple[int, int]]:
    """[a, b) cut into spans of at most MAX_SENTENCE_CHARS."""
    pieces = []
    while b - a > MAX_SENTENCE_CHARS:
        limit = a + MAX_SENTENCE_CHARS
        cut = next((at + len(mark) for mark in _BREAKS if (at := chunk.rfind(mark, a + 1, limit)) > a), limit)
        pieces.append((a, cut))
        a = cut
    pieces.append((a, b))
    return pieces


NUM = r"(?:[-−–]\s?)?(?:\d+(?:[.·]\d+)?|[.·]\d+)"


def to_float(text: str) -> float:
    """A number as abstracts write it: unicode minus, en dash as minus, middle dot or
    (where the caller has read one) decimal comma as decimal point."""
    t = text.strip().replace("−", "-").replace("–", "-").replace("·", ".").replace(",", ".").replace(" ", "")
    if t.startswith("-."):
        t = "-0" + t[1:]
    elif t.startswith("."):
        t = "0" + t
    return float(t)


def word_number(text: str) -> int | None:
    """'Forty-two' → 42, 'one hundred and twenty' → 120; None if not a number in words."""
    words = re.split(r"[\s-]+", text.lower().replace(" and ", " "))
    total, current = 0, 0
    for w in words:
        if w in WORD_NUMBERS:
            current += WORD_NUMBERS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        else:
            return None
    total += current
    return total or None


# --- Cheap pre-checks for patterns ------------------------------------------------
#
# The extractor runs many case-insensitive alternations over every sentence, and
# most of them find nothing there. Python's regex engine tries such a pattern at
# every position of the text, trying each alternative in turn. Two checks, both
# derived from the pattern itself, make that cheaper without changing a match:
#
# - `required_literals`: the literal words one of which every match contains,
#   looked for first in the lower-cased text (`folded`) with a plain substring
#   search, so a pattern that cannot match is not run at all;
# - `guarded`: the pattern behind a look-ahead on the characters a match can
#   start with, so most positions fail on one character test.

try:
    from re import _constants as _sre_c
    from re import _parser as _sre_parse
except ImportError:  # Python < 3.11
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

# The only characters outside ASCII that re.IGNORECASE lets match an ASCII
# character (found by trying every code point): İ, ı, ſ and the Kelvin sign.
_FOLDS_TO_ASCII = re.compile("[\u0130\u0131\u017f\u212a]")
_ZERO_WIDTH = (_sre_c.AT, _sre_c.ASSERT, _sre_c.ASSERT_NOT)
_ATOMIC = getattr(_sre_c, "ATOMIC_GROUP", None)
_REPEATS = (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT, getattr(_sre_c, "POSSESSIVE_REPEAT", _sre_c.MAX_REPEAT))
_CATEGORIES = {
    _sre_c.CATEGORY_DIGIT: r"\d", _sre_c.CATEGORY_NOT_DIGIT: r"\D", _sre_c.CATEGORY_SPACE: r"\s",
    _sre_c.CATEGORY_NOT_SPACE: r"\S", _sre_c.CATEGORY_WORD: r"\w", _sre_c.CATEGORY_NOT_WORD: r"\W",
}


def _parse(regex: re.Pattern) -> list | None:
    if isinstance(regex.pattern, bytes):
        return None
    try:
        return list(_sre_parse.parse(regex.pattern, regex.flags))
    except Exception:  # noqa: BLE001  (an engine detail changed: no pre-check, never a wrong one)
        return None


def folded(text: str) -> str | None:
    """`text` lower-cased, for `required_literals` checks; None where the text has a
    character that could match an ASCII letter under re.IGNORECASE without being one
    (then the check would not be safe, and the pattern must simply be run)."""
    if not text.isascii() and _FOLDS_TO_ASCII.search(text):
        return None
    return text.lower()


def required_literals(regex: re.Pattern) -> frozenset[str] | None:
    """The lower-cased ASCII words one of which every match of `regex` contains (so
    where none is in `folded(text)`, `regex` cannot match `text`); None if the
    pattern guarantees no such word (then it must always be run)."""
    parsed = _parse(regex)
    words = _literals(parsed) if parsed is not None else None
    if not words:
        return None
    # A word containing a shorter word is implied by it.
    return frozenset(w for w in words if not any(o != w and o in w for o in words))


def any_of(words: frozenset[str]) -> re.Pattern:
    """A pattern that finds any of `words` (for a check on one pattern's words)."""
    return re.compile("|".join(map(re.escape, sorted(words))))


class LiteralIndex:
    """Which of many words occur in a text, found in one pass over it (the words of
    many patterns' `required_literals`, checked together)."""

    def __init__(self, words: set[str] | frozenset[str]):
        self.words = frozenset(words)
        # At each position the longest word that starts there (a trie, so each
        # position costs a character test or two); the shorter words that start
        # there are its prefixes.
        self._regex = re.compile("(?=(" + _trie(self.words) + "))") if self.words else None
        self._shorter = {w: frozenset(o for o in self.words if o != w and w.startswith(o)) for w in self.words}
        self._shorter = {w: ws for w, ws in self._shorter.items() if ws}

    def present(self, low: str) -> set[str]:
        """The words that occur in `low` (a folded text)."""
        if self._regex is None:
            return set()
        found = set(self._regex.findall(low))
        for w in [w for w in found if w in self._shorter]:
            found |= self._shorter[w]
        return found


def _trie(words: frozenset[str]) -> str:
    root: dict = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        alternatives = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not alternatives:
            return ""
        body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        return f"(?:{body})?" if "" in node else body  # greedy: the longer word first

    return emit(root)


def _literals(seq: list) -> frozenset[str] | None:
    """Words one of which any match of the parsed sequence contains; None if unknown."""
    candidates: list[frozenset[str]] = []
    run: list[str] = []

    def end_run() -> None:
        if run:
            candidates.append(frozenset(["".join(run)]))
            run.clear()

    for op, av in seq:
        if op is _sre_c.LITERAL and av < 128:
            run.append(chr(av).lower())
        elif op in _ZERO_WIDTH:
            continue  # consumes nothing: the letters either side stay adjacent
        elif op is _sre_c.SUBPATTERN or (_ATOMIC is not None and op is _ATOMIC):
            end_run()
            inner = _literals(list(av[-1] if op is _sre_c.SUBPATTERN else av))
            if inner:
                candidates.append(inner)
        elif op is _sre_c.BRANCH:
            end_run()
            alternatives = [_literals(list(branch)) for branch in av[1]]
            if all(alternatives):
                candidates.append(frozenset().union(*alternatives))
        elif op in _REPEATS:
            end_run()
            if av[0] >= 1:
                inner = _literals(list(av[2]))
                if inner:
                    candidates.append(inner)
        else:
            end_run()  # a class, any character, a character outside ASCII: no fixed letters
    end_run()
    if not candidates:
        return None
    # The most selective: long words first, then few of them.
    return max(candidates, key=lambda ws: (min(min(map(len, ws)), 4), -len(ws)))


def guarded(regex: re.Pattern, max_letters: int | None = None) -> re.Pattern:
    """`regex` behind a look-ahead on the characters its matches can start with, or
    `regex` itself where those are not known. Same matches, same groups: the
    look-ahead consumes nothing and is compiled with the pattern's own flags. Not
    where the look-ahead would let more than `max_letters` letters through (default
    _MAX_GUARD_LETTERS; a pattern with very many alternatives gains even then)."""
    parsed = _parse(regex)
    if parsed is None or not _tries_alternatives(parsed) or re.match(r"\(\?[aiLmsux]+\)", regex.pattern):
        return regex
    got = _first(parsed, bool(regex.flags & re.I))
    if got is None or got[1] or not got[0]:
        return regex  # unknown, or a pattern that can match nothing
    if any(c in _CATEGORIES.values() and c != r"\d" for c in got[0]) or len({c.lower() for c in got[0] if c.isalpha()}) > (
        _MAX_GUARD_LETTERS if max_letters is None else max_letters
    ):
        return regex  # nearly every position passes such a test: it would only add one
    newline = "\n" if regex.flags & re.X else ""  # a trailing comment must not swallow the ")"
    try:
        fast = re.compile(f"(?=[{''.join(sorted(got[0]))}])(?:{regex.pattern}{newline})", regex.flags)
    except re.error:
        return regex
    return fast if fast.groupindex == regex.groupindex and fast.groups == regex.groups else regex


def guarded_pattern(pattern: str) -> str:
    """`pattern` as text behind the look-ahead `guarded` gives it, for callers that
    compile it themselves, with or without re.IGNORECASE (not re.VERBOSE): the
    look-ahead lists the first characters as written, which is exact without the
    flag and, with it, lets through every case of them."""
    return guarded(re.compile(pattern)).pattern


# A look-ahead on more first letters than this lets most positions of English text
# through, and then costs more than it saves.
_MAX_GUARD_LETTERS = 12


def _tries_alternatives(seq: list) -> bool:
    """Whether a match attempt at each position starts with work a one-character test
    saves: an alternation or a repeat. Not where the pattern starts with one literal or
    one class (the engine tests that character itself, or skips ahead to it), is
    anchored (^), or already starts with a look-ahead."""
    for op, av in seq:
        if op is _sre_c.AT and av in (_sre_c.AT_BOUNDARY, _sre_c.AT_NON_BOUNDARY) or op is _sre_c.ASSERT_NOT:
            continue  # \\b, or a look-behind: checked at every position either way
        if op is _sre_c.SUBPATTERN:
            return _tries_alternatives(list(av[-1]))
        return op is _sre_c.BRANCH or op in _REPEATS
    return False


def _first(seq: list, ci: bool) -> tuple[set[str], bool] | None:
    """(what the first character of a match of `seq` can be, as class items; whether
    `seq` can match nothing), or None if unknown."""
    out: set[str] = set()
    for op, av in seq:
        got = _first_of(op, av, ci)
        if got is None:
            return None
        out |= got[0]
        if not got[1]:
            return out, False
    return out, True


def _first_of(op, av, ci: bool) -> tuple[set[str], bool] | None:
    if op is _sre_c.LITERAL:
        return {re.escape(chr(av))}, False
    if op is _sre_c.IN:
        items = set()
        for item, value in av:
            if item is _sre_c.LITERAL:
                items.add(re.escape(chr(value)))
            elif item is _sre_c.RANGE:
                items.add(f"{re.escape(chr(value[0]))}-{re.escape(chr(value[1]))}")
            elif item is _sre_c.CATEGORY and value in _CATEGORIES:
                items.add(_CATEGORIES[value])
            else:
                return None  # a negated class, or another category
        return items, False
    if op in _ZERO_WIDTH:
        return set(), True
    if op is _sre_c.SUBPATTERN:
        _group, add_flags, _del_flags, sub = av
        if add_flags & re.I and not ci:
            return None  # case-insensitive inside a case-sensitive pattern: the class would be too strict
        return _first(list(sub), ci)
    if _ATOMIC is not None and op is _ATOMIC:
        return _first(list(av), ci)
    if op is _sre_c.BRANCH:
        out: set[str] = set()
        empty = False
        for branch in av[1]:
            got = _first(list(branch), ci)
            if got is None:
                return None
            out |= got[0]
            empty = empty or got[1]
        return out, empty
    if op in _REPEATS:
        got = _first(list(av[2]), ci)
        return None if got is None else (got[0], got[1] or av[0] == 0)
    return None


# Number words are looked for at every position of every sentence (the sample-size
# patterns embed this pattern): most positions now fail on their first letter.
WORD_NUMBER_RE = guarded(WORD_NUMBER_RE)
