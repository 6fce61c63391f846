"""MEDLINE text (PubMed's "Save → Format: PubMed", `.txt` or `.nbib`) → `Study` records.

MEDLINE is PubMed's tagged text: one field a line, a tag padded to four
characters and "- " (`PMID- 30813155`, `TI  - ...`), long values continued on
lines indented six spaces, records separated by a blank line. `Bio.Medline`
reads the fields; this module cuts the records, keeps each one's text and
content hash (as `parse.iter_articles` does for XML), and maps the fields to
the same `Study` the XML parser fills, so the rest of the pipeline cannot tell
the two apart.

What MEDLINE does not carry, compared with the XML (the `Study` says so by
leaving it empty or approximate):

- Abstract sections are not structured. NCBI writes a structured abstract as
  one paragraph, "BACKGROUND: ... METHODS: ...". Labels at the start of a
  sentence are split back out (`split_sections`: upper-case ones, and
  sentence-case ones that name a section in an abstract that opens with one),
  so the stored abstract reads "LABEL: text" a line, as from XML. But the NLM
  category of each section (`NlmCategory`) is not in MEDLINE and stays null;
  a label NCBI wrote in an unusual form stays inline (the extractor reads
  inline labels too); and separate unlabelled paragraphs arrive joined.
- Inline markup (`<i>`, `<sub>`) is already flattened to text by NCBI.
- `TA` is the NLM title abbreviation (MedlineTA), which the XML parser's
  `journal_abbrev` takes from ISOAbbreviation; for most journals they agree.
- Dates: `DP` is kept as written, but for a one-digit day, which is padded
  ("2021 May 4" → "2021 May 04") as the XML parser writes it; the entry date comes from `PHST [entrez]`, else `CRDT`, else
  `EDAT`; the revision date only from `LR` (old records without `LR` have
  none, as their XML has no DateRevised).
- Comments and corrections (`RIN`, `EIN`, ...) are one line of text: the PMID
  is read from its "PMID: n" and the rest kept as the source.
- The raw record kept in `raw_records` is the MEDLINE text, not XML (line ends
  and trailing spaces normalised); its content hash is the SHA-256 of that text.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Iterator, Union

from Bio import Medline

from .parse import (
    NCT_RE,
    Article,
    Author,
    DocumentError,
    MalformedRecord,
    Study,
    XmlSource,
    iter_articles,
    join_sections,
    open_xml,
    normalise_pmid,
    parse_article,
)
from .text import PREAMBLE_SECTIONS, RESULT_SECTIONS

ACCEPTED = (
    "PubMed XML (efetch output, or Send to → File → Format: XML; .xml) or MEDLINE text "
    "(Save → Format: PubMed; .txt or .nbib), either one optionally gzipped"
)
HEAD = 1 << 16  # bytes read to tell a file's format
TAG_LINE = re.compile(rb"^[A-Z][A-Z0-9]{0,3} {0,3}-(?: |$)")
PMID_LINE = re.compile(rb"^PMID- *(\S*)")
LR_LINE = re.compile(rb"^LR  - *(\d{8})", re.M)
# Comments and corrections that change how a study may be cited: MEDLINE tag → XML RefType.
NOTICE_TAGS = {
    "RIN": "RetractionIn",
    "ROF": "RetractionOf",
    "EIN": "ErratumIn",
    "EFR": "ErratumFor",
    "ECI": "ExpressionOfConcernIn",
    "ECF": "ExpressionOfConcernFor",
    "UIN": "UpdateIn",
    "UOF": "UpdateOf",
    "RPI": "RepublishedIn",
    "RPF": "RepublishedFrom",
}
NOTICE_PMID = re.compile(r"^(.*?)[\s.]*PMID:\s*(\d+)\.?\s*$")
# A section label NCBI put inline: upper-case words and a colon, at the start of
# the abstract or of a sentence ("... lowers pain. RESULTS: Only ...").
SECTION_LABEL = re.compile(
    r"(?:^|(?<=[.!?)\]] ))([A-Z][A-Z'’]+(?:[ /&,-]+[A-Z][A-Z'’]*)*): (?=\S)"
)
# The same in sentence case ("Methods: "), taken only in an abstract that opens with
# one and only when its words name a section (text.PREAMBLE_SECTIONS / RESULT_SECTIONS).
TITLE_LABEL = re.compile(r"(?:^|(?<=[.!?)\]] ))([A-Z][a-z]+(?:[ /&-][A-Za-z]+){0,4}): (?=\S)")
DP_DAY = re.compile(r"^(\d{4} [A-Za-z]{3}) (\d)$")  # "2021 May 4": the XML parser writes "04"
DOI_ID = re.compile(r"^(.*\S)\s+\[(doi|pii)\]$")


class FormatError(DocumentError):
    """A file that is neither PubMed XML nor MEDLINE text."""


# --- telling the formats apart ---------------------------------------------


def sniff(head: bytes) -> str:
    """'xml' or 'medline', from a document's first bytes; raises `FormatError`
    saying what the document looks like and which formats are accepted."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        if re.search(rb"<(PubmedArticleSet|PubmedArticle|PubmedBookArticle|DeleteCitation)[\s>]", head):
            return "xml"
        raise FormatError(_not_pubmed(_describe_markup(text), text))
    first = text.split(b"\n", 1)[0]
    if PMID_LINE.match(first):
        return "medline"
    raise FormatError(_not_pubmed(_describe(text, first), text))


