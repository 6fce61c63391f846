"""Hostile text in a PubMed record is shown as text on every surface a person
reads: the Datasette pages, the digest and the weekly email."""

from __future__ import annotations

import asyncio
import email
import email.policy

import pytest
from click.testing import CliRunner

from fake_eutils import make_efetch, record_bytes
from pipeline import digest, publish, store, update
from pipeline.cli import cli
from pipeline.sources import SNAPSHOT_XML, Source
from pipeline.topic import load_topic

TRIAL = "30813155"  # on topic: it reaches the digest, the email and every page
PAYLOAD = '<script>alert(1)</script><img src=x onerror="steal()">'


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    records = record_bytes(SNAPSHOT_XML)
    escaped = PAYLOAD.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").encode()
    evil = [
        r.replace(b"versus sham needling for chronic", b"versus sham needling " + escaped + b" for chronic", 1)
        .replace(b"In this sample,", b"In this sample " + escaped + b",", 1)
        if f">{TRIAL}<".encode() in r else r
        for r in records
    ]
    assert evil != records
    db = store.open_db(folder / "evidence.db")
    assert update.load(db, Source("file", "t", lambda: iter([make_efetch(evil)])), command="import").ok
    update.extract_pending(db)
    digest.write_digest(db, load_topic(), folder)
    assert PAYLOAD in db["studies"].get(TRIAL)["title"]  # stored as the text it is
    return folder / "evidence.db"


def _unsafe(html: str) -> bool:
    return "<script>alert(1)" in html or "<img src=x" in html


@pytest.mark.reliability("input", "<script> and an onerror attribute in a title, on every page")
@pytest.mark.parametrize("path", [
    "/", f"/evidence/studies/{TRIAL}", "/evidence/studies", "/evidence/studies?_search=sham",
    "/evidence/effects?_topic=all", "/evidence/claim_evidence", "/evidence/search_abstracts?q=sham",
    "/evidence/new_studies.atom", "/digest",
])
def test_datasette_pages_show_hostile_text_as_text(hostile_db, path):
    """Every page that shows the record escapes it (the digest route included)."""
    response = asyncio.run(publish.app(hostile_db).client.get(path, follow_redirects=True))
    assert response.status_code == 200, path
    assert not _unsafe(response.text), path
    if path in (f"/evidence/studies/{TRIAL}", "/evidence/studies", "/digest"):
        assert "&lt;script&gt;alert(1)" in response.text, path  # shown, as text


@pytest.mark.reliability("input", "<script> and an onerror attribute in a title, in the email")
def test_the_weekly_email_shows_hostile_text_as_text(hostile_db, tmp_path, monkeypatch):
    for var in ("DIGEST_FROM", "DIGEST_TO", "DIGEST_URL", "DIGEST_UNSUBSCRIBE"):
        monkeypatch.delenv(var, raising=False)
    result = CliRunner().invoke(cli, ["email", "--dry-run", "--db", str(hostile_db), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (eml,) = tmp_path.glob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert "&lt;script&gt;" in html and not _unsafe(html)
    assert PAYLOAD in text  # plain text shows it as written: nothing there runs
