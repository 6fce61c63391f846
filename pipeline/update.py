"""One update: documents from a source → parse → store, recorded in the runs ledger.

This is the order of the pipeline's load stages, kept out of the CLI so the
CLI, the scheduler and the tests all run the same thing. Unchanged records are
recognised by their content hash before they are parsed, so a re-run writes
nothing. Records are written in batches, each in one transaction: a run that
fails part-way leaves every stored record whole, records the failure, and does
not move the incremental watermark, so the next run does the work again.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import sqlite_utils

from . import medline, parallel, store
from .version import EXTRACTOR_VERSION
from .parse import DocumentError, MalformedRecord, Study
from .sources import Source

if TYPE_CHECKING:
    from .extract import Extraction

log = logging.getLogger(__name__)

BATCH = 1000  # records per write transaction
# Records read after which a partial batch is written anyway: the few changed records of
# a re-saved file are written while the rest is read, not all after the last one.
SPREAD = 5 * BATCH


@dataclass
class RunResult:
    run_id: int
    source: Source
    counts: store.Counts
    new_pmids: list[str]
    updated_pmids: list[str]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def load(
    db: sqlite_utils.Database,
    source: Source,
    *,
    command: str,
    query: str | None = None,
    on_record: Callable[[], None] | None = None,
    more_to_do: bool = False,
) -> RunResult:
    """Load every record of `source` into `db` as one run; never raises for a bad record
    or a failing source: the run is marked failed with the error instead.

    With `more_to_do`, a successful load leaves the run LOADED: the caller runs
    the later stages and then calls `store.complete_run` (or `store.fail_run`)."""
    run_id = store.start_run(
        db,
        command=command,
        source=source.name,
        source_detail=source.detail,
        query=query,
        window=source.window,
    )
    counts = store.Counts()
    new: list[str] = []
    updated: list[str] = []
    hashes = store.known_hashes(db)
    # PMID → revision date of the copy taken: of two copies in one run (an entered and
    # a modified search; a file with a record twice), the later revision wins. It holds
    # every record of the run, so its keys are store's compact PMIDs and each date is
    # one shared string (`dates`): most records of a run share a few hundred dates.
    seen: dict[int | str, str | None] = {}
    dates: dict[str, str] = {}
    delivered = 0
    batch: list[Study] = []
    # One writer thread: SQLite writes (which release the GIL) overlap with
    # parsing the next batch. One batch at most is in flight.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
    pending: list[Future] = []
    handed = [0]  # records delivered when the last batch was handed to the writer

    def collect() -> None:
        while pending:
            n, u = pending.pop().result()
            new.extend(n)
            updated.extend(u)
            counts.new += len(n)
            counts.updated += len(u)

    def flush() -> None:
        collect()
        if batch:
            pending.append(writer.submit(store.save_studies, db, list(batch), run_id))
            batch.clear()
        handed[0] = delivered

    stored = StoredVersions(db, before_read=lambda: (flush(), collect()), before_lookup=collect)

    error = None
    try:
        for document in source.documents():
            try:
                for article in medline.iter_records(document):
                    if article.tag == "DeleteCitation":
                        # PubMed withdrew these PMIDs: flag the stored ones, keep their rows.
                        flush()
                        collect()
                        for pmid in store.mark_deleted(db, article.deleted_pmids):
                            counts.problems.append((pmid, "withdrawn by PubMed (DeleteCitation): flagged, kept"))
                        continue
                    delivered += 1
                    if on_record:
                        on_record()
                    revised = getattr(article, "revised", None)
                    key = store.pmid_key(article.pmid) if article.pmid else None
                    if key is not None and key in seen:
                        if not (revised and (seen[key] is None or revised > seen[key])):
                            continue  # the same version again (e.g. entered and modified)
                        flush()  # store the earlier copy first: this one lands as its update
                        collect()
                    else:
                        counts.found += 1
                    if key is not None:
                        seen[key] = revised if revised is None else dates.setdefault(revised, revised)
                    if article.pmid and hashes.same(article.pmid, article.content_hash):
                        counts.unchanged += 1
                        continue
                    if article.pmid in hashes and stored.holds_as_xml(article):
                        counts.unchanged += 1
                        continue
                    if article.pmid in hashes and (older := stored.newer_than(article.pmid, revised)):
                        # An older copy (e.g. the bundled snapshot after live runs) never
                        # rolls back a record PubMed has revised since: its notices,
                        # corrections and retraction stay.
                        counts.skipped += 1
                        counts.problems.append((article.pmid, older))
                        continue
                    try:
                        batch.append(medline.parse_record(article))
                    except Exception as e:  # one record the parser cannot handle fails alone
                        if not isinstance(e, MalformedRecord):
                            e = MalformedRecord(article.pmid, f"could not be parsed: {type(e).__name__}: {e}")
                        counts.skipped += 1
                        counts.problems.append((e.pmid, e.reason))
                        log.warning("skipped a malformed record: %s", e)
                        continue
                    if len(batch) >= BATCH or delivered - handed[0] >= SPREAD:
                        flush()
            except DocumentError as e:
                # The parser names the file itself for some errors: don't say it twice.
                message, name = str(e), _name(document)
                raise DocumentError(message if name in message else f"{name}: {message}") from e
        flush()
        collect()
        if source.expected is not None and delivered < source.expected:
            raise RuntimeError(
                f"the source announced {source.expected} records but delivered {delivered}"
            )
    except KeyboardInterrupt:
        _settle(collect, flush)
        store.finish_run(db, run_id, counts, error="interrupted by the user")
        raise
    except Exception as e:  # the run fails; what was stored stays whole
        # A source's own errors already say what failed; others keep their type.
        error = str(e) if isinstance(e, (_eutils_error(), DocumentError)) else f"{type(e).__name__}: {e}"
        # Records parsed before the failure are whole: keep them.
        _settle(collect, flush)
        # Debug only: the caller reports the failure once (the CLI, with what to do).
        log.debug("run %d failed: %s", run_id, error)
    finally:
        writer.shutdown(wait=True)
    store.finish_run(db, run_id, counts, error=error, done=not more_to_do)
    return RunResult(run_id, source, counts, new, updated, error)


# XML starts with '<'; the first schema kept it zlib-compressed (a blob).
_STORED = ("select s.pmid, s.revised_date, typeof(r.xml) = 'blob' or substr(r.xml, 1, 1) = '<' "
           "from studies s left join raw_records r on r.pmid = s.pmid")
# Stored studies a run looks up one at a time (~0.1 ms each) before it reads them all
# at once (~0.1 s for 20,000): a small update reads what it changes, not the database.
LOOKUPS = 1000


class StoredVersions:
    """What is stored of each study (its revision date, and whether it came as XML), read
    when a record of a stored study first needs it: one study at a time for the first
    `LOOKUPS`, then every study at once."""

    def __init__(self, db: sqlite_utils.Database, before_read: Callable[[], None],
                 before_lookup: Callable[[], None] = lambda: None):
        self.db = db
        self.before_read = before_read
        self.before_lookup = before_lookup
        self._stored: dict[str, tuple[str | None, bool]] | None = None
        self._looked_up: dict[str, tuple[str | None, bool] | None] = {}

    def _get(self, pmid: str) -> tuple[str | None, bool] | None:
        if self._stored is None and len(self._looked_up) < LOOKUPS:
            if pmid not in self._looked_up:
                # The writer thread idle first: the connection is never used by two at once.
                self.before_lookup()
                row = self.db.execute(_STORED + " where s.pmid = ?", [pmid]).fetchone()
                self._looked_up[pmid] = (row[1], bool(row[2])) if row else None
            return self._looked_up[pmid]
        if self._stored is None:
            self.before_read()  # what this run already wrote counts as stored
            self._stored = {pmid: (revised, bool(xml)) for pmid, revised, xml in self.db.execute(_STORED)}
        return self._stored.get(pmid)

    def holds_as_xml(self, record: object) -> bool:
        """A MEDLINE record of a study stored as XML, revised no later, is the same
        version: the hashes differ only because the formats do, and the XML (which
        carries more) is kept. A later revision date (LR) makes it an update."""
        if not isinstance(record, medline.MedlineRecord) or not record.pmid:
            return False
        stored = self._get(record.pmid)
        if not stored or not stored[1]:
            return False
        return not (record.revised and (stored[0] is None or record.revised > stored[0]))

    def newer_than(self, pmid: str, revised: str | None) -> str | None:
        """Why the stored version of `pmid` is kept over one revised on `revised`
        (it was revised later), or None when the incoming copy may replace it."""
        stored = self._get(pmid) if revised else None
        if stored and stored[0] and stored[0] > revised:
            return f"older than the stored version (revised {revised}; stored {stored[0]}): the stored one is kept"
        return None


def extract_pending(
    db: sqlite_utils.Database,
    *,
    everything: bool = False,
    batch: int = parallel.CHUNK,
    processes: int | None = None,
    min_parallel: int | None = None,
) -> int:
    """Run the extractor over new and changed studies (all with `everything`); returns
    how many were extracted. A study the extractor fails on is logged and left
    pending, so a fixed extractor picks it up next time.

    Studies are read a page at a time; more than `min_parallel` of them (default:
    `parallel.MIN_FORKED` where workers can be forked, else `MIN_PARALLEL`) are
    extracted in worker processes (one per core, see `pipeline.parallel`), the
    parent writing each chunk's results in one transaction as it comes back."""
    pending = store.pending_count(db, everything=everything, version=EXTRACTOR_VERSION)
    if not pending:
        return 0
    fork = parallel.can_fork()
    if min_parallel is None:
        min_parallel = parallel.MIN_FORKED if fork else parallel.MIN_PARALLEL
    procs = (processes or parallel.workers()) if pending > min_parallel else 1
    procs = min(procs, -(-pending // batch))
    if fork and procs > 1:
        from . import extract  # noqa: F401 - compiled once here, inherited by the forked workers
    rows = store.iter_pending(db, everything=everything, version=EXTRACTOR_VERSION)
    count = 0
    for results in parallel.map_chunks(parallel.extract_rows, parallel.chunks(rows, batch), processes=procs, fork=fork):
        done: list[tuple[str, Extraction]] = []
        for pmid, extraction, error in results:
            if error is not None:  # one odd abstract must not stop the others
                log.error("extraction failed for PMID %s: %s", pmid, error)
                continue
            done.append((pmid, extraction))
        store.save_extractions(db, done)
        count += len(done)
    return count


def _settle(collect: Callable[[], None], flush: Callable[[], None]) -> None:
    """After a failure: finish the write in flight and store what was parsed, logging
    (not raising) a store error so the first error stays the one reported."""
    try:
        flush()
        collect()
    except Exception as e:
        log.error("could not store the last records: %s", e)


def _eutils_error() -> type[Exception]:
    """`pubmed.EutilsError`, imported when a run fails: the HTTP stack is loaded by live
    runs (their source imports it), not by every import of this module."""
    from .pubmed import EutilsError

    return EutilsError


def _name(document: object) -> str:
    return str(document) if not isinstance(document, bytes) else "a PubMed reply"
