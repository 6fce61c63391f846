"""Datasette plugin for the evidence database: readable cells, links out, the
digest route, the home page's claims and freshness, searches in a person's
words (pipeline.search), on-topic rows first, and the hints that make the
canned queries and the studies table readable (templates/datasette/).

No maintained plugin renders links from plain identifier columns (PMID, DOI,
NCT) or JSON lists as tags without first rewriting the data into HTML-shaped
JSON (datasette-json-html), so these few hooks are the project's own.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import re
import sqlite3
import weakref
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import sqlite_utils
from datasette import hookimpl
from datasette.database import QueryInterrupted, Results
from datasette.facets import ArrayFacet, ColumnFacet
from datasette.filters import FilterArguments
from datasette.utils import path_with_added_args, path_with_removed_args, tilde_decode
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from . import store
from .freshness import freshness
from .search import fts_query, to_fts5

TAG_COLUMNS = {"headache_types", "comparators", "outcomes", "publication_types", "mesh", "keywords"}
TAG_STYLE = "display:inline-block;background:#ddf4ff;border-radius:.8em;padding:0 .5em;margin:0 .2em .2em 0;font-size:.85em"
HIGHLIGHT_START, HIGHLIGHT_END = "⟦", "⟧"  # the snippet() markers of the search query (rare in abstracts)


# The studies table as a clinician reads it: these columns first, in this order,
# then a column of links out; the long JSON (authors with affiliations, abstract
# sections, MeSH) and the bookkeeping stay on the row page and in ?_col views.
STUDY_TABLE_COLUMNS = [
    "pmid", "title", "year", "design", "n_randomized", "headache_types", "comparators",
    "direction", "summary",
]
# Short headers for that view (the column names stay in the tooltip and the URLs).
STUDY_TABLE_HEADERS = {"n_randomized": "n", "headache_types": "headache types"}
# Vocabulary columns shown as words there: "non randomized trial" wraps, "non_randomized_trial" does not.
STUDY_TABLE_WORDS = {"design", "direction"}
LINK_COLUMNS = ["doi", "pmcid", "nct"]  # shown together in the links column (PubMed sits under the PMID)
# A claim's filter lists: empty means the claim is about any of them.
CLAIM_FILTER_COLUMNS = {"outcomes", "headache_types", "comparators"}
NOTHING = Markup("&nbsp;")  # a truthy empty cell: Datasette falls back to its own rendering on ""

# Tables whose bare page opens on the on-topic rows, with the filter that does it
# (effects have no on_topic column of their own: they belong to a study).
ON_TOPIC_FILTERS = {
    "studies": ("on_topic", "1"),
    "effects": ("_on_topic", "1"),  # filters_from_request below
}
# effects?_on_topic=1: the effects of on-topic studies. A filter of the plugin's
# own rather than ?_where=, which needs the execute-sql permission that
# `evidence serve --public` withholds (the page would answer 403 there).
EFFECTS_ON_TOPIC_WHERE = "pmid in (select pmid from studies where on_topic = 1)"
OFF_TOPIC_NOUN = {"studies": "off-topic studies", "effects": "effects of off-topic studies"}
ALL_TOPICS_ARG = ("_topic", "all")  # the one-click way back to every row (Datasette ignores unknown _args)
ON_TOPIC_COUNT_SQL = {
    "studies": "select count(*) filter (where on_topic = 1), count(*) from studies",
    "effects": "select count(*) filter (where s.on_topic = 1), count(*) from effects e join studies s on s.pmid = e.pmid",
}
# new_since's date when none is given: the last weekly email, else 30 days back
# (the same expression as the canned query in db/metadata.yml, for the page's hint).
DEFAULT_SINCE_SQL = "select coalesce((select max(substr(sent_at, 1, 10)) from emails_sent), date('now', '-30 days'))"
FEEDS = [("new_studies", "New on-topic studies"), ("verdict_changes", "Changes in the claims' verdicts")]

# The trials table as a clinician reads it (issue 16): these columns, then the
# publications linked to each trial; `raw` (the whole registry record) stays in
# the JSON, and the other long JSON columns on the row page and behind "Every column".
TRIAL_TABLE_COLUMNS = [
    "nct", "brief_title", "status", "enrollment", "enrollment_type", "completion_date",
    "comparator_types", "conditions", "sponsor", "on_topic",
]
TRIAL_TABLE_HEADERS = {"brief_title": "title", "enrollment": "n", "enrollment_type": "n is", "comparator_types": "compared with"}
TRIAL_HIDDEN = ["raw"]  # never in an HTML table or record; /evidence/trials/NCT….json keeps it
TRIAL_TAG_COLUMNS = {"conditions", "comparator_types", "phases", "missing_modules", "keywords"}
# One line per cross-check finding on a study's page; the detail column has the whole sentence.
SEVERITY_WORDS = {"major": "major", "minor": "minor", "info": "not checked"}
COMPARATOR_WORDS = {"sham": "a sham", "active": "an active treatment", "no_intervention": "no intervention",
                    "none": "no comparator (one group)"}
RELATION_WORDS = {
    "results": "reports its results", "protocol": "is its protocol", "mentions": "mentions it (a review)",
    "possible": "may report it (a title match for a person to check; counts for nothing)",
}


def _json_list(value) -> list | None:
    if not isinstance(value, str) or not value.startswith("["):
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    return data if isinstance(data, list) else None


def _link(href: str, text: str, title: str | None = None) -> str:
    extra = f' title="{escape(title)}"' if title else ""
    return f'<a href="{escape(href)}"{extra}>{escape(text)}</a>'


def _study_links(datasette, database: str, pmid: str, label: str | None = None) -> Markup:
    """A PMID linked to its study row (with its title, when known) and to PubMed."""
    study = _link(datasette.urls.row(database, "studies", pmid), pmid, "this study and its effects")
    title = f' <span class="study-title">{escape(label)}</span>' if label and label != pmid else ""
    return Markup(f"{study}{title} · {_link(f'https://pubmed.ncbi.nlm.nih.gov/{quote(pmid)}/', 'PubMed ↗')}")


def _pmc_link(pmcid: str) -> Markup:
    return Markup(_link(f"https://pmc.ncbi.nlm.nih.gov/articles/{quote(pmcid)}/", pmcid, "free full text in PubMed Central"))


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if value is None or value == "":
        return None
    if column == "pmid":
        # A foreign key arrives as Datasette's labelled value (value + the study's title).
        if hasattr(value, "get") and "value" in value:
            return _study_links(datasette, database, str(value["value"]), value.get("label"))
        return _study_links(datasette, database, str(value))
    if not isinstance(value, (str, int, float)):
        return None  # another labelled foreign key: Datasette links it itself
    if column == "doi":
        return Markup(_link("https://doi.org/" + quote(str(value), safe="/:;()._-"), str(value)))
    if column == "pmcid":
        return _pmc_link(str(value))
    if value == "[]":
        return Markup("any") if table == "claims" and column in CLAIM_FILTER_COLUMNS else NOTHING
    if column == "nct":
        numbers = _json_list(value) or [value]
        return Markup(" ".join(_link(f"https://clinicaltrials.gov/study/{quote(str(n))}", str(n)) for n in numbers))
    if column in TAG_COLUMNS:
        items = _json_list(value)
        if items is not None:
            return Markup(" ".join(f'<span class="tag" style="{TAG_STYLE}">{escape(str(i).replace("_", " "))}</span>' for i in items))
    if column == "abstract_sections":
        items = _json_list(value)
        if items is not None:
            return " · ".join(str(i.get("label") or "(unlabelled)") for i in items if isinstance(i, dict)) or NOTHING
    if column == "authors":
        items = _json_list(value)
        if items is not None:
            names = [a.get("collective_name") or " ".join(p for p in (a.get("last_name"), a.get("initials")) if p) for a in items if isinstance(a, dict)]
            return ", ".join(names)
    if column == "snippet":
        text = str(escape(value))
        return Markup(text.replace(HIGHLIGHT_START, "<mark>").replace(HIGHLIGHT_END, "</mark>"))
    if column == "sentence" and row is not None and "value_text" in row.keys() and row["value_text"]:
        # The effect's sentence with the number it gave marked, at its own offset
        # (the same figure can appear twice in a sentence).
        sentence, number = str(value), str(row["value_text"])
        at = -1
        if "value_start" in row.keys() and "sentence_start" in row.keys() and row["value_start"] is not None:
            at = row["value_start"] - row["sentence_start"]
        if not (0 <= at and sentence[at : at + len(number)] == number):
            at = sentence.find(number)
        if at >= 0:
            return Markup(f"{escape(sentence[:at])}<mark>{escape(number)}</mark>{escape(sentence[at + len(number):])}")
    if table == "trials":
        rendered = _trial_cell(column, value, database, datasette)
        if rendered is not None:
            return rendered
    if column == "id" and table == "claims":
        return Markup(f"{_link(datasette.urls.row(database, 'claims', str(value)), str(value))} {_link(f'/digest#claim-{value}', 'in the digest')}")
    return None


def _trial_cell(column: str, value, database: str, datasette) -> Markup | str | None:
    """The registry's JSON columns in words: tags, measures, arms, and PMIDs linked to their study."""
    items = _json_list(value)
    if column in TRIAL_TAG_COLUMNS and items is not None:
        return Markup(" ".join(f'<span class="tag" style="{TAG_STYLE}">{escape(str(i).replace("_", " "))}</span>' for i in items))
    if column == "found_by" and items is not None:
        parts = []
        for item in items:
            pmid = str(item).removeprefix("pmid:")
            parts.append(f"named by {_link(datasette.urls.row(database, 'studies', pmid), 'PMID ' + pmid)}"
                         if str(item).startswith("pmid:") else escape(str(item)))
        return Markup(", ".join(parts)) or NOTHING
    if column == "references" and items is not None:
        refs = [r for r in items if isinstance(r, dict)]
        return Markup("<br>".join(
            (f"{_link('https://pubmed.ncbi.nlm.nih.gov/' + quote(r['pmid']) + '/', 'PMID ' + r['pmid'])} ({escape(r.get('type') or 'no type')})"
             if r.get("pmid") else escape(f"{r.get('type') or 'no type'}: {(r.get('citation') or '')[:120]}"))
            for r in refs
        )) or NOTHING
    if column in ("primary_outcomes", "secondary_outcomes") and items is not None:
        return Markup("<br>".join(
            f"{escape(o.get('measure') or '')}{escape(' (' + o['time_frame'] + ')') if o.get('time_frame') else ''}"
            for o in items if isinstance(o, dict)
        )) or NOTHING
    if column in ("arms", "interventions") and items is not None:
        return Markup("<br>".join(
            escape(f"{o.get('label') or o.get('name') or '(unnamed)'} ({(o.get('type') or 'no type').replace('_', ' ').lower()})")
            for o in items if isinstance(o, dict)
        )) or NOTHING
    if column in ("collaborators", "investigators") and items is not None:
        return ", ".join(str(i) for i in items) or NOTHING
    if column == "outcome_terms" and isinstance(value, str) and value.startswith("{"):
        terms = json.loads(value)
        return "; ".join(f"{k}: {', '.join(v).replace('_', ' ') or 'none'}" for k, v in terms.items())
    return None


