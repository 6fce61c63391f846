"""The digest at scale (issue 15): each claim shows its most informative studies in
full, with their citations, and counts the rest honestly, with a link to all of
them in Datasette; the verdicts, certainty and counts are still of every study;
the assessment streams (what it keeps does not grow with the number of studies)."""

from __future__ import annotations

import gc
import re
import weakref

import pytest
from fake_eutils import make_efetch, record_bytes, with_fresh_pmids

from pipeline import certainty, digest, findings, store, update
from pipeline import claims as C
from pipeline.sources import SNAPSHOT_XML, Source
from pipeline.topic import load_topic

CAP = digest.SHOWN_PER_STANCE


def _import(path, records):
    db = store.open_db(path)
    result = update.load(db, Source("file", "t", lambda: iter([make_efetch(records)])), command="import")
    assert result.ok, result.error
    update.extract_pending(db)
    return db


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """120 studies (the snapshot's, cloned): several claims have more studies of one
    stance than the digest shows."""
    tmp = tmp_path_factory.mktemp("big")
    db = _import(tmp / "evidence.db", with_fresh_pmids(record_bytes(SNAPSHOT_XML), 120, 70_000_000))
    html, md = digest.write_digest(db, load_topic(), tmp, force=True)
    return db, html.read_text(), md.read_text()


def _section(html: str, claim_id: str) -> str:
    start = html.index(f'<section class="claim" id="claim-{claim_id}">')
    return html[start : html.index("</section>", start)]


def test_a_claim_shows_its_most_informative_studies_and_counts_the_rest(big):
    db, html, md = big
    claims = C.load_claims(load_topic())
    capped = 0
    for claim in claims:
        rows = db.execute("select stance, count(*) from claim_evidence where claim_id = ? group by stance",
                          [claim.id]).fetchall()
        total = sum(n for _, n in rows)
        if not total:
            continue
        section = _section(html, claim.id)
        shown = re.findall(r'<td class="stance-(\w+)">', section)
        for stance, n in rows:
            assert shown.count(stance) == min(n, CAP), (claim.id, stance)
        more = total - len(shown)
        if more:
            capped += 1
            assert f"And {more:,} more {'study' if more == 1 else 'studies'} not shown" in section
            assert f"Key studies: {len(shown)} of {total:,}" in section
            link = f'href="/evidence/claim_evidence?claim_id={claim.id}&amp;_sort_desc=weight"'
            assert link in section, claim.id
            assert f"<{link[6:-1].replace('&amp;', '&')}>" in md
        else:
            assert "not shown" not in section and "Key studies" not in section
    assert capped >= 3


def test_the_studies_shown_are_reviews_and_sham_trials_first_then_the_newest(big):
    """Design weight, then newest, then PMID as a number (no study here was checked by a person)."""
    db, html, _ = big
    claim = "minimally-invasive"  # safety: every counted study bears on it
    section = _section(html, claim)
    refs = [int(n) for n in re.findall(r'<td><a href="#ref-(\d+)">', section)]
    pmids = dict(re.findall(r'<li id="ref-(\d+)">.*?pubmed\.ncbi\.nlm\.nih\.gov/(\d+)/', html, flags=re.DOTALL))
    shown = [pmids[str(r)] for r in refs]
    rows = db.execute("select e.pmid, e.stance, e.weight, s.year from claim_evidence e join studies s using (pmid) "
                      "where claim_id = ?", [claim]).fetchall()
    by_stance: dict[str, list] = {}
    for pmid, stance, weight, year in rows:
        by_stance.setdefault(stance, []).append((-weight, -(year or 0), len(pmid), pmid))
    expected = [p for st in C.STANCES for *_, p in sorted(by_stance.get(st, []))[:CAP]]
    assert shown == expected


def test_only_the_studies_shown_are_cited(big):
    _, html, md = big
    refs = re.findall(r'<li id="ref-(\d+)"', html)
    claims = C.load_claims(load_topic())
    assert len(refs) <= len(claims) * (len(C.STANCES) * CAP + digest.INDIRECT_SHOWN + digest.REVIEWS_SHOWN)
    numbers = {int(n) for n in re.findall(r'href="#ref-(\d+)"', html)}
    assert numbers <= {int(n) for n in refs}  # each use resolves
    claims_part = html.split('<section id="references">', 1)[0]
    assert all(f"[{n}]" in claims_part for n in refs)  # each reference is used
    assert len(re.findall(r"^\d+\. ", md.split("## References", 1)[1].split("## Methods", 1)[0], flags=re.MULTILINE)) == len(refs)


