"""Claims ↔ studies: stances and verdict rules, on hand-built studies and on the snapshot."""

from __future__ import annotations

import json

import pytest

from pipeline import claims as C
from pipeline import store, update
from pipeline.sources import snapshot_source
from pipeline.topic import TopicError, load_topic

PAIN = C.Claim(id="pain", text="Needling lowers headache pain.", quote="decrease pain", outcomes=["pain_intensity"])


def study(pmid, design="rct", direction="favours_needling", comparators=("sham",), outcomes=("pain_intensity",),
          on_topic=1, retracted=0, effects=(), n=60):
    return {
        "pmid": pmid, "title": f"Study {pmid} of dry needling", "abstract": "CONCLUSIONS: Needling helped.",
        "design": design, "direction": direction, "comparators": list(comparators), "outcomes": list(outcomes),
        "headache_types": ["tension_type"], "on_topic": on_topic, "retracted": retracted, "effects": list(effects),
        "n_randomized": n,
    }


def judge(claim, studies):
    ((_, verdict, evidence),) = C.assess([claim], studies)
    return verdict, {e.pmid: e.stance for e in evidence}


def test_a_single_small_sham_controlled_rct_in_favour_is_very_low_certainty():
    """Issue 12: one trial of 60 is a benefit at very low certainty, never 'moderate'."""
    verdict, stances = judge(PAIN, [study("1")])
    assert stances == {"1": "supports"}
    assert (verdict.direction, verdict.certainty, verdict.verdict) == ("benefit", "very_low", "benefit_very_low_certainty")
    assert verdict.rating.reasons == [
        "starts high: best design randomized trials",
        "−1 risk of bias: a single small trial (60 participants)",
        "−2 imprecision: fewer than 100 participants in all (60 participants)",
    ]
    assert verdict.statement == "We are uncertain whether dry needling reduces pain intensity — very low certainty."


def test_two_large_blinded_sham_trials_that_agree_are_high_certainty():
    verdict, _ = judge(PAIN, [study("1", n=250), study("2", n=250)])
    assert verdict.verdict == "benefit_high_certainty" and verdict.rating.downgrades == []
    assert verdict.statement == "Dry needling reduces pain intensity — high certainty."


def test_one_for_and_one_against_is_unclear_with_inconsistency():
    verdict, stances = judge(PAIN, [study("1"), study("2", direction="no_difference")])
    assert stances == {"1": "supports", "2": "contradicts"}  # no better than sham
    assert verdict.direction == "unclear" and verdict.certainty == "low"
    assert "−1 inconsistency: studies disagree: 1 found a benefit, 1 did not" in verdict.rating.reasons
    assert verdict.statement.startswith("It is unclear whether dry needling reduces pain intensity")


def test_a_retracted_study_never_counts_but_is_flagged():
    verdict, stances = judge(PAIN, [study("1", retracted=1)])
    assert verdict.verdict == "no_direct_evidence" and stances == {"1": "excluded"}
    (ev,) = C.assess([PAIN], [study("1", retracted=1)])[0][2]
    assert ev.retracted and not ev.counted


def test_a_study_withdrawn_from_pubmed_does_not_count():
    withdrawn = study("1")
    withdrawn["deleted_from_pubmed"] = "2026-01-01T00:00:00+00:00"
    verdict, stances = judge(PAIN, [withdrawn])
    assert verdict.verdict == "no_direct_evidence" and stances == {"1": "excluded"}


def test_no_study_measuring_it_is_no_direct_evidence_never_support():
    verdict, stances = judge(PAIN, [study("1", outcomes=["range_of_motion"]), study("2", on_topic=0)])
    assert verdict.verdict == "no_direct_evidence" and stances == {}
    assert verdict.explanation.startswith("No direct evidence among 1 studies of dry needling for headache")


def test_off_topic_studies_never_back_a_claim():
    verdict, _ = judge(PAIN, [study("1", on_topic=0), study("2", on_topic=0, design="meta_analysis")])
    assert verdict.verdict == "no_direct_evidence" and verdict.supporting == 0


