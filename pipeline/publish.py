"""Datasette for the evidence database: the same app for `evidence serve` and the tests."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import yaml
from datasette.app import Datasette

from .topic import PROJECT_ROOT

METADATA = PROJECT_ROOT / "db" / "metadata.yml"
TEMPLATES = PROJECT_ROOT / "templates" / "datasette"
METADATA_NAME = "evidence"  # the database name db/metadata.yml is written for


def metadata_for(db_path: Path, metadata_path: Path = METADATA) -> dict:
    """The project's metadata, with the database named as Datasette names this file."""
    metadata = yaml.safe_load(metadata_path.read_text(encoding="utf-8"))
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


def app(db_path: Path) -> Datasette:
    """A Datasette over `db_path` with the project's metadata and templates, as `serve` runs it."""
    return Datasette(
        [str(db_path)],
        metadata=metadata_for(db_path),
        template_dir=str(TEMPLATES),
        settings={"default_page_size": 50, "truncate_cells_html": 400},
    )


def serve_args(db_path: Path, host: str, port: int) -> list[str]:
    """The `datasette serve` command line for `evidence serve` (metadata written to a temp file)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="evidence-metadata-", delete=False) as f:
        json.dump(metadata_for(db_path), f)
    return [
        sys.executable, "-m", "datasette", "serve", str(db_path),
        "--metadata", f.name,
        "--template-dir", str(TEMPLATES),
        "--host", host, "--port", str(port),
        "--setting", "default_page_size", "50",
        "--setting", "truncate_cells_html", "400",
    ]