@hookimpl(trylast=True)
def prepare_connection(conn):
    # Datasette's table search runs `match escape_fts(:search)` (searchmode
    # escaped) and registers escape_fts itself; registering ours afterwards
    # (trylast: pluggy calls it after Datasette's own hook, and the last
    # registration wins) routes every table search through the one converter
    # that quotes a person's words but keeps FTS5 syntax they meant. Hooking
    # here rather than rewriting ?_search= keeps the person's own words in the
    # search box, the page title and the pagination links. Canned queries call
    # it by its own name: `match fts_query(:q)`.
    conn.create_function("escape_fts", 1, fts_query, deterministic=True)
    conn.create_function("fts_query", 1, fts_query, deterministic=True)
    limit_connection(conn)
    # Reads through the OS page cache mapped in, not a read() call per 4 kB page
    # into SQLite's own 2 MB cache: a search matching 40,000 of 100,000 studies
    # visits ~40,000 rows of ~4 kB each per query (issue 15).
    conn.execute(f"pragma mmap_size = {MMAP_BYTES}")


# --- What one query may cost (issue 10) ---------------------------------------
# Datasette runs any SELECT a visitor types (`evidence serve`; `--public` turns
# that off but keeps the canned queries). Its sql_time_limit_ms (publish.py)
# stops a query only between virtual-machine steps, checking every 1,000 of
# them: one step that builds a huge value (zeroblob(1e9), randomblob,
# printf('%.*c', 1e9, 'x'), group_concat, replace) allocated gigabytes before
# the clock was looked at, and the JSON of a 100 MB blob held the event loop
# for seconds; a step whose function is slow (instr, replace, trim, LIKE are
# needle x haystack) ran for seconds, and a hundred rows of them between two
# looks at the clock for minutes. So every connection Datasette opens (its read
# threads, the write thread, _internal: all pass through this hook) gets
#  - SQLite's own limits, which refuse a value before it is allocated
#    ("string or blob too big") and keep a LIKE pattern short;
#  - a cap on the bytes one statement hands back, which rows x columns x value
#    size would otherwise multiply past any single-value limit;
#  - instr, replace, trim and printf that never take more than milliseconds.
MMAP_BYTES = 2**30
"""PRAGMA mmap_size of every connection Datasette opens: the database file mapped
up to 1 GiB (100,000 studies are ~620 MB). Address space, not memory: the pages
are the OS's file cache, shared by the three read connections."""
MAX_VALUE_BYTES = 250_000
"""SQLITE_LIMIT_LENGTH: the largest string, blob or row SQLite will build (or
read: a stored value over it answers "string or blob too big"). The largest
stored values are a record's PubMed XML and authors with affiliations: 6 kB on
the snapshot, about 50 kB for a paper with 100 authors; 250 kB is some 500
authors."""
MAX_SQL_BYTES = 100_000
"""SQLITE_LIMIT_SQL_LENGTH: the canned queries are under 2 kB, Datasette's own
(facets, counts, labels) a few kB; a URL carries at most ~16 kB."""
MAX_COLUMNS = 100
"""SQLITE_LIMIT_COLUMN: studies has 41 columns, a join of the public tables
fewer than 100; bounds one row to MAX_COLUMNS x MAX_VALUE_BYTES."""
MAX_LIKE_PATTERN_BYTES = 100
"""SQLITE_LIMIT_LIKE_PATTERN_LENGTH (default 50,000). LIKE and GLOB cost pattern
x text in one uninterruptible call: 25 ms for a 100-byte pattern on a 250 kB
value, 0.25 s at 1,000 bytes. A filter such as ?title__contains= is the
words plus two %."""
MAX_RESULT_BYTES = 20_000_000
"""Bytes one statement may return, counted as Datasette's JSON of its rows (a
NUL in text or a blob takes 6 bytes there: 19 MB of zeroblob was 115 MB of JSON
and 800 MB in the server). Serving a JSON answer takes about 6 times its size
(rows, the encoder's pieces, the string, the bytes), so 20 MB keeps a query
near 170 MB; 1,000 (max_returned_rows) whole studies with abstracts, authors and
MeSH are about 4.5 MB."""
TRIM_BUDGET = 5_000_000
"""trim(X, Y), ltrim, rtrim: text x characters to strip, above which the call is
refused as "string or blob too big" (10 ms; a 20,000-character Y on a 240 kB X
took 9 s)."""
SEARCH_BUDGET = 500_000_000
"""instr and replace with a number or a blob in a text (SQLite's own, |X| x |Y|:
about 6 ms), above which they are refused; two texts or two blobs never are."""