def test_confidence_intervals_that_include_no_effect_are_neutral():
    effect = {"outcome": "pain_intensity", "measure": "SMD", "value": -0.3, "ci_low": -0.9, "ci_high": 0.2, "sentence": "s"}
    verdict, stances = judge(PAIN, [study("1", design="meta_analysis", comparators=[], direction="favours_needling", effects=[effect])])
    assert stances == {"1": "neutral"} and verdict.direction == "unclear" and verdict.certainty == "low"
    assert any("intervals cross no effect (1 of 1 estimates)" in r for r in verdict.rating.reasons)


def test_a_review_that_does_not_confirm_the_trials_is_inconsistency():
    verdict, _ = judge(PAIN, [study("1", n=500), study("2", design="systematic_review", comparators=[], direction="inconclusive")])
    # One large positive trial against a review that finds no clear effect: the
    # direction is unclear (the review's null result counts), and so never above low.
    assert verdict.direction == "unclear" and verdict.certainty == "low"
    assert "−1 inconsistency: a review finds no clear effect where trials report a benefit" in verdict.rating.reasons
    assert "capped at low: the direction is unclear (studies disagree)" in verdict.rating.reasons


def test_a_supporting_review_and_sham_trial_are_not_added_up():
    """Once 'strong' by adding design weights; now rated: 60 participants are imprecise."""
    verdict, _ = judge(PAIN, [study("1"), study("2", design="meta_analysis", comparators=["sham"])])
    assert verdict.verdict == "benefit_low_certainty"
    assert "−2 imprecision: fewer than 100 participants in all (60 participants)" in verdict.rating.reasons


def test_uncontrolled_support_starts_low_and_active_comparator_ties_are_comparable():
    """A tie with an active treatment is its own stance (issue 9), neither for nor against,
    and for a claim against sham or nothing it is listed, not rated."""
    verdict, stances = judge(PAIN, [
        study("1", design="non_randomized_trial", comparators=["none"]),
        study("2", comparators=["lidocaine_or_injection"], direction="no_difference"),
    ])
    assert stances == {"1": "supports", "2": "comparable"} and verdict.verdict == "benefit_very_low_certainty"
    assert verdict.rating.start == "low" and verdict.rating.rated == ["1"]
    assert "another question" in verdict.rating.set_aside["2"]
    assert "−1 risk of bias: uncontrolled (before-after) (the only rated study)" in verdict.rating.reasons


def test_claims_load_from_the_topic_file_in_the_articles_order():
    claims = C.load_claims(load_topic())
    assert [c.id for c in claims] == [
        "overall-efficacy", "minimally-invasive", "muscle-tension-role", "referred-pain",
        "trigger-point-pain", "blood-flow", "endorphins", "well-being", "intensity-duration",
        "range-of-motion", "drug-free", "tension-type-and-migraine",
    ]
    assert all(c.quote for c in claims)
    assert {c.id: c.kind for c in claims if c.kind != "efficacy"} == {
        "minimally-invasive": "safety", "muscle-tension-role": "background", "referred-pain": "background",
        "blood-flow": "mechanism", "endorphins": "mechanism"}
    # Every quote is the article's own words (a "[...]" joins two passages of it).
    article = " ".join(load_topic().article_text().split())
    for c in claims:
        assert all(part.strip() in article for part in c.quote.split("[...]")), c.id


def test_a_claim_with_an_unknown_outcome_is_a_clear_error(tmp_path):
    topic = tmp_path / "t.yml"
    topic.write_text("id: t\ntitle: T\nquery: x\nclaims:\n  - {id: a, text: A, quote: a, outcomes: [happiness]}\n")
    with pytest.raises(TopicError, match="unknown outcomes: happiness"):
        C.load_claims(load_topic(topic))


