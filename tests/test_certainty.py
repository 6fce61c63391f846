"""Issue 12: certainty in GRADE terms, never above what the evidence's own reviews say.

Hand-built studies for each rule; then a corpus the size PubMed really returns
(the snapshot plus hand-written PubMed-style records in tests/data/grade-corpus/),
loaded through the real pipeline, with the certainty and the reasons of every claim."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline import certainty
from pipeline import claims as C
from pipeline import digest, store, update
from pipeline.extract import Record, extract
from pipeline.sources import SNAPSHOT_XML, file_source
from pipeline.topic import load_topic

CORPUS = Path(__file__).parent / "data" / "grade-corpus" / "efetch.xml"
PAIN = C.Claim(id="pain", text="Needling lowers headache pain.", quote="decrease pain", outcomes=["pain_intensity"])


def study(pmid, design="rct", direction="favours_needling", comparators=("sham",), outcomes=("pain_intensity",),
          n=60, year=2020, abstract="CONCLUSIONS: Needling helped.", title=None, effects=()):
    return {
        "pmid": pmid, "title": title or f"Study {pmid} of dry needling for headache", "abstract": abstract,
        "design": design, "direction": direction, "comparators": list(comparators), "outcomes": list(outcomes),
        "headache_types": ["tension_type"], "on_topic": 1, "retracted": 0, "effects": list(effects),
        "n_randomized": n, "year": year,
    }


def judge(claim, studies):
    ((_, verdict, evidence),) = C.assess([claim], studies)
    return verdict


# --- item 4: a negated or contrasted mention is never a design feature ----------------------

@pytest.mark.parametrize("sentence", [
    "The trial had no placebo arm.",
    "Patients were randomized to dry needling or usual care, without a sham group.",
    "Unlike sham-controlled trials, this pragmatic trial randomized patients to dry needling or usual care.",
    "The study did not include a placebo group.",
    "A sham arm was not included.",
    "There was no sham or placebo control.",
    "Dry needling was compared with usual care rather than sham.",
    "Unlike earlier placebo-controlled studies, the comparison was usual care.",
])
def test_a_negated_or_contrasted_sham_is_not_a_comparator(sentence):
    e = extract(Record(
        "Dry needling for tension-type headache: a randomized trial",
        "METHODS: Eighty patients with tension-type headache were randomly assigned to dry needling or usual care. "
        f"{sentence}\nRESULTS: Headache intensity fell more with dry needling than with usual care (p < 0.01).",
        ["Journal Article", "Randomized Controlled Trial"],
    ))
    assert e.design == "rct" and "sham" not in e.comparators and "usual_care" in e.comparators


@pytest.mark.parametrize("sentence", [
    "Patients were randomly assigned to dry needling or sham needling.",
    "Headache intensity did not differ between the dry needling group and the sham group (p = 0.4).",
    "Dry needling was no better than placebo needling.",
    "Dry needling was not more effective than sham.",
])
def test_a_sham_arm_that_was_there_is_still_read(sentence):
    e = extract(Record(
        "Dry needling for tension-type headache: a randomized trial",
        f"METHODS: Sixty patients with tension-type headache were randomized. {sentence}",
        ["Journal Article", "Randomized Controlled Trial"],
    ))
    assert "sham" in e.comparators


# --- item 1: the starting level and the downgrades -----------------------------------------

def test_randomized_evidence_starts_high_and_uncontrolled_starts_low():
    rct = judge(PAIN, [study("1", n=250), study("2", n=250)])
    assert rct.rating.start == "high" and rct.certainty == "high" and rct.rating.downgrades == []
    single_arm = judge(PAIN, [study("1", design="non_randomized_trial", comparators=["none"], n=500)])
    assert single_arm.rating.reasons == [
        "starts low: best design non-randomized or uncontrolled trials (not randomized)",
        "−1 risk of bias: uncontrolled (before-after) (the only rated study)",
    ]
    assert single_arm.certainty == "very_low"


def test_with_randomized_evidence_uncontrolled_studies_are_listed_not_rated():
    v = judge(PAIN, [study("1", n=250), study("2", n=250), study("3", design="case_series", comparators=["none"], n=9)])
    assert v.rating.rated == ["1", "2"] and "adds no certainty" in v.rating.set_aside["3"]
    assert v.certainty == "high"


def test_risk_of_bias_no_sham_and_no_blinding():
    v = judge(PAIN, [study("1", comparators=["usual_care"], n=250), study("2", comparators=["usual_care"], n=250)])
    assert "−1 risk of bias: no sham control and no blinding (2 of 2)" in v.rating.reasons
    blinded = "METHODS: Assessors were blinded.\nCONCLUSIONS: Needling helped."
    v = judge(PAIN, [study("1", comparators=["usual_care"], n=250, abstract=blinded),
                     study("2", comparators=["usual_care"], n=250, abstract=blinded)])
    assert not any(d.domain == "risk of bias" for d in v.rating.downgrades)
    unblinded = "METHODS: Neither participants nor therapists were blinded.\nCONCLUSIONS: Needling helped."
    assert not certainty.blinded(study("1", abstract=unblinded))


def test_inconsistency_studies_that_disagree_and_estimates_on_both_sides():
    v = judge(PAIN, [study("1", n=250), study("2", n=250), study("3", n=250, direction="no_difference")])
    assert v.direction == "benefit"  # two for, one against: at least twice as many
    assert "−1 inconsistency: studies disagree: 2 found a benefit, 1 did not" in v.rating.reasons
    sides = [
        {"outcome": "pain_intensity", "measure": "SMD", "value": -0.9, "ci_low": -1.5, "ci_high": -0.3, "sentence": "a"},
        {"outcome": "pain_intensity", "measure": "SMD", "value": 0.2, "ci_low": -0.1, "ci_high": 0.5, "sentence": "b"},
    ]
    v = judge(PAIN, [study("1", n=250, effects=sides[:1]), study("2", n=250, effects=sides[1:], direction="favours_needling")])
    assert "−1 inconsistency: estimates on both sides of no effect (-0.9 to 0.2)" in v.rating.reasons


def test_indirectness_active_comparator_and_population():
    active = judge(PAIN, [study("1", comparators=["manual_therapy"], n=250), study("2", comparators=["exercise"], n=250)])
    assert ("−1 indirectness: compared with an active treatment (exercise), not with sham or no treatment; "
            "compared with an active treatment (manual therapy), not with sham or no treatment (2 of 2)") in active.rating.reasons
    neck = judge(PAIN, [study("1", n=250, title="Dry needling in patients with mechanical neck pain: a randomized trial"),
                        study("2", n=250, title="Dry needling for neck pain: a randomized trial")])
    assert "−1 indirectness: population: neck pain, headache only in some (2 of 2)" in neck.rating.reasons


def test_an_add_on_trial_is_needling_against_nothing():
    add_on = study("1", comparators=["exercise"], n=250, direction="no_difference",
                   title="Dry needling plus exercise versus exercise alone for tension-type headache")
    (_, v, (ev,)) = C.assess([PAIN], [add_on])[0]
    assert ev.stance == "contradicts" and ev.reason == "adding needling did no better than exercise alone"
    assert certainty.comparator_indirect(PAIN, add_on) is None and v.direction == "no_difference"


def test_imprecision_thresholds():
    assert "−1 imprecision: fewer than 400 participants in all (300; GRADE's optimal information size rule of thumb)" in \
        judge(PAIN, [study("1", n=150), study("2", n=150)]).rating.reasons
    assert "−2 imprecision: fewer than 100 participants in all (80 participants)" in \
        judge(PAIN, [study("1", n=40), study("2", n=40)]).rating.reasons
    wide = {"outcome": "pain_intensity", "measure": "MD", "value": -0.5, "ci_low": -1.2, "ci_high": 0.2, "sentence": "s"}
    v = judge(PAIN, [study("1", n=250), study("2", n=250, effects=[wide], direction="favours_needling")])
    assert "−1 imprecision: intervals cross no effect (1 of 1 estimates)" in v.rating.reasons


# --- item 2: the reviews' own judgement is a ceiling --------------------------------------------

@pytest.mark.parametrize("sentence, level", [
    ("Dry needling may reduce pain, but the certainty of the evidence is low.", "low"),
    ("Very low quality evidence suggests a small effect on pain.", "very_low"),
    ("There is insufficient evidence to recommend dry needling.", "very_low"),
    ("Low-certainty evidence showed less pain with needling.", "low"),
    ("The quality of evidence was rated as moderate.", "moderate"),
    ("Moderate to low certainty evidence supports needling for pain.", "low"),
    ("The evidence remains limited.", "low"),
])
def test_a_reviews_stated_certainty_is_read_with_its_sentence(sentence, level):
    review = study("9", design="meta_analysis", abstract=f"RESULTS: Nine trials were included.\nCONCLUSIONS: {sentence}")
    (j,) = certainty.stated_certainty(review, ["pain_intensity"])
    assert j.level == level and j.sentence == sentence


def test_a_statement_about_trials_or_another_outcome_is_not_the_certainty_for_this_claim():
    review = study("9", design="meta_analysis", abstract=(
        "RESULTS: Four trials were judged high quality. For disability, the certainty of evidence was very low."))
    assert certainty.stated_certainty(review, ["pain_intensity"]) == []
    assert [j.level for j in certainty.stated_certainty(review, ["disability"])] == ["very_low"]


LOW_REVIEW = "RESULTS: Six trials.\nCONCLUSIONS: Dry needling may reduce pain, but the certainty of the evidence is low."


def test_no_claim_is_rated_above_a_reviews_low_certainty():
    v = judge(PAIN, [study("1", n=250, year=2019), study("2", n=250, year=2019),
                     study("9", design="meta_analysis", year=2021, abstract=LOW_REVIEW)])
    assert v.certainty == "low" and v.rating.ceiling.pmid == "9"
    assert v.rating.reasons[-1] == (
        "capped at low: review PMID 9 (2021) rates its own evidence low; "
        "no trial published after it adds direct, consistent, controlled evidence"
    )
    assert v.statement == "Dry needling may reduce pain intensity — low certainty."


def test_newer_direct_consistent_trials_may_lift_it_one_level_and_say_so():
    v = judge(PAIN, [study("1", n=250, year=2023), study("2", n=250, year=2024),
                     study("9", design="meta_analysis", year=2021, abstract=LOW_REVIEW)])
    assert v.certainty == "moderate"  # one level above the review, never more
    assert v.rating.above_review == (
        "rated moderate, above the low certainty that review PMID 9 (2021) states: 2 newer trials published after "
        "it and not in it add direct, consistent, controlled evidence: PMID 1 (2023, 250 participants), "
        "PMID 2 (2024, 250 participants)"
    )
    # Newer but unblinded, uncontrolled or active-comparator trials do not lift it.
    v = judge(PAIN, [study("1", n=250, year=2023, comparators=["usual_care"]), study("2", n=250, year=2024, comparators=["usual_care"]),
                     study("9", design="meta_analysis", year=2021, abstract=LOW_REVIEW)])
    assert v.certainty == "low" and v.rating.above_review is None


# --- item 3: direction and certainty apart, in Cochrane's words -------------------------------

@pytest.mark.parametrize("direction, level, words", [
    ("benefit", "high", "Dry needling reduces pain intensity — high certainty."),
    ("benefit", "moderate", "Dry needling probably reduces pain intensity — moderate certainty."),
    ("benefit", "low", "Dry needling may reduce pain intensity — low certainty."),
    ("benefit", "very_low", "We are uncertain whether dry needling reduces pain intensity — very low certainty."),
    ("no_difference", "low", "Dry needling may make little or no difference to pain intensity compared with sham needling — low certainty."),
    ("harm", "moderate", "Dry needling is probably less effective than sham needling for pain intensity — moderate certainty."),
    ("unclear", "low", "It is unclear whether dry needling reduces pain intensity — low certainty."),
])
def test_plain_language_forms(direction, level, words):
    assert certainty.plain(PAIN, certainty.Rating(direction, level), ["sham"]) == words


def test_range_of_motion_is_improved_not_reduced():
    rom = C.Claim(id="rom", text="t", quote="q", outcomes=["range_of_motion"])
    assert certainty.plain(rom, certainty.Rating("benefit", "low")) == \
        "Dry needling may improve range of motion in people with headache — low certainty."


def test_the_generated_wording_follows_the_same_forms():
    from pipeline.rewording import generate

    v = judge(PAIN, [study("1", n=150), study("2", n=150)])
    assert v.certainty == "moderate"
    assert generate(PAIN, v, []) == "Dry needling probably reduces pain intensity (moderate-certainty evidence from 2 studies)."


def test_the_rules_are_stated_once_and_printed_from_there():
    doc = certainty.__doc__
    for words in ("risk of bias", "inconsistency", "indirectness", "imprecision", "fewer than 400 participants",
                  "ceiling", "we are uncertain", "probably reduces"):
        assert words in doc
    assert str(certainty.OPTIMAL_INFORMATION_SIZE) in doc


# --- item 5: a corpus the size PubMed really returns ------------------------------------------

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grade")
    db = store.open_db(folder / "e.db")
    assert update.load(db, file_source([SNAPSHOT_XML, CORPUS]), command="import").ok
    update.extract_pending(db)
    topic = load_topic()
    results = C.assess(C.load_claims(topic), C.studies_for_claims(db))
    C.save(db, results)
    html, md = digest.write_digest(db, topic, folder)
    return db, {c.id: (v, ev) for c, v, ev in results}, html.read_text(), md.read_text()


def test_the_corpus_is_the_size_pubmed_returns_with_the_kinds_that_matter(corpus):
    db, _, _, _ = corpus
    counted = list(db.query("select * from studies where on_topic = 1 and design != 'protocol'"))
    assert len(counted) >= 20
    by = {s["pmid"]: s for s in db.query("select * from studies")}
    assert by["90000001"]["design"] == "meta_analysis"  # states low certainty
    assert by["90000002"]["design"] == "meta_analysis" and by["90000002"]["direction"] == "no_difference"  # null
    assert by["90000017"]["design"] == "systematic_review"  # "insufficient evidence"
    # Item 4 in the corpus: the add-on trial said "no sham arm", the multimodal one "no placebo arm"
    # and "unlike sham-controlled trials": neither is sham-controlled.
    assert "sham" not in json.loads(by["90000003"]["comparators"])
    assert "sham" not in json.loads(by["90000005"]["comparators"])
    assert json.loads(by["90000004"]["comparators"]) == ["manual_therapy"]  # an active comparator
    # Neck pain without headache: never counted.
    assert by["90000007"]["on_topic"] == 0 and by["90000008"]["on_topic"] == 0


CORPUS_EXPECTED = {
    "trigger-point-pain": ("benefit", "very_low", [
        "starts high: best design randomized trials and reviews of randomized trials",
        "−1 inconsistency: studies disagree: 8 found a benefit, 2 did not",
        "−1 imprecision: intervals cross no effect (5 of 10 estimates)",
        "capped at very low: review PMID 33609358 (2021) rates its own evidence very low; "
        "newer trials do not lift it: the evidence is inconsistent",
    ]),
    "intensity-duration": ("benefit", "very_low", [
        "starts high: best design randomized trials and reviews of randomized trials",
        "−1 inconsistency: studies disagree: 8 found a benefit, 2 did not",
        "−1 imprecision: intervals cross no effect (5 of 10 estimates)",
        "capped at very low: review PMID 33609358 (2021) rates its own evidence very low; "
        "newer trials do not lift it: the evidence is inconsistent",
    ]),
    "range-of-motion": ("benefit", "very_low", [
        "starts high: best design randomized trials",
        "−1 risk of bias: a single small trial (40 participants)",
        "−2 imprecision: fewer than 100 participants in all (40 participants)",
    ]),
    "drug-free": ("no_difference", "low", [
        "starts high: best design randomized trials",
        "−1 risk of bias: no sham control and no blinding (2 of 2)",
        "−1 imprecision: fewer than 400 participants in all (115; GRADE's optimal information size rule of thumb)",
    ]),
    "tension-type-and-migraine": ("unclear", "very_low", [
        "starts high: best design randomized trials and reviews of randomized trials",
        "−1 inconsistency: studies disagree: 5 found a benefit, 2 did not",
        "−1 imprecision: intervals cross no effect (5 of 11 estimates)",
        "capped at very low: review PMID 33609358 (2021) rates its own evidence very low; "
        "no trial published after it adds direct, consistent, controlled evidence",
    ]),
    "blood-flow": ("none", None, []),
    "endorphins": ("none", None, []),
}


@pytest.mark.parametrize("claim_id", sorted(CORPUS_EXPECTED))
def test_each_claims_certainty_and_reasons_on_the_corpus(corpus, claim_id):
    _, results, _, _ = corpus
    verdict, _ = results[claim_id]
    direction, level, reasons = CORPUS_EXPECTED[claim_id]
    assert (verdict.direction, verdict.certainty) == (direction, level)
    assert verdict.rating.reasons == reasons


def test_no_claim_is_high_or_moderate_while_a_corpus_review_rates_it_low(corpus):
    _, results, _, _ = corpus
    for claim_id, (verdict, _) in results.items():
        if verdict.rating is None:  # a safety or background claim: never graded (tests/test_claim_kinds.py)
            assert verdict.verdict in C.VERDICTS and verdict.certainty is None
            continue
        stated = [j.level for j in verdict.rating.reviews]
        if {"low", "very_low"} & set(stated) and verdict.certainty in ("high", "moderate"):
            assert verdict.rating.above_review, claim_id  # only ever with its reason said
        if stated:
            floor = min(stated, key=certainty.LEVELS.index)
            assert certainty.LEVELS.index(verdict.certainty) <= certainty.LEVELS.index(floor) + bool(verdict.rating.above_review)
    pain = results["trigger-point-pain"][0].rating
    assert {(j.pmid, j.level) for j in pain.reviews} >= {("90000001", "low"), ("90000002", "very_low"), ("33609358", "very_low")}


def test_the_reviews_favouring_needling_do_not_lift_the_claim(corpus):
    """Issue 12 (b): the review favouring needling rates its own evidence low; it is read, quoted and obeyed."""
    _, results, _, _ = corpus
    verdict, evidence = results["trigger-point-pain"]
    stances = {e.pmid: e.stance for e in evidence}
    assert stances["90000001"] == "supports" and stances["90000002"] == "contradicts"
    low = next(j for j in verdict.rating.reviews if j.pmid == "90000001")
    assert low.sentence.endswith("but the certainty of the evidence is low.")


def test_off_topic_neck_pain_trials_are_listed_as_indirect_not_counted(corpus):
    _, results, _, _ = corpus
    verdict, evidence = results["trigger-point-pain"]
    assert {"90000007", "90000008"} <= set(verdict.indirect)
    assert not {"90000007", "90000008"} & {e.pmid for e in evidence}


def test_every_digest_entry_states_direction_certainty_reasons_and_the_reviews(corpus):
    db, results, html, md = corpus
    for claim_id, (verdict, _) in results.items():
        section = html[html.index(f'id="claim-{claim_id}"'):]
        section = section[: section.index("</section>")]
        if verdict.rating is None:  # safety and background claims: their own words, no grade
            assert verdict.statement.replace("'", "&#39;") in section and "Certainty:" not in section
            continue
        assert f"Evidence suggests: {certainty.DIRECTIONS[verdict.direction]}" in section
        assert verdict.statement.replace("'", "&#39;") in section
        if verdict.certainty:
            assert f"Certainty: {certainty.level_word(verdict.certainty)}" in section
            for reason in verdict.rating.reasons:
                assert reason[:1].upper() + reason[1:].replace("'", "&#39;") in section, reason
            for j in verdict.rating.reviews:
                assert f"rates its own evidence <strong>{certainty.level_word(j.level)} certainty" in section
        row = db["claims"].get(claim_id)
        assert (row["direction"], row["certainty"]) == (verdict.direction, verdict.certainty)
    pain_md = md[md.index("5. Needling trigger points") : md.index("6. Dry needling improves blood flow")]
    assert "Certainty: **very low**" in pain_md and "rates its own evidence **low certainty**" in pain_md
    methods = html[html.index('id="methods"') :]
    assert "The reviews&#39; own judgement is a ceiling." in methods and "fewer than 400 participants" in methods
    assert re.search(r"Verdict of a claim: what the evidence suggests", methods)


def test_a_reviews_background_on_earlier_evidence_is_not_its_own_judgement():
    review = study("9", design="systematic_review", abstract=(
        "BACKGROUND: Earlier reviews found only low-certainty evidence.\n"
        "METHODS: We searched MEDLINE.\nRESULTS: Eight trials.\nCONCLUSIONS: Dry needling may help."))
    assert certainty.stated_certainty(review, ["pain_intensity"]) == []


@pytest.mark.parametrize("sentence, level", [
    ("The evidence was of very low quality.", "very_low"),
    ("The certainty of evidence for pain ranged from very low to moderate.", "very_low"),
    ("Low- to moderate-certainty evidence suggests a small benefit.", "low"),
    ("Low to moderate certainty evidence suggests a small benefit.", "low"),
    ("The quality of evidence was rated as low.", "low"),
    ("We found very low-quality evidence.", "very_low"),
])
def test_a_review_states_its_certainty_in_many_wordings(sentence, level):
    """Each wording a review uses for its own certainty is read, at the lowest level it names."""
    review = {"pmid": "1", "design": "meta_analysis", "year": 2020,
              "abstract": "RESULTS: Pain was pooled (SMD -0.5, 95% CI -0.9 to -0.1). CONCLUSIONS: " + sentence}
    (judgement,) = certainty.stated_certainty(review)
    assert judgement.level == level
