"""Extraction on every core: the same rows whether the studies are extracted in the
parent or in worker processes, written by the parent a chunk at a time."""

from __future__ import annotations

import os
import sys

import pytest

from pipeline import parallel, store, update
from pipeline.sources import snapshot_source

SET_IN_PARENT: list[str] = []


def _extracted(db) -> tuple[list, list]:
    studies = db.execute(
        "select pmid, design, on_topic, headache_types, comparators, n_randomized, outcomes, direction, "
        "evidence_level, summary, extractor_version from studies order by pmid").fetchall()
    effects = db.execute(
        "select pmid, outcome, measure, value, ci_low, ci_high, p_value, sentence_start, value_text "
        "from effects order by pmid, value_start, outcome").fetchall()
    return studies, effects


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "spawned"])
def test_worker_processes_extract_exactly_what_the_parent_does(tmp_path, monkeypatch, fork):
    if fork and not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    monkeypatch.setattr(parallel, "can_fork", lambda: fork)
    serial, pooled = store.open_db(tmp_path / "a.db"), store.open_db(tmp_path / "b.db")
    for db in (serial, pooled):
        update.load(db, snapshot_source(), command="run")
    assert update.extract_pending(serial, processes=1) == 27
    # Forced into two workers, in chunks of 5 (six chunks, several in flight).
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


def _seen_by_worker(chunk: list[int]) -> list[tuple[int, list[str]]]:
    return [(os.getpid(), list(SET_IN_PARENT)) for _ in chunk]


def test_forked_workers_inherit_what_the_parent_holds_and_run_apart(monkeypatch):
    """A forked worker starts with the parent's memory (the extractor compiled once,
    not once a worker) and is its own process."""
    if not parallel.can_fork():
        pytest.skip("workers are forked on Linux only")
    monkeypatch.setattr(sys.modules[__name__], "SET_IN_PARENT", ["compiled in the parent"])
    out = [r for chunk in parallel.map_chunks(_seen_by_worker, [[1], [2], [3]], processes=2, fork=True) for r in chunk]
    assert [held for _, held in out] == [["compiled in the parent"]] * 3
    assert os.getpid() not in {pid for pid, _ in out}


def test_the_threshold_for_workers_depends_on_how_they_start(tmp_path, monkeypatch):
    """Forked workers are worth it from MIN_FORKED studies, spawned ones from MIN_PARALLEL."""
    calls = []
    real = parallel.map_chunks
    monkeypatch.setattr(parallel, "map_chunks", lambda fn, items, **kw: calls.append(kw) or real(fn, items, **kw))
    db = store.open_db(tmp_path / "t.db")
    update.load(db, snapshot_source(), command="run")
    for fork, threshold, expected in ((True, 20, 2), (True, 30, 1), (False, 20, 1)):
        monkeypatch.setattr(parallel, "can_fork", lambda fork=fork: fork)
        monkeypatch.setattr(parallel, "MIN_FORKED", threshold)
        assert update.extract_pending(db, everything=True, processes=2, batch=5) == 27  # 27 studies
        assert calls.pop() == {"processes": expected, "fork": fork}
