"""The ClinicalTrials.gov data API v2 client: the only module that talks to the registry.

Two calls: a search (`GET /studies` with `query.cond` and `query.intr`, paged by
`nextPageToken`) and a single study (`GET /studies/{nctId}`). Every reply is
checked before it is handed on: a truncated or garbled body, an HTML page, a
page without a `studies` list, a study without an NCT number, a paging token
served twice or fewer studies than the server counted are all errors, never
"no trials". Failures that may pass (429, 5xx, network, truncated reply) are
retried with tenacity (exponential backoff with jitter, honouring Retry-After,
bounded in attempts and in total time), as in `pipeline.pubmed`. Nothing here
writes to the database: callers get whole results or an exception.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests
    import tenacity

# requests, tenacity and pipeline.pubmed (urllib3) are imported by the client, when the
# registry is asked: the digest reads the stored registry through pipeline.registry,
# which imports this module, and must not load the HTTP stack for it (~0.1 s).

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://clinicaltrials.gov/api/v2"
ENV_VAR = "CTGOV_API_URL"
USER_AGENT = "evidence-pipeline (dry needling for headache; registry cross-check)"
PAGE_SIZE = 100  # the API allows up to 1000; 100 keeps each reply small
# A topic search returns tens of trials; more pages than this means the server
# is not advancing (or the query is far wider than meant), not a bigger topic.
MAX_PAGES = 200
MAX_REPLY_BYTES = 32 << 20  # a page of 100 full studies is a few MB
READ_CHUNK = 1 << 16
BODY_EXCERPT = 200
NCT_RE = re.compile(r"^NCT\d{8}$")


class CtGovError(RuntimeError):
    """ClinicalTrials.gov answered, but not with what was asked for (or never answered)."""


class TransientError(CtGovError):
    """A failure that may pass (429, 5xx, network, truncated or garbled reply). Retried."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _NoRetry(TransientError):
    """May pass later, but not within this call's time budget: not retried now."""


def _worth_retrying(error: BaseException) -> bool:
    return isinstance(error, TransientError) and not isinstance(error, _NoRetry)


@dataclass
class Settings:
    """Where the API is; from the environment (`CTGOV_API_URL`) by default."""

    base_url: str = DEFAULT_BASE_URL

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Settings from `CTGOV_API_URL` (the public API when unset)."""
        env = os.environ if env is None else env
        return cls(base_url=(env.get(ENV_VAR) or DEFAULT_BASE_URL).rstrip("/"))


@dataclass
class SearchResult:
    """Every study a search matched, in the server's order, and how it was asked."""

    studies: list[dict]
    params: dict
    pages: int
    total: int | None  # the server's count (countTotal=true), when it gave one


