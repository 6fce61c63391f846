"""Each study's findings on the claims are kept (`pipeline/findings.py`): an import
that changes a few studies judges only those, and the claims, their evidence rows
and the digest are exactly those of assessing every study from scratch."""

from __future__ import annotations

import dataclasses
import re
import shutil

import pytest
from fake_eutils import make_efetch, record_bytes, with_fresh_pmids

from pipeline import claims as C
from pipeline import digest, findings, store, update
from pipeline.sources import Source
from pipeline.topic import load_topic

LATER = b"<DateRevised><Year>2030</Year><Month>01</Month><Day>01</Day></DateRevised>"
RETRACTED = b'<PublicationType UI="D016441">Retracted Publication</PublicationType>'


def _pmid(record: bytes) -> str:
    return re.search(rb'<PMID Version="1">(\d+)</PMID>', record).group(1).decode()


def revise(record: bytes, *, abstract: tuple[tuple[bytes, bytes], ...] = (), retract: bool = False) -> bytes:
    """A later revision of `record`: its title changed, phrases of its abstract
    replaced, or retracted (a publication type PubMed adds to a retracted article)."""
    out = re.sub(rb"<DateRevised>.*?</DateRevised>", LATER, record, count=1, flags=re.S)
    out = out.replace(b"</ArticleTitle>", b" (revised)</ArticleTitle>", 1)
    for old, new in abstract:
        assert old in out
        out = out.replace(old, new)
    if retract:
        out = out.replace(b"</PublicationTypeList>", RETRACTED + b"</PublicationTypeList>", 1)
    return out


def _import(db, document: bytes, out) -> None:
    """What `evidence import` does: load, extract, claims and the digest."""
    result = update.load(db, Source("file", "t", lambda: iter([document])), command="import", more_to_do=True)
    assert result.ok, result.error
    update.extract_pending(db)
    digest.write_digest(db, load_topic(), out)
    store.complete_run(db, result.run_id)


def _tables(db) -> dict[str, list]:
    """The claims, their evidence rows and the kept findings (the keys but their hash:
    it holds stored values no finding reads, such as when PubMed withdrew a study)."""
    out = {name: db.execute(f"select * from [{name}] order by 1, 2").fetchall()
           for name in ("claims", "claim_evidence", "claim_findings")}
    out["keys"] = db.execute("select pmid, counted from claim_findings_keys order by pmid").fetchall()
    return out


def _page(path) -> str:
    """A rendered digest without the moment it was written."""
    return re.sub(r".*(?:this digest written|last ran).*\n", "", path.read_text())


def _judged(monkeypatch) -> list[str]:
    """The PMIDs the next assessments judge (each study once per assessment)."""
    seen: list[str] = []
    real = C.counted
    monkeypatch.setattr(C, "counted", lambda s: seen.append(s["pmid"]) or real(s))
    return seen


@pytest.fixture(scope="module")
def corpus():
    """The snapshot's studies and clones of them (60 in all), then the same after a
    weekly update: two revised (one with its finding reversed), one retracted, one
    withdrawn from PubMed, three new. Returns (first document, update document, final
    document, the PMIDs that changed)."""
    from pipeline.sources import SNAPSHOT_XML

    snapshot = record_bytes(SNAPSHOT_XML)
    first = snapshot + with_fresh_pmids(snapshot, 60 - len(snapshot), 70_000_000)
    by_pmid = {_pmid(r): r for r in first}
    # The sham-controlled trial in favour now finds no difference; another revised in its title only.
    trial = "30813155"
    changed = {
        trial: revise(by_pmid[trial], abstract=(
            (b"Only the real-needling arm showed significant gains", b"Both arms showed similar gains"),
            (b"was a safe way to reduce", b"did no better than sham needling to reduce"))),
        _pmid(first[3]): revise(first[3]),
        _pmid(first[5]): revise(first[5], retract=True),
    }
    new = with_fresh_pmids(snapshot[:3], 3, 71_000_000)
    withdrawn = _pmid(first[7])
    assert len({trial, _pmid(first[3]), _pmid(first[5]), withdrawn}) == 4
    delete = f'<DeleteCitation><PMID Version="1">{withdrawn}</PMID></DeleteCitation>'.encode()
    final = [changed.get(_pmid(r), r) for r in first] + new
    update_doc = make_efetch(list(changed.values()) + new + [delete])
    final_doc = make_efetch(final + [delete])
    return make_efetch(first), update_doc, final_doc, set(changed) | {withdrawn} | {_pmid(r) for r in new}


