"""A fake NCBI E-utilities server for tests.

``FakeEutils`` is a real HTTP server on 127.0.0.1 (ephemeral port) that answers
``esearch.fcgi``, ``efetch.fcgi`` and ``einfo.fcgi`` by replaying PubMed records
taken from an efetch XML file, and that can inject faults (HTTP errors,
truncated or HTML bodies, NCBI-style error replies, dropped connections, slow
or trickled replies, short batches, a history server that does not page, error
bodies that echo the request with its API key).

Typical use::

    with FakeEutils(SNAPSHOT) as fake:
        client = Client(base_url=fake.base_url)
        fake.faults.append(Fault("status", status=429, retry_after="0"))
        ...
        assert [r["path"] for r in fake.requests] == [...]

Only the standard library and lxml are used; nothing here depends on pytest.
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.sax.saxutils import escape

from lxml import etree

__all__ = ["FakeEutils", "Fault", "record_bytes", "make_efetch", "EFETCH_DOCTYPE"]

EFETCH_DOCTYPE = (
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
)
ESEARCH_DOCTYPE = (
    '<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">'
)

JSON_TYPE = "application/json; charset=UTF-8"
XML_TYPE = "text/xml; charset=UTF-8"
TEXT_TYPE = "text/plain; charset=UTF-8"
HTML_TYPE = "text/html; charset=UTF-8"

EFETCH_CAP = 10000
ESEARCH_CAP = 10000
DEFAULT_RETMAX = 20

_ARTICLE_TAGS = ("PubmedArticle", "PubmedBookArticle")
_STATUS_TEXT = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


# --------------------------------------------------------------------------
# record helpers


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True
    )


def _articles(doc: bytes) -> list[etree._Element]:
    root = etree.fromstring(doc, _parser())
    if root.tag in _ARTICLE_TAGS:
        return [root]
    return [el for el in root if isinstance(el.tag, str) and el.tag in _ARTICLE_TAGS]


def _serialise(el: etree._Element) -> bytes:
    return etree.tostring(el, encoding="UTF-8", with_tail=False)


_RAW_ARTICLE = re.compile(rb"<(PubmedArticle|PubmedBookArticle)[\s>].*?</\1\s*>", re.DOTALL)
_ENCODING_DECL = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([^\"']+)")


def record_bytes(efetch_xml: Path | str | bytes) -> list[bytes]:
    """Each PubmedArticle of an efetch document as UTF-8 bytes (no declaration), in file order.

    The records are sliced from the file byte for byte (character references such as
    ``&#8804;`` are kept); if that is unsafe (non-UTF-8 encoding, or the slices do not
    agree with a real parse) they are re-serialised by lxml instead.
    """
    data = efetch_xml if isinstance(efetch_xml, bytes) else Path(efetch_xml).read_bytes()
    elements = _articles(data)
    enc = _ENCODING_DECL.match(data)
    if enc is None or enc.group(1).decode("ascii", "replace").lower().replace("-", "") == "utf8":
        raw = [m.group(0) for m in _RAW_ARTICLE.finditer(data)]
        if len(raw) == len(elements) and all(
            _record(r).pmid == _record(_serialise(e)).pmid for r, e in zip(raw, elements)
        ):
            return raw
    return [_serialise(el) for el in elements]


def with_fresh_pmids(records: list[bytes], n: int, first: int) -> list[bytes]:
    """`n` records cloned from ``records`` in turn, numbered from PMID ``first``
    (a corpus of any size with real records' sizes, markup and abstracts)."""
    out = []
    for i in range(n):
        rec = records[i % len(records)]
        old = re.search(rb'<PMID Version="1">(\d+)</PMID>', rec).group(1)
        out.append(rec.replace(b">" + old + b"<", b">" + str(first + i).encode() + b"<"))
    return out


def make_efetch(records: list[bytes]) -> bytes:
    """A full efetch document (declaration, DOCTYPE, PubmedArticleSet) holding ``records``."""
    parts = [b'<?xml version="1.0" ?>\n', EFETCH_DOCTYPE.encode(), b"\n<PubmedArticleSet>\n"]
    for rec in records:
        parts.append(rec.strip())
        parts.append(b"\n")
    parts.append(b"</PubmedArticleSet>\n")
    return b"".join(parts)


def _ymd(el: etree._Element | None) -> tuple[int, int, int] | None:
    if el is None:
        return None
    try:
        y = int(el.findtext("Year"))
    except (TypeError, ValueError):
        return None

    def part(tag: str, default: int) -> int:
        text = (el.findtext(tag) or "").strip()
        if text.isdigit():
            return int(text)
        months = "jan feb mar apr may jun jul aug sep oct nov dec".split()
        if text[:3].lower() in months:
            return months.index(text[:3].lower()) + 1
        return default

    return (y, part("Month", 1), part("Day", 1))


@dataclass
class _Record:
    pmid: str
    xml: bytes
    edat: tuple[int, int, int] | None
    mdat: tuple[int, int, int] | None


def _record(xml: bytes) -> _Record:
    el = etree.fromstring(xml, _parser())
    pmid = (el.findtext("MedlineCitation/PMID") or el.findtext(".//PMID") or "").strip()
    entrez = el.find('./*/History/PubMedPubDate[@PubStatus="entrez"]')
    revised = el.find("./*/DateRevised")
    return _Record(pmid=pmid, xml=xml.strip(), edat=_ymd(entrez), mdat=_ymd(revised))


_TERM_RANGE = re.compile(r'"([\d/]+)"\[(EDAT|MDAT)\]\s*:\s*"([\d/]+)"\[(EDAT|MDAT)\]', re.I)


def _parse_date(text: str, *, end: bool) -> tuple[int, int, int] | None:
    """NCBI dates: YYYY, YYYY/MM or YYYY/MM/DD ('-' and '.' also accepted)."""
    bits = [b for b in text.replace("-", "/").replace(".", "/").split("/") if b.strip()]
    try:
        nums = [int(b) for b in bits]
    except ValueError:
        return None
    if not nums:
        return None
    y = nums[0]
    m = nums[1] if len(nums) > 1 else (12 if end else 1)
    d = nums[2] if len(nums) > 2 else (31 if end else 1)
    return (y, m, d)


# --------------------------------------------------------------------------
# faults


@dataclass
class Fault:
    """One injected fault, consumed by the next request (to ``path``, if given).

    kind:

    - "status": HTTP ``status`` (with ``retry_after`` as a Retry-After header);
      with ``echo`` the text body repeats the request's parameters, URL-encoded,
      as some servers' error pages do;
    - "badkey": NCBI's reply to an invalid API key, HTTP 400 with a JSON body
      that echoes the key;
    - "truncate", "html", "error200" (``echo``: the ERROR text repeats the
      request), "warning", "drop", "slow" (``delay`` s before replying),
      "fewer" (one record short);
    - "trickle": the reply sent one byte every ``delay`` s, the status line and
      headers too (``body_only``: the headers at once, then the body);
    - "samepage": efetch serves the first page whatever ``retstart``.
    """

    kind: str
    status: int = 500
    retry_after: str | None = None
    path: str | None = None
    delay: float = 0.0
    echo: bool = False
    body_only: bool = False

    KINDS = (
        "status", "badkey", "truncate", "html", "error200", "warning", "drop", "slow", "fewer",
        "trickle", "samepage",
    )

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {self.KINDS}")

    def applies_to(self, endpoint: str) -> bool:
        if not self.path:
            return True
        want = self.path.strip("/").rsplit("/", 1)[-1]
        return endpoint == want


def _as_fault(item: Any) -> Fault:
    if isinstance(item, Fault):
        return item
    if isinstance(item, dict):
        return Fault(**item)
    if isinstance(item, str):
        return Fault(item)
    raise TypeError(f"fault must be a Fault, dict or str, not {type(item).__name__}")


# --------------------------------------------------------------------------
# the server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    fake: "FakeEutils"

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError)):
            return  # the client went away (e.g. after its own timeout): not our bug
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeEutils/1.0"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        endpoint = split.path.rstrip("/").rsplit("/", 1)[-1]
        pairs = parse_qs(split.query, keep_blank_values=True)
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            ctype = self.headers.get("Content-Type", "")
            if body and "multipart" not in ctype:
                for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items():
                    pairs.setdefault(k, []).extend(v)
        params = {k: ",".join(v) for k, v in pairs.items()}
        fake = self.server.fake
        fault = fake._take_fault(endpoint, params, method)
        reply = fake._respond(endpoint, params, fault)
        if reply is None:  # "drop"
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        status, ctype, body, headers = reply
        if fault is not None and fault.kind == "trickle":
            self._trickle(reply, fault)
            return
        self.send_response(status, _STATUS_TEXT.get(status))
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self, reply: "_Reply", fault: Fault) -> None:
        """Send the reply a byte at a time, ``fault.delay`` seconds apart, until the
        client goes away or the server stops."""
        status, ctype, body, headers = reply
        lines = [f"HTTP/1.1 {status} {_STATUS_TEXT.get(status, 'OK')}", f"Content-Type: {ctype}",
                 f"Content-Length: {len(body)}"] + [f"{k}: {v}" for k, v in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.close_connection = True
        if fault.body_only:
            self.wfile.write(head)
        data = body if fault.body_only else head + body
        stopping = self.server.fake._stopping
        for i in range(len(data)):
            if stopping.wait(fault.delay):
                return
            self.wfile.write(data[i:i + 1])  # a gone client raises here, and handle_error ignores it


_Reply = tuple[int, str, bytes, dict]


class FakeEutils:
    """Imitation of NCBI E-utilities serving PubMed records from an efetch file."""

    def __init__(self, efetch_xml: Path | str | bytes | None = None, *, records: list[bytes] | None = None):
        if records is None:
            if efetch_xml is None:
                raise TypeError("give efetch_xml or records")
            records = record_bytes(efetch_xml)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._records: list[_Record] = []
        self._by_pmid: dict[str, _Record] = {}
        self.set_records(records)
        self.base_url: str = ""
        self.requests: list[dict] = []
        self.faults: list = []
        self.max_count: int | None = None
        self.count_override: Callable[[dict], int | None] | None = None
        self.history: dict[str, dict[str, list[str]]] = {}
        self._webenv_seq = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- records

    def set_records(self, records: list[bytes]) -> None:
        """Replace the served records; existing WebEnvs keep their PMIDs and serve the new bytes."""
        parsed = [_record(r) for r in records]
        with self._lock:
            self._records = parsed
            self._by_pmid = {r.pmid: r for r in parsed}

    @property
    def pmids(self) -> list[str]:
        """PMIDs of the served records, in order."""
        with self._lock:
            return [r.pmid for r in self._records]

    # ---- lifecycle

    def start(self) -> "FakeEutils":
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        port = server.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}/"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"FakeEutils:{port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes any "slow" handler
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeEutils":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- request handling (called from server threads)

    def _take_fault(self, endpoint: str, params: dict, method: str) -> Fault | None:
        with self._lock:
            self.requests.append(
                {"path": endpoint, "params": dict(params), "method": method, "time": time.monotonic()}
            )
            if not self.faults:
                return None
            fault = _as_fault(self.faults[0])
            if not fault.applies_to(endpoint):
                return None
            self.faults.pop(0)
            return fault

    def _respond(self, endpoint: str, params: dict, fault: Fault | None) -> _Reply | None:
        kind = fault.kind if fault else None
        if kind == "drop":
            return None
        if kind == "slow":
            self._stopping.wait(fault.delay)
        if kind == "status":
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            text = f"{fault.status} {_STATUS_TEXT.get(fault.status, 'Error')} (injected by FakeEutils)\n"
            if fault.echo:
                text += f"request: /{endpoint}?{urlencode(params)}\n"
            return (fault.status, TEXT_TYPE, text.encode(), headers)
        if kind == "badkey":
            # NCBI's reply to an API key it does not know: the key is echoed back.
            reply = {"error": "API key invalid", "api-key": params.get("api_key", ""),
                     "type": "invalid", "status": "unknown"}
            return (400, JSON_TYPE, json.dumps(reply).encode(), {})
        if kind == "html":
            page = (
                "<!DOCTYPE html>\n<html><head><title>Service unavailable</title></head>"
                "<body><h1>Service unavailable</h1><p>The server is temporarily unable to "
                "service your request. Please try again later.</p></body></html>\n"
            )
            return (200, HTML_TYPE, page.encode(), {})

        p = {k.lower(): v for k, v in params.items()}
        if endpoint == "einfo.fcgi":
            reply = self._einfo(p, fault)
        elif endpoint == "esearch.fcgi":
            reply = self._esearch(p, fault)
        elif endpoint == "efetch.fcgi":
            reply = self._efetch(p, fault)
        else:
            return (404, TEXT_TYPE, f"404 Not Found: {endpoint}\n".encode(), {})

        if kind == "truncate":
            status, ctype, body, headers = reply
            reply = (status, ctype, body[: len(body) // 2], headers)
        return reply

    # einfo

    def _einfo(self, p: dict, fault: Fault | None) -> _Reply:
        with self._lock:
            n = len(self._records)
        if fault and fault.kind == "error200":
            return _json({"error": "API rate limit exceeded", "api-key": "127.0.0.1",
                          "count": "11", "limit": "10"})
        if p.get("retmode", "json").lower() == "xml":
            body = (f'<?xml version="1.0" encoding="UTF-8" ?>\n<eInfoResult><DbInfo>'
                    f"<DbName>pubmed</DbName><Count>{n}</Count></DbInfo></eInfoResult>\n")
            return (200, XML_TYPE, body.encode(), {})
        return _json({"header": {"type": "einfo", "version": "0.3"},
                      "einforesult": {"dbinfo": [{"dbname": "pubmed", "count": str(n)}]}})

    # esearch

    def _matches(self, p: dict) -> list[str]:
        with self._lock:
            records = list(self._records)
        if "NOHITS" in p.get("term", ""):
            return []
        ranges = _TERM_RANGE.findall(p.get("term", ""))
        if ranges:
            # Date ranges in the term ("2023/01/01"[EDAT] : "2023/02/01"[EDAT]), ORed
            # as the pipeline writes them: a record in any of them matches.
            spans = [(f.lower(), _parse_date(lo, end=False), _parse_date(hi, end=True)) for lo, f, hi, _ in ranges]
            return [r.pmid for r in records
                    if any(getattr(r, f) is not None and a <= getattr(r, f) <= b for f, a, b in spans)]
        lo, hi = p.get("mindate", "").strip(), p.get("maxdate", "").strip()
        if not (lo and hi):
            return [r.pmid for r in records]
        lo_d, hi_d = _parse_date(lo, end=False), _parse_date(hi, end=True)
        if lo_d is None or hi_d is None:
            return [r.pmid for r in records]
        field = "mdat" if p.get("datetype", "pdat").lower() == "mdat" else "edat"
        out = []
        for r in records:
            d = getattr(r, field)
            if d is not None and lo_d <= d <= hi_d:
                out.append(r.pmid)
        return out

    def _store(self, p: dict, pmids: list[str]) -> tuple[str, str]:
        with self._lock:
            webenv = p.get("webenv", "")
            if webenv not in self.history:
                webenv = f"MCID_fake{next(self._webenv_seq):04d}_{id(self):x}"
                self.history[webenv] = {}
            sets = self.history[webenv]
            key = str(max((int(k) for k in sets), default=0) + 1)
            sets[key] = list(pmids)
            return webenv, key

    def _esearch(self, p: dict, fault: Fault | None) -> _Reply:
        as_json = p.get("retmode", "xml").lower() == "json"
        if fault and fault.kind == "error200":
            message = "Invalid query" + (f" (request: {urlencode(p)})" if fault.echo else "")
            if as_json:
                return _json({"header": {"type": "esearch", "version": "0.3"},
                              "esearchresult": {"ERROR": message}})
            return _xml('<?xml version="1.0" encoding="UTF-8" ?>\n'
                        "<eSearchResult><ERROR>Invalid query</ERROR></eSearchResult>\n")
        pmids = self._matches(p)
        retstart = max(_int(p.get("retstart"), 0), 0)
        retmax = min(max(_int(p.get("retmax"), DEFAULT_RETMAX), 0), ESEARCH_CAP)
        idlist = pmids[retstart:retstart + retmax]
        count: int | None = None
        if self.count_override is not None:
            count = self.count_override(dict(p))
        if count is None and self.max_count is not None:
            count = self.max_count
        if count is None:
            count = len(pmids)
        history = p.get("usehistory", "").lower() == "y"
        webenv = key = None
        if history:
            webenv, key = self._store(p, pmids)
        term = p.get("term", "")
        warn = bool(fault and fault.kind == "warning")

        if as_json:
            res: dict[str, Any] = {"count": str(count), "retmax": str(len(idlist)),
                                   "retstart": str(retstart)}
            if history:
                res["querykey"] = key
                res["webenv"] = webenv
            res["idlist"] = idlist
            res["translationset"] = []
            res["querytranslation"] = term
            if warn:
                res["errorlist"] = {"phrasesnotfound": [], "fieldsnotfound": ["tiab2"]}
                res["warninglist"] = {"phrasesignored": [], "quotedphrasesnotfound": [],
                                      "outputmessages": ["Unknown field tag ignored"]}
            return _json({"header": {"type": "esearch", "version": "0.3"}, "esearchresult": res})

        out = ['<?xml version="1.0" encoding="UTF-8" ?>\n', ESEARCH_DOCTYPE, "\n<eSearchResult>",
               f"<Count>{count}</Count><RetMax>{len(idlist)}</RetMax><RetStart>{retstart}</RetStart>"]
        if history:
            out.append(f"<QueryKey>{key}</QueryKey><WebEnv>{escape(webenv)}</WebEnv>")
        out.append("<IdList>\n" + "".join(f"<Id>{i}</Id>\n" for i in idlist) + "</IdList>")
        out.append(f"<TranslationSet/><QueryTranslation>{escape(term)}</QueryTranslation>")
        if warn:
            out.append("<ErrorList><FieldNotFound>tiab2</FieldNotFound></ErrorList>"
                       "<WarningList><OutputMessage>Unknown field tag ignored</OutputMessage></WarningList>")
        out.append("</eSearchResult>\n")
        return _xml("".join(out))

    # efetch

    def _efetch(self, p: dict, fault: Fault | None) -> _Reply:
        if fault and fault.kind == "error200":
            return _fetch_error("Unable to obtain query #1" + (f" (request: {urlencode(p)})" if fault.echo else ""))
        ids = p.get("id", "").strip()
        if ids:
            pmids = [i.strip() for i in ids.replace(" ", ",").split(",") if i.strip()]
        elif p.get("webenv"):
            key = p.get("query_key", "1").strip() or "1"
            with self._lock:
                sets = self.history.get(p["webenv"])
                pmids = None if sets is None else sets.get(key)
            if pmids is None:
                return _fetch_error(f"Unable to obtain query #{key}")
        else:
            return _fetch_error("Empty id list - nothing todo")
        retstart = max(_int(p.get("retstart"), 0), 0)
        if fault and fault.kind == "samepage":
            retstart = 0  # a history server that does not page
        retmax = min(max(_int(p.get("retmax"), DEFAULT_RETMAX), 0), EFETCH_CAP)
        chosen = pmids[retstart:retstart + retmax]
        with self._lock:
            recs = [self._by_pmid[i].xml for i in chosen if i in self._by_pmid]
        if fault and fault.kind == "fewer" and recs:
            recs = recs[:-1]
        return (200, XML_TYPE, make_efetch(recs), {})


def _int(value: str | None, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _json(obj: Any) -> _Reply:
    return (200, JSON_TYPE, json.dumps(obj, indent=1).encode("utf-8"), {})


def _xml(text: str) -> _Reply:
    return (200, XML_TYPE, text.encode("utf-8"), {})


def _fetch_error(message: str) -> _Reply:
    body = f'<?xml version="1.0" ?><eFetchResult><ERROR>{escape(message)}</ERROR></eFetchResult>'
    return _xml(body)
