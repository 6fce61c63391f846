"""PubMed XML (efetch output) → `Study` records, streaming.

The file is read in chunks and cut into records at their `<PubmedArticle>`
tags, so memory holds one buffer and one record however many records a file
holds. Parsing is split in two steps so that an unchanged record costs almost
nothing: `iter_articles` yields each record's raw bytes and content hash (a
byte search and a hash), and `parse_article` builds the record's lxml tree
and turns it into a `Study` only when the caller needs it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator, Union

from lxml import etree

RECORD_TAGS = ("PubmedArticle", "PubmedBookArticle", "DeleteCitation")

XmlSource = Union[str, Path, bytes, IO[bytes]]

MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
# Inline tags whose content is a word of its own: when NCBI writes them with no
# space around (`the<i>TERT</i>gene`), a space is put back. <sub>/<sup> are left
# glued on purpose: `CO<sub>2</sub>` is one word.
WORD_TAGS = {"i", "b", "u", "em", "strong"}
NCT_RE = re.compile(r"\bNCT\d{8}\b")
# Whitespace holding a line break next to an inline tag: pretty-printing, not text.
LAYOUT_END_RE = re.compile(r"[ \t]*\n\s*$")
LAYOUT_START_RE = re.compile(r"^[ \t]*\n\s*")
# CommentsCorrections types that change how a study may be cited.
NOTICE_TYPES = {
    "RetractionIn",
    "RetractionOf",
    "ErratumIn",
    "ErratumFor",
    "ExpressionOfConcernIn",
    "ExpressionOfConcernFor",
    "UpdateIn",
    "UpdateOf",
    "RepublishedIn",
    "RepublishedFrom",
}


class MalformedRecord(ValueError):
    """A record that is well-formed XML but lacks what a study needs (e.g. a PMID)."""

    def __init__(self, pmid: str | None, reason: str):
        super().__init__(f"PMID {pmid or '?'}: {reason}")
        self.pmid = pmid
        self.reason = reason


@dataclass
class Author:
    last_name: str | None = None
    fore_name: str | None = None
    initials: str | None = None
    collective_name: str | None = None
    affiliations: list[str] = field(default_factory=list)
    orcid: str | None = None

    @property
    def display(self) -> str:
        """'Gildir S' style, as PubMed and Vancouver citations write names."""
        if self.collective_name:
            return self.collective_name
        return " ".join(p for p in (self.last_name, self.initials) if p)


@dataclass
class Study:
    """One PubMed record, as parsed: bibliographic facts only (extraction comes later)."""

    pmid: str
    title: str
    abstract: str = ""
    abstract_sections: list[dict] = field(default_factory=list)
    journal: str | None = None
    journal_abbrev: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    year: int | None = None
    pub_date: str | None = None
    doi: str | None = None
    pmcid: str | None = None
    authors: list[Author] = field(default_factory=list)
    publication_types: list[str] = field(default_factory=list)
    mesh: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    language: str | None = None
    nct: list[str] = field(default_factory=list)
    retracted: bool = False
    notices: list[dict] = field(default_factory=list)
    entrez_date: str | None = None
    revised_date: str | None = None
    status: str | None = None
    kind: str = "article"  # or "book" for PubmedBookArticle (e.g. StatPearls chapters)
    raw_xml: bytes = b""
    content_hash: str = ""



class DocumentError(ValueError):
    """The document as a whole is unusable: not PubMed XML, cut short, or beyond
    the limits below (a record that never ends, a gzip bomb)."""


# --- limits: what one document may make the parser do -----------------------

# One record's bytes. PubMed's largest records (consortium papers listing
# thousands of authors) are a few MB at most; a record past this is a fault or
# an attack, and buffering it whole would let one record take all memory.
MAX_RECORD_BYTES = 10 << 20
# A gzip file may decompress to at most this many bytes in all (PubMed's
# baseline files are under 1 GB of XML each) ...
MAX_DECOMPRESSED_BYTES = 8 << 30
# ... and, once past MIN_RATIO_BYTES, to at most this many times the compressed
# bytes read: PubMed XML compresses 5 to 10 times, a gzip bomb about 1,000 times.
MAX_GZIP_RATIO = 100
MIN_RATIO_BYTES = 16 << 20
# PMIDs have 1 to 9 digits (the highest is about 41 million): a longer one is
# a fault, not a new study.
PMID_DIGITS = 9
# Bytes kept from the start of a record too large to hold (to name its PMID).
RECORD_HEAD = 1 << 16
# Bytes searched again after each read: a tag may be cut in two between reads.
OVERLAP = 64


def normalise_pmid(text: str | None) -> str:
    """A PMID as stored: ASCII digits without leading zeros, 1 to PMID_DIGITS of
    them, not zero. Raises ValueError saying what is wrong."""
    value = (text or "").strip()
    if value.isascii() and value.isdigit() and value[0] != "0" and len(value) <= PMID_DIGITS:
        return value  # the usual case, at once
    if not value:
        raise ValueError("record has no PMID")
    if not PMID_TEXT_RE.fullmatch(value):
        raise ValueError(f"PMID {value[:40]!r} is not a number")
    digits = value.lstrip("0")
    if not digits:
        raise ValueError(f"PMID {value[:40]!r} is zero, not a PMID")
    if len(digits) > PMID_DIGITS:
        raise ValueError(f"PMID {value[:40]!r} has {len(digits)} digits; a PMID has at most {PMID_DIGITS}")
    return digits


class Article:
    """One record's raw bytes, PMID and content hash, before any field parsing.

    The XML tree is built only when `element` is first asked for, so a record
    whose hash shows it unchanged costs a byte search and a hash, nothing more.
    The PMID is the record's own (MedlineCitation/PMID, BookDocument/PMID),
    normalised; a PMID elsewhere in the record (a comment on, or correction of,
    another study) is never taken for it. A record cut from the stream that
    cannot be a study (too large, never closed, an invalid PMID) carries its
    `problem`, and `parse_article` reports it as a MalformedRecord.
    """

    __slots__ = ("pmid", "quoted_pmid", "tag", "raw_xml", "content_hash", "offset", "problem", "_prefix", "_element")

    def __init__(
        self,
        tag: str,
        raw_xml: bytes,
        prefix: bytes = b"",
        *,
        offset: int | None = None,
        problem: str | None = None,
    ):
        self.tag = tag
        self.raw_xml = raw_xml
        self.offset = offset  # where the record starts in its (decompressed) document
        self.problem = problem
        self.content_hash = "" if problem else hashlib.sha256(raw_xml).hexdigest()
        self._prefix = prefix
        self._element: etree._Element | None = None
        self.pmid: str | None = None
        self.quoted_pmid: str | None = None  # an invalid PMID as the record writes it, for reports
        self.pmid = self._find_pmid()

    def _find_pmid(self) -> str | None:
        if self.tag == "DeleteCitation":  # as before: the first of the PMIDs it withdraws
            m = PMID_RE.search(self.raw_xml)
            return m.group(1).decode("ascii", "replace").strip() if m else None
        text = self._own_pmid_text()
        if text is None:
            return None  # parse_article looks in the tree, then reports it missing
        try:
            return normalise_pmid(text)
        except ValueError as e:
            self.problem = self.problem or str(e)
            self.quoted_pmid = text.strip()[:40] or None
            return None

    def _own_pmid_text(self) -> str | None:
        """The own PMID's text by a byte search: the first child of MedlineCitation
        (or BookDocument), as PubMed's DTD has it. Markup that could hide a fake
        one from a byte search (a comment, CDATA, a processing instruction) sends
        the question to the XML tree: only markup up to the match can fool it, so
        only those bytes are looked at (usually a hundred)."""
        raw = self.raw_xml
        at = raw.find(OWN_PMID_PARENT[self.tag])
        m = OWN_PMID_RE.match(raw, at) if at >= 0 else None
        seen = m.end() if m else len(raw)
        if not self.problem and (raw.find(b"<!", 0, seen) >= 0 or raw.find(b"<?", 0, seen) >= 0):
            return self._tree_pmid_text()
        return m.group(1).decode("ascii", "replace") if m else None

    def _tree_pmid_text(self) -> str | None:
        try:
            return self.element.findtext(OWN_PMID_PATH[self.tag])
        except MalformedRecord:
            return None  # not well-formed: parse_article reports it

    @property
    def deleted_pmids(self) -> list[str]:
        """For a DeleteCitation: the PMIDs PubMed withdrew (all of them, not just the first)."""
        return [m.decode().strip() for m in PMID_RE.findall(self.raw_xml)] if self.tag == "DeleteCitation" else []

    @property
    def revised(self) -> str | None:
        """The record's revision date (DateRevised) as an ISO date, read from its
        bytes; of two copies of one PMID, the later revision is the newer version."""
        m = REVISED_RE.search(self.raw_xml)
        if not m:
            return None
        year, month, day = (int(g) for g in m.groups())
        return f"{year:04d}-{month:02d}-{day:02d}"

    def utf8_xml(self) -> bytes:
        """The record's bytes in UTF-8, whatever the document declared (stored as text)."""
        if not self._prefix:
            return self.raw_xml
        encoding = ENCODING_RE.search(self._prefix).group(1).decode()  # type: ignore[union-attr]
        try:
            return self.raw_xml.decode(encoding).encode("utf-8")
        except (LookupError, UnicodeDecodeError) as e:
            raise MalformedRecord(self.pmid, f"cannot read its {encoding} text: {e}") from None

    @property
    def element(self) -> etree._Element:
        """The record's XML tree; raises MalformedRecord if the record is not well-formed."""
        if self._element is None:
            try:
                self._element = etree.fromstring(self._prefix + self.raw_xml, XML_PARSER)
            except etree.XMLSyntaxError as e:
                raise MalformedRecord(self.pmid, f"not well-formed XML: {e}") from None
        return self._element


