"""Citations and reference-manager exports for studies (rows of the `studies` table).

Two citation styles, `vancouver` (NLM / Citing Medicine 2nd ed.) and `ama` (AMA
Manual of Style, 11th ed.), formatted by citeproc-py with the CSL project's own
style files (see `pipeline.csl`) from the study's CSL-JSON item (`to_csl`);
`export` of many studies as RIS (via rispy), BibTeX (via bibtexparser 2) or
CSL-JSON. A retracted study is marked in every output.

A study is a dict with the columns of `studies`; `authors` and
`publication_types` may be JSON text (as stored) or already-decoded lists.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Iterable

from . import csl

# rispy and bibtexparser are imported by `export` only: the digest and `evidence
# import` do not need them.

FORMATS = ("ris", "bibtex", "csljson")
PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
RETRACTED = "RETRACTED"

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {m.lower(): i for i, m in enumerate(MONTHS, start=1)}
_SEASONS = {"spring": 1, "summer": 2, "autumn": 3, "fall": 3, "winter": 4}

# Words skipped when picking the title word of a BibTeX key.
_KEY_STOPWORDS = frozenset(
    "a an and are as at be by de del der die do does for from how in into is it its la le "
    "of on or than that the their there these this to under via vs versus what when which "
    "who why with within without".split()
)
# Letters NFKD does not decompose into ASCII.
_ASCII_EXTRA = str.maketrans(
    {"ı": "i", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ß": "ss",
     "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th"}
)


# ---------------------------------------------------------------------------
# Reading a study row


def _text(value: Any) -> str:
    """A field as clean one-line text ('' for None)."""
    if value is None:
        return ""
    return " ".join(str(value).split())


def _json_list(value: Any) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return list(value) if isinstance(value, (list, tuple)) else []


def _authors(study: dict) -> list[dict]:
    """The study's authors as dicts, dropping entries with no name at all."""
    out = []
    for a in _json_list(study.get("authors")):
        if not isinstance(a, dict):
            continue
        a = {k: _text(a.get(k)) for k in ("last_name", "fore_name", "initials", "collective_name")}
        if a["collective_name"] or a["last_name"] or a["fore_name"]:
            out.append(a)
    return out


def _inverted_name(author: dict) -> str:
    """'Gildir, Sila' (RIS); a collective name as written."""
    if author["collective_name"]:
        return author["collective_name"]
    return ", ".join(p for p in (author["last_name"], author["fore_name"]) if p)


def _is_retracted(study: dict) -> bool:
    if study.get("retracted"):
        return True
    return "Retracted Publication" in _json_list(study.get("publication_types"))


def _is_book(study: dict) -> bool:
    return (study.get("kind") or "article") == "book"


def _book_is_whole(study: dict) -> bool:
    """A book record for the whole book (its title is the book title), not a chapter."""
    book = _text(study.get("journal"))
    return not book or book.casefold() == _bare_title(study.get("title")).casefold()


def _year(study: dict) -> int | None:
    year = study.get("year")
    if year not in (None, ""):
        try:
            return int(year)
        except (TypeError, ValueError):
            pass
    m = re.search(r"\b(1[89]\d\d|20\d\d)\b", _text(study.get("pub_date")))
    return int(m.group(1)) if m else None


def _date_parts(study: dict) -> tuple[int | None, str | None, int | None, int | None]:
    """(year, month-or-season word as PubMed writes it, month number, day) from pub_date.

    Month and day are only given for a single-month date ("2019 Feb", "2021 May 04",
    "2019 02"); ranges such as MedlineDate "2022 Nov-Dec" give the year only.
    """
    year = _year(study)
    m = re.fullmatch(r"(\d{4})\s+([A-Za-z]+|\d{1,2})(?:\s+(\d{1,2}))?", _text(study.get("pub_date")))
    if not m:
        return year, None, None, None
    word, day = m.group(2), (int(m.group(3)) if m.group(3) else None)
    if word.isdigit():
        number = int(word)
        if 1 <= number <= 12:
            return int(m.group(1)), MONTHS[number - 1], number, day
        return int(m.group(1)), None, None, None
    number = _MONTH_NUMBER.get(word[:3].lower()) if word.lower() not in _SEASONS else None
    if number:
        return int(m.group(1)), MONTHS[number - 1], number, day
    return int(m.group(1)), word, None, None  # a season: "2019 Spring"


