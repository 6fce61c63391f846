"""Whether the digest must be written again: the hash of everything it is made from
(`fingerprint`), and the check `digest.write_digest` makes before building it.

Kept apart from `pipeline.digest` so that a run that changed nothing (an unchanged
re-import) decides to leave the digest as it is without importing what only
building it needs (the claims and certainty rules, the citation styles, Jinja2,
the registry cross-check): `pipeline.cli` imports the digest module only when the
digest is to be written. Imports nothing heavier than `pipeline.store`."""

from __future__ import annotations

import hashlib
import logging
import marshal
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils

from . import store
from .freshness import freshness
from .topic import PROJECT_ROOT

if TYPE_CHECKING:
    from .topic import Topic

TEMPLATES = PROJECT_ROOT / "templates" / "digest"
# The digest's own logger: the message that it was left as it is comes from it, as before.
log = logging.getLogger("pipeline.digest")

# Code and templates whose change changes the digest (this module's own among them:
# it decides when the digest is written).
_CODE = ("digest.py", "digest_fingerprint.py", "claims.py", "claim_kinds.py", "certainty.py", "cite.py", "csl.py",
         "forest.py", "freshness.py", "rewording.py", "vocab.py", "terms.py", "registry.py", "checked.py", "findings.py")


@dataclass(frozen=True)
class Check:
    """The digest's fingerprint, and whether the digest in `out_dir` (its `paths`) is the
    one these inputs make, so that it is left as it is."""

    fingerprint: str
    unchanged: bool
    paths: tuple[Path, Path]


def check(db: sqlite_utils.Database, topic: Topic, out_dir: Path, *, force: bool | None = None) -> Check:
    """Is the digest in `out_dir` up to date? Within a run (`run`, `import`: its run is
    LOADED, its later stages under way) it is when the last digest recorded was made
    from the same inputs (`fingerprint`) and both its files are still there. Outside a
    run, or with `force=True`, never (it is always written); `force=False` compares
    outside a run too. Says so in the log when it is left as it is."""
    paths = (out_dir / "digest.html", out_dir / "digest.md")
    fp = fingerprint(db, topic, out_dir)
    if force is None:
        force = not db.execute("select 1 from runs where status = ? limit 1", [store.LOADED]).fetchone()
    unchanged = not force and paths[0].exists() and paths[1].exists() and _last_fingerprint(db) == fp
    if unchanged:
        log.info("digest unchanged (same studies, claims, topic and templates): not rewritten")
    return Check(fp, unchanged, paths)


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _last_fingerprint(db: sqlite_utils.Database) -> str | None:
    if "fingerprint" not in db["digests"].columns_dict:
        return None
    row = db.execute("select fingerprint from digests order by id desc limit 1").fetchone()
    return row[0] if row else None


def fingerprint(db: sqlite_utils.Database, topic: Topic, out_dir: Path) -> str:
    """A hash of everything the digest is made from: each study's stored content hash,
    extracted fields and flags, the effects, the checks a person made (applied or stale)
    and the low-confidence readings, the registered trials and their publications (and
    today: months since completion), the topic file and article, the templates
    and the code, where it is written, and what its data and run lines say (to the
    day: a second run the same day that changed nothing leaves the digest as it is).

    Reads one narrow row per study (no abstracts): linear, ~0.1 s for 20,000 studies
    (most of it SQLite handing the rows to Python)."""
    h = hashlib.blake2b(digest_size=20)

    def add(value: object) -> None:
        h.update(repr(value).encode("utf-8", "surrogatepass"))
        h.update(b"\0")

    def add_rows(rows: list[tuple]) -> None:
        # marshal version 0 (no back-references): bytes that depend only on the values
        # and their types (str, int, float, bytes, None), so equal rows hash alike and
        # any difference changes the hash; about four times faster than repr.
        h.update(marshal.dumps(rows, 0))
        h.update(b"\0")

    here = Path(__file__).resolve().parent
    for name in _CODE:
        add(name)
        if (here / name).exists():
            h.update((here / name).read_bytes())
    for template in sorted(TEMPLATES.glob("digest.*.j2")):
        add(template.name)
        h.update(template.read_bytes())
    add(str(Path(topic.path).resolve()))
    h.update(Path(topic.path).read_bytes())
    if topic.article_path:
        h.update(topic.article_path.read_bytes())
    add(str(Path(out_dir).resolve()))
    fresh = freshness(db).as_dict()
    for key in ("last_run_at", "last_live_at"):
        fresh[key] = (fresh[key] or "")[:10]
    fresh.pop("run_line", None)
    fresh.pop("data_line", None)
    add(sorted(fresh.items()))
    add(store.last_update(db) and {k: v for k, v in store.last_update(db).items() if k != "finished_at"})
    columns = [c for c in ("pmid", "content_hash", "retracted", "deleted_from_pubmed", "first_seen_run",
                           "extractor_version", "design", "on_topic", "headache_types", "comparators",
                           "n_randomized", "outcomes", "direction", "evidence_level", "summary")
               if c in db["studies"].columns_dict]
    cursor = db.execute(f"select {', '.join(columns)} from studies order by pmid")
    while rows := cursor.fetchmany(5000):
        add_rows(rows)
    add(db.execute("select count(*), max(id), total(value), total(ci_low), total(ci_high) from effects").fetchone())
    # Who checked what (stale or applied), and which values the rules read with low confidence.
    for table, sql in (
        ("checked_values", "select pmid, field, action, value, who, checked_on, applied, stale from checked_values "
                           "order by pmid, field"),
        ("extraction_evidence", "select distinct pmid, field from extraction_evidence where confidence = 'low' "
                                "order by pmid, field"),
        # The registry: each trial as the digest shows it, its publications, and the day it was loaded.
        ("trials", "select nct, status, enrollment, enrollment_type, completion_date, primary_completion_date, "
                   "on_topic, outcome_terms, conditions, brief_title, official_title, source, "
                   "substr(fetched_at, 1, 10) from trials order by nct"),
        ("trial_publications", "select nct, pmid, relation, confidence from trial_publications order by nct, pmid"),
    ):
        add(table)
        if db[table].exists():
            cursor = db.execute(sql)
            while rows := cursor.fetchmany(5000):
                add_rows(rows)
    add(_today().isoformat())  # months since a trial's completion are counted to today
    return h.hexdigest()