SQLITE_LIMITS = {
    sqlite3.SQLITE_LIMIT_LENGTH: MAX_VALUE_BYTES,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: MAX_SQL_BYTES,
    sqlite3.SQLITE_LIMIT_COLUMN: MAX_COLUMNS,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: MAX_LIKE_PATTERN_BYTES,
}
# Handed back for a value SQLite would refuse as too big, or a call refused for
# its cost: SQLite refuses this one, in its own words ("string or blob too big").
TOO_BIG = "\0" * (MAX_VALUE_BYTES + 1)


class ResultTooLarge(sqlite3.DataError):
    """A statement's answer passed MAX_RESULT_BYTES (Datasette shows the message as a 400)."""


def limit_connection(conn: sqlite3.Connection, result_bytes: int = MAX_RESULT_BYTES) -> None:
    """SQLite's size limits on `conn`, a cap on the bytes one statement returns,
    and instr/replace/trim/printf bounded in time."""
    for category, value in SQLITE_LIMITS.items():
        conn.setlimit(category, value)
    conn.row_factory = _capped_rows(conn.row_factory, result_bytes)
    # The same functions, where their cost is bounded, run as SQLite's own on a
    # private connection (this one would call the replacement by that name).
    builtins = sqlite3.connect(":memory:", check_same_thread=False)
    for category, value in SQLITE_LIMITS.items():
        builtins.setlimit(category, value)

    def builtin(name: str, *args):
        return builtins.execute(f"select {name}({', '.join('?' * len(args))})", args).fetchone()[0]

    printf = _bounded_printf(builtin)
    for name in ("printf", "format"):
        conn.create_function(name, -1, printf, deterministic=True)
    conn.create_function("instr", 2, _linear_instr(builtin), deterministic=True)
    conn.create_function("replace", 3, _linear_replace(builtin), deterministic=True)
    for name in ("trim", "ltrim", "rtrim"):
        conn.create_function(name, 2, _bounded_trim(builtin, name), deterministic=True)


def _capped_rows(row_factory, limit: int):
    """A row factory that counts each cursor's bytes and stops past `limit`.
    Datasette opens a cursor per statement (and reads at most max_returned_rows
    + 1 rows), so per cursor is per statement."""
    make_row = row_factory or (lambda cursor, row: row)
    returned: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def capped(cursor, row):
        size = returned.get(cursor, 0) + _json_bytes(row)
        if size > limit:
            raise ResultTooLarge(
                f"The answer is too large: over {limit // 1_000_000} MB. Ask for fewer rows "
                "(a smaller LIMIT) or fewer or shorter columns (e.g. substr(abstract, 1, 500))."
            )
        returned[cursor] = size
        return make_row(cursor, row)

    return capped


def _json_bytes(row) -> int:
    """The length of `row` in Datasette's JSON: text escaped (a NUL or a control
    character takes 6 bytes), a blob as text when it is UTF-8, else base64.
    One encoding for an ordinary row; value by value for a big one, so the
    count never holds more than one value's JSON."""
    values = []
    size = 0
    for value in row:
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                size += len(value) * 4 // 3 + 32
                continue
        values.append(value)
    if sum(len(v) for v in values if isinstance(v, str)) < 100_000:
        return size + len(json.dumps(values, default=str))
    return size + sum(len(json.dumps(v, default=str)) + 2 for v in values)


def _length(value) -> int:
    return len(value) if isinstance(value, (str, bytes)) else len(str(value))


def _linear_instr(builtin):
    """instr(X, Y): Python's find (linear) for two texts or two blobs, which is
    what SQLite's gives (1-based characters, or bytes); SQLite's own, whose
    cost is |X| x |Y| (0.2 s at 250 kB), for numbers and mixed types."""

    def instr(haystack, needle):
        if (isinstance(haystack, str) and isinstance(needle, str)) or (isinstance(haystack, bytes) and isinstance(needle, bytes)):
            return haystack.find(needle) + 1
        if _length(haystack) * _length(needle) > SEARCH_BUDGET:
            return TOO_BIG
        return builtin("instr", haystack, needle)

    return instr


def _linear_replace(builtin):
    """replace(X, Y, Z) on three texts with Python's (linear), as SQLite's: an
    empty Y (or one starting with NUL) gives X back, and an answer over the
    length limit is refused, before it is built; SQLite's own otherwise."""

    def replace(text, old, new):
        if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
            if not old or old[0] == "\0":
                return text
            if len(text) + text.count(old) * (len(new) - len(old)) > MAX_VALUE_BYTES:
                return TOO_BIG
            return text.replace(old, new)
        if _length(text) * _length(old) > SEARCH_BUDGET:
            return TOO_BIG
        return builtin("replace", text, old, new)

    return replace