def test_an_update_judges_only_what_changed_and_assesses_as_a_fresh_database(tmp_path, corpus, monkeypatch):
    """Imported, updated (revised, retracted, withdrawn, new) and imported again: the
    second assessment judges only the changed studies, and the claims, claim_evidence
    and kept findings are row for row those of a new database built from the final
    records, the verdicts too; the digest is that of judging every study again."""
    first, update_doc, final_doc, changed = corpus
    db = store.open_db(tmp_path / "a" / "e.db")
    _import(db, first, tmp_path / "a")
    judged = _judged(monkeypatch)
    _import(db, update_doc, tmp_path / "a")
    assert sorted(judged) == sorted(changed)
    after = {r[0]: r[1] for r in db.execute("select id, verdict from claims")}
    assert db.execute("select count(*) from claim_evidence where stance = 'excluded'").fetchone()[0]
    assert {r[0] for r in db.execute("select e.stance from claim_evidence e join claims c on c.id = e.claim_id "
                                     "where pmid = '30813155' and c.kind = 'efficacy'")} == {"contradicts"}

    fresh = store.open_db(tmp_path / "b" / "e.db")
    _import(fresh, final_doc, tmp_path / "b")
    assert _tables(db) == _tables(fresh)
    assert after == {r[0]: r[1] for r in fresh.execute("select id, verdict from claims")}

    # The same database assessed from scratch (no finding kept): the same digest, page for
    # page (built and rendered, not recorded: both read the same previous digest).
    html, md = digest.render(digest.build(db, load_topic()), tmp_path / "warm")
    kept = _tables(db)
    with db.conn:
        db.execute("delete from claim_findings_keys")
    judged.clear()
    html2, md2 = digest.render(digest.build(db, load_topic()), tmp_path / "cold")
    assert len(judged) == db.execute("select count(*) from studies").fetchone()[0]
    assert _page(md) == _page(md2) and _page(html) == _page(html2)
    assert _tables(db) == kept


def test_a_correction_in_the_database_is_judged_again(tmp_path, corpus, monkeypatch):
    """Values changed under the store (as a person's correction writes them: a study's
    row, another's effects) are judged again, a study no longer extracted is dropped,
    and the result is that of judging every study."""
    db = store.open_db(tmp_path / "e.db")
    _import(db, corpus[0], tmp_path)
    trial, review = (db.execute(f"select pmid from studies where design = '{d}' order by pmid limit 1").fetchone()[0]
                     for d in ("rct", "meta_analysis"))
    other = db.execute("select pmid from effects where pmid not in (?, ?) order by pmid limit 1",
                       [trial, review]).fetchone()[0]
    with db.conn:
        db.execute("update studies set direction = 'favours_comparator' where pmid = ?", [trial])
        db.execute("update effects set ci_low = -9, ci_high = 9 where pmid = ?", [other])
        db.execute("update studies set extractor_version = null where pmid = ?", [review])
    judged = _judged(monkeypatch)
    claims = C.load_claims(load_topic())
    assert findings.refresh(db, claims) == 2 and sorted(judged) == sorted([trial, other])
    assert not db.execute("select 1 from claim_findings where pmid = ?", [review]).fetchone()
    assert not db.execute("select 1 from claim_findings_keys where pmid = ?", [review]).fetchone()
    assert findings.refresh(db, claims) == 0
    _same_as_from_scratch(db, claims)


