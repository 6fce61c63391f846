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

import copy
import json
import logging
import os
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable, Iterator
from urllib.parse import quote, quote_plus

import requests
import tenacity
from lxml import etree
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
MAX_BATCH = 200  # efetch records per request
# PubMed serves at most the first 10,000 records of one search; larger result
# sets are split into date windows.
SEARCH_LIMIT = 9_999
EARLIEST = date(1781, 1, 1)  # older than any PubMed entry date
# `datetype` for "entered or modified in the window": one search whose term ORs an
# entry-date and a modification-date range, so a record both new and revised is
# found (and fetched) once, and an incremental run costs one search, not two.
CHANGED = "edat+mdat"
USER_AGENT = "evidence-pipeline (dry needling for headache; +https://pubmed.ncbi.nlm.nih.gov/)"
# The most one request may take, first byte sent to last byte read. The socket
# timeout bounds each read, not the whole: a server trickling a byte every few
# seconds would otherwise hold a request (and the run) for as long as it likes.
REQUEST_SECONDS = 120.0
# The most one client (one run) may spend on E-utilities in all. A full search of
# this topic takes minutes; the daily job must end before the next one starts,
# whatever the server does, so a run that has not finished by then fails.
RUN_SECONDS = 4 * 3600.0
# Added to NCBI's one-second window: NCBI counts requests as they arrive, and
# network jitter can bring arrivals closer together than the starts were.
RATE_MARGIN = 0.1
# The largest reply read: an efetch of 200 records is a few MB, so a bigger
# body is a fault, and reading it whole would hold it all in memory.
MAX_REPLY_BYTES = 64 << 20
READ_CHUNK = 1 << 16  # bytes per read of a reply body
# Characters of an error reply's body kept in a message (after redaction, so a
# cut can never leave part of a secret behind).
BODY_EXCERPT = 200


class EutilsError(RuntimeError):
    """E-utilities answered, but not with what was asked for. Not retried."""


class TransientError(EutilsError):
    """A failure that may pass (429, 5xx, network, truncated or garbled reply). Retried."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _NoRetry(TransientError):
    """A failure that may pass later, but not within this call's time budget
    (e.g. the server asked for a longer wait than is left): not retried now."""


def _worth_retrying(error: BaseException) -> bool:
    return isinstance(error, TransientError) and not isinstance(error, _NoRetry)


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
    """At most `per_second` request starts in any one second (a sliding window,
    widened by `margin`), across threads.

    Evenly spaced starts are not enough: starts at 0, 1/3, 2/3 and 1 s are four
    inside one closed second. Here the n-th start before this one must be at
    least a second (plus the margin) old.
    """

    def __init__(self, per_second: float, margin: float = RATE_MARGIN):
        self.interval = 1.0 / per_second
        self.limit = max(1, int(per_second))  # starts allowed per window
        self.window = self.limit / per_second + margin
        self._starts: deque[float] = deque(maxlen=self.limit)
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:  # held while sleeping, so waiting threads queue in order
            now = time.monotonic()
            if len(self._starts) == self.limit:
                delay = self._starts[0] + self.window - now
                if delay > 0:
                    time.sleep(delay)
                    now = time.monotonic()
            self._starts.append(now)


class _Watchdog:
    """Cuts one request off at its deadline, whatever it is waiting for.

    The connections the request uses register here (see `_WatchedConnection`);
    when the time is up their sockets are shut down, which wakes a read blocked
    on a server that trickles its reply (headers or body) byte by byte.
    """

    current = threading.local()  # the watchdog of the request this thread is making

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.fired = False
        self._connections: list[HTTPConnection] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> "_Watchdog":
        _Watchdog.current.value = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _Watchdog.current.value = None

    def watch(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connections.append(connection)
            fired = self.fired
        if fired:
            _shut(connection)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            connections = list(self._connections)
        for connection in connections:
            _shut(connection)


def _shut(connection: HTTPConnection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _WatchedConnection:
    """Mixin: a connection that registers with the watchdog of the request using it."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._register()

    def request(self, *args: object, **kwargs: object) -> None:
        self._register()
        super().request(*args, **kwargs)  # type: ignore[misc]

    def _register(self) -> None:
        watchdog = getattr(_Watchdog.current, "value", None)
        if watchdog is not None:
            watchdog.watch(self)  # type: ignore[arg-type]