def _page_range(pages: str) -> tuple[str, str]:
    """(first, last) page of a single range, with the last page written in full:
    '685-91' -> ('685', '691'), 'e1560-9' -> ('e1560', 'e1569'), 'e14520' -> ('e14520', '').
    Anything else (several ranges) is returned whole as the first page."""
    pages = _text(pages)
    if not pages:
        return "", ""
    m = re.fullmatch(r"([A-Za-z]*)(\d+)([A-Za-z]*)\s*[-\u2010-\u2013]\s*([A-Za-z]*)(\d+)([A-Za-z]*)", pages)
    if not m:
        return pages, ""
    pre1, n1, suf1, pre2, n2, suf2 = m.groups()
    if len(n2) < len(n1):
        n2 = n1[: len(n1) - len(n2)] + n2
    if not pre2 and not suf2:
        pre2, suf2 = pre1, suf1
    return pre1 + n1 + suf1, pre2 + n2 + suf2


def _full_pages(pages: str, dash: str = "-") -> str:
    first, last = _page_range(pages)
    return f"{first}{dash}{last}" if last else first


def _given_from_initials(initials: str) -> str:
    """'JR' -> 'J. R.': a given name CSL can initialize, for an author PubMed lists
    with initials only (CSL would read 'JR' as one name and write 'J')."""
    return " ".join(f"{c}." for c in initials if c.isalpha() and c.isupper())


def _bare_title(title: Any) -> str:
    """The title without PubMed's closing period (reference managers add their own)."""
    title = _text(title)
    return title[:-1].rstrip() if title.endswith(".") and not title.endswith("..") else title


# ---------------------------------------------------------------------------
# CSL-JSON


def to_csl(study: dict) -> dict:
    """One CSL-JSON item (the format of citeproc-js, Zotero, Pandoc)."""
    pmid = _text(study.get("pmid"))
    if _is_book(study):
        kind = "book" if _book_is_whole(study) else "chapter"
    else:
        kind = "article-journal"
    item: dict[str, Any] = {"id": f"pmid:{pmid}", "type": kind, "title": _bare_title(study.get("title"))}

    authors = []
    for a in _authors(study):
        if a["collective_name"]:
            authors.append({"literal": a["collective_name"]})
        elif a["last_name"]:
            given = a["fore_name"] or _given_from_initials(a["initials"])
            authors.append({"family": a["last_name"], **({"given": given} if given else {})})
        else:
            authors.append({"literal": a["fore_name"]})
    if authors:
        item["author"] = authors

    container = _text(study.get("journal"))
    if container and kind != "book":
        item["container-title"] = container
    abbrev = _text(study.get("journal_abbrev"))
    if abbrev and kind == "article-journal":
        item["container-title-short"] = abbrev

    year, word, month, day = _date_parts(study)
    if year:
        date_parts = [year] + ([month] if month else []) + ([day] if month and day else [])
        issued: dict[str, Any] = {"date-parts": [date_parts]}
        if word and not month and word.lower() in _SEASONS:
            issued["season"] = _SEASONS[word.lower()]
        item["issued"] = issued

    for key, column in (("volume", "volume"), ("issue", "issue")):
        if _text(study.get(column)):
            item[key] = _text(study.get(column))
    pages = _full_pages(_text(study.get("pages")))
    if pages:
        item["page"] = pages
    for key, column in (("DOI", "doi"), ("PMID", "pmid"), ("PMCID", "pmcid")):
        if _text(study.get(column)):
            item[key] = _text(study.get(column))
    if pmid:
        item["URL"] = PUBMED_URL.format(pmid=pmid)
    abstract = (study.get("abstract") or "").strip()
    if abstract:
        item["abstract"] = abstract
    if _is_retracted(study):
        item["status"] = "retracted"
        item["note"] = RETRACTED
    return item


# ---------------------------------------------------------------------------
# Vancouver and AMA, by citeproc-py


def vancouver(study: dict) -> str:
    """NLM (Vancouver) citation in plain text, by the CSL style `nlm-citation-sequence`
    (alias `vancouver-nlm`; Citing Medicine 2nd ed.).

    For example: "Gildir S, Tüzün EH, Eroğlu G, Eker L. A randomized trial ... headache.
    Medicine (Baltimore). 2019 Feb;98(8):e14520. doi:10.1097/MD.0000000000014520.
    PubMed PMID: 30813155; PubMed Central PMCID: PMC6408118."
    """
    return citation(study, "vancouver")


