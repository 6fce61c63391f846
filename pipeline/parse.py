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
    """The document as a whole is unusable: not PubMed XML, or cut short."""


class Article:
    """One record's raw bytes, PMID and content hash, before any field parsing.

    The XML tree is built only when `element` is first asked for, so a record
    whose hash shows it unchanged costs a byte search and a hash, nothing more.
    """

    __slots__ = ("pmid", "tag", "raw_xml", "content_hash", "_prefix", "_element")

    def __init__(self, tag: str, raw_xml: bytes, prefix: bytes = b""):
        self.tag = tag
        self.raw_xml = raw_xml
        self.content_hash = hashlib.sha256(raw_xml).hexdigest()
        m = PMID_RE.search(raw_xml)
        self.pmid: str | None = m.group(1).decode("ascii", "replace").strip() if m else None
        self._prefix = prefix
        self._element: etree._Element | None = None

    @property
    def deleted_pmids(self) -> list[str]:
        """For a DeleteCitation: the PMIDs PubMed withdrew (all of them, not just the first)."""
        return [m.decode().strip() for m in PMID_RE.findall(self.raw_xml)] if self.tag == "DeleteCitation" else []

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
ENCODING_RE = re.compile(rb"""<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")
CHUNK = 1 << 20  # bytes per read
HEAD = 1 << 16


@contextmanager
def open_xml(source: XmlSource) -> Iterator[IO[bytes]]:
    """A binary stream for a path (gzip recognised by its magic bytes), bytes, or an
    open file; files this opens are closed on exit, a caller's file is left open."""
    if isinstance(source, bytes):
        yield io.BytesIO(source)
    elif isinstance(source, (str, Path)):
        with open(source, "rb") as raw:
            if raw.peek(2)[:2] == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=raw) as unzipped:
                    yield unzipped  # type: ignore[misc]
            else:
                yield raw
    else:
        yield source


def iter_articles(source: XmlSource) -> Iterator[Article]:
    """Yield each record of an efetch XML document, streaming, with its bytes and hash.

    Records are cut from the byte stream at their `<PubmedArticle>` tags (PubMed
    XML has no CDATA, comments or entities that could hide one), so memory holds
    one read buffer and one record, and an unchanged record is never parsed. A
    record that is not well-formed fails alone, when its `element` is built.
    Raises `DocumentError` when the document is not a PubmedArticleSet or ends
    before it should, after yielding every whole record before the fault.
    """
    with open_xml(source) as f:
        buffer = f.read(max(CHUNK, HEAD))  # the prolog (declaration, DOCTYPE) fits in HEAD
        head = buffer.lstrip()
        in_set = b"<PubmedArticleSet" in buffer
        if not in_set and not head.startswith(RECORD_TAGS_B):
            raise DocumentError(f"not a PubMed efetch document (no PubmedArticleSet); it starts {head[:60]!r}")
        m = ENCODING_RE.search(buffer[:200])
        prefix = b""
        if m and m.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
            prefix = b'<?xml version="1.0" encoding="' + m.group(1) + b'"?>'
        pos, eof, closed = 0, False, False
        while True:
            start = RECORD_START_RE.search(buffer, pos)
            if start is None:
                closed = closed or b"</PubmedArticleSet>" in buffer[pos:]
                if eof:
                    break
                buffer = buffer[max(pos, len(buffer) - 64):]  # keep a tag cut in two
                pos = 0
                more = f.read(CHUNK)
                eof = not more
                buffer += more
                continue
            closing = b"</" + start.group(1) + b">"
            end = buffer.find(closing, start.end())
            if end < 0:
                # The record runs past the buffer: keep it and read on until it closes.
                buffer, pos = buffer[start.start():], 0
                while end < 0 and not eof:
                    more = f.read(CHUNK)
                    eof = not more
                    search_from = max(0, len(buffer) - len(closing))
                    buffer += more
                    end = buffer.find(closing, search_from)
                if end < 0:
                    raise DocumentError(
                        f"the document ends inside a {start.group(1).decode()} record (truncated)"
                    )
                start = RECORD_START_RE.match(buffer, 0)
            end += len(closing)
            yield Article(start.group(1).decode(), buffer[start.start():end], prefix)  # type: ignore[union-attr]
            pos = end
        if in_set and not closed:
            raise DocumentError("the document ends before </PubmedArticleSet> (truncated)")


RECORD_TAGS_B = tuple(f"<{t}".encode() for t in RECORD_TAGS)


def parse_article(article: Article) -> Study:
    """Turn one record into a `Study`; raises `MalformedRecord` when it cannot."""
    elem = article.element
    if article.tag == "DeleteCitation":
        raise MalformedRecord(None, "DeleteCitation (PubMed withdrew these PMIDs), not a record")
    pmid = article.pmid
    if not pmid:
        raise MalformedRecord(None, "record has no PMID")
    if not pmid.isdigit():
        raise MalformedRecord(pmid, f"PMID {pmid!r} is not a number")
    if article.tag == "PubmedBookArticle":
        study = _parse_book(elem, pmid)
    else:
        study = _parse_citation(elem, pmid)
    study.raw_xml = article.utf8_xml()
    study.content_hash = article.content_hash
    return study


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
    _collect(elem, parts, top=True)
    return _clean("".join(parts)) or ""


def _collect(elem: etree._Element, parts: list[str], top: bool = False) -> None:
    tag = elem.tag if isinstance(elem.tag, str) else ""
    local = tag.rsplit("}", 1)[-1].lower()
    inline = not top
    if inline and parts and LAYOUT_END_RE.search(parts[-1]):
        # Indentation a re-serialiser put before an inline tag is layout, not a space.
        parts[-1] = LAYOUT_END_RE.sub("", parts[-1])
    spaced = inline and local in WORD_TAGS
    if spaced and parts and parts[-1][-1:].isalnum():
        parts.append(" ")
    if elem.text:
        parts.append(elem.text)
    for child in elem:
        _collect(child, parts)
    tail = elem.tail
    if inline and tail:
        tail = LAYOUT_START_RE.sub("", tail)
    if spaced and tail and tail[:1].isalnum():
        parts.append(" ")
    if inline and tail:
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