def file_format(path: str | Path) -> str:
    """The format of a saved file (gzipped or not), by its content, never its name."""
    try:
        with open_xml(path) as f:
            head = f.read(HEAD)
    except (OSError, EOFError) as e:  # a damaged gzip file, say
        raise FormatError(f"cannot be read ({e}). Accepted: {ACCEPTED}.") from None
    return sniff(head)


def check_files(paths: list[str | Path]) -> dict[Path, str]:
    """Each file's format; raises `FormatError` naming the first file that is neither
    PubMed XML nor MEDLINE, before anything is read into the database."""
    formats = {}
    for path in map(Path, paths):
        try:
            formats[path] = file_format(path)
        except FormatError as e:
            raise FormatError(f"{path}: {e}") from None
    return formats


def _not_pubmed(what: str, text: bytes) -> str:
    start = text[:40].decode("utf-8", "replace").split("\n")[0].strip()
    shown = f" (it starts {start!r})" if start else ""
    return f"not a PubMed file: it looks like {what}{shown}. Accepted: {ACCEPTED}."


def _describe_markup(text: bytes) -> str:
    if re.match(rb"<!doctype html|<html", text, re.I):
        return "an HTML page (a web page saved instead of the records)"
    root = re.search(rb"<([A-Za-z_][\w.:-]*)", re.sub(rb"<[?!][^>]*>", b"", text))
    if root:
        return f"XML whose root is <{root.group(1).decode()}>, not PubMed's <PubmedArticleSet>"
    return "markup that is not PubMed XML"


def _describe(text: bytes, first: bytes) -> str:
    if not text:
        return "an empty file"
    if text.startswith(b"%PDF"):
        return "a PDF document"
    if text.startswith(b"PK\x03\x04"):
        return "a ZIP archive (or a Word or Excel document)"
    if b"\x00" in text[:1024]:
        return "binary data"
    if re.match(rb"TY  - ", first):
        return "RIS (a reference manager export; export as MEDLINE/PubMed format instead)"
    if re.match(rb"@\w+\s*\{", text):
        return "BibTeX"
    if text[:1] in (b"{", b"["):
        return "JSON"
    if TAG_LINE.match(first):
        return "tagged text like MEDLINE, but with no PMID line to start a record"
    if first.count(b",") >= 2 or first.count(b"\t") >= 1:
        return "a table (CSV or TSV)"
    return "plain text"


# --- records ------------------------------------------------------------------


