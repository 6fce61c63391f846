"""The store: upserts by PMID, revisions, raw XML, FTS, the runs ledger — through `load`."""

from __future__ import annotations

import hashlib
import json

import pytest

from fake_eutils import make_efetch, record_bytes
from pipeline import store
from pipeline.sources import Source, file_source, snapshot_source
from pipeline.update import load


def bytes_source(*documents: bytes, expected: int | None = None) -> Source:
    return Source(name="file", detail="test", documents=lambda: iter(documents), expected=expected)


def test_schema_is_complete_and_reapplying_it_is_harmless(db_path):
    db = store.open_db(db_path)
    store.ensure_schema(db)
    store.open_db(db_path)
    for table in ("studies", "raw_records", "revisions", "runs", "run_problems", "studies_fts", "meta"):
        assert db[table].exists(), table
    cols = set(db["studies"].columns_dict)
    design_cols = {
        "pmid", "title", "abstract", "journal", "year", "doi", "pmcid", "publication_types", "mesh",
        "retracted", "nct", "design", "on_topic", "headache_types", "comparators", "n_randomized",
        "outcomes", "direction", "summary",
    }
    assert design_cols <= cols
    assert db.journal_mode == "wal"
    assert db["studies"].pks == ["pmid"]


def test_snapshot_load_stores_every_record_whole(db, snapshot_xml):
    result = load(db, snapshot_source(), command="run", query="q")
    assert result.ok and (result.counts.found, result.counts.new) == (27, 27)
    row = db["studies"].get("30813155")
    assert row["doi"] == "10.1097/MD.0000000000014520"
    assert json.loads(row["nct"]) == ["NCT03500861"]
    assert json.loads(row["publication_types"]) == ["Journal Article", "Randomized Controlled Trial"]
    assert json.loads(row["authors"])[1]["last_name"] == "Tüzün"
    assert row["retracted"] == 0 and row["first_seen_run"] == result.run_id
    # The raw XML is kept, so a better parser can re-run without refetching.
    raw = store.raw_xml(db, "30813155")
    assert hashlib.sha256(raw).hexdigest() == row["content_hash"]
    assert b"<PMID Version=\"1\">30813155</PMID>" in raw
    run = db["runs"].get(result.run_id)
    assert (run["status"], run["source"], run["found"], run["new"], run["error"]) == ("ok", "snapshot", 27, 27, None)
    assert run["started_at"] <= run["finished_at"]


def test_second_load_changes_nothing(db):
    load(db, snapshot_source(), command="run")
    before = list(db["studies"].rows)
    second = load(db, snapshot_source(), command="run")
    assert (second.counts.new, second.counts.updated, second.counts.unchanged) == (0, 0, 27)
    assert list(db["studies"].rows) == before  # not even updated_at moved
    assert db["revisions"].count == 0


def test_changed_record_is_updated_and_keeps_its_previous_version(db, snapshot_xml):
    records = record_bytes(snapshot_xml)
    load(db, bytes_source(make_efetch(records)), command="import")
    old = db["studies"].get("30813155")
    changed = records[0].replace(b"versus sham needling", b"versus quokka needling")
    result = load(db, bytes_source(make_efetch([changed] + records[1:])), command="import")
    assert (result.counts.updated, result.counts.unchanged, result.updated_pmids) == (1, 26, ["30813155"])
    new = db["studies"].get("30813155")
    assert "quokka needling" in new["title"] and new["content_hash"] != old["content_hash"]
    assert new["first_seen_run"] == old["first_seen_run"] and new["last_changed_run"] == result.run_id
    (rev,) = db["revisions"].rows
    assert rev["pmid"] == "30813155" and rev["content_hash"] == old["content_hash"]
    assert json.loads(rev["record"])["title"] == old["title"]
    # The full-text index follows the change.
    hits = [r["pmid"] for r in db["studies"].search("quokka")]
    assert hits == ["30813155"]


