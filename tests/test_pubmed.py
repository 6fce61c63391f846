"""The E-utilities client against a real HTTP server on 127.0.0.1 replaying the snapshot."""

from __future__ import annotations

import time
from datetime import date

import pytest
import requests

from fake_eutils import Fault
from pipeline import pubmed
from pipeline.parse import iter_articles
from pipeline.sources import pubmed_source


def pmids_of(documents) -> list[str]:
    return [a.pmid for doc in documents for a in iter_articles(doc)]


def paths(fake) -> list[str]:
    return [r["path"] for r in fake.requests]


def test_search_then_fetch_in_batches_through_the_history_server(client, fake_eutils):
    """27 records in batches of 10: one esearch and three efetch calls via WebEnv/query_key."""
    search = client.esearch("dry needling")
    assert search.count == 27 and search.webenv and search.query_key == "1"
    batches = list(client.efetch(search, batch_size=10))
    assert [n for _, n in batches] == [10, 10, 7]
    assert pmids_of(body for body, _ in batches) == fake_eutils.pmids
    assert paths(fake_eutils) == ["esearch.fcgi"] + ["efetch.fcgi"] * 3
    search_params = fake_eutils.requests[0]["params"]
    assert search_params["usehistory"] == "y" and search_params["db"] == "pubmed"
    fetches = [r["params"] for r in fake_eutils.requests[1:]]
    assert [(p["retstart"], p["retmax"]) for p in fetches] == [("0", "10"), ("10", "10"), ("20", "10")]
    assert {p["WebEnv"] for p in fetches} == {search.webenv}
    assert {p["query_key"] for p in fetches} == {"1"}


def test_batch_size_is_capped_at_200(client, fake_eutils):
    search = client.esearch("x")
    list(client.efetch(search, batch_size=5000))
    assert fake_eutils.requests[-1]["params"]["retmax"] == "200"


def test_identity_and_key_are_sent_and_never_shown(fake_eutils):
    settings = pubmed.Settings.from_env(
        {"NCBI_EUTILS_URL": fake_eutils.base_url, "NCBI_API_KEY": "sekret-key", "NCBI_EMAIL": "a@b.org", "NCBI_TOOL": "evtest"}
    )
    client = pubmed.Client(settings, backoff_initial=0.01, backoff_jitter=0.01)
    client.esearch("x")
    params = fake_eutils.requests[0]["params"]
    assert (params["api_key"], params["email"], params["tool"]) == ("sekret-key", "a@b.org", "evtest")
    assert client.limiter.interval == pytest.approx(0.1)  # 10 a second with a key
    assert "sekret-key" not in repr(settings)


def test_rate_limit_without_key_is_three_a_second(fake_eutils):
    """Without an API key, no four requests reach the server within one second
    (by the server's clock: evenly spaced starts at 0, 1/3, 2/3 and 1 s would be four)."""
    client = pubmed.Client(pubmed.Settings(base_url=fake_eutils.base_url))
    for _ in range(7):
        client.esearch("x")
    stamps = [r["time"] for r in fake_eutils.requests]
    spans = [b - a for a, b in zip(stamps, stamps[3:])]  # first to fourth of each four in a row
    assert min(spans) >= 1.05  # a second and a margin (NCBI counts arrivals, which jitter)
    assert stamps[-1] - stamps[0] < 3.0  # and it still does three a second, near enough


