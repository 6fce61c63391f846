"""Each study's findings on the claims, kept so that a run judges only the studies that changed.

What one study gives one claim (`claims.Finding`: its stance and reason, and what the
claim's tally reads of it: certainty `Facts`, harms, a description) depends only on the
study and the rules. It is kept in `claim_findings`, and each judged study in
`claim_findings_keys` under a key of both (`content_keys`): the code that judges, the
topic's words and claims (`rules_key`), and the study as the assessment reads it.
`refresh` judges the studies whose key moved (new, revised, re-extracted, corrected,
retracted; every study when the rules moved) and drops those no longer extracted;
`replay` rebuilds every claim's `Tally` from the kept findings in the order a full
assessment reads the studies, so it is the same assessment (issue 15: an incremental
import re-judged all 20,000 studies for 400 changed).

Tables (hidden in Datasette; rebuilt by the next assessment if dropped):
- claim_findings_keys: pmid, key, counted (on topic, with results, not retracted:
  the studies the verdicts say they were drawn from);
- claim_findings: pmid, position (the claim's place in the topic file), claim_id,
  indirect (1: a needling study outside headache that measured the outcome, else the
  Evidence columns follow), stance, reason, sentence, weight, counted, retracted,
  informative and randomized (as the certainty rules class it), year, and data (JSON:
  a counted efficacy or mechanism finding's description and Facts, a counted safety
  finding's harms where it reports any).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sqlite3
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Iterator

import sqlite_utils

from . import certainty, store
from . import claims as C
from .version import words_fingerprint

# The code that judges a study (`claims.find`), beside the topic's words and claims.
PACKAGE = Path(__file__).resolve().parent
CODE = ("claims.py", "certainty.py", "claim_kinds.py", "terms.py", "text.py", "vocab.py", "findings.py")
# From this many studies to judge, two forked worker processes judge a half each (a
# first import, new rules); below, a worker costs more than it saves.
PARALLEL_FROM = 20_000
BATCH = 1000  # studies judged per write transaction
PAGE = 1000  # findings read at a time (whole studies: their checks are read together)

# What the assessment reads of a study (`claims.ASSESS_FIELDS`, its effects and harms),
# for its key. The title and abstract enter through content_hash: the store writes them
# only with it (a revised record), and reading every abstract is what this avoids.
_STUDY_KEY = ("pmid", "content_hash", "year", "pub_date", "retracted", "design", "on_topic", "headache_types",
              "comparators", "n_randomized", "outcomes", "direction", "deleted_from_pubmed")
_decode = json.JSONDecoder().decode
_COLUMNS = ("pmid", "position", "claim_id", "indirect", "stance", "reason", "sentence", "weight", "counted",
            "retracted", "informative", "randomized", "year", "data")


def ensure_tables(db: sqlite_utils.Database) -> None:
    """Create the two tables; harmless to repeat. One without the other is dropped: the
    keys say which findings are kept, so they are kept together or not at all."""
    have = {n for n in ("claim_findings", "claim_findings_keys") if db[n].exists()}
    if len(have) == 1:
        db.execute(f"drop table {have.pop()}")
    db.execute("create table if not exists claim_findings_keys "
               "(pmid text primary key, key text not null, counted integer not null)")
    db.execute("create table if not exists claim_findings (pmid text not null, position integer not null, "
               "claim_id text not null, indirect integer not null, stance text, reason text, sentence text, "
               "weight real, counted integer, retracted integer, informative integer, randomized integer, "
               # Not WITHOUT ROWID: as fast to read in PMID order, and its pages stay full
               # (rewritten studies left them half empty: 21 MB against 13 at 20,000 studies).
               "year integer, data text, primary key (pmid, position))")


def rules_key(claims: list[C.Claim]) -> str:
    """A hash of what judges a study besides the study: the code, the topic's words, the claims."""
    h = hashlib.blake2b(digest_size=16)
    for name in CODE:
        h.update(name.encode())
        h.update((PACKAGE / name).read_bytes())
    h.update(words_fingerprint().encode())  # the outcome, headache and needling terms
    for claim in claims:  # as defined, in order; not its suggested rewordings (no finding reads them)
        h.update(repr(sorted((k, v) for k, v in vars(claim).items() if k != "rewordings")).encode())
    return h.hexdigest()


