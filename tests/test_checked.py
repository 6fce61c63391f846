"""Checked values (pipeline/checked.py): a person's correction wins over the rules in
every surface, survives re-extraction, goes stale when PubMed revises the abstract,
and a malformed correction file is refused whole, naming its file and line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pipeline import checked, claims, digest, evaluate, review, sources, store, update
from pipeline.topic import load_topic

TOPIC = load_topic()
TRIAL = "30813155"  # the sham-controlled RCT behind three claims; the rules say it favours needling
REVIEW = "33609358"  # the meta-analysis with five pooled SMDs


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The bundled snapshot loaded and extracted, with the claims assessed (built once)."""
    path = tmp_path_factory.mktemp("checked") / "built.db"
    db = store.open_db(path)
    assert update.load(db, sources.snapshot_source(), command="import").ok
    update.extract_pending(db)
    assess(db)
    db.conn.execute("pragma wal_checkpoint(truncate)")
    db.conn.close()
    return path


@pytest.fixture
def db(built, tmp_path):
    """A private copy of the built database."""
    path = tmp_path / "evidence.db"
    source = sqlite3.connect(built)
    target = sqlite3.connect(path)
    source.backup(target)
    source.close()
    target.close()
    return store.open_db(path)


@pytest.fixture
def folder(tmp_path) -> Path:
    path = tmp_path / "checked"
    path.mkdir()
    return path


def assess(db) -> dict[tuple[str, str], str]:
    """Re-run the claims (as the digest does) and return (claim, pmid) → stance."""
    results = claims.assess(claims.load_claims(TOPIC), claims.studies_for_claims(db))
    claims.save(db, results)
    return {(r["claim_id"], r["pmid"]): r["stance"] for r in db.query("select * from claim_evidence")}


def sha(db, pmid: str) -> str:
    return checked.abstract_sha(db["studies"].get(pmid)["abstract"])


def write(folder: Path, pmid: str, body: str) -> Path:
    path = folder / f"{pmid}.yml"
    path.write_text(body, encoding="utf-8")
    return path


def trial_correction(db, folder: Path, **extra: str) -> Path:
    """A person says the trial found no difference from sham, in 160 people, and adds the p it reports."""
    sentence = ("Only the real-needling arm showed significant gains in headache intensity, frequency and "
                "duration and in the SF-36 subscales after treatment (P < .05), and every headache outcome "
                "in that arm had a large effect size.")
    return write(folder, TRIAL, f"""\
pmid: {TRIAL}
checked_by: Test Reviewer
checked_on: 2026-12-01
abstract_sha: "{extra.get('sha', sha(db, TRIAL))}"
fields:
  direction: {{value: no_difference, note: "for the test: a person disagrees with the rules"}}
  n_randomized: 160
  design: {{value: rct}}
effects:
  - action: add
    sentence: "{sentence}"
    outcome: pain_intensity
    measure: other
    value: 0.05
    value_text: "P < .05"
    level: within_group
""")


def study(db, pmid: str) -> dict:
    return db["studies"].get(pmid)


def test_a_correction_overrides_the_rules_in_the_rows_claims_digest_and_evaluation(db, folder):
    """The studies and effects rows hold the person's values, so claims, the digest and
    every reader of the tables see them; the machine's value stays in extraction_evidence."""
    before = assess(db)
    assert before[("trigger-point-pain", TRIAL)] == "supports"
    trial_correction(db, folder)

    result = checked.apply(db, folder=folder)

    assert result.written == [TRIAL] and result.stale == [] and result.applied == 4
    row = study(db, TRIAL)
    assert (row["direction"], row["n_randomized"], row["design"]) == ("no_difference", 160, "rct")
    assert row["summary"].startswith("RCT · n=160 · tension-type · dry needling vs sham")
    assert "no difference" in row["summary"]
    added = [dict(e) for e in db.query("select * from effects where pmid = ?", [TRIAL])]
    assert [(e["outcome"], e["measure"], e["value"], e["value_text"], e["level"]) for e in added] == [
        ("pain_intensity", "other", 0.05, "P < .05", "within_group")]
    assert row["abstract"][added[0]["sentence_start"]:added[0]["sentence_end"]] == added[0]["sentence"]
    # The machine's own values are still there, with their rules.
    machine = {r["field"]: r["value"] for r in db.query("select * from extraction_evidence where pmid = ?", [TRIAL])}
    assert machine["direction"] == "favours_needling" and machine["n_randomized"] == "168"
    # Claims: a trial no better than sham now counts against the claim.
    after = assess(db)
    assert after[("trigger-point-pain", TRIAL)] == "contradicts"
    # The digest reads the same rows.
    built = digest.build(db, TOPIC)
    shown = {r["study"]["pmid"]: r["study"] for s in built.sections for r in s.studies}
    assert shown[TRIAL]["direction"] == "no_difference" and shown[TRIAL]["n_randomized"] == 160
    # `evaluate` scores the rules, not the person: it reads the rules' own values.
    predicted = evaluate.predictions_from_db(db, [TRIAL])[TRIAL]
    assert (predicted["direction"], predicted["n_randomized"], predicted["effects"]) == ("favours_needling", 168, [])
    fields, effects = checked.machine_values(db, TRIAL)
    assert (fields["direction"], fields["n_randomized"], effects) == ("favours_needling", 168, [])


