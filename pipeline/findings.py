"""Each study's findings on the claims, kept so that a run judges only the studies that changed.

What one study gives one claim (`claims.Finding`: its stance and reason, and what the
claim's tally reads of it: certainty `Facts`, harms, a description) depends only on the
study and the rules. It is kept in `claim_findings`, and each judged study in
`claim_findings_keys` under the key of the rules it was judged by (`rules_key`: the
code that judges, the topic's words and claims). Triggers on what the assessment reads
of a study (its `studies` columns, effects and harms) drop its key in the transaction
that changes them, so a kept key vouches for its findings. `refresh` judges the
extracted studies without a key of today's rules (new, revised, re-extracted,
corrected, retracted; every study when the rules moved) and drops the findings of
those no longer extracted, without reading the studies that did not change; `replay`
rebuilds every claim's `Tally` from the kept findings in the order a full assessment
reads the studies, so it is the same assessment (issue 15: an incremental import
re-judged all 20,000 studies for 400 changed, then hashed all 20,000 to find them).

Tables (hidden in Datasette; rebuilt by the next assessment if dropped):
- claim_findings_keys: pmid, key (the rules key), counted (on topic, with results, not
  retracted: the studies the verdicts say they were drawn from);
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
import os
import sqlite3
from pathlib import Path
from typing import Callable, Iterator

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

# What the assessment reads of a study's row (`claims.ASSESS_FIELDS`; the title and
# abstract also through content_hash), and whether it is extracted: a write that
# changes any of them drops its key. Its effects and harms rows are read whole.
_WATCHED = tuple(dict.fromkeys((*C.ASSESS_FIELDS, "content_hash", "extractor_version")))
_ROWS_READ = ("effects", "harms", "harms_reporting")
TRIGGERS = "claim_findings_forget_"  # the triggers' names start so
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


def _forget(name: str, event: str, table: str, pmids: str, when: str = "") -> str:
    return (f"CREATE TRIGGER {TRIGGERS}{name} AFTER {event} ON {table} {when}"
            f"BEGIN DELETE FROM claim_findings_keys WHERE pmid IN ({pmids}); END")


def trigger_sql(db: sqlite_utils.Database) -> dict[str, str]:
    """name → SQL of the triggers that drop a study's key whenever a write changes what
    judging it reads: its watched `studies` columns (an update that leaves them as they
    were drops nothing), or any row of its effects and harms."""
    cols = [c for c in _WATCHED if c in db["studies"].columns_dict]
    changed = " OR ".join(f"old.[{c}] IS NOT new.[{c}]" for c in cols)
    out = {
        # An insert too: INSERT OR REPLACE deletes the old row without firing a delete trigger.
        "studies_insert": _forget("studies_insert", "INSERT", "studies", "new.pmid"),
        "studies_delete": _forget("studies_delete", "DELETE", "studies", "old.pmid"),
        "studies_update": _forget("studies_update", f"UPDATE OF {', '.join(f'[{c}]' for c in cols)}", "studies",
                                  "old.pmid, new.pmid", f"WHEN {changed} "),
    }
    for table in _ROWS_READ:
        if db[table].exists():
            out[f"{table}_insert"] = _forget(f"{table}_insert", "INSERT", table, "new.pmid")
            out[f"{table}_delete"] = _forget(f"{table}_delete", "DELETE", table, "old.pmid")
            out[f"{table}_update"] = _forget(f"{table}_update", "UPDATE", table, "old.pmid, new.pmid")
    return {TRIGGERS + name: sql for name, sql in out.items()}


def ensure_triggers(db: sqlite_utils.Database) -> bool:
    """Create the triggers, or replace them where they differ; True when any was missing
    or different: writes made meanwhile dropped no key, so no kept key can be trusted."""
    wanted = trigger_sql(db)
    have = dict(db.execute("select name, sql from sqlite_master where type = 'trigger' and substr(name, 1, ?) = ?",
                           [len(TRIGGERS), TRIGGERS]))
    if have == wanted:
        return False
    for name in have:
        db.execute(f"drop trigger [{name}]")
    for sql in wanted.values():
        db.execute(sql)
    return True


TODO = "claim_findings_todo"  # the studies a refresh has left to judge (pmid), dropped when done


def refresh(db: sqlite_utils.Database, claims: list[C.Claim]) -> int:
    """Judge the extracted studies without a key of today's rules and drop the findings of
    those no longer extracted; returns how many were judged."""
    ensure_tables(db)
    rules = rules_key(claims)
    # The studies left to judge are found in SQL and stay there (a table the workers' own
    # connections can read, not a temp one), read a page at a time: nothing in memory
    # grows with the number of studies, and no unchanged study is read.
    with db.conn:
        if ensure_triggers(db):  # (a new database; one written by an older version; a table rebuilt)
            db.execute("update claim_findings_keys set key = ''")
        db.execute(f"drop table if exists [{TODO}]")
        db.execute(f"create table [{TODO}] (pmid text primary key)")
        db.execute(f"insert into [{TODO}] select pmid from studies where extractor_version is not null "
                   "and pmid not in (select pmid from claim_findings_keys where key = ?)", [rules])
        # Judged once, no longer extracted (their extraction cleared, or the study removed):
        # a key of other rules, or findings whose key a trigger dropped.
        gone = [pmid for (pmid,) in db.execute(
            f"select pmid from claim_findings_keys where key is not ? and pmid not in (select pmid from [{TODO}]) "
            "union select pmid from claim_findings where pmid not in (select pmid from claim_findings_keys) "
            f"and pmid not in (select pmid from [{TODO}])", [rules])]
        if gone:
            _delete(db, gone)
    try:
        todo = db.execute(f"select count(*) from [{TODO}]").fetchone()[0]
        if not todo:
            return 0
        path = store.db_file(db)
        procs = min(2, os.cpu_count() or 1) if todo >= PARALLEL_FROM and path and not db.conn.in_transaction else 1
        if procs == 1:
            _judge_into(db, claims, rules, None, lambda keys, rows: _write(db, keys, rows))
            return todo
        # Workers read through their own connections (what is committed) a range of PMIDs
        # each, and leave their findings in a file of their own, which the parent copies in.
        # Imported here: an incremental run judges in this process.
        import multiprocessing
        import tempfile
        from concurrent.futures import ProcessPoolExecutor

        cuts = [db.execute(f"select pmid from [{TODO}] order by pmid limit 1 offset ?", [todo * i // procs]).fetchone()[0]
                for i in range(1, procs)]
        ranges = list(zip([None, *cuts], [*cuts, None]))
        with tempfile.TemporaryDirectory(prefix="findings-") as tmp:
            parts = [str(Path(tmp) / f"part{i}.db") for i in range(procs)]
            with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("fork")) as pool:
                for f in [pool.submit(_judge_part, path, claims, rules, span, part) for span, part in zip(ranges, parts)]:
                    f.result()
            for part in parts:
                _absorb(db, part)
        return todo
    finally:
        with db.conn:
            db.execute(f"drop table if exists [{TODO}]")


def _todo_pages(db: sqlite_utils.Database, span: tuple[str | None, str | None] | None) -> Iterator[list[str]]:
    """The PMIDs left to judge, `BATCH` at a time in order, within `span` = [low, high)
    (None: every one; an end None: open)."""
    low, high = span or (None, None)
    after, first = ("" if low is None else low), low is not None
    while True:
        where, args = ("pmid >= ?" if first else "pmid > ?"), [after]
        first = False
        if high is not None:
            where += " and pmid < ?"
            args.append(high)
        page = [pmid for (pmid,) in db.execute(
            f"select pmid from [{TODO}] where {where} order by pmid limit ?", [*args, BATCH])]
        if not page:
            return
        yield page
        after = page[-1]


def _judge_into(db: sqlite_utils.Database, claims: list[C.Claim], rules: str,
                span: tuple[str | None, str | None] | None, write: Callable[[list[tuple], list[tuple]], None]) -> None:
    """Judge the studies left to judge (within `span`), handing `write` each page's key and finding rows."""
    for page in _todo_pages(db, span):
        key_rows: list[tuple] = []
        rows: list[tuple] = []
        for s in C.iter_studies(db, pmids=page, fields=C.ASSESS_FIELDS):
            counted_study = C.counted(s)
            for position, claim in enumerate(claims):
                found = C.find(claim, s, counted_study)
                if found is not None:
                    rows.append(_pack(s, position, claim, found))
            key_rows.append((s["pmid"], rules, int(counted_study)))
        write(key_rows, rows)


