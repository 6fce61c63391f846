"""Propose claims for a topic file from an article a writer brings (plain text, Markdown or HTML).

The article is read into blocks (headings, paragraphs, list items), the blocks into
sentences (pipeline/text.py's splitter), and each sentence is classified by the cue
rules in rules/claims/cues.yml: a claim of kind efficacy, mechanism, safety or
background, or not a claim. A claim gets the outcomes, headache types and
comparators its words name (pipeline/terms.py, the extractor's own synonyms for
the vocabularies), a note where no vocabulary term fits, and the id of a claim the
topic file already holds with the same words. `to_yaml` writes the proposals in the
topic file's claim shape for the writer to edit; `score` measures them against a
hand-labelled list of the article's claims.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

from . import rules, terms
from .text import sentences
from .topic import Topic

CUES_DIR = rules.RULES_DIR / "claims"
KINDS = ("efficacy", "mechanism", "safety", "background")
FORMATS = ("text", "markdown", "html")
# Kinds whose evidence is an outcome measured in people: the others are backed by
# harms reports (safety) or by what is known of the condition (background).
OUTCOME_KINDS = ("efficacy", "mechanism")
MIN_WORDS = 5  # shorter fragments are labels or captions, not claims
EXISTING_OVERLAP = 0.8  # share of a topic claim's quote found in the sentence, in order
GOLD_OVERLAP = 0.6  # share of the shorter quote found in the other, in runs of two words or more


@lru_cache(maxsize=1)
def cues() -> rules.RuleSet:
    """The claim cues, loaded and checked once per process."""
    return rules.load(CUES_DIR, topic_words=None)  # general wording: no list of the topic's words


@dataclass(frozen=True)
class Block:
    kind: str  # heading | paragraph | item
    text: str


@dataclass
class Suggestion:
    """A proposed claim: the sentence it rests on and what the cues and vocabularies made of it."""

    id: str
    text: str
    quote: str
    kind: str  # one of KINDS
    outcomes: list[str] = field(default_factory=list)
    headache_types: list[str] = field(default_factory=list)
    comparators: list[str] = field(default_factory=list)
    note: str | None = None
    existing: str | None = None  # id of the topic file's claim with the same words
    section: str | None = None  # the heading (or list-item label) it sits under
    cues: list[str] = field(default_factory=list)  # ids of the rules that fired, highest precedence first


# --- reading the article ---------------------------------------------------------------------


def format_for(path: str | Path) -> str | None:
    """The format a file's suffix names, or None to guess from its text."""
    suffix = Path(path).suffix.lower()
    return {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown", ".txt": "text"}.get(suffix)


_HTML_SIGN = re.compile(r"<(?:!doctype|html|body|p|div|h[1-6]|article|section|ul|ol|li|br)\b", re.IGNORECASE)
_MD_SIGN = re.compile(r"^(?:#{1,6}\s|\s*[-*+]\s+\S|\s*>\s)|\*\*\S|\]\([^)]+\)|^(?:=+|-+)\s*$", re.MULTILINE)


def guess_format(text: str) -> str:
    """html when the text has block tags, markdown when it has Markdown markup, else text."""
    if _HTML_SIGN.search(text):
        return "html"
    return "markdown" if _MD_SIGN.search(text) else "text"


def blocks(text: str, fmt: str | None = None) -> list[Block]:
    """The article as headings, paragraphs and list items, in order."""
    fmt = fmt or guess_format(text)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    if fmt == "html":
        parser = _HTMLBlocks()
        parser.feed(text)
        parser.close()
        return parser.blocks
    return _line_blocks(text, markdown=fmt == "markdown")


class _HTMLBlocks(HTMLParser):
    """Blocks of an HTML page. Scripts, styles and navigation are dropped, and so are
    the page furniture that holds calls to action rather than the article's claims."""

    SKIP: ClassVar[frozenset[str]] = frozenset(
        {"script", "style", "nav", "noscript", "template", "svg", "head", "footer", "aside", "form", "button", "iframe"}
    )
    HEADINGS: ClassVar[frozenset[str]] = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
    BLOCKS: ClassVar[frozenset[str]] = frozenset(
        {"p", "div", "li", "blockquote", "td", "th", "dd", "dt", "section", "article", "main", "br", "tr",
         "ul", "ol", "table", "figcaption", "pre"}
    ) | HEADINGS

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self._skip = 0
        self._buf: list[str] = []
        self._kind = "paragraph"
        self._in_item = 0  # a <p> inside an <li> is still the item's text

    def _flush(self) -> None:
        text = " ".join("".join(self._buf).split())
        if text:
            self.blocks.append(Block(self._kind, text))
        self._buf = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        elif not self._skip and tag in self.BLOCKS:
            self._flush()
            self._in_item += tag == "li"
            self._kind = "heading" if tag in self.HEADINGS else "item" if self._in_item else "paragraph"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.SKIP and not self._skip and tag in self.BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif not self._skip and tag in self.BLOCKS:
            self._flush()
            self._in_item = max(0, self._in_item - (tag == "li"))
            self._kind = "item" if self._in_item else "paragraph"

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._buf.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


_BULLET = re.compile(r"^\s*(?:[-*+•·▪●◦–]|\d{1,2}[.)])\s+")
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^\s{0,3}(?:=+|-+)\s*$")
_FENCE = re.compile(r"^\s*(?:```|~~~)")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_SENTENCE_PUNCT = re.compile(r"[.!;:,]\s*[\"”’')\]]*\s*$")


def _line_blocks(text: str, markdown: bool) -> list[Block]:
    """Blocks of plain text or Markdown: blank lines end paragraphs, bullets start items."""
    text = _HTML_COMMENT.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = text.split("\n")
    if markdown and lines and lines[0].strip() == "---":  # YAML front matter
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), None)
        if end:
            lines = lines[end + 1 :]
    out: list[Block] = []
    para: list[str] = []
    kind = "paragraph"
    fenced = False

    def flush() -> None:
        nonlocal para, kind
        joined = " ".join(" ".join(para).split())
        if markdown:
            joined = _md_inline(joined)
        if joined:
            # A lone short line without sentence punctuation is a title or a heading.
            if kind == "paragraph" and len(para) == 1 and (_looks_like_heading(joined)):
                out.append(Block("heading", joined))
            else:
                out.append(Block(kind, joined))
        para, kind = [], "paragraph"

    for line in lines:
        if markdown and _FENCE.match(line):
            flush()
            fenced = not fenced
            continue
        if fenced or (markdown and line.lstrip().startswith("|")):  # code and tables hold no prose claims
            continue
        if not line.strip():
            flush()
            continue
        heading = _MD_HEADING.match(line) if markdown else None
        if heading:
            flush()
            out.append(Block("heading", _md_inline(heading.group(2))))
            continue
        if markdown and _SETEXT.match(line) and para:
            para_text = _md_inline(" ".join(" ".join(para).split()))
            para, kind = [], "paragraph"
            out.append(Block("heading", para_text))
            continue
        if markdown:
            line = re.sub(r"^\s*>\s?", "", line)  # a block quote reads as prose
        bullet = _BULLET.match(line)
        if bullet and not (markdown and _SETEXT.match(line)):
            flush()
            kind = "item"
            para = [line[bullet.end() :]]
            continue
        para.append(line)
    flush()
    return out


