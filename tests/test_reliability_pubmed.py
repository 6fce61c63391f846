"""Issue 10 (reliability), the E-utilities client's part: a history server that
does not page, secrets echoed in error replies, a server that trickles its reply,
a Retry-After longer than the time left, and the rate limit at NCBI's end.

Every test talks to the fake server on 127.0.0.1 only (tests/fake_eutils.py).
"""

from __future__ import annotations

import logging
import time
import traceback
from datetime import date
from urllib.parse import quote, quote_plus

import pytest

from conftest import closed_port
from fake_eutils import Fault
from pipeline import pubmed, store
from pipeline.sources import pubmed_source
from pipeline.update import load

KEY = "k3yS3CR3T0f9a2c41e8d07b6a5f4e3d2c1b0a"  # NCBI keys are 36 hex characters; this one is easy to spot
EMAIL = "me+ncbi@example.org"  # a '+' and an '@': encoded differently by quote and quote_plus


def fast_client(base_url: str, **options) -> pubmed.Client:
    settings = pubmed.Settings(base_url=base_url, api_key=KEY, email=EMAIL)
    defaults = dict(backoff_initial=0.01, backoff_max=0.05, backoff_jitter=0.01,
                    requests_per_second=100, timeout=5, attempts=3)
    return pubmed.Client(settings, **{**defaults, **options})


def leaks(text: str) -> list[str]:
    """The forms of the key or the email found in `text` (any case), or any ten
    characters of the key in a row (a secret cut short is still a leak)."""
    forms = {KEY, EMAIL, quote_plus(EMAIL), quote(EMAIL, safe=""), quote(EMAIL)}
    found = [f for f in forms if f.lower() in text.lower()]
    found += [KEY[i:i + 10] for i in range(len(KEY) - 9) if KEY[i:i + 10] in text]
    return found


def exception_text(error: BaseException | None) -> str:
    """All an exception shows: str, repr and traceback, of it and of everything chained to it."""
    parts, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        parts += [str(error), repr(error), "".join(traceback.format_exception(error))]
        error = error.__cause__ or error.__context__
    return "\n".join(parts)


def search_and_fetch(client: pubmed.Client) -> None:
    search = client.esearch("dry needling")
    list(client.efetch(search, batch_size=10))


# --- 3. a history server that serves the same page whatever retstart ---------------


def test_a_batch_repeating_delivered_records_is_retried_then_fails(client, fake_eutils):
    search = client.esearch("x")
    fake_eutils.faults.extend(Fault("samepage", path="efetch.fcgi") for _ in range(20))
    with pytest.raises(pubmed.TransientError, match="delivered already") as err:
        list(client.efetch(search, batch_size=10))
    assert "gave up after 6 attempts" in str(err.value)
    efetches = [r for r in fake_eutils.requests if r["path"] == "efetch.fcgi"]
    assert len(efetches) == 1 + client.attempts  # the first page, then the second tried six times
    assert {r["params"]["retstart"] for r in efetches[1:]} == {"10"}


@pytest.mark.reliability("network", "efetch returns the same page whatever retstart")
def test_a_history_server_that_does_not_page_fails_the_run_and_keeps_the_watermark(client, fake_eutils, db):
    """Every batch had the right size, so the run used to end ok with 10 of 27
    distinct records and move the watermark: it must fail and leave it."""
    first = load(db, pubmed_source(client, "q", batch_size=10), command="run", query="q")
    assert first.ok, first.error
    mark = store.last_ok_run(db, source="pubmed", query="q")
    assert mark["id"] == first.run_id

    fake_eutils.faults.extend(Fault("samepage", path="efetch.fcgi") for _ in range(100))
    second = load(db, pubmed_source(client, "q", since=date(2000, 1, 1), batch_size=10), command="run", query="q")
    assert not second.ok
    assert "delivered already" in second.error and "same page whatever retstart" in second.error
    assert db["runs"].get(second.run_id)["status"] == "failed"
    assert store.last_ok_run(db, source="pubmed", query="q")["id"] == first.run_id


def test_a_first_run_against_a_server_that_does_not_page_is_not_ok(client, fake_eutils, db):
    fake_eutils.faults.extend(Fault("samepage", path="efetch.fcgi") for _ in range(100))
    result = load(db, pubmed_source(client, "q", batch_size=10), command="run", query="q")
    assert not result.ok
    assert store.last_ok_run(db, source="pubmed", query="q") is None


