"""Datasette for the evidence database: the same app for `evidence serve` and the tests."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from datasette.app import Datasette

from . import yamldata
from .topic import PROJECT_ROOT

METADATA = PROJECT_ROOT / "db" / "metadata.yml"
TEMPLATES = PROJECT_ROOT / "templates" / "datasette"
METADATA_NAME = "evidence"  # the database name db/metadata.yml is written for


def metadata_for(db_path: Path, metadata_path: Path = METADATA) -> dict:
    """The project's metadata, with the database named as Datasette names this file."""
    metadata = yamldata.safe_load(metadata_path.read_text(encoding="utf-8"))
    name = Path(db_path).stem
    if name != METADATA_NAME:
        databases = metadata.get("databases", {})
        if METADATA_NAME in databases:
            databases[name] = databases.pop(METADATA_NAME)
        for dashboard in (metadata.get("plugins", {}).get("datasette-dashboards") or {}).values():
            for chart in (dashboard.get("charts") or {}).values():
                if chart.get("db") == METADATA_NAME:
                    chart["db"] = name
    return metadata


# Datasette settings for every instance, local or public (`evidence serve` and
# the tests). The per-value and per-answer size limits live in the plugin's
# prepare_connection (pipeline/datasette_plugin.py: SQLite's own limits on
# every connection); these bound time and rows:
SETTINGS = {
    "default_page_size": 50,
    "truncate_cells_html": 400,
    # Stops a query between SQLite steps (a recursive CTE counting to 1e9 stops
    # at 1 s). The canned queries and the table pages take milliseconds on the
    # live database; a clinician's own joins well under a second.
    "sql_time_limit_ms": 1000,
    "facet_time_limit_ms": 200,
    # No facet suggestions: they try every column of a table on every page view
    # (41 on studies), which at 100,000 studies costs seconds; the useful facets
    # are set in db/metadata.yml.
    "suggest_facets": False,
    "facet_suggest_time_limit_ms": 50,
    # Rows one query or page may return (Datasette's default, said out loud):
    # every on-topic study fits; the plugin also caps an answer at 20 MB.
    "max_returned_rows": 1000,
    # Three queries at a time: a slow one leaves two for everyone else.
    "num_sql_threads": 3,
    # A streamed CSV (?_stream=on) stops here: the whole studies table of the
    # live database is a few MB; the cap is on bandwidth, the stream is not
    # held in memory.
    "max_csv_mb": 50,
}
# `evidence serve --public`: no SQL typed by visitors. Arbitrary SQL stays on for
# a local instance, where clinicians write their own queries; on a public one
# the limits above and in the plugin bound what one query costs, but not what
# a stream of them costs (three 1-second queries at a time fill the SQL
# threads), and every SELECT of every table (hidden ones included) is one URL
# away. The canned queries, table pages, facets, search and the .json/.csv
# views keep working: they are not execute-sql. Two things that were are
# handled in the plugin: the effects page's on-topic filter (?_on_topic=1, not
# ?_where=) and the charts (their own queries from db/metadata.yml, exactly).
PUBLIC_SETTINGS = {"default_allow_sql": False}


def settings(public: bool = False) -> dict:
    return {**SETTINGS, **(PUBLIC_SETTINGS if public else {})}


def app(db_path: Path, public: bool = False) -> Datasette:
    """A Datasette over `db_path` with the project's metadata and templates, as `serve` runs it."""
    return Datasette(
        [str(db_path)],
        metadata=metadata_for(db_path),
        template_dir=str(TEMPLATES),
        settings=settings(public),
    )


def _setting_arg(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def serve_args(db_path: Path, host: str, port: int, public: bool = False) -> list[str]:
    """The `datasette serve` command line for `evidence serve` (metadata written
    to a temp file); `public` turns off SQL typed by visitors (`serve --public`)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="evidence-metadata-", delete=False) as f:
        json.dump(metadata_for(db_path), f)
    args = [
        sys.executable, "-m", "datasette", "serve", str(db_path),
        "--metadata", f.name,
        "--template-dir", str(TEMPLATES),
        "--host", host, "--port", str(port),
    ]
    for name, value in settings(public).items():
        args += ["--setting", name, _setting_arg(value)]
    return args
