"""The SQLite database: schema, study upserts with revisions, the runs ledger, FTS.

sqlite-utils owns the schema (tables, FTS, indexes are re-applied idempotently
at every open); the hot write path uses the connection's `executemany` inside
one transaction per batch, which writes rows about twice as fast as
sqlite-utils' row-at-a-time upserts and lets a batch land whole or not at all.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import sqlite_utils

from . import harms, provenance
from .parse import Study

if TYPE_CHECKING:
    from .extract import Extraction

SCHEMA_VERSION = 1

# Columns of `studies` filled from PubMed (the parser); JSON lists are marked.
STUDY_COLUMNS: dict[str, type] = {
    "pmid": str,
    "title": str,
    "abstract": str,
    "journal": str,
    "journal_abbrev": str,
    "volume": str,
    "issue": str,
    "pages": str,
    "year": int,
    "pub_date": str,
    "doi": str,
    "pmcid": str,
    "authors": str,
    "abstract_sections": str,
    "publication_types": str,
    "mesh": str,
    "keywords": str,
    "language": str,
    "nct": str,
    "retracted": int,
    "notices": str,
    "entrez_date": str,
    "revised_date": str,
    "status": str,
    "kind": str,
    "content_hash": str,
}
JSON_COLUMNS = {
    "authors",
    "abstract_sections",
    "publication_types",
    "mesh",
    "keywords",
    "nct",
    "notices",
}
# Columns the extractor fills (DESIGN's vocabularies); null until it has run.
EXTRACTED_COLUMNS: dict[str, type] = {
    "design": str,
    "on_topic": int,
    "headache_types": str,
    "comparators": str,
    "n_randomized": int,
    "outcomes": str,
    "direction": str,
    "evidence_level": str,
    "summary": str,
    "extractor_version": str,
}
FTS_COLUMNS = ["title", "abstract", "mesh"]
# Bookkeeping columns the store keeps.
LEDGER_COLUMNS: dict[str, type] = {
    "deleted_from_pubmed": str,  # when a DeleteCitation withdrew it (the row is kept, flagged)
    "first_seen_run": int,
    "last_changed_run": int,
    "first_seen_at": str,
    "updated_at": str,
}


_to_json = json.JSONEncoder(ensure_ascii=False).encode


def now() -> str:
    """The current UTC time as ISO 8601 to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class Counts:
    """What one run did to the studies table."""

    found: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    problems: list[tuple[str | None, str]] = field(default_factory=list)

    def add(self, other: "Counts") -> None:
        for name in ("found", "new", "updated", "unchanged", "skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems.extend(other.problems)


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if need be) the evidence database with its schema in place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # check_same_thread off: `update.load` writes from one worker thread while the
    # main thread parses; it never uses the connection from two threads at once.
    db = sqlite_utils.Database(sqlite3.connect(path, check_same_thread=False))
    db.conn.execute("PRAGMA busy_timeout = 30000")
    # WAL: Datasette keeps reading while a run writes.
    if db.journal_mode != "wal":
        db.enable_wal()
    ensure_schema(db)
    return db