# --- 4. the API key and the email never shown --------------------------------------


ERROR_PATHS = {
    "invalid key (400 echoing it)": [Fault("badkey")],
    "400 echoing the request": [Fault("status", status=400, echo=True)],
    "503 echoing the request, to the end": [Fault("status", status=503, echo=True)] * 3,
    "429 asking for a long wait": [Fault("status", status=429, retry_after="1000", echo=True)],
    "dropped connections": [Fault("drop")] * 3,
    "ERROR in HTTP 200 echoing the request": [Fault("error200", echo=True)] * 3,
    "efetch ERROR echoing the request": [Fault("error200", echo=True, path="efetch.fcgi")] * 3,
    "efetch 400 echoing the request": [Fault("status", status=400, echo=True, path="efetch.fcgi")],
    "truncated replies": [Fault("truncate")] * 3,
    "HTML pages": [Fault("html")] * 3,
    "a trickled reply": [Fault("trickle", delay=0.2)] * 3,
}


@pytest.mark.reliability("secret", "11 error paths with an API key and email set")
@pytest.mark.parametrize("faults", list(ERROR_PATHS.values()), ids=list(ERROR_PATHS))
def test_errors_and_logs_never_show_the_key_or_the_email(fake_eutils, caplog, faults):
    caplog.set_level(logging.DEBUG)  # urllib3 logs each request's URL at DEBUG
    client = fast_client(fake_eutils.base_url, request_seconds=0.5)
    fake_eutils.faults.extend(faults)
    with pytest.raises(pubmed.EutilsError) as err:
        search_and_fetch(client)
    sent = fake_eutils.requests[0]["params"]
    assert (sent["api_key"], sent["email"]) == (KEY, EMAIL)  # they were sent, and echoed back
    assert leaks(exception_text(err.value)) == []
    assert leaks(caplog.text) == []


def test_the_invalid_key_reply_is_quoted_with_the_key_taken_out(fake_eutils):
    client = fast_client(fake_eutils.base_url)
    fake_eutils.faults.append(Fault("badkey"))
    with pytest.raises(pubmed.EutilsError, match="HTTP 400") as err:
        client.esearch("x")
    assert "API key invalid" in str(err.value) and '"api-key": "***"' in str(err.value)


def test_a_network_error_names_no_secret(caplog):
    caplog.set_level(logging.DEBUG)
    client = fast_client(f"http://127.0.0.1:{closed_port()}/", attempts=2)
    with pytest.raises(pubmed.TransientError, match="connection refused") as err:
        client.esearch("x")
    assert leaks(exception_text(err.value)) == [] and leaks(caplog.text) == []


def test_a_secret_cut_by_the_excerpt_is_still_taken_out(fake_eutils):
    """A 400 body is quoted in part; redacting after the cut would leave half a key."""
    client = fast_client(fake_eutils.base_url)
    for pad in range(0, 60, 3):
        fake_eutils.faults.append(Fault("status", status=400, echo=True))
        with pytest.raises(pubmed.EutilsError, match="HTTP 400") as err:
            client.esearch("x" * (60 + pad))
        assert leaks(exception_text(err.value)) == [], pad


@pytest.mark.reliability("secret", "HTTP 400 echoing the request (NCBI invalid-key reply)")
@pytest.mark.parametrize("fault", [Fault("badkey"), Fault("status", status=400, echo=True)], ids=["badkey", "echo400"])
def test_the_runs_ledger_keeps_no_secret(fake_eutils, db, caplog, fault):
    """NCBI's invalid-key reply put the key in runs.error, stderr and `evidence status`."""
    caplog.set_level(logging.DEBUG)
    client = fast_client(fake_eutils.base_url)
    fake_eutils.faults.append(fault)
    result = load(db, pubmed_source(client, "q", batch_size=10), command="run", query="q")
    assert not result.ok and "HTTP 400" in result.error
    ledger = repr(db.execute("select * from runs").fetchall()) + repr(db.execute("select * from run_problems").fetchall())
    assert "HTTP 400" in ledger
    assert leaks(ledger) == [] and leaks(result.error) == [] and leaks(caplog.text) == []


# --- 8. a total deadline per request and per call ----------------------------------


