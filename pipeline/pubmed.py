"""The NCBI E-utilities client: the only module that talks to PubMed.

esearch with the history server, then efetch in batches through WebEnv and
query_key. Every reply is checked before it is handed on: a truncated or
unparsable body, an HTML page, an `ERROR` in an HTTP 200, fewer records than
asked for are all errors (retried when they may be passing), never "no new
records". Retries use tenacity (exponential backoff with jitter, honouring
Retry-After, bounded in attempts and in total time); a small limiter keeps to
NCBI's 3 requests a second (10 with an API key).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable, Iterator
from urllib.parse import quote, quote_plus

import requests
import tenacity
from lxml import etree

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
MAX_BATCH = 200  # efetch records per request
# PubMed serves at most the first 10,000 records of one search; larger result
# sets are split into date windows.
SEARCH_LIMIT = 9_999
EARLIEST = date(1781, 1, 1)  # older than any PubMed entry date
USER_AGENT = "evidence-pipeline (dry needling for headache; +https://pubmed.ncbi.nlm.nih.gov/)"


class EutilsError(RuntimeError):
    """E-utilities answered, but not with what was asked for. Not retried."""


class TransientError(EutilsError):
    """A failure that may pass (429, 5xx, network, truncated or garbled reply). Retried."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class SearchResult:
    """One esearch on the history server."""

    count: int
    webenv: str
    query_key: str
    translation: str | None = None
    window: tuple[date, date] | None = None
    datetype: str | None = None


@dataclass
class Settings:
    """Where and as whom to call E-utilities; from the environment by default."""

    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = None
    email: str | None = None
    tool: str = "evidence-pipeline"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        base = env.get("NCBI_EUTILS_URL") or DEFAULT_BASE_URL
        return cls(
            base_url=base if base.endswith("/") else base + "/",
            api_key=env.get("NCBI_API_KEY") or None,
            email=env.get("NCBI_EMAIL") or None,
            tool=env.get("NCBI_TOOL") or "evidence-pipeline",
        )

    def __repr__(self) -> str:  # never show the key
        return f"Settings(base_url={self.base_url!r}, api_key={'***' if self.api_key else None}, tool={self.tool!r})"


class RateLimiter:
    """At most `per_second` request starts a second, across threads."""

    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            time.sleep(delay)