def db_file(db: sqlite_utils.Database) -> str | None:
    """The file of the connection's main database (None: in memory)."""
    for _, name, path in db.execute("pragma database_list").fetchall():
        if name == "main" and path:
            return path
    return None


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create or complete every table, index and FTS index; harmless to repeat."""
    studies = db.table("studies")
    columns = {**STUDY_COLUMNS, **EXTRACTED_COLUMNS, **LEDGER_COLUMNS}
    if not studies.exists():
        studies.create(columns, pk="pmid", not_null={"title"})
    else:
        missing = {c: t for c, t in columns.items() if c not in studies.columns_dict}
        for name, kind in missing.items():
            studies.add_column(name, kind)
    # on_topic: a default facet and most canned queries' filter; first_seen_at: the
    # "new" feeds and queries (serving 100,000 studies, issue 15).
    # (on_topic, year): the studies page opens on the on-topic rows, newest first, and
    # counts them (it replaced an index on on_topic alone, of which it is a prefix).
    # extractor_version: every run counts the studies left to extract (`pending_count`,
    # twice) from this narrow index, not by reading every row of the table.
    for cols in (["year"], ["entrez_date"], ["first_seen_run"], ["on_topic", "year"], ["first_seen_at"],
                 ["extractor_version"]):
        studies.create_index(cols, if_not_exists=True)
    db.execute("drop index if exists idx_studies_on_topic")
    # The first version kept the index with row triggers; `save_studies` now
    # writes it in bulk, so old triggers would index every change twice.
    old_triggers = [t.name for t in db.triggers if t.name in ("studies_ai", "studies_ad", "studies_au")]
    for name in old_triggers:
        db.execute(f"drop trigger [{name}]")
    if old_triggers and db["studies_fts"].exists():
        db.execute("insert into studies_fts (studies_fts) values ('rebuild')")
    if not db["studies_fts"].exists():
        # No triggers: `save_studies` (the only writer of these columns) updates the
        # index in bulk per batch, about four times faster than row triggers, and
        # updates of other columns (extraction) do not touch the index at all.
        studies.enable_fts(FTS_COLUMNS, create_triggers=False, tokenize="porter")

    ensure_study_facets(db)
    drop_orphan_triggers(db)

    db.table("raw_records").create(
        {"pmid": str, "xml": str, "content_hash": str}, pk="pmid", if_not_exists=True
    )
    db.table("revisions").create(
        {
            "id": int,
            "pmid": str,
            "run_id": int,
            "replaced_at": str,
            "content_hash": str,
            "record": str,  # the studies row as it was, JSON
            "xml": str,  # its raw PubMed XML
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("revisions").create_index(["pmid"], if_not_exists=True)
    db.table("runs").create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "status": str,  # running, ok, failed
            "command": str,
            "source": str,  # pubmed, snapshot, file
            "source_detail": str,
            "query": str,
            "window": str,  # the PubMed date window asked for, if incremental
            "found": int,
            "new": int,
            "updated": int,
            "unchanged": int,
            "skipped": int,
            "extracted": int,
            "error": str,
        },
        pk="id",
        if_not_exists=True,
    )
    if "extracted" not in db["runs"].columns_dict:
        db["runs"].add_column("extracted", int)
    db.table("run_problems").create(
        {"id": int, "run_id": int, "pmid": str, "reason": str},
        pk="id",
        if_not_exists=True,
    )
    db.table("effects").create(
        {
            "id": int,
            "pmid": str,
            "outcome": str,
            "measure": str,
            "value": float,
            "ci_low": float,
            "ci_high": float,
            "p_value": str,  # as reported, normalised: "<0.001", "=0.03"
            "time_point": str,
            "comparison": str,
            "value_text": str,  # the estimate as written
            "sentence": str,  # the sentence it came from, verbatim
            "sentence_start": int,  # offsets of the sentence in studies.abstract
            "sentence_end": int,
            "value_start": int,  # offset of value_text in studies.abstract
            "extractor_version": str,
            "level": str,  # between_groups, within_group, arm (or null): see effects.Effect
        },
        pk="id",
        foreign_keys=[("pmid", "studies", "pmid")],
        if_not_exists=True,
    )
    if "level" not in db["effects"].columns_dict:  # databases made before effects had a level
        db["effects"].add_column("level", str)
    db.table("effects").create_index(["pmid", "outcome"], if_not_exists=True)
    db.table("effects").create_index(["outcome", "measure"], if_not_exists=True)
    db.table("claims").create(
        {
            "id": str, "position": int, "text": str, "quote": str, "outcomes": str,
            "headache_types": str, "comparators": str, "rewording": str, "verdict": str,
            "verdict_label": str, "explanation": str, "supporting": int, "contradicting": int,
            "neutral": int, "comparable": int, "studies_considered": int,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("claim_evidence").create(
        {
            "claim_id": str, "pmid": str, "stance": str, "reason": str, "sentence": str,
            "weight": float, "counted": int, "retracted": int,
        },
        pk=("claim_id", "pmid"),
        foreign_keys=[("claim_id", "claims", "id"), ("pmid", "studies", "pmid")],
        if_not_exists=True,
    )
    db.table("digests").create(
        {"id": int, "created_at": str, "source": str, "verdicts": str, "pmids": str, "retracted": str},
        pk="id",
        if_not_exists=True,
    )
    db.table("emails_sent").create(
        {
            "id": int, "week": str, "sent_at": str, "subject": str, "message_id": str,
            "recipients": int,  # how many (addresses are not stored)
            "covered_from": str, "new_pmids": str, "verdict_changes": str, "retracted_pmids": str,
            "verdicts": str,  # every claim's verdict when sent, for next week's comparison
            "flagged": str,  # retracted or noticed PMIDs when sent
            "forced": int,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("emails_sent").create_index(["week"], if_not_exists=True)
    if "message" not in db["emails_sent"].columns_dict:
        # The accepted message (its To header removed: no addresses), kept only while
        # some recipient of that week is still to be retried, so they get the same email.
        db["emails_sent"].add_column("message", bytes)
    # Who got (or refused) which week's email, one row per week and recipient. A
    # recipient is a keyed hash (pipeline.mailer.recipient_key), never the address.
    db.table("email_recipients").create(
        {
            "week": str, "recipient": str,
            "status": str,  # accepted, refused (5xx, or gave up after repeated 4xx), deferred (4xx: retried)
            "attempts": int,  # temporary refusals so far this week
            "code": int, "reply": str,  # the server's last answer to RCPT (the address taken out)
            "email_id": int,  # the emails_sent row it was accepted in, or refused from (null while none was accepted)
            "updated_at": str,
        },
        pk=("week", "recipient"),
        foreign_keys=[("email_id", "emails_sent", "id")],
        if_not_exists=True,
    )
    # Rendered citations, one per study and style, kept while the study's citation
    # key (a hash of what the entry is rendered from) is unchanged: `cite.citations`.
    db.table("citations").create(
        {"pmid": str, "style": str, "key": str, "text": str}, pk=("pmid", "style"), if_not_exists=True
    )
    provenance.ensure_table(db)
    harms.ensure_table(db)
    ensure_serving_indexes(db)
    db.table("meta").create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db.table("meta").upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")


# --- study_facets: the studies' facet columns in a narrow table ------------------
# Serving 100,000 studies (issue 15): the studies page counts its facets (design,
# on topic, direction, year, headache types, comparators, outcomes) over every
# row its filters or search match. Read from `studies` that is a row of ~4 kB
# (abstract, authors, sections: most rows spill onto an overflow page) per study
# per facet; the three JSON-list facets parse every list besides. `study_facets`
# holds just those columns (and a few more one filters on), one narrow row per
# study under the study's own rowid (so Datasette's search clause, `rowid in
# (select rowid from studies_fts ...)`, and its filters apply to it unchanged),
# and `facet_id`: the study's facet values but year, as one JSON array, are a
# row of `facet_keys` (one per distinct combination). The plugin counts the
# matching rows per (facet_id, year) in one query and expands the few keys into
# each facet's counts (pipeline/datasette_plugin.py, "Facets of the studies table").
#
# Triggers on `studies` keep it in step with every writer: the loader
# (save_studies), the extractor (save_extractions), a person's corrections
# (pipeline/checked.py updates studies), anything else that inserts, updates or
# deletes a study. Like the FTS index it relies on a study's rowid staying the
# same; VACUUM keeps rowids (tests/test_serve_scale.py checks it). `facet_keys`
# only grows (a combination no study has any more counts for nothing) until
# rebuild_study_facets.
STUDY_FACET_COLUMNS: dict[str, str] = {
    "pmid": "text", "year": "integer", "design": "text", "on_topic": "integer", "direction": "text",
    "evidence_level": "text", "n_randomized": "integer", "retracted": "integer",
    "headache_types": "text", "comparators": "text", "outcomes": "text",
}
# The facets counted through facet_keys, in the key's order; the JSON lists are
# marked. Not year: ~50 values would multiply the distinct keys by as much.
FACET_KEY_COLUMNS = ("design", "on_topic", "direction", "headache_types", "comparators", "outcomes")
FACET_KEY_LISTS = {"headache_types", "comparators", "outcomes"}


def _facet_key_sql(row: str) -> str:
    """The facet key of a studies row (`new` or a table name): a JSON array of the
    columns' values as stored, the lists as their JSON text (not parsed here: a
    trigger runs on every write, and must never fail one on a malformed list;
    facet_values reads them)."""
    return f"json_array({', '.join(f'{row}.[{c}]' for c in FACET_KEY_COLUMNS)})"


def facet_values(key: str) -> dict[str, object]:
    """A facet key as {column: value}, the lists parsed (a list that is not valid
    JSON, or not a list, counts as none)."""
    values = dict(zip(FACET_KEY_COLUMNS, json.loads(key)))
    for column in FACET_KEY_LISTS:
        try:
            items = json.loads(values[column]) if values[column] else []
        except (TypeError, ValueError):
            items = []
        values[column] = items if isinstance(items, list) else []
    return values


def _study_facets_values(row: str) -> str:
    key = _facet_key_sql(row)
    return ", ".join([f"{row}.rowid", *(f"{row}.[{c}]" for c in STUDY_FACET_COLUMNS),
                      f"(SELECT id FROM facet_keys WHERE key = {key})"])


_FACET_NAMES = ", ".join(["id", *(f"[{c}]" for c in STUDY_FACET_COLUMNS), "facet_id"])
_WRITE_FACETS = (
    f"INSERT OR IGNORE INTO facet_keys (key) VALUES ({_facet_key_sql('new')}); "
    f"INSERT OR REPLACE INTO study_facets ({_FACET_NAMES}) VALUES ({_study_facets_values('new')}); "
)
STUDY_FACET_TRIGGERS = {
    "study_facets_insert": f"CREATE TRIGGER study_facets_insert AFTER INSERT ON studies BEGIN {_WRITE_FACETS}END",
    "study_facets_update": (
        f"CREATE TRIGGER study_facets_update AFTER UPDATE OF {', '.join(f'[{c}]' for c in STUDY_FACET_COLUMNS)} "
        "ON studies WHEN "
        + " OR ".join(["old.rowid IS NOT new.rowid", *(f"old.[{c}] IS NOT new.[{c}]" for c in STUDY_FACET_COLUMNS)])
        + " BEGIN DELETE FROM study_facets WHERE id = old.rowid AND old.rowid IS NOT new.rowid; "
        + f"{_WRITE_FACETS}END"
    ),
    "study_facets_delete": (
        "CREATE TRIGGER study_facets_delete AFTER DELETE ON studies BEGIN "
        "DELETE FROM study_facets WHERE id = old.rowid; END"
    ),
}


def ensure_study_facets(db: sqlite_utils.Database) -> None:
    """Create `study_facets` and `facet_keys`, their indexes and triggers; refill them
    when new, when the triggers changed, or when study_facets has not the studies'
    row count (a database written by a version without it)."""
    wanted = {"id", *STUDY_FACET_COLUMNS, "facet_id"}
    rebuild = not db["study_facets"].exists() or not db["facet_keys"].exists()
    if db["study_facets"].exists() and set(db["study_facets"].columns_dict) != wanted:
        db.execute("drop table study_facets")
        rebuild = True
    cols = ", ".join(f"[{c}] {t}" for c, t in STUDY_FACET_COLUMNS.items())
    db.execute(f"create table if not exists study_facets (id integer primary key, {cols}, facet_id integer)")
    db.execute("create table if not exists facet_keys (id integer primary key, key text not null unique)")
    # (facet_id, year): every study's facets in one ordered pass; after on_topic:
    # the studies page's default view (on-topic rows).
    db.execute("create index if not exists idx_study_facets_key on study_facets (facet_id, year)")
    db.execute("create index if not exists idx_study_facets_on_topic_key on study_facets (on_topic, facet_id, year)")
    existing = dict(db.execute("select name, sql from sqlite_master where type = 'trigger' and name like 'study_facets_%'"))
    for name, sql in STUDY_FACET_TRIGGERS.items():
        if existing.get(name) != sql:
            db.execute(f"drop trigger if exists [{name}]")
            db.execute(sql)
            rebuild = True
    if not rebuild:
        counts = db.execute("select (select count(*) from studies), (select count(*) from study_facets)").fetchone()
        rebuild = counts[0] != counts[1]
    if rebuild:
        rebuild_study_facets(db)


def rebuild_study_facets(db: sqlite_utils.Database) -> None:
    """Refill `study_facets` and `facet_keys` from `studies` (what the triggers keep them as)."""
    with db.conn:
        db.conn.execute("delete from study_facets")
        db.conn.execute("delete from facet_keys")
        db.conn.execute(f"insert or ignore into facet_keys (key) select {_facet_key_sql('studies')} from studies")
        db.conn.execute(
            f"insert into study_facets ({_FACET_NAMES}) select {_study_facets_values('studies')} from studies"
        )


def drop_orphan_triggers(db: sqlite_utils.Database) -> None:
    """Drop `pipeline.findings`' triggers if their table is gone (dropped by hand): they
    would fail every write to the studies, effects and harms. The next assessment
    creates both again, and judges every study."""
    if not db["claim_findings_keys"].exists():
        prefix = "claim_findings_forget_"  # findings.TRIGGERS (not imported: the claims stay unloaded)
        for (name,) in db.execute("select name from sqlite_master where type = 'trigger' and substr(name, 1, ?) = ?",
                                  [len(prefix), prefix]).fetchall():
            db.execute(f"drop trigger [{name}]")


# Indexes for the canned queries of db/metadata.yml at 100,000 studies (issue 15),
# each named after what it serves; with the older indexes each one replaces.
SERVING_INDEXES = {
    # rct_effects: the trials in the query's order (on topic first, newest first),
    # so the first rows come without sorting every trial's effects.
    "idx_studies_design_order": "studies (design, on_topic desc, year desc, pmid)",
    # new_since: its order, with the two dates it filters on.
    "idx_studies_new_order": "studies (on_topic desc, coalesce(entrez_date, first_seen_at) desc, first_seen_at, entrez_date)",
    # retracted_or_flagged: the few flagged studies only (a partial index; its
    # WHERE is the query's, word for word).
    "idx_studies_flagged": "studies (retracted desc, year desc) where retracted = 1 or (notices is not null and notices != '[]')",
    # unchecked_behind_verdicts (study_checks' claims_resting_on_it): the claims
    # counting each study, found by study (the primary key starts with the claim).
    "idx_claim_evidence_pmid": "claim_evidence (pmid, counted, claim_id)",
    # study_checks' low_confidence_values: per study and confidence.
    "idx_extraction_evidence_pmid_confidence": "extraction_evidence (pmid, confidence)",
}
REPLACED_INDEXES = (
    "idx_studies_design",  # a prefix of idx_studies_design_order
    "idx_effects_pmid",  # a prefix of idx_effects_pmid_outcome (rct_effects' order within a study)
)


def ensure_serving_indexes(db: sqlite_utils.Database) -> None:
    tables = set(db.table_names())
    for name, spec in SERVING_INDEXES.items():
        if spec.split(" ", 1)[0] in tables:
            db.execute(f"create index if not exists {name} on {spec}")
    for name in REPLACED_INDEXES:
        db.execute(f"drop index if exists {name}")


def study_row(study: Study) -> dict:
    """The `studies` columns a parsed study fills."""
    row = {name: getattr(study, name) for name in STUDY_COLUMNS}
    row["authors"] = [vars(a) for a in study.authors]
    for name in JSON_COLUMNS:
        row[name] = _to_json(row[name]) if row[name] else "[]"
    row["retracted"] = int(study.retracted)
    return row


class KnownHashes:
    """PMID → content hash of every study stored before a run, to skip unchanged
    records before parsing (what the run stores itself is not added: save_studies
    asks the database). Held compactly, since it holds a row for every study: a
    numeric PMID as an int and a hex SHA-256 as the first 16 bytes of its digest
    (about 130 bytes a study instead of 220)."""

    __slots__ = ("_hashes",)

    def __init__(self, rows: Iterable[tuple[str, str | None]] = ()):
        self._hashes: dict[int | str, bytes | str | None] = {pmid_key(p): _hash_key(h) for p, h in rows}

    def __contains__(self, pmid: str | None) -> bool:
        return pmid is not None and pmid_key(pmid) in self._hashes

    def __len__(self) -> int:
        return len(self._hashes)

    def same(self, pmid: str, content_hash: str | None) -> bool:
        """Whether `pmid` is stored with this content hash (the record is unchanged)."""
        key = pmid_key(pmid)
        return key in self._hashes and self._hashes[key] == _hash_key(content_hash)


def pmid_key(pmid: str) -> int | str:
    """A PMID as a dictionary key that costs little memory: an int where it is a
    plain number (a PMID with a leading zero is not PubMed's: kept as written)."""
    return int(pmid) if pmid.isdigit() and pmid[0] != "0" and pmid.isascii() else pmid


def _hash_key(content_hash: str | None) -> bytes | str | None:
    if content_hash is None or len(content_hash) != 64:
        return content_hash
    try:
        return bytes.fromhex(content_hash)[:16]  # 128 bits: no two versions of a study collide
    except ValueError:
        return content_hash


def known_hashes(db: sqlite_utils.Database) -> KnownHashes:
    """PMID → content hash of every stored study (see KnownHashes)."""
    return KnownHashes(db.execute("select pmid, content_hash from studies"))


def save_studies(
    db: sqlite_utils.Database, studies: Iterable[Study], run_id: int
) -> tuple[list[str], list[str]]:
    """Insert new and update changed studies in one transaction; returns (new, updated) PMIDs.

    Which are stored already is asked of the database, batch by batch, so that
    nothing kept in memory grows with the studies a run stores. A changed study's
    previous row and XML go to `revisions` first, and its extraction is cleared so
    the extractor runs on the new text.
    """
    studies = list(studies)
    stored = _stored_pmids(db, [s.pmid for s in studies])
    new_rows, changed_rows = [], []
    for study in studies:
        row = study_row(study)
        (changed_rows if study.pmid in stored else new_rows).append((row, study.raw_xml))
    if not new_rows and not changed_rows:
        return [], []
    stamp = now()
    cols = list(STUDY_COLUMNS)
    conn = db.conn
    with conn:  # one transaction: the batch lands whole or not at all
        if changed_rows:
            pmids = [r["pmid"] for r, _ in changed_rows]
            _save_revisions(db, pmids, run_id, stamp)
            _fts(db, "delete", pmids)
            assignments = ", ".join(f"[{c}] = :{c}" for c in cols if c != "pmid")
            extracted = ", ".join(f"[{c}] = null" for c in EXTRACTED_COLUMNS)
            conn.executemany(
                f"update studies set {assignments}, {extracted}, "
                "last_changed_run = :run_id, updated_at = :stamp where pmid = :pmid",
                [{**r, "run_id": run_id, "stamp": stamp} for r, _ in changed_rows],
            )
        if new_rows:
            names = cols + ["first_seen_run", "last_changed_run", "first_seen_at", "updated_at"]
            conn.executemany(
                f"insert into studies ({', '.join(f'[{c}]' for c in names)}) "
                f"values ({', '.join(':' + c for c in names)})",
                [
                    {**r, "first_seen_run": run_id, "last_changed_run": run_id,
                     "first_seen_at": stamp, "updated_at": stamp}
                    for r, _ in new_rows
                ],
            )
        conn.executemany(
            "insert into raw_records (pmid, xml, content_hash) values (?, ?, ?) "
            "on conflict(pmid) do update set xml = excluded.xml, content_hash = excluded.content_hash",
            [(r["pmid"], raw.decode("utf-8"), r["content_hash"]) for r, raw in new_rows + changed_rows],
        )
        _fts(db, "insert", [r["pmid"] for r, _ in new_rows + changed_rows])
    return [r["pmid"] for r, _ in new_rows], [r["pmid"] for r, _ in changed_rows]


def _stored_pmids(db: sqlite_utils.Database, pmids: list[str]) -> set[str]:
    """Which of `pmids` have a row in `studies`."""
    found: set[str] = set()
    for start in range(0, len(pmids), 500):
        chunk = pmids[start : start + 500]
        found.update(p for (p,) in db.execute(f"select pmid from studies where pmid in ({', '.join('?' * len(chunk))})", chunk))
    return found


def _fts(db: sqlite_utils.Database, action: str, pmids: list[str]) -> None:
    """Add (`insert`) or remove (`delete`, before a change) these studies in the FTS index."""
    cols = ", ".join(FTS_COLUMNS)
    head = (
        f"insert into studies_fts (studies_fts, rowid, {cols}) select 'delete', rowid, {cols}"
        if action == "delete"
        else f"insert into studies_fts (rowid, {cols}) select rowid, {cols}"
    )
    for start in range(0, len(pmids), 1000):
        chunk = pmids[start : start + 1000]
        db.conn.execute(f"{head} from studies where pmid in ({', '.join('?' * len(chunk))})", chunk)


def _save_revisions(db: sqlite_utils.Database, pmids: list[str], run_id: int, stamp: str) -> None:
    """Copy the current rows (and raw XML) of `pmids` into `revisions`."""
    for chunk_start in range(0, len(pmids), 500):
        chunk = pmids[chunk_start : chunk_start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = db.execute(f"select * from studies where pmid in ({marks})", chunk)
        names = [d[0] for d in rows.description]
        raw = dict(db.execute(f"select pmid, xml from raw_records where pmid in ({marks})", chunk))
        db.conn.executemany(
            "insert into revisions (pmid, run_id, replaced_at, content_hash, record, xml) "
            "values (?, ?, ?, ?, ?, ?)",
            [
                (
                    rec["pmid"],
                    run_id,
                    stamp,
                    rec["content_hash"],
                    json.dumps(rec, ensure_ascii=False),
                    raw.get(rec["pmid"]),
                )
                for rec in (dict(zip(names, values)) for values in rows.fetchall())
            ],
        )


def pending_extraction(
    db: sqlite_utils.Database, *, everything: bool = False, version: str | None = None
) -> list[dict]:
    """Studies the extractor has not yet read (new or changed) or read with another
    `version` of its rules, or all with `everything`."""
    where, params = "", []
    if not everything:
        where = "where extractor_version is null" + (" or extractor_version != ?" if version else "")
        params = [version] if version else []
    return list(
        db.query(f"select pmid, title, abstract, publication_types, mesh from studies {where} order by pmid", params)
    )


def pending_count(db: sqlite_utils.Database, *, everything: bool = False, version: str | None = None) -> int:
    """How many studies `iter_pending` would yield."""
    where, params = _pending_where(everything, version)
    return db.execute(f"select count(*) from studies {where}", params).fetchone()[0]


def iter_pending(
    db: sqlite_utils.Database, *, everything: bool = False, version: str | None = None, page: int = 500
) -> Iterator[tuple[str, str, str, str, str]]:
    """(pmid, title, abstract, publication_types, mesh) of the studies `pending_extraction`
    lists, read a page at a time in PMID order (keyset), so memory does not grow with
    the database and no cursor stays open while the caller writes."""
    where, params = _pending_where(everything, version)
    where = f"{where} and" if where else "where"
    last = ""
    while True:
        rows = db.execute(
            f"select pmid, title, abstract, publication_types, mesh from studies {where} pmid > ? "
            f"order by pmid limit {int(page)}",
            [*params, last],
        ).fetchall()
        yield from rows
        if len(rows) < page:
            return
        last = rows[-1][0]


def _pending_where(everything: bool, version: str | None) -> tuple[str, list]:
    if everything:
        return "", []
    where = "where (extractor_version is null" + (" or extractor_version != ?)" if version else ")")
    return where, [version] if version else []


def save_extractions(db: sqlite_utils.Database, items: list[tuple[str, "Extraction"]]) -> None:
    """Write extracted columns and replace each study's effects, in one transaction."""
    if not items:
        return
    with db.conn:
        db.conn.executemany(
            "update studies set design = ?, on_topic = ?, headache_types = ?, comparators = ?, "
            "n_randomized = ?, outcomes = ?, direction = ?, evidence_level = ?, summary = ?, "
            "extractor_version = ? where pmid = ?",
            [
                (
                    x.design, int(x.on_topic), _to_json(x.headache_types), _to_json(x.comparators),
                    x.n_randomized, _to_json(x.outcomes), x.direction, x.evidence_level, x.summary,
                    x.version, pmid,
                )
                for pmid, x in items
            ],
        )
        pmids = [pmid for pmid, _ in items]
        for start in range(0, len(pmids), 500):
            chunk = pmids[start : start + 500]
            db.conn.execute(f"delete from effects where pmid in ({', '.join('?' * len(chunk))})", chunk)
        db.conn.executemany(
            "insert into effects (pmid, outcome, measure, value, ci_low, ci_high, p_value, time_point, "
            "comparison, value_text, sentence, sentence_start, sentence_end, value_start, extractor_version, level) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    pmid, e.outcome, e.measure, e.value, e.ci_low, e.ci_high, e.p_value, e.time_point,
                    e.comparison, e.value_text, e.sentence, e.sentence_start, e.sentence_end,
                    e.value_start, x.version, e.level,
                )
                for pmid, x in items
                for e in x.effects
            ],
        )
        provenance.save(db, [(pmid, x.reasons, x.version) for pmid, x in items])
        harms.write(db, [(pmid, x.harms_reported, x.harms) for pmid, x in items])