def ama(study: dict) -> str:
    """AMA (11th edition) citation in plain text, by the CSL style
    `american-medical-association`. Plain text cannot carry AMA's italic journal
    name; `citation(study, "ama", html=True)` does.

    For example: "Gildir S, Tüzün EH, Eroğlu G, Eker L. A randomized trial ... headache.
    Medicine (Baltimore). 2019;98(8):e14520. doi:10.1097/MD.0000000000014520"
    """
    return citation(study, "ama")


def citation(study: dict, style: str = "vancouver", *, html: bool = False) -> str:
    """The study's citation in `style` ('vancouver' or 'ama'): plain text for
    pasting, or with `html=True` HTML (escaped, with the style's italics)."""
    return csl.render(_style_item(study, style), style, html=html)


CITATION_STYLES = ("vancouver", "ama")


def citation_key(study: dict, style: str) -> str:
    """A hash of what the study's `style` citation is rendered from: the stored
    record's content hash (every bibliographic field comes from the record) and
    retraction flag, or, for a study without one, its CSL item as the style gets it;
    with the style and the renderer's code and versions."""
    import hashlib

    if study.get("content_hash"):
        source = f"record:{study['content_hash']}:{int(_is_retracted(study))}"
    else:
        source = "item:" + json.dumps(_style_item(study, style), sort_keys=True, ensure_ascii=False)
    return hashlib.blake2b(f"{csl.render_id()}\0{style}\0{source}".encode(), digest_size=16).hexdigest()


def citations(
    db, studies: list[dict], styles: tuple[str, ...] = CITATION_STYLES, *, processes: int | None = None
) -> dict[tuple[str, str], str]:
    """(pmid, style) → plain-text citation of each of `studies` in each of `styles`.

    Rendering by citeproc takes milliseconds an entry, so entries are kept in the
    `citations` table (one row per study and style) under `citation_key`: an entry
    is rendered again only when what it is made from changed. Many misses (a
    first digest) are rendered in worker processes (`pipeline.parallel`). Rows
    written: one per entry rendered, none when nothing changed."""
    from . import parallel

    wanted: dict[tuple[str, str], tuple[str, dict]] = {}
    for study in studies:
        for style in styles:
            wanted[(str(study["pmid"]), style)] = (citation_key(study, style), study)
    out: dict[tuple[str, str], str] = {}
    stored: dict[tuple[str, str], tuple[str, str]] = {}
    pmids = sorted({pmid for pmid, _ in wanted})
    for start in range(0, len(pmids), 500):
        chunk = pmids[start : start + 500]
        for pmid, style, key, text in db.execute(
            f"select pmid, style, key, text from citations where pmid in ({', '.join('?' * len(chunk))})", chunk
        ):
            stored[(pmid, style)] = (key, text)
    misses = []
    for (pmid, style), (key, study) in wanted.items():
        hit = stored.get((pmid, style))
        if hit and hit[0] == key:
            out[(pmid, style)] = hit[1]
        else:
            misses.append((pmid, style, key, study))
    if not misses:
        return out
    jobs = [(style, _style_item(study, style)) for _, style, _, study in misses]
    procs = None if len(misses) > parallel.MIN_PARALLEL else 1
    texts = [t for chunk in parallel.map_chunks(_render_items, parallel.chunks(jobs, parallel.CHUNK), processes=procs)
             for t in chunk]
    with db.conn:
        db.conn.executemany(
            "insert into citations (pmid, style, key, text) values (?, ?, ?, ?) "
            "on conflict(pmid, style) do update set key = excluded.key, text = excluded.text",
            [(pmid, style, key, text) for (pmid, style, key, _), text in zip(misses, texts)],
        )
    for (pmid, style, _, _), text in zip(misses, texts):
        out[(pmid, style)] = text
    return out


def _render_items(jobs: list[tuple[str, dict]]) -> list[str]:
    """Plain-text entries for (style, CSL item) pairs (run in a worker process)."""
    return [csl.render(item, style) for style, item in jobs]


