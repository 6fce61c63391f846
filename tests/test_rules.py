"""The rules engine: every rule in rules/ is tested on its own examples and
counterexamples (one test each), and a broken rule file fails to load with an
error that names the file and the rule."""

from __future__ import annotations

import textwrap

import pytest

from pipeline import rules
from pipeline.rules import RuleError

RULESET = rules.load()
ALL = RULESET.rules


@pytest.mark.parametrize("rule", ALL, ids=[r.id for r in ALL])
def test_every_example_fires_with_its_capture(rule):
    for ex in rule.examples:
        m = RULESET.fires(rule, ex.text)
        assert m, f"{rule.id} does not fire on {ex.text!r}"
        for name, expected in ex.capture.items():
            assert (m.group(name) or "").strip() == expected.strip()


@pytest.mark.parametrize("rule", [r for r in ALL if r.counterexamples], ids=[r.id for r in ALL if r.counterexamples])
def test_no_counterexample_fires(rule):
    for text in rule.counterexamples:
        assert not RULESET.fires(rule, text), f"{rule.id} fires on {text!r}"


def test_every_label_has_rules_and_the_lists_are_used():
    assert {r.label for r in ALL} == set(RULESET.labels)
    used = " ".join(r.pattern for r in ALL)
    assert [name for name in RULESET.lists if "{" + name + "}" not in used] == []


def test_find_keeps_the_higher_precedence_rule_where_two_overlap():
    text = "differed by 2.9 days (1.2 to 4.6) and (95% CI 0.8 to 3.0)"
    hits = RULESET.find("interval", text)
    assert [(h.rule.id, h.group("lo")) for h in hits] == [("interval.bare_brackets", "1.2"), ("interval.named", "0.8")]
    assert RULESET.at("interval", text, text.index("(95%")).rule.id == "interval.named"


GOOD_RULE = """
    - id: demo.rule
      label: cue
      pattern: '{words}\\s+(?P<v>{NUM})'
      examples:
        - text: fell by 2.5
          capture: {v: '2.5'}
      counterexamples: [rose by 2.5]
"""


def write(tmp_path, rules_yaml: str, lists: str = "  words: [fell by, dropped by]") -> None:
    (tmp_path / "demo.yml").write_text(
        "labels:\n  cue: a demo cue\nlists:\n" + lists + "\nrules:\n" + textwrap.dedent(rules_yaml), encoding="utf-8"
    )


def test_a_good_file_loads_and_applies(tmp_path):
    write(tmp_path, GOOD_RULE)
    ruleset = rules.load(tmp_path)
    (hit,) = ruleset.find("cue", "Pain fell by 2.5 points; rose by 1.0")
    assert hit.group("v") == "2.5" and hit.rule.id == "demo.rule"


@pytest.mark.parametrize(
    "change, message",
    [
        (("{words}", "{nowhere}"), "demo.yml: rule demo.rule: unknown word list {nowhere}"),
        (("label: cue", "label: mystery"), "demo.yml: rule demo.rule: unknown label 'mystery'"),
        (("(?P<v>{NUM})", "(?P<v>{NUM}"), "demo.yml: rule demo.rule: pattern does not compile"),
        (("text: fell by 2.5", "text: went down by 2.5"), "demo.yml: rule demo.rule: example does not fire: 'went down by 2.5'"),
        (("{v: '2.5'}", "{v: '3.5'}"), "demo.yml: rule demo.rule: example 'fell by 2.5' captures v='2.5', expected '3.5'"),
        (("[rose by 2.5]", "[dropped by 1]"), "demo.yml: rule demo.rule: counterexample fires: 'dropped by 1'"),
        (("label: cue", "label: cue\n      scope: everywhere"), "demo.yml: rule demo.rule: unknown scope 'everywhere'"),
    ],
)
def test_a_broken_rule_is_refused_at_load_naming_file_and_rule(tmp_path, change, message):
    old, new = change
    assert old in GOOD_RULE
    write(tmp_path, GOOD_RULE.replace(old, new))
    with pytest.raises(RuleError) as err:
        rules.load(tmp_path)
    assert message in str(err.value)