def test_verdicts_certainty_and_counts_are_of_every_study(big):
    """The claims and claim_evidence tables written by the streamed digest are exactly
    those of assessing every study at once and saving it all (`assess`, `save`)."""
    db, html, _ = big
    claims = C.load_claims(load_topic())
    stored_claims = db.execute("select * from claims order by id").fetchall()
    stored_evidence = db.execute("select * from claim_evidence order by claim_id, pmid").fetchall()
    results = C.assess(claims, C.studies_for_claims(db))
    db.execute("delete from claim_evidence")
    db.execute("delete from claims")
    C.save(db, results)
    assert db.execute("select * from claims order by id").fetchall() == stored_claims
    assert db.execute("select * from claim_evidence order by claim_id, pmid").fetchall() == stored_evidence
    for claim, verdict, evidence in results:
        counted = [e for e in evidence if e.counted]
        assert verdict.supporting == sum(e.stance == "supports" for e in counted)
        if len(evidence) > CAP:
            section = _section(html, claim.id)
            for words in digest.ClaimSection(0, claim, verdict, "", []).counts:
                assert words in html.split('<section class="claim"', 1)[0]  # the overview's counts, of all
            assert f"of {len(evidence):,}" in section


def test_streamed_and_whole_assessments_agree(big):
    """`assess_studies(keep=k)` (counts and summaries) and `assess` (every study kept):
    the same verdicts, certainty, reasons, explanations and counts."""
    db, _, _ = big
    claims = C.load_claims(load_topic())
    whole = C.assess(claims, C.studies_for_claims(db))
    tallies = C.assess_studies(claims, C.iter_studies(db, fields=C.ASSESS_FIELDS), keep=2)
    for (claim, v, evidence), t in zip(whole, tallies):
        s = t.verdict
        assert (s.verdict, s.explanation, s.statement, s.supporting, s.contradicting, s.neutral, s.comparable,
                s.considered) == (v.verdict, v.explanation, v.statement, v.supporting, v.contradicting, v.neutral,
                                  v.comparable, v.considered), claim.id
        assert (s.rating.reasons if s.rating else None) == (v.rating.reasons if v.rating else None)
        assert C.review_certainty(s) == C.review_certainty(v)
        if v.rating and v.rating.certainty:
            assert len(s.rating.rated) == len(v.rating.rated)
        assert t.evidence == [] and t.evidence_total == len(evidence)
        assert sum(len(c) for c in t.candidates.values()) <= len(C.STANCES) * 2 * 2
        for _, e, _, _ in t.shown():  # rated and note of each shown study, as the whole assessment set them
            twin = next(x for x in evidence if x.pmid == e.pmid)
            assert (e.rated, e.note) == (twin.rated, twin.note)


class _Study(dict):
    """A study row that can be watched (a weak reference tells when it is freed)."""

    __hash__ = object.__hash__  # by identity: each row is one study read once


def _live_studies(db, n_claims, monkeypatch) -> tuple[int, int]:
    """(most study rows alive at once while the digest assesses, alive once it has)."""
    live: weakref.WeakSet = weakref.WeakSet()
    peak = [0]
    real = C.iter_studies

    def watched(*args, **kwargs):
        for i, row in enumerate(real(*args, **kwargs)):
            row = _Study(row)
            live.add(row)
            if i % 10 == 0:
                gc.collect()
                peak[0] = max(peak[0], len(live))
            yield row

    monkeypatch.setattr(C, "iter_studies", watched)
    try:
        built = digest.build(db, load_topic())
    finally:
        monkeypatch.setattr(C, "iter_studies", real)
    gc.collect()
    after = len(live)
    del built
    return peak[0], after


def test_the_digest_keeps_a_bounded_number_of_studies_whatever_the_corpus(tmp_path, snapshot_xml, monkeypatch):
    """Counted, not timed: the study rows alive while the claims are assessed (at their
    peak) and after it do not grow from N to 4N studies, and stay below the studies
    bearing on a claim (all of which were kept before issue 15, with abstracts and effects)."""
    monkeypatch.setattr(digest, "SHOWN_PER_STANCE", 2)
    monkeypatch.setattr(digest, "INDIRECT_SHOWN", 2)
    n_claims = len(C.load_claims(load_topic()))
    kept, bearing = {}, {}
    for n in (60, 240):
        db = _import(tmp_path / f"{n}.db", with_fresh_pmids(record_bytes(snapshot_xml), n, 70_000_000))
        kept[n] = _live_studies(db, n_claims, monkeypatch)
        bearing[n] = db.execute("select count(distinct pmid) from claim_evidence").fetchone()[0]
    assert bearing[240] >= 3 * bearing[60]
    peak, after = kept[240]
    assert peak < bearing[240] and after < bearing[240], (kept, bearing)
    assert peak <= kept[60][0] * 1.25 + 5 and after <= kept[60][1] * 1.25 + 5, (kept, bearing)