def test_each_value_carries_its_origin(db, folder):
    """`checked_values` says who set which value, from which file and line, beside the
    rules' value; `origins` gives checked or rules (with rule id) per field."""
    trial_correction(db, folder)
    checked.apply(db, folder=folder)

    rows = {r["field"]: r for r in db.query("select * from checked_values where pmid = ?", [TRIAL])}
    assert {k: rows["direction"][k] for k in ("value", "machine_value", "who", "checked_on", "file", "line",
                                               "stale", "agrees", "applied", "abstract_hash")} == {
        "value": "no_difference", "machine_value": "favours_needling", "who": "Test Reviewer",
        "checked_on": "2026-12-01", "file": f"{TRIAL}.yml", "line": 6, "stale": 0, "agrees": 0, "applied": 1,
        "abstract_hash": sha(db, TRIAL)}
    assert (rows["design"]["value"], rows["design"]["agrees"]) == ("rct", 1)  # a confirmation
    assert rows["effects[0]"]["action"] == "add"
    origin = checked.origins(db, [TRIAL])[TRIAL]
    assert origin["direction"]["origin"] == "checked" and origin["direction"]["who"] == "Test Reviewer"
    assert origin["comparators"] == {"origin": "rules", "rule": "comparator.named.sham", "confidence": "high"}


def test_re_extraction_keeps_the_checked_values_and_lists_the_disagreement(db, folder):
    """`extract --all` rewrites the machine's values; applying again puts the person's back,
    and the values the rules give otherwise are listed, not silently resolved."""
    trial_correction(db, folder)
    checked.apply(db, folder=folder)

    update.extract_pending(db, everything=True)
    assert study(db, TRIAL)["direction"] == "favours_needling"  # the machine wrote its own again
    result = checked.apply(db)

    row = study(db, TRIAL)
    assert (row["direction"], row["n_randomized"]) == ("no_difference", 160)
    assert db.execute("select count(*) from effects where pmid = ?", [TRIAL]).fetchone()[0] == 1
    assert result.written == [TRIAL] and result.disagreements == 3
    assert [(d["pmid"], d["field"], d["checked"], d["rules"]) for d in checked.disagreements(db)] == [
        (TRIAL, "direction", "no_difference", "favours_needling"),
        (TRIAL, "effects[0]", d_value(db, TRIAL, "effects[0]"), ""),
        (TRIAL, "n_randomized", "160", "168"),
    ]
    assert any("the rules disagree with 3 checked values" in line for line in checked.status_lines(db))


def d_value(db, pmid: str, field: str) -> str:
    return db.execute("select value from checked_values where pmid = ? and field = ?", [pmid, field]).fetchone()[0]


def test_applying_twice_writes_nothing_the_second_time(db, folder):
    """Apply is idempotent: an unchanged check leaves every row (and effect id) as it was."""
    trial_correction(db, folder)
    checked.apply(db, folder=folder)
    ids = [r[0] for r in db.execute("select id from effects order by id")]
    again = checked.apply(db, folder=folder)
    assert again.written == [] and [r[0] for r in db.execute("select id from effects order by id")] == ids