class _ByPmid:
    """The rows of a cursor ordered by PMID (first column), taken one PMID at a time in order."""

    def __init__(self, cursor: Iterable[tuple]) -> None:
        self.rows = iter(cursor)
        self.head = next(self.rows, None)

    def take(self, pmid: str) -> list[tuple]:
        while self.head is not None and self.head[0] < pmid:
            self.head = next(self.rows, None)
        out = []
        while self.head is not None and self.head[0] == pmid:
            out.append(self.head)
            self.head = next(self.rows, None)
        return out


def content_keys(db: sqlite_utils.Database, rules: str) -> Iterator[tuple[str, str]]:
    """(pmid, key) of every extracted study in PMID order: `rules` and what assessing it reads."""
    # Each table is read once in PMID order and walked alongside (not a query per study).
    have = db["studies"].columns_dict
    cols = ", ".join(f"[{c}]" for c in _STUDY_KEY if c in have)
    studies = db.execute(f"select {cols} from studies where extractor_version is not null order by pmid")
    effects = _ByPmid(db.execute(
        "select pmid, outcome, measure, value, ci_low, ci_high, sentence from effects order by pmid, id"))
    harmful = db["harms_reporting"].exists()
    states = _ByPmid(db.execute("select pmid, state from harms_reporting order by pmid") if harmful else ())
    harms = _ByPmid(db.execute("select pmid, event, kind, affected, denominator, severity, arm, sentence "
                               "from harms order by pmid, id") if harmful else ())
    prefix = rules.encode()
    for row in studies:
        pmid = row[0]
        h = hashlib.blake2b(prefix, digest_size=16)
        h.update(repr((row, effects.take(pmid), states.take(pmid), harms.take(pmid))).encode("utf-8", "surrogatepass"))
        yield pmid, h.hexdigest()


TODO = "claim_findings_todo"  # the studies a refresh has left to judge (pmid, key), dropped when done


