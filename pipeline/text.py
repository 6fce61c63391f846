"""Abstract text helpers: sections, sentences with character offsets, numbers as written.

Everything the extractor reports points back into the stored abstract, so
sentences are kept with their start and end offsets in that exact string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Section labels (structured abstracts, or "(2) Background:" inline) whose
# sentences describe the question or the method rather than what was found.
# Section labels are read by their words, so compound labels ("PATIENTS AND
# METHODS", "BACKGROUND AND PURPOSE", "RESULTS AND CONCLUSIONS") work too.
RESULT_SECTIONS = re.compile(r"\b(?:results?|findings|conclusions?|discussion|interpretation|perspective|outcomes? and results?)\b", re.I)
PREAMBLE_SECTIONS = re.compile(
    r"\b(?:background|introduction|context|rationale|objectives?|aims?|purpose|importance|methods?|"
    r"methodology|materials?|design|patients|participants|setting|subjects|interventions?|measures|"
    r"data sources|study selection|data extraction|eligibility|search|selection criteria|"
    r"data collection|registration|funding|hypothesis)\b",
    re.I,
)

LABEL_LINE = re.compile(r"^([A-Z][A-Za-z /&-]{1,60}):\s")
INLINE_LABEL = re.compile(
    r"((?:Background|Introduction|Context|Objectives?|Aims?|Purpose|Methods?|Methodology|Materials and methods|"
    r"Patients and methods|Subjects and methods|Design|Setting|Participants|Patients|Interventions?|"
    r"Main outcome measures?|Outcome measures|Results?|Findings|Conclusions?|Discussion|Interpretation|"
    r"Significance|Trial registration)(?: and [A-Za-z]+)?):\s+",
    re.I,
)
INLINE_SECTION = re.compile(r"\((\d{1,2})\)\s*([A-Z][A-Za-z ]{2,40}):\s")
# A sentence ends at . ! or ? followed by space and a capital, digit or bracket,
# unless the dot ends a common abbreviation.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"“])")
ABBREVIATIONS = re.compile(
    r"(?:\b(?:vs|e\.g|i\.e|et al|approx|Fig|Figs|No|Dr|Prof|Mr|Mrs|Ms|St|cf|ca|resp|min|max|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.|\b[A-Z]\.)$"
)

WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}
_UNITS = "one|two|three|four|five|six|seven|eight|nine"
_TEENS = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
_TENS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
# "Forty-two", "one hundred and twenty", "Seventy-eight", "twelve".
WORD_NUMBER_RE = re.compile(
    rf"\b(?:(?:{_UNITS}) hundred(?: and)?[ -])?(?:(?:{_TENS})(?:[- ](?:{_UNITS}))?|{_TEENS}|{_UNITS})\b"
    rf"|\b(?:{_UNITS}) hundred\b",
    re.I,
)


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int
    end: int
    section: str | None  # the label of the section it belongs to, if any

    @property
    def is_preamble(self) -> bool:
        """Background, aims or methods: says what was planned, not what was found."""
        return bool(self.section and not RESULT_SECTIONS.search(self.section) and PREAMBLE_SECTIONS.search(self.section))

    @property
    def is_result(self) -> bool:
        return bool(self.section and RESULT_SECTIONS.search(self.section))


def sentences(abstract: str) -> list[Sentence]:
    """The abstract's sentences, each with its offsets and section label."""
    out: list[Sentence] = []
    pos = 0
    for line in abstract.split("\n"):
        line_start = pos
        pos += len(line) + 1
        section = None
        body_start = 0
        m = LABEL_LINE.match(line)
        if m:
            section, body_start = m.group(1), m.end()
        # Numbered inline sections: "(1) Objective: ... (2) Background: ...".
        cuts = [(body_start, section)]
        for inline in INLINE_SECTION.finditer(line, body_start):
            cuts.append((inline.start(), inline.group(2)))
        cuts.append((len(line), None))
        for (a, label), (b, _) in zip(cuts, cuts[1:]):
            chunk = line[a:b]
            if label and chunk.startswith("("):
                chunk_body = INLINE_SECTION.match(chunk)
                offset = chunk_body.end() if chunk_body else 0
            else:
                offset = 0
            for s_start, s_end in _split(chunk, offset):
                # One paragraph with labels inside it: "Background: ... Methods: ...".
                inline = INLINE_LABEL.match(chunk, s_start, s_end)
                if inline:
                    label, s_start = inline.group(1), inline.end()
                text = chunk[s_start:s_end]
                if text.strip():
                    out.append(Sentence(text, line_start + a + s_start, line_start + a + s_end, label))
    return out


# The longest stretch read as one sentence. Real abstracts' sentences stay well
# under 1,500 characters; the extractor's work per number grows with its
# sentence, so an unpunctuated run of text (a table pasted into an abstract, a
# hostile record) is cut into pieces of at most this size, at the last clause
# break (";", ",") or space before the limit. Total work stays linear.
MAX_SENTENCE_CHARS = 2_000
_BREAKS = ("; ", ", ", " ")


def _split(chunk: str, offset: int) -> list[tuple[int, int]]:
    spans = []
    start = offset
    for m in SENTENCE_END.finditer(chunk, offset):
        # Only the tail can end in an abbreviation: look at a bounded window, not
        # the whole text since the last cut.
        if ABBREVIATIONS.search(chunk[max(start, m.start() - 12) : m.start()]):
            continue
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(chunk.rstrip())))
    return [piece for a, b in spans if b > a for piece in _bounded(chunk, a, b)]


def _bounded(chunk: str, a: int, b: int) -> list[tuple[int, int]]:
    """[a, b) cut into spans of at most MAX_SENTENCE_CHARS."""
    pieces = []
    while b - a > MAX_SENTENCE_CHARS:
        limit = a + MAX_SENTENCE_CHARS
        cut = next((at + len(mark) for mark in _BREAKS if (at := chunk.rfind(mark, a + 1, limit)) > a), limit)
        pieces.append((a, cut))
        a = cut
    pieces.append((a, b))
    return pieces


NUM = r"(?:[-−–]\s?)?(?:\d+(?:[.·]\d+)?|[.·]\d+)"


def to_float(text: str) -> float:
    """A number as abstracts write it: unicode minus, en dash as minus, middle dot or
    (where the caller has read one) decimal comma as decimal point."""
    t = text.strip().replace("−", "-").replace("–", "-").replace("·", ".").replace(",", ".").replace(" ", "")
    if t.startswith("-."):
        t = "-0" + t[1:]
    elif t.startswith("."):
        t = "0" + t
    return float(t)


def word_number(text: str) -> int | None:
    """'Forty-two' → 42, 'one hundred and twenty' → 120; None if not a number in words."""
    words = re.split(r"[\s-]+", text.lower().replace(" and ", " "))
    total, current = 0, 0
    for w in words:
        if w in WORD_NUMBERS:
            current += WORD_NUMBERS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        else:
            return None
    total += current
    return total or None