@pytest.fixture(scope="module")
def snapshot_results(tmp_path_factory):
    db = store.open_db(tmp_path_factory.mktemp("claims") / "e.db")
    update.load(db, snapshot_source(), command="run")
    update.extract_pending(db)
    results = C.assess(C.load_claims(load_topic()), C.studies_for_claims(db))
    C.save(db, results)
    return db, {c.id: (v, ev) for c, v, ev in results}


def test_blood_flow_and_endorphins_are_not_supported_by_the_snapshot(snapshot_results):
    """The article's mechanism claims: no study of people with headache measured them."""
    _, results = snapshot_results
    for claim_id in ("blood-flow", "endorphins"):
        verdict, evidence = results[claim_id]
        assert verdict.verdict == "no_direct_evidence" and verdict.supporting == 0 and evidence == []
    # The healthy-volunteer blood-flow study is shown as indirect, not counted.
    assert results["blood-flow"][0].indirect == ["23206963"]


def test_no_claim_of_the_snapshot_is_overstated(snapshot_results):
    """On 27 records with one sham-controlled trial and a meta-analysis that rates its own
    evidence very low, every efficacy claim that has evidence is at very low certainty,
    except quality of life (one sham-controlled trial of 168, rated down for its size and
    because the article speaks of relaxation and well-being): low. Safety and
    background claims get their own verdicts, never a grade."""
    _, results = snapshot_results
    assert {cid: v.verdict for cid, (v, _) in results.items()} == {
        "overall-efficacy": "unclear_very_low_certainty",
        "minimally-invasive": "harms_not_reported",
        "muscle-tension-role": "background_observational",
        "referred-pain": "background_observational",
        "well-being": "benefit_low_certainty",
        # One sham-controlled trial found a benefit; the meta-analysis found no
        # clear effect: the direction is unclear, not "benefit".
        "trigger-point-pain": "unclear_very_low_certainty",
        "blood-flow": "no_direct_evidence",
        "endorphins": "no_direct_evidence",
        "intensity-duration": "unclear_very_low_certainty",
        "range-of-motion": "benefit_very_low_certainty",
        "drug-free": "no_difference_very_low_certainty",
        "tension-type-and-migraine": "unclear_very_low_certainty",
    }
    pain = results["trigger-point-pain"][0]
    assert pain.rating.reasons == [
        "starts high: best design randomized trials and reviews of randomized trials",
        "−1 inconsistency: estimates on both sides of no effect (-1.27 to 0.03)",
        "−1 indirectness: pooled comparisons with other treatments, not with sham or no treatment (1 of 2)",
        "−1 imprecision: intervals cross no effect (3 of 3 estimates)",
    ]
    assert pain.rating.ceiling.pmid == "33609358" and pain.rating.ceiling.level == "very_low"
    assert "very low-quality evidence" in pain.rating.ceiling.sentence
    assert pain.statement == "It is unclear whether dry needling reduces pain intensity — very low certainty."


def test_claims_tables_hold_the_verdicts_and_evidence(snapshot_results):
    db, results = snapshot_results
    rows = {r["id"]: r for r in db["claims"].rows}
    assert rows["endorphins"]["verdict"] == "no_direct_evidence" and rows["endorphins"]["position"] == 7
    assert rows["endorphins"]["certainty"] is None and rows["endorphins"]["direction"] == "none"
    pain = rows["trigger-point-pain"]
    assert (pain["direction"], pain["certainty"], pain["verdict_label"]) == ("unclear", "very_low", "Unclear — very low certainty")
    assert json.loads(pain["certainty_reasons"])[0].startswith("starts high")
    assert pain["review_certainty"].startswith('very low (PMID 33609358, 2021): "For short-term pain intensity')
    assert pain["statement"].startswith("It is unclear whether dry needling reduces pain intensity")
    pain = list(db["claim_evidence"].rows_where("claim_id = ?", ["trigger-point-pain"]))
    assert {r["pmid"]: r["stance"] for r in pain}["30813155"] == "supports"
    assert {r["pmid"]: r["rated"] for r in pain} == {"30813155": 1, "33609358": 1, "34689708": 0, "19241799": 0}
    for r in db["claim_evidence"].rows:
        # Counted: studies of dry needling for headache; and, for a background claim, the
        # observational studies of people with headache it rests on.
        background = db["claims"].get(r["claim_id"])["kind"] == "background"
        assert db["studies"].get(r["pmid"])["on_topic"] == 1 or r["counted"] == 0 or background


