"""Safety and background claims: their stances and verdicts follow the rules in
pipeline/claim_kinds.py (never an efficacy grade), on hand-made studies and on the
bundled snapshot."""

from __future__ import annotations

import pytest
import sqlite_utils

from pipeline import claim_kinds, claims
from pipeline.topic import TopicError, load_topic


def study(pmid: str, state: str = "not_reported", harms: list[dict] | None = None, **fields) -> dict:
    base = {"pmid": pmid, "title": "", "abstract": "", "design": "rct", "headache_types": ["tension_type"],
            "comparators": ["sham"], "harms_state": state, "harms": harms or []}
    return base | fields


def harm(event: str, severity: str, affected: int | None = None, kind: str | None = None) -> dict:
    return {"event": event, "kind": kind or event, "severity": severity, "affected": affected,
            "sentence": f"{event} in {affected} patients."}


def test_a_study_silent_on_harms_is_not_reported_never_none():
    assert claim_kinds.harms_stance(study("1"))[:2] == ("neutral", "does not report on harms")
    st, reason, _ = claim_kinds.harms_stance(study("2", "none_reported", [harm("adverse events", "none", 0)]))
    assert st == "supports" and "reports no harms" in reason


def test_minor_and_serious_harms():
    minor = study("3", "reported", [harm("soreness", "mild", 12), harm("bruising", "mild", 3)])
    assert claim_kinds.harms_stance(minor)[:2] == ("supports", "reports only minor harms: bruising, soreness")
    serious = study("4", "reported", [harm("pneumothorax", "serious", 1), harm("soreness", "mild", 5)])
    assert claim_kinds.harms_stance(serious)[:2] == ("contradicts", "reports a serious harm: pneumothorax")
    key, said = claim_kinds.safety_verdict([minor, serious, study("5")])
    assert key == "harms_serious_reported"
    assert said.startswith("A serious harm was reported (pneumothorax, PMID 4).")
    assert "2 studies reported on harms (0 reported none); 1 study did not report on harms." in said
    key, said = claim_kinds.safety_verdict([minor, study("5"), study("6")])
    assert key == "harms_minor_only" and "2 studies did not report on harms" in said
    assert "cannot rule out rare serious harms" in said and "strong" not in said.lower()


def test_no_study_reporting_harms_says_so():
    key, said = claim_kinds.safety_verdict([study("1"), study("2")])
    assert key == "harms_not_reported" and "None of the 2 counted studies" in said


def test_a_background_claim_reads_observational_studies_of_the_population_only():
    prevalence = study("7", design="other", comparators=[], title="Trigger points are prevalent in tension-type headache")
    treatment = study("8", design="cohort", comparators=["lidocaine_or_injection"], title="Trigger point injection cohort")
    trial = study("9", design="rct", title="Trigger point needling trial")
    terms = ["trigger point"]
    assert [s["pmid"] for s in (prevalence, treatment, trial) if claim_kinds.addresses(s, terms)] == ["7"]
    assert claim_kinds.background_verdict([])[0] == "background_not_addressed"
    assert "1 observational study of people with headache addresses it (PMID 7)" in claim_kinds.background_verdict(["7"])[1]


def test_the_article_s_safety_and_background_claims_on_the_snapshot(loaded):
    db = sqlite_utils.Database(loaded)
    rows = {r["id"]: r for r in db.query("select * from claims")}
    assert {"overall-efficacy", "minimally-invasive", "muscle-tension-role", "referred-pain", "well-being"} <= set(rows)
    safety = rows["minimally-invasive"]
    assert (safety["kind"], safety["verdict"], safety["certainty"]) == ("safety", "harms_not_reported", None)
    assert safety["verdict_label"] == "Safety: no counted study reports on harms"
    counted = db.execute("select count(*) from claim_evidence where claim_id = 'minimally-invasive' and counted = 1").fetchone()[0]
    assert f"None of the {counted} counted studies" in safety["statement"]
    background = rows["muscle-tension-role"]
    assert (background["kind"], background["verdict"]) == ("background", "background_observational")
    assert [r["pmid"] for r in db.query("select pmid from claim_evidence where claim_id = 'muscle-tension-role'")] == ["17277641"]
    assert rows["overall-efficacy"]["verdict"] == "unclear_very_low_certainty"


def test_topic_file_errors_for_kinds(tmp_path):
    import shutil

    topic = load_topic()
    text = topic.path.read_text()
    shutil.copy(topic.article_path, tmp_path / topic.article_path.name)
    bad = tmp_path / "t.yml"
    bad.write_text(text.replace("    kind: safety\n", "    kind: wellness\n", 1))
    with pytest.raises(TopicError, match="unknown kind 'wellness'"):
        claims.load_claims(load_topic(bad))
    bad.write_text(text.replace("    terms: [referred pain, refer pain, pain referral, trigger point]\n", "", 1))
    with pytest.raises(TopicError, match="background claim needs terms"):
        claims.load_claims(load_topic(bad))


def test_the_digest_states_each_kind_s_rules_and_quotes_harms_not_effects(loaded):
    """The methods note prints the safety and background rules from claim_kinds.RULES (one
    source), and a safety claim's studies show what they say of harms, not effect sizes."""
    md = (loaded.parent / "digest.md").read_text()
    methods = md[md.index("PubMed query:"):]
    for rule in claim_kinds.RULES.values():
        assert " ".join(rule.split()[:12]) in " ".join(methods.split())
    safety = md[md.index("## 2. Dry needling is a minimally invasive procedure"):md.index("## 3. ")]
    assert "does not report on harms" in safety and "95% CI" not in safety and "SMD" not in safety
    overview = md[:md.index("## 1. ")]
    assert "7 silent" in overview and "no effect shown" not in overview.split(
        "minimally invasive")[1].split("\n")[0]
