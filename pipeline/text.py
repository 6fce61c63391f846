"""Abstract text helpers: sections, sentences with character offsets, numbers as written.

Everything the extractor reports points back into the stored abstract, so
sentences are kept with their start and end offsets in that exact string.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

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
        return bool(self.section) and _section_roles(self.section)[1]

    @property
    def is_result(self) -> bool:
        return bool(self.section) and _section_roles(self.section)[0]


# Per-abstract memory. The extractor asks the same question of the same sentence
# several times (one field after another); functions decorated with
# `per_abstract` answer each text once and are cleared by forget(), which
# extract() calls before each record, so what is remembered never outlives the
# abstract being read (and a benchmark that repeats abstracts gains nothing).
_PER_ABSTRACT: list = []
_T = TypeVar("_T", bound=Callable)


def per_abstract(fn: _T | None = None, *, maxsize: int = 1024) -> _T:
    """`fn` (a pure function of its arguments) remembered until forget()."""
    if fn is None:
        return lambda f: per_abstract(f, maxsize=maxsize)  # type: ignore[return-value]
    cached = lru_cache(maxsize=maxsize)(fn)
    _PER_ABSTRACT.append(cached)
    return cached  # type: ignore[return-value]


@per_abstract
def _section_roles(label: str) -> tuple[bool, bool]:
    """(is a results label, is a preamble label): every sentence of a section asks."""
    result = bool(RESULT_SECTIONS.search(label))
    return result, not result and bool(PREAMBLE_SECTIONS.search(label))


def sentences(abstract: str) -> list[Sentence]:
    """The abstract's sentences, each with its offsets and section label.

    Split once per abstract: the document model, the effect reader and the harm
    reader all ask for them (see forget())."""
    return list(_sentences(abstract))


def forget() -> None:
    """Drop the remembered splits and every per_abstract memory (a benchmark that
    repeats abstracts calls this)."""
    for cached in _PER_ABSTRACT:
        cached.cache_clear()


@per_abstract(maxsize=16)
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
    (where the caller has read one) decimal comma as decimal point; or in words ("seven")."""
    if text[:1].isalpha():
        n = word_number(text)
        if n is None:
            raise ValueError(f"not a number: {text!r}")
        return float(n)
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


class Checked:
    """A compiled pattern that is run only on a text containing a word of each of its
    sets of required words (`required_literal_sets`, looked for with `in` in the
    folded text, which costs far less than a scan by the regex engine): the same
    matches, and none where the pattern cannot match. For patterns read over whole
    sentences or abstracts; a pattern without such words is simply run."""

    __slots__ = ("_indexed", "regex", "sets")

    def __init__(self, regex: re.Pattern):
        self.regex = regex
        found = required_literal_sets(regex)
        self.sets = tuple(tuple(sorted(words)) for words in found)
        # Words long enough to be worth indexing are also looked up in the words the
        # shared index has already found in the text (a sentence other readers read),
        # which costs less than looking for them in it again.
        self._indexed = found if found and min(len(w) for words in found for w in words) >= _MIN_INDEXED else None
        if self._indexed:
            SHARED_WORDS.add(frozenset().union(*found))

    def possible(self, text: str) -> bool:
        """False only where no match can be in `text`."""
        if not self.sets:
            return True
        if self._indexed and (present := SHARED_WORDS.remembered(text)) is not None:
            return all(not words.isdisjoint(present) for words in self._indexed)
        return has_words(self.sets, text)

    def search(self, text: str) -> re.Match | None:
        return self.regex.search(text) if self.possible(text) else None

    def finditer(self, text: str) -> Iterator[re.Match]:
        return self.regex.finditer(text) if self.possible(text) else iter(())


# The folded form of a text read by several Checked patterns, made once per abstract.
_folded = per_abstract(folded)


def has_words(sets: tuple[tuple[str, ...], ...], text: str) -> bool:
    """Whether `text` has a word of each of `sets` (of `required_literal_sets`): False
    only where a pattern with those sets cannot match it."""
    low = _folded(text)
    if low is None:
        return True
    for words in sets:  # (map: no Python frame per word)
        if not any(map(low.__contains__, words)):
            return False
    return True


_TOKEN = re.compile(r"[a-z0-9]+")  # a token of a folded text (LiteralIndex)