@pytest.mark.parametrize("spread", [5, 10_000])
def test_the_few_changes_of_a_resaved_file_are_written_as_it_is_read(db, snapshot_xml, monkeypatch, spread):
    """A partial batch is handed to the writer every `update.SPREAD` records read (a
    re-saved file's few changes are written while the rest is read, not all after the
    last record): the same studies stored, whole, either way."""
    from pipeline import update

    records = record_bytes(snapshot_xml)
    load(db, bytes_source(make_efetch(records)), command="import")
    monkeypatch.setattr(update, "SPREAD", spread)
    batches: list[int] = []
    real = store.save_studies
    monkeypatch.setattr(store, "save_studies", lambda d, s, r: batches.append(len(s)) or real(d, s, r))
    changed = {i: r.replace(b"</ArticleTitle>", b" (revised)</ArticleTitle>", 1) for i, r in enumerate(records)
               if i % 8 == 3}
    result = load(db, bytes_source(make_efetch([changed.get(i, r) for i, r in enumerate(records)])), command="import")
    assert (result.counts.updated, result.counts.unchanged) == (len(changed), len(records) - len(changed))
    assert (len(batches) > 1) == (spread == 5) and sum(batches) == len(changed)
    assert sorted(result.updated_pmids) == sorted(r["pmid"] for r in db.query(
        "select pmid from studies where title like '% (revised)'"))
    assert db["revisions"].count == len(changed)


def test_full_text_search_covers_title_abstract_and_mesh(db):
    load(db, snapshot_source(), command="run")
    assert {r["pmid"] for r in db["studies"].search("cervicogenic")} >= {"29037632"}
    assert "35659858" in {r["pmid"] for r in db["studies"].search('"Dry Needling"')}
    # porter stemming: "needles" finds "needling"
    assert db["studies"].search("needles", limit=1)


@pytest.mark.reliability("input", "a record without a PMID")
def test_malformed_record_is_skipped_and_reported(db, snapshot_xml):
    records = record_bytes(snapshot_xml)[:3]
    broken = records[1].replace(b'<PMID Version="1">33609358</PMID>', b'<PMID Version="1">33609x58</PMID>')
    result = load(db, bytes_source(make_efetch([records[0], broken, records[2]])), command="import")
    assert result.ok and (result.counts.new, result.counts.skipped) == (2, 1)
    (problem,) = db["run_problems"].rows
    assert problem["pmid"] == "33609x58" and "not a number" in problem["reason"]
    assert db["runs"].get(result.run_id)["skipped"] == 1


def test_failed_run_keeps_whole_records_and_the_next_run_completes(db, snapshot_xml):
    """A source that breaks mid-way: stored records stay whole, the run is 'failed', a rerun finishes."""
    records = record_bytes(snapshot_xml)
    good = make_efetch(records[:10])

    def breaking():
        yield good
        raise ConnectionError("network went away")

    failed = load(db, Source(name="pubmed", detail="test", documents=breaking), command="run", query="q")
    assert not failed.ok and "network went away" in failed.error
    assert db["runs"].get(failed.run_id)["status"] == "failed"
    assert db["studies"].count == 10
    assert store.last_ok_run(db, source="pubmed", query="q") is None  # watermark not moved
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    done = load(db, Source(name="pubmed", detail="test", documents=lambda: iter([make_efetch(records)])), command="run", query="q")
    assert done.ok and (done.counts.new, done.counts.unchanged) == (17, 10)
    assert store.last_ok_run(db, source="pubmed", query="q")["id"] == done.run_id


def test_fewer_records_than_announced_fails_the_run(db, snapshot_xml):
    records = record_bytes(snapshot_xml)
    result = load(db, bytes_source(make_efetch(records[:5]), expected=27), command="run")
    assert not result.ok and "announced 27 records but delivered 5" in result.error


@pytest.mark.reliability("input", "a truncated XML file")
def test_truncated_file_fails_the_run_and_keeps_what_came_before(db, tmp_path, snapshot_xml):
    data = snapshot_xml.read_bytes()
    path = tmp_path / "cut.xml"
    path.write_bytes(data[: data.index(b'<PMID Version="1">35659858')])
    result = load(db, file_source([path]), command="import")
    assert not result.ok and "truncated" in result.error and "cut.xml" in result.error
    assert db["studies"].count == 2