def _looks_like_heading(text: str) -> bool:
    words = text.split()
    if text.rstrip().endswith("?"):
        return len(words) <= 20
    return len(words) <= 14 and not _SENTENCE_PUNCT.search(text)


def _md_inline(text: str) -> str:
    """Markdown inline markup removed: images dropped, links and emphasis kept as their words."""
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\[[^\]]*\]", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)", r"\1", text)
    return " ".join(text.split())


# --- classifying sentences -------------------------------------------------------------------


def classify(sentence: str, ruleset: rules.RuleSet | None = None) -> tuple[str | None, list[rules.Hit]]:
    """(kind, hits): the kind of the highest-precedence cue (None when no cue fires or a
    not-a-claim cue does) and every cue hit, highest precedence first."""
    ruleset = ruleset or cues()
    if ruleset.find("not_claim", sentence):
        return None, []
    hits = [h for label in KINDS for h in ruleset.find(label, sentence)]
    hits.sort(key=lambda h: (-h.rule.precedence, h.start))
    return (hits[0].rule.label if hits else None), hits


_HEADACHE_PATTERNS = [(name, re.compile(p, re.IGNORECASE)) for name, p in terms.HEADACHE_TERMS.items()]
# The comparator classes' words: the extractor's own (rules/comparators.yml), one source.
_COMPARATOR_PATTERNS = [(r.value, r.regex) for r in rules.default().family("comparator") if r.value != "unspecified_control"]