def test_a_rule_without_examples_is_refused(tmp_path):
    write(tmp_path, """
    - id: demo.bare
      label: cue
      pattern: '{words}'
    """)
    with pytest.raises(RuleError, match="demo.bare: at least one example is required"):
        rules.load(tmp_path)


def test_rules_of_one_label_are_read_the_same_way(tmp_path):
    write(tmp_path, GOOD_RULE + """
    - id: demo.after
      label: cue
      scope: after
      pattern: '{words}'
      examples: [dropped by]
    """)
    with pytest.raises(RuleError, match="demo.after: scope 'after' differs from demo.rule's 'sentence'"):
        rules.load(tmp_path)


def test_an_empty_folder_is_refused(tmp_path):
    with pytest.raises(RuleError, match="no rule files"):
        rules.load(tmp_path)


def test_list_phrases_are_literal_text():
    assert rules.phrase_regex("kg/cm²") == r"\bkg/cm²\b"
    assert rules.phrase_regex("°") == "°"
    assert rules.phrase_regex("c.i.") == r"\bc\.i\."
    assert rules.phrase_regex("compared  with") == r"\bcompared\s+with\b"


# --- word lists of the topic's words file (topics/<topic>/words.yml: lists) -------


def topic_words(tmp_path, lists: str = "  words: [fell by, dropped by]"):
    """A topic's words file with only word lists (the rest of it is terms.py's), outside the rule folder."""
    path = tmp_path / "a-topic" / "words.yml"
    path.parent.mkdir()
    path.write_text("lists:\n" + lists + "\n", encoding="utf-8")
    return path


def test_a_rule_may_use_a_list_of_the_topics_words(tmp_path):
    write(tmp_path, GOOD_RULE, lists="")
    ruleset = rules.load(tmp_path, topic_words=topic_words(tmp_path))
    (hit,) = ruleset.find("cue", "Pain fell by 2.5 points; rose by 1.0")
    assert hit.group("v") == "2.5" and ruleset.lists["words"] == ["fell by", "dropped by"]


def test_the_drugs_compared_with_are_the_topics_words_not_a_general_rule():
    assert "drug" in rules.topic_lists(rules.TOPIC_WORDS) and "drug" in RULESET.lists
    assert "drug" not in rules.parse_file(rules.RULES_DIR / "comparators.yml")[1]
    (medication,) = [r for r in ALL if r.id == "comparator.named.medication"]
    assert "{drug}" in medication.pattern and RULESET.fires(medication, "compared with amitriptyline")


def test_a_list_defined_by_a_rule_file_and_the_topic_is_refused_naming_both(tmp_path):
    write(tmp_path, GOOD_RULE)
    with pytest.raises(RuleError) as err:
        rules.load(tmp_path, topic_words=topic_words(tmp_path))
    assert str(err.value) == "a-topic/words.yml: word list 'words' is defined twice (also in demo.yml)"


def test_a_list_no_file_defines_is_refused_saying_where_lists_are_defined(tmp_path):
    write(tmp_path, GOOD_RULE, lists="")
    with pytest.raises(RuleError) as err:
        rules.load(tmp_path, topic_words=topic_words(tmp_path, "  other: [went down by]"))
    assert str(err.value) == (
        "demo.yml: rule demo.rule: unknown word list {words} (known: other; a list is defined under lists: "
        "in a rule file, rules/*.yml, or in the topic's words, topics/<topic>/words.yml)"
    )
    # the project's rules without the topic's words: the medication rule needs its drugs
    with pytest.raises(RuleError, match=r"comparators.yml: rule comparator.named.medication: unknown word list \{drug\}"):
        rules.load(topic_words=None)


# --- the pre-checks that make matching cheaper change no match --------------------