class Client:
    """A polite, retrying E-utilities client for PubMed."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        session: requests.Session | None = None,
        attempts: int = 6,
        max_total_seconds: float = 300.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        backoff_jitter: float = 1.0,
        timeout: float = 60.0,
        requests_per_second: float | None = None,
    ):
        self.settings = settings or Settings.from_env()
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.attempts = attempts
        self.max_total_seconds = max_total_seconds
        self.backoff = tenacity.wait_exponential_jitter(
            multiplier=backoff_initial, max=backoff_max, jitter=backoff_jitter
        )
        self.timeout = timeout
        rate = requests_per_second or (10.0 if self.settings.api_key else 3.0)
        self.limiter = RateLimiter(rate)
        self.request_count = 0

    # --- HTTP -------------------------------------------------------------

    def _params(self, params: dict) -> dict:
        p = {"db": "pubmed", **{k: v for k, v in params.items() if v is not None}}
        p["tool"] = self.settings.tool
        if self.settings.email:
            p["email"] = self.settings.email
        if self.settings.api_key:
            p["api_key"] = self.settings.api_key
        return p

    def _wait(self, state: tenacity.RetryCallState) -> float:
        backoff = self.backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        return max(backoff, retry_after or 0.0)

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        # One short line per retry: the cause, which attempt comes next, the wait.
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "PubMed %s; attempt %d of %d in %.1f s",
            exc, state.attempt_number + 1, self.attempts, state.upcoming_sleep,
        )

    def call(self, endpoint: str, params: dict, check: Callable[[requests.Response], object]) -> object:
        """GET (or POST, for long parameters) `endpoint`, check the reply, retry what may pass.

        `check` turns a response into the value returned, raising TransientError
        for a reply worth another try and EutilsError for one that is not.
        """
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_before_delay(self.max_total_seconds),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(TransientError),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._call_once, endpoint, self._params(params), check)
        except TransientError as e:
            tries = retrying.statistics.get("attempt_number", 1)
            raise TransientError(f"{e} (gave up after {tries} attempt{'s' if tries > 1 else ''})") from e

    def _call_once(self, endpoint: str, params: dict, check: Callable) -> object:
        self.limiter.wait()
        self.request_count += 1
        url = self.settings.base_url + endpoint
        try:
            # POST when the parameters would make an overlong URL (a long query or id list).
            if sum(len(str(v)) for v in params.values()) > 1500:
                response = self.session.post(url, data=params, timeout=self.timeout)
            else:
                response = self.session.get(url, params=params, timeout=self.timeout)
        except requests.RequestException as e:
            # The full exception (with the whole URL) goes to the debug log only:
            # a person needs the cause, not 900 characters of query string.
            log.debug("%s: %s", endpoint, _redact(repr(e), self.settings))
            raise TransientError(f"{_short(endpoint)}: {_network_cause(e, self.timeout)}") from e
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(
                f"{_short(endpoint)}: HTTP {status}", retry_after=_retry_after(response.headers.get("Retry-After"))
            )
        if status != 200:
            raise EutilsError(f"{endpoint}: HTTP {status}: {response.text[:200]!r}")
        content_type = response.headers.get("Content-Type", "")
        if "html" in content_type.lower() or response.content.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
            raise TransientError(f"{_short(endpoint)}: got an HTML page where data was expected")
        return check(response)

    # --- esearch ----------------------------------------------------------

    def probe(self, timeout: float = 3.0) -> bool:
        """Does E-utilities answer within `timeout` seconds? One try, no retries."""
        try:
            self.limiter.wait()
            r = self.session.get(
                self.settings.base_url + "einfo.fcgi",
                params=self._params({"retmode": "json"}),
                timeout=timeout,
            )
            return r.status_code == 200 and "einforesult" in r.json()
        except (requests.RequestException, ValueError):
            return False

    def esearch(
        self,
        term: str,
        *,
        datetype: str | None = None,
        window: tuple[date, date] | None = None,
    ) -> SearchResult:
        """Run a search on the history server; the ids stay there for efetch."""
        params = {
            "term": term,
            "usehistory": "y",
            "retmode": "json",
            "retmax": 0,  # ids are read through WebEnv, not the reply
            "datetype": datetype if window else None,
            "mindate": window[0].strftime("%Y/%m/%d") if window else None,
            "maxdate": window[1].strftime("%Y/%m/%d") if window else None,
        }
        result = self.call("esearch.fcgi", params, _check_esearch)
        assert isinstance(result, SearchResult)
        result.window, result.datetype = window, datetype
        return result

    def search_windows(
        self,
        term: str,
        *,
        datetype: str = "edat",
        window: tuple[date, date] | None = None,
        limit: int = SEARCH_LIMIT,
    ) -> list[SearchResult]:
        """Searches whose results together cover `term`, each within PubMed's 10,000 cap.

        When a search matches more than `limit` records it is split by date
        (`datetype`) into halves, recursively, and the split is logged.
        """
        first = self.esearch(term, datetype=datetype, window=window)
        if first.count <= limit:
            return [first]
        lo, hi = window or (EARLIEST, date.today())
        log.warning(
            "The search matches %d records, more than PubMed serves from one search (%d): "
            "splitting %s to %s by %s into smaller date windows.",
            first.count, limit + 1, lo, hi, datetype,
        )
        return self._split(term, datetype, lo, hi, limit)

    def _split(self, term: str, datetype: str, lo: date, hi: date, limit: int) -> list[SearchResult]:
        if lo >= hi:
            raise EutilsError(
                f"more than {limit} records share the single {datetype} date {lo}; "
                "PubMed cannot page past that: narrow the query"
            )
        mid = lo + (hi - lo) // 2
        results = []
        for part in ((lo, mid), (mid + timedelta(days=1), hi)):
            r = self.esearch(term, datetype=datetype, window=part)
            if r.count > limit:
                results.extend(self._split(term, datetype, part[0], part[1], limit))
            elif r.count:
                results.append(r)
        return results

    # --- efetch -----------------------------------------------------------

    def efetch(self, search: SearchResult, *, batch_size: int = MAX_BATCH) -> Iterator[tuple[bytes, int]]:
        """Yield (XML document, record count) for each batch of a search's records.

        Each batch is checked whole before it is yielded (well-formed, a
        PubmedArticleSet, exactly as many records as asked for), so nothing is
        ever stored from a partial reply.
        """
        batch_size = max(1, min(batch_size, MAX_BATCH))
        for start in range(0, search.count, batch_size):
            expected = min(batch_size, search.count - start)
            params = {
                "WebEnv": search.webenv,
                "query_key": search.query_key,
                "retstart": start,
                "retmax": batch_size,
                "retmode": "xml",
            }
            body = self.call("efetch.fcgi", params, lambda r, n=expected, s=start: _check_efetch(r, n, s))
            assert isinstance(body, bytes)
            yield body, expected


# What a network failure means, by a phrase of the underlying error (urllib3 and
# the OS word these differently; the first phrase found wins).
NETWORK_CAUSES = (
    ("connection refused", "connection refused"),
    ("name or service not known", "host name not found"),
    ("temporary failure in name resolution", "host name not found (DNS)"),
    ("nodename nor servname", "host name not found"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("certificate verify failed", "TLS certificate not trusted"),
    ("connection reset", "connection reset by the server"),
    ("remote end closed", "connection closed by the server"),
    ("connection aborted", "connection closed by the server"),
)


def _short(endpoint: str) -> str:
    """esearch.fcgi → esearch."""
    return endpoint.removesuffix(".fcgi")


def _network_cause(error: requests.RequestException, timeout: float) -> str:
    """A few words for why a request failed, e.g. "connection refused"."""
    if isinstance(error, requests.Timeout):
        return f"no answer within {timeout:g} s"
    text = str(error).lower()
    for phrase, cause in NETWORK_CAUSES:
        if phrase in text:
            return cause
    return type(error).__name__


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _redact(text: str, settings: Settings) -> str:
    """Keep the API key and email out of messages and logs, as written or URL-encoded."""
    for secret in (settings.api_key, settings.email):
        if secret:
            for form in {secret, quote_plus(secret), quote(secret, safe="")}:
                text = text.replace(form, "***")
    return text


def _check_esearch(response: requests.Response) -> SearchResult:
    try:
        data = json.loads(response.content)
    except ValueError as e:
        raise TransientError(f"esearch: reply is not JSON (truncated or garbled): {e}") from e
    result = data.get("esearchresult") if isinstance(data, dict) else None
    if not isinstance(result, dict):
        if isinstance(data, dict) and data.get("error"):
            raise TransientError(f"esearch: E-utilities error: {data['error']}")
        raise TransientError("esearch: reply has no esearchresult")
    if result.get("ERROR"):
        raise TransientError(f"esearch: E-utilities error: {result['ERROR']}")
    problems = []
    for key in ("errorlist", "warninglist"):
        for kind, values in (result.get(key) or {}).items():
            if values:
                problems.append(f"{kind}: {', '.join(map(str, values))}")
    if problems:
        # Not passing: PubMed changed or dropped part of the query, so the
        # results would not be what the topic asks for.
        raise EutilsError("esearch: PubMed did not run the query as written: " + "; ".join(problems))
    try:
        return SearchResult(
            count=int(result["count"]),
            webenv=result["webenv"],
            query_key=str(result["querykey"]),
            translation=result.get("querytranslation"),
        )
    except (KeyError, ValueError) as e:
        raise TransientError(f"esearch: reply lacks {e} (no history server result)") from e


def _check_efetch(response: requests.Response, expected: int, start: int) -> bytes:
    body = response.content
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError as e:
        raise TransientError(f"efetch at {start}: reply is not well-formed XML (truncated?): {e}") from e
    error = root.findtext(".//ERROR")
    if root.tag != "PubmedArticleSet" or error:
        raise TransientError(f"efetch at {start}: E-utilities error: {error or root.tag}")
    got = sum(1 for el in root if el.tag in ("PubmedArticle", "PubmedBookArticle"))
    if got != expected:
        raise TransientError(f"efetch at {start}: asked for {expected} records, got {got}")
    return body
