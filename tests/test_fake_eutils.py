"""Self-tests for the fake E-utilities server (tests/fake_eutils.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import requests
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_eutils import FakeEutils, Fault, make_efetch, record_bytes  # noqa: E402

SNAPSHOT = Path(__file__).resolve().parents[1] / "pipeline" / "snapshot" / "efetch.xml"
TIMEOUT = 5


@pytest.fixture()
def fake():
    with FakeEutils(SNAPSHOT) as server:
        yield server


def _pmids(xml: bytes) -> list[str]:
    root = etree.fromstring(xml, etree.XMLParser(load_dtd=False, no_network=True))
    return [a.findtext("MedlineCitation/PMID") for a in root.iter("PubmedArticle")]


def _search(fake: FakeEutils, **params) -> dict:
    base = {"db": "pubmed", "term": "dry needling", "retmode": "json"}
    r = requests.get(fake.base_url + "esearch.fcgi", params={**base, **params}, timeout=TIMEOUT)
    r.raise_for_status()
    return r.json()["esearchresult"]


def test_records_load_in_file_order(fake):
    """The fake serves all 27 snapshot records, in file order, and make_efetch round-trips them."""
    recs = record_bytes(SNAPSHOT)
    assert len(recs) == 27
    assert fake.pmids == _pmids(SNAPSHOT.read_bytes())
    assert _pmids(make_efetch(recs)) == fake.pmids


def test_esearch_paging(fake):
    """esearch honours retstart/retmax, reports the true count, and omits history keys without usehistory."""
    first = _search(fake, retmax=10)
    assert first["count"] == "27" and first["retmax"] == "10" and first["retstart"] == "0"
    assert first["idlist"] == fake.pmids[:10]
    assert "webenv" not in first and "querykey" not in first
    assert "errorlist" not in first and "warninglist" not in first
    last = _search(fake, retstart=20, retmax=10)
    assert last["idlist"] == fake.pmids[20:] and last["retmax"] == "7"
    assert _search(fake, term="x NOHITS")["count"] == "0"
    assert fake.requests[0]["path"] == "esearch.fcgi"
    assert fake.requests[0]["params"]["retmax"] == "10"


def test_efetch_via_webenv_in_batches(fake):
    """A usehistory esearch then efetch batches by WebEnv/query_key return exactly the matched PMIDs."""
    res = _search(fake, usehistory="y", retmax=0)
    assert res["idlist"] == [] and res["querykey"] == "1" and res["webenv"].startswith("MCID_")
    got: list[str] = []
    for start in range(0, int(res["count"]), 10):
        r = requests.get(fake.base_url + "entrez/eutils/efetch.fcgi", timeout=TIMEOUT, params={
            "db": "pubmed", "retmode": "xml", "WebEnv": res["webenv"],
            "query_key": res["querykey"], "retstart": start, "retmax": 10})
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/xml")
        assert r.content.startswith(b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet')
        got += _pmids(r.content)
    assert got == fake.pmids
    again = _search(fake, usehistory="y", WebEnv=res["webenv"])
    assert again["webenv"] == res["webenv"] and again["querykey"] == "2"
    by_id = requests.post(fake.base_url + "efetch.fcgi", timeout=TIMEOUT,
                          data={"db": "pubmed", "retmode": "xml", "id": ",".join(got[3:5])})
    assert _pmids(by_id.content) == got[3:5] and fake.requests[-1]["method"] == "POST"
    bad = requests.get(fake.base_url + "efetch.fcgi", timeout=TIMEOUT,
                       params={"db": "pubmed", "WebEnv": "MCID_nope", "query_key": "1"})
    assert bad.status_code == 200 and b"<ERROR>Unable to obtain query #1</ERROR>" in bad.content


def test_date_filter_edat(fake):
    """datetype=edat with mindate/maxdate keeps only records whose entrez date is in the range."""
    res = _search(fake, datetype="edat", mindate="2019/02/28", maxdate="2021/12", retmax=100)
    assert "30813155" in res["idlist"]  # entrez 2019/2/28, the inclusive lower bound
    assert "33609358" in res["idlist"]  # entrez 2021/2/19
    assert "35659858" not in res["idlist"]  # entrez 2022/6/4
    assert 0 < int(res["count"]) < 27 and int(res["count"]) == len(res["idlist"])
    assert _search(fake, datetype="edat", mindate="1900", maxdate="1901")["count"] == "0"


def test_count_override_reports_big_count(fake):
    """count_override changes only the reported count; the idlist still comes from real matches."""
    fake.count_override = lambda p: None if "mindate" in p else 20000
    assert _search(fake)["count"] == "20000"
    assert _search(fake, datetype="edat", mindate="2000", maxdate="2030")["count"] == "27"


def test_status_429_with_retry_after(fake):
    """A queued 429 fault is served once, with its Retry-After header, then service resumes."""
    fake.faults.append(Fault("status", status=429, retry_after="1"))
    r = requests.get(fake.base_url + "esearch.fcgi", params={"db": "pubmed", "term": "x"}, timeout=TIMEOUT)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert fake.faults == []
    assert _search(fake)["count"] == "27"


def test_fault_for_other_path_is_not_consumed(fake):
    """A fault aimed at efetch.fcgi leaves esearch alone and stays queued until an efetch arrives."""
    fake.faults.append(Fault("fewer", path="efetch.fcgi"))
    res = _search(fake, usehistory="y")
    assert len(fake.faults) == 1
    r = requests.get(fake.base_url + "efetch.fcgi", timeout=TIMEOUT, params={
        "db": "pubmed", "WebEnv": res["webenv"], "query_key": "1", "retmax": 5})
    assert len(_pmids(r.content)) == 4 and fake.faults == []


def test_truncate_html_error200_warning(fake):
    """truncate, html, error200 and warning faults produce the bodies a client must reject or flag."""
    url = fake.base_url + "esearch.fcgi"
    params = {"db": "pubmed", "term": "x", "retmode": "json"}
    fake.faults += [Fault("truncate"), Fault("html"), {"kind": "error200"}, Fault("warning")]
    r = requests.get(url, params=params, timeout=TIMEOUT)
    with pytest.raises(ValueError):
        r.json()
    r = requests.get(url, params=params, timeout=TIMEOUT)
    assert r.headers["Content-Type"].startswith("text/html") and b"<h1>Service unavailable" in r.content
    assert requests.get(url, params=params, timeout=TIMEOUT).json()["esearchresult"] == {"ERROR": "Invalid query"}
    res = requests.get(url, params=params, timeout=TIMEOUT).json()["esearchresult"]
    assert res["errorlist"]["fieldsnotfound"] == ["tiab2"] and res["count"] == "27"


def test_drop_raises_connection_error(fake):
    """A drop fault closes the connection with no response, which requests reports as ConnectionError."""
    fake.faults.append(Fault("drop"))
    with pytest.raises(requests.ConnectionError):
        requests.get(fake.base_url + "einfo.fcgi", params={"db": "pubmed"}, timeout=TIMEOUT)
    r = requests.get(fake.base_url + "einfo.fcgi", params={"db": "pubmed"}, timeout=TIMEOUT)
    assert r.json()["einforesult"]["dbinfo"][0]["count"] == "27"


def test_slow_fault_triggers_client_timeout(fake):
    """A slow fault delays the reply past a short client timeout."""
    fake.faults.append(Fault("slow", delay=1.0))
    with pytest.raises(requests.Timeout):
        requests.get(fake.base_url + "einfo.fcgi", timeout=0.2)


def test_set_records_serves_modified_record(fake):
    """set_records replaces what efetch returns, even for an existing WebEnv."""
    res = _search(fake, usehistory="y")
    recs = record_bytes(SNAPSHOT)
    recs[0] = recs[0].replace(b"<ArticleTitle>", b"<ArticleTitle>CHANGED ", 1)
    fake.set_records(recs)
    r = requests.get(fake.base_url + "efetch.fcgi", timeout=TIMEOUT, params={
        "db": "pubmed", "WebEnv": res["webenv"], "query_key": "1", "retmax": 1})
    assert b"<ArticleTitle>CHANGED " in r.content


def test_requests_are_time_stamped(fake):
    """Each request is logged with its arrival time (time.monotonic), for rate checks."""
    import time

    before = time.monotonic()
    _search(fake)
    assert before <= fake.requests[0]["time"] <= time.monotonic()


def test_samepage_serves_the_first_page_whatever_retstart(fake):
    res = _search(fake, usehistory="y", retmax=0)
    params = {"db": "pubmed", "WebEnv": res["webenv"], "query_key": "1", "retstart": 10, "retmax": 10}
    fake.faults.append(Fault("samepage", path="efetch.fcgi"))
    repeated = requests.get(fake.base_url + "efetch.fcgi", params=params, timeout=TIMEOUT)
    paged = requests.get(fake.base_url + "efetch.fcgi", params=params, timeout=TIMEOUT)
    assert _pmids(repeated.content) == fake.pmids[:10]
    assert _pmids(paged.content) == fake.pmids[10:20]


def test_badkey_and_echo_put_the_request_in_the_error_body(fake):
    """NCBI's invalid-key reply echoes the key; `echo` echoes the query string."""
    params = {"db": "pubmed", "term": "x", "api_key": "KEY123", "email": "a+b@c.org"}
    fake.faults += [Fault("badkey"), Fault("status", status=400, echo=True), Fault("error200", echo=True)]
    bad = requests.get(fake.base_url + "esearch.fcgi", params=params, timeout=TIMEOUT)
    assert bad.status_code == 400 and bad.json() == {
        "error": "API key invalid", "api-key": "KEY123", "type": "invalid", "status": "unknown"}
    echoed = requests.get(fake.base_url + "esearch.fcgi", params=params, timeout=TIMEOUT)
    assert echoed.status_code == 400 and "api_key=KEY123" in echoed.text and "a%2Bb%40c.org" in echoed.text
    error = requests.get(fake.base_url + "esearch.fcgi", params={**params, "retmode": "json"}, timeout=TIMEOUT)
    assert "api_key=KEY123" in error.json()["esearchresult"]["ERROR"]


@pytest.mark.parametrize("body_only", [False, True])
def test_trickle_sends_a_byte_at_a_time(fake, body_only):
    """A trickled reply arrives whole, but slowly: a byte every `delay` seconds
    (the status line and headers too, unless body_only)."""
    import socket
    import time

    fake.faults.append(Fault("trickle", delay=0.005, body_only=body_only))
    with socket.create_connection(("127.0.0.1", int(fake.base_url.rsplit(":", 1)[1].strip("/"))), timeout=5) as s:
        s.sendall(b"GET /einfo.fcgi?db=pubmed HTTP/1.1\r\nHost: x\r\n\r\n")
        started, first, data = time.monotonic(), None, b""
        while True:
            got = s.recv(65536)
            if not got:
                break
            first = first or (time.monotonic() - started, len(got))
            data += got
        elapsed = time.monotonic() - started
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200") and b'"einforesult"' in body
    trickled = len(body) if body_only else len(data)
    assert elapsed >= 0.005 * trickled * 0.8
    sent_at_once = len(head) + 4 if body_only else 0
    assert max(sent_at_once, 1) <= first[1] <= sent_at_once + 3  # then a byte at a time