def _vocab(sentence: str, kind: str, painful: bool) -> tuple[list[str], list[str], list[str], list[tuple[int, int]]]:
    """Outcomes (for effect and mechanism claims), headache types and comparators the
    sentence names, in vocabulary order, and the spans a vocabulary term took."""
    spans = terms.outcome_spans(sentence, painful) if kind in OUTCOME_KINDS else ()
    found = {name for _, _, name in spans}
    outcomes = [o for o in terms.OUTCOME_TERMS if o in found]
    # Outcome order as the vocabulary lists it, "other" last.
    outcomes = sorted(outcomes, key=lambda o: (o == "other", list(terms.OUTCOME_TERMS).index(o)))
    type_hits = [(name, m) for name, p in _HEADACHE_PATTERNS for m in p.finditer(sentence)]
    types = list(dict.fromkeys(name for name, _ in type_hits))
    comparators = [name for name, p in _COMPARATOR_PATTERNS if p.search(sentence)] if kind != "background" else []
    # "tension" in "tension headaches" names the headache type, not a muscle's tension.
    covered = [(a, b) for a, b, _ in spans] + [m.span() for _, m in type_hits]
    return outcomes, types, comparators, covered


@lru_cache(maxsize=2)
def _unmapped_terms(kind: str) -> re.Pattern:
    """What a claim speaks of that a vocabulary term may not cover, from the cue lists:
    things people feel or trials measure, and for a mechanism the body's processes too."""
    ruleset = cues()
    names = ("measurable", "physiology") if kind == "mechanism" else ("measurable",)
    phrases = sorted({p for name in names for p in ruleset.lists[name]}, key=len, reverse=True)
    return re.compile("|".join(rules.phrase_regex(p) for p in phrases), re.IGNORECASE)


def _note(sentence: str, kind: str, outcomes: list[str], covered: list[tuple[int, int]]) -> str | None:
    """Where no vocabulary term fits, say so and name the words left over (`covered`:
    spans of the sentence a vocabulary term already took)."""
    if kind == "safety":
        return "a safety claim: no outcome in the vocabulary records harms; back it with the studies' adverse-event reports"
    if kind == "background":
        return "a background fact about the condition or the treatment: no vocabulary term fits; back it with a review or guideline"
    left = []
    for m in _unmapped_terms(kind).finditer(sentence):
        if all(m.end() <= a or m.start() >= b for a, b in covered) and m.group(0).lower() not in left:
            left.append(m.group(0).lower())
    if not outcomes:
        what = f"; it speaks of {', '.join(left)}" if left else ""
        return f"no outcome in the vocabulary fits{what}"
    if left:
        return f"no vocabulary term for: {', '.join(left)}"
    if outcomes == ["other"]:
        return "only 'other' fits: name the outcome in the note"
    return None


# --- existing claims and matching by quote ------------------------------------------------------


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower().replace("’", "'").replace("'", ""))


def _matched(a: list[str], b: list[str], min_run: int) -> int:
    """How many words of `a` are found in `b` in order, in runs of at least `min_run` words."""
    blocks_ = SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    return sum(m.size for m in blocks_ if m.size >= min_run)


def _existing(sentence: str, topic: Topic | None) -> str | None:
    """The id of the topic file's claim whose quote the sentence holds (most of it, in order)."""
    if topic is None:
        return None
    words = _tokens(sentence)
    best, best_share = None, EXISTING_OVERLAP
    for raw in topic.raw.get("claims") or []:
        if not isinstance(raw, dict) or not raw.get("quote"):
            continue
        # A quote may join passages of the article with "[...]": any of them will do.
        for part in str(raw["quote"]).split("[...]"):
            quote = _tokens(part)
            share = _matched(quote, words, 1) / len(quote) if quote else 0.0
            if share >= best_share and (best is None or share > best_share):
                best, best_share = str(raw.get("id")), share
    return best


