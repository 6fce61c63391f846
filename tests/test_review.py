"""The review queue and sheets (pipeline/review.py): what to check first, progress,
the sheet a person reads and the file they fill in."""

from __future__ import annotations

from datetime import date

from pipeline import checked, review

from test_checked import REVIEW, TRIAL, built, db, folder, sha, write  # noqa: F401  (shared fixtures)


def test_the_queue_puts_first_the_studies_a_verdict_rests_on_by_their_share_of_it(db):
    """Tier 1: studies behind claims, the one that alone carries a verdict first; then
    low-confidence values; then the rest, newest first."""
    items = review.queue(db)
    tiers = [i.tier for i in items]
    assert tiers == sorted(tiers) and set(tiers) == {1, 2, 3}
    first = items[0]
    # The sham-controlled trial alone carries the quality-of-life claim (and bears on five others).
    assert (first.pmid, first.tier, first.score) == ("30813155", 1, 1.0)
    assert first.why == "carries 3 of 3 weight behind well-being (100%, 1 study); behind 6 claims"
    tier1 = [i for i in items if i.tier == 1]
    assert [i.score for i in tier1] == sorted((i.score for i in tier1), reverse=True)
    # Every counted study bears on the safety claim; 17277641 (observational) backs the background claims.
    assert {i.pmid for i in tier1} == {"17277641", "19241799", "26136602", "29037632", "30813155", "33609358",
                                       "34689708", "35659858"}
    low = next(i for i in items if i.tier == 2)
    assert (low.pmid, low.why) == (
        "27351677", "low confidence: comparators (default.no-comparator-named), outcomes (default.no-outcome-named)")
    assert len({i.pmid for i in items}) == len(items) == db.execute(
        "select count(*) from studies where extractor_version is not null").fetchone()[0]


def test_a_checked_study_leaves_the_queue_and_progress_counts_it(db, folder):
    """'1 of 8 studies behind the claims checked' once one of them has a correction file."""
    assert review.progress(db) == "0 of 8 studies behind the claims checked"
    write(folder, TRIAL, f"pmid: {TRIAL}\nchecked_by: A\nchecked_on: 2026-12-01\nabstract_sha: \"{sha(db, TRIAL)}\"\n"
                         "fields:\n  design: rct\n")
    checked.apply(db, folder=folder)
    assert review.progress(db) == "1 of 8 studies behind the claims checked"
    assert TRIAL not in {i.pmid for i in review.queue(db)}
    assert checked.status_lines(db)[0] == "1 of 8 studies behind the claims checked; 1 study checked in all (1 value)"


def test_the_sheet_shows_the_abstract_each_value_its_rule_and_sentence(db):
    """`evidence review PMID`: the abstract, every value with the rule that gave it and
    the sentence it read, the effects with theirs, and the abstract's hash."""
    text = review.sheet(db, TRIAL)
    row = db["studies"].get(TRIAL)
    assert text.startswith(f"PMID {TRIAL}: {row['title']}")
    assert "Not checked yet." in text and f"abstract_sha: {sha(db, TRIAL)}" in text
    assert row["abstract"] in text
    assert "  n_randomized = 168\n      rules: 168: count.randomised.were-randomised\n" in text
    assert ('      "A total of 168 people with CTTH were recruited from 2 neurology clinics and allocated at '
            'random to real or sham dry needling, given 3 times weekly over 2 weeks; 160 completed the protocol."') in text
    assert "Effects: none read from the abstract" in text
    effects = review.sheet(db, REVIEW)
    assert "1. pain_intensity SMD -1.27 [-3.56, 1.03] (short-term, between_groups); as written: " \
           "'SMD -1.27, 95% CI -3.56 to 1.03'" in effects


def test_a_checked_sheet_names_who_checked_and_what_the_rules_say(db, folder):
    """Where a person corrected a value, the sheet shows theirs and the rules' beside it."""
    write(folder, TRIAL, f"pmid: {TRIAL}\nchecked_by: A\nchecked_on: 2026-12-01\nabstract_sha: \"{sha(db, TRIAL)}\"\n"
                         "fields:\n  n_randomized: {value: 160, note: completers}\n")
    checked.apply(db, folder=folder)
    text = review.sheet(db, TRIAL)
    assert "Checked by A on 2026-12-01 (30813155.yml: 1 value)." in text
    assert ("  n_randomized = 160\n      checked by A on 2026-12-01: completers\n"
            "      rules say 168 (168: count.randomised.were-randomised)\n") in text


def test_the_template_signed_as_it_is_confirms_every_value_and_changes_none(db, folder):
    """The file `evidence review PMID` writes is a valid correction once signed: left as
    pre-filled it confirms the machine's values, writing nothing over them."""
    text = review.template(db, REVIEW, today=date(2026, 12, 2))
    assert 'checked_by: ""' in text and "checked_on: 2026-12-02" in text
    assert f'abstract_sha: "{sha(db, REVIEW)}"' in text
    assert "  # rules: (empty) by default.no-comparator-named (low)\n  comparators: {value: []}\n" in text
    assert '  #- {action: confirm, sentence: "SMD -1.27, 95% CI -3.56 to 1.03", value: -1.27}' in text
    write(folder, REVIEW, text.replace('checked_by: ""', 'checked_by: "A"'))
    before = [tuple(r) for r in db.execute("select * from studies order by pmid")]

    result = checked.apply(db, folder=folder)

    assert result.written == [] and result.applied == len(checked.FIELDS)
    assert [tuple(r) for r in db.execute("select * from studies order by pmid")] == before
    assert checked.disagreements(db) == []


def test_the_template_of_a_checked_study_keeps_the_persons_values(db, folder):
    """Re-opening a checked study (e.g. to confirm a stale check) starts from what the person said."""
    write(folder, TRIAL, f"pmid: {TRIAL}\nchecked_by: A\nchecked_on: 2026-12-01\nabstract_sha: \"{sha(db, TRIAL)}\"\n"
                         "fields:\n  direction: {value: no_difference, note: why not}\n"
                         "effects:\n  - {action: reject, sentence: headache, value: 3, note: none such}\n")
    checked.apply(db, folder=folder)
    text = review.template(db, TRIAL)
    assert "checked_by: \"A\"" in text
    assert '  # checked by A on 2026-12-01; the rules give "favours_needling"\n' \
           '  direction: {value: "no_difference", note: "why not"}\n' in text
    assert '  - {"action": "reject", "sentence": "headache", "value": 3, "note": "none such"}' in text
    write(folder, TRIAL, text)
    checked.apply(db, folder=folder)  # the pre-filled file loads as it is
    assert db["studies"].get(TRIAL)["direction"] == "no_difference"