def _style_item(study: dict, style: str) -> dict:
    """`to_csl(study)` as handed to the citation styles.

    * A retracted study's title gets " [Retracted]" (both styles print the title;
      neither has a retraction mark of its own).
    * No URL: it is the PubMed record's address, not the work's. Given a URL, the
      styles cite the work as an Internet source ("[Internet]", "Available from:",
      "Accessed <date>"), wanting an access date we do not have; the digest and
      the email print the PubMed link beside the citation.
    * Vancouver only: a PubMed date that CSL date-parts cannot carry through
      citeproc-py 0.11 (a MedlineDate range "2022 Nov-Dec", a season "2019 Spring";
      see `pipeline.csl`) is passed as a CSL literal date, which the NLM style
      prints as written, as Citing Medicine does. AMA prints only the year, which
      the structured date gives right.
    """
    item = to_csl(study)
    item.pop("abstract", None)
    item.pop("URL", None)
    if _is_retracted(study) and not re.match(r"\W*retracted\b", item["title"], re.IGNORECASE):
        item["title"] = f"{item['title']} [Retracted]".lstrip()
    if style == "vancouver":
        literal = _date_as_written(study)
        if literal:
            item["issued"] = {"literal": literal}
    return item


def _date_as_written(study: dict) -> str | None:
    """PubMed's date text where it says more than CSL year-month-day: a season
    ("2019 Spring") or a MedlineDate such as "2022 Nov-Dec" or "1998 Dec-1999 Jan"."""
    pub_date = _text(study.get("pub_date"))
    year, word, month, _ = _date_parts(study)
    if not year:
        return None
    if word and not month:
        return f"{year} {word}"
    if re.fullmatch(r"\d{4}(\s+([A-Za-z]+|\d{1,2})(\s+\d{1,2})?)?", pub_date) or str(year) not in pub_date:
        return None
    return pub_date


# ---------------------------------------------------------------------------
# RIS


def _ris_writer():
    import rispy

    class _RisWriter(rispy.RisWriter):
        """rispy's writer without its non-standard '1.', '2.' line before each record."""

        def set_header(self, count: int) -> str:
            return ""

    return _RisWriter


def _ris_record(study: dict) -> dict:
    def put(key: str, value: Any) -> None:
        value = _text(value)  # RIS is line based: no newlines inside a value
        if value:
            rec[key] = value

    if _is_book(study):
        kind = "BOOK" if _book_is_whole(study) else "CHAP"
    else:
        kind = "JOUR"
    rec: dict[str, Any] = {"type_of_reference": kind}
    put("title", _bare_title(study.get("title")))
    names = [_inverted_name(a) for a in _authors(study)]
    if names:
        rec["authors"] = names
    journal, abbrev = _text(study.get("journal")), _text(study.get("journal_abbrev"))
    if kind == "JOUR":
        put("journal_name", journal or abbrev)  # JO
        put("alternate_title3", journal)  # JF
        put("alternate_title1", abbrev)  # J2
    elif kind == "CHAP":
        put("secondary_title", journal)  # T2: the book
    put("volume", study.get("volume"))
    put("number", study.get("issue"))
    first, last = _page_range(_text(study.get("pages")))
    put("start_page", first)
    put("end_page", last)
    year = _year(study)
    put("year", year)
    put("doi", study.get("doi"))
    pmid = _text(study.get("pmid"))
    put("accession_number", pmid)
    if pmid:
        rec["urls"] = [PUBMED_URL.format(pmid=pmid)]
    put("abstract", study.get("abstract"))
    if _is_retracted(study):
        rec["notes"] = [RETRACTED]
    return rec


def to_ris(studies: Iterable[dict]) -> str:
    import rispy

    return rispy.dumps([_ris_record(s) for s in studies], implementation=_ris_writer())


# ---------------------------------------------------------------------------
# BibTeX

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "$": r"\$",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _braces_balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _latex_escape(text: str) -> str:
    """Plain text made safe inside a braced BibTeX value (unicode is kept as is).

    Braces become \\{ \\} when they pair up; a lone brace, which would unbalance
    the value for BibTeX itself, becomes \\textbraceleft{} / \\textbraceright{}."""
    specials = dict(_LATEX_SPECIALS)
    if _braces_balanced(text):
        specials.update({"{": r"\{", "}": r"\}"})
    else:
        specials.update({"{": r"\textbraceleft{}", "}": r"\textbraceright{}"})
    return "".join(specials.get(ch, ch) for ch in text)


