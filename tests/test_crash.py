"""SIGKILL at random points of `evidence import`: the database stays whole, a killed
run never counts as a successful update, and a re-run ends equal to a clean import."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest
import sqlite_utils

from fake_eutils import make_efetch, record_bytes, with_fresh_pmids
from pipeline.sources import SNAPSHOT_XML

RECORDS = 300  # enough for an import of a few seconds, so kills land in every stage
KILLS = 4
SEED = 20261202  # fixed: a failure can be replayed


def _corpus(path) -> None:
    """The snapshot's records under fresh PMIDs, repeated to RECORDS."""
    path.write_bytes(make_efetch(with_fresh_pmids(record_bytes(SNAPSHOT_XML), RECORDS, 60_000_000)))


def _import(xml, db_path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "import", str(xml), "--db", str(db_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _content(db_path) -> dict:
    """What a person would see: each study's stored and extracted values, and the effects."""
    db = sqlite_utils.Database(db_path)
    studies = db.execute(
        "select pmid, content_hash, title, design, on_topic, n_randomized, direction, summary "
        "from studies order by pmid"
    ).fetchall()
    effects = db.execute(
        "select pmid, outcome, measure, value, value_text, value_start from effects order by pmid, value_start"
    ).fetchall()
    return {"studies": studies, "effects": effects}


def _whole(db_path) -> None:
    db = sqlite_utils.Database(db_path)
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    tables = set(db.table_names())
    if not {"studies", "raw_records", "studies_fts"} <= tables:
        # Killed while a new database's tables were being created: nothing is stored
        # yet, and the next run's store.open_db creates the rest (ensure_schema).
        assert "studies" not in tables or db["studies"].count == 0
        return
    n = db["studies"].count
    # A study is stored with its raw record and its search row, or not at all.
    assert db["raw_records"].count == n
    assert db.execute("select count(*) from studies_fts").fetchone()[0] == n


@pytest.mark.reliability("crash", "SIGKILL at random points of an import (4 kills)")
def test_sigkill_at_random_points_leaves_a_whole_database_and_a_rerun_equals_a_clean_import(tmp_path):
    xml = tmp_path / "corpus.xml"
    _corpus(xml)
    clean = tmp_path / "clean" / "evidence.db"
    clean.parent.mkdir()
    started = time.monotonic()
    proc = _import(xml, clean)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-2000:]
    took = time.monotonic() - started

    killed = tmp_path / "killed" / "evidence.db"
    killed.parent.mkdir()
    rng = random.Random(SEED)
    kills = 0
    for _ in range(KILLS):
        proc = _import(xml, killed)
        time.sleep(rng.uniform(0.05, took))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        if killed.exists():
            _whole(killed)
    assert kills >= 2, "the import finished before most kills: raise RECORDS"

    proc = _import(xml, killed)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-2000:]
    _whole(killed)
    assert _content(killed) == _content(clean)
    runs = list(sqlite_utils.Database(killed)["runs"].rows_where(order_by="id"))
    # Every killed run that had begun is marked failed by the next run (under its
    # lock): none is left running or half-done, and the last one is ok. (A kill
    # during start-up, before the run's row exists, leaves no row at all.)
    assert runs[-1]["status"] == "ok"
    assert all(r["status"] in ("failed", "ok") for r in runs)