def mark_deleted(db: sqlite_utils.Database, pmids: list[str]) -> list[str]:
    """Flag stored studies that PubMed withdrew (DeleteCitation); returns those flagged now."""
    stamp = now()
    flagged = []
    with db.conn:
        for pmid in pmids:
            cursor = db.conn.execute(
                "update studies set deleted_from_pubmed = ? where pmid = ? and deleted_from_pubmed is null", [stamp, pmid]
            )
            if cursor.rowcount:
                flagged.append(pmid)
    return flagged


def raw_xml(db: sqlite_utils.Database, pmid: str) -> bytes | None:
    """The stored PubMed XML of one record."""
    row = db.execute("select xml from raw_records where pmid = ?", [pmid]).fetchone()
    if not row:
        return None
    if isinstance(row[0], bytes):  # the first version stored it zlib-compressed
        return zlib.decompress(row[0]) if row[0][:1] == b"x" else row[0]
    return row[0].encode("utf-8")


# --- runs ledger ------------------------------------------------------------


def start_run(
    db: sqlite_utils.Database,
    *,
    command: str,
    source: str,
    source_detail: str | None = None,
    query: str | None = None,
    window: str | None = None,
) -> int:
    """Open a `runs` row with status 'running'; returns its id."""
    with db.conn:
        cursor = db.conn.execute(
            "insert into runs (started_at, status, command, source, source_detail, query, [window]) "
            "values (?, 'running', ?, ?, ?, ?, ?)",
            [now(), command, source, source_detail, query, window],
        )
    return int(cursor.lastrowid)