def _ascii_word(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.translate(_ASCII_EXTRA))
    return re.sub(r"[^a-z0-9]", "", text.encode("ascii", "ignore").decode().lower())


def _bibtex_key_base(study: dict) -> str:
    authors = _authors(study)
    name = ""
    if authors:
        a = authors[0]
        if a["collective_name"]:
            words = [_ascii_word(w) for w in a["collective_name"].split()]
            name = next((w for w in words if w and w not in _KEY_STOPWORDS), "")
        else:
            name = _ascii_word(a["last_name"] or a["fore_name"])
    year = _year(study)
    folded = unicodedata.normalize("NFKD", _text(study.get("title")).translate(_ASCII_EXTRA))
    words = re.findall(r"[a-z0-9]+", folded.encode("ascii", "ignore").decode().lower())
    word = next((w for w in words if w not in _KEY_STOPWORDS and not w.isdigit()), "")
    base = f"{name or 'anon'}{year or ''}{word}"
    return base if base[0].isalpha() else f"pmid{base}"


def _bibtex_author(author: dict) -> str:
    if author["collective_name"]:
        return "{" + _latex_escape(author["collective_name"]) + "}"
    last = _latex_escape(author["last_name"])
    if " " in last or re.search(r"\band\b", last, re.I):
        last = "{" + last + "}"  # keep "Fernández de las Peñas" one surname
    fore = _latex_escape(author["fore_name"])
    if not last:
        return fore
    return f"{last}, {fore}" if fore else last


def _bibtex_entry(study: dict, key: str):
    from bibtexparser.model import Entry, Field

    fields: list = []

    def put(name: str, value: Any, *, escape: bool = True) -> None:
        value = _text(value)
        if value:
            fields.append(Field(name, _latex_escape(value) if escape else value))

    if _is_book(study):
        entry_type = "book" if _book_is_whole(study) else "incollection"
    else:
        entry_type = "article"
    authors = _authors(study)
    if authors:
        fields.append(Field("author", " and ".join(_bibtex_author(a) for a in authors)))
    title = _bare_title(study.get("title"))
    if title:
        fields.append(Field("title", "{" + _latex_escape(title) + "}"))  # keep capitals as written
    if entry_type == "article":
        put("journal", study.get("journal") or study.get("journal_abbrev"))
    elif entry_type == "incollection":
        put("booktitle", study.get("journal"))
    put("year", _year(study))
    put("volume", study.get("volume"))
    put("number", study.get("issue"))
    put("pages", _full_pages(_text(study.get("pages")), dash="--"))
    put("doi", study.get("doi"), escape=False)  # verbatim field in biblatex
    put("pmid", study.get("pmid"))
    put("pmcid", study.get("pmcid"))
    pmid = _text(study.get("pmid"))
    if pmid:
        put("url", PUBMED_URL.format(pmid=pmid), escape=False)
    if _is_retracted(study):
        put("note", RETRACTED)
    return Entry(entry_type, key, fields)


def to_bibtex(studies: Iterable[dict]) -> str:
    import bibtexparser

    library = bibtexparser.Library()
    used: set[str] = set()
    for study in studies:
        base = key = _bibtex_key_base(study)
        n = 0
        while key in used:
            key = base + _key_suffix(n)
            n += 1
        used.add(key)
        library.add(_bibtex_entry(study, key))
    return bibtexparser.write_string(library)


def _key_suffix(n: int) -> str:
    """a, b, ..., z, aa, ab, ..."""
    letters = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(ord("a") + r) + letters
    return letters


# ---------------------------------------------------------------------------


def to_csljson(studies: Iterable[dict]) -> str:
    return json.dumps([to_csl(s) for s in studies], indent=2, ensure_ascii=False)


def export(studies: list[dict], fmt: str) -> str:
    """All `studies` in one reference-manager format: 'ris', 'bibtex' or 'csljson'."""
    writers = {"ris": to_ris, "bibtex": to_bibtex, "csljson": to_csljson}
    writer = writers.get(fmt.lower() if isinstance(fmt, str) else fmt)
    if writer is None:
        raise ValueError(f"unknown citation format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    return writer(list(studies))
