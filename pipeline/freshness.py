"""How current the data is, as opposed to when the pipeline last ran.

A run over the bundled snapshot finishes today but carries records of the day
the snapshot was taken; every page that shows a date (Datasette's home page,
the digest, the weekly email, `evidence status`) says both, from this one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlite_utils

from . import store

_SNAPSHOT_OF = re.compile(r"snapshot of (\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class Freshness:
    last_run_at: str | None  # the latest successful run or import (UTC, ISO 8601)
    last_run_source: str | None  # pubmed, snapshot or file
    last_live_at: str | None  # the latest successful run that reached live PubMed
    snapshot_date: str | None  # the bundled snapshot's date, when the latest run loaded it
    newest_entry: str | None  # the newest PubMed entry date among the stored studies
    failures_since: int  # failed updates since the latest successful one

    @property
    def live(self) -> bool:
        """True when the data comes from live PubMed (the latest update reached it)."""
        return self.last_run_source == "pubmed"

    @property
    def data_line(self) -> str:
        """How current the data is, e.g. "bundled PubMed snapshot of 2025-09-01 — not live"."""
        newest = f"newest PubMed entry {self.newest_entry}" if self.newest_entry else "no PubMed entry dates"
        if self.last_run_source is None:
            return "no data loaded yet"
        if self.live:
            return f"live PubMed as of {self.last_run_at[:10]}; {newest}"
        if self.last_run_source == "snapshot":
            when = self.snapshot_date or "an unknown date"
            return f"bundled PubMed snapshot of {when} — not live; {newest}"
        live = f"; live PubMed last reached {self.last_live_at[:10]}" if self.last_live_at else ""
        return f"PubMed files imported by hand — not live{live}; {newest}"

    @property
    def run_line(self) -> str:
        """When the pipeline last ran successfully."""
        if not self.last_run_at:
            return "the pipeline has not run successfully yet"
        failed = f" ({self.failures_since} failed since)" if self.failures_since else ""
        return f"pipeline last ran {self.last_run_at[:16].replace('T', ' ')} UTC{failed}"

    def as_dict(self) -> dict:
        return {**self.__dict__, "live": self.live, "data_line": self.data_line, "run_line": self.run_line}


def freshness(db: sqlite_utils.Database) -> Freshness:
    """When the pipeline last ran, and how current the data it holds is."""
    last = store.last_update(db) if "runs" in db.table_names() else None
    live = None
    if last:
        row = db.execute(
            "select finished_at from runs where status in ('ok', 'loaded') and source = 'pubmed' "
            "and command in ('run', 'import') order by id desc limit 1"
        ).fetchone()
        live = row[0] if row else None
    snapshot = None
    if last and last["source"] == "snapshot":
        found = _SNAPSHOT_OF.search(last.get("source_detail") or "")
        snapshot = found.group(1) if found else None
    newest = db.execute("select max(entrez_date) from studies").fetchone()[0] if "studies" in db.table_names() else None
    return Freshness(
        last_run_at=last["finished_at"] if last else None,
        last_run_source=last["source"] if last else None,
        last_live_at=live,
        snapshot_date=snapshot,
        newest_entry=newest,
        failures_since=store.failed_updates_since_last_ok(db) if last else 0,
    )
