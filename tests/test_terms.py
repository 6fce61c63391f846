"""The topic's own words (topics/<topic>/words.yml) and the outcome terms
(rules/outcomes.yml): loaded with their examples checked (one test for each
outcome's), the ones the extractor reads, and part of the extractor's version."""

from __future__ import annotations

import pytest

from pipeline import extract, rules, terms, version, vocab


def test_the_topic_words_load_and_name_every_headache_type_of_the_vocabulary():
    words = terms.load_words()
    assert set(words["types"]) == set(vocab.HEADACHE_TYPES)
    assert terms.DRY_NEEDLING.search("Trigger point dry needling for migraine")
    assert not terms.DRY_NEEDLING.search("Acupuncture for migraine")
    assert terms.NEIGHBOURS.search("lidocaine injection")


def test_a_word_change_changes_the_extractor_version(tmp_path):
    changed = tmp_path / "words.yml"
    changed.write_text(terms.TOPIC_WORDS.read_text() + "\n# a note\n")
    assert terms.words_fingerprint(changed) != terms.words_fingerprint()
    assert extract.EXTRACTOR_VERSION.startswith(version.CODE_VERSION + "+")


def test_a_drug_added_to_the_topics_list_is_read_by_the_rules_and_changes_the_version(tmp_path):
    changed = tmp_path / "words.yml"
    changed.write_text(terms.TOPIC_WORDS.read_text().replace("  - topiramate\n", "  - topiramate\n  - melatonin\n", 1))
    assert terms.load_words(changed) == terms.load_words()  # the lists are the rules' (pipeline/rules.py)
    assert rules.load(topic_words=changed).find("comparator/medication", "versus melatonin 3 mg")
    assert not rules.default().find("comparator/medication", "versus melatonin 3 mg")
    assert terms.words_fingerprint(changed) != terms.words_fingerprint()


def test_every_drug_of_the_topics_list_is_read_as_a_medication_comparator():
    drugs = rules.topic_lists(terms.TOPIC_WORDS)["drug"]
    assert len(drugs) >= 20
    missed = [d for d in drugs if not rules.default().find("comparator/medication", f"or to oral {d} daily")]
    assert missed == []


def test_a_second_topics_drug_list_replaces_the_first_without_breaking_the_rules(tmp_path):
    """A topic is a folder: another topic's drugs load with the same rule files (whose
    examples name no drug of this topic) and are read instead of this topic's."""
    text = terms.TOPIC_WORDS.read_text()
    start = text.index("lists:\n  drug:")
    end = text.index("\n", text.index("  - aspirin", start))
    other = tmp_path / "words.yml"
    other.write_text(text[:start] + "lists:\n  drug:\n  - duloxetine\n  - pregabalin" + text[end:])
    ruleset = rules.load(topic_words=other)
    assert ruleset.find("comparator/medication", "versus duloxetine 60 mg")
    assert not ruleset.find("comparator/medication", "versus amitriptyline 10 mg")


@pytest.mark.parametrize(("edit", "message"), [
    (("examples: [dry needling,", "examples: [cupping, dry needling,"), "intervention: example does not match: 'cupping'"),
    (("counterexamples: [neck pain, head injury]", "counterexamples: [neck pain, headache]"), "condition: counterexample matches: 'headache'"),
    (("  migraine:\n    pattern: migrain\\w*", "  migraine:\n    pattern: migrain(\\w*"), "types.migraine: pattern does not compile"),
    (("intervention:\n  pattern:", "intervention:\n  patern:"), "intervention: needs a pattern"),
])
def test_a_broken_words_file_is_an_error_naming_the_entry(tmp_path, edit, message):
    text = terms.TOPIC_WORDS.read_text()
    assert edit[0] in text
    path = tmp_path / "words.yml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(terms.WordsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        terms.load_words(path)


# --- the outcome terms (rules/outcomes.yml) ---------------------------------------------

OUTCOMES = terms.load_outcome_terms()


def _names(text: str) -> set[str]:
    """The outcomes the extractor's own reader finds in a sentence read on its own."""
    return {name for _, _, name in terms.outcome_spans(text)}


@pytest.mark.parametrize("outcome", list(OUTCOMES.terms))
def test_every_outcome_example_is_read_as_its_outcome(outcome):
    for text in OUTCOMES.examples[outcome]:
        assert outcome in _names(text), (outcome, text, terms.outcome_spans(text))