class Client:
    """A retrying client for the ClinicalTrials.gov API v2."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        session: requests.Session | None = None,
        attempts: int = 5,
        max_total_seconds: float = 120.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        backoff_jitter: float = 1.0,
        timeout: float = 30.0,
        requests_per_second: float = 5.0,
    ):
        import requests
        import tenacity

        from .pubmed import RateLimiter

        self.settings = settings or Settings.from_env()
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.session.headers.setdefault("Accept", "application/json")
        self.attempts = attempts
        self.max_total_seconds = max_total_seconds
        self.backoff = tenacity.wait_exponential_jitter(multiplier=backoff_initial, max=backoff_max, jitter=backoff_jitter)
        self.timeout = timeout
        # The registry asks for about 50 requests a minute per client at most.
        self.limiter = RateLimiter(requests_per_second)
        self.request_count = 0

    # --- HTTP -------------------------------------------------------------

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return max(self.backoff(state), getattr(exc, "retry_after", None) or 0.0)

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "ClinicalTrials.gov %s; attempt %d of %d in %.1f s",
            exc, state.attempt_number + 1, self.attempts, state.upcoming_sleep,
        )

    def get(self, path: str, params: dict | None, check: Callable[[int, bytes], object]) -> object:
        """GET `path` under the base URL, check the reply, retry what may pass.

        `check(status, body)` returns the value or raises: TransientError for a
        reply worth another try, CtGovError for one that is not.
        """
        import tenacity

        deadline = time.monotonic() + self.max_total_seconds
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts) | tenacity.stop_before_delay(self.max_total_seconds),
            wait=self._wait,
            retry=tenacity.retry_if_exception(_worth_retrying),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._once, path, params or {}, check, deadline)
        except CtGovError as e:
            failure = e
        if not _worth_retrying(failure):
            raise failure
        tries = retrying.statistics.get("attempt_number", 1)
        raise TransientError(
            f"{failure} (gave up after {tries} attempt{'s' if tries > 1 else ''}; "
            f"ClinicalTrials.gov at {self.settings.base_url} may be down or limiting requests: try again later, "
            f"or set {ENV_VAR} if it should be another address)"
        )

    def _once(self, path: str, params: dict, check: Callable[[int, bytes], object], deadline: float) -> object:
        import requests

        from .pubmed import _network_cause, _retry_after

        left = deadline - time.monotonic()
        if left <= 0:
            raise _NoRetry(f"{path}: the {self.max_total_seconds:g} s allowed for this call ran out")
        self.limiter.wait()
        self.request_count += 1
        url = self.settings.base_url + path
        try:
            with self.session.get(url, params=params, timeout=min(self.timeout, left), stream=True) as response:
                status = response.status_code
                if status == 429 or status >= 500:
                    wait = _retry_after(response.headers.get("Retry-After"))
                    if wait is not None and wait > deadline - time.monotonic():
                        raise _NoRetry(
                            f"{path}: HTTP {status}: the server asked to wait {wait:g} s, longer than this "
                            f"call has left; try again later", retry_after=wait,
                        )
                    raise TransientError(f"{path}: HTTP {status}", retry_after=wait)
                body = _read_body(path, response)
                content_type = response.headers.get("Content-Type", "").lower()
        except requests.RequestException as e:
            raise TransientError(f"{path}: {_network_cause(e, self.timeout)} ({url})") from None
        if status == 200 and ("html" in content_type or body.lstrip()[:15].lower().startswith((b"<!doctype", b"<html"))):
            raise TransientError(f"{path}: got an HTML page where JSON was expected")
        try:
            return check(status, body)
        except CtGovError:
            raise
        except Exception as e:  # noqa: BLE001 (a reply of a shape no check foresaw is the server's fault)
            raise TransientError(f"{path}: unexpected reply ({type(e).__name__}: {str(e)[:200]})") from None

    def probe(self, timeout: float = 3.0) -> bool:
        """Does the API answer `/version` within `timeout` seconds? One try, no retries."""
        import requests

        try:
            r = self.session.get(self.settings.base_url + "/version", timeout=timeout)
            return r.status_code == 200 and "apiVersion" in r.json()
        except (requests.RequestException, ValueError, RecursionError):
            return False

    # --- calls ------------------------------------------------------------

    def iter_pages(self, params: dict, *, page_size: int = PAGE_SIZE) -> Iterator[tuple[list[dict], dict]]:
        """Yield (studies, raw page) for each page of `/studies?params`, following nextPageToken."""
        base = {**params, "format": "json", "pageSize": max(1, min(page_size, 1000)), "countTotal": "true"}
        token: str | None = None
        seen_tokens: set[str] = set()
        for number in range(1, MAX_PAGES + 1):
            query = dict(base)
            if token:
                query["pageToken"] = token
                query.pop("countTotal")  # the count comes with the first page only
            page = self.get("/studies", query, lambda s, b, n=number: _check_page(s, b, n))
            assert isinstance(page, dict)
            studies = page["studies"]
            yield studies, page
            token = page.get("nextPageToken")
            if not token:
                return
            if token in seen_tokens:
                raise CtGovError(f"/studies: page {number} gave a nextPageToken already used; the server is not paging")
            seen_tokens.add(token)
        raise CtGovError(f"/studies: more than {MAX_PAGES} pages; narrow the search terms in the topic file")

    def search(self, conditions: Iterable[str], interventions: Iterable[str], *, page_size: int = PAGE_SIZE) -> SearchResult:
        """Every study matching any condition and any intervention, all pages, checked whole."""
        params: dict = {}
        cond, intr = _any_of(conditions), _any_of(interventions)
        if cond:
            params["query.cond"] = cond
        if intr:
            params["query.intr"] = intr
        if not params:
            raise CtGovError("no search terms: give the topic file's clinicaltrials: conditions and interventions")
        studies: list[dict] = []
        seen: set[str] = set()
        total: int | None = None
        pages = 0
        for page_studies, page in self.iter_pages(params, page_size=page_size):
            pages += 1
            if pages == 1 and isinstance(page.get("totalCount"), int):
                total = page["totalCount"]
            ids = [nct_id(s) for s in page_studies]
            if ids and all(i in seen for i in ids):
                raise CtGovError(f"/studies: page {pages} repeats studies already received; the server is not paging")
            for study, nct in zip(page_studies, ids):
                if nct not in seen:  # a study moving between pages while we read is kept once
                    seen.add(nct)
                    studies.append(study)
        if total is not None and len(studies) < total:
            raise TransientError(f"/studies: the server counted {total} studies but served {len(studies)}")
        return SearchResult(studies=studies, params=params, pages=pages, total=total)

    def fetch_study(self, nct: str) -> dict | None:
        """One study by NCT number, or None when the registry has no such study (404)."""
        nct = nct.strip().upper()
        if not NCT_RE.match(nct):
            raise CtGovError(f"{nct!r} is not an NCT number (NCT and 8 digits)")
        return self.get(f"/studies/{nct}", {"format": "json"}, lambda s, b: _check_study(s, b, nct))  # type: ignore[return-value]

    def fetch_studies(self, ncts: Iterable[str]) -> tuple[list[dict], list[str]]:
        """Several studies by NCT number: (found, NCT numbers the registry does not have)."""
        found, missing = [], []
        for nct in dict.fromkeys(n.strip().upper() for n in ncts):
            study = self.fetch_study(nct)
            (found.append(study) if study is not None else missing.append(nct))
        return found, missing


# --- checks -----------------------------------------------------------------


def nct_id(study: object) -> str:
    """A Study's NCT number; CtGovError when it has none (no use storing a trial without one)."""
    try:
        nct = study["protocolSection"]["identificationModule"]["nctId"]  # type: ignore[index]
    except (KeyError, TypeError):
        raise TransientError("a study in the reply has no protocolSection.identificationModule.nctId") from None
    if not isinstance(nct, str) or not NCT_RE.match(nct):
        raise TransientError(f"a study in the reply has an invalid NCT number: {nct!r}")
    return nct