def _same_as_from_scratch(db, claims) -> None:
    """The claims rebuilt from the kept findings read exactly as a full streamed
    assessment of every study (`claims.assess_studies`), verdicts, shown studies and
    claim_evidence rows alike."""
    replayed = findings.replay(db, claims, keep=digest.SHOWN_PER_STANCE)
    sink = C.EvidenceSink(db)
    findings.evidence_rows(db, sink)
    sink.finish(replayed)
    rows = db.execute("select * from claim_evidence order by claim_id, pmid").fetchall()
    assert findings.sync_evidence(db, replayed) == 0  # the digest's own sync: the same rows
    sink = C.EvidenceSink(db)
    streamed = C.assess_studies(claims, C.iter_studies(db, fields=C.ASSESS_FIELDS),
                                keep=digest.SHOWN_PER_STANCE, sink=sink)
    assert sink.finish(streamed) == 0  # the rows are the same
    assert db.execute("select * from claim_evidence order by claim_id, pmid").fetchall() == rows
    for a, b in zip(replayed, streamed):
        va, vb = a.verdict, b.verdict
        assert dataclasses.replace(va, rating=None) == dataclasses.replace(vb, rating=None), a.claim.id
        assert (va.rating and va.rating.reasons) == (vb.rating and vb.rating.reasons)
        assert C.review_certainty(va) == C.review_certainty(vb)
        assert [(k, e.pmid, e.stance, e.rated, e.note, s["pmid"], r) for k, e, s, r in a.shown()] == \
            [(k, e.pmid, e.stance, e.rated, e.note, s["pmid"], r) for k, e, s, r in b.shown()]
        assert (a.indirect, a.indirect_total, a.hidden) == (b.indirect, b.indirect_total, b.hidden)


def test_new_claims_or_new_rules_judge_every_study_again(tmp_path, corpus, monkeypatch):
    """The key holds the claims as defined and the code that judges: a claim's outcomes
    changed, or a rule file edited, and every study is judged again (a suggested
    rewording, which no finding reads, changes nothing)."""
    db = store.open_db(tmp_path / "e.db")
    _import(db, corpus[0], tmp_path)
    claims = C.load_claims(load_topic())
    n = db.execute("select count(*) from studies").fetchone()[0]
    reworded = [dataclasses.replace(claims[0], rewordings=[])] + claims[1:]
    assert findings.rules_key(reworded) == findings.rules_key(claims)
    assert findings.refresh(db, reworded) == 0

    moved = [dataclasses.replace(claims[0], outcomes=claims[0].outcomes + ["disability"])] + claims[1:]
    assert findings.refresh(db, moved) == n
    _same_as_from_scratch(db, moved)
    assert findings.refresh(db, claims) == n
    _same_as_from_scratch(db, claims)

    code = tmp_path / "code"
    code.mkdir()
    for name in findings.CODE:
        shutil.copy(findings.PACKAGE / name, code / name)
    monkeypatch.setattr(findings, "PACKAGE", code)
    assert findings.refresh(db, claims) == 0  # the same code, copied
    (code / "certainty.py").write_text((code / "certainty.py").read_text() + "\nSMALL_TRIAL = 120\n")
    assert findings.refresh(db, claims) == n


def test_a_dropped_table_is_rebuilt_not_trusted(tmp_path, corpus):
    """Keys without their findings (or findings without keys) are not a cache: both go,
    and the next assessment judges every study."""
    db = store.open_db(tmp_path / "e.db")
    _import(db, corpus[0], tmp_path)
    claims = C.load_claims(load_topic())
    db.execute("drop table claim_findings")
    assert findings.refresh(db, claims) == db.execute("select count(*) from studies").fetchone()[0]
    _same_as_from_scratch(db, claims)


def _key(db, pmid: str) -> bool:
    return db.execute("select 1 from claim_findings_keys where pmid = ?", [pmid]).fetchone() is not None


def test_a_write_that_changes_what_judging_reads_drops_the_key_in_its_transaction(tmp_path, corpus, monkeypatch):
    """The triggers: a study's key goes with any change to its watched columns, its
    effects or its harms (in the transaction that writes them: a rolled-back write keeps
    it), not with a write that leaves the values as they were or touches other columns;
    the next refresh judges exactly those studies and equals a fresh assessment."""
    db = store.open_db(tmp_path / "e.db")
    _import(db, corpus[0], tmp_path)
    claims = C.load_claims(load_topic())
    studies = [pmid for (pmid,) in db.execute("select pmid from claim_findings_keys order by pmid")]
    a, b, c, d, e = studies[:5]
    with db.conn:
        db.execute("update studies set design = design, on_topic = on_topic where pmid = ?", [a])  # same values
        db.execute("update studies set updated_at = 'now', journal = 'J' where pmid = ?", [a])  # not read
    assert _key(db, a)
    with pytest.raises(RuntimeError):
        with db.conn:  # (the connection's own execute: sqlite-utils' commits each write)
            db.conn.execute("update studies set n_randomized = 999 where pmid = ?", [a])
            raise RuntimeError("rolled back")
    assert _key(db, a)
    with db.conn:
        db.execute("update studies set n_randomized = coalesce(n_randomized, 0) + 7 where pmid = ?", [a])
        db.execute("insert into effects (pmid, outcome, measure, value, sentence) values (?, 'pain', 'md', -2.0, 'x')", [b])
        db.execute("update effects set ci_low = -9 where id = (select min(id) from effects where pmid not in (?, ?, ?))",
                   [a, b, d])
        c = db.execute("select pmid from effects where ci_low = -9").fetchone()[0]
        db.execute("insert into harms (pmid, event, kind, sentence) values (?, 'bruising', 'minor', 'x')", [d])
    assert not any(_key(db, p) for p in (a, b, c, d)) and _key(db, e)
    judged = _judged(monkeypatch)
    assert findings.refresh(db, claims) == 4 and sorted(judged) == sorted({a, b, c, d})
    assert findings.refresh(db, claims) == 0
    _same_as_from_scratch(db, claims)


