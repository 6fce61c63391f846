"""The shortcuts of pipeline/text.py that make extraction fast (Checked, Specialised,
LiteralIndex by tokens, per_abstract memories, required words as sets): each must
give exactly what running the pattern plainly gives, on every bundled sentence and
on upper-cased, lower-cased and odd-character variants of them."""

from __future__ import annotations

import glob
import re
from pathlib import Path

import pytest

from pipeline import effects, extract, terms, text
from pipeline.parse import MalformedRecord, parse
from pipeline.text import (
    Checked,
    LiteralIndex,
    Specialised,
    exact_literal_sets,
    folded,
    per_abstract,
    required_literal_sets,
    split_alternatives,
)


def _texts() -> list[str]:
    root = Path(__file__).resolve().parent.parent
    files = [root / "pipeline" / "snapshot" / "efetch.xml", *sorted(Path(p) for p in glob.glob(str(root / "tests" / "data" / "*" / "efetch.xml")))]
    out: list[str] = []
    for f in files:
        for s in parse(f):
            if not isinstance(s, MalformedRecord):
                out += [x.text for x in text.sentences(s.abstract or "")] + [s.title or ""]
    head = out[:300]
    return out + [t.upper() for t in head] + [t.lower() for t in head] + [
        t.replace("k", "\u212a").replace("s", "\u017f") for t in head
    ] + [t.replace("I", "\u0130").replace("i", "\u0131") for t in head]


TEXTS = _texts()


def _spans(matches) -> list[tuple[tuple[int, int], dict]]:
    return [(m.span(), {k: v for k, v in m.groupdict().items() if v is not None}) for m in matches]


@pytest.mark.parametrize(("pattern", "parts"), [
    (r"a|b(?:c|d)|[|(]|\||e", ["a", "b(?:c|d)", "[|(]", r"\|", "e"]),
    (r"[]|]x|y", ["[]|]x", "y"]),
    (r"[^]|]x|(?P<g>p|q)", ["[^]|]x", "(?P<g>p|q)"]),
    ("single", ["single"]),
])
def test_alternatives_are_split_only_at_the_top_level(pattern, parts):
    assert split_alternatives(pattern) == parts
    for part in parts:
        re.compile(part)


def test_a_specialised_pattern_finds_what_the_whole_pattern_finds():
    """Every outcome pattern and the estimate names, on every text, and from a position
    and to an end position as effects._estimate_kind reads them."""
    readers = [sp for _, sp, _ in terms._OUTCOME_RUN] + [effects.MEASURE_RE]
    for sp in readers:
        for t in TEXTS:
            assert _spans(sp.finditer(t)) == _spans(sp.whole.finditer(t)), (sp.whole.pattern[:60], t)
            end = len(t) // 2
            assert _spans(sp.finditer(t, 3, end)) == _spans(sp.whole.finditer(t, 3, end)), (sp.whole.pattern[:60], t)


def test_where_two_alternatives_match_at_one_place_the_first_written_wins():
    index = LiteralIndex()
    sp = Specialised([("(?P<a>", "pain score|pain", ")"), ("(?P<b>", "pain scores?|(?-i:\\bPS\\b)|x", ")")], re.IGNORECASE, index)
    for t in ["the pain scores fell", "PAIN SCORE", "a PS of 3 and pain", "x pain x", "PS", "ps", ""]:
        assert _spans(sp.finditer(t)) == _spans(sp.whole.finditer(t)), t
        assert (sp.search(t) and sp.search(t).span()) == (sp.whole.search(t) and sp.whole.search(t).span())


def test_a_pattern_that_can_match_nothing_is_read_whole():
    sp = Specialised([("", "abc|x*", "")], 0, LiteralIndex())
    assert [m.span() for m in sp.finditer("zabc")] == [m.span() for m in sp.whole.finditer("zabc")]


def test_a_checked_pattern_finds_what_the_plain_pattern_finds():
    patterns = [terms.DRY_NEEDLING, terms.HEADACHE_WORD, terms.PAIN_CONTEXT, extract.CONTRAST, *effects._IN_SENTENCE]
    patterns += [p.regex for p in extract._TYPE_PATTERNS_FOUND.values()] + [extract._NEGATED_HEADACHE.regex]
    for pattern in patterns:
        checked = Checked(pattern)
        for t in TEXTS:
            assert _spans(checked.finditer(t)) == _spans(pattern.finditer(t)), (pattern.pattern[:60], t)
            assert bool(checked.search(t)) == bool(pattern.search(t))


@pytest.mark.parametrize(("pattern", "flags", "text"), [
    (r"from\s+\d+ to \d+", re.IGNORECASE, "FROM 3 TO 4"),
    (r"(?:by|with) \d+ (?:and|vs) \d+", re.IGNORECASE, "With 2 VS 3"),
    (r"\(\s*\d+\s*%", 0, "( 12 %"),
    (r"\bp\s*[<=]\s*0?\.\d+(?=\s*;)", re.IGNORECASE, "P = .03;"),
])
def test_every_required_set_has_a_word_in_every_match(pattern, flags, text):
    regex = re.compile(pattern, flags)
    sets = required_literal_sets(regex)
    assert regex.search(text) and sets
    assert all(any(w in folded(text) for w in words) for words in sets)


def test_case_sensitive_words_are_kept_as_written():
    assert exact_literal_sets(re.compile(r"(?-i:\ba?ORs?\b)", re.IGNORECASE)) == (("OR",),)
    assert exact_literal_sets(re.compile(r"\bNNT\b")) == (("NNT",),)
    assert exact_literal_sets(re.compile(r"odds ratio", re.IGNORECASE)) == ()  # case-insensitive: not as written
    assert exact_literal_sets(re.compile(r"(?i:or)R")) == (("R",),)  # the (?i:) part is not known as written


def test_the_token_index_is_exact():
    """LiteralIndex reads tokens; it finds exactly the words `in` finds, words with
    spaces and punctuation included."""
    index = terms.SHARED_WORDS
    for t in TEXTS:
        low = folded(t)
        if low is not None:
            assert index.present(low) == {w for w in index.words if w in low}, t
    small = LiteralIndex({"pain", "pain score", "in s", "(control)", "+/-", "days", " days"})
    assert small.present("pain scores: 3 +/- 1 days (control)") == small.words
    assert small.present("painless") == {"pain"}


def test_per_abstract_memories_are_forgotten_with_the_abstract():
    calls = []

    @per_abstract
    def twice(x: str) -> str:
        calls.append(x)
        return x * 2

    assert twice("a") == twice("a") == "aa" and calls == ["a"]
    terms.outcome_spans.cache_clear()  # what extract() calls before each record
    assert twice("a") == "aa" and calls == ["a", "a"]
