"""The reason behind every extracted value: the rule that gave it, the words it
read (verbatim in the stored record) and how sure it is; stored in
`extraction_evidence`, and named by `evidence evaluate --errors`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pipeline import provenance, store
from pipeline.cli import cli
from pipeline.extract import Record, extract

TRIAL = Record(
    title="Dry needling versus sham needling for chronic tension-type headache: a randomized trial",
    abstract=(
        "BACKGROUND: Trigger points are common in tension-type headache.\n"
        "METHODS: Sixty patients were randomly allocated to dry needling or sham needling.\n"
        "RESULTS: Headache frequency fell more with needling than with sham (P = .01).\n"
        "CONCLUSIONS: Dry needling reduced headache frequency compared with sham."
    ),
    publication_types=["Randomized Controlled Trial"],
)


def test_every_field_has_a_reason_and_every_quote_is_in_the_record():
    x = extract(TRIAL)
    by_field = {}
    for r in x.reasons:
        by_field.setdefault(r.field, []).append(r)
    assert set(by_field) == set(provenance.FIELDS)
    assert by_field["design"][0].rule == "design.randomised-own-study"
    assert [r.value for r in by_field["comparators"]] == ["sham"]
    assert by_field["n_randomized"][0].value == "60"
    assert by_field["direction"][0].rule.startswith("direction.needling-better")
    for r in x.reasons:
        if r.quote is not None and r.where in ("title", "abstract"):
            text = TRIAL.title if r.where == "title" else TRIAL.abstract
            assert text[r.start : r.end].lower() == r.quote.lower(), r


def test_a_value_no_rule_gave_says_so_and_is_low_confidence():
    x = extract(Record(title="Headache care in a clinic", abstract="Patients with headache were seen. Some improved."))
    design = next(r for r in x.reasons if r.field == "design")
    assert (design.value, design.rule, design.confidence) == ("other", "default.design-other", "low")
    assert design.is_default


def test_a_publication_type_alone_is_a_weak_cue():
    x = extract(Record(title="Needling for headache", abstract="Patients with headache had needling. Pain fell.",
                       publication_types=["Randomized Controlled Trial"]))
    design = next(r for r in x.reasons if r.field == "design")
    assert (design.value, design.rule, design.confidence, design.where) == ("rct", "design.rct-type", "low", "publication_types")


def test_reasons_reject_unknown_fields_and_confidences():
    with pytest.raises(ValueError, match="unknown field"):
        provenance.Reason("colour", "red", "x.y")
    with pytest.raises(ValueError, match="confidence"):
        provenance.Reason("design", "rct", "x.y", confidence="sure")


def test_the_snapshot_stores_a_reason_for_every_field_of_every_study(loaded):
    db = store.open_db(loaded)
    studies = {r["pmid"] for r in db.query("select pmid from studies")}
    rows = list(db.query("select * from extraction_evidence"))
    fields = {}
    for r in rows:
        fields.setdefault(r["pmid"], set()).add(r["field"])
    assert set(fields) == studies
    assert all(f == set(provenance.FIELDS) for f in fields.values())
    # Quotes are the record's own words at the stored offsets.
    for r in rows:
        if r["quote"] and r["where_"] in ("title", "abstract"):
            s = db["studies"].get(r["pmid"])
            text = s["title"] if r["where_"] == "title" else s["abstract"]
            assert text[r["start"] : r["end"]].lower() == r["quote"].lower()
    # Re-extraction replaces the reasons rather than adding to them.
    before = db["extraction_evidence"].count
    assert CliRunner().invoke(cli, ["extract", "--all", "--db", str(loaded)]).exit_code == 0
    assert store.open_db(loaded)["extraction_evidence"].count == before


def test_evaluate_errors_name_the_rule_behind_each_mismatch(loaded, tmp_path):
    db = store.open_db(loaded)
    row = next(db.query("select pmid, design from studies where design = 'rct' limit 1"))
    rule = next(db.query("select rule from extraction_evidence where pmid = ? and field = 'design'", [row["pmid"]]))["rule"]
    gold = {row["pmid"]: {"design": "cohort", "on_topic": True, "headache_types": [], "comparators": [],
                          "n_randomized": None, "outcomes": [], "direction": "inconclusive", "effects": []}}
    path = tmp_path / "gold.json"
    path.write_text(json.dumps(gold))
    out = CliRunner().invoke(cli, ["evaluate", "--gold", str(path), "--errors", "--db", str(loaded)]).output
    assert f"{row['pmid']}: expected 'cohort', got 'rct'" in out
    assert f"design = rct: rule {rule}" in out
