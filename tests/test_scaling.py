"""Speed at scale (issue 15), by counting work, never by timing it: an unchanged
re-import writes nothing and re-renders nothing; a small change writes rows in
proportion to it; the claims and the digest do work that grows linearly with the
number of studies (SQLite steps, rows read, citations rendered)."""

from __future__ import annotations

import sys
from dataclasses import asdict

import pytest

from fake_eutils import make_efetch, record_bytes, with_fresh_pmids
from pipeline import claims as C
from pipeline import cite, csl, digest, store, update
from pipeline.sources import Source
from pipeline.topic import load_topic


def _source(records: list[bytes]) -> Source:
    return Source("file", "t", lambda: iter([make_efetch(records)]))


def _import(db, records: list[bytes], out) -> None:
    """What `evidence import` does: load, extract, claims and the digest."""
    result = update.load(db, _source(records), command="import", more_to_do=True)
    assert result.ok, result.error
    update.extract_pending(db)
    digest.write_digest(db, load_topic(), out)
    store.complete_run(db, result.run_id)


def _rows(db) -> dict[str, list]:
    """Every table's rows (the runs ledger aside), to compare before and after."""
    names = [r[0] for r in db.execute("select name from sqlite_master where type = 'table' "
                                      "and sql not like 'CREATE VIRTUAL%' and name != 'runs'")]
    return {n: db.execute(f"select * from [{n}] order by 1, 2").fetchall() for n in names}


def _changed(before: dict, after: dict) -> dict[str, int]:
    out = {}
    for name in set(before) | set(after):
        b, a = set(map(repr, before.get(name, []))), set(map(repr, after.get(name, [])))
        if a ^ b:
            out[name] = len(a - b) + len(b - a)
    return out


@pytest.fixture
def corpus(snapshot_xml):
    return with_fresh_pmids(record_bytes(snapshot_xml), 60, 70_000_000)


def test_an_unchanged_reimport_writes_no_row_but_its_ledger_entry(tmp_path, corpus, monkeypatch):
    """Nothing extracted, no claim re-saved, no citation rendered, the digest not rewritten:
    the only rows written are the run's own in `runs`."""
    db = store.open_db(tmp_path / "e.db")
    _import(db, corpus, tmp_path)
    html = (tmp_path / "digest.html").read_text()
    before, runs = _rows(db), db["runs"].count
    rendered = []
    monkeypatch.setattr(csl, "render", lambda *a, **k: rendered.append(a) or "")
    changes = db.conn.total_changes
    result = update.load(db, _source(corpus), command="import", more_to_do=True)
    assert result.counts.unchanged == 60
    assert db.conn.total_changes - changes == 2  # the runs row: opened, then closed
    changes = db.conn.total_changes
    assert update.extract_pending(db) == 0
    digest.write_digest(db, load_topic(), tmp_path)
    assert db.conn.total_changes == changes
    assert _changed(before, _rows(db)) == {} and db["runs"].count == runs + 1
    assert rendered == [] and (tmp_path / "digest.html").read_text() == html


def test_a_small_change_writes_rows_in_proportion_to_it(tmp_path, corpus):
    """Two of 60 studies revised and one new: only their rows (and their claim
    evidence and citations) are written, not the whole assessment again."""
    db = store.open_db(tmp_path / "e.db")
    _import(db, corpus, tmp_path)
    first = sum(len(rows) for rows in _rows(db).values())
    before = _rows(db)
    changed = [r.replace(b"</ArticleTitle>", b" (revised)</ArticleTitle>", 1) for r in corpus[:2]]
    new = with_fresh_pmids(record_bytes(make_efetch(corpus[:1])), 1, 71_000_000)
    _import(db, changed + corpus[2:] + new, tmp_path)
    written = _changed(before, _rows(db))
    assert written["studies"] == 2 * 2 + 1  # two updated (old and new row), one new
    assert written.get("claim_evidence", 0) <= 2 * 3 * len(C.load_claims(load_topic()))
    assert written.get("citations", 0) <= 2 * 3 * 2  # two styles, each old and new entry
    assert written["digests"] == 1
    assert sum(written.values()) < 0.25 * first, (written, first)


def test_citations_are_rendered_once_and_again_only_when_their_study_changes(tmp_path, corpus, monkeypatch):
    db = store.open_db(tmp_path / "e.db")
    _import(db, corpus, tmp_path)
    cited = db["citations"].count
    assert cited and cited % 2 == 0
    rendered = []
    real = csl.render
    monkeypatch.setattr(csl, "render", lambda item, style, **k: rendered.append(item["id"]) or real(item, style, **k))
    digest.write_digest(db, load_topic(), tmp_path, force=True)
    assert rendered == []
    pmid = db.execute("select pmid from citations limit 1").fetchone()[0]
    # A revision as the store writes it: new text, new content hash.
    db.execute("update studies set title = 'A new title.', content_hash = 'x' where pmid = ?", [pmid])
    db.conn.commit()
    digest.write_digest(db, load_topic(), tmp_path)
    assert sorted(rendered) == [f"pmid:{pmid}"] * 2
    study = next(db.query("select * from studies where pmid = ?", [pmid]))
    assert db.execute("select text from citations where pmid = ? and style = 'ama'", [pmid]).fetchone()[0] == \
        cite.ama(study)


