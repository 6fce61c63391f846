"""Extraction on every core: the same rows whether the studies are extracted in the
parent or in worker processes, written by the parent a chunk at a time."""

from __future__ import annotations

from pipeline import parallel, store, update
from pipeline.sources import snapshot_source


def _extracted(db) -> tuple[list, list]:
    studies = db.execute(
        "select pmid, design, on_topic, headache_types, comparators, n_randomized, outcomes, direction, "
        "evidence_level, summary, extractor_version from studies order by pmid").fetchall()
    effects = db.execute(
        "select pmid, outcome, measure, value, ci_low, ci_high, p_value, sentence_start, value_text "
        "from effects order by pmid, value_start, outcome").fetchall()
    return studies, effects


def test_worker_processes_extract_exactly_what_the_parent_does(tmp_path):
    serial, pooled = store.open_db(tmp_path / "a.db"), store.open_db(tmp_path / "b.db")
    for db in (serial, pooled):
        update.load(db, snapshot_source(), command="run")
    assert update.extract_pending(serial, processes=1) == 27
    # Forced into two spawned workers, in chunks of 5 (six chunks, several in flight).
    assert update.extract_pending(pooled, processes=2, min_parallel=0, batch=5) == 27
    assert _extracted(pooled) == _extracted(serial)
    assert update.extract_pending(pooled, processes=2, min_parallel=0) == 0  # nothing left pending


def test_pending_studies_are_read_a_page_at_a_time(tmp_path):
    db = store.open_db(tmp_path / "e.db")
    update.load(db, snapshot_source(), command="run")
    pages = list(store.iter_pending(db, page=4))
    assert [r[0] for r in pages] == sorted(r["pmid"] for r in db["studies"].rows)
    assert store.pending_count(db) == 27


def test_a_failing_study_is_reported_and_left_pending():
    rows = [("1", "Title", "Abstract.", "[]", "[]"), ("2", "Title", "Abstract.", "not json", "[]")]
    out = parallel.extract_rows(rows)
    assert out[0][1] is not None and out[0][2] is None
    assert out[1][1] is None and "JSONDecodeError" in out[1][2]