class MedlineRecord:
    """One MEDLINE record's text, PMID and content hash, before any field parsing.

    Has what `update.load` asks of a parsed-later record (`tag`, `pmid`,
    `content_hash`), like `parse.Article` for XML. `raw_xml` holds the MEDLINE
    text: the store keeps each record's raw text under that name.
    """

    __slots__ = ("pmid", "raw_xml", "content_hash", "revised")

    tag = "MEDLINE"
    deleted_pmids: list[str] = []

    def __init__(self, lines: list[bytes]):
        self.raw_xml = b"\n".join(lines) + b"\n"
        self.content_hash = hashlib.sha256(self.raw_xml).hexdigest()
        m = PMID_LINE.match(lines[0]) if lines else None
        written = (m.group(1).decode("ascii", "replace") or None) if m else None
        try:  # "0033609358" is study 33609358, as in the XML reader
            self.pmid: str | None = normalise_pmid(written)
        except ValueError:
            self.pmid = written  # parse_medline reports it
        lr = LR_LINE.search(self.raw_xml)
        self.revised: str | None = _iso(lr.group(1).decode()) if lr else None

    def text(self) -> str:
        try:
            return self.raw_xml.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedRecord(self.pmid, f"MEDLINE text that is not UTF-8: {e}") from None


def iter_medline(source: XmlSource) -> Iterator[MedlineRecord]:
    """Yield each record of a MEDLINE document, streaming, with its text and hash.

    Records end at a blank line (or where the next `PMID-` line starts one).
    Lines are kept with their line ends and trailing spaces stripped, so the
    hash does not change when an editor re-saves the file.
    """
    with open_xml(source) as f:
        lines: list[bytes] = []
        first = True
        for raw in f:
            line = raw.rstrip()
            if first:
                line, first = line.lstrip(b"\xef\xbb\xbf"), False
            continuation = raw.startswith(b"      ")
            if not line and not continuation:
                if lines:
                    yield MedlineRecord(lines)
                    lines = []
                continue
            if lines and PMID_LINE.match(line):
                yield MedlineRecord(lines)
                lines = []
            lines.append(line)
        if lines:
            yield MedlineRecord(lines)


def iter_records(source: XmlSource) -> Iterator[Union[Article, MedlineRecord]]:
    """The records of a PubMed XML or MEDLINE document, whichever it holds (read
    from its first bytes). Raises `FormatError` for a document that is neither."""
    if isinstance(source, (str, Path)):
        fmt = file_format(source)
    elif isinstance(source, bytes) and PMID_LINE.match(source[:HEAD].lstrip(b"\xef\xbb\xbf").lstrip()):
        fmt = "medline"
    else:
        # PubMed's replies (bytes, streams) are XML: `iter_articles` checks them as it
        # always has, and a stream could not be read twice anyway.
        fmt = "xml"
    return iter_medline(source) if fmt == "medline" else iter_articles(source)


def parse_record(record: Union[Article, MedlineRecord]) -> Study:
    """A `Study` from an XML or a MEDLINE record; raises `MalformedRecord` when it cannot."""
    if isinstance(record, MedlineRecord):
        return parse_medline(record)
    return parse_article(record)


def parse(source: XmlSource) -> Iterator[Study | MalformedRecord]:
    """Every record of a MEDLINE or XML document as a `Study`, or a `MalformedRecord`."""
    for record in iter_records(source):
        try:
            yield parse_record(record)
        except MalformedRecord as e:
            yield e


# --- fields -------------------------------------------------------------------


def fields(text: str) -> list[tuple[str, str]]:
    """(tag, value) pairs in file order, continuation lines joined with a space."""
    pairs: list[tuple[str, str]] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        if line.startswith("      ") or not TAG_LINE.match(line.encode()):
            # A continuation (or a line a reference manager unwrapped): part of the value above.
            if pairs:
                tag, value = pairs[-1]
                pairs[-1] = (tag, f"{value} {line.strip()}".strip())
            continue
        tag, _, value = line.partition("-")
        pairs.append((tag.strip(), value.strip()))
    return pairs