class LiteralIndex:
    """Which of many words occur in a text (the words of many patterns'
    `required_literals`, checked together). Words may be added (the index is then
    rebuilt); `words_in` remembers each text's words until forget().

    Read by the text's tokens (runs of ASCII letters and digits): a word made of
    letters and digits occurs in a text exactly where it occurs in one of its tokens,
    and which words occur in a token is found once (a trie over the token) and
    remembered for the next text that has it, abstracts sharing most of their
    vocabulary. A word with other characters ("number of ", "(control)") is looked
    for with `in`, only in a text whose tokens have its longest run of letters and
    digits. Exact either way; far less work than a scan of every position."""

    _MAX_TOKENS = 100_000  # remembered tokens, at most (then forgotten and found again)

    def __init__(self, words: set[str] | frozenset[str] = frozenset()):
        self.words: frozenset[str] = frozenset()
        self._regex: re.Pattern | None = None
        self._shorter: dict[str, frozenset[str]] = {}
        self._plain: frozenset[str] = frozenset()  # words of letters and digits only
        self._by_piece: dict[str, tuple[str, ...]] = {}  # the other words, by their longest such run
        self._unpieced: tuple[str, ...] = ()  # words with no letter or digit: looked for in every text
        self._tokens: dict[str, frozenset[str]] = {}
        self._memo: dict[str, set[str] | None] = {}
        self._built = True
        self.add(words)

    def add(self, words: set[str] | frozenset[str]) -> None:
        """Look for `words` too (what was remembered of texts is dropped; the index is
        rebuilt when next read, so that many additions cost one build)."""
        if not set(words) - self.words:
            return
        self.words |= frozenset(words)
        self._built = False
        self._tokens.clear()
        self._memo.clear()

    def _build(self) -> None:
        self._plain = frozenset(w for w in self.words if _TOKEN.fullmatch(w))
        by_piece: dict[str, list[str]] = {}
        for w in self.words - self._plain:
            pieces = _TOKEN.findall(w)
            if pieces:
                by_piece.setdefault(max(pieces, key=len), []).append(w)
        self._by_piece = {piece: tuple(sorted(ws)) for piece, ws in by_piece.items()}
        self._unpieced = tuple(sorted(w for w in self.words - self._plain if not _TOKEN.search(w)))
        pieces = self._plain | self._by_piece.keys()
        # At each position of a token the longest piece that starts there (a trie, so
        # each position costs a character test or two); the shorter pieces that start
        # there are its prefixes.
        self._regex = re.compile("(?=(" + _trie(frozenset(pieces)) + "))")
        shorter = {w: frozenset(o for o in pieces if o != w and w.startswith(o)) for w in pieces}
        self._shorter = {w: ws for w, ws in shorter.items() if ws}
        self._built = True

    def present(self, low: str) -> set[str]:
        """The words that occur in `low` (a folded text)."""
        if not self._built:
            self._build()
        if self._regex is None:
            return set()
        tokens = self._tokens
        in_text = set(_TOKEN.findall(low))
        try:
            found = set().union(*map(tokens.__getitem__, in_text))  # each token's words, found before
        except KeyError:
            if len(tokens) > self._MAX_TOKENS:
                tokens.clear()
            for token in in_text - tokens.keys():
                in_token = set(self._regex.findall(token))
                for w in [w for w in in_token if w in self._shorter]:
                    in_token |= self._shorter[w]
                tokens[token] = frozenset(in_token)
            found = set().union(*map(tokens.__getitem__, in_text))
        out = found & self._plain
        for piece in found & self._by_piece.keys():
            out.update(filter(low.__contains__, self._by_piece[piece]))
        if self._unpieced:
            out.update(filter(low.__contains__, self._unpieced))
        return out

    def words_in(self, text: str) -> set[str] | None:
        """The words that occur in `text`, remembered; None where folded() cannot be used."""
        try:
            return self._memo[text]
        except KeyError:
            if len(self._memo) > 4096:
                self._memo.clear()  # bounded, even for a caller that never calls forget()
            low = _folded(text)  # (the folded text other readers of it use too)
            found = self._memo[text] = None if low is None else self.present(low)
            return found

    def remembered(self, text: str) -> set[str] | None:
        """The words of `text` if words_in() has read it (and could), else None."""
        return self._memo.get(text)

    def forget(self) -> None:
        self._memo.clear()

    cache_clear = forget  # so that text.forget() clears it with the per_abstract memories


# The words of the default rule set, the outcome terms and the Specialised patterns:
# one index, so a sentence that several of them read is looked at once (rules.default,
# terms._spans, Specialised).
SHARED_WORDS = LiteralIndex()
_PER_ABSTRACT.append(SHARED_WORDS)