def overlap(a: str, b: str) -> float:
    """Share of the shorter text's words found in the other, in order and in runs of two
    or more words (so that a gold quote of a phrase matches the sentence that holds it)."""
    ta, tb = _tokens(a), _tokens(b)
    short, long_ = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
    if not short:
        return 0.0
    return _matched(short, long_, 1 if len(short) == 1 else 2) / len(short)


# --- suggest ------------------------------------------------------------------------------------


# Words left out of the ids proposed for claims.
_STOP = frozenset({
    "a", "an", "the", "of", "and", "or", "to", "in", "on", "for", "with", "by", "is", "are", "be",
    "can", "may", "it", "its", "this", "that", "these", "those", "as", "at", "from", "which", "who",
    "their", "our", "your", "has", "have", "been", "will", "not", "into"
})


def _slug(sentence: str, taken: set[str]) -> str:
    words = [w for w in _tokens(sentence) if w not in _STOP][:5] or ["claim"]
    base = "-".join(words)[:48].strip("-")
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def suggest(text: str, *, fmt: str | None = None, topic: Topic | None = None) -> list[Suggestion]:
    """The article's sentences that assert an effect, a mechanism, a safety property or a
    background fact, in the article's order, each as a proposed claim."""
    ruleset = cues()
    ruleset.forget()
    painful = bool(terms.PAIN_CONTEXT.search(text))  # "intensity" alone is the pain's in an article on pain
    out: list[Suggestion] = []
    taken: set[str] = set()
    heading: str | None = None
    for block in blocks(text, fmt):
        if block.kind == "heading":
            heading = block.text
            continue
        for s in sentences(block.text):
            sentence = " ".join(s.text.split())
            if len(sentence.split()) < MIN_WORDS:
                continue
            kind, hits = classify(sentence, ruleset)
            if kind is None:
                continue
            outcomes, types, comparators, spans = _vocab(sentence, kind, painful)
            out.append(
                Suggestion(
                    id=_slug(sentence, taken),
                    text=sentence,
                    quote=sentence,
                    kind=kind,
                    outcomes=outcomes,
                    headache_types=types,
                    comparators=comparators,
                    note=_note(sentence, kind, outcomes, spans),
                    existing=_existing(sentence, topic),
                    section=s.section or heading,
                    cues=list(dict.fromkeys(h.rule.id for h in hits)),
                )
            )
    ruleset.forget()
    return out


# --- YAML for the writer -------------------------------------------------------------------------


_PLAIN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _scalar(value: str) -> str:
    return value if _PLAIN.match(value) else json.dumps(value, ensure_ascii=False)


def _folded(key: str, value: str, indent: str) -> list[str]:
    """A long string as a folded block (`>-`), as the topic file writes its quotes."""
    text = " ".join(value.split())
    lines = textwrap.wrap(text, width=76, break_long_words=False, break_on_hyphens=False)
    return [f"{indent}{key}: >-"] + [f"{indent}  {line}" for line in lines]


def to_yaml(suggestions: list[Suggestion], *, source: str | None = None) -> str:
    """The proposals as a commented `claims:` list in the topic file's shape (id, text,
    quote, outcomes, headache_types, comparators) plus kind, note and existing."""
    lines = [
        f"# Claims proposed from {source}." if source else "# Claims proposed from an article.",
        "# Edit before copying into the topic file: delete what is not a claim, rewrite `text`",
        "# as the claim you mean, trim `quote` to the words it rests on, check outcomes,",
        "# headache_types and comparators against pipeline/vocab.py. `kind` and `note` are",
        "# for you; `existing` names the topic file's claim with the same words (skip it or merge).",
        "claims:" if suggestions else "claims: []",
    ]
    for s in suggestions:
        where = f" · under {json.dumps(s.section, ensure_ascii=False)}" if s.section else ""
        lines.append("")
        lines.append(f"  # {s.kind}{where} · cues: {', '.join(s.cues)}")
        lines.append(f"  - id: {_scalar(s.id)}")
        lines += _folded("text", s.text, "    ")
        lines += _folded("quote", s.quote, "    ")
        lines.append(f"    kind: {s.kind}")
        if s.outcomes or s.kind in OUTCOME_KINDS:
            lines.append(f"    outcomes: [{', '.join(s.outcomes)}]")
        if s.headache_types:
            lines.append(f"    headache_types: [{', '.join(s.headache_types)}]")
        if s.comparators:
            lines.append(f"    comparators: [{', '.join(s.comparators)}]")
        if s.kind == "background":
            # A background claim is matched to studies by its words: a first guess, to edit.
            lines.append(f"    terms: [{', '.join(json.dumps(t) for t in _background_terms(s.quote))}]  # edit: the words studies use")
        if s.note:
            lines.append(f"    note: {json.dumps(s.note, ensure_ascii=False)}")
        if s.existing:
            lines.append(f"    existing: {_scalar(s.existing)}")
    return "\n".join(lines) + "\n"