@pytest.mark.reliability("network", "a server sending one byte at a time (headers)")
def test_a_server_trickling_its_headers_is_cut_off_at_the_deadline(fake_eutils):
    """A byte every 0.2 s never trips the socket timeout (5 s), but the request
    as a whole may take 0.8 s."""
    client = fast_client(fake_eutils.base_url, request_seconds=0.8, attempts=2)
    fake_eutils.faults.extend([Fault("trickle", delay=0.2), Fault("trickle", delay=0.2)])
    started = time.monotonic()
    with pytest.raises(pubmed.TransientError, match=r"no whole reply within 0\.8 s"):
        client.esearch("x")
    assert time.monotonic() - started < 3
    assert len(fake_eutils.requests) == 2


@pytest.mark.reliability("network", "a server sending one byte at a time (body)")
def test_a_server_trickling_its_body_is_cut_off_and_the_retry_succeeds(fake_eutils):
    client = fast_client(fake_eutils.base_url, request_seconds=0.8)
    fake_eutils.faults.append(Fault("trickle", delay=0.2, body_only=True))
    started = time.monotonic()
    assert client.esearch("x").count == 27
    assert 0.7 < time.monotonic() - started < 3
    assert len(fake_eutils.requests) == 2


@pytest.mark.reliability("network", "a slow request against the call budget")
def test_a_slow_request_cannot_outlast_the_call_budget(fake_eutils):
    """max_total_seconds bounds the call, retries and the request in flight included."""
    client = fast_client(fake_eutils.base_url, request_seconds=60, max_total_seconds=1.5, attempts=6)
    fake_eutils.faults.extend(Fault("trickle", delay=0.2) for _ in range(6))
    started = time.monotonic()
    with pytest.raises(pubmed.TransientError, match="no whole reply within 1.5 s"):
        client.esearch("x")
    assert time.monotonic() - started < 3


@pytest.mark.reliability("network", "an oversized reply")
def test_an_oversized_reply_is_refused(client, fake_eutils, monkeypatch):
    monkeypatch.setattr(pubmed, "MAX_REPLY_BYTES", 1000)
    search = client.esearch("x")
    with pytest.raises(pubmed.TransientError, match="more than the 1,000 allowed"):
        list(client.efetch(search, batch_size=10))


# --- 9. Retry-After beyond the budget; the rate limit at NCBI's end --------------


@pytest.mark.reliability("network", "Retry-After: 1000")
def test_a_retry_after_longer_than_the_budget_fails_at_once_and_says_so(client, fake_eutils):
    fake_eutils.faults.append(Fault("status", status=429, retry_after="1000"))
    started = time.monotonic()
    with pytest.raises(pubmed.TransientError, match="the server asked to wait 1000 s") as err:
        client.esearch("x")
    assert time.monotonic() - started < 1
    assert "300 s allowed" in str(err.value) and "gave up" not in str(err.value)
    assert len(fake_eutils.requests) == 1


def test_a_retry_after_within_the_budget_is_still_honoured(fake_eutils):
    client = fast_client(fake_eutils.base_url, max_total_seconds=5)
    fake_eutils.faults.append(Fault("status", status=503, retry_after="1"))
    started = time.monotonic()
    assert client.esearch("x").count == 27
    assert time.monotonic() - started >= 1


@pytest.mark.reliability("network", "rate limit (10/s with a key)")
def test_no_eleven_requests_reach_ncbi_within_one_second_with_a_key(fake_eutils):
    """At 10 a second (with an API key), counted at the server, every eleven
    requests in a row span more than a second (three a second without a key:
    tests/test_pubmed.py::test_rate_limit_without_key_is_three_a_second)."""
    keyed = fast_client(fake_eutils.base_url, requests_per_second=None)
    for _ in range(12):
        keyed.esearch("x")
    stamps = [r["time"] for r in fake_eutils.requests]
    assert min(b - a for a, b in zip(stamps, stamps[10:])) >= 1.05


@pytest.mark.reliability("network", "a run that outlasts its whole budget")
def test_a_run_cannot_outlast_its_budget(fake_eutils):
    """run_seconds bounds everything one client (one run) does: the request in
    flight is cut at the run's deadline, and every later call fails at once."""
    client = fast_client(fake_eutils.base_url, request_seconds=60, max_total_seconds=60, run_seconds=1.0, attempts=6)
    fake_eutils.faults.extend(Fault("trickle", delay=0.2) for _ in range(6))
    started = time.monotonic()
    with pytest.raises(pubmed.TransientError):
        client.esearch("x")
    assert time.monotonic() - started < 2.5
    with pytest.raises(pubmed.EutilsError, match="allowed for the whole run ran out"):
        client.esearch("x")
