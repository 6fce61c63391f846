"""One record, read once: its sentences with offsets and section roles, and the
named parts that rules read (title, own-study text, lead, conclusion, findings,
publication types, MeSH).

Every classifying rule in rules/ names the part it reads (its `scope`), so no
rule re-splits the abstract or decides for itself which sentences are
background: that is decided here, once, from one table of section labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from .text import Checked, Sentence, guarded, per_abstract, sentences

# A section label's role, by its words (compound labels such as "PATIENTS AND
# METHODS" or "RESULTS AND CONCLUSIONS" take the role of their first match in
# this order). Labels that match none have no role.
SECTION_ROLES: tuple[tuple[str, re.Pattern], ...] = (
    ("background", re.compile(r"^\s*(?:background|introduction|context|rationale)", re.I)),
    ("conclusions", re.compile(r"conclu|discussion|interpretation|perspective", re.I)),
    ("results", re.compile(r"\bresults?\b|\bfindings\b", re.I)),
    ("methods", re.compile(r"\bmethods?\b|methodology|materials|design|patients|participants|setting|subjects|interventions?|measures|data sources|study selection|eligibility|search", re.I)),
    ("aims", re.compile(r"objectives?|aims?|purpose", re.I)),
)
# Sections whose sentences are not about this study's own methods and results:
# read by `own` (the design rules' main scope).
NOT_OWN = re.compile(r"background|introduction|context|rationale|discussion|conclusion|interpretation|perspective", re.I)
# Sentences about other people's work: "a recent systematic review found ...",
# "randomized trials have suggested ...". They do not describe this study.
PRIOR_WORK = re.compile(
    r"\b(?:previous|prior|earlier|recent|existing|other|published)\b[^.]{0,40}\b(?:reviews?|trials?|stud(?:y|ies)|meta-analys[ie]s)\b|"
    r"\b(?:have|has) (?:been )?(?:suggested|shown|reported|found|demonstrated)\b|\bagrees? with\b|\bin line with\b|\bconsistent with\b",
    re.I,
)

# Read on every sentence: run only where one of its words is, and behind a look-ahead
# on its first letters (text.Checked, text.guarded: the same matches).
_PRIOR_WORK = Checked(guarded(PRIOR_WORK))


@per_abstract  # every sentence of a section asks
def _concluding(label: str) -> bool:
    return bool(_CONCLUDING.search(label))


_CONCLUDING = re.compile(r"conclu|discussion|interpretation", re.I)


def section_role(label: str | None) -> str | None:
    """background, conclusions, results, methods, aims, or None (no label, or one of no known role)."""
    if not label:
        return None
    for role, pattern in SECTION_ROLES:
        if pattern.search(label):
            return role
    return None


@dataclass
class Document:
    """A study as the extractor reads it (extract.Record is this class): its title,
    abstract, publication types and MeSH, and what is computed from them once."""

    title: str
    abstract: str
    publication_types: list[str] = field(default_factory=list)
    mesh: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.abstract}"

    @cached_property
    def sentences(self) -> list[Sentence]:
        return sentences(self.abstract)

    @cached_property
    def own_sentences(self) -> list[Sentence]:
        """Sentences that describe this study (not background, discussion, or others' work)."""
        return [
            s for s in self.sentences
            if not (s.section and NOT_OWN.search(s.section)) and not _PRIOR_WORK.search(s.text)
        ]

    @cached_property
    def conclusion(self) -> list[Sentence]:
        """The conclusion's sentences; in an unstructured abstract, the last two."""
        found = [s for s in self.sentences if s.section and _concluding(s.section)]
        return found or self.sentences[-2:]

    @cached_property
    def findings(self) -> list[Sentence]:
        """Results sentences, or every sentence of an unstructured abstract."""
        return [s for s in self.sentences if s.is_result or not s.section]

    @cached_property
    def parts(self) -> dict[str, str]:
        """The named scopes classifying rules read (rules.DOC_SCOPES)."""
        first = self.sentences[0].text if self.sentences else ""
        return {
            "title": self.title,
            "own": "\n".join([self.title] + [s.text for s in self.own_sentences]),
            "abstract": self.abstract,
            "lead": f"{self.title}\n{first}",
            "types": "\n".join(t.lower() for t in self.publication_types),
            "mesh": "\n".join(self.mesh),
            "conclusion": " ".join(s.text for s in self.conclusion),
            "findings": "\n".join(s.text for s in self.findings),
        }

    def locate(self, quote: str, scope: str) -> tuple[str, int | None, int | None] | None:
        """Where a quote read in `scope` stands in the stored record: (title|abstract|
        publication_types|mesh, start, end), or None if it is not there verbatim."""
        if scope in ("types", "mesh"):  # a whole heading, not a span of text
            return ("publication_types" if scope == "types" else "mesh", None, None)
        for where, text in (("abstract", self.abstract), ("title", self.title)) if scope not in ("title", "lead") else (
            ("title", self.title), ("abstract", self.abstract)
        ):
            i = text.find(quote)
            if i >= 0 and quote:
                return (where, i, i + len(quote))
            if quote and text.lower().find(quote.lower()) >= 0:
                j = text.lower().find(quote.lower())
                return (where, j, j + len(quote))
        return None