def update_run(db: sqlite_utils.Database, run_id: int, **values: object) -> None:
    with db.conn:
        db["runs"].update(run_id, values)


# A run that has stored its records but not yet extracted them and written the
# digest: not 'ok' until then, so a run killed in those stages never counts as a
# successful update (nor moves the incremental watermark).
LOADED = "loaded"


def finish_run(
    db: sqlite_utils.Database, run_id: int, counts: Counts, *, error: str | None = None, done: bool = True
) -> None:
    """Close a run's load: counts, problems, end time, and status ok or failed
    (or LOADED, with `done=False`, until `complete_run` is called)."""
    with db.conn:
        db["runs"].update(
            run_id,
            {
                "finished_at": now(),
                "status": "failed" if error else "ok" if done else LOADED,
                "found": counts.found,
                "new": counts.new,
                "updated": counts.updated,
                "unchanged": counts.unchanged,
                "skipped": counts.skipped,
                "error": error,
            },
        )
        if counts.problems:
            db["run_problems"].insert_all(
                [{"run_id": run_id, "pmid": p, "reason": r} for p, r in counts.problems]
            )


def complete_run(db: sqlite_utils.Database, run_id: int) -> None:
    """A LOADED run whose later stages (extraction, digest) have finished: now ok."""
    with db.conn:
        db.conn.execute(
            "update runs set status = 'ok', finished_at = ? where id = ? and status = ?", [now(), run_id, LOADED]
        )