def test_429_then_success_honours_retry_after(client, fake_eutils):
    fake_eutils.faults.append(Fault("status", status=429, retry_after="1"))
    started = time.monotonic()
    search = client.esearch("x")
    assert search.count == 27
    assert time.monotonic() - started >= 1.0  # waited as the server asked, not the 10 ms backoff
    assert paths(fake_eutils) == ["esearch.fcgi", "esearch.fcgi"]


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", status=500, path="efetch.fcgi"),
        Fault("status", status=503, path="efetch.fcgi"),
        Fault("truncate", path="efetch.fcgi"),
        Fault("html", path="efetch.fcgi"),
        Fault("error200", path="efetch.fcgi"),
        Fault("fewer", path="efetch.fcgi"),
        Fault("drop", path="efetch.fcgi"),
    ],
    ids=lambda f: f.kind + str(f.status if f.kind == "status" else ""),
)
def test_a_passing_fault_is_retried_and_the_batch_comes_whole(client, fake_eutils, fault):
    search = client.esearch("x")
    fake_eutils.faults.append(fault)
    batches = list(client.efetch(search, batch_size=10))
    assert pmids_of(b for b, _ in batches) == fake_eutils.pmids
    assert paths(fake_eutils).count("efetch.fcgi") == 4  # 3 batches + 1 retry


def test_timeout_is_retried(fake_eutils):
    client = pubmed.Client(pubmed.Settings(base_url=fake_eutils.base_url), timeout=0.3, backoff_initial=0.01, backoff_jitter=0.01)
    fake_eutils.faults.append(Fault("slow", delay=2))
    assert client.esearch("x").count == 27


def test_a_fault_that_persists_fails_loudly_after_bounded_attempts(client, fake_eutils):
    fake_eutils.faults.extend(Fault("status", status=502) for _ in range(10))
    with pytest.raises(pubmed.TransientError, match="HTTP 502"):
        client.esearch("x")
    assert len(fake_eutils.requests) == client.attempts == 6


def test_total_retry_time_is_bounded(fake_eutils):
    """A Retry-After longer than the time budget ends the retries instead of sleeping past it."""
    client = pubmed.Client(pubmed.Settings(base_url=fake_eutils.base_url), max_total_seconds=0.5)
    fake_eutils.faults.append(Fault("status", status=429, retry_after="30"))
    started = time.monotonic()
    with pytest.raises(pubmed.TransientError):
        client.esearch("x")
    assert time.monotonic() - started < 5


def test_esearch_warning_is_an_error_not_a_result(client, fake_eutils):
    """A field tag PubMed ignored broadens the query silently: that must stop the run, unretried."""
    fake_eutils.faults.append(Fault("warning"))
    with pytest.raises(pubmed.EutilsError, match="did not run the query as written") as err:
        client.esearch("x")
    assert not isinstance(err.value, pubmed.TransientError)
    assert len(fake_eutils.requests) == 1


def test_esearch_error_in_http_200_is_not_zero_records(client, fake_eutils):
    fake_eutils.faults.extend(Fault("error200", path="esearch.fcgi") for _ in range(10))
    with pytest.raises(pubmed.EutilsError, match="Invalid query"):
        client.esearch("x")


def test_client_error_status_is_not_retried(client, fake_eutils):
    fake_eutils.faults.append(Fault("status", status=400))
    with pytest.raises(pubmed.EutilsError, match="HTTP 400"):
        client.esearch("x")
    assert len(fake_eutils.requests) == 1


def test_more_than_10000_results_are_split_by_date(client, fake_eutils, caplog):
    """A search over PubMed's cap is split into entry-date windows, each under it, and says so."""

    def count(params):
        if "mindate" not in params:
            return 25_000
        lo, hi = params["mindate"], params["maxdate"]
        return 9_000 if (lo, hi) != ("1781/01/01", "2025/12/31") else 25_000

    fake_eutils.count_override = count
    windows = client.search_windows("x", window=(date(1781, 1, 1), date(2025, 12, 31)))
    assert len(windows) == 2 and all(w.count == 9_000 for w in windows)
    assert windows[0].window[1] < windows[1].window[0]
    assert windows[0].window[0] == date(1781, 1, 1) and windows[1].window[1] == date(2025, 12, 31)
    assert "splitting" in caplog.text
    asked = [r["params"] for r in fake_eutils.requests]
    assert all(p.get("datetype") == "edat" for p in asked[1:])


