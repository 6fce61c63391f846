"""The controlled vocabularies of the extracted columns, with what each value means.

The one source of truth for the values the extractor writes, the evaluator and
the gold files accept, and the documentation explains. The README's table of
extraction columns (between the `<!-- vocab:start … -->` and `<!-- vocab:end -->` lines)
and the descriptions of these columns in db/metadata.yml are generated from
`COLUMNS` below by `python scripts/vocabularies.py`; tests/test_vocab.py fails
when either differs from what this file generates, and when the extractor can
write a value that is not here.

To add a value: add it with its one-line meaning to its dictionary (and, for a
design, its level to EVIDENCE_LEVELS), teach the extractor to write it, run
`python scripts/vocabularies.py`, and run the tests.

The written form of a p-value (`normalise_p`) is here too: the extractor stores
it and the evaluator compares with it, so both agree on what "the same p" is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import overload

DESIGNS: dict[str, str] = {
    "meta_analysis": "systematic review with a pooled, meta-analytic estimate",
    "systematic_review": "systematic review without pooling",
    "rct": "randomized controlled trial, including pilot and crossover RCTs",
    "non_randomized_trial": "controlled or single-arm trial without randomization (pre-post, quasi-experimental)",
    "cohort": "cohort study, prospective or retrospective, including chart reviews comparing groups",
    "case_series": "several patients described without a comparison group",
    "case_report": "one patient",
    "protocol": "protocol of a planned trial or review, no results yet",
    "narrative_review": "review without a systematic search",
    "mechanism_study": "physiology or mechanism study (e.g. in healthy people), not of clinical outcomes",
    "other": "cross-sectional, case-control, reliability, bibliometric or other designs",
}

# A design's short name, as the digest and the one-line summaries show it.
DESIGN_LABELS: dict[str, str] = {
    "meta_analysis": "Meta-analysis",
    "systematic_review": "Systematic review",
    "rct": "RCT",
    "non_randomized_trial": "Non-randomized trial",
    "cohort": "Cohort study",
    "case_series": "Case series",
    "case_report": "Case report",
    "protocol": "Protocol",
    "narrative_review": "Narrative review",
    "mechanism_study": "Mechanism study",
    "other": "Other design",
}

HEADACHE_TYPES: dict[str, str] = {
    "tension_type": "tension-type headache, episodic or chronic",
    "migraine": "migraine",
    "cervicogenic": "cervicogenic headache",
    "post_traumatic": "post-traumatic headache, after head or neck injury",
    "other": "other or unclassified headache (e.g. occipital neuralgia, 'headache' in myofascial pain)",
}

COMPARATORS: dict[str, str] = {
    "sham": "sham or placebo needling, or a placebo injection",
    "lidocaine_or_injection": "trigger point injection (lidocaine, anaesthetic, botulinum toxin)",
    "manual_therapy": "manipulation, mobilization, massage, myofascial release",
    "exercise": "exercise or stretching programme",
    "medication": "drug treatment",
    "usual_care": "usual care, waiting list or no treatment",
    "other_needling": "another needling technique (e.g. superficial vs deep) or acupuncture",
    "other": "an active treatment outside this list (e.g. TENS, taping, laser); the study names it",
    "unspecified_control": "a control group whose treatment the abstract does not state",
    "none": "no comparison group (single-arm study, case report, a survey or cross-sectional study of people)",
}

OUTCOMES: dict[str, str] = {
    "pain_intensity": "headache or pain intensity (VAS, NPRS)",
    "frequency": "headache frequency (days or attacks per month, responders)",
    "duration": "headache duration",
    "disability": "disability or impact (NDI, HDI, HIT-6, functional indices)",
    "range_of_motion": "cervical range of motion",
    "pressure_pain_threshold": "pressure pain threshold or tenderness",
    "quality_of_life": "quality of life (SF-36 and similar)",
    "medication_use": "analgesic or rescue medication use",
    "blood_flow": "blood flow, perfusion or oxygenation",
    "endorphins": "endorphins or other endogenous opioids",
    "other": "another measured outcome",
}

DIRECTIONS: dict[str, str] = {
    "favours_needling": "the authors found dry needling better than the comparator, or improvement in a single-arm study",
    "no_difference": "no difference between dry needling and the comparator",
    "favours_comparator": "the comparator did better",
    "inconclusive": "the authors say the evidence is too weak to conclude",
    "not_applicable": "protocols, mechanism studies and records not about dry needling for headache",
}

MEASURES: dict[str, str] = {
    "SMD": "standardized mean difference (also Hedges' g)",
    "MD": "mean difference",
    "WMD": "weighted mean difference",
    "RR": "risk or rate ratio",
    "OR": "odds ratio",
    "d": "Cohen's d or another effect size",
    "other": "percentages, group means, η², φ, NNT and other reported figures",
}

# What an effect's number compares (effects.level); empty for correlations and
# agreement statistics (r, φ, ICC).
EFFECT_LEVELS: dict[str, str] = {
    "between_groups": "a difference between groups (MD, SMD, RR, OR, NNT, or a difference written in words such as '3 fewer days than sham')",
    "within_group": "a change within one group ('fell by 2.1')",
    "arm": "one group's value (a mean, 'to B' of 'from A to B', a group's percentage)",
}

# Oxford CEBM 2011 levels for questions of treatment benefit, by design.
EVIDENCE_LEVELS: dict[str, str] = {
    "meta_analysis": "1",
    "systematic_review": "1",
    "rct": "2",
    "non_randomized_trial": "3",
    "cohort": "3",
    "case_series": "4",
    "case_report": "4",
    "mechanism_study": "5",
    "narrative_review": "5",
    "protocol": "n/a",
    "other": "4",
}


# --- the documented columns ---------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One extracted column as the README table and the Datasette metadata describe it.

    `what` opens both descriptions; `values` (a vocabulary above) follows as
    "value: meaning; ..."; `note` says how it is read (README only); `after`
    closes the metadata description. `metadata` False: README only.
    """

    table: str
    name: str
    what: str
    values: Mapping[str, str] | None = None
    note: str = ""
    after: str = ""
    metadata: bool = True