def _bounded_trim(builtin, name: str):
    def trim(text, characters):
        if _length(text) * _length(characters) > TRIM_BUDGET:
            return TOO_BIG
        return builtin(name, text, characters)

    return trim


# One printf conversion: flags, width (digits or *), precision (. digits or *),
# length (l, ll), type; as SQLite's printf.c reads them.
PRINTF_SPEC = re.compile(r"%[-+ #!0,]*(\*|\d+)?(?:\.(\*|\d*))?(?:ll|l)?(.?)", re.DOTALL)


def _bounded_printf(builtin):
    """printf()/format() as SQLite's, answering NULL at once, as SQLite's printf
    does for an answer over SQLITE_LIMIT_LENGTH, when a width or precision
    alone asks for more. SQLite 3.40 gets there only after running
    printf('%.*c', 1000000000, 'x')'s billion-step loop inside one call: 8 s."""

    def printf(*args):
        if not args or args[0] is None or _printf_too_wide(str(args[0]), args[1:]):
            return None
        return builtin("printf", *args)

    return printf


def _printf_too_wide(fmt: str, args) -> bool:
    """Whether a conversion's width, or a precision that repeats or pads (not
    one that cuts a string short), is over MAX_VALUE_BYTES."""
    at = 0  # the next argument
    for spec in PRINTF_SPEC.finditer(fmt):
        width, precision, kind = spec.groups()
        sizes = []
        for size in width, precision:
            if size == "*":
                value = args[at] if at < len(args) else 0
                at += 1
                try:  # as SQLite reads it: a 64-bit integer cast to a C int
                    size = abs((int(float(value or 0)) + 2**31) % 2**32 - 2**31)
                except (TypeError, ValueError, OverflowError):
                    size = 0
            sizes.append(int(size or 0))
        if sizes[0] > MAX_VALUE_BYTES or (sizes[1] > MAX_VALUE_BYTES and kind not in "szqQw"):
            return True
        if kind not in ("%", "n", ""):
            at += 1
    return False


# --- Facets of the studies table (issue 15: serving 100,000 studies) ------------
# Datasette counts each facet with its own query over every row the page's
# filters or search match, reading the whole `studies` row (~4 kB) each time, and
# an array facet deduplicates (value, whole row) pairs: at 100,000 studies the
# three list facets took ~185 ms each and timed out. Here the studies table's
# facets are counted on `study_facets` (pipeline/store.py: one narrow row per
# study, same rowid, kept in step by triggers): the page's own WHERE clause runs
# on it unchanged (aliased `studies`), and design, on_topic, direction, year and
# the three lists come from one query per page that counts the matching rows per
# (facet_id, year) (a facet_keys row: a JSON array of the other values),
# expanded here. A facet on another column of study_facets (a ?_facet= of
# evidence_level, say) is Datasette's own count on the narrow rows; on any other
# column, or with a filter study_facets cannot answer (e.g.
# ?title__contains=), Datasette's own count on `studies`. The results, links
# and "selected" state are built as Datasette's ColumnFacet and ArrayFacet
# build them (datasette/facets.py, 0.65), so the page and the JSON are unchanged.
FACETS_TABLE = "studies"
NARROW_TABLE = "study_facets"
NARROW_SCOPE_KEY = "evidence.study_facets"  # per request, in the ASGI scope


def _where_of(sql: str) -> str | None:
    """The WHERE clause ('' for none) of Datasette's facet SQL for the studies table,
    `select <columns> from studies <where>`; None for anything else."""
    head, sep, tail = sql.partition(f" from {FACETS_TABLE} ")
    if not sep or not head.startswith("select ") or (tail.strip() and not tail.startswith("where ")):
        return None
    return tail


async def _narrow_counts(facet) -> dict | None:
    """For this page of the studies table: {"source": the FROM and WHERE the counts
    read (study_facets aliased `studies`, or joined to the studies the WHERE picks
    when it reads other columns), "keys": {column: {value: count}} for the
    facet_key columns and year (None if the count timed out), "total": the rows
    counted}; None if the database has no study_facets. Computed once per request
    and WHERE, whichever facet class (or the page's row count) asks first."""
    where = _where_of(facet.sql)
    if where is None:
        return None
    return await _narrow_counts_for(facet.ds.get_database(facet.database), facet.request.scope, where, facet.params)


async def _narrow_counts_for(db, scope: dict, where: str, params) -> dict | None:
    """_narrow_counts for a WHERE clause of the studies table (see there)."""
    key = (where, json.dumps(params, sort_keys=True, default=str))
    cache = scope.setdefault(NARROW_SCOPE_KEY, {})
    if key not in cache:
        cache[key] = asyncio.ensure_future(_count_narrow(db, where, params))
    return await cache[key]


async def _count_narrow(db, where: str, params) -> dict | None:
    if NARROW_TABLE not in await db.table_names():
        return None
    read = await db.execute_fn(lambda conn: _columns_read(conn, f"select 1 from {FACETS_TABLE} {where}", params))
    if read <= {*store.STUDY_FACET_COLUMNS, *ROWID_NAMES}:
        source = f"from {NARROW_TABLE} as {FACETS_TABLE} {where}"
    else:
        source = f"from {NARROW_TABLE} where id in (select rowid from {FACETS_TABLE} {where})"
    try:
        rows = (await db.execute(
            f"select k.key, f.year, f.n from (select facet_id, year, count(*) as n {source} "
            "group by facet_id, year) f left join facet_keys k on k.id = f.facet_id", params,
            truncate=False, custom_time_limit=db.ds.setting("facet_time_limit_ms"),
        )).rows
    except QueryInterrupted:
        return {"source": source, "keys": None, "total": None}
    counts: dict[str, dict] = {c: {} for c in (*store.FACET_KEY_COLUMNS, "year")}
    by_key: dict[str, int] = {}
    years = counts["year"]
    for facet_key, year, n in rows:  # one group per (key, year): add up, then read each key once
        by_key[facet_key] = by_key.get(facet_key, 0) + n
        if year is not None:
            years[year] = years.get(year, 0) + n
    for facet_key, n in by_key.items():
        for column, value in _key_items(facet_key):
            found = counts[column]
            found[value] = found.get(value, 0) + n
    return {"source": source, "keys": counts, "total": sum(by_key.values())}


@functools.lru_cache(maxsize=50_000)
def _key_items(facet_key: str | None) -> tuple[tuple[str, object], ...]:
    """The (column, value) pairs one facet key counts for: a list value once (as
    Datasette's array facet counts it, as text), no null. Kept between requests:
    a key's text says all (real data has thousands of distinct keys; parsing them
    on every page would cost more than counting the rows)."""
    if not facet_key:
        return ()
    items: list[tuple[str, object]] = []
    for column, value in store.facet_values(facet_key).items():
        if column in store.FACET_KEY_LISTS:
            items += [(column, v) for v in dict.fromkeys(str(v) for v in value)]
        elif value is not None:
            items.append((column, value))
    return tuple(items)


