"""Harms: what abstracts say about adverse events is read into harms with counts,
severity as stated and group; a study silent on harms is "not reported", never "none";
the harms table, the summary for a safety claim, and the scoring against a gold set."""

from __future__ import annotations

import shutil

import pytest
import sqlite_utils

from pipeline import harms, rules, store
from pipeline.rules import RuleError


def one(text: str) -> dict:
    """The single harm read from a text, in the gold file's form (without the quote)."""
    reported, found = harms.find(text)
    assert reported and len(found) == 1, [h.as_record() for h in found]
    record = found[0].as_record()
    record.pop("quote")
    return record


def rec(event, affected=None, denominator=None, percent=None, severity="unstated", arm=None) -> dict:
    return {"event": event, "affected": affected, "denominator": denominator, "percent": percent, "severity": severity, "arm": arm}


# --- the issue's four phrasings --------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("No adverse events were reported.", rec("adverse events", 0, severity="none")),
        ("Mild soreness in 12 of 40 participants was the only complaint.", rec("soreness", 12, 40, severity="mild")),
        ("Two participants withdrew because of post-needling pain.", rec("post-needling pain", 2)),
        ("Adverse events included bruising (8%).", rec("bruising", percent=8.0)),
    ],
)
def test_the_issues_four_phrasings_are_read(text, expected):
    """The four ways of reporting harms that issue 14 names."""
    assert one(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("No serious adverse events occurred.", rec("serious adverse events", 0, severity="none")),
        ("There were no serious or unexpected adverse events.", rec("serious adverse events", 0, severity="none")),
        ("Complications were not observed.", rec("complications", 0, severity="none")),
        ("None of the 40 participants reported side effects.", rec("side effects", 0, 40, severity="none")),
        ("No adverse events occurred in either group.", rec("adverse events", 0, severity="none", arm="both")),
        ("Four mild adverse events were reported.", rec("adverse events", 4, severity="mild")),
        ("Three participants reported transient post-needling soreness.", rec("post-needling soreness", 3)),
        ("Mild post-needling soreness occurred in 8 veterans.", rec("post-needling soreness", 8, severity="mild")),
        ("Bruising at the needling site occurred in 3/40 (7.5%) patients.", rec("bruising at the needling site", 3, 40, 7.5)),
        ("Moderate soreness (n = 4, 10%) resolved within two days.", rec("soreness", 4, percent=10.0, severity="moderate")),
        ("One participant dropped out due to needle-related pain.", rec("needle-related pain", 1)),
        ("A single patient developed a pneumothorax after needling the upper trapezius.", rec("pneumothorax", 1, arm="needling")),
        ("Adverse events were limited to post-needling soreness.", rec("post-needling soreness")),
    ],
)
def test_varied_wordings_are_read(text, expected):
    """Negations forward and backward, counts of people and of events, withdrawals, lists."""
    assert one(text) == expected


def test_several_counts_of_one_event_are_one_harm_each_with_its_group():
    """The group written in or right after a count is its arm; a contrast gives the other."""
    _, found = harms.find("Soreness lasting more than 24 hours was reported by 9 of 23 needled and 3 of 23 injected patients.")
    assert [(h.affected, h.denominator, h.arm) for h in found] == [(9, 23, "needling"), (3, 23, "comparator")]
    _, found = harms.find("Mild post-needling soreness was reported by 41% of patients after real and 17% after sham needling.")
    assert [(h.percent, h.severity, h.arm) for h in found] == [(41.0, "mild", "needling"), (17.0, "mild", "comparator")]
    _, found = harms.find("Local soreness was more frequent after needling (38% vs 17%).")
    assert [(h.percent, h.arm) for h in found] == [(38.0, "needling"), (17.0, "comparator")]


