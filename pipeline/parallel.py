"""Work spread over the machine's cores: extraction of many studies, rendering of many citations.

Worker processes only compute: they are handed plain rows and return plain
results, and the parent alone writes to the database, one transaction per
chunk; they never touch the parent's SQLite connection. Where the system can,
they are forked from a parent that has already imported what they run (the
extractor's compiled rules: ~0.5 s a process to build), so a worker costs a
few milliseconds and a batch of a few hundred studies is worth splitting;
elsewhere they are spawned and import it themselves, which costs about what a
thousand studies take on one core. Below the caller's threshold the work runs
in the parent.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

log = logging.getLogger(__name__)

MIN_PARALLEL = 1_000  # below this many items, work for spawned workers is done in the parent (a spawn costs ~0.5 s)
MIN_FORKED = 200  # the same for forked workers (400 studies: 1.0 s in one process, 0.75 s in two forked; medians of 4)
CHUNK = 100  # items per task handed to a worker
T = TypeVar("T")
R = TypeVar("R")


def workers() -> int:
    """Worker processes to use: the cores this process may run on (at least 1)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, n)


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def can_fork() -> bool:
    """Whether workers are forked here, inheriting what the parent imported: on Linux
    (macOS's system libraries are not safe across a fork, so Python spawns there)."""
    return sys.platform.startswith("linux")


def map_chunks(
    fn: Callable[[list[T]], list[R]],
    items: Iterable[list[T]],
    *,
    processes: int | None = None,
    fork: bool = False,
) -> Iterator[list[R]]:
    """`fn` over each chunk of `items`, in worker processes, results in order.

    `fn` must be a module-level function (workers import it by name). At most
    two chunks per worker are in flight, so memory stays bounded however many
    chunks there are. With one process, runs in the parent. With `fork` (where
    `can_fork()`), workers are forked: the caller must hold no other thread and
    must not let them touch its database connection."""
    processes = processes or workers()
    if processes <= 1:
        for chunk in items:
            yield fn(chunk)
        return
    # Imported here: a run with nothing to extract (an unchanged re-import) starts no worker.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork" if fork and can_fork() else "spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        in_flight: list[Future] = []
        for chunk in items:
            in_flight.append(pool.submit(fn, chunk))
            if len(in_flight) >= 2 * processes:
                yield in_flight.pop(0).result()
        while in_flight:
            yield in_flight.pop(0).result()


# --- extraction -------------------------------------------------------------------

ExtractRow = tuple[str, str, str, str, str]  # pmid, title, abstract, publication_types JSON, mesh JSON


def extract_rows(rows: list[ExtractRow]) -> list[tuple[str, object | None, str | None]]:
    """(pmid, Extraction or None, error or None) for each row: one odd abstract fails alone."""
    import json

    from .extract import Record, extract

    out: list[tuple[str, object | None, str | None]] = []
    for pmid, title, abstract, publication_types, mesh in rows:
        try:
            record = Record(
                title=title or "",
                abstract=abstract or "",
                publication_types=json.loads(publication_types or "[]"),
                mesh=json.loads(mesh or "[]"),
            )
            out.append((pmid, extract(record), None))
        except Exception as e:  # noqa: BLE001 - reported by the parent, the study stays pending
            out.append((pmid, None, f"{type(e).__name__}: {e}"))
    return out