def _levels_by_design() -> str:
    order: dict[str, list[str]] = {}
    for design, level in EVIDENCE_LEVELS.items():
        order.setdefault(level, []).append(design)
    return "; ".join(f"{level} {', '.join(designs)}" for level, designs in sorted(order.items(), key=lambda kv: (not kv[0].isdigit(), kv[0])))


COLUMNS: tuple[Column, ...] = (
    Column("studies", "design", "Study design", DESIGNS,
           note="Read from the text first, PubMed's publication types second (a blinded case-control "
                "study that PubMed tags \"Randomized Controlled Trial\" is `other`)."),
    Column("studies", "on_topic",
           "1 if the study is of dry needling (not acupuncture, injections or manipulation) in people "
           "with headache, or a review of such studies; 0 for neighbours that only turn up in the search",
           metadata=False),
    Column("studies", "headache_types", "Headache populations studied (JSON list)", HEADACHE_TYPES,
           note="The populations studied, not those named in the background."),
    Column("studies", "comparators", "What dry needling was compared with (JSON list)", COMPARATORS),
    Column("studies", "n_randomized",
           "Participants randomized (not completers), or enrolled for a study without randomization; "
           "1 for a case report; null for reviews and protocols",
           note="Numbers in words (\"Forty-two\") and per-arm counts (\"30 per arm\", \"three groups of 25\") are read.",
           metadata=False),
    Column("studies", "outcomes", "Outcomes measured (JSON list)", OUTCOMES),
    Column("studies", "direction", "The authors' finding on the headache or pain outcome against the comparator",
           DIRECTIONS),
    Column("studies", "evidence_level",
           f"Oxford CEBM 2011 level for treatment benefit, by design: {_levels_by_design()}",
           note="A design-based level: it does not grade risk of bias or imprecision."),
    Column("studies", "summary", "One-line effect summary",
           note="E.g. `RCT · n=168 · tension-type · dry needling vs sham · pain intensity, frequency, "
                "duration, quality of life: favours dry needling (P < .05)`.",
           metadata=False),
    Column("effects", "measure", "The kind of estimate", MEASURES),
    Column("effects", "level", "What the number compares", EFFECT_LEVELS,
           note="Empty for correlations and agreement statistics (r, φ, ICC).",
           after="Empty for correlations. Read a study's between_groups rows first."),
)