@pytest.mark.parametrize("outcome", list(OUTCOMES.terms))
def test_no_outcome_counterexample_is_read_as_its_outcome(outcome):
    assert OUTCOMES.counterexamples[outcome], f"{outcome}: add a counterexample"
    for text in OUTCOMES.counterexamples[outcome]:
        assert outcome not in _names(text), (outcome, text, terms.outcome_spans(text))


def test_the_outcome_terms_are_the_file_and_name_every_outcome_of_the_vocabulary():
    assert list(terms.OUTCOME_TERMS) == list(OUTCOMES.terms) and set(terms.OUTCOME_TERMS) == set(vocab.OUTCOMES)
    assert terms.OUTCOME_TERMS["duration"].startswith("duration of (?:the )?(?:attacks?|headaches?|migraines?|episodes?)|")
    assert terms.GENERIC.match("Frequency") and not terms.GENERIC.match("headache frequency")
    # a generic word is an outcome in an abstract about pain, even where the sentence does not say so
    assert terms.outcome_spans("The intensity fell.") == () and terms.outcome_spans("The intensity fell.", painful=True)


def test_the_outcome_terms_are_not_rules_but_their_edit_changes_the_extractor_version(tmp_path):
    for path in rules.RULES_DIR.glob("*.yml"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    assert (tmp_path / rules.OUTCOMES_FILE).is_file() and terms.OUTCOME_TERMS_FILE.parent == rules.RULES_DIR
    assert {r.source for r in rules.load(tmp_path).rules} == {r.source for r in rules.default().rules}
    assert rules.OUTCOMES_FILE not in {r.source for r in rules.default().rules}
    before = rules.fingerprint(tmp_path)
    edited = tmp_path / rules.OUTCOMES_FILE
    edited.write_text(edited.read_text(encoding="utf-8").replace("      - 'attack length'\n", "      - 'attack length'\n      - 'headache hours'\n"))
    assert rules.fingerprint(tmp_path) != before
    assert "headache hours" in terms.load_outcome_terms(edited).terms["duration"]


@pytest.mark.parametrize(("edit", "message"), [
    (("\n  endorphins:\n", "\n  opioids:\n"), "outcomes.yml: outcome opioids: not an outcome of pipeline/vocab.py"),
    (("      - 'attack length'\n", "      - 'attack (length'\n"), "outcomes.yml: outcome duration: pattern does not compile: 'attack (length'"),
    (("      - Triptan use fell by 60%.\n", "      - Triptans were used less.\n"),
     "outcomes.yml: outcome medication_use: example does not name it: 'Triptans were used less.' (read as nothing)"),
    # the look-behind dropped: "disease duration" would be read as the headache's
    (("(?<!disease )(?<!treatment )", "(?<!treatment )"),
     "outcomes.yml: outcome duration: counterexample names it: 'Mean disease duration was 8 years in patients with migraine.'"),
    # "intensity" no longer generic: the stimulation's intensity would be read as the pain's
    (("pattern: frequency|duration|intensity|attacks?", "pattern: frequency|duration|attacks?"),
     "outcomes.yml: generic: example does not match: 'intensity'"),
    (("pattern: frequency|duration|intensity|attacks?\n  examples: [frequency, Duration, intensity, attacks]",
      "pattern: frequency|duration|attacks?\n  examples: [frequency, Duration, attacks]"),
     "outcomes.yml: outcome pain_intensity: counterexample names it: 'The stimulation intensity was set at 2 mA.'"),
    (("\n  other:\n    note:", "\n  other:\n    notes:"), "outcomes.yml: outcome other: unknown key(s) notes"),
])
def test_a_broken_outcome_terms_file_is_an_error_naming_the_outcome(tmp_path, edit, message):
    text = terms.OUTCOME_TERMS_FILE.read_text(encoding="utf-8")
    assert text.count(edit[0]) == 1, edit[0]
    path = tmp_path / "outcomes.yml"
    path.write_text(text.replace(edit[0], edit[1]), encoding="utf-8")
    with pytest.raises(terms.OutcomeTermsError) as err:
        terms.load_outcome_terms(path)
    assert message in str(err.value)