def test_claim_evidence_is_written_as_it_is_found_not_held(tmp_path, snapshot_xml, monkeypatch):
    """The rows reach SQLite in batches while the studies stream by (the sink never
    holds more than a batch), and an unchanged assessment rewrites no row."""
    db = _import(tmp_path / "e.db", with_fresh_pmids(record_bytes(snapshot_xml), 80, 70_000_000))
    monkeypatch.setattr(C.EvidenceSink, "BATCH", 7)
    most = [0]
    real = C.EvidenceSink.add

    def add(self, e, role=None):
        real(self, e, role)
        most[0] = max(most[0], len(self.buffer))

    monkeypatch.setattr(C.EvidenceSink, "add", add)
    digest.build(db, load_topic())
    assert most[0] < 7
    rows = db.execute("select count(*) from claim_evidence").fetchone()[0]
    assert rows > 7
    sink = C.EvidenceSink(db)
    tallies = C.assess_studies(C.load_claims(load_topic()), C.iter_studies(db), keep=CAP, sink=sink)
    assert sink.finish(tallies) == 0


def test_newer_trials_past_a_dozen_are_counted_not_all_named():
    """A rating's reason names the first newer trials and counts the rest when streamed
    (its claims row stays small); `rate` (every study kept) names them all."""
    review = {
        "pmid": "1", "title": "Dry needling for headache: a systematic review", "design": "systematic_review",
        "abstract": "RESULTS: Needling reduced pain. CONCLUSIONS: The certainty of evidence was low.",
        "direction": "favours_needling", "comparators": ["sham"], "outcomes": ["pain_intensity"],
        "headache_types": ["tension_type"], "on_topic": 1, "retracted": 0, "effects": [], "n_randomized": None,
        "year": 2015,
    }
    trials = [{
        "pmid": str(100 + i), "title": f"Dry needling for tension-type headache: trial {i}", "design": "rct",
        "abstract": "METHODS: A double-blind sham-controlled trial. CONCLUSIONS: Needling reduced pain.",
        "direction": "favours_needling", "comparators": ["sham"], "outcomes": ["pain_intensity"],
        "headache_types": ["tension_type"], "on_topic": 1, "retracted": 0, "effects": [], "n_randomized": 200,
        "year": 2020,
    } for i in range(20)]
    claim = C.Claim(id="pain", text="Needling lowers headache pain.", quote="decrease pain", outcomes=["pain_intensity"])
    whole = C.assess([claim], [review, *trials])[0][1].rating
    streamed = C.assess_studies([claim], [review, *trials], keep=3)[0].verdict.rating
    assert whole.above_review and "PMID 119 (2020" in whole.above_review
    assert streamed.certainty == whole.certainty and streamed.direction == whole.direction
    assert ", and 8 more" in streamed.above_review and "PMID 119 (2020" not in streamed.above_review
    assert streamed.above_review.split(": PMID", 1)[0] == whole.above_review.split(": PMID", 1)[0]
    assert isinstance(streamed.rated, certainty.RatedPmids) and len(streamed.rated) == len(whole.rated) == 21


def test_judged_in_two_worker_processes_the_digest_is_the_same(tmp_path, snapshot_xml, monkeypatch):
    """Many studies to judge are judged in two processes, a half each, their findings
    copied in (`findings._absorb`): the claims, their evidence rows and the digest are
    exactly those of one pass."""
    records = with_fresh_pmids(record_bytes(snapshot_xml), 90, 70_000_000)
    absorbed = []
    real = findings._absorb
    monkeypatch.setattr(findings, "_absorb", lambda db, path: absorbed.append(path) or real(db, path))
    out = {}
    for name, threshold in (("serial", 10**9), ("parallel", 0)):
        monkeypatch.setattr(findings, "PARALLEL_FROM", threshold)
        monkeypatch.setattr(findings.os, "cpu_count", lambda: 2)
        db = _import(tmp_path / name / "evidence.db", records)
        digest.write_digest(db, load_topic(), tmp_path / name, force=True)
        md = (tmp_path / name / "digest.md").read_text()
        out[name] = (db.execute("select * from claims order by id").fetchall(),
                     db.execute("select * from claim_evidence order by claim_id, pmid").fetchall(),
                     re.sub(r".*(?:this digest written|last ran).*\n", "", md),
                     db.execute("select * from claim_findings order by pmid, position").fetchall())
    assert len(absorbed) == 2  # the findings of two workers
    assert out["parallel"][0] == out["serial"][0]
    assert out["parallel"][1] == out["serial"][1]
    assert out["parallel"][2] == out["serial"][2]
    assert out["parallel"][3] == out["serial"][3]