def test_a_claims_comparators_must_match_as_well_as_its_outcomes():
    drug_free = C.Claim(id="d", text="Instead of medication.", quote="q", outcomes=["medication_use"], comparators=["medication"])
    verdict, stances = judge(drug_free, [
        study("1", outcomes=["medication_use"], comparators=["sham"]),
        study("2", outcomes=["medication_use"], comparators=["medication"], direction="no_difference"),
    ])
    # The claim names medication: a tie with it is the claim's own question, rated as no difference.
    assert stances == {"2": "comparable"} and verdict.direction == "no_difference"
    assert verdict.statement.startswith("We are uncertain whether dry needling makes any difference to medication use")
    assert "compared with medication" in verdict.statement


def test_the_authors_conclusion_is_quoted_whatever_the_label_case():
    s = study("1")
    s["abstract"] = "Methods: x.\nConclusion: Dry needling works.\nTrial registration: NCT01234567."
    assert C._finding_sentence(s) == "Dry needling works."


# Issue 9: a tie with an active treatment is not a failure of needling.

LIDOCAINE_TIE = (
    "We compared dry needling with lidocaine injection. All three groups improved significantly on the "
    "measured variables (p <= 0.05). Because the approaches worked similarly, lidocaine is suggested."
)


def test_a_tie_with_an_active_treatment_says_what_was_found():
    tie = study("1", comparators=["lidocaine_or_injection"], direction="no_difference")
    tie["abstract"] = LIDOCAINE_TIE
    (ev,) = C.assess([PAIN], [tie])[0][2]
    assert ev.stance == "comparable"
    assert ev.reason == "no difference from an active treatment (lidocaine or another injection); all groups improved"


def test_all_groups_improved_only_when_the_study_says_so():
    tie = study("1", comparators=["manual_therapy"], direction="no_difference")
    tie["abstract"] = "CONCLUSIONS: Dry needling and manual therapy did not differ."
    (ev,) = C.assess([PAIN], [tie])[0][2]
    assert ev.reason == "no difference from an active treatment (manual therapy)"
    assert "improved" not in ev.reason


def test_a_verdict_resting_on_an_active_tie_alone_does_not_read_as_failure():
    tie = study("1", comparators=["lidocaine_or_injection"], direction="no_difference")
    tie["abstract"] = LIDOCAINE_TIE
    verdict, stances = judge(PAIN, [tie])
    assert stances == {"1": "comparable"} and verdict.direction == "unclear"  # never a benefit
    assert verdict.certainty == "very_low" and "only comparisons with an active treatment" in verdict.rating.reasons[0]
    assert "No effect shown" not in verdict.explanation
    assert "no difference from an active treatment" in verdict.explanation.lower()
    assert "not evidence against" in verdict.explanation
    assert verdict.neutral == 0 and verdict.comparable == 1 and verdict.contradicting == 0


def test_an_active_tie_never_lifts_a_verdict():
    """Beside support, a tie with an active treatment changes nothing: limited stays limited,
    and a review that ties with active treatments still caps the verdict."""
    tie = study("2", comparators=["lidocaine_or_injection"], direction="no_difference")
    verdict, _ = judge(PAIN, [study("1", design="non_randomized_trial", comparators=["none"]), tie])
    assert verdict.verdict == "benefit_very_low_certainty"
    review_tie = study("3", design="systematic_review", comparators=["manual_therapy"], direction="no_difference")
    alone, _ = judge(PAIN, [study("1")])
    verdict, stances = judge(PAIN, [study("1"), review_tie])
    assert stances["3"] == "comparable" and verdict.verdict == alone.verdict == "benefit_very_low_certainty"