# No DTD loading and no entity resolution: nothing reaches the network and no
# external entity is expanded.
XML_PARSER = etree.XMLParser(
    load_dtd=False, no_network=True, resolve_entities=False, huge_tree=True
)
RECORD_START_RE = re.compile(rb"<(PubmedArticle|PubmedBookArticle|DeleteCitation)[\s>]")
PMID_RE = re.compile(rb"<PMID[^>]*>([^<]*)</PMID>")
# Where a record keeps its own PMID: the first child of this element.
OWN_PMID_PATH = {"PubmedArticle": "MedlineCitation/PMID", "PubmedBookArticle": "BookDocument/PMID"}
OWN_PMID_PARENT = {tag: ("<" + path.split("/")[0]).encode() for tag, path in OWN_PMID_PATH.items()}
OWN_PMID_RE = re.compile(rb"<(?:MedlineCitation|BookDocument)(?:\s[^>]*)?>\s*<PMID(?:\s[^>]*)?>([^<]*)</PMID>")
PMID_TEXT_RE = re.compile(r"[0-9]+")  # ASCII digits only: str.isdigit() also takes '３' and '²'
REVISED_RE = re.compile(
    rb"<DateRevised>\s*<Year>(\d{4})</Year>\s*<Month>(\d{1,2})</Month>\s*<Day>(\d{1,2})</Day>"
)
ENCODING_RE = re.compile(rb"""<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")
CHUNK = 1 << 20  # bytes per read
HEAD = 1 << 16


class _GuardedGzip(io.RawIOBase):
    """A gzip file's decompressed bytes. Fails with a DocumentError naming the
    file when it is corrupt or cut short, or decompresses past the limits (a gzip
    bomb), so neither memory nor time runs away."""

    def __init__(self, raw: IO[bytes], name: str):
        super().__init__()
        self._raw = raw
        self._gzip = gzip.GzipFile(fileobj=raw)
        self._name = name
        self._out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 (a writable buffer)
        try:
            n = self._gzip.readinto(buffer)
        except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
            raise DocumentError(f"cannot read {self._name} as gzip (corrupt or cut short): {e}") from None
        self._out += n
        self._check_size()
        return n

    def _check_size(self) -> None:
        if self._out > MAX_DECOMPRESSED_BYTES:
            raise DocumentError(
                f"{self._name} decompresses to more than {MAX_DECOMPRESSED_BYTES:,} bytes; refused (a gzip bomb?)"
            )
        if self._out > MIN_RATIO_BYTES:
            read = max(self._raw.tell(), 1)
            if self._out > MAX_GZIP_RATIO * read:
                raise DocumentError(
                    f"{self._name} decompresses to more than {MAX_GZIP_RATIO} times its size "
                    f"({self._out:,} bytes from the first {read:,}); refused as a likely gzip bomb "
                    "(PubMed XML compresses 5 to 10 times)"
                )

    def close(self) -> None:
        self._gzip.close()
        super().close()


@contextmanager
def open_xml(source: XmlSource) -> Iterator[IO[bytes]]:
    """A binary stream for a path (gzip recognised by its magic bytes), bytes, or an
    open file; files this opens are closed on exit, a caller's file is left open."""
    if isinstance(source, bytes):
        yield io.BytesIO(source)
    elif isinstance(source, (str, Path)):
        with open(source, "rb") as raw:
            if raw.peek(2)[:2] == b"\x1f\x8b":
                with io.BufferedReader(_GuardedGzip(raw, str(source))) as unzipped:
                    yield unzipped
            else:
                yield raw
    else:
        yield source


def iter_articles(source: XmlSource) -> Iterator[Article]:
    """Yield each record of an efetch XML document, streaming, with its bytes and hash.

    Records are cut from the byte stream at their `<PubmedArticle>` tags (PubMed
    XML has no CDATA, comments or entities that could hide one), so memory holds
    one read buffer and one record, and an unchanged record is never parsed. A
    record that is not well-formed fails alone, when its `element` is built; so
    does one larger than MAX_RECORD_BYTES (skipped a chunk at a time, memory
    flat) and one that never closes before the next record starts.
    Raises `DocumentError` when the document is not a PubmedArticleSet or ends
    before it should, after yielding every whole record before the fault.
    """
    with open_xml(source) as f:
        first = f.read(max(CHUNK, HEAD))  # the prolog (declaration, DOCTYPE) fits in HEAD
        head = first.lstrip()
        in_set = b"<PubmedArticleSet" in first
        if not in_set and not head.startswith(RECORD_TAGS_B):
            raise DocumentError(f"not a PubMed efetch document (no PubmedArticleSet); it starts {head[:60]!r}")
        m = ENCODING_RE.search(first[:200])
        prefix = b""
        if m and m.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
            prefix = b'<?xml version="1.0" encoding="' + m.group(1) + b'"?>'
        cutter = _Cutter(f, first, prefix)
        yield from cutter.records()
        if in_set and not cutter.closed:
            raise DocumentError("the document ends before </PubmedArticleSet> (truncated)")


RECORD_TAGS_B = tuple(f"<{t}".encode() for t in RECORD_TAGS)


class _Cutter:
    """Cuts records from a byte stream. The buffer holds the unread rest of one
    chunk and at most one record of MAX_RECORD_BYTES; each byte is searched a
    bounded number of times, so time is linear in the document's size."""

    def __init__(self, stream: IO[bytes], first: bytes, prefix: bytes):
        self.stream = stream
        self.buf = bytearray(first)
        self.base = 0  # where buf[0] is in the document
        self.eof = not first
        self.prefix = prefix
        self.closed = False  # </PubmedArticleSet> seen

    def read_more(self) -> None:
        more = self.stream.read(CHUNK)
        self.eof = not more
        self.buf += more

    def drop(self, n: int) -> None:
        """Forget the first `n` bytes of the buffer (cheap: bytearray moves its start)."""
        del self.buf[:n]
        self.base += n

    def records(self) -> Iterator[Article]:
        pos = 0
        while True:
            m = RECORD_START_RE.search(self.buf, pos)
            if m is None:
                self.closed = self.closed or self.buf.find(b"</PubmedArticleSet>", pos) >= 0
                if self.eof:
                    return
                self.drop(max(pos, len(self.buf) - OVERLAP))  # keep a tag cut in two
                pos = 0
                self.read_more()
                continue
            article, pos = self._cut(m.group(1).decode(), m.start(), m.end())
            yield article

    def _cut(self, tag: str, start: int, scan: int) -> tuple[Article, int]:
        """The record starting at buf[start]: (its Article, where the next search starts)."""
        closing = f"</{tag}>".encode()
        while True:
            end = self.buf.find(closing, scan)
            nxt = _record_start(self.buf, scan, end if end >= 0 else len(self.buf))
            if nxt >= 0:
                head = self.slice(start, min(nxt, start + RECORD_HEAD))
                return self._failed(tag, head, "never closes: the next record starts first", self.base + start), nxt
            if end >= 0:
                end += len(closing)
                return Article(tag, self.slice(start, end), self.prefix, offset=self.base + start), end
            self.drop(start)  # the buffer holds this record and what is read after it
            scan, start = max(scan - start, len(self.buf) - OVERLAP), 0
            if len(self.buf) > MAX_RECORD_BYTES:
                return self._skip_oversized(tag, closing)
            if self.eof:
                raise DocumentError(f"the document ends inside a {tag} record, at byte {self.base:,} (truncated)")
            self.read_more()

    def slice(self, start: int, end: int) -> bytes:
        with memoryview(self.buf) as view:  # one copy, and the view is let go before the buffer moves
            return bytes(view[start:end])

    def _skip_oversized(self, tag: str, closing: bytes) -> tuple[Article, int]:
        """Read past a record (at buf[0]) too large to hold, keeping only its head
        and a chunk at a time; it fails alone and reading resumes after it."""
        head, offset = self.slice(0, RECORD_HEAD), self.base
        reason = f"is larger than the {MAX_RECORD_BYTES:,} bytes a record may have; skipped"
        while True:
            self.drop(max(len(self.buf) - OVERLAP, 0))
            if self.eof:
                raise DocumentError(
                    f"the document ends inside a {tag} record, at byte {offset:,}, "
                    f"that is larger than the {MAX_RECORD_BYTES:,} bytes a record may have (truncated)"
                )
            self.read_more()
            end = self.buf.find(closing)
            nxt = _record_start(self.buf, 0, end if end >= 0 else len(self.buf))
            if nxt >= 0 or end >= 0:
                resume = nxt if nxt >= 0 else end + len(closing)
                return self._failed(tag, head, reason, offset), resume

    def _failed(self, tag: str, head: bytes, reason: str, offset: int) -> Article:
        return Article(tag, head, self.prefix, offset=offset, problem=f"the {tag} record at byte {offset:,} {reason}")


def _record_start(buf: bytearray, lo: int, hi: int) -> int:
    """Where a record's start tag is in buf[lo:hi], or -1 (records never nest, so
    one inside a record means that record never closed)."""
    found = -1
    for tag in RECORD_TAGS_B:
        at = buf.find(tag, lo, hi)
        while at >= 0 and not RECORD_START_RE.match(buf, at):
            at = buf.find(tag, at + 1, hi)
        if at >= 0 and (found < 0 or at < found):
            found = at
    return found


def parse_article(article: Article) -> Study:
    """Turn one record into a `Study`; raises `MalformedRecord` when it cannot.

    Whatever goes wrong inside one record (a RecursionError, a value no field
    expects) becomes a MalformedRecord naming its PMID: the record fails alone.
    """
    try:
        return _parse_article(article)
    except (MalformedRecord, MemoryError):
        raise
    except Exception as e:
        raise MalformedRecord(article.pmid, f"could not be parsed: {type(e).__name__}: {str(e)[:200]}") from None


def _parse_article(article: Article) -> Study:
    if article.problem:
        raise MalformedRecord(article.pmid or article.quoted_pmid, article.problem)
    elem = article.element
    if article.tag == "DeleteCitation":
        raise MalformedRecord(None, "DeleteCitation (PubMed withdrew these PMIDs), not a record")
    pmid = _own_pmid(article, elem)
    if article.tag == "PubmedBookArticle":
        study = _parse_book(elem, pmid)
    else:
        study = _parse_citation(elem, pmid)
    study.raw_xml = article.utf8_xml()
    study.content_hash = article.content_hash
    return study


def _own_pmid(article: Article, elem: etree._Element) -> str:
    """The record's own PMID, from its tree (which has the last word over the byte search)."""
    path = OWN_PMID_PATH[article.tag]
    text = elem.findtext(path)
    try:
        pmid = normalise_pmid(text)
    except ValueError as e:
        reason = str(e)
        if reason == "record has no PMID":
            reason = f"record has no PMID of its own ({path}); a PMID elsewhere in it is another study's"
        raise MalformedRecord((text or "").strip()[:40] or None, reason) from None
    if article.pmid and pmid != article.pmid:
        raise MalformedRecord(article.pmid, f"its PMID reads {article.pmid} to a byte search but {pmid} in the XML")
    return pmid


def parse(source: XmlSource) -> Iterator[Study | MalformedRecord]:
    """Every record of a document as a `Study`, or a `MalformedRecord` saying why not."""
    for article in iter_articles(source):
        try:
            yield parse_article(article)
        except MalformedRecord as e:
            yield e


# --- record parts -----------------------------------------------------------


def _parse_citation(elem: etree._Element, pmid: str) -> Study:
    citation = elem.find("MedlineCitation")
    article = citation.find("Article") if citation is not None else None
    if article is None:
        raise MalformedRecord(pmid, "record has no Article element")
    journal = article.find("Journal")
    title = text_of(article.find("ArticleTitle")) or text_of(article.find("VernacularTitle"))
    sections = _abstract_sections(article.find("Abstract"))
    issue_el = journal.find("JournalIssue") if journal is not None else None
    pub_date_el = issue_el.find("PubDate") if issue_el is not None else None
    year, pub_date = _pub_date(pub_date_el)
    if year is None:
        year, _ = _pub_date(article.find("ArticleDate"))
    pubmed_data = elem.find("PubmedData")
    ids = _article_ids(pubmed_data)
    doi = ids.get("doi")
    if not doi:
        for loc in article.iterfind("ELocationID"):
            if loc.get("EIdType") == "doi" and loc.get("ValidYN", "Y") == "Y":
                doi = _clean(loc.text)
                break
    pub_types = [_clean(p.text) for p in article.iterfind("PublicationTypeList/PublicationType")]
    notices = _notices(citation)
    abstract = join_sections(sections)
    return Study(
        pmid=pmid,
        title=title,
        abstract=abstract,
        abstract_sections=sections,
        journal=_clean(journal.findtext("Title")) if journal is not None else None,
        journal_abbrev=_clean(journal.findtext("ISOAbbreviation")) if journal is not None else None,
        volume=_clean(issue_el.findtext("Volume")) if issue_el is not None else None,
        issue=_clean(issue_el.findtext("Issue")) if issue_el is not None else None,
        pages=_pages(article),
        year=year,
        pub_date=pub_date,
        doi=doi,
        pmcid=ids.get("pmc"),
        authors=_authors(article.find("AuthorList")),
        publication_types=pub_types,
        mesh=[
            _clean(d.text)
            for d in citation.iterfind("MeshHeadingList/MeshHeading/DescriptorName")
        ],
        keywords=[text_of(k) for k in citation.iterfind("KeywordList/Keyword") if text_of(k)],
        language=_clean(article.findtext("Language")),
        nct=_nct(article, title, abstract),
        retracted="Retracted Publication" in pub_types
        or any(n["type"] == "RetractionIn" for n in notices),
        notices=notices,
        entrez_date=_history_date(pubmed_data, "entrez"),
        revised_date=_ymd(citation.find("DateRevised")),
        status=citation.get("Status"),
    )


def _parse_book(elem: etree._Element, pmid: str) -> Study:
    doc = elem.find("BookDocument")
    book = doc.find("Book") if doc is not None else None
    if doc is None:
        raise MalformedRecord(pmid, "book record has no BookDocument element")
    title = text_of(doc.find("ArticleTitle")) or (text_of(book.find("BookTitle")) if book is not None else "")
    sections = _abstract_sections(doc.find("Abstract"))
    year, pub_date = _pub_date(book.find("PubDate") if book is not None else None)
    authors = _authors(doc.find("AuthorList")) or _authors(book.find("AuthorList") if book is not None else None)
    ids = _article_ids(elem.find("PubmedBookData"))
    abstract = join_sections(sections)
    return Study(
        pmid=pmid,
        title=title,
        abstract=abstract,
        abstract_sections=sections,
        journal=_clean(book.findtext("BookTitle")) if book is not None else None,
        year=year,
        pub_date=pub_date,
        doi=ids.get("doi"),
        pmcid=ids.get("pmc"),
        authors=authors,
        publication_types=[_clean(p.text) for p in doc.iterfind("PublicationType")],
        keywords=[text_of(k) for k in doc.iterfind("KeywordList/Keyword") if text_of(k)],
        language=_clean(doc.findtext("Language")),
        nct=_nct(doc, title, abstract),
        entrez_date=_history_date(elem.find("PubmedBookData"), "entrez"),
        revised_date=_ymd(doc.find("DateRevised")),
        kind="book",
    )


def text_of(elem: etree._Element | None) -> str:
    """An element's text with inline markup kept as plain text and spaces folded."""
    if elem is None:
        return ""
    if len(elem) == 0:  # no inline markup: the common case
        return _clean(elem.text) or ""
    parts: list[str] = []
    _collect(elem, parts)
    return _clean("".join(parts)) or ""


def _collect(root: etree._Element, parts: list[str]) -> None:
    """Append the text of `root` and of its inline markup, tails included, in order.

    A loop over an explicit stack rather than recursion: a record nesting inline
    tags thousands deep still gives its text, not a RecursionError.
    """
    if root.text:
        parts.append(root.text)
    stack = [iter(root)]
    opened = [root]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            elem = opened.pop()
            if stack:  # the root's own tail is not its text
                _close_inline(elem, parts)
            continue
        _open_inline(child, parts)
        stack.append(iter(child))
        opened.append(child)


def _local_tag(elem: etree._Element) -> str:
    tag = elem.tag if isinstance(elem.tag, str) else ""
    return tag.rsplit("}", 1)[-1].lower()


def _open_inline(elem: etree._Element, parts: list[str]) -> None:
    """An inline tag starts: drop layout before it, space a word tag, add its text."""
    if parts and LAYOUT_END_RE.search(parts[-1]):
        # Indentation a re-serialiser put before an inline tag is layout, not a space.
        parts[-1] = LAYOUT_END_RE.sub("", parts[-1])
    if _local_tag(elem) in WORD_TAGS and parts and parts[-1][-1:].isalnum():
        parts.append(" ")
    if elem.text:
        parts.append(elem.text)


def _close_inline(elem: etree._Element, parts: list[str]) -> None:
    """An inline tag ends: add its tail, spaced from a word tag, layout dropped."""
    tail = elem.tail
    if not tail:
        return
    tail = LAYOUT_START_RE.sub("", tail)
    if _local_tag(elem) in WORD_TAGS and tail[:1].isalnum():
        parts.append(" ")
    if tail:
        parts.append(tail)


def _clean(s: str | None) -> str | None:
    if not s:
        return None
    s = s.strip()
    # Most text is already clean; isprintable() is False for line breaks, tabs and
    # no-break/thin spaces, so only text holding those (or double spaces) is folded.
    if not s.isprintable() or "  " in s:
        s = " ".join(s.split())
    return s or None


def _abstract_sections(abstract: etree._Element | None) -> list[dict]:
    if abstract is None:
        return []
    sections = []
    for part in abstract.iterfind("AbstractText"):
        text = text_of(part)
        if not text:
            continue
        sections.append(
            {"label": part.get("Label"), "category": part.get("NlmCategory"), "text": text}
        )
    return sections


def join_sections(sections: list[dict]) -> str:
    """The abstract as one text: 'LABEL: text' per section, one per line."""
    return "\n".join(
        f"{s['label']}: {s['text']}" if s.get("label") else s["text"] for s in sections
    )


def _authors(author_list: etree._Element | None) -> list[Author]:
    if author_list is None:
        return []
    authors = []
    for a in author_list.iterfind("Author"):
        if a.get("ValidYN", "Y") != "Y":
            continue
        author = Author()
        for part in a:  # one pass over the children instead of a lookup per field
            tag = part.tag
            if tag == "LastName":
                author.last_name = _clean(part.text)
            elif tag == "ForeName":
                author.fore_name = _clean(part.text)
            elif tag == "Initials":
                author.initials = _clean(part.text)
            elif tag == "CollectiveName":
                author.collective_name = text_of(part) or None
            elif tag == "AffiliationInfo":
                affiliation = text_of(part.find("Affiliation"))
                if affiliation:
                    author.affiliations.append(affiliation)
            elif tag == "Identifier" and part.get("Source") == "ORCID":
                author.orcid = _clean(part.text)
        authors.append(author)
    return authors


def _pub_date(el: etree._Element | None) -> tuple[int | None, str | None]:
    """(year, the date as PubMed writes it), from Year/Month/Day, Season or MedlineDate."""
    if el is None:
        return None, None
    medline = _clean(el.findtext("MedlineDate"))
    if medline:
        m = re.search(r"\b(1[89]\d\d|20\d\d)\b", medline)
        return (int(m.group(1)) if m else None), medline
    year = _clean(el.findtext("Year"))
    parts = [p for p in (year, _clean(el.findtext("Month")) or _clean(el.findtext("Season")), _clean(el.findtext("Day"))) if p]
    return (int(year) if year and year.isdigit() else None), (" ".join(parts) or None)


def _ymd(el: etree._Element | None) -> str | None:
    """An ISO date from a Year/Month/Day element (month by number or name)."""
    if el is None:
        return None
    parts = {child.tag: (child.text or "").strip() for child in el}
    year = parts.get("Year", "")
    if not year.isdigit():
        return None
    month = parts.get("Month") or "1"
    month_n = int(month) if month.isdigit() else MONTHS.get(month[:3].lower(), 1)
    day = parts.get("Day") or "1"
    day_n = int(day) if day.isdigit() else 1
    return f"{int(year):04d}-{month_n:02d}-{day_n:02d}"


def _history_date(pubmed_data: etree._Element | None, status: str) -> str | None:
    if pubmed_data is None:
        return None
    for d in pubmed_data.iterfind("History/PubMedPubDate"):
        if d.get("PubStatus") == status:
            return _ymd(d)
    return None


def _article_ids(pubmed_data: etree._Element | None) -> dict[str, str]:
    # Only the record's own ArticleIdList: ReferenceList entries carry their own.
    ids: dict[str, str] = {}
    if pubmed_data is not None:
        for a in pubmed_data.iterfind("ArticleIdList/ArticleId"):
            kind, value = a.get("IdType"), _clean(a.text)
            if kind and value and kind not in ids:
                ids[kind] = value
    return ids


def _pages(article: etree._Element) -> str | None:
    pages = _clean(article.findtext("Pagination/MedlinePgn"))
    if pages:
        return pages
    start, end = _clean(article.findtext("Pagination/StartPage")), _clean(article.findtext("Pagination/EndPage"))
    if start:
        return f"{start}-{end}" if end else start
    for loc in article.iterfind("ELocationID"):
        if loc.get("EIdType") == "pii":
            return _clean(loc.text)
    return None


def _notices(citation: etree._Element) -> list[dict]:
    notices = []
    for c in citation.iterfind("CommentsCorrectionsList/CommentsCorrections"):
        ref_type = c.get("RefType")
        if ref_type in NOTICE_TYPES:
            notices.append(
                {
                    "type": ref_type,
                    "pmid": _clean(c.findtext("PMID")),
                    "source": _clean(c.findtext("RefSource")),
                }
            )
    return notices


def _nct(elem: etree._Element, title: str, abstract: str) -> list[str]:
    """ClinicalTrials.gov numbers from DataBankList, then from the title and abstract."""
    found: list[str] = []
    for bank in elem.iterfind("DataBankList/DataBank"):
        if (bank.findtext("DataBankName") or "").strip().lower() == "clinicaltrials.gov":
            for acc in bank.iterfind("AccessionNumberList/AccessionNumber"):
                if acc.text and acc.text.strip() not in found:
                    found.append(acc.text.strip())
    text = f"{title}\n{abstract}"
    for number in NCT_RE.findall(text) if "NCT" in text else ():
        if number not in found:
            found.append(number)
    return found
