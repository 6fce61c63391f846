"""A fake ClinicalTrials.gov API v2 server for tests.

``FakeCtGov`` is a real HTTP server on 127.0.0.1 (ephemeral port) that answers
``/api/v2/studies`` (a search, split into pages of the requested ``pageSize``
with an opaque ``nextPageToken``, ``totalCount`` with ``countTotal=true``),
``/api/v2/studies/{nctId}`` and ``/api/v2/version`` from Study objects (by
default the project's bundled snapshot), and can inject faults: an HTTP status
(429 or 5xx, with Retry-After), a truncated body, an HTML page, a dropped
connection, a page token that repeats, a count larger than what it serves.

Typical use::

    with FakeCtGov() as fake:
        client = ctgov.Client(ctgov.Settings(fake.base_url))
        fake.faults.append(CtFault("status", status=429, retry_after="0"))

Only the standard library; nothing here depends on pytest.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from typing_extensions import Self

SNAPSHOT = Path(__file__).resolve().parent.parent / "pipeline" / "snapshot" / "clinicaltrials"
JSON_TYPE = "application/json"


def snapshot_studies() -> list[dict]:
    """The bundled snapshot's search result (the 16 Study objects of studies.json)."""
    return json.loads((SNAPSHOT / "studies.json").read_text(encoding="utf-8"))["studies"]


@dataclass
class CtFault:
    """One injected fault, used by the next request whose path contains ``path`` (any when empty).

    kind: status (``status``, optional ``retry_after``), truncate, html, drop.
    """

    kind: str
    status: int = 503
    retry_after: str | None = None
    path: str = ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeCtGov


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        reply = self.server.fake._respond(split.path, params)
        if reply is None:  # a dropped connection
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        status, ctype, body, headers = reply
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class FakeCtGov:
    """Imitation of the ClinicalTrials.gov API v2 serving a list of Study objects."""

    def __init__(self, studies: list[dict] | None = None, *, singles: list[dict] | None = None):
        self.studies: list[dict] = list(studies if studies is not None else snapshot_studies())
        # Studies reachable by NCT number: the searched ones plus any extra.
        self.singles: dict[str, dict] = {_nct(s): s for s in self.studies + list(singles or [])}
        self.faults: list[CtFault] = []
        self.requests: list[dict] = []
        self.repeat_token = False  # serve the first page's token on every page
        self.extra_count = 0  # claim this many more studies than served
        self.default_page_size = 10  # the API's own default
        self.max_page_size = 1000  # the API's cap; lower it to make a search span pages
        self.base_url = ""
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeCtGov:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}/api/v2"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def paths(self) -> list[str]:
        """The paths asked for, in order."""
        return [r["path"] for r in self.requests]

    def _respond(self, path: str, params: dict) -> tuple[int, str, bytes, dict] | None:
        with self._lock:
            self.requests.append({"path": path, "params": dict(params)})
            fault = next((f for f in self.faults if f.path in path), None)
            if fault is not None:
                self.faults.remove(fault)
        if fault and fault.kind == "drop":
            return None
        if fault and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return (fault.status, "text/plain", f"{fault.status} injected by FakeCtGov\n".encode(), headers)
        if fault and fault.kind == "html":
            return (200, "text/html", b"<!DOCTYPE html><html><body>Down for maintenance</body></html>", {})
        reply = self._route(path, params)
        if fault and fault.kind == "truncate":
            status, ctype, body, headers = reply
            reply = (status, ctype, body[: len(body) // 2], headers)
        return reply

    def _route(self, path: str, params: dict) -> tuple[int, str, bytes, dict]:
        if not path.startswith("/api/v2/"):
            return (404, "text/plain", b"Not Found", {})
        rest = path[len("/api/v2/"):].rstrip("/")
        if rest == "version":
            return _json({"apiVersion": "2.0.5", "dataTimestamp": "2026-11-25T08:00:00"})
        if rest == "studies":
            return self._search(params)
        if rest.startswith("studies/"):
            nct = rest.split("/", 1)[1].upper()
            study = self.singles.get(nct)
            if study is None:
                return (404, JSON_TYPE, json.dumps({"message": f"Study {nct} not found"}).encode(), {})
            return _json(study)
        return (404, "text/plain", b"Not Found", {})

    def _search(self, params: dict) -> tuple[int, str, bytes, dict]:
        try:
            size = int(params.get("pageSize") or self.default_page_size)
        except ValueError:
            return (400, "text/plain", b"pageSize must be an integer", {})
        size = max(1, min(size, self.max_page_size))
        token = params.get("pageToken")
        start = 0
        if token:
            try:
                start = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("offset:"))
            except ValueError:
                return (400, "text/plain", b"invalid pageToken", {})
        page: dict = {"studies": self.studies[start : start + size]}
        if start + size < len(self.studies):
            offset = size if self.repeat_token else start + size
            page["nextPageToken"] = base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()
        if params.get("countTotal") == "true":
            page["totalCount"] = len(self.studies) + self.extra_count
        return _json(page)


def _nct(study: dict) -> str:
    return study["protocolSection"]["identificationModule"]["nctId"]


def _json(obj: object) -> tuple[int, str, bytes, dict]:
    return (200, JSON_TYPE, json.dumps(obj).encode("utf-8"), {})