ROWID_NAMES = {"rowid", "ROWID", "_rowid_", "oid", ""}


def _columns_read(conn: sqlite3.Connection, sql: str, params) -> set[str]:
    """The columns of the studies table `sql` reads, as SQLite's authorizer reports
    them while preparing it (EXPLAIN: prepared, not run). Asking SQLite rather than
    trying the WHERE on study_facets: there a missing "column" in double quotes
    would silently be read as a string."""
    read: set[str] = set()

    def authorizer(action, table, column, database, source):
        if action == sqlite3.SQLITE_READ and table == FACETS_TABLE:
            read.add(column or "")
        return sqlite3.SQLITE_OK

    conn.set_authorizer(authorizer)
    try:
        conn.execute(f"explain {sql}", params).fetchall()
    finally:
        conn.set_authorizer(None)
    return read


def _sorts_every_match(conn: sqlite3.Connection, sql: str, params) -> bool:
    """Whether SQLite's plan for `sql` sorts every row it matches (a temporary
    B-tree for the whole ORDER BY) rather than reading an index in the query's
    order (for all of it, or its first column: "RIGHT PART OF ORDER BY")."""
    return any(row[3] == "USE TEMP B-TREE FOR ORDER BY" for row in conn.execute(f"explain query plan {sql}", params))


def _facet_order(item):
    """Datasette's `order by count desc, value` (numbers before text, as SQLite sorts)."""
    value, count = item
    return (-count, isinstance(value, str), value)


def _config_column(config: dict) -> str:
    return config["config"].get("column") or config["config"]["simple"]


class _StudyFacetsMixin:
    """facet_results for the studies table through study_facets (see above)."""

    keyed: ClassVar[set[str]] = set()  # the columns counted through facet_key
    only: set[str] | None = None  # the configs the inherited facet_results handles

    def get_configs(self):
        configs = super().get_configs()
        return configs if self.only is None else [c for c in configs if _config_column(c) in self.only]

    async def facet_results(self):
        configs = super().get_configs()
        if self.table != FACETS_TABLE or not configs:
            return await super().facet_results()
        narrow = await _narrow_counts(self)
        if narrow is None:
            return await super().facet_results()
        results, timed_out = [], []
        facet_size = self.get_facet_size()
        for config in configs:
            column = _config_column(config)
            if column in self.keyed:
                if narrow["keys"] is None:
                    timed_out.append(column)
                    continue
                results.append(await self._result(column, config["source"], narrow["keys"][column], facet_size))
                continue
            # Datasette's own count, on the narrow rows when they have the column.
            sql = self.sql
            if column in store.STUDY_FACET_COLUMNS and narrow["source"].startswith(f"from {NARROW_TABLE} as "):
                sql = f"select * {narrow['source']}"
            found, late = await self._inherited(column, sql)
            results += found
            timed_out += late
        return results, timed_out

    async def _inherited(self, column: str, sql: str):
        original = self.sql
        self.only, self.sql = {column}, sql
        try:
            return await super().facet_results()
        finally:
            self.only, self.sql = None, original


class StudyColumnFacet(_StudyFacetsMixin, ColumnFacet):
    keyed: ClassVar[set[str]] = {"design", "on_topic", "direction", "year"}

    async def _result(self, column: str, source: str, counts: dict, facet_size: int) -> dict:
        rows = sorted(counts.items(), key=_facet_order)
        qs_pairs = self.get_querystring_pairs()
        values = []
        expanded = await self.ds.expand_foreign_keys(self.database, self.table, column, [v for v, _ in rows[:facet_size]])
        for value, count in rows[:facet_size]:
            column_qs = f"{column}__exact" if column.startswith("_") else column
            selected = (column_qs, str(value)) in qs_pairs
            toggle_path = (path_with_removed_args(self.request, {column_qs: str(value)}) if selected
                           else path_with_added_args(self.request, {column_qs: value}))
            values.append({
                "value": value, "label": expanded.get((column, value), value), "count": count,
                "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(toggle_path)),
                "selected": selected,
            })
        return {
            "name": column, "type": self.type, "hideable": source != "metadata",
            "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {"_facet": column})),
            "results": values, "truncated": len(rows) > facet_size,
        }


class StudyArrayFacet(_StudyFacetsMixin, ArrayFacet):
    keyed: ClassVar[set[str]] = {"headache_types", "comparators", "outcomes"}

    async def _result(self, column: str, source: str, counts: dict, facet_size: int) -> dict:
        rows = sorted(counts.items(), key=_facet_order)
        pairs = self.get_querystring_pairs()
        values = []
        for value, count in rows[:facet_size]:
            selected = (f"{column}__arraycontains", value) in pairs
            toggle_path = (path_with_removed_args(self.request, {f"{column}__arraycontains": value}) if selected
                           else path_with_added_args(self.request, {f"{column}__arraycontains": value}))
            values.append({"value": value, "label": value, "count": count,
                           "toggle_url": self.ds.absolute_url(self.request, toggle_path), "selected": selected})
        return {
            "name": column, "type": self.type, "results": values, "hideable": source != "metadata",
            "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {"_facet_array": column})),
            "truncated": len(rows) > facet_size,
        }


STUDY_FACET_CLASSES = {ColumnFacet: StudyColumnFacet, ArrayFacet: StudyArrayFacet}


@hookimpl(hookwrapper=True)
def register_facet_classes():
    """Datasette's column and array facets, counted through study_facets on the studies table."""
    outcome = yield
    outcome.force_result([[STUDY_FACET_CLASSES.get(k, k) for k in classes] for classes in outcome.get_result()])