def _any_of(terms: Iterable[str]) -> str:
    """Terms as one Essie expression: a OR "b c" (phrases quoted)."""
    out = []
    for term in terms:
        term = " ".join(str(term).split())
        if term:
            out.append(f'"{term}"' if " " in term else term)
    return " OR ".join(out)


def _json(path: str, body: bytes) -> object:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as e:
        raise TransientError(f"{path}: reply is not JSON (truncated or garbled): {e}") from None


def _error_text(status: int, body: bytes) -> str:
    return f"HTTP {status}: {body.decode('utf-8', 'replace').strip()[:BODY_EXCERPT]!r}"


def _check_page(status: int, body: bytes, number: int) -> dict:
    if status == 404:
        raise CtGovError(
            f"/studies: HTTP 404: no API at this address; {ENV_VAR} should be the API v2 base, "
            f"e.g. {DEFAULT_BASE_URL}"
        )
    if status != 200:
        raise CtGovError(f"/studies page {number}: {_error_text(status, body)} (the search was refused; check the topic's clinicaltrials terms)")
    page = _json("/studies", body)
    if not isinstance(page, dict) or not isinstance(page.get("studies"), list):
        raise TransientError(f"/studies page {number}: reply has no studies list")
    for study in page["studies"]:
        nct_id(study)
    token = page.get("nextPageToken")
    if token is not None and not isinstance(token, str):
        raise TransientError(f"/studies page {number}: nextPageToken is not a string")
    return page


def _check_study(status: int, body: bytes, nct: str) -> dict | None:
    if status == 404:
        return None
    if status != 200:
        raise CtGovError(f"/studies/{nct}: {_error_text(status, body)}")
    study = _json(f"/studies/{nct}", body)
    if nct_id(study) != nct:
        raise TransientError(f"/studies/{nct}: the reply is study {nct_id(study)}")
    return study  # type: ignore[return-value]


def _read_body(path: str, response: requests.Response) -> bytes:
    """The whole body of a streamed reply, refusing one larger than MAX_REPLY_BYTES."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
        raise TransientError(f"{path}: reply of {int(declared):,} bytes, more than the {MAX_REPLY_BYTES:,} allowed")
    chunks, size = [], 0
    for chunk in response.iter_content(READ_CHUNK):
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise TransientError(f"{path}: reply larger than the {MAX_REPLY_BYTES:,} bytes allowed")
        chunks.append(chunk)
    return b"".join(chunks)
