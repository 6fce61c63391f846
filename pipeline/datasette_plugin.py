"""Datasette plugin for the evidence database: readable cells, links out, the
digest route and the home page's claims.

No maintained plugin renders links from plain identifier columns (PMID, DOI,
NCT) or JSON lists as tags without first rewriting the data into HTML-shaped
JSON (datasette-json-html), so these few hooks are the project's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from .store import LAST_UPDATE_SQL

TAG_COLUMNS = {"headache_types", "comparators", "outcomes", "publication_types", "mesh", "keywords"}
TAG_STYLE = "display:inline-block;background:#ddf4ff;border-radius:.8em;padding:0 .5em;margin:0 .2em .2em 0;font-size:.85em"
HIGHLIGHT_START, HIGHLIGHT_END = "⟦", "⟧"  # the snippet() markers of the search query (rare in abstracts)


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


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if value is None or value == "":
        return None
    if column == "pmid":
        study = datasette.urls.row(database, "studies", str(value))
        return Markup(
            f"{_link(study, str(value), 'this study and its effects')} "
            f"{_link(f'https://pubmed.ncbi.nlm.nih.gov/{value}/', 'PubMed ↗')}"
        )
    if column == "doi":
        return Markup(_link("https://doi.org/" + quote(str(value), safe="/:;()._-"), str(value)))
    if column == "nct":
        numbers = _json_list(value) or [value]
        return Markup(" ".join(_link(f"https://clinicaltrials.gov/study/{n}", str(n)) for n in numbers)) if numbers else ""
    if column in TAG_COLUMNS:
        items = _json_list(value)
        if items is not None:
            return Markup(" ".join(f'<span class="tag" style="{TAG_STYLE}">{escape(str(i).replace("_", " "))}</span>' for i in items))
    if column == "abstract_sections":
        items = _json_list(value)
        if items is not None:
            return " · ".join(str(i.get("label") or "(unlabelled)") for i in items if isinstance(i, dict)) or "—"
    if value == "[]":
        return "—"
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
    if column == "id" and table == "claims":
        return Markup(f"{_link(datasette.urls.row(database, 'claims', str(value)), str(value))} {_link(f'/digest#claim-{value}', 'in the digest')}")
    return None


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

    return [(r"^/digest$", digest_html), (r"^/digest\.md$", digest_md)]


def _digest_file(datasette, name: str, content_type: str) -> Response:
    path = _db_path(datasette)
    target = path.parent / name if path else None
    if not target or not target.exists():
        return Response.text("No digest yet: run `evidence run` or `evidence digest`.", status=404)
    return Response(target.read_text(encoding="utf-8"), content_type=content_type)


@hookimpl
def extra_template_vars(template, database, datasette):
    if template != "index.html":
        return {}

    async def inner():
        db = next((d for d in datasette.databases.values() if d.path), None)
        if db is None:
            return {}
        tables = await db.table_names()
        claims = []
        if "claims" in tables:
            claims = [dict(r) for r in (await db.execute("select id, position, text, verdict, verdict_label from claims order by position")).rows]
        last = None
        if "runs" in tables:
            rows = (await db.execute(LAST_UPDATE_SQL)).rows
            last = dict(rows[0]) if rows else None
        return {"evidence_claims": claims, "evidence_last_run": last, "evidence_db": db.name}

    return inner
