"""A person's search words → an FTS5 query that SQLite can always run.

Clinicians type words (`tension-type`, `patient's`, `10%`, `P<.05`), not FTS5
syntax, and raw FTS5 rejects most punctuation ("no such column: type" for a
hyphen). Quoting every word would make them safe but would also turn `OR`,
`NEAR(...)`, `"a phrase"` and `prefix*` into plain words, which a searcher who
knows the syntax expects to work. So: bare words are quoted, the FTS5 syntax a
person visibly wrote is kept, and the result is test-parsed; if FTS5 still
cannot read it, every word is searched plainly and the page says so.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from functools import lru_cache

# FTS5 operators are upper-case only; a lower-case "or" is an ordinary word.
OPERATORS = frozenset({"OR", "AND", "NOT"})
NOTHING = '""'  # an empty phrase: valid FTS5 that matches no row
# A quoted phrase (optionally a prefix), NEAR( ... ), a bracket, a comma, or a bare word.
_TOKEN = re.compile(r'"[^"]*"\*?|NEAR\(|[(),]|[^\s"(),]+')
_WORD = re.compile(r'[^\s"(),]+')


@dataclass(frozen=True)
class FtsQuery:
    text: str  # what to give MATCH
    kind: str  # "empty"; "kept" (words quoted, any FTS5 syntax the person wrote kept); "words" (all searched plainly)
    note: str | None = None  # a message for the page when the person's syntax could not be used


def _quote(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _convert(token: str, previous: str | None) -> str:
    if token.startswith('"') or token in ("NEAR(", "(", ")", ",") or token in OPERATORS:
        return token
    if token.isdigit() and previous == ",":  # the distance in NEAR(a b, 5)
        return token
    if token.endswith("*") and len(token) > 1 and token[:-1].strip("*"):
        return _quote(token[:-1].rstrip("*")) + "*"
    return _quote(token)


def _with_syntax(text: str) -> str | None:
    """Bare words quoted, the person's phrases, operators, NEAR and prefixes kept; None if a quote is unbalanced."""
    tokens = _TOKEN.findall(text)
    if re.sub(r"\s+", "", "".join(tokens)) != re.sub(r"\s+", "", text):  # a lone quote was left over
        return None
    out: list[str] = []
    for token in tokens:
        out.append(_convert(token, out[-1] if out else None))
    return " ".join(out)


def _as_words(text: str) -> str:
    """Every word searched plainly (all of them must occur): always valid FTS5."""
    words = _WORD.findall(text.replace('"', " "))
    return " ".join(_quote(w) for w in words) or NOTHING


def parses(query: str) -> bool:
    """Whether FTS5 accepts `query` (tried on an empty in-memory index)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("create virtual table t using fts5(title, abstract, mesh)")
        conn.execute("select rowid from t where t match ?", (query,)).fetchall()
        return True
    except sqlite3.Error:
        return False
    finally:
        conn.close()


@lru_cache(maxsize=512)
def to_fts5(text: str | None) -> FtsQuery:
    """The FTS5 query for what a person typed; never one that FTS5 rejects."""
    text = (text or "").strip()
    if not text:
        return FtsQuery(NOTHING, "empty")
    kept = _with_syntax(text)
    if kept is not None and parses(kept):
        return FtsQuery(kept, "kept")
    words = _as_words(text)
    note = (
        f"Search syntax in “{text}” could not be read (an unmatched quote or a misplaced "
        "OR/AND/NOT/NEAR), so the words were searched plainly, all of them required."
    )
    return FtsQuery(words, "words", note)


def fts_query(text: str | None) -> str:
    """SQL function: `... match fts_query(:q)`."""
    return to_fts5(text).text