def test_missing_triggers_mean_every_study_is_judged_again(tmp_path, corpus, monkeypatch):
    """Writes made while the triggers were missing (a database of an older version, a
    table rebuilt) dropped no key: the refresh that puts them back judges every study."""
    db = store.open_db(tmp_path / "e.db")
    _import(db, corpus[0], tmp_path)
    claims = C.load_claims(load_topic())
    trial = db.execute("select pmid from studies where design = 'rct' order by pmid limit 1").fetchone()[0]
    with db.conn:
        db.execute(f"drop trigger {findings.TRIGGERS}studies_update")
        db.execute("update studies set direction = 'favours_comparator' where pmid = ?", [trial])
    assert _key(db, trial)
    n = db.execute("select count(*) from studies where extractor_version is not null").fetchone()[0]
    assert findings.refresh(db, claims) == n
    assert findings.refresh(db, claims) == 0
    _same_as_from_scratch(db, claims)


def test_keys_dropped_by_hand_leave_writes_working(tmp_path, corpus):
    """The keys' table dropped by hand: opening the database drops the triggers that
    would write to it (a load or an extraction would fail), and the next assessment
    creates both and judges every study."""
    db = store.open_db(tmp_path / "e.db")
    _import(db, corpus[0], tmp_path)
    db.execute("drop table claim_findings_keys")
    db = store.open_db(tmp_path / "e.db")
    assert not [t for t in db.triggers if t.name.startswith(findings.TRIGGERS)]
    with db.conn:
        db.execute("update studies set direction = 'favours_comparator' where pmid = "
                   "(select min(pmid) from studies)")
    claims = C.load_claims(load_topic())
    n = db.execute("select count(*) from studies where extractor_version is not null").fetchone()[0]
    assert findings.refresh(db, claims) == n
    assert [t for t in db.triggers if t.name.startswith(findings.TRIGGERS)]
    _same_as_from_scratch(db, claims)


def test_the_evidence_sync_writes_what_the_sink_writes(tmp_path, corpus):
    """`sync_evidence` (the digest's, in SQL from the kept findings) leaves `claim_evidence`
    row for row (rowids too) as the sink does, from any earlier state: rows missing,
    changed or left over, and rated as each claim's body rates them."""
    db = store.open_db(tmp_path / "e.db")
    _import(db, corpus[0], tmp_path)
    claims = C.load_claims(load_topic())
    tallies = findings.replay(db, claims, keep=digest.SHOWN_PER_STANCE)
    rated = db.execute("select count(*), sum(rated), count(note) from claim_evidence").fetchone()
    assert rated[1] and rated[2]  # some rows rated, some set aside with a note

    with db.conn:
        db.execute("delete from claim_evidence where rowid % 3 = 0")
        db.execute("update claim_evidence set rated = 1 - rated, note = 'x' where rowid % 3 = 1")
        db.execute("insert into claim_evidence (claim_id, pmid, stance) values ('overall-efficacy', '1', 'neutral')")
    other = store.open_db(tmp_path / "other.db")
    db.conn.backup(other.conn)

    def state(d) -> list:
        return d.execute("select rowid, * from claim_evidence order by rowid").fetchall()

    sink = C.EvidenceSink(db)
    findings.evidence_rows(db, sink)
    assert findings.sync_evidence(other, tallies) == sink.finish(tallies) > 0
    assert state(other) == state(db)
    assert findings.sync_evidence(other, tallies) == 0