# --- The studies table's page (issue 15: a search of 100,000 studies) -----------
# A search matching 44,000 of 100,000 studies cost Datasette's table view ~140 ms
# in three passes over every match, each reading the matching `studies` rows
# (~4 kB each, most spilling onto an overflow page): the count, the page's rows
# (sorted by year: every match read and sorted to keep 51), the facets; and
# render_cell ran on every one of the 41 columns of the 51 rows shown (each cell
# through every plugin's hook: ~25 ms), though the page shows 13 of them.
# StudiesTableView is Datasette's own TableView on the same URLs, with:
#  - the HTML page (no ?_col= or ?_nocol=) selecting only the columns it shows
#    (STUDY_PAGE_COLUMNS); the JSON and CSV, ?_col=, ?_nocol= ("Every column")
#    and each study's page keep every column;
#  - the row count read off the facets' count on study_facets (one query for
#    both: the total of the (facet_id, year) groups is the number of matches);
#  - with a search, the page's rows chosen on study_facets (its year, pmid and
#    filter columns, sorted there) and only those 51 read from `studies`, when
#    the page's filters and sort read only columns study_facets has.
# Equivalences, checked against Datasette's own SQL in tests/test_serve_scale.py;
# the narrow rows are kept in step with `studies` by triggers. Any other SQL
# (other tables, canned queries, SQL typed by a visitor) is never touched.
STUDY_PAGE_EXTRA = ["retracted"]  # read by the template (the RETRACTED tag), not a column of its own
STUDY_PAGE_COLUMNS = [*STUDY_TABLE_COLUMNS, *LINK_COLUMNS, *STUDY_PAGE_EXTRA]
STUDIES_PAGE: contextvars.ContextVar = contextvars.ContextVar("evidence_studies_page", default=None)
SEARCH_IN = " from studies_fts where studies_fts match "  # Datasette's ?_search= clause (filters.search_filters)
# Datasette's page query: `select <columns> from studies <where>order by <sort> limit <n>`
# (views/table.py): a list of column names, then the sort, one column, `desc` or
# not, and the primary key on later pages. (A facet's query, `select x as value,
# count(*) ... order by count desc, value limit n`, is not one.)
_NAME = r"(?:\w+|\[[^\]]+\])"
PAGE_SQL = re.compile(
    rf"select (?P<columns>{_NAME}(?:, {_NAME})*) from studies (?P<where>where .* )?"
    rf"(?P<order>order by (?P<sort>{_NAME}(?: desc)?)(?:, (?P<pk>{_NAME}))?) limit (?P<limit>\d+)",
    re.DOTALL,
)
COUNT_SQL = "select count(*) from studies "


@functools.cache
def studies_table_view():
    """StudiesTableView: defined on first use, as datasette.views.table imports
    the module that loads this plugin."""
    from datasette.views.table import TableView

    class StudiesTableView(TableView):
        """Datasette's table view of `studies`, narrowed and counted as described above."""

        async def columns_to_select(self, table_columns, pks, request):
            if (request.url_vars.get("table") != FACETS_TABLE or request.url_vars.get("format")
                    or {"_col", "_nocol"} & set(request.args.keys())):
                return await super().columns_to_select(table_columns, pks, request)
            # The sort column too: Datasette reads the next page's key from the rows.
            wanted = {*pks, *STUDY_PAGE_COLUMNS, request.args.get("_sort"), request.args.get("_sort_desc")}
            return [c for c in table_columns if c in wanted]

        async def data(self, request, *args, **kwargs):
            try:
                db = self.ds.get_database(route=tilde_decode(request.url_vars["database"]))
            except KeyError:
                db = None
            if db is None or request.url_vars.get("table") != FACETS_TABLE:
                return await super().data(request, *args, **kwargs)
            _answer_page_queries(db)
            token = STUDIES_PAGE.set(request)
            try:
                return await super().data(request, *args, **kwargs)
            finally:
                STUDIES_PAGE.reset(token)

    return StudiesTableView


def _answer_page_queries(db) -> None:
    """Route `db`'s queries through _page_query while a StudiesTableView serves a page
    (once per database; every other query passes unchanged)."""
    if getattr(db, "_evidence_page_queries", False):
        return
    original = db.execute

    async def execute(sql, params=None, *args, **kwargs):
        request = STUDIES_PAGE.get()
        if request is not None:
            answer = await _page_query(db, original, request, sql, params, args, kwargs)
            if answer is not None:
                return answer
        return await original(sql, params, *args, **kwargs)

    db.execute = execute
    db._evidence_page_queries = True


async def _page_query(db, execute, request, sql: str, params, args, kwargs):
    """The answer to Datasette's count or page query of the studies table, read
    through study_facets; None to run `sql` as it is."""
    if not isinstance(sql, str) or "_where" in request.args:
        return None  # ?_where= is SQL of a visitor's own: never parsed
    if sql.startswith(COUNT_SQL) and (sql == COUNT_SQL or sql[len(COUNT_SQL):].startswith("where ")):
        narrow = await _narrow_counts_for(db, request.scope, sql[len(COUNT_SQL):], params or {})
        if narrow is None or narrow["total"] is None:
            return None
        return Results([(narrow["total"],)], False, [("count(*)", None, None, None, None, None, None)])
    found = PAGE_SQL.fullmatch(sql)
    if not found or not found["where"] or SEARCH_IN not in found["where"] or NARROW_TABLE not in await db.table_names():
        return None
    where, order, pk = found["where"], found["order"], found["pk"]
    if pk is None:  # the first page: ties in PMID order (the inner and outer sort agree), as the next pages take them
        pks = await db.primary_keys(FACETS_TABLE)
        if len(pks) == 1 and found["sort"] not in (pks[0], f"{pks[0]} desc"):
            order = f"{order}, {pks[0]}"
    try:
        read, sorts_every_match = await db.execute_fn(lambda conn: (
            _columns_read(conn, f"select 1 from {FACETS_TABLE} {where}{order}", params or {}),
            _sorts_every_match(conn, sql, params or {})))
    except sqlite3.Error:
        return None  # Datasette's own query says what is wrong
    # Where an index gives Datasette's query its order (on_topic = 1: the (on_topic,
    # year) index, read newest first until 51 rows match), it is faster as it is.
    if not sorts_every_match or not read <= {*store.STUDY_FACET_COLUMNS, *ROWID_NAMES}:
        return None
    narrowed = (f"select {found['columns']} from {FACETS_TABLE} where rowid in "
                f"(select rowid from {NARROW_TABLE} as {FACETS_TABLE} {where}{order} limit {found['limit']}) {order}")
    return await execute(narrowed, params, *args, **kwargs)


@hookimpl
def filters_from_request(request, database, table, datasette):
    """effects?_on_topic=1: only the effects of on-topic studies (see ON_TOPIC_FILTERS)."""
    key, value = ON_TOPIC_FILTERS["effects"]
    if table == "effects" and request.args.get(key) == value:
        return FilterArguments([EFFECTS_ON_TOPIC_WHERE], human_descriptions=["the study is on topic"])
    return None