def parse_medline(record: MedlineRecord) -> Study:
    """Turn one MEDLINE record into a `Study`; raises `MalformedRecord` when it cannot."""
    pmid = record.pmid
    if not pmid:
        raise MalformedRecord(None, "record has no PMID")
    try:
        normalise_pmid(pmid)
    except ValueError as e:
        raise MalformedRecord(pmid, str(e)) from None
    pairs = fields(record.text())
    # Bio.Medline keeps each continuation line of a list field (OT, PT, RIN, ...) as
    # an entry of its own, so it reads the record with its continuations folded in.
    med = Medline.read([f"{tag:<4}- {value}\n" for tag, value in pairs])
    title = _one(med, "TI") or _one(med, "TT") or _one(med, "BTI")
    if not title:
        raise MalformedRecord(pmid, "record has no title (TI)")
    sections = split_sections(_one(med, "AB"))
    abstract = join_sections(sections)
    ids = _ids(v for t, v in pairs if t == "AID")
    locations = _ids(v for t, v in pairs if t == "LID")
    pub_types = list(med.get("PT", []))
    notices = _notices(pairs)
    dp = _one(med, "DP")
    year = _year(dp) or _year(_one(med, "DEP")[:4])
    book = bool(med.get("BTI"))
    return Study(
        pmid=pmid,
        title=title,
        abstract=abstract,
        abstract_sections=sections,
        journal=_one(med, "BTI" if book else "JT") or None,
        journal_abbrev=None if book else _one(med, "TA") or None,
        volume=_one(med, "VI") or None,
        issue=_one(med, "IP") or None,
        pages=_one(med, "PG") or locations.get("pii"),
        year=year,
        pub_date=DP_DAY.sub(r"\1 0\2", dp) or None,
        doi=ids.get("doi") or locations.get("doi"),
        pmcid=_one(med, "PMC") or None,
        authors=_authors(pairs),
        publication_types=pub_types,
        mesh=[_descriptor(h) for h in med.get("MH", [])],
        keywords=[k for k in med.get("OT", []) if k],
        language=(med.get("LA") or [None])[0],
        nct=_nct(med.get("SI", []), title, abstract),
        retracted="Retracted Publication" in pub_types or any(n["type"] == "RetractionIn" for n in notices),
        notices=notices,
        entrez_date=_entrez(med),
        revised_date=_iso(_one(med, "LR")),
        status=_one(med, "STAT") or None,
        kind="book" if book else "article",
        raw_xml=record.raw_xml,
        content_hash=record.content_hash,
    )


def split_sections(ab: str) -> list[dict]:
    """An abstract's sections from the labels NCBI wrote inline ("METHODS: ...").

    MEDLINE keeps no section markup, so a label is read from the text: upper-case
    words and a colon at the start or after a sentence ("RESULTS: "); or, in an
    abstract that opens with one, a sentence-case label whose words name a section
    ("Methods: "), so an ordinary colon in a sentence is not taken for a label.
    The NLM category is not in MEDLINE: it is null.
    """
    if not ab:
        return []
    cuts = [m for m in SECTION_LABEL.finditer(ab) if _is_label(m.group(1))]
    opening = TITLE_LABEL.match(ab)
    if opening and _names_section(opening.group(1)):
        cuts = sorted(
            cuts + [m for m in TITLE_LABEL.finditer(ab) if _names_section(m.group(1))],
            key=lambda m: m.start(),
        )
    if not cuts:
        return [{"label": None, "category": None, "text": ab}]
    sections = []
    if cuts[0].start() > 0:
        sections.append({"label": None, "category": None, "text": ab[: cuts[0].start()].strip()})
    for m, nxt in zip(cuts, cuts[1:] + [None]):
        text = ab[m.end() : nxt.start() if nxt else len(ab)].strip()
        sections.append({"label": m.group(1), "category": None, "text": text})
    return [s for s in sections if s["text"] or s["label"]]


def _names_section(label: str) -> bool:
    return bool(RESULT_SECTIONS.search(label) or PREAMBLE_SECTIONS.search(label))


def _is_label(label: str) -> bool:
    # A word of three letters at least: "AIM:" is a label, "ES: 0.08" or "P:" are not.
    return any(len(w) >= 3 for w in re.split(r"[ /&,-]+", label)) and len(label) <= 60