def _judge_part(path: str, claims: list[C.Claim], rules: str, span: tuple[str | None, str | None], part: str) -> None:
    """In a worker: judge the studies left to judge in `span`, reading the database at `path`, into the file `part`."""
    db = sqlite_utils.Database(sqlite3.connect(path))
    out = sqlite_utils.Database(sqlite3.connect(part))
    ensure_tables(out)
    _judge_into(db, claims, rules, span, lambda keys, rows: _write(out, keys, rows))
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


def sync_evidence(db: sqlite_utils.Database, tallies: list[C.Tally]) -> int:
    """Make `claim_evidence` the kept Evidence, rated from each claim's finished `Tally`
    (as `evidence_rows` into a `claims.EvidenceSink` and its `finish`), in one pass of
    SQL from `claim_findings` writing only the rows that differ. Returns the rows written."""
    # No copy of every row into a temporary table first (its pages spilled to a file:
    # ~0.15 s at 20,000 studies, whatever changed). Each row is rated as the sink rates it.
    C._ensure_columns(db)
    bodies = [(t.claim.id, int(bool(t.body.randomized.n))) for t in tallies
              if t.claim.kind not in ("safety", "background") and t.verdict is not None]
    values = f"values {', '.join(['(?, ?)'] * len(bodies))}" if bodies else "select null, null where 0"
    rated = "f.counted = 1 and f.informative = 1 and (b.randomized_body = 0 or f.randomized = 1)"
    note = ("case when f.counted = 0 then null when f.informative = 0 then ? "
            "when b.randomized_body = 1 and f.randomized = 0 then ? end")
    rows = (f"with b(claim_id, randomized_body) as ({values}), n as (select f.claim_id, f.pmid, f.stance, f.reason, "
            "f.sentence, f.weight, f.counted, f.retracted, "
            f"case when b.claim_id is null or f.informative is null then 0 else ({rated}) end as rated, "
            f"case when b.claim_id is null or f.informative is null then null else ({note}) end as note, "
            "f.rowid as o from claim_findings f left join b on b.claim_id = f.claim_id where f.indirect = 0) ")
    args = [x for pair in bodies for x in pair] + [certainty.TIE_ASIDE, certainty.NON_RANDOMIZED_ASIDE]
    cols = ", ".join(f"[{c}]" for c in C._EVIDENCE_COLUMNS)
    same = " and ".join(f"c.[{c}] is n.[{c}]" for c in C._EVIDENCE_COLUMNS)
    updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in C._EVIDENCE_COLUMNS if c not in ("claim_id", "pmid"))
    with db.conn:
        before = db.conn.total_changes
        db.conn.execute("delete from claim_evidence where not exists (select 1 from claim_findings f where "
                        "f.pmid = claim_evidence.pmid and f.claim_id = claim_evidence.claim_id and f.indirect = 0)")
        # In the order the sink inserts them (the findings' rowid order), so new rows get the same rowids.
        db.conn.execute(f"{rows}insert into claim_evidence ({cols}) select {cols} from n "
                        f"where not exists (select 1 from claim_evidence c where {same}) order by o "
                        f"on conflict(claim_id, pmid) do update set {updates}", args)
        return db.conn.total_changes - before