class _WatchedHTTPConnection(_WatchedConnection, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter, with connections a `_Watchdog` can cut off."""

    def init_poolmanager(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(WATCHED_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs):  # noqa: ANN003, ANN201
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(WATCHED_POOLS)
        return manager


class _RedactingFilter(logging.Filter):
    """Takes the clients' secrets out of other libraries' log records (urllib3
    logs each request's URL, query string and all, at DEBUG)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            clean = _redact_secrets(message, self.secrets)
            if clean != message:
                record.msg, record.args = clean, ()
        return True


_LOG_FILTER = _RedactingFilter()
# Loggers that write request URLs (a filter applies to its own logger's records only).
URL_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "requests")


def _hide_in_logs(settings: Settings) -> None:
    secrets = {s for s in (settings.api_key, settings.email) if s}
    if not secrets:
        return
    _LOG_FILTER.secrets |= secrets
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if _LOG_FILTER not in logger.filters:
            logger.addFilter(_LOG_FILTER)


class Client:
    """A polite, retrying E-utilities client for PubMed.

    Time is bounded twice: each request by `request_seconds` (first byte sent to
    last byte read, however slowly the server sends), and each call, retries and
    waits included, by `max_total_seconds`. Every exception it raises has the
    API key and the email taken out of its text, and carries no cause that
    holds them (the URL of a failed request does).
    """

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
        request_seconds: float = REQUEST_SECONDS,
        run_seconds: float = RUN_SECONDS,
        requests_per_second: float | None = None,
    ):
        self.settings = settings or Settings.from_env()
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, _DeadlineAdapter())
        _hide_in_logs(self.settings)
        self.attempts = attempts
        self.max_total_seconds = max_total_seconds
        self.backoff = tenacity.wait_exponential_jitter(
            multiplier=backoff_initial, max=backoff_max, jitter=backoff_jitter
        )
        self.timeout = timeout
        self.request_seconds = request_seconds
        self.run_seconds = run_seconds
        self.run_deadline = time.monotonic() + run_seconds
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

        `check` turns a response (its body already read: `response.content`)
        into the value returned, raising TransientError for a reply worth
        another try and EutilsError for one that is not.
        """
        deadline = min(time.monotonic() + self.max_total_seconds, self.run_deadline)
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_before_delay(self.max_total_seconds),
            wait=self._wait,
            retry=tenacity.retry_if_exception(_worth_retrying),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._call_once, endpoint, self._params(params), check, deadline)
        except EutilsError as e:
            failure = e
        failure.__cause__ = failure.__context__ = None  # redacted already; nothing chained
        if not _worth_retrying(failure):
            raise failure
        tries = retrying.statistics.get("attempt_number", 1)
        # Raised outside the `except`, so the error chains to nothing.
        raise TransientError(f"{failure} (gave up after {tries} attempt{'s' if tries > 1 else ''})")

    def _call_once(self, endpoint: str, params: dict, check: Callable, deadline: float) -> object:
        """One attempt; any error it raises is redacted and has no chained cause."""
        try:
            return self._attempt(endpoint, params, check, deadline)
        except EutilsError as e:
            failure = self._scrub(e)
        raise failure

    def _scrub(self, error: EutilsError) -> EutilsError:
        """The same error with the secrets taken out of its text and no cause chained."""
        clean = copy.copy(error)
        clean.args = (_redact(str(error), self.settings),)
        clean.__cause__ = clean.__context__ = None
        clean.__suppress_context__ = True
        return clean

    def _attempt(self, endpoint: str, params: dict, check: Callable, deadline: float) -> object:
        left = deadline - time.monotonic()
        if left <= 0:
            if deadline >= self.run_deadline:
                raise _NoRetry(f"{_short(endpoint)}: the {self.run_seconds:g} s allowed for the whole run ran out")
            raise _NoRetry(f"{_short(endpoint)}: the {self.max_total_seconds:g} s allowed for this call ran out")
        self.limiter.wait()
        self.request_count += 1
        seconds = min(self.request_seconds, max(deadline - time.monotonic(), 0.01))
        with _Watchdog(seconds) as watchdog:
            try:
                response = self._send(endpoint, params, seconds)
                with response:
                    return self._read(endpoint, response, check, deadline)
            except requests.RequestException as e:
                if watchdog.fired:
                    raise TransientError(f"{_short(endpoint)}: no whole reply within {round(seconds, 1):g} s") from None
                # The full exception (with the whole URL) goes to the debug log only:
                # a person needs the cause, not 900 characters of query string.
                log.debug("%s: %s", endpoint, _redact(repr(e), self.settings))
                raise TransientError(f"{_short(endpoint)}: {_network_cause(e, self.timeout)}") from None

    def _send(self, endpoint: str, params: dict, seconds: float) -> requests.Response:
        """Send the request; the body is left to read (streamed, so it can be capped)."""
        url = self.settings.base_url + endpoint
        timeout = min(self.timeout, seconds)
        # POST when the parameters would make an overlong URL (a long query or id list).
        if sum(len(str(v)) for v in params.values()) > 1500:
            return self.session.post(url, data=params, timeout=timeout, stream=True)
        return self.session.get(url, params=params, timeout=timeout, stream=True)

    def _read(self, endpoint: str, response: requests.Response, check: Callable, deadline: float) -> object:
        status = response.status_code
        if status == 429 or status >= 500:
            self._refuse_long_wait(endpoint, status, response, deadline)
            raise TransientError(
                f"{_short(endpoint)}: HTTP {status}", retry_after=_retry_after(response.headers.get("Retry-After"))
            )
        body = _read_body(endpoint, response)
        if status != 200:
            text = _redact(body.decode("utf-8", "replace"), self.settings)
            raise EutilsError(f"{endpoint}: HTTP {status}: {text[:BODY_EXCERPT]!r}")
        content_type = response.headers.get("Content-Type", "")
        if "html" in content_type.lower() or body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
            raise TransientError(f"{_short(endpoint)}: got an HTML page where data was expected")
        try:
            return check(response)
        except EutilsError:
            raise
        except Exception as e:  # a reply of a shape no check foresaw is the server's fault
            raise TransientError(f"{_short(endpoint)}: unexpected reply ({type(e).__name__}: {str(e)[:200]})") from None

    def _refuse_long_wait(self, endpoint: str, status: int, response: requests.Response, deadline: float) -> None:
        """A Retry-After longer than the time this call has left fails now, saying so,
        instead of retrying early (against the server's word) or sleeping past the budget."""
        wait = _retry_after(response.headers.get("Retry-After"))
        left = deadline - time.monotonic()
        if wait is not None and wait > left:
            raise _NoRetry(
                f"{_short(endpoint)}: HTTP {status}: the server asked to wait {wait:g} s before trying again, "
                f"longer than the {max(left, 0):.0f} s left of the {self.max_total_seconds:g} s allowed "
                "for this call; try again later",
                retry_after=wait,
            )

    # --- esearch ----------------------------------------------------------

    def probe(self, timeout: float = 3.0) -> bool:
        """Does E-utilities answer within `timeout` seconds? One try, no retries."""
        try:
            self.limiter.wait()
            with _Watchdog(timeout):
                r = self.session.get(
                    self.settings.base_url + "einfo.fcgi",
                    params=self._params({"retmode": "json"}),
                    timeout=timeout,
                )
            return r.status_code == 200 and "einforesult" in r.json()
        except (requests.RequestException, ValueError, RecursionError):
            return False

    def esearch(
        self,
        term: str,
        *,
        datetype: str | None = None,
        window: tuple[date, date] | None = None,
    ) -> SearchResult:
        """Run a search on the history server; the ids stay there for efetch.

        With `datetype=CHANGED` the window applies to the entry date or the
        modification date: the ranges go into the term (E-utilities' datetype takes
        one field only)."""
        query = term
        if datetype == CHANGED and window:
            lo, hi = (d.strftime("%Y/%m/%d") for d in window)
            query = f'({term}) AND (("{lo}"[EDAT] : "{hi}"[EDAT]) OR ("{lo}"[MDAT] : "{hi}"[MDAT]))'
            window_params = {}
        else:
            window_params = {
                "datetype": datetype if window else None,
                "mindate": window[0].strftime("%Y/%m/%d") if window else None,
                "maxdate": window[1].strftime("%Y/%m/%d") if window else None,
            }
        params = {
            "term": query,
            "usehistory": "y",
            "retmode": "json",
            "retmax": 0,  # ids are read through WebEnv, not the reply
            **window_params,
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
        PubmedArticleSet, exactly as many records as asked for, none of them
        already delivered by an earlier batch of this search), so nothing is
        ever stored from a partial reply, and a history server that serves the
        same page whatever `retstart` fails the call instead of losing records.
        """
        batch_size = max(1, min(batch_size, MAX_BATCH))
        delivered: set[str] = set()  # PMIDs of this search already yielded
        for start in range(0, search.count, batch_size):
            expected = min(batch_size, search.count - start)
            params = {
                "WebEnv": search.webenv,
                "query_key": search.query_key,
                "retstart": start,
                "retmax": batch_size,
                "retmode": "xml",
            }
            checked = self.call(
                "efetch.fcgi", params, lambda r, n=expected, s=start: _check_efetch(r, n, s, delivered)
            )
            assert isinstance(checked, tuple)
            body, pmids = checked
            delivered.update(pmids)
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
    return _redact_secrets(text, {s for s in (settings.api_key, settings.email) if s})


def _redact_secrets(text: str, secrets: set[str]) -> str:
    # Longest first, so a secret holding another is taken out whole.
    for secret in sorted(secrets, key=len, reverse=True):
        forms = {secret, quote_plus(secret), quote(secret, safe=""), quote(secret)}
        for form in sorted(forms, key=len, reverse=True):
            # Percent-escapes may come back in either case (%2B or %2b).
            text = re.sub(re.escape(form), "***", text, flags=re.IGNORECASE if "%" in form else 0)
    return text


def _read_body(endpoint: str, response: requests.Response) -> bytes:
    """The whole body of a streamed reply, refusing one larger than MAX_REPLY_BYTES."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
        raise TransientError(f"{_short(endpoint)}: reply of {int(declared):,} bytes, more than the {MAX_REPLY_BYTES:,} allowed")
    chunks, size = [], 0
    for chunk in response.iter_content(READ_CHUNK):
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise TransientError(f"{_short(endpoint)}: reply larger than the {MAX_REPLY_BYTES:,} bytes allowed")
        chunks.append(chunk)
    body = b"".join(chunks)
    response._content = body  # what `check` reads as `response.content`
    return body


def _check_esearch(response: requests.Response) -> SearchResult:
    try:
        data = json.loads(response.content)
    except (ValueError, RecursionError) as e:  # RecursionError: absurdly nested JSON
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


def _check_efetch(response: requests.Response, expected: int, start: int, delivered: set[str]) -> tuple[bytes, list[str]]:
    """The reply's body and its records' PMIDs, if it holds the `expected` records,
    each one not among those `delivered` earlier in this search."""
    body = response.content
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError as e:
        raise TransientError(f"efetch at {start}: reply is not well-formed XML (truncated?): {e}") from e
    error = root.findtext(".//ERROR")
    if root.tag != "PubmedArticleSet" or error:
        raise TransientError(f"efetch at {start}: E-utilities error: {error or root.tag}")
    records = [el for el in root if el.tag in RECORD_PMID_PATHS]
    if len(records) != expected:
        raise TransientError(f"efetch at {start}: asked for {expected} records, got {len(records)}")
    pmids = [pmid for el in records if (pmid := (el.findtext(RECORD_PMID_PATHS[el.tag]) or "").strip())]
    _check_new(pmids, delivered, start)
    return body, pmids


# Where a record's own PMID is (a CommentsCorrections PMID is another study's).
RECORD_PMID_PATHS = {"PubmedArticle": "MedlineCitation/PMID", "PubmedBookArticle": "BookDocument/PMID"}


def _check_new(pmids: list[str], delivered: set[str], start: int) -> None:
    """A batch must bring PMIDs not seen before in this search: a history server
    that serves the same page whatever `retstart` would otherwise pass every
    count check while records go missing."""
    repeated = delivered.intersection(pmids)
    if repeated:
        raise TransientError(
            f"efetch at {start}: {len(repeated)} of the {len(pmids)} records were delivered already "
            f"by an earlier batch of this search (e.g. PMID {min(repeated)}): "
            "the history server did not page (same page whatever retstart?)"
        )
    if len(set(pmids)) != len(pmids):
        raise TransientError(f"efetch at {start}: the batch holds the same PMID more than once")