def _bundled_sentences() -> list[str]:
    """Every sentence of every bundled abstract, and the same upper-cased and with a
    Kelvin sign and a long s (characters that match an ASCII letter under re.I)."""
    import glob
    from pathlib import Path

    from pipeline.parse import MalformedRecord, parse
    from pipeline.text import sentences

    root = Path(__file__).resolve().parent.parent
    files = [root / "pipeline" / "snapshot" / "efetch.xml", *sorted(Path(p) for p in glob.glob(str(root / "tests" / "data" / "*" / "efetch.xml")))]
    out = []
    for f in files:
        for s in parse(f):
            if not isinstance(s, MalformedRecord):
                out += [x.text for x in sentences(s.abstract or "")] + [s.title or ""]
    return out + [t.upper() for t in out[:300]] + [t.replace("k", "\u212a").replace("s", "\u017f") for t in out[:300]]


SENTENCES = _bundled_sentences()


def test_a_rule_is_never_skipped_where_it_would_match():
    """The required-word check (text.required_literals) passes every text the rule's
    pattern matches: on every bundled sentence, example and counterexample."""
    from pipeline.text import folded

    texts = SENTENCES + [ex.text for r in ALL for ex in r.examples] + [c for r in ALL for c in r.counterexamples]
    for text in texts:
        present = RULESET._words_in(text)
        low = folded(text)
        for rule in ALL:
            regex = rule.regex
            if not regex.search(text):
                continue
            words = RULESET._words.get(regex)
            # read by find() and possible(): checked against the index
            assert words is None or present is None or not words.isdisjoint(present), (rule.id, text)
            assert RULESET.possible(regex, text), (rule.id, text)
            # read by decide(): each word looked for in the folded part
            assert words is None or low is None or any(w in low for w in words), (rule.id, text)


def test_the_look_ahead_changes_no_match():
    """text.guarded: every rule's pattern finds the same matches, with the same groups,
    as the pattern compiled plainly, on every bundled sentence."""
    import re

    guarded = [r for r in ALL if r.regex.pattern.startswith("(?=[")]
    assert guarded, "no rule is guarded: the check below would prove nothing"
    for rule in guarded:
        plain = re.compile(rules._expand(rule.pattern, rules._compile_lists(RULESET.lists), rule.id), rule.regex.flags)
        for text in SENTENCES:
            assert [(m.span(), m.groupdict()) for m in plain.finditer(text)] == \
                [(m.span(), m.groupdict()) for m in rule.regex.finditer(text)], (rule.id, text)


@pytest.mark.parametrize("pattern, text", [
    (r"a(?=c)c|xyz", "AC"),  # letters either side of a look-ahead stay adjacent
    (r"(?-i:\bOR\b)|odds", "the OR was"),  # a case-sensitive part of a case-insensitive pattern
    (r"pain\s+free|HIT-?6", "HIT6 and PAIN  FREE"),
    (r"(?:\d+\s*)?(?:fewer|more)\s+days", "3 MORE days"),
])
def test_required_words_are_in_every_match(pattern, text):
    import re

    from pipeline.text import folded, required_literals

    regex = re.compile(pattern, re.IGNORECASE)
    words = required_literals(regex)
    assert regex.search(text) and words
    assert any(w in folded(text) for w in words)


def test_a_text_with_a_letter_that_folds_to_ascii_is_always_matched_plainly():
    """'ſ' matches 's' under re.I, so such a text is never pre-checked (folded gives None)."""
    from pipeline.text import folded

    assert folded("ſevere pain") is None
    assert folded("Pain − 2.1 ± 0.3") == "pain − 2.1 ± 0.3"


def test_the_literal_index_finds_overlapping_and_nested_words():
    from pipeline.text import LiteralIndex

    index = LiteralIndex({"pain", "pain score", "in s", "score", "sco"})
    assert index.present("the pain score fell") == {"pain", "pain score", "in s", "score", "sco"}
    assert index.present("no such words") == set()