_COMMON = frozenset(
    "about after again against also among another because before being between both could during every from "
    "have having into itself many more most much other over same should some such than that their them then "
    "there these they this those through under until very were what when where which while with within would "
    "often significant common commonly people person areas other including resulting".split()
)


def _background_terms(quote: str, limit: int = 4) -> list[str]:
    """The quote's longer content words, in order: a starting point for a background claim's `terms`."""
    words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z-]{4,}", quote)]
    out: list[str] = []
    for w in words:
        if w not in _COMMON and w not in out:
            out.append(w)
    return out[:limit] or ["headache"]


# --- scoring against a hand-labelled list --------------------------------------------------------


def gold_claims(gold: dict | list) -> list[dict]:
    """The labelled claims of a gold file as [{quote, kind}]: a list under `claims`
    (or the file itself a list), each a quote or a mapping with quote (or text,
    sentence) and kind (or type, label)."""
    items = gold.get("claims") if isinstance(gold, dict) else gold
    if items is None and isinstance(gold, dict):
        items = next((v for v in gold.values() if isinstance(v, list)), [])
    out = []
    for item in items or []:
        if isinstance(item, str):
            out.append({"quote": item, "kind": None})
        elif isinstance(item, dict):
            quote = next((item[k] for k in ("quote", "text", "sentence") if isinstance(item.get(k), str)), None)
            kind = next((item[k] for k in ("kind", "type", "label", "category") if isinstance(item.get(k), str)), None)
            if quote:
                out.append({"quote": quote, "kind": kind.lower() if kind else None})
    return out


def score(suggestions: list[Suggestion], gold: dict) -> dict:
    """Precision (proposals that hold a labelled claim), recall (labelled claims some
    proposal holds) and kind accuracy (of the claims found, those given the labelled
    kind), matching by quote overlap; with the misses and the extras, to read."""
    labelled = gold_claims(gold)
    best: list[tuple[float, Suggestion | None]] = []
    for g in labelled:
        scored = [(overlap(g["quote"], s.quote), s) for s in suggestions]
        best.append(max(scored, key=lambda x: x[0], default=(0.0, None)))
    found = [(g, s) for g, (o, s) in zip(labelled, best) if s is not None and o >= GOLD_OVERLAP]
    hits = [s for s in suggestions if any(overlap(g["quote"], s.quote) >= GOLD_OVERLAP for g in labelled)]
    kinded = [(g, s) for g, s in found if g["kind"]]
    right_kind = [(g, s) for g, s in kinded if g["kind"] == s.kind]
    return {
        "precision": len(hits) / len(suggestions) if suggestions else 0.0,
        "recall": len(found) / len(labelled) if labelled else 0.0,
        "kind_accuracy": len(right_kind) / len(kinded) if kinded else None,
        "suggested": len(suggestions),
        "labelled": len(labelled),
        "true_positives": len(hits),
        "found": len(found),
        "missed": [g["quote"] for g, (o, s) in zip(labelled, best) if s is None or o < GOLD_OVERLAP],
        "extra": [s.quote for s in suggestions if s not in hits],
        "wrong_kind": [(g["quote"], g["kind"], s.kind) for g, s in kinded if g["kind"] != s.kind],
    }