def test_incremental_search_asks_once_for_entered_or_modified(client, fake_eutils):
    """Since a date: one search, from a day before, for records entered or modified
    since (the two date windows combined on the history server)."""
    source = pubmed_source(client, "q", since=date(2023, 1, 2))
    docs = list(source.documents())
    searches = [r["params"] for r in fake_eutils.requests if r["path"] == "esearch.fcgi"]
    assert len(searches) == 1
    assert '"2023/01/01"[EDAT]' in searches[0]["term"] and '"2023/01/01"[MDAT]' in searches[0]["term"]
    # Records entered since then (two, in 2023) and, here, all 27 modified 2025-09-01:
    # each is fetched once.
    assert source.expected == 27
    assert len(pmids_of(docs)) == 27 and len(set(pmids_of(docs))) == 27


def test_entered_or_modified_is_one_search_and_each_record_is_fetched_once(client, fake_eutils):
    """The edat and mdat windows in one search on the history server: a record both
    entered and revised in the window is fetched once, and N records cost one search
    and ⌈N/200⌉ fetches."""
    window = (date(2023, 1, 1), date(2025, 12, 31))
    (search,) = client.search_windows("q", datetype=pubmed.CHANGED, window=window)
    assert search.count == 27  # 2 entered in 2023, all 27 revised 2025-09-01: 27, not 29
    pmids = pmids_of([body for body, _ in client.efetch(search, batch_size=10)])
    assert sorted(pmids) == sorted(fake_eutils.pmids)
    paths = [r["path"] for r in fake_eutils.requests]
    assert paths == ["esearch.fcgi"] + ["efetch.fcgi"] * 3  # ⌈27/10⌉
    term = fake_eutils.requests[0]["params"]["term"]
    assert '"2023/01/01"[EDAT] : "2025/12/31"[EDAT]' in term and '"2023/01/01"[MDAT] : "2025/12/31"[MDAT]' in term
    assert "datetype" not in fake_eutils.requests[0]["params"]


def test_nothing_entered_or_modified_costs_one_search(client, fake_eutils):
    """Only the search, when nothing is new: no fetch."""
    (search,) = client.search_windows("q", datetype=pubmed.CHANGED, window=(date(2026, 1, 1), date(2026, 2, 1))) or [None]
    assert search.count == 0 and list(client.efetch(search)) == []
    assert [r["path"] for r in fake_eutils.requests] == ["esearch.fcgi"]


def test_probe_says_whether_eutils_answers(client, fake_eutils):
    assert client.probe(timeout=2)
    fake_eutils.faults.append(Fault("status", status=503))
    assert not client.probe(timeout=2)
    dead = pubmed.Client(pubmed.Settings.from_env())  # conftest points it at a closed port
    assert not dead.probe(timeout=2)


def test_connection_refused_is_a_transient_error():
    client = pubmed.Client(pubmed.Settings.from_env(), attempts=2, backoff_initial=0.01, backoff_jitter=0.01)
    with pytest.raises(pubmed.TransientError, match="esearch: connection refused"):
        client.esearch("x")


def test_post_for_long_queries(client, fake_eutils):
    long_term = " OR ".join(f'"term {i}"[tiab]' for i in range(120))
    assert client.esearch(long_term).count == 27
    assert fake_eutils.requests[0]["method"] == "POST"
    assert isinstance(requests, object)


def test_incremental_run_stores_each_record_once_and_succeeds(client, fake_eutils, db):
    """Records found by both the entry-date and the modification-date search count once."""
    from pipeline.update import load

    result = load(db, pubmed_source(client, "q", since=date(2023, 1, 2), batch_size=10), command="run", query="q")
    assert result.ok, result.error
    assert (result.counts.found, result.counts.new) == (27, 27)
    assert db["runs"].get(result.run_id)["window"].startswith("entered or modified 2023-01-01 to ")