def test_stale_running_rows_are_marked_failed(db):
    run_id = store.start_run(db, command="run", source="pubmed")
    store.fail_stale_runs(db)
    row = db["runs"].get(run_id)
    assert row["status"] == "failed" and "interrupted" in row["error"]


def test_a_latin1_file_is_stored_as_text(db, tmp_path, snapshot_xml):
    record = record_bytes(snapshot_xml)[0].decode("utf-8").replace("Eroğlu", "Eroglu")
    record = record.replace("versus sham needling", "versus sham needling in Montréal")
    path = tmp_path / "latin1.xml"
    path.write_bytes(('<?xml version="1.0" encoding="ISO-8859-1"?>\n<PubmedArticleSet>' + record + "</PubmedArticleSet>").encode("iso-8859-1"))
    result = load(db, file_source([path]), command="import")
    assert result.ok and result.counts.new == 1, result.error
    assert "Montréal" in db["studies"].get("30813155")["title"]
    assert "Montréal" in store.raw_xml(db, "30813155").decode("utf-8")


def test_a_database_from_the_first_version_is_brought_up_to_date(db_path, snapshot_xml):
    """The first version indexed FTS with row triggers and compressed raw XML; both still work."""
    import sqlite3
    import zlib

    db = store.open_db(db_path)
    load(db, snapshot_source(), command="run")
    # Recreate what the first version left behind.
    db["studies"].enable_fts(["title", "abstract", "mesh"], create_triggers=True, tokenize="porter", replace=True)
    db.execute("update raw_records set xml = ? where pmid = '30813155'", [zlib.compress(b"<PubmedArticle/>")])
    db.conn.commit()
    db.conn.close()
    db = store.open_db(db_path)
    assert not [t for t in db.triggers if t.name.startswith("studies_a")]
    records = record_bytes(snapshot_xml)
    changed = records[1].replace(b"Clinicians use dry needling", b"Clinicians use quokka needling")
    assert load(db, bytes_source(make_efetch([changed])), command="import").ok
    db.execute("insert into studies_fts (studies_fts, rank) values ('integrity-check', 1)")  # raises if corrupt
    assert [r["pmid"] for r in db["studies"].search("quokka")] == ["33609358"]
    assert store.raw_xml(db, "30813155") == b"<PubmedArticle/>"
    assert sqlite3.sqlite_version


def test_a_delete_citation_flags_the_stored_studies_and_keeps_them(db, snapshot_xml):
    load(db, snapshot_source(), command="run")
    deleted = b'<DeleteCitation><PMID Version="1">30813155</PMID><PMID Version="1">11111111</PMID></DeleteCitation>'
    result = load(db, bytes_source(make_efetch([deleted])), command="import")
    assert result.ok and db["studies"].count == 27
    assert db["studies"].get("30813155")["deleted_from_pubmed"]
    assert [p for p, _ in result.counts.problems] == ["30813155"]  # the unknown PMID is ignored


def test_known_hashes_answer_as_the_stored_hashes_do_in_a_fraction_of_the_memory():
    import tracemalloc

    digest = lambda i: hashlib.sha256(str(i).encode()).hexdigest()  # noqa: E731
    rows = [(str(30_000_000 + i), digest(i)) for i in range(5_000)] + [("0123", digest(-1)), ("abc", "not-a-sha")]
    known = store.KnownHashes(rows)
    assert len(known) == len(rows)
    assert known.same("30000007", digest(7)) and not known.same("30000007", digest(8))
    assert "0123" in known and "123" not in known  # a PMID with a leading zero is kept as written
    assert known.same("abc", "not-a-sha") and not known.same("abd", "not-a-sha")
    assert None not in known and not known.same("30009999", digest(9999))

    # What each keeps of rows read fresh from the database (as known_hashes reads them).
    fresh = lambda: ((str(40_000_000 + i), digest(i)) for i in range(5_000))  # noqa: E731
    tracemalloc.start()
    plain = dict(fresh())
    as_dict = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del plain
    tracemalloc.start()
    compact = store.KnownHashes(fresh())
    as_known = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(compact) == 5_000
    assert as_known < 0.7 * as_dict