def test_new_rules_that_stop_agreeing_with_a_person_are_listed_as_a_regression(db, folder):
    """A value the rules gave when it was checked, and give otherwise after a rule change,
    is listed with what the rules said when it was checked."""
    write(folder, TRIAL, f"pmid: {TRIAL}\nchecked_by: A\nchecked_on: 2026-12-01\nabstract_sha: \"{sha(db, TRIAL)}\"\n"
                         "fields:\n  design: rct\n")
    checked.apply(db, folder=folder)
    assert checked.disagreements(db) == []
    # New rules read it as a cohort study: the extractor writes, then the checks are applied.
    from pipeline.extract import Record, extract

    row = study(db, TRIAL)
    x = extract(Record(row["title"], row["abstract"], json.loads(row["publication_types"]), json.loads(row["mesh"])))
    x.design, x.evidence_level = "cohort", "3"
    x.reasons = [r if r.field != "design" else type(r)("design", "cohort", "design.new-rule") for r in x.reasons]
    store.save_extractions(db, [(TRIAL, x)])
    checked.apply(db)

    assert (study(db, TRIAL)["design"], study(db, TRIAL)["evidence_level"]) == ("rct", "2")
    [d] = checked.disagreements(db)
    assert (d["field"], d["checked"], d["rules"], d["rules_when_checked"]) == ("design", "rct", "cohort", "rct")
    assert any("(1 agreed when checked)" in line for line in checked.status_lines(db))
    assert checked.score_rules_against_checked(db)["fields"]["design"] == {
        "checked": 1, "agree": 0, "errors": [(TRIAL, "rct", "cohort")], "accuracy": 0.0}


def test_a_withdrawn_correction_gives_the_machine_values_back(db, folder):
    """Removing the file restores what the rules said, effects included."""
    path = trial_correction(db, folder)
    checked.apply(db, folder=folder)
    path.unlink()
    result = checked.apply(db, folder=folder)
    row = study(db, TRIAL)
    assert (row["direction"], row["n_randomized"]) == ("favours_needling", 168)
    assert row["summary"].startswith("RCT · n=168")
    assert db.execute("select count(*) from effects where pmid = ?", [TRIAL]).fetchone()[0] == 0
    assert result.restored == [TRIAL]
    assert db.execute("select count(*) from checked_values").fetchone()[0] == 0


def test_a_revised_abstract_makes_the_check_stale_until_a_person_confirms_it(db, folder):
    """PubMed revises the abstract (as store.save_studies does: new text, extraction
    cleared): the check is kept but stale, and every surface shows the rules' values,
    unchecked, until the file names the new abstract."""
    trial_correction(db, folder)
    checked.apply(db, folder=folder)
    with db.conn:
        db.execute("update studies set abstract = abstract || ' A sentence added in a revision.', "
                   "extractor_version = null where pmid = ?", [TRIAL])
    assert checked.apply(db).pending == [TRIAL]  # not extracted yet: nothing to write over
    update.extract_pending(db)
    result = checked.apply(db)

    assert result.stale == [TRIAL]
    row = study(db, TRIAL)
    assert (row["direction"], row["n_randomized"]) == ("favours_needling", 168)
    assert db.execute("select count(*) from effects where pmid = ?", [TRIAL]).fetchone()[0] == 0
    states = {r["field"]: (r["stale"], r["applied"]) for r in db.query("select * from checked_values")}
    assert set(states.values()) == {(1, 0)}
    assert checked.origins(db, [TRIAL])[TRIAL]["direction"]["origin"] == "rules"
    assert checked.disagreements(db) == []  # a stale check is not a disagreement: it waits for a person
    assert any("stale" in line and TRIAL in line for line in checked.status_lines(db))
    assert TRIAL in {i.pmid for i in review.queue(db) if i.stale}
    assert "STALE" in review.sheet(db, TRIAL)
    assert assess(db)[("trigger-point-pain", TRIAL)] == "supports"

    trial_correction(db, folder, sha=sha(db, TRIAL))  # a person confirms it against the new text
    assert checked.apply(db, folder=folder).stale == []
    assert study(db, TRIAL)["direction"] == "no_difference"


def test_rejecting_correcting_and_confirming_effects(db, folder):
    """Effect checks pick a machine effect by words of its sentence and its value; a
    rejected one leaves the table, a corrected one is replaced, both survive re-extraction."""
    write(folder, REVIEW, f"""\
pmid: {REVIEW}
checked_by: A
checked_on: 2026-12-01
abstract_sha: "{sha(db, REVIEW)}"
effects:
  - {{action: reject, sentence: "mixed TTH/migraine samples", value: 0.03, note: for the test}}
  - {{action: correct, sentence: "SMD -2.28, 95% CI", value: -2.28, set: {{ci_low: -2.70, time_point: short term}}}}
  - {{action: confirm, sentence: "SMD -0.72", value: -0.72}}
  - {{action: confirm, sentence: "SMD -9.99", value: -9.99}}
""")
    first = checked.apply(db, folder=folder)
    update.extract_pending(db, everything=True)
    checked.apply(db)

    got = {(e["value"], e["ci_low"], e["time_point"]) for e in db.query("select * from effects where pmid = ?", [REVIEW])}
    assert got == {(-1.27, -3.56, "short-term"), (-0.41, -4.69, "short-term"), (-2.28, -2.70, "short term"),
                   (-0.72, -1.09, "Short-term")}
    assert len(first.unmatched) == 1 and "value -9.99" in first.unmatched[0] and "line 9" in first.unmatched[0]
    score = checked.score_rules_against_checked(db)["effects"]
    assert {a: (s["checked"], s["agree"]) for a, s in score.items()} == {
        "add": (0, 0), "correct": (1, 0), "reject": (1, 0), "confirm": (2, 1)}