def test_a_count_before_a_list_of_events_belongs_to_the_harm_word():
    """"Adverse events, mainly drowsiness and dry mouth, occurred in 8%": the 8% are adverse events."""
    _, found = harms.find(
        "Adverse events, mainly drowsiness and dry mouth, occurred in 8% of the needling and 37% of the amitriptyline group."
    )
    assert [(h.event, h.percent, h.arm) for h in found] == [
        ("adverse events", 8.0, "needling"),
        ("adverse events", 37.0, "comparator"),
        ("drowsiness", None, None),
        ("dry mouth", None, None),
    ]


def test_a_negation_ends_at_its_clause():
    """"No serious adverse events, but mild bruising in 5": the bruising happened."""
    _, found = harms.find("No serious adverse events occurred, but 5 of 30 patients (17%) reported mild bruising.")
    assert [(h.event, h.affected, h.denominator, h.percent, h.severity) for h in found] == [
        ("serious adverse events", 0, None, None, "none"),
        ("bruising", 5, 30, 17.0, "mild"),
    ]
    assert one("No adverse events other than mild soreness were reported.") == rec("soreness", severity="mild")


def test_a_later_statement_lends_its_severity_to_the_harms_it_describes():
    text = (
        "RESULTS: Soreness was reported by 10 patients in the DN group and 2 in the sham group. "
        "All adverse events were mild and resolved within 48 hours."
    )
    _, found = harms.find(text)
    assert [(h.event, h.affected, h.severity, h.arm) for h in found] == [
        ("soreness", 10, "mild", "needling"),
        ("soreness", 2, "mild", "comparator"),
    ]


def test_no_difference_in_adverse_events_is_a_report_not_a_negation():
    assert one("There was no significant difference in adverse events between groups (p = 0.4).") == rec(
        "adverse events", arm="both"
    )


@pytest.mark.parametrize(
    "text",
    [
        "BACKGROUND: Amitriptyline is the first-line drug, but side effects of preventive medication limit adherence.",
        "Pharmacological prophylaxis is often poorly tolerated and medication side effects are common.",
        "Participants with adverse childhood experiences reported more headache days.",
        "METHODS: Adverse events were recorded at each visit.",
        "Adverse events were recorded at each visit and analysed descriptively.",
        "Trigger point dry needling was a safe way to reduce the intensity of chronic tension-type headache.",
        "Two patients (5%) discontinued treatment due to relocation.",
        "Only four trials reported adverse events, and adverse event reporting was poor.",
        "Post-treatment pain intensity did not differ between dry needling and injection.",
        "Pain intensity was the most frequently reported outcome, followed by headache frequency.",
        "Once the needle was withdrawn, blood flow rose significantly above baseline.",
        "Soreness of the neck muscles is a common feature of cervicogenic headache.",
    ],
)
def test_wording_that_is_not_a_harm_of_the_treatment_is_not_read(text):
    """Background, methods, the population's medication, reviews on reporting, outcomes."""
    assert harms.find(text) == (False, [])


def test_not_reported_is_not_none():
    """Silence is 'not_reported'; 'no adverse events' is 'none_reported'; an event is 'reported'."""
    silent = harms.find("RESULTS: Headache frequency fell by 3.1 days per month (95% CI 1.2 to 5.0).")
    none = harms.find("RESULTS: Headache frequency fell. No adverse events occurred.")
    some = harms.find("RESULTS: No serious adverse events occurred. Mild soreness occurred in 4 of 20 patients.")
    assert silent == (False, []) and harms.state(*silent) == "not_reported"
    assert harms.state(*none) == "none_reported"
    assert harms.state(*some) == "reported"
    assert harms.record(*silent) == {"harms_reported": False, "harms": []}


def test_a_section_label_that_names_the_harm_is_read_with_its_answer():
    assert one("Results: pain fell.\nAdverse events: None were reported.") == rec("adverse events", 0, severity="none")