def _work(db, out, monkeypatch) -> dict[str, int]:
    """What one digest (forced: built and rendered whole) costs, counted: SQLite
    virtual-machine steps (thousands), rows handed to Python, studies matched."""
    steps, matched = [0], [0]

    def count() -> int:
        steps[0] += 1
        return 0

    real = C.relevant
    monkeypatch.setattr(C, "relevant", lambda claim, s: matched.__setitem__(0, matched[0] + 1) or real(claim, s))
    calls = [0]

    def profile(frame, event, arg) -> None:
        if event == "call":
            calls[0] += 1

    db.conn.set_progress_handler(count, 1000)
    sys.setprofile(profile)
    try:
        digest.write_digest(db, load_topic(), out, force=True)
    finally:
        sys.setprofile(None)
        db.conn.set_progress_handler(None, 0)
        monkeypatch.setattr(C, "relevant", real)
    return {"steps": steps[0], "matched": matched[0], "calls": calls[0]}


def test_the_claims_and_the_digest_do_linear_work(tmp_path, snapshot_xml, monkeypatch):
    """From N to 4N studies, the forced digest's database steps and Python function
    calls grow at most about fourfold (a quadratic step, such as comparing every
    study with every other, would grow sixteenfold), whether every study's findings
    are kept (no study is matched again: the verdicts are rebuilt from them) or none
    are (every study is matched against every claim exactly once)."""
    # Efficacy and mechanism claims match each study on its outcomes (safety and
    # background claims read every counted study's harms, or its design, instead).
    claims = len([c for c in C.load_claims(load_topic()) if c.kind in ("efficacy", "mechanism")])
    kept, judged = {}, {}
    for n in (60, 240):
        db = store.open_db(tmp_path / f"{n}.db")
        records = with_fresh_pmids(record_bytes(snapshot_xml), n, 70_000_000)
        _import(db, records, tmp_path / f"out{n}")
        kept[n] = _work(db, tmp_path / f"out{n}", monkeypatch)
        assert kept[n]["matched"] == 0
        with db.conn:
            db.execute("delete from claim_findings_keys")  # as if no study had been judged
        judged[n] = _work(db, tmp_path / f"out{n}", monkeypatch)
        assert judged[n]["matched"] == n * claims
    for work in (kept, judged):
        assert work[240]["steps"] <= 4.5 * max(work[60]["steps"], 1), work
        assert work[240]["calls"] <= 4.5 * work[60]["calls"], work


def test_the_digest_holds_only_the_studies_that_bear_on_a_claim(tmp_path, corpus):
    db = store.open_db(tmp_path / "e.db")
    _import(db, corpus, tmp_path)
    results, kept = C.assess_studies(C.load_claims(load_topic()), C.iter_studies(db, page=7))
    bearing = {e.pmid for _, _, ev in results for e in ev} | {p for _, v, _ in results for p in v.indirect}
    assert set(kept) == bearing and len(kept) < 60
    # Paged reading gives the same studies, effects and verdicts as reading them all at once.
    again = C.assess(C.load_claims(load_topic()), C.studies_for_claims(db))
    assert [(v, [asdict(e) for e in ev]) for _, v, ev in again] == [(v, [asdict(e) for e in ev]) for _, v, ev in results]


def test_the_digest_page_and_its_references_do_not_grow_with_the_corpus(tmp_path, snapshot_xml, monkeypatch):
    """From N to 4N studies the studies bearing on the claims grow about fourfold, the
    digest's pages and references hardly at all: each claim shows its most informative
    studies (`digest.SHOWN_PER_STANCE` of each stance, here 2 so that N already fills
    it) and counts the rest."""
    monkeypatch.setattr(digest, "SHOWN_PER_STANCE", 2)
    monkeypatch.setattr(digest, "INDIRECT_SHOWN", 2)
    size, refs, bearing = {}, {}, {}
    for n in (60, 240):
        db = store.open_db(tmp_path / f"{n}.db")
        _import(db, with_fresh_pmids(record_bytes(snapshot_xml), n, 70_000_000), tmp_path / f"out{n}")
        html = (tmp_path / f"out{n}" / "digest.html").read_text()
        size[n], refs[n] = len(html), html.count('<li id="ref-')
        bearing[n] = db.execute("select count(distinct pmid) from claim_evidence").fetchone()[0]
    assert bearing[240] >= 3 * bearing[60]
    assert refs[240] <= 1.25 * refs[60] and size[240] <= 1.25 * size[60], (size, refs, bearing)


def test_the_digest_reads_page_by_page_in_linear_steps(tmp_path, snapshot_xml, monkeypatch):
    """With pages of 10 studies (so that N and 4N are many pages), the digest's SQLite
    steps still grow about fourfold: each page's queries (effects, harms, checks,
    low-confidence readings) visit that page's rows, never the whole table again."""
    real = C.iter_studies
    monkeypatch.setattr(C, "iter_studies", lambda *a, **k: real(*a, **{**k, "page": 10}))
    work = {}
    for n in (60, 240):
        db = store.open_db(tmp_path / f"{n}.db")
        _import(db, with_fresh_pmids(record_bytes(snapshot_xml), n, 70_000_000), tmp_path / f"out{n}")
        # Many low-confidence readings a study (as a real extraction leaves them): a page
        # that read them through the confidence index would visit all of them each time.
        with db.conn:
            db.conn.executemany(
                "insert into extraction_evidence (pmid, field, value, rule, confidence) values (?, ?, '', 'r', 'low')",
                [(p, f"field{i}") for (p,) in db.execute("select pmid from studies") for i in range(40)])
        work[n] = _work(db, tmp_path / f"out{n}", monkeypatch)
    assert work[240]["steps"] <= 4.5 * max(work[60]["steps"], 1), work
