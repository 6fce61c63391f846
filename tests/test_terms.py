"""The topic's own words (topics/<topic>/words.yml): loaded with their examples
checked, the ones the extractor reads, and part of the extractor's version."""

from __future__ import annotations

import pytest

from pipeline import extract, terms, version, vocab


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