def fail_run(db: sqlite_utils.Database, run_id: int, error: str) -> None:
    """Mark a run failed after its load (e.g. extraction or the digest raised)."""
    with db.conn:
        db.conn.execute(
            "update runs set status = 'failed', finished_at = ?, error = coalesce(error, ?) where id = ?",
            [now(), error, run_id],
        )


def last_ok_run(db: sqlite_utils.Database, *, source: str, query: str) -> dict | None:
    """The latest successful run from `source` for `query` (the incremental watermark)."""
    rows = list(
        db["runs"].rows_where(
            "status = 'ok' and source = ? and query = ?",
            [source, query],
            order_by="id desc",
            limit=1,
        )
    )
    return rows[0] if rows else None


# Runs that update the data (an email run is in the ledger too, but updates nothing).
# A LOADED run counts: its records are stored, and it is the run whose digest is
# being written; a killed one is marked failed under the next run's lock.
LAST_UPDATE_SQL = (
    "select finished_at, source, source_detail from runs "
    "where status in ('ok', 'loaded') and command in ('run', 'import') order by id desc limit 1"
)


def last_update(db: sqlite_utils.Database) -> dict | None:
    """The latest successful run that updated the data (run or import)."""
    row = db.execute(LAST_UPDATE_SQL).fetchone()
    return dict(zip(("finished_at", "source", "source_detail"), row)) if row else None


def failed_updates_since_last_ok(db: sqlite_utils.Database) -> int:
    return db.execute(
        "select count(*) from runs where status = 'failed' and command in ('run', 'import') and id > coalesce("
        "(select max(id) from runs where status in ('ok', 'loaded') and command in ('run', 'import')), 0)"
    ).fetchone()[0]


def fail_stale_runs(db: sqlite_utils.Database) -> None:
    """Mark runs left 'running' by a killed process as failed (called under the run lock)."""
    with db.conn:
        db.conn.execute(
            "update runs set status = 'failed', finished_at = coalesce(finished_at, ?), "
            "error = coalesce(error, 'interrupted: the process ended before the run finished') "
            "where status in ('running', ?)",
            [now(), LOADED],
        )