def _one(med: Medline.Record, tag: str) -> str:
    value = med.get(tag, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return value.strip()


def _ids(values: Iterator[str]) -> dict[str, str]:
    """'10.1097/MD.123 [doi]' values → {'doi': ..., 'pii': ...}, first of each kind."""
    out: dict[str, str] = {}
    for value in values:
        m = DOI_ID.match(value)
        if m and m.group(2) not in out:
            out[m.group(2)] = m.group(1)
    return out


def _authors(pairs: list[tuple[str, str]]) -> list[Author]:
    """Authors in order with their affiliations: each AD (and AUID) belongs to the
    author named before it. In records before 2014 a single AD comes before the
    first FAU: it is the first author's, as in their XML. Investigators (FIR/IR)
    are not authors, and their affiliations are skipped."""
    authors: list[Author] = []
    current: Author | None = None
    loose: list[str] = []  # AD before any author
    full_name = False
    for tag, value in pairs:
        if tag == "FAU":
            last, _, fore = value.partition(",")
            current = Author(last_name=last.strip() or None, fore_name=fore.strip() or None)
            authors.append(current)
            full_name = True
        elif tag == "AU":
            if current is not None and full_name and current.initials is None and not current.collective_name:
                current.initials = _initials(value, current.last_name)
            else:
                last, _, initials = value.rpartition(" ")
                if not last or not initials.isupper():
                    last, initials = value, ""
                current = Author(last_name=last or None, initials=initials or None)
                authors.append(current)
            full_name = False
        elif tag == "CN":
            current = Author(collective_name=value)
            authors.append(current)
            full_name = False
        elif tag in ("FIR", "IR"):
            current, full_name = None, False
        elif tag == "AD":
            if current is not None:
                current.affiliations.append(value)
            elif not authors:
                loose.append(value)
        elif tag == "AUID" and current is not None and value.upper().startswith("ORCID:"):
            current.orcid = value.split(":", 1)[1].strip()
    if loose and authors:
        authors[0].affiliations[:0] = loose
    return authors


def _initials(au: str, last_name: str | None) -> str | None:
    if last_name and au.startswith(last_name + " "):
        return au[len(last_name) + 1 :].strip() or None
    return au.rpartition(" ")[2] or None


def _descriptor(heading: str) -> str:
    """'Headache/*therapy' or '*Dry Needling' → the descriptor, as the XML parser keeps it."""
    return heading.split("/", 1)[0].lstrip("*").strip()


def _notices(pairs: list[tuple[str, str]]) -> list[dict]:
    notices = []
    for tag, value in pairs:
        if tag in NOTICE_TAGS:
            m = NOTICE_PMID.match(value)
            source, pmid = (m.group(1), m.group(2)) if m else (value, None)
            notices.append({"type": NOTICE_TAGS[tag], "pmid": pmid, "source": source.strip() or None})
    return notices


def _nct(secondary: list[str], title: str, abstract: str) -> list[str]:
    """ClinicalTrials.gov numbers from SI, then from the title and abstract (as for XML)."""
    found: list[str] = []
    for si in secondary:
        bank, _, number = si.partition("/")
        if bank.strip().lower() == "clinicaltrials.gov" and number.strip() and number.strip() not in found:
            found.append(number.strip())
    for number in NCT_RE.findall(f"{title}\n{abstract}"):
        if number not in found:
            found.append(number)
    return found


def _entrez(med: Medline.Record) -> str | None:
    """The date the record entered PubMed: PHST [entrez] (the XML's History 'entrez'),
    else CRDT, else EDAT (older records have only EDAT)."""
    for value in med.get("PHST", []):
        if value.endswith("[entrez]"):
            return _iso(value)
    return _iso(_one(med, "CRDT")) or _iso(_one(med, "EDAT"))


def _iso(value: str | None) -> str | None:
    """'2019/02/28 06:00' or '20190228' → '2019-02-28'."""
    if not value:
        return None
    m = re.match(r"(\d{4})/?(\d{2})/?(\d{2})", value.strip())
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else None


def _year(value: str) -> int | None:
    m = re.search(r"\b(1[89]\d\d|20\d\d)\b", value or "")
    return int(m.group(1)) if m else None


__all__ = [
    "ACCEPTED",
    "FormatError",
    "check_files",
    "MedlineRecord",
    "file_format",
    "iter_medline",
    "iter_records",
    "parse",
    "parse_medline",
    "parse_record",
    "sniff",
    "split_sections",
]
