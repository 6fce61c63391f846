"""Plain-text reports for the terminal: a run's summary and `evidence status`."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils

from . import store
from .version import EXTRACTOR_VERSION

if TYPE_CHECKING:
    from .update import RunResult


def run_summary(db: sqlite_utils.Database, db_path: Path, result: "RunResult", digest: Path | None = None) -> str:
    c = result.counts
    total = db["studies"].count
    extracted = db["runs"].get(result.run_id)["extracted"] or 0
    lines = [
        f"Run {result.run_id} {'finished' if result.ok else 'FAILED'}: {result.source.detail}",
        f"  studies found: {c.found}   new: {c.new}   updated: {c.updated}   "
        f"unchanged: {c.unchanged}   skipped: {c.skipped}",
        f"  extracted: {extracted} studies (new, changed, or read by an older extractor; "
        f"{db['effects'].count} effects in the database)",
    ]
    # A study the extractor failed on stays pending (its error was logged as it
    # happened): said here too, so that a count of extracted studies does not hide it.
    failed = store.pending_count(db, version=EXTRACTOR_VERSION)
    if failed:
        lines.append(f"  NOT extracted: {failed} {'study' if failed == 1 else 'studies'} (the extractor failed on "
                     "them; the error is above, and the next run tries again)")
    for pmid, reason in c.problems[:10]:
        lines.append(f"  skipped PMID {pmid or '?'}: {reason}")
    if len(c.problems) > 10:
        lines.append(f"  ... and {len(c.problems) - 10} more (table run_problems)")
    lines.append(f"Database: {db_path} ({total} studies)")
    if digest:
        lines.append(f"Digest: {digest} (open it in a browser; Markdown beside it)")
    if result.ok:
        lines.append("Next: `make serve` to browse the evidence in Datasette, `evidence status` for the run ledger.")
    return "\n".join(lines)


# What a person can do when a run fails, by the source that failed.
FAILURE_HINTS = {
    "pubmed": (
        "PubMed could not be reached or answered badly; nothing stored before was changed. "
        "Check the network and NCBI_EUTILS_URL ({url}), try again later, or run "
        "`evidence run --source auto` to fall back to the bundled snapshot."
    ),
    "file": "Check that the file is PubMed XML (efetch) or MEDLINE text, whole and readable.",
    "snapshot": "The bundled snapshot could not be read: reinstall the project (`make clean run`).",
}


def failure_message(result: "RunResult", eutils_url: str = "") -> str:
    """The error of a failed run, once, with what to do about it."""
    hint = FAILURE_HINTS.get(result.source.name, "")
    text = f"run {result.run_id} failed: {result.error}"
    return f"{text}\n{hint.format(url=eutils_url)}" if hint else text


def status_text(db: sqlite_utils.Database, *, n_runs: int = 5) -> str:
    lines = [f"Studies: {db['studies'].count}"]
    # A study the extractor failed on stays pending (the next run tries it again), as
    # does one read by an older extractor: say so, so that neither passes unseen.
    pending = store.pending_count(db, version=EXTRACTOR_VERSION)
    if pending:
        lines.append(f"NOT extracted by the current extractor ({EXTRACTOR_VERSION}): {pending} "
                     f"{'study' if pending == 1 else 'studies'} (new, changed, read by an older extractor, "
                     "or failed: the next run extracts them; a failure's error is in that run's output)")
    lines.append("")
    lines.append("Last runs:")
    runs = list(db["runs"].rows_where(order_by="id desc", limit=n_runs))
    if not runs:
        lines.append("  (none yet)")
    for r in runs:
        counts = f"found {r['found'] or 0}, new {r['new'] or 0}, updated {r['updated'] or 0}, skipped {r['skipped'] or 0}"
        lines.append(f"  #{r['id']} {r['started_at']} {r['status']:<7} {r['source']:<8} {counts}")
        if r["error"]:
            lines.append(f"      error: {r['error']}")
    lines.append("")
    lines.append("Freshness:")
    lines.extend("  " + line for line in freshness(db))
    sent = db.execute("select week, sent_at from emails_sent order by id desc limit 1").fetchone()
    lines.append(f"  last weekly email: {sent[0] + ' sent ' + sent[1] if sent else 'none sent yet'}")
    if db["checked_values"].exists():
        from . import checked

        lines.extend("  " + line for line in checked.status_lines(db))
    claims = list(db.query("select id, verdict from claims order by position"))
    if claims:
        lines.append("")
        lines.append("Claims:")
        for c in claims:
            lines.append(f"  {c['id']:<28} {c['verdict'].replace('_', ' ')}")
    lines.append("")
    lines.append("By design:")
    for design, n in db.execute(
        "select coalesce(design, '(not extracted yet)'), count(*) from studies group by 1 order by 2 desc"
    ):
        lines.append(f"  {design:<24} {n}")
    lines.append("")
    lines.append("By year:")
    for year, n in db.execute(
        "select coalesce(year, '?'), count(*) from studies group by year order by year desc"
    ):
        lines.append(f"  {year}  {'#' * min(n, 60)} {n}")
    return "\n".join(lines)


def freshness(db: sqlite_utils.Database) -> list[str]:
    """When the data was last refreshed, from where, and the newest record's entry date."""
    out = []
    last_ok = store.last_update(db)
    if last_ok:
        age = _age(last_ok["finished_at"])
        out.append(f"last successful update: {last_ok['finished_at']} ({age} ago, from {last_ok['source']})")
    else:
        out.append("no successful update yet")
    live = db.execute(
        "select finished_at from runs where status = 'ok' and source = 'pubmed' order by id desc limit 1"
    ).fetchone()
    out.append(f"last live PubMed update: {live[0] if live else 'never (snapshot or files only)'}")
    failures = store.failed_updates_since_last_ok(db)
    if failures:
        out.append(f"failed updates since then: {failures}")
    newest = db.execute("select max(entrez_date) from studies").fetchone()[0]
    out.append(f"newest record entered PubMed: {newest or 'unknown'}")
    return out


def _age(stamp: str) -> str:
    delta = datetime.now(timezone.utc) - datetime.fromisoformat(stamp)
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400 * 2:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def trials_text(db: sqlite_utils.Database, result: dict) -> str:
    """What `evidence trials` found: where the records came from, links, and each finding."""
    lines = [
        f"Registry: {result.get('trials', 0)} trials ({result.get('on_topic', 0)} on topic) from "
        f"{result.get('source_detail') or result.get('source')}",
    ]
    if result.get("note"):
        lines.append(f"  note: {result['note']}")
    links = result.get("links") or {}
    if links:
        lines.append("Links to stored studies: " + ", ".join(f"{n} {k.replace(':', ' by ')}" for k, n in links.items()))
    findings = list(db.query(
        "select nct, pmid, kind, severity, detail from trial_findings order by case severity when 'major' then 0 "
        "when 'minor' then 1 else 2 end, kind, nct"
    )) if db["trial_findings"].exists() else []
    if findings:
        lines.append(f"Findings ({len(findings)}):")
        lines += [
            f"  [{f['severity']}] {f['nct']}{' / PMID ' + f['pmid'] if f['pmid'] else ''}: {f['detail']}" for f in findings
        ]
    else:
        lines.append("No findings.")
    lines.append("Browse: `make serve`, then the trials, trial_publications and trial_findings tables.")
    return "\n".join(lines)