def _values(values: Mapping[str, str], code: bool) -> str:
    q = "`" if code else ""
    return "; ".join(f"{q}{value}{q}: {meaning}" for value, meaning in values.items())


def _sentence(text: str) -> str:
    return text if text.endswith(".") else text + "."


def metadata_description(column: Column) -> str:
    """The column's description in db/metadata.yml: one paragraph."""
    parts = [column.what + (" — " + _values(column.values, code=False) if column.values else "")]
    if column.after:
        parts.append(column.after)
    return " ".join(_sentence(p) for p in parts)


def metadata_descriptions() -> dict[tuple[str, str], str]:
    """(table, column) → description, for every column the metadata takes from here."""
    return {(c.table, c.name): metadata_description(c) for c in COLUMNS if c.metadata}


def readme_table() -> str:
    """The README's table of extraction columns (markdown, no trailing newline):
    the studies' columns by name, the effects' as `effects.<name>`."""
    rows = ["| column | values and meanings |", "|---|---|"]
    for c in COLUMNS:
        name = c.name if c.table == "studies" else f"{c.table}.{c.name}"
        cell = _sentence(c.what + (": " + _values(c.values, code=True) if c.values else ""))
        cell += " " + c.note if c.note else ""
        rows.append(f"| `{name}` | {cell.replace('|', '&#124;')} |")
    return "\n".join(rows)


# --- p-values -----------------------------------------------------------------------------

_P_OPERATORS = ("<=", ">=", "<", ">", "=")  # two-character operators first
_TIMES_TEN = re.compile(r"^(?P<m>\d+(?:\.\d+)?)[x×]10\^?(?P<e>-\d+)$")


def parse_p(p: str | float) -> tuple[str, Decimal] | None:
    """Split a p-value as written into (operator, number), or None when it does not parse.

    'P < .001' → ('<', 0.001); '≤0·05' → ('<=', 0.05); '0.03' → ('=', 0.03);
    '2 × 10−5' → ('=', 0.00002).
    """
    text = "".join(str(p).split()).lower()
    text = text.replace("≤", "<=").replace("≥", ">=").replace("·", ".").replace("−", "-").removeprefix("p")
    op = next((o for o in _P_OPERATORS if text.startswith(o)), "")
    number = text[len(op):]
    power = _TIMES_TEN.match(number)
    if power:
        number = f"{power['m']}e{power['e']}"
    try:
        value = Decimal(number)
    except InvalidOperation:
        return None
    return (op or "=", value) if value.is_finite() else None


@overload
def normalise_p(p: str | float) -> str: ...
@overload
def normalise_p(p: None) -> None: ...
def normalise_p(p: str | float | None) -> str | None:
    """The stored and compared form of a p-value: operator, then the number without
    trailing zeros: 'P < .001' → '<0.001', 'p = 0.050' and '0.05' → '=0.05',
    '≤ .05' → '<=0.05', '2 × 10−5' → '=0.00002'. Numerically equal values give
    the same string ('<0.0010' → '<0.001'; 'p = 0.000' → '=0'). Text that does
    not parse comes back without spaces, lowercased.
    """
    if p is None:
        return None
    parsed = parse_p(p)
    if parsed is None:
        return "".join(str(p).split()).lower()
    op, number = parsed
    return f"{op}{number.normalize():f}"
