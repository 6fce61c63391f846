"""Why each extracted value is what it is: the rule that gave it, the words it
read, and how sure the extractor is.

Every field the extractor fills (design, on_topic, headache_types, comparators,
n_randomized, outcomes, direction) leaves one `Reason` per value in the
`extraction_evidence` table. A value no rule gave (a default) says so in its
rule id (`default.*`) and is `low` confidence, as is a value resting on a weak
cue or on rules that disagreed. Clinicians see the reason on the study page;
`evidence evaluate --errors` prints it beside each mismatch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlite_utils

FIELDS = ("design", "on_topic", "headache_types", "comparators", "n_randomized", "outcomes", "direction")
CONFIDENCE = ("high", "low")
WHERE = ("title", "abstract", "publication_types", "mesh")


@dataclass(frozen=True)
class Reason:
    field: str
    value: str  # one value as stored: a vocabulary term, a number, 'true'/'false', or '' for an empty list
    rule: str  # the rule id that gave it, or default.<why> when none did
    confidence: str = "high"
    where: str | None = None  # which part of the record the quote is from
    start: int | None = None  # offsets of the quote in that part
    end: int | None = None
    quote: str | None = None  # the words the rule read

    def __post_init__(self) -> None:
        if self.field not in FIELDS:
            raise ValueError(f"unknown field {self.field!r}")
        if self.confidence not in CONFIDENCE:
            raise ValueError(f"confidence must be one of {CONFIDENCE}, not {self.confidence!r}")
        if self.where is not None and self.where not in WHERE:
            raise ValueError(f"where must be one of {WHERE}, not {self.where!r}")

    @property
    def is_default(self) -> bool:
        return self.rule.startswith("default.")


def as_value(value: object) -> str:
    """A field's value as `extraction_evidence.value` holds it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def ensure_table(db: sqlite_utils.Database) -> None:
    """Create `extraction_evidence` (one row per extracted value); harmless to repeat."""
    table = db.table("extraction_evidence")
    if table.exists():
        return
    table.create(
        {
            "pmid": str, "field": str, "value": str, "rule": str, "confidence": str,
            "where_": str, "start": int, "end": int, "quote": str, "extractor_version": str,
        },
        foreign_keys=[("pmid", "studies", "pmid")],
    )
    table.create_index(["pmid", "field"])
    table.create_index(["confidence"])


def save(db: sqlite_utils.Database, items: list[tuple[str, list[Reason], str]]) -> None:
    """Replace the reasons of each (pmid, reasons, extractor version); the caller holds the transaction."""
    pmids = [pmid for pmid, _, _ in items]
    for i in range(0, len(pmids), 500):
        chunk = pmids[i : i + 500]
        db.conn.execute(f"delete from extraction_evidence where pmid in ({', '.join('?' * len(chunk))})", chunk)
    db.conn.executemany(
        "insert into extraction_evidence (pmid, field, value, rule, confidence, where_, start, [end], quote, "
        "extractor_version) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (pmid, r.field, r.value, r.rule, r.confidence, r.where, r.start, r.end, r.quote, version)
            for pmid, reasons, version in items
            for r in reasons
        ],
    )


def reasons_for(db: sqlite_utils.Database, pmid: str) -> list[dict]:
    """The stored reasons of one study, in field order."""
    order = {f: i for i, f in enumerate(FIELDS)}
    rows = list(db.query("select * from extraction_evidence where pmid = ?", [pmid]))
    return sorted(rows, key=lambda r: (order.get(r["field"], 99), r["value"]))


def low_confidence(reasons: list[Reason]) -> dict[str, bool]:
    """Per field: True when any of its values is low confidence."""
    out: dict[str, bool] = {}
    for r in reasons:
        out[r.field] = out.get(r.field, False) or r.confidence == "low"
    return out


def to_json(reasons: list[Reason]) -> str:
    return json.dumps([r.__dict__ for r in reasons], ensure_ascii=False)