def test_offsets_point_into_the_abstract():
    """Every harm's quote and sentence are the abstract's own characters at their offsets."""
    abstract = "BACKGROUND: Needling is common.\nRESULTS: Pain fell. Mild soreness in 12 of 40 participants (30%) was the only adverse event."
    _, found = harms.find(abstract)
    (h,) = found
    assert abstract[h.quote_start : h.quote_end] == h.quote == "soreness in 12 of 40 participants (30%)"
    assert abstract[h.sentence_start : h.sentence_end] == h.sentence
    assert (h.rule, h.count_rule, h.confidence) == ("harm.event.named", "harm.count.of_n", "high")


# --- the rules are data --------------------------------------------------------------------


def test_the_harm_rules_load_with_the_other_rule_files():
    ruleset = rules.load()
    own = [r for r in ruleset.rules if r.source == "harms.yml"]
    assert len(own) >= 25 and all(r.id.startswith("harm.") and r.label.startswith("harm_") for r in own)


def test_a_broken_harm_rule_is_an_error_naming_file_and_rule(tmp_path):
    """A counterexample that fires makes the rule files refuse to load."""
    for path in rules.RULES_DIR.glob("*.yml"):
        shutil.copy(path, tmp_path / path.name)
    broken = tmp_path / "harms.yml"
    text = broken.read_text(encoding="utf-8")
    assert "counterexamples: [adverse childhood experiences were common" in text
    broken.write_text(text.replace("[adverse childhood experiences were common", "[no adverse events were reported"), encoding="utf-8")
    with pytest.raises(RuleError, match=r"harms\.yml: rule harm\.event\.generic: counterexample fires"):
        rules.load(tmp_path)


