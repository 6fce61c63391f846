"""pipeline/vocab.py is the one source of the extracted columns' values and meanings.

The README's table of extraction columns and the vocabulary descriptions in
db/metadata.yml are generated from it (`python scripts/vocabularies.py`): these
tests fail when either differs from what it generates, when the extractor can
write a value it does not list, and when the stored and the compared p-value
forms part.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
import yaml

from pipeline import effects, evaluate, extract, rules, terms, vocab

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
METADATA = ROOT / "db" / "metadata.yml"
REGENERATE = "out of date with pipeline/vocab.py: run `python scripts/vocabularies.py`"


def _script():
    spec = importlib.util.spec_from_file_location("vocabularies", ROOT / "scripts" / "vocabularies.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _script()


# --- the generated documentation ----------------------------------------------------------


def test_the_readme_table_is_what_vocab_generates():
    text = README.read_text(encoding="utf-8")
    assert SCRIPT.render_readme(text) == text, REGENERATE


def test_the_metadata_descriptions_are_what_vocab_generates():
    text = METADATA.read_text(encoding="utf-8")
    columns = yaml.safe_load(text)["databases"]["evidence"]["tables"]
    for (table, column), description in vocab.metadata_descriptions().items():
        assert columns[table]["columns"][column] == description, (f"{table}.{column}", REGENERATE)
    assert SCRIPT.render_metadata(text) == text, REGENERATE


def test_every_value_and_meaning_is_in_both_documents():
    readme = README.read_text(encoding="utf-8")
    meta = yaml.safe_load(METADATA.read_text(encoding="utf-8"))["databases"]["evidence"]["tables"]
    for c in vocab.COLUMNS:
        for value, meaning in (c.values or {}).items():
            assert f"`{value}`: {meaning}" in readme, (c.name, value)
            if c.metadata:
                assert f"{value}: {meaning}" in meta[c.table]["columns"][c.name], (c.name, value)


def test_a_value_added_without_regenerating_fails(monkeypatch):
    readme = README.read_text(encoding="utf-8")
    metadata = METADATA.read_text(encoding="utf-8")
    monkeypatch.setitem(vocab.DESIGNS, "umbrella_review", "review of systematic reviews")
    assert SCRIPT.render_readme(readme) != readme
    assert SCRIPT.render_metadata(metadata) != metadata


def test_regenerating_rewrites_only_the_generated_values():
    """A stale description is replaced; comments, other keys and the rest of the README stay byte for byte."""
    metadata = METADATA.read_text(encoding="utf-8")
    stale = metadata.replace(
        "          headache_types: >-\n            Headache populations studied (JSON list)",
        "          headache_types: >-\n            Old words\n            on two lines. Headache populations studied (JSON list)",
        1,
    )
    assert stale != metadata
    assert SCRIPT.render_metadata(stale) == metadata
    comments = [line for line in metadata.splitlines() if line.lstrip().startswith("#")]
    assert comments and all(line in SCRIPT.render_metadata(stale).splitlines() for line in comments)

    readme = README.read_text(encoding="utf-8")
    start, end = readme.index(SCRIPT.START), readme.index(SCRIPT.END)
    hand_edited = readme[:start] + SCRIPT.START + "\n| column | values |\n" + readme[end:]
    assert SCRIPT.render_readme(hand_edited) == readme


def test_the_readme_needs_its_markers():
    with pytest.raises(ValueError, match="vocab:start"):
        SCRIPT.render_readme("# no markers here\n")


def test_the_script_checks_and_writes(tmp_path, monkeypatch, capsys):
    readme, metadata = tmp_path / "README.md", tmp_path / "metadata.yml"
    readme.write_text(README.read_text(encoding="utf-8"), encoding="utf-8")
    metadata.write_text(METADATA.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(SCRIPT, "ROOT", tmp_path)
    monkeypatch.setattr(SCRIPT, "README", readme)
    monkeypatch.setattr(SCRIPT, "METADATA", metadata)
    assert SCRIPT.main(["--check"]) == 0
    monkeypatch.setitem(vocab.OUTCOMES, "sleep", "sleep quality")
    assert SCRIPT.main(["--check"]) == 1
    assert "README.md" in capsys.readouterr().out
    assert SCRIPT.main([]) == 0
    assert "`sleep`: sleep quality" in readme.read_text(encoding="utf-8")
    assert "sleep: sleep quality" in yaml.safe_load(metadata.read_text(encoding="utf-8"))["databases"]["evidence"]["tables"]["studies"]["columns"]["outcomes"]
    assert SCRIPT.main(["--check"]) == 0


# --- the extractor writes only vocabulary values -----------------------------------------


def test_the_vocabularies_agree_with_each_other_and_the_code_tables():
    assert set(vocab.EVIDENCE_LEVELS) == set(vocab.DESIGNS)
    assert set(vocab.DESIGN_LABELS) == set(vocab.DESIGNS)
    assert set(extract.DIRECTION_PHRASES) == set(vocab.DIRECTIONS)
    assert set(effects.LEVELS) == set(vocab.EFFECT_LEVELS)
    assert set(terms.OUTCOME_TERMS) <= set(vocab.OUTCOMES)
    assert set(terms.HEADACHE_TERMS) <= set(vocab.HEADACHE_TYPES)
    assert {r.value for r in rules.default().family("comparator")} <= set(vocab.COMPARATORS)
    assert {measure for _, measure in effects.MEASURE_NAMES} <= set(vocab.MEASURES)
    # What a gold file may say is exactly what the extractor may write.
    assert evaluate.LIST_FIELDS == {
        "headache_types": vocab.HEADACHE_TYPES, "comparators": vocab.COMPARATORS, "outcomes": vocab.OUTCOMES,
    }
    assert {c.name for c in vocab.COLUMNS if c.table == "studies"} >= set(evaluate.FIELD_KINDS)


def _functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def _strings(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_every_literal_value_in_the_extractor_code_is_in_its_vocabulary():
    """Values written as literals in pipeline/extract.py and pipeline/effects.py: what
    a function returns, a list it builds, the measure and level an effect is added with,
    and what a design is compared with."""
    fns = _functions(ROOT / "pipeline" / "extract.py")
    returned = lambda fn: {r.value.value for r in ast.walk(fns[fn])
                           if isinstance(r, ast.Return) and isinstance(r.value, ast.Constant) and isinstance(r.value.value, str)}
    listed = lambda fn: set().union(*(_strings(n) for n in ast.walk(fns[fn]) if isinstance(n, ast.List)))
    given = lambda fn: {c.args[0].value for c in ast.walk(fns[fn]) if isinstance(c, ast.Call)
                        and getattr(c.func, "id", None) == "give" and isinstance(c.args[0], ast.Constant)}
    # The design comes from the rules (rules/design.yml): every value they give is in the vocabulary.
    assert {r.value for r in rules.default().family("design")} - set(vocab.DESIGNS) == set()
    assert returned("classify_design") - set(vocab.DESIGNS) == set()
    directions = returned("classify_direction") | given("classify_direction")
    assert directions - set(vocab.DIRECTIONS) == set()
    assert listed("headache_types") - set(vocab.HEADACHE_TYPES) == set()
    assert listed("comparators") - set(vocab.COMPARATORS) == set()
    assert directions and listed("comparators")  # the scan still finds something

    compared = set()
    for node in ast.walk(ast.parse((ROOT / "pipeline" / "extract.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "design":
            compared |= set().union(*(_strings(c) for c in node.comparators))
    assert compared and compared - set(vocab.DESIGNS) == set()

    measures, levels = set(), set()
    for node in ast.walk(ast.parse((ROOT / "pipeline" / "effects.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "add":
            if len(node.args) > 2 and isinstance(node.args[2], ast.Constant):
                measures.add(node.args[2].value)
            levels |= {k.value.value for k in node.keywords
                       if k.arg == "level" and isinstance(k.value, ast.Constant) and k.value.value is not None}
    group_level = _functions(ROOT / "pipeline" / "effects.py")["_group_level"]
    levels |= {r.value.value for r in ast.walk(group_level) if isinstance(r, ast.Return) and isinstance(r.value, ast.Constant)
               and r.value.value is not None}
    assert measures and measures - set(vocab.MEASURES) == set()
    assert levels
    assert levels - set(vocab.EFFECT_LEVELS) == set()


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """Every study of the bundled corpora (snapshot and held-out sets), extracted."""
    from pipeline import store, update
    from pipeline.sources import file_source

    files = [ROOT / "pipeline" / "snapshot" / "efetch.xml"] + sorted((ROOT / "tests" / "data").glob("heldout*/efetch.xml"))
    db = store.open_db(tmp_path_factory.mktemp("vocab") / "evidence.db")
    assert update.load(db, file_source(files), command="import").ok
    update.extract_pending(db)
    return db


def test_everything_the_extractor_writes_on_the_corpora_is_in_the_vocabularies(extracted):
    import json

    studies = list(extracted["studies"].rows)
    assert len(studies) > 100
    for row in studies:
        assert row["design"] in vocab.DESIGNS, row["pmid"]
        assert row["direction"] in vocab.DIRECTIONS, row["pmid"]
        assert row["evidence_level"] == vocab.EVIDENCE_LEVELS[row["design"]], row["pmid"]
        for key, values in (("headache_types", vocab.HEADACHE_TYPES), ("comparators", vocab.COMPARATORS),
                            ("outcomes", vocab.OUTCOMES)):
            assert set(json.loads(row[key])) <= set(values), (row["pmid"], key)
    for e in extracted["effects"].rows:
        assert e["outcome"] in vocab.OUTCOMES and e["measure"] in vocab.MEASURES, e
        assert e["level"] in (*vocab.EFFECT_LEVELS, None), e
        assert e["p_value"] is None or e["p_value"] == vocab.normalise_p(e["p_value"]), e


def test_every_gold_file_uses_only_vocabulary_values():
    for path in sorted((ROOT / "tests" / "gold").glob("*.json")):
        evaluate.load_gold(path)  # raises on a value outside the vocabularies


# --- one p-value normaliser ---------------------------------------------------------------


def test_what_is_stored_and_what_is_compared_use_one_normaliser():
    assert evaluate.normalize_p is vocab.normalise_p
    for op, value in (("<", ".001"), ("≤", "0.05"), (None, "0.002"), ("=", "0.050"), ("<", "0·010"), ("=", "2 × 10−5")):
        assert effects.normalise_p(op, value) == vocab.normalise_p(f"{op or ''}{value}")


@pytest.mark.parametrize(
    ("written", "stored"),
    [("p = 0.050", "=0.05"), ("P < .001", "<0.001"), ("p=0·010", "=0.01"), ("p = 2 × 10−5", "=0.00002")],
)
def test_a_p_written_with_trailing_zeros_is_stored_as_the_gold_writes_it(written, stored):
    text = f"RESULTS: Pain fell more with needling than with sham (MD -1.2, 95% CI -2.0 to -0.4), {written}."
    (effect,) = [e for e in effects.find_effects(text) if e.measure == "MD"]
    assert effect.p_value == stored == evaluate.normalize_p(stored)
    assert evaluate.normalize_p(written) == stored
