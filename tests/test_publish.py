"""Datasette for clinicians: metadata, facets, search, canned queries, links,
the digest route, live updates, a real server and the rendered pages."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from datetime import date

import pytest
import requests

from fake_eutils import make_efetch, record_bytes
from serving import evidence_serve_args, running
from pipeline import digest, publish, store, update
from pipeline.sources import Source, snapshot_source
from pipeline.topic import PROJECT_ROOT, load_topic

SCREENSHOT = PROJECT_ROOT / "scripts" / "screenshot.sh"


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("site") / "evidence.db"
    db = store.open_db(path)
    update.load(db, snapshot_source(), command="run")
    update.extract_pending(db)
    digest.write_digest(db, load_topic(), path.parent)
    return path


@pytest.fixture(scope="module")
def ds(db_path):
    return publish.app(db_path)


def get(ds, path):
    return asyncio.run(ds.client.get(path))


def rows(ds, path):
    response = get(ds, path + ("&" if "?" in path else "?") + "_shape=array")
    assert response.status_code == 200, response.text
    return response.json()


def test_home_page_has_title_description_claims_and_digest_link(ds):
    page = get(ds, "/").text
    assert "Dry needling for headache: the evidence" in page
    assert 'href="/digest"' in page
    # How current the data is, and separately when the pipeline ran (issue 9).
    assert "bundled PubMed snapshot of 2025-09-01 — not live" in page and "pipeline last ran" in page
    for claim in ("Dry needling improves blood flow", "Needling releases endorphins"):
        assert claim in page
    assert "no direct evidence" in page
    # Each claim: direction and GRADE certainty, coloured by certainty, and Cochrane's plain words.
    assert 'class="verdict c-very_low"' in page and "unclear · very low certainty" in page
    assert "It is unclear whether dry needling reduces pain intensity" in page


@pytest.mark.reliability("secret", "the run ledger and meta on the public site")
def test_metadata_describes_every_column_and_hides_internal_tables(ds, db_path):
    meta = get(ds, "/-/metadata.json").json()
    tables = meta["databases"]["evidence"]["tables"]
    db = store.open_db(db_path)
    for table in ("studies", "effects", "claims", "claim_evidence"):
        described = set(tables[table]["columns"])
        assert set(db[table].columns_dict) <= described, (table, set(db[table].columns_dict) - described)
    listed = {t["name"]: t for t in get(ds, "/evidence.json").json()["tables"]}
    for hidden in ("raw_records", "revisions", "digests", "claim_findings", "claim_findings_keys"):
        assert listed[hidden]["hidden"], hidden
    # Not public at all: the run ledger (error texts, local paths) and meta (the
    # salt of the email ledger's recipient hashes).
    for private in ("runs", "run_problems", "meta", "email_recipients", "emails_sent"):
        assert private not in listed, private
        assert get(ds, f"/evidence/{private}.json").status_code == 403, private
    assert not listed["studies"]["hidden"]
    assert listed["studies_fts"]["hidden"]


def test_facets_on_the_studies_table(ds):
    data = get(ds, "/evidence/studies.json?_size=0").json()
    facets = data["facet_results"]
    assert {"design", "headache_types", "comparators", "outcomes", "direction", "year", "on_topic"} <= set(facets)
    designs = {f["value"]: f["count"] for f in facets["design"]["results"]}
    assert designs["rct"] == 7 and designs["meta_analysis"] == 4
    types = {f["value"]: f["count"] for f in facets["headache_types"]["results"]}
    assert types["tension_type"] >= 10


def test_full_text_search_on_studies(ds):
    found = {r["pmid"] for r in rows(ds, "/evidence/studies.json?_search=sham")}
    assert found == {"30813155", "33066556", "35732505"}


def test_canned_queries_return_the_right_rows(ds):
    claim = rows(ds, "/evidence/evidence_for_claim.json?claim_id=trigger-point-pain")
    assert {r["pmid"] for r in claim} == {"19241799", "30813155", "33609358", "34689708"}
    assert claim[0]["stance"] == "supports"
    assert rows(ds, "/evidence/evidence_for_claim.json?claim_id=endorphins") == []
    rct = rows(ds, "/evidence/rct_effects.json?outcome=")
    # Every RCT, on-topic first; only 35732505's abstract gives effect sizes (12).
    with_effects = [r for r in rct if r["measure"]]
    assert {r["pmid"] for r in with_effects} == {"35732505"} and len(with_effects) == 12
    assert rct[0]["on_topic"] == 1 and {"30813155", "19241799", "29037632"} <= {r["pmid"] for r in rct}
    frequency = rows(ds, "/evidence/rct_effects.json?outcome=frequency")
    assert {r["measure"] for r in frequency if r["measure"]} == {"OR", "MD", "other"}
    assert "30813155" in {r["pmid"] for r in frequency}  # measured it; its abstract gives only P < .05
    assert [r["pmid"] for r in rows(ds, "/evidence/sham_controlled.json")] == ["30813155"]
    assert len(rows(ds, f"/evidence/new_since.json?since={date.today():%Y-%m-%d}")) == 27
    assert rows(ds, "/evidence/new_since.json?since=2099-01-01") == []
    assert rows(ds, "/evidence/retracted_or_flagged.json") == []
    hits = rows(ds, "/evidence/search_abstracts.json?q=sham")
    assert {r["pmid"] for r in hits} == {"30813155", "33066556", "35732505"}
    assert all("⟦" in r["snippet"] for r in hits)


def test_readable_cells_and_links_out(ds):
    page = get(ds, "/evidence/studies/30813155").text
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/30813155/"' in page
    assert 'href="https://doi.org/10.1097/MD.0000000000014520"' in page
    assert 'href="https://clinicaltrials.gov/study/NCT03500861"' in page
    assert '<span class="tag"' in page and ">tension type</span>" in page
    assert "Gildir S, Tüzün EH" in page
    effects = get(ds, "/evidence/effects?pmid=33066556").text
    assert "<mark>MD 55.48 kPa, 95% CI 27.03 to 83.93</mark>" in effects
    # The same figure twice in one sentence: each effect marks its own occurrence.
    repeated = get(ds, "/evidence/effects.json?pmid=35732505&value=68.2&_shape=array").json()
    assert len(repeated) == 2
    marks = [get(ds, f"/evidence/effects/{r['id']}").text for r in repeated]
    at = [m.index("<mark>68.2%</mark>") - m.index("At week 16") for m in marks]
    assert at[0] != at[1]
    search = get(ds, "/evidence/search_abstracts?q=sham").text
    cells = re.findall(r'<td class="col-snippet">(.*?)</td>', search, re.S)
    assert len(cells) == 3 and all("<mark>sham</mark>" in c and "⟦" not in c for c in cells)


def test_digest_and_claims_reachable_in_one_site(ds):
    html = get(ds, "/digest")
    assert html.status_code == 200 and "Evidence digest" in html.text
    assert get(ds, "/digest.md").text.startswith("# Evidence digest")
    claim = get(ds, "/evidence/claims/blood-flow").text
    assert "no_direct_evidence" in claim and "/digest#claim-blood-flow" in claim
    assert "evidence_for_claim?claim_id=blood-flow" in claim


def test_chart_dashboard_and_robots(ds):
    dash = get(ds, "/-/dashboards/evidence")
    assert dash.status_code == 200 and "Effects reported, by outcome and measure" in dash.text
    assert "Disallow: /" in get(ds, "/robots.txt").text


def test_new_rows_show_without_a_restart(tmp_path, snapshot_xml):
    """The pipeline writes (WAL) while Datasette serves; the next request sees it."""
    path = tmp_path / "evidence.db"
    records = record_bytes(snapshot_xml)
    db = store.open_db(path)
    update.load(db, Source("file", "t", lambda: iter([make_efetch(records[:5])])), command="import")
    site = publish.app(path)
    assert get(site, "/evidence/studies.json?_size=0").json()["filtered_table_rows_count"] == 5
    update.load(db, Source("file", "t", lambda: iter([make_efetch(records)])), command="import")
    assert get(site, "/evidence/studies.json?_size=0").json()["filtered_table_rows_count"] == 27


def test_a_database_with_another_name_gets_the_same_metadata(tmp_path, db_path):
    other = tmp_path / "mine.db"
    store.open_db(db_path).conn.execute("pragma wal_checkpoint(truncate)")  # the copy needs every page
    shutil.copy(db_path, other)
    site = publish.app(other)
    assert get(site, "/-/metadata.json").json()["databases"]["mine"]["tables"]["studies"]["label_column"] == "title"
    assert rows(site, "/mine/sham_controlled.json")[0]["pmid"] == "30813155"


@pytest.fixture(scope="module")
def server(db_path):
    """A real `evidence serve` on a loopback port."""
    with running(lambda port: evidence_serve_args(db_path, port)) as (_, base):
        yield base


def test_evidence_serve_answers_http(server):
    assert requests.get(server + "/", timeout=5).status_code == 200
    data = requests.get(server + "/evidence/studies.json?_shape=array&on_topic=1", timeout=5).json()
    assert len(data) == 8
    assert requests.get(server + "/digest", timeout=5).status_code == 200


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium not installed (.ci/run installs it)")
@pytest.mark.parametrize("path", ["/evidence/studies?on_topic=1", "/evidence/claims/trigger-point-pain"])
def test_pages_render_in_chromium(server, tmp_path, path):
    png = tmp_path / "page.png"
    subprocess.run(["bash", str(SCREENSHOT), server + path, str(png), "1280", "1400"], check=True, capture_output=True, timeout=120)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 60_000  # a blank page is a few kB
