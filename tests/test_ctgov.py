"""The ClinicalTrials.gov API v2 client against a real HTTP server on 127.0.0.1 replaying the snapshot."""

from __future__ import annotations

import json

import pytest
from fake_ctgov import SNAPSHOT, CtFault, FakeCtGov, snapshot_studies
from serving import free_port

from pipeline import ctgov


@pytest.fixture(autouse=True)
def no_registry(monkeypatch):
    """No test may reach the real registry: point CTGOV_API_URL at a dead loopback port."""
    monkeypatch.setenv("CTGOV_API_URL", f"http://127.0.0.1:{free_port()}/api/v2")


@pytest.fixture
def fake():
    with FakeCtGov() as server:
        yield server


def quick(base_url: str, **kw) -> ctgov.Client:
    """A client with quick backoff: the retry logic is tested, not the waiting."""
    options = {"backoff_initial": 0.01, "backoff_max": 0.05, "backoff_jitter": 0.01, "requests_per_second": 100, "timeout": 5}
    options.update(kw)
    return ctgov.Client(ctgov.Settings(base_url), **options)


def ncts(studies: list[dict]) -> list[str]:
    return [s["protocolSection"]["identificationModule"]["nctId"] for s in studies]


def test_search_follows_next_page_token_through_every_page(fake):
    """16 studies in pages of 5: four requests, each after the first carrying the previous page's token."""
    result = quick(fake.base_url).search(["headache"], ["dry needling"], page_size=5)
    assert ncts(result.studies) == ncts(snapshot_studies())
    assert result.pages == 4 and result.total == 16
    params = [r["params"] for r in fake.requests]
    assert [r["path"] for r in fake.requests] == ["/api/v2/studies"] * 4
    assert "pageToken" not in params[0] and params[0]["countTotal"] == "true"
    assert all(p.get("pageToken") for p in params[1:]) and len({p["pageToken"] for p in params[1:]}) == 3
    assert {p["pageSize"] for p in params} == {"5"} and {p["format"] for p in params} == {"json"}


def test_search_terms_are_sent_as_or_expressions_with_phrases_quoted(fake):
    quick(fake.base_url).search(["headache", "migraine"], ["dry needling", "intramuscular stimulation"])
    params = fake.requests[0]["params"]
    assert params["query.cond"] == "headache OR migraine"
    assert params["query.intr"] == '"dry needling" OR "intramuscular stimulation"'


def test_single_study_by_nct_and_a_missing_one_is_none(fake):
    client = quick(fake.base_url)
    study = client.fetch_study("nct03730896")
    assert study == json.loads((SNAPSHOT / "NCT03730896.json").read_text())
    assert client.fetch_study("NCT09999999") is None
    found, missing = client.fetch_studies(["NCT03500861", "NCT09999999", "NCT03500861"])
    assert ncts(found) == ["NCT03500861"] and missing == ["NCT09999999"]
    with pytest.raises(ctgov.CtGovError, match="not an NCT number"):
        client.fetch_study("12345")


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_rate_limits_and_server_errors_are_retried(fake, status):
    """A 429 (honouring Retry-After) or a 5xx on the second page is retried; the result is whole."""
    fake.faults.append(CtFault("status", status=status, retry_after="0"))
    fake.faults.append(CtFault("status", status=status))
    result = quick(fake.base_url).search(["headache"], ["dry needling"], page_size=8)
    assert ncts(result.studies) == ncts(snapshot_studies())
    assert len(fake.requests) == 4  # two failures, then both pages


def test_truncated_html_and_dropped_replies_are_retried(fake):
    fake.faults += [CtFault("truncate"), CtFault("html"), CtFault("drop")]
    study = quick(fake.base_url).fetch_study("NCT04305223")
    assert study["protocolSection"]["identificationModule"]["nctId"] == "NCT04305223"
    assert len(fake.requests) == 4


def test_a_server_that_keeps_failing_gives_a_clear_error_after_bounded_attempts(fake):
    fake.faults += [CtFault("status", status=503)] * 10
    with pytest.raises(ctgov.TransientError) as caught:
        quick(fake.base_url, attempts=3).search(["headache"], ["dry needling"])
    message = str(caught.value)
    assert "HTTP 503" in message and "gave up after 3 attempts" in message and "try again later" in message
    assert "CTGOV_API_URL" in message
    assert len(fake.requests) == 3


def test_a_wait_longer_than_the_budget_fails_at_once_saying_so(fake):
    fake.faults.append(CtFault("status", status=429, retry_after="3600"))
    with pytest.raises(ctgov.CtGovError, match="asked to wait 3600 s"):
        quick(fake.base_url, max_total_seconds=5).fetch_study("NCT04305223")
    assert len(fake.requests) == 1


def test_a_refused_request_is_not_retried_and_quotes_the_server(fake):
    fake.faults.append(CtFault("status", status=400, path="/studies"))
    # 400 is not in the retried set: the fake's status fault text is quoted back.
    with pytest.raises(ctgov.CtGovError, match="HTTP 400.*injected by FakeCtGov") as caught:
        quick(fake.base_url).search(["headache"], ["dry needling"])
    assert not isinstance(caught.value, ctgov.TransientError)
    assert len(fake.requests) == 1


def test_a_wrong_base_url_says_what_to_set(fake):
    with pytest.raises(ctgov.CtGovError, match="CTGOV_API_URL should be the API v2 base"):
        quick(fake.base_url.removesuffix("/api/v2") + "/wrong").search(["headache"], [])


def test_a_server_that_does_not_page_is_an_error_not_a_loop(fake):
    fake.repeat_token = True
    with pytest.raises(ctgov.CtGovError, match="already used|repeats studies"):
        quick(fake.base_url).search(["headache"], ["dry needling"], page_size=5)


def test_fewer_studies_than_the_server_counted_is_an_error(fake):
    fake.extra_count = 2
    with pytest.raises(ctgov.CtGovError, match="counted 18 studies but served 16"):
        quick(fake.base_url, attempts=1).search(["headache"], ["dry needling"])


def test_a_study_without_an_nct_number_is_refused(fake):
    broken = snapshot_studies()[:2]
    del broken[1]["protocolSection"]["identificationModule"]["nctId"]
    fake.studies = broken
    with pytest.raises(ctgov.CtGovError, match="no protocolSection.identificationModule.nctId"):
        quick(fake.base_url, attempts=2).search(["headache"], ["dry needling"])


def test_an_unreachable_api_fails_quickly_with_the_cause():
    client = quick(f"http://127.0.0.1:{free_port()}/api/v2", attempts=2)
    assert client.probe(timeout=1) is False
    with pytest.raises(ctgov.TransientError, match="connection refused.*gave up after 2 attempts"):
        client.fetch_study("NCT04305223")


def test_settings_come_from_ctgov_api_url():
    assert ctgov.Settings.from_env({}).base_url == "https://clinicaltrials.gov/api/v2"
    assert ctgov.Settings.from_env({"CTGOV_API_URL": "http://127.0.0.1:9/api/v2/"}).base_url == "http://127.0.0.1:9/api/v2"


def test_probe_answers_from_the_version_endpoint(fake):
    assert quick(fake.base_url).probe() is True
    assert fake.paths == ["/api/v2/version"]
