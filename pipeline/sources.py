"""Where records come from: live PubMed, the bundled snapshot, or files a user saved.

A source yields documents, one at a time: PubMed XML (efetch output) from
PubMed and the snapshot; PubMed XML or MEDLINE text from saved files (the
format is read from each file's content, see `medline.iter_records`). The
parser reads each as a stream. Choosing `auto` tries PubMed briefly and falls
back to the snapshot, saying so loudly.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from . import medline
from .medline import FormatError, check_files  # noqa: F401 (the CLI's names for them)
from .parse import XmlSource

if TYPE_CHECKING:  # imported by `pubmed_source`: the HTTP stack only for live runs
    from . import pubmed

log = logging.getLogger(__name__)

SNAPSHOT_DIR = Path(__file__).parent / "snapshot"
SNAPSHOT_XML = SNAPSHOT_DIR / "efetch.xml"
SNAPSHOT_SEARCH = SNAPSHOT_DIR / "esearch.json"
SNAPSHOT_DATE = "2025-09-01"
# Days re-asked before the watermark, so a record indexed late on the last
# run's day is not missed.
OVERLAP_DAYS = 1


@dataclass
class Source:
    """Documents to load, and what to record about where they came from."""

    name: str  # pubmed, snapshot, file
    detail: str
    documents: Callable[[], Iterator[XmlSource]]
    expected: int | None = None  # records the source says it holds, when it says
    window: str | None = None


def snapshot_source() -> Source:
    """The PubMed records bundled with the project (used offline and by tests)."""
    search = json.loads(SNAPSHOT_SEARCH.read_text())["esearchresult"]
    return Source(
        name="snapshot",
        detail=f"bundled PubMed snapshot of {SNAPSHOT_DATE} ({search['count']} records)",
        documents=lambda: iter([SNAPSHOT_XML]),
        expected=int(search["count"]),
    )


def file_source(paths: list[str | Path]) -> Source:
    """Files saved from PubMed: efetch XML (.xml, .xml.gz) or MEDLINE text (.txt, .nbib),
    told apart by content. A file that is neither fails the run when it is reached;
    call `check_files` first to refuse it before anything is stored."""
    paths = [Path(p) for p in paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such file: {', '.join(missing)}")
    return Source(
        name="file",
        detail=", ".join(f"{p}{_format_note(p)}" for p in paths),
        documents=lambda: iter(paths),
    )


def _format_note(path: Path) -> str:
    """' (MEDLINE)' for a MEDLINE file, so the runs ledger tells the formats apart."""
    try:
        return " (MEDLINE)" if medline.file_format(path) == "medline" else ""
    except (FormatError, OSError):
        return ""


def pubmed_source(
    client: pubmed.Client,
    query: str,
    *,
    since: date | None = None,
    batch_size: int | None = None,
) -> Source:
    """Live PubMed: the whole query, or (with `since`) what was entered or changed since.

    Incremental runs ask once, on the history server, for records entered
    (new) or modified (corrected, retracted, re-indexed) from a day before
    `since`, so a record that is both is fetched once; the store skips what it
    already holds unchanged. `batch_size`: records per efetch (default `pubmed.MAX_BATCH`).
    """
    from . import pubmed

    if batch_size is None:
        batch_size = pubmed.MAX_BATCH
    today = date.today()
    if since is None:
        plans: list[tuple[str, tuple[date, date] | None]] = [("edat", None)]
        window = None
    else:
        start = since - timedelta(days=OVERLAP_DAYS)
        plans = [(pubmed.CHANGED, (start, today))]
        window = f"entered or modified {start:%Y-%m-%d} to {today:%Y-%m-%d}"
    source = Source(
        name="pubmed",
        detail=f"PubMed E-utilities at {client.settings.base_url}",
        documents=lambda: iter(()),
        window=window,
    )

    def documents() -> Iterator[XmlSource]:
        # The searches run here, inside the run, so a failing search is a failed run.
        searches: list[pubmed.SearchResult] = []
        for datetype, span in plans:
            searches.extend(client.search_windows(query, datetype=datetype, window=span))
        source.expected = sum(s.count for s in searches)
        log.info("PubMed: %d records to fetch (%s)", source.expected, window or "full search")
        fetched = 0
        for search in searches:
            for body, count in client.efetch(search, batch_size=batch_size):
                fetched += count
                log.info("PubMed: fetched %d of %d records", fetched, source.expected)
                yield body

    source.documents = documents
    return source


def parse_since(value: str) -> date:
    """The date part of an ISO timestamp from the runs ledger."""
    return datetime.fromisoformat(value).date()