@hookimpl
def asgi_wrapper(datasette):
    """Bare /DB/studies and /DB/effects pages open on the on-topic rows (and the
    request is kept at hand for permission_allowed below)."""

    def wrap(app):
        async def on_topic_first(scope, receive, send):
            target = _on_topic_redirect(scope)
            if target is None:
                token = CURRENT_SCOPE.set(scope)
                try:
                    await app(scope, receive, send)
                finally:
                    CURRENT_SCOPE.reset(token)
                return
            await send({"type": "http.response.start", "status": 302,
                        "headers": [(b"location", target.encode()), (b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b""})

        return on_topic_first

    return wrap


# The request being served: Datasette's permission_allowed hook is not told it.
CURRENT_SCOPE: contextvars.ContextVar = contextvars.ContextVar("evidence_request_scope", default=None)


@hookimpl(trylast=True)
def permission_allowed(datasette, actor, action, resource):
    """With typed SQL off (`evidence serve --public`), the charts still draw:
    datasette-dashboards asks execute-sql for its pages, and the browser fetches
    each chart's rows as /DB.json?sql=<the chart's query>. Those two, and only
    with the query exactly as db/metadata.yml writes it, are allowed; anything
    else typed stays refused. trylast: the last answer wins, and Datasette's
    own (tryfirst) says no."""
    if action != "execute-sql" or datasette.setting("default_allow_sql"):
        return None
    scope = CURRENT_SCOPE.get()
    if not scope or scope.get("type") != "http":
        return None
    path = scope.get("path", "")
    charts = [chart for dashboard in (datasette.plugin_config("datasette-dashboards") or {}).values()
              for chart in (dashboard.get("charts") or {}).values()]
    if path.startswith("/-/dashboards/"):
        return True if any(chart.get("db") == resource for chart in charts) else None
    # Every `sql` the request carries: Datasette runs the first, so one query
    # exactly as a chart writes it, and nothing else, may pass (a second `sql`
    # must not smuggle another query past this check).
    params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    sqls = [value for key, value in params if key == "sql"]
    if len(sqls) != 1:
        return None
    for chart in charts:
        if path == f"/{chart.get('db')}.json" and resource == chart.get("db") and sqls[0] == chart.get("query"):
            return True
    return None


def _on_topic_redirect(scope) -> str | None:
    """Where a bare studies/effects page should go instead, or None to serve it as asked."""
    if scope.get("type") != "http" or scope.get("method") != "GET" or scope.get("query_string"):
        return None
    path = scope.get("path", "")
    # Plain names only: a path such as "/\\evil.example/studies" must never become
    # a Location a browser reads as another site.
    found = re.fullmatch(r"/([A-Za-z0-9_-]+)/([A-Za-z0-9_]+)", path)
    if not found or found.group(2) not in ON_TOPIC_FILTERS:
        return None
    # Removing the last filter from the table itself (a facet's ✖) also lands on
    # the bare page: that is a request for every row, not a first visit.
    referer = dict(scope.get("headers") or []).get(b"referer", b"").decode("latin-1")
    if urlsplit(referer).path == path:
        return None
    return f"{path}?{urlencode([ON_TOPIC_FILTERS[found.group(2)]])}"


def _db_path(datasette) -> Path | None:
    for db in datasette.databases.values():
        if db.path:
            return Path(db.path)
    return None


@hookimpl
def register_routes(datasette):
    async def digest_html(request):
        return _digest_file(datasette, "digest.html", "text/html; charset=utf-8")

    async def digest_md(request):
        return _digest_file(datasette, "digest.md", "text/markdown; charset=utf-8")

    return [(r"^/digest$", digest_html), (r"^/digest\.md$", digest_md),
            # Datasette's own table route (app.py), for the studies table: see StudiesTableView.
            (r"^/(?P<database>[^/.]+)/(?P<table>studies)(\.(?P<format>\w+))?$", studies_table_view().as_view(datasette))]


def _digest_file(datasette, name: str, content_type: str) -> Response:
    path = _db_path(datasette)
    target = path.parent / name if path else None
    if not target or not target.exists():
        return Response.text("No digest yet: run `evidence run` or `evidence digest`.", status=404)
    return Response(target.read_text(encoding="utf-8"), content_type=content_type)


def _evidence_db(datasette):
    return next((d for d in datasette.databases.values() if d.path), None)


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    async def inner():
        db = _evidence_db(datasette)
        if db is None:
            return {}
        if template == "index.html":
            return await _home_vars(db)
        if request is None or not request.url_vars.get("table"):
            return {}
        # A canned query is served on the table route, so the template tells them apart.
        if template.startswith("query"):
            return await _query_vars(db, request.url_vars["table"], request)
        if template.startswith("table"):
            return await _table_vars(db, table, request)
        if template.startswith("row") and request.url_vars.get("pks"):
            return await _row_vars(db, table, tilde_decode(request.url_vars["pks"]))
        return {}

    return inner


async def _home_vars(db) -> dict:
    tables = await db.table_names()
    claims = []
    if "claims" in tables:
        # select *: a database written before claims had direction and certainty still opens.
        claims = [dict(r) for r in (await db.execute("select * from claims order by position")).rows]
    fresh = await db.execute_fn(lambda conn: freshness(sqlite_utils.Database(conn)))
    return {"evidence_claims": claims, "evidence_freshness": fresh, "evidence_db": db.name, "evidence_feeds": FEEDS}


def _search_note(text: str | None) -> str | None:
    return to_fts5(text).note if text else None


async def _table_vars(db, table: str, request) -> dict:
    found: dict = {"evidence_search_note": _search_note(request.args.get("_search"))}
    if table in ON_TOPIC_COUNT_SQL:
        on_topic, everything = (await db.execute(ON_TOPIC_COUNT_SQL[table])).rows[0]
        key, value = ON_TOPIC_FILTERS[table]
        found["evidence_topic"] = {
            "on_topic": on_topic,
            "off_topic": everything - on_topic,
            "off_topic_noun": OFF_TOPIC_NOUN[table],
            "filtered": value in request.args.getlist(key),
            # Both links keep the rest of the page's arguments (a search, other filters).
            "on_topic_url": _with_args(request, drop={ALL_TOPICS_ARG[0], "_next"}, add=[(key, value)]),
            "all_url": _with_args(request, drop={key, "_next"}, add=[ALL_TOPICS_ARG]),
        }
    if table == "studies" and not ({"_col", "_nocol"} & set(request.args.keys())):
        found["evidence_columns"] = STUDY_TABLE_COLUMNS
        found["evidence_link_columns"] = LINK_COLUMNS
        found["evidence_headers"] = STUDY_TABLE_HEADERS
        found["evidence_words"] = STUDY_TABLE_WORDS
    if table == "trials":
        found["evidence_hidden"] = TRIAL_HIDDEN
        found["evidence_trial_links"] = await _trial_links(db)
        if not ({"_col", "_nocol"} & set(request.args.keys())):
            found["evidence_columns"] = TRIAL_TABLE_COLUMNS
            found["evidence_headers"] = TRIAL_TABLE_HEADERS
    return found


async def _trial_links(db, nct: str | None = None) -> dict[str, list[dict]]:
    """NCT → its linked publications (best first), each with the study's title when stored."""
    if "trial_publications" not in await db.table_names():
        return {}
    rows = (await db.execute(
        "select p.nct, p.pmid, p.relation, p.method, p.confidence, p.evidence, s.title "
        "from trial_publications p left join studies s on s.pmid = p.pmid "
        "where ? is null or p.nct = ? order by p.nct, p.relation = 'possible', p.confidence desc, p.pmid",
        [nct, nct],
    )).rows
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["nct"], []).append({**dict(r), "relation_words": RELATION_WORDS.get(r["relation"], r["relation"])})
    return out


def study_reasons(db: sqlite_utils.Database, pmid: str) -> list[dict]:
    """Per extracted field, where its value comes from: the rule and the words it read
    (a low-confidence value marked as unchecked machine reading), or the person who checked it."""
    if not db["extraction_evidence"].exists():
        return []
    from . import provenance

    checks: dict[str, dict] = {}
    if db["checked_values"].exists():
        for r in db.query("select field, value, who, checked_on, note, applied, stale from checked_values where pmid = ? "
                          "and field not like 'effects%'", [pmid]):
            check = dict(r)
            try:
                shown = json.loads(check["value"]) if check["value"] else None
            except (TypeError, ValueError):
                shown = check["value"]
            check["value"] = ", ".join(map(str, shown)) or "(none)" if isinstance(shown, list) else (
                "(none)" if shown is None else str(shown).lower() if isinstance(shown, bool) else str(shown))
            checks[r["field"]] = check
    out: list[dict] = []
    for r in provenance.reasons_for(db, pmid):
        if not out or out[-1]["field"] != r["field"]:
            out.append({"field": r["field"], "reads": [], "check": checks.get(r["field"])})
        out[-1]["reads"].append({
            "value": r["value"] if r["value"] != "" else "(none)", "rule": r["rule"], "quote": r["quote"],
            "low": r["confidence"] == "low", "default": r["rule"].startswith("default."),
        })
    return out


async def _row_vars(db, table: str, key: str) -> dict:
    tables = await db.table_names()
    if table == "studies" and "trials" not in tables:
        return {"evidence_reasons": await db.execute_fn(lambda conn: study_reasons(sqlite_utils.Database(conn), key))}
    if "trials" not in tables:
        return {}
    if table == "studies":
        return {"evidence_registry": await db.execute_fn(lambda conn: study_registry(sqlite_utils.Database(conn), key)),
                "evidence_reasons": await db.execute_fn(lambda conn: study_reasons(sqlite_utils.Database(conn), key))}
    if table == "trials":
        found = await db.execute_fn(lambda conn: {
            "findings": registry_module().findings_for_trial(sqlite_utils.Database(conn), key),
            "changes": [dict(r) for r in conn.execute(
                "select kind, detail, context, source, seen_at from trial_changes where nct = ? order by id", [key]
            ).fetchall()] if "trial_changes" in tables else [],
        })
        return {"evidence_hidden": TRIAL_HIDDEN, "evidence_trial": {
            **found, "links": (await _trial_links(db, key)).get(key, []),
            "severity_words": SEVERITY_WORDS,
        }}
    return {}


def registry_module():
    from . import (
        registry,  # imported when a page needs it: the plugin loads with every Datasette
    )

    return registry


def study_registry(db: sqlite_utils.Database, pmid: str) -> list[dict]:
    """The trials a study is linked to, each with the cross-check's findings about the pair in
    a clinician's words: "registered 48, randomized 45 (−6.2%)"."""
    registry = registry_module()
    if not db["trial_publications"].exists():
        return []
    links = list(db.query(
        "select p.*, t.brief_title, t.status, t.enrollment, t.enrollment_type, t.on_topic "
        "from trial_publications p left join trials t on t.nct = p.nct where p.pmid = ? "
        "order by p.relation = 'possible', p.confidence desc, p.nct", [pmid],
    ))
    findings = registry.findings_for_pmid(db, pmid)
    out = []
    for link in links:
        mine = [f for f in findings if f["nct"] == link["nct"]]
        out.append({
            **link,
            "relation_words": RELATION_WORDS.get(link["relation"], link["relation"]),
            "status_words": registry.status_words(link["status"]) if link["brief_title"] is not None else None,
            "findings": [{"severity": f["severity"],
                          "severity_words": "confirms" if f["kind"] == "registry_confirms" else SEVERITY_WORDS.get(f["severity"], f["severity"]),
                          "kind": f["kind"], "line": finding_line(f), "detail": f["detail"]} for f in mine],
        })
    return out


def finding_line(f: dict) -> str:
    """One cross-check finding as a clinician reads it on the study's page."""
    evidence = f.get("evidence") or {}
    registered = evidence.get("registry") or {}
    if f["kind"] == "sample_size_differs":
        enrolled, n = registered.get("count"), (evidence.get("publication") or {}).get("value")
        share = (n - enrolled) / enrolled if enrolled and n is not None else None
        estimate = " (an estimate)" if registered.get("type") == "ESTIMATED" else ""
        sign = "−" if share is not None and share < 0 else "+"
        return f"registered {enrolled}{estimate}, randomized {n} ({sign}{abs(share):.1%})" if share is not None else f["detail"]
    if f["kind"] == "primary_outcome_not_reported":
        reported = ", ".join(str(o).replace("_", " ") for o in (evidence.get("publication") or {}).get("value") or [])
        return f"registered primary outcome \"{registered.get('measure')}\" not in the abstract (it reports {reported})"
    if f["kind"] == "primary_outcome_unmapped":
        return f"registered primary outcome \"{registered.get('measure')}\" is not in the outcome vocabulary: not checked"
    if f["kind"] == "no_registered_outcomes":
        return "the registry record has no primary outcome: the abstract's outcomes could not be checked against it"
    if f["kind"] == "registry_confirms":
        return f["detail"].split(": ", 1)[-1]  # "the sample size the rules read with low confidence ... is confirmed"
    if f["kind"] == "comparator_differs":
        try:
            registered_classes = json.loads(f.get("registry_value") or "[]")
        except ValueError:
            registered_classes = []
        published = registry_module().published_classes((evidence.get("publication") or {}).get("value") or [])
        return (f"registered {' and '.join(COMPARATOR_WORDS.get(c, c) for c in registered_classes) or 'no comparator'} "
                f"as comparator; the abstract reports {' and '.join(COMPARATOR_WORDS.get(c, c) for c in published) or 'none'}")
    return f["detail"]


def _with_args(request, drop: set[str], add: list[tuple[str, str]]) -> str:
    """This page's URL without the `drop` arguments, with `add`."""
    added = {k for k, _ in add}
    kept = [(k, v) for k, v in parse_qsl(request.query_string, keep_blank_values=True) if k not in drop | added]
    return f"{request.path}?{urlencode(kept + add)}"


async def _query_vars(db, query: str, request) -> dict:
    if query == "evidence_for_claim" and not request.args.get("claim_id"):
        claims = (await db.execute("select id, text, verdict from claims order by position")).rows
        return {"evidence_claim_choices": [dict(r) for r in claims]}
    if query == "search_abstracts":
        return {"evidence_search_help": True, "evidence_search_note": _search_note(request.args.get("q"))}
    if query == "new_since" and not request.args.get("since"):
        since = (await db.execute(DEFAULT_SINCE_SQL)).rows[0][0]
        emailed = (await db.execute("select count(*) from emails_sent")).rows[0][0]
        return {"evidence_since_default": since, "evidence_since_reason": "the last weekly email" if emailed else "30 days back"}
    return {}