def test_the_rules_text_says_how_active_ties_are_treated():
    assert "no difference from an active treatment" in C.__doc__
    assert "not evidence against" in C.__doc__


def test_the_snapshots_lidocaine_trial_is_a_tie_with_all_groups_improved(snapshot_results):
    db, results = snapshot_results
    verdict, evidence = results["drug-free"]
    assert {e.pmid: e.stance for e in evidence} == {"19241799": "comparable"}
    assert "all groups improved" in evidence[0].reason
    assert "No effect shown" not in verdict.explanation
    assert db["claims"].get("drug-free")["comparable"] == 1


# Issue 10: a rewording states the verdict it was written for.

def _topic_with(tmp_path, rewording: str):
    topic = tmp_path / "t.yml"
    topic.write_text(
        "id: t\ntitle: T\nquery: x\nclaims:\n"
        f"  - {{id: a, text: A, quote: a, outcomes: [pain_intensity], rewording: {rewording}}}\n"
    )
    return load_topic(topic)


def test_every_rewording_of_the_topic_file_states_its_verdict():
    claims = C.load_claims(load_topic())
    for c in claims:
        assert c.rewordings, c.id
        assert all(r.written_for in C.VERDICTS and r.text for r in c.rewordings), c.id


def test_a_rewording_with_its_verdict_loads(tmp_path):
    (claim,) = C.load_claims(_topic_with(tmp_path, "{text: Some trials report less pain., written_for: benefit_low_certainty}"))
    assert [(r.text, r.written_for) for r in claim.rewordings] == [("Some trials report less pain.", "benefit_low_certainty")]
    assert claim.rewording == "Some trials report less pain."


@pytest.mark.parametrize("rewording, message", [
    ("{text: Less pain.}", "rewording needs written_for"),
    ("{text: Less pain., written_for: great}", "unknown verdict 'great'"),
    ("{written_for: limited}", "rewording needs text"),
    ("[1, 2]", "rewording must be"),
    ("{text: Less pain., written_for: limited, colour: red}", "unknown key"),
])
def test_a_malformed_rewording_is_a_clear_error(tmp_path, rewording, message):
    with pytest.raises(TopicError, match=message):
        C.load_claims(_topic_with(tmp_path, rewording))


def test_one_wording_per_verdict_the_one_that_fits_is_offered(tmp_path):
    from pipeline.rewording import advise

    (claim,) = C.load_claims(_topic_with(
        tmp_path, "[{text: Not yet shown., written_for: unclear_very_low_certainty}, "
                  "{text: We are uncertain whether it lowers pain., written_for: benefit_very_low_certainty}]"
    ))
    verdict, _ = judge(claim, [study("1", design="non_randomized_trial", comparators=["none"])])
    assert verdict.verdict == "benefit_very_low_certainty"
    advice = advise(claim, verdict, [])
    assert advice.fitting.text == "We are uncertain whether it lowers pain." and not advice.needs_review and advice.generated is None
    verdict, _ = judge(claim, [study("1", n=250), study("2", n=250)])  # two large sham trials: high, no wording for it
    advice = advise(claim, verdict, [])
    assert advice.needs_review and advice.stale.written_for == "unclear_very_low_certainty"
    assert advice.generated == "Dry needling reduces pain intensity (high-certainty evidence from 2 studies)."


def test_a_wording_written_for_a_verdict_before_certainty_loads_and_is_flagged(tmp_path):
    """Topic files written before issue 12 ('written_for: limited') still load; the wording never fits."""
    from pipeline.rewording import advise

    (claim,) = C.load_claims(_topic_with(tmp_path, "{text: Some trials report less pain., written_for: limited}"))
    verdict, _ = judge(claim, [study("1")])
    advice = advise(claim, verdict, [])
    assert advice.needs_review and advice.stale.written_for == "limited"
    assert advice.generated.startswith("We are uncertain whether dry needling reduces pain intensity: the evidence (1 study)")