def test_the_example_correction_in_the_topic_folder_is_valid_and_agrees_with_the_abstract(db):
    """topics/dry-needling-headache/checked/ holds real checks: they load against the
    snapshot, are not stale, and confirm what the rules read (changing no value)."""
    folder = checked.folder_for(TOPIC.path)
    assert folder == Path(TOPIC.path).parent / "dry-needling-headache" / "checked"
    before = [tuple(r) for r in db.execute("select * from studies order by pmid")]
    result = checked.apply(db, folder=folder)
    assert result.stale == [] and result.unmatched == [] and result.written == []
    assert [tuple(r) for r in db.execute("select * from studies order by pmid")] == before
    assert checked.disagreements(db) == []
    assert {r[0] for r in db.execute("select who from checked_values")} == {"helper session"}


VALID = """\
pmid: {pmid}
checked_by: A
checked_on: 2026-12-01
abstract_sha: "{sha}"
fields:
  design: rct
"""


@pytest.mark.parametrize(
    "name, body, line, words",
    [
        ("unknown field", VALID + "  blinding: double\n", 7, "unknown field 'blinding'"),
        ("unknown vocabulary value", VALID + "  comparators: [placebo_pill]\n", 7, "unknown value(s) 'placebo_pill'"),
        ("unknown design", VALID.replace("design: rct", "design: RCT"), 6, "unknown value 'RCT'"),
        ("broken YAML", VALID + "  outcomes: [pain_intensity\n", 8, "not valid YAML"),
        ("duplicate key", VALID + "  design: cohort\n", 7, "'design' is given twice"),
        ("unsigned", VALID.replace("checked_by: A", "checked_by:"), 2, "checked_by is empty"),
        ("n not a number", VALID + "  n_randomized: many\n", 7, "must be a whole number"),
        ("unknown effect action", VALID + "effects:\n  - {action: delete, sentence: x, value: 1}\n", 8, "unknown action 'delete'"),
        ("added sentence not in the abstract", VALID + "effects:\n  - {action: add, sentence: Nothing like this., "
         "outcome: pain_intensity, measure: MD, value: 1}\n", 8, "sentence is not in the study's abstract"),
        ("unknown top-level key", VALID + "reviewer: B\n", 7, "unknown key 'reviewer'"),
    ],
)
def test_a_malformed_correction_is_a_clear_error_naming_file_and_line_and_changes_nothing(db, folder, name, body, line, words):
    """Every kind of mistake stops the apply before any write, saying file:line and what is wrong."""
    trial_correction(db, folder)
    checked.apply(db, folder=folder)  # a good check already applied must stay exactly as it is
    snapshot = {t: [tuple(r) for r in db.execute(f"select * from {t} order by 1, 2")]
                for t in ("studies", "effects", "checked_values", "checked_machine")}
    path = write(folder, REVIEW, body.replace("{pmid}", REVIEW).replace("{sha}", sha(db, REVIEW)))

    with pytest.raises(checked.CheckedError) as caught:
        checked.apply(db, folder=folder)

    message = str(caught.value)
    assert f"{path}:{line}: " in message, message
    assert words in message, message
    assert {t: [tuple(r) for r in db.execute(f"select * from {t} order by 1, 2")] for t in snapshot} == snapshot


def test_a_pmid_not_in_the_database_and_a_misnamed_file_are_errors(db, folder):
    """The PMID must be a stored study, and the file must be named after it."""
    write(folder, "99999999", VALID.format(pmid="99999999", sha="0" * 16))
    write(folder, "12345", VALID.format(pmid=REVIEW, sha=sha(db, REVIEW)))
    with pytest.raises(checked.CheckedError) as caught:
        checked.load_dir(folder, db)
    assert caught.value.problems == [
        f"{folder / '12345.yml'}:1: pmid {REVIEW} is not the file's name (12345.yml): name the file {REVIEW}.yml",
        f"{folder / '99999999.yml'}:1: PMID 99999999 is not in the database",
    ]


def test_a_missing_folder_means_no_checks(db, tmp_path):
    """A topic without a checked folder applies nothing (and withdraws nothing it never applied)."""
    assert checked.load_dir(tmp_path / "nowhere", db) == []
    assert checked.apply(db, folder=tmp_path / "nowhere").written == []
