"""A topic file: the PubMed query and the article its evidence backs; and where
the topic's own words are (topics/<topic>/words.yml)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import yamldata

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOPIC = PROJECT_ROOT / "topics" / "dry-needling-headache.yml"
# EVIDENCE_TOPIC_WORDS points the extractor at another topic's words (a second
# clinical topic is a folder with its own topic file and words, not a fork). Named
# here, not in version.py, so the rules engine can read the topic's word lists
# (version.py imports rules.py).
TOPIC_WORDS = Path(
    os.environ.get("EVIDENCE_TOPIC_WORDS") or PROJECT_ROOT / "topics" / "dry-needling-headache" / "words.yml"
)


class TopicError(ValueError):
    """A topic file that cannot be used, with the reason."""


@dataclass
class Topic:
    id: str
    title: str
    query: str
    path: Path
    description: str = ""
    article_title: str | None = None
    article_path: Path | None = None
    raw: dict = field(default_factory=dict)

    def article_text(self) -> str | None:
        return self.article_path.read_text(encoding="utf-8") if self.article_path else None


def load_topic(path: str | Path = DEFAULT_TOPIC) -> Topic:
    """Read and check a topic file (YAML)."""
    path = Path(path)
    try:
        data = yamldata.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TopicError(f"topic file not found: {path}") from None
    except yaml.YAMLError as e:
        raise TopicError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise TopicError(f"{path}: expected a mapping with id, title and query")
    missing = [k for k in ("id", "title", "query") if not data.get(k)]
    if missing:
        raise TopicError(f"{path}: missing {', '.join(missing)}")
    # Folded YAML keeps single spaces; normalise any other runs so the query
    # recorded in `runs` (the incremental watermark's key) is stable.
    query = " ".join(str(data["query"]).split())
    article = data.get("article") or {}
    article_path = None
    if article.get("file"):
        article_path = (path.parent / article["file"]).resolve()
        if not article_path.is_file():
            raise TopicError(f"{path}: article file not found: {article_path}")
    return Topic(
        id=str(data["id"]),
        title=str(data["title"]),
        query=query,
        path=path,
        description=" ".join(str(data.get("description", "")).split()),
        article_title=article.get("title"),
        article_path=article_path,
        raw=data,
    )