def test_find_reads_with_the_ruleset_it_is_given(tmp_path):
    for path in rules.RULES_DIR.glob("*.yml"):
        shutil.copy(path, tmp_path / path.name)
    path = tmp_path / "harms.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("  harm_noun: [soreness,", "  harm_noun: [hiccups, soreness,"), encoding="utf-8")
    text = "Hiccups occurred in 2 patients."
    assert harms.find(text) == (False, [])
    assert harms.find(text, rules.load(tmp_path))[1][0].event == "hiccups"


# --- the bundled snapshot ------------------------------------------------------------------


def snapshot_harms(path) -> dict[str, tuple[bool, list[harms.Harm]]]:
    db = sqlite_utils.Database(path)
    return {r["pmid"]: harms.find(r["abstract"] or "") for r in db.query("select pmid, abstract from studies")}


def test_the_snapshots_harm_statements_are_read_right(loaded):
    """What the snapshot's real abstracts say about adverse events, and that the rest say nothing."""
    found = snapshot_harms(loaded)
    as_read = {pmid: [(h.event, h.affected, h.severity) for h in hs] for pmid, (_, hs) in found.items() if hs}
    assert as_read == {
        "35732505": [("adverse events", 4, "mild")],  # "Four mild adverse events were reported."
        "37664417": [("serious adverse effects", 0, "none")],  # a review: "no serious adverse effects were described"
    }
    # "a safe way to reduce..." judges safety without reporting harms; "the needle was withdrawn" is no withdrawal.
    assert found["30813155"] == (False, []) and found["23206963"] == (False, [])


def test_harms_are_saved_and_summarised_for_a_safety_claim(loaded):
    db = store.open_db(loaded)
    items = [(pmid, reported, hs) for pmid, (reported, hs) in snapshot_harms(loaded).items()]
    harms.save(db, items)
    harms.save(db, items)  # replacing, not adding
    assert db["harms"].count == 2
    row = next(db.query("select * from harms where pmid = '35732505'"))
    assert {k: row[k] for k in ("event", "kind", "affected", "severity", "quote", "rule", "count_rule")} == {
        "event": "adverse events", "kind": "adverse events", "affected": 4, "severity": "mild",
        "quote": "Four mild adverse events", "rule": "harm.event.generic", "count_rule": "harm.count.before_event",
    }
    abstract = db["studies"].get("35732505")["abstract"]
    assert abstract[row["quote_start"] : row["quote_end"]] == row["quote"]
    assert {"table": "studies", "column": "pmid"} == {
        "table": db["harms"].foreign_keys[0].other_table, "column": db["harms"].foreign_keys[0].other_column
    }
    summary = harms.summarise(db, [pmid for pmid, _, _ in items])
    assert summary["studies"] == len(items)
    assert (summary["reporting"], summary["none_reported"], summary["with_events"]) == (2, 1, 1)
    assert summary["not_reported"] == len(items) - 2
    assert summary["pmids"]["none_reported"] == ["37664417"] and summary["pmids"]["reported"] == ["35732505"]
    assert summary["events"] == [
        {"event": "adverse events", "studies": 1, "mentions": 1, "affected": 4, "counted_in": 1, "pmids": ["35732505"]}
    ]
    assert summary["serious"] == [] and summary["no_serious_reported"] == ["37664417"]


def test_a_serious_event_is_summarised(db):
    db["studies"].insert({"pmid": "1", "title": "t", "abstract": "RESULTS: One participant developed a pneumothorax, a serious adverse event."})
    reported, found = harms.find(db["studies"].get("1")["abstract"])
    harms.save(db, [("1", reported, found)])
    summary = harms.summarise(db, ["1", "2"])
    assert summary["serious"] == [
        {"pmid": "1", "event": "pneumothorax", "affected": 1, "arm": None, "quote": "One participant developed a pneumothorax"}
    ]
    assert summary["pmids"]["not_reported"] == ["2"]  # never extracted: nothing known to be reported


# --- scoring -------------------------------------------------------------------------------


def test_score_matches_by_event_words_and_affected():
    gold = {
        "1": {"harms_reported": True, "harms": [rec("soreness", 12, 40, severity="mild"), rec("serious adverse events", 0, severity="none")]},
        "2": {"harms_reported": False, "harms": []},
        "3": {"harms_reported": True, "harms": [rec("adverse events", 0, severity="none")]},
    }
    predicted = {
        "1": {"harms_reported": True, "harms": [rec("post-needling soreness", 12, 40, severity="unstated"), rec("adverse events", 0, severity="none")]},
        "2": {"harms_reported": True, "harms": [rec("bruising", 1)]},
        "3": {"harms_reported": True, "harms": [rec("side effects", 0, severity="none")]},
    }
    s = harms.score(gold, predicted)
    assert (s["gold"], s["predicted"], s["matched"]) == (3, 4, 2)  # "adverse events" is not "serious adverse events"
    assert s["harms_reported_accuracy"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 3) and s["precision"] == pytest.approx(0.5)
    assert s["severity_accuracy"] == pytest.approx(0.5)
    assert s["reporting_errors"] == [("2", False, True)]
    assert [p for p, _ in s["missed"]] == ["1"] and [p for p, _ in s["spurious"]] == ["1", "2"]


def test_a_perfect_prediction_scores_one():
    gold = {"9": harms.record(*harms.find("RESULTS: Mild soreness occurred in 3 of 20 patients. No serious adverse events occurred."))}
    s = harms.score(gold, gold)
    assert (s["recall"], s["precision"], s["harms_reported_accuracy"], s["severity_accuracy"]) == (1.0, 1.0, 1.0, 1.0)


def test_stored_harms_carry_the_extractor_version_that_read_them(tmp_path):
    """Harms are read with the extraction; their rules_version is the extractor's
    (code, rule files and the topic's words), so a change to any of them shows."""
    from pipeline import update
    from pipeline.sources import snapshot_source
    from pipeline.version import EXTRACTOR_VERSION

    db = store.open_db(tmp_path / "h.db")
    update.load(db, snapshot_source(), command="run")
    update.extract_pending(db)
    versions = {r[0] for r in db.execute("select rules_version from harms union select rules_version from harms_reporting")}
    assert versions == {EXTRACTOR_VERSION}
    assert db.execute("select count(*) from harms_reporting").fetchone()[0] == 27