def refresh(db: sqlite_utils.Database, claims: list[C.Claim]) -> int:
    """Judge the studies whose key moved and drop those no longer extracted; returns how many were judged."""
    ensure_tables(db)
    # Today's keys are compared with the kept ones in SQL, and the studies left to judge
    # stay there (a table the workers' own connections can read, not a temp one), read a
    # page at a time: nothing in memory grows with the number of studies.
    with db.conn:
        db.execute(f"drop table if exists [{TODO}]")
        db.execute(f"create table [{TODO}] (pmid text primary key, key text)")
        db.conn.executemany(f"insert into [{TODO}] values (?, ?)", content_keys(db, rules_key(claims)))
        # Judged once, no longer extracted (their extraction cleared, or the study removed).
        gone = [pmid for (pmid,) in db.execute(
            f"select pmid from claim_findings_keys where pmid not in (select pmid from [{TODO}])")]
        if gone:
            _delete(db, gone)
        db.execute(f"delete from [{TODO}] where exists (select 1 from claim_findings_keys k "
                   f"where k.pmid = [{TODO}].pmid and k.key is [{TODO}].key)")
    try:
        todo = db.execute(f"select count(*) from [{TODO}]").fetchone()[0]
        if not todo:
            return 0
        path = store.db_file(db)
        procs = min(2, os.cpu_count() or 1) if todo >= PARALLEL_FROM and path and not db.conn.in_transaction else 1
        if procs == 1:
            _judge_into(db, claims, None, lambda keys, rows: _write(db, keys, rows))
            return todo
        # Workers read through their own connections (what is committed) a range of PMIDs
        # each, and leave their findings in a file of their own, which the parent copies in.
        cuts = [db.execute(f"select pmid from [{TODO}] order by pmid limit 1 offset ?", [todo * i // procs]).fetchone()[0]
                for i in range(1, procs)]
        ranges = list(zip([None, *cuts], [*cuts, None]))
        with tempfile.TemporaryDirectory(prefix="findings-") as tmp:
            parts = [str(Path(tmp) / f"part{i}.db") for i in range(procs)]
            with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("fork")) as pool:
                for f in [pool.submit(_judge_part, path, claims, span, part) for span, part in zip(ranges, parts)]:
                    f.result()
            for part in parts:
                _absorb(db, part)
        return todo
    finally:
        with db.conn:
            db.execute(f"drop table if exists [{TODO}]")


def _todo_pages(db: sqlite_utils.Database, span: tuple[str | None, str | None] | None) -> Iterator[list[tuple[str, str]]]:
    """The (pmid, key) rows left to judge, `BATCH` at a time in PMID order, within
    `span` = [low, high) (None: every row; an end None: open)."""
    low, high = span or (None, None)
    after, first = ("" if low is None else low), low is not None
    while True:
        where, args = ("pmid >= ?" if first else "pmid > ?"), [after]
        first = False
        if high is not None:
            where += " and pmid < ?"
            args.append(high)
        page = db.execute(f"select pmid, key from [{TODO}] where {where} order by pmid limit ?", [*args, BATCH]).fetchall()
        if not page:
            return
        yield page
        after = page[-1][0]


def _judge_into(db: sqlite_utils.Database, claims: list[C.Claim], span: tuple[str | None, str | None] | None,
                write: Callable[[list[tuple], list[tuple]], None]) -> None:
    """Judge the studies left to judge (within `span`), handing `write` each page's key and finding rows."""
    for page in _todo_pages(db, span):
        keys = dict(page)
        key_rows: list[tuple] = []
        rows: list[tuple] = []
        for s in C.iter_studies(db, pmids=list(keys), fields=C.ASSESS_FIELDS):
            counted_study = C.counted(s)
            for position, claim in enumerate(claims):
                found = C.find(claim, s, counted_study)
                if found is not None:
                    rows.append(_pack(s, position, claim, found))
            key_rows.append((s["pmid"], keys[s["pmid"]], int(counted_study)))
        write(key_rows, rows)


def _judge_part(path: str, claims: list[C.Claim], span: tuple[str | None, str | None], part: str) -> None:
    """In a worker: judge the studies left to judge in `span`, reading the database at `path`, into the file `part`."""
    db = sqlite_utils.Database(sqlite3.connect(path))
    out = sqlite_utils.Database(sqlite3.connect(part))
    ensure_tables(out)
    _judge_into(db, claims, span, lambda keys, rows: _write(out, keys, rows))
    out.conn.close()
    db.conn.close()


def _absorb(db: sqlite_utils.Database, part: str) -> None:
    """Copy a worker's findings in (replacing what was kept of those studies)."""
    db.execute("attach database ? as part", [part])
    try:
        with db.conn:
            db.execute("delete from claim_findings where pmid in (select pmid from part.claim_findings_keys)")
            db.execute("insert into claim_findings select * from part.claim_findings")
            db.execute("insert or replace into claim_findings_keys select * from part.claim_findings_keys")
    finally:
        db.execute("detach database part")


def _delete(db: sqlite_utils.Database, pmids: list[str]) -> None:
    for start in range(0, len(pmids), 500):
        chunk = pmids[start: start + 500]
        marks = ", ".join("?" * len(chunk))
        db.execute(f"delete from claim_findings where pmid in ({marks})", chunk)
        db.execute(f"delete from claim_findings_keys where pmid in ({marks})", chunk)


def _write(db: sqlite_utils.Database, key_rows: list[tuple], rows: list[tuple]) -> None:
    """Replace what is kept of these studies in one transaction (findings and key together, or neither)."""
    with db.conn:
        _delete(db, [r[0] for r in key_rows])
        db.conn.executemany(f"insert into claim_findings values ({', '.join('?' * len(_COLUMNS))})", rows)
        db.conn.executemany("insert into claim_findings_keys values (?, ?, ?)", key_rows)


def _pack(s: dict, position: int, claim: C.Claim, found: C.Finding | str) -> tuple:
    """One `claim_findings` row."""
    if not isinstance(found, C.Finding):  # "indirect"
        return (s["pmid"], position, claim.id, 1) + (None,) * 8 + (s.get("year"), None)
    e, data = found.evidence, None
    if found.facts is not None:
        f = found.facts
        data = [found.described, [[j.level, j.sentence, j.year] for j in f.judgements], f.informative,
                f.randomized, f.design, f.direction, f.n_randomized, list(f.comparators), f.concern, f.why,
                f.people, [list(x) for x in f.estimates], list(f.newer) if f.newer else None]
    elif found.harms is not None:
        data = [found.harms["harms_state"], found.harms["harms"]]
    informative, randomized = found.role
    return (e.pmid, position, claim.id, 0, e.stance, e.reason, e.sentence, e.weight, int(e.counted),
            int(e.retracted), int(informative), int(randomized), found.year,
            None if data is None else json.dumps(data, ensure_ascii=False))


def _unpack(row: tuple, claim: C.Claim) -> C.Finding | None:
    """The `claims.Finding` a `claim_findings` row keeps (None: an indirect study)."""
    pmid, _, _, indirect, stance, reason, sentence, weight, counted, retracted, _, _, year, data = row
    if indirect:
        return None
    found = C.Finding(C.Evidence(claim.id, pmid, stance, reason, sentence, weight, bool(counted), bool(retracted)),
                      year)
    if data is None:
        return found
    values = _decode(data)
    if claim.kind == "safety":
        found.harms = {"pmid": pmid, "harms_state": values[0], "harms": values[1]}
        return found
    (found.described, judgements, informative, randomized, design, direction, n, comparators, concern, why,
     people, estimates, newer) = values
    found.facts = certainty.Facts(
        tuple(certainty.ReviewJudgement(pmid, level, said, when) for level, said, when in judgements),
        informative, randomized, design, direction, n, tuple(comparators), concern, why, people,
        tuple(map(tuple, estimates)), tuple(newer) if newer else None)
    return found


def replay(db: sqlite_utils.Database, claims: list[C.Claim], *, keep: int | None,
           attach: Callable[..., dict] | None = None,
           on_evidence: Callable[[C.Evidence, tuple[bool, bool]], None] | None = None) -> list[C.Tally]:
    """Every claim's finished `Tally` (as `claims.assess_studies` keep=k) from the kept findings."""
    # `attach(None, None, pmids)` gives a page's studies their "check" (as `claims.iter_studies`);
    # `on_evidence(e, role)` sees each Evidence in the order a full assessment finds them. The
    # studies a tally keeps are stubs (PMID, year, check): the digest reads the few it shows.
    tallies = [C.Tally(c, keep) for c in claims]
    pool = db.execute("select coalesce(sum(counted), 0) from claim_findings_keys").fetchone()[0]
    cursor = db.execute(f"select {', '.join(_COLUMNS)} from claim_findings order by pmid, position")
    page: list[tuple] = []
    while True:
        rows = cursor.fetchmany(PAGE)
        page += rows
        # A page ends with a whole study: the last PMID's rows may go on in the next fetch.
        whole = len(page) if not rows else next(
            (i + 1 for i in range(len(page) - 1, -1, -1) if page[i][0] != page[-1][0]), 0)
        if whole:
            _replay_page(page[:whole], tallies, attach, on_evidence)
            page = page[whole:]
        if not rows:
            break
    for t in tallies:
        t.finish(pool)
    return tallies


def _replay_page(rows: list[tuple], tallies: list[C.Tally], attach, on_evidence) -> None:
    checks = attach(None, None, sorted({r[0] for r in rows})) if attach else {}
    stub: dict = {}
    for row in rows:
        if stub.get("pmid") != row[0]:
            # One dict per study, shared by the claims that show it (the digest fills it in).
            stub = {"pmid": row[0], "year": row[12]}
            if attach:
                stub["check"] = checks.get(row[0])
        t = tallies[row[1]]
        found = _unpack(row, t.claim)
        if found is None:
            t.add_indirect(stub)
            continue
        role = t.take(found, stub)
        if on_evidence is not None:
            on_evidence(found.evidence, role)


def evidence_rows(db: sqlite_utils.Database, sink: C.EvidenceSink) -> None:
    """Hand `sink` every kept Evidence as a `claim_evidence` row, in SQL (`sink.finish` rates them)."""
    sink.add_select(
        "select claim_id, pmid, stance, reason, sentence, weight, counted, retracted, 0, null, informative, "
        "randomized from claim_findings where indirect = 0")