def split_alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of `pattern` (the pieces a "|" outside any group
    or character class separates), as text; not for re.VERBOSE patterns."""
    parts: list[str] = []
    depth, start, i, in_class = 0, 0, 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1
            i += pattern.startswith("^", i)
            i += pattern.startswith("]", i)  # "[]" and "[^]": the "]" is a member
            continue
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


class Specialised:
    """A pattern made of many alternatives, most of which cannot match a given text
    (their required words are absent), read on each text with only those that can.
    The regex engine tries every alternative at every position; this leaves it two
    or three. The same matches as the whole pattern: an alternative that cannot
    match anywhere in a text changes no match there, and where two alternatives
    match, the leftmost match wins and, at one position, the alternative written
    first (as the engine's own alternation does).

    `parts` is the pattern as (before, body, after) pieces joined by "|", e.g. named
    groups `("(?P<m0>", "a|b", ")")`; a match has the groups of its own part only.
    An alternative is left out where none of its words is among `index`'s words in
    the text (each alternative's words are added to it) or, for a case-sensitive
    one without such words ("(?-i:\\bORs?\\b)"), where its words as written are not
    in the text. The alternatives with neither are read together, as one pattern;
    each of the others is compiled by itself the first time a text needs it (so
    the cost of compiling is bounded by the number of alternatives, never by the
    texts read)."""

    _MAX_CHOICES = 4096

    def __init__(self, parts: list[tuple[str, str, str]], flags: int = 0, index: LiteralIndex | None = None):
        if flags & re.VERBOSE:
            raise ValueError("Specialised: not for re.VERBOSE patterns")
        self._index = SHARED_WORDS if index is None else index
        self._flags = flags
        self.whole = guarded(re.compile("|".join(a + body + b for a, body, b in parts), flags))
        # Each alternative, in order: (its pattern inside its part, index words or None,
        # the number of its case-sensitive check in self._exact or None).
        self._alternatives: list[tuple[str, frozenset[str] | None, int | None]] = []
        self._exact: list[tuple[tuple[str, ...], ...]] = []
        always: list[tuple[str, list[str], str]] = []
        readable = True
        for before, body, after in parts:
            always.append((before, [], after))
            for alternative in split_alternatives(body):
                compiled = re.compile(alternative, flags)
                words = required_literals(compiled)
                exact = None
                if words is not None and min(map(len, words)) < _MIN_INDEXED:
                    words = None  # a word in nearly every text: not looked for in the index
                if words is None and (sets := exact_literal_sets(compiled)):
                    exact = len(self._exact)
                    self._exact.append(sets)
                if words is None and exact is None:
                    always[-1][1].append(alternative)
                readable = readable and _min_width(compiled) > 0  # (an empty match: read it whole)
                self._alternatives.append((before + alternative + after, words, exact))
        self._readable = readable
        pieces = [before + "|".join(alts) + after for before, alts, after in always if alts]
        self._always = guarded(re.compile("|".join(pieces), flags)) if pieces else None
        self._always_at = tuple(i for i, (_, w, e) in enumerate(self._alternatives) if w is None and e is None)
        self._one: dict[int, re.Pattern] = {}
        self.words = frozenset().union(*(w for _, w, _ in self._alternatives if w))
        self._index.add(self.words)
        self._choices: dict[tuple[frozenset[str], tuple[bool, ...]], tuple[int, ...]] = {}

    def _chosen(self, text: str) -> tuple[int, ...] | None:
        """The alternatives (other than those always read) that can match `text`; None
        where the text cannot be checked (then the whole pattern is read)."""
        present = self._index.words_in(text) if self._readable else None
        if present is None:
            return None
        found = self.words.intersection(present)
        exact = tuple(all(any(map(text.__contains__, words)) for words in sets) for sets in self._exact)
        try:
            return self._choices[found, exact]
        except KeyError:
            pass
        chosen = tuple(
            i for i, (_, words, e) in enumerate(self._alternatives)
            if (not words.isdisjoint(found) if words is not None else e is not None and exact[e])
        )
        if len(self._choices) >= self._MAX_CHOICES:
            self._choices.clear()
        self._choices[found, exact] = chosen
        return chosen

    def _regex(self, i: int) -> re.Pattern:
        try:
            return self._one[i]
        except KeyError:
            regex = self._one[i] = guarded(re.compile(self._alternatives[i][0], self._flags))
            return regex

    def finditer(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> Iterator[re.Match]:
        chosen = self._chosen(text)
        if chosen is None:
            return self.whole.finditer(text, pos, endpos)
        regexes = [self._regex(i) for i in chosen]
        if self._always is not None:
            regexes.append(self._always)
        if len(regexes) == 1:
            return regexes[0].finditer(text, pos, endpos)
        return self._merged(regexes, chosen, text, pos, endpos) if regexes else iter(())

    def search(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match | None:
        return next(self.finditer(text, pos, endpos), None)

    def _merged(self, regexes: list[re.Pattern], chosen: tuple[int, ...], text: str, pos: int, endpos: int
                ) -> Iterator[re.Match]:
        """The matches of several patterns read as one alternation: leftmost first; where
        two start at one position, the one the alternation tries first (whose
        alternative is written first); then on from its end (no match is empty)."""
        nexts = [r.search(text, pos, endpos) for r in regexes]
        while True:
            starts = [m.start() for m in nexts if m]
            if not starts:
                return
            at = min(starts)
            tied = [m for m in nexts if m and m.start() == at]
            m = tied[0] if len(tied) == 1 else self._first_at(chosen, text, at, endpos)
            yield m
            pos = m.end()
            nexts = [n if n is None or n.start() >= pos else r.search(text, pos, endpos) for n, r in zip(nexts, regexes)]

    def _first_at(self, chosen: tuple[int, ...], text: str, at: int, endpos: int) -> re.Match:
        """The match at `at` of the first alternative, in order, that matches there."""
        for i in sorted(chosen + self._always_at):
            m = self._regex(i).match(text, at, endpos)
            if m:
                return m
        raise AssertionError("a pattern matched where none of its alternatives does")


def _min_width(regex: re.Pattern) -> int:
    """The fewest characters a match of `regex` can have (0 where unknown)."""
    try:
        return _sre_parse.parse(regex.pattern, regex.flags).getwidth()[0]
    except Exception:  # noqa: BLE001  (an engine detail changed: take it as possibly empty)
        return 0


# Words shorter than this are in nearly every text: not worth looking for.
_MIN_INDEXED = 3


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


def _literals(seq: list, fold: bool = True) -> frozenset[str] | None:
    """Words one of which any match of the parsed sequence contains; None if unknown."""
    candidates = _candidates(seq, fold)
    if not candidates:
        return None
    return max(candidates, key=_selective)


def _selective(words: frozenset[str]) -> tuple[int, int]:
    """How selective a check for one of `words` is: long words first, then few of them."""
    return min(min(map(len, words)), 4), -len(words)


def required_literal_sets(regex: re.Pattern, most: int = 3) -> tuple[frozenset[str], ...]:
    """Sets of lower-cased ASCII words such that every match of `regex` contains a word
    of each set (the `most` most selective, most selective first): a text lacking
    every word of any one set cannot hold a match. () if none is known."""
    parsed = _parse(regex)
    found = _candidates(parsed) if parsed is not None else []
    return tuple(sorted(set(found), key=_selective, reverse=True)[:most])


def exact_literal_sets(regex: re.Pattern, most: int = 3) -> tuple[tuple[str, ...], ...]:
    """For a pattern matched case-sensitively (or one that is a whole "(?-i:...)"
    group), sets of words as written such that every match contains a word of each
    (checked with `in` on the text itself: exact, whatever its characters); () if none."""
    parsed = _parse(regex)
    if parsed is None:
        return ()
    if regex.flags & re.IGNORECASE:
        if len(parsed) != 1 or parsed[0][0] is not _sre_c.SUBPATTERN or not parsed[0][1][2] & re.IGNORECASE:
            return ()
        parsed = list(parsed[0][1][3])
    found = sorted(set(_candidates(parsed, fold=False)), key=_selective, reverse=True)[:most]
    return tuple(tuple(sorted(words)) for words in found)


def _candidates(seq: list, fold: bool = True) -> list[frozenset[str]]:
    """Sets of words such that any match of the parsed sequence contains a word of each:
    lower-cased, or with `fold` False (for a sequence parsed case-sensitively) as written."""
    candidates: list[frozenset[str]] = []
    run: list[str] = []

    def end_run() -> None:
        if run:
            candidates.append(frozenset(["".join(run)]))
            run.clear()

    for op, av in seq:
        if op is _sre_c.LITERAL and av < 128:
            run.append(chr(av).lower() if fold else chr(av))
        elif op in _ZERO_WIDTH:
            continue  # consumes nothing: the letters either side stay adjacent
        elif op is _sre_c.SUBPATTERN and not fold and av[1] & re.IGNORECASE:
            end_run()  # case-insensitive inside: its letters are not known as written
        elif op is _sre_c.SUBPATTERN or (_ATOMIC is not None and op is _ATOMIC):
            end_run()
            inner = _literals(list(av[-1] if op is _sre_c.SUBPATTERN else av), fold)
            if inner:
                candidates.append(inner)
        elif op is _sre_c.BRANCH:
            end_run()
            alternatives = [_literals(list(branch), fold) for branch in av[1]]
            if all(alternatives):
                candidates.append(frozenset().union(*alternatives))
        elif op in _REPEATS:
            end_run()
            if av[0] >= 1:
                inner = _literals(list(av[2]), fold)
                if inner:
                    candidates.append(inner)
        else:
            end_run()  # a class, any character, a character outside ASCII: no fixed letters
    end_run()
    return candidates


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
