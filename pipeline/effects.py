"""Numeric effects in an abstract: estimate, confidence interval, p-value, and the
sentence each came from.

General rules for how abstracts write results, not rules for particular
sentences:

- a named estimate (SMD, MD, WMD, OR, RR, Cohen's d, φ, NNT, "effect size",
  "mean difference", ...) followed by its value, optionally a unit, a 95% CI in
  any of the usual notations, and a p-value (η², an ANOVA's share of variance,
  is read so that its number is not taken for a result, and not kept);
- any interval (CI, CrI, a bare bracketed pair) marks an estimate whether or not
  it is named: the number before it is the value, the words before that say
  what it is (a difference between groups → MD; else the previous estimate's
  kind; else a change or a group's value), and a difference written in words
  with a test's p after it is an estimate too. The wordings (interval words,
  difference and change cues, time points, group results) are data with their
  examples in rules/effects.yml, read through pipeline/rules.py;
- a group result written as mean ± SD (for "from A ± a to B ± b", the value
  after treatment), a change "by N points/days", or a percentage of a group;
- only in sentences that report findings (not background, aims or methods),
  and never ages, baseline descriptions, concentrations or sample counts.

Each effect has a level: between_groups, within_group or arm (see Effect).

Every number returned is read from the text; nothing is computed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from . import rules, vocab
from .rules import phrase_regex
from .terms import HEADACHE_WORD, outcome_at, outcome_spans
from .text import NUM, WORD_NUMBERS, Checked, Sentence, Specialised, guarded, sentences, to_float

# The wording rules (rules/*.yml): intervals, between-group and within-group cues,
# differences written in words, numbers that are time points. Checked when loaded.
RULES = rules.default()
LEVELS = ("between_groups", "within_group", "arm")

_N = rf"(?:{NUM})"
# The estimate's name → measure vocabulary. Longer names first.
# Abbreviations are matched case-sensitively ("OR" is not "or"); names in words are not.
MEASURE_NAMES: list[tuple[str, str]] = [
    (r"standardi[sz]ed mean differences?|(?-i:\bSMDs?\b)|hedges'? ?g\b|(?<![A-Za-z'])g(?=\s*[=:])", "SMD"),
    (r"weighted mean differences?|(?-i:\bWMDs?\b)", "WMD"),
    (r"(?:(?:paired|adjusted|between-group|absolute|mean)\s+)+differences?|mean differences?|(?-i:\bMDs?\b)|difference in means|\bdifferences?(?=\s+(?:in\s+(?:[\w-]+\s+){1,4}?)?(?:of|was|=)\s*[-−–]?\d)", "MD"),
    (r"(?:adjusted )?odds ratios?|(?-i:\ba?ORs?(?:Q\d|adj)?\b)", "OR"),
    (r"risk ratios?|relative risks?|rate ratios?|(?-i:\ba?RRs?\b)", "RR"),
    (r"effect sizes?\s*\(cohen'?s d\)|cohen'?s d|effect sizes?|(?-i:\bES\b)|(?<![A-Za-z])d(?=\s*[=:])", "d"),
    (r"partial\s*η\s*[2²]|η\s*[2²]|eta[- ]squared|partial eta[- ]squared", "other"),
    (r"number needed to treat|(?-i:\bNNTs?\b)", "other"),
    (r"φ|\bphi\b|hazard ratios?|(?-i:\ba?HRs?\b)|(?<![A-Za-z])r(?=\s*=)|(?-i:\bICC\b)", "other"),
]
# Some thirty alternatives tried at every position, of which a sentence names one or
# two: each sentence is read with only those whose words it has (text.Specialised;
# the same matches, and the group m{i} of the measure found).
MEASURE_RE = Specialised([(f"(?P<m{i}>", p, ")") for i, (p, _) in enumerate(MEASURE_NAMES)], re.I)
# Between a measure's name and its value: "of", "=", ":", ",", "was", brackets.
# Between an estimate's name and its value: "(Cohen's d)", "in intensity", "of", "=", "was".
VALUE_AFTER_NAME = re.compile(
    rf"\s*(?:\([^)]{{0,20}}\)\s*)?(?:\bin\s+(?:[\w-]+\s+){{0,3}}?[\w-]+\s+(?=was\b|of\b|=|:))?"
    rf"(?:[,:=]|\bof\b|\bwas\b|\bwere\b|\bamounted to\b)?\s*(?:=\s*)?(?P<v>{_N})(?![\d/])"
)
UNIT = (
    r"(?:\s*(?:%|points?|days?|mm|cm|kPa|kg/cm2|kg/cm²|N/cm2|degrees?|°|hours?|h|min(?:utes)?|months?|weeks?|attacks?|units?)"
    r"(?:\s*(?:/|per)\s*(?:month|week|day|year|4 weeks))?(?![\w])\.?|\s*%)?"
)
_INTERVAL_WORD = "|".join(phrase_regex(w) for w in sorted(RULES.lists["interval_word"], key=len, reverse=True))
CI_RE = re.compile(
    rf"""[\s,;]*(?:(?P<outer>[(\[])\s*)?(?:95\s*%\s*)?(?:{_INTERVAL_WORD})\s*(?:\[CI\]|\(CI\))?\s*[,:=]?\s*(?P<open>[\[(])?\s*
    (?P<lo>{_N}){UNIT}\s*(?:to|,|;|–|—|-|and)\s*(?P<hi>{_N}){UNIT}\s*(?:[;,]\s*[Pp]\s*(?P<p_op><=|>=|≤|≥|<|>|=)\s*(?P<p_v>0?[.·]\d+|\d(?:[.·]\d+)?(?:\s*[x×]\s*10\s*\^?\s*[-−]\s*\d+)?))?
    \s*(?(open)[\])])\s*(?(outer)[\])])""",
    re.I | re.X,
)
# An interval written without "CI" right after a named estimate: "RR 1.45 (1.10–1.91)".
BARE_CI = re.compile(
    rf"\s*[(\[]\s*(?P<lo>{_N})\s*(?:–|—|-|to|,|;)\s*(?P<hi>{_N})\s*(?P<p_op>)(?P<p_v>)[)\]]"
)
P_RE = guarded(re.compile(
    r"\bp(?:\s*-?\s*(?:values?|trend|for trend|interaction))?\s*(?:(?P<op><=|>=|≤|≥|<|>|=)|(?P<of>\bof\b|\bwas\b)|(?<=value)|(?<=values))\s*(?P<pv>0?[.·]\d+|\d(?:[.·]\d+)?(?:\s*[x×]\s*10\s*\^?\s*[-−]\s*\d+)?)",
    re.I,
))
# A spread written after a mean: "± 1.1", "+/- 1.1", "± SD 1.1" or "(SD 1.1)".
# A bare bracket counts only with a decimal in it ("3.9 (2.1)"): "(4)" is too often something else.
# (a mean and its SD may both carry a percent sign: "14.2% ± 7.9%")
_SPREAD = (
    r"(?:\s*%?\s*(?:±|\+/-|\+-)\s*(?:SD\s*)?\d+(?:[.·]\d+)?%?|\s*\(\s*SD\s*[=:]?\s*\d+(?:[.·]\d+)?\s*\)"
    r"|\s*\[\s*SD\s*[=:]?\s*\d+(?:[.·]\d+)?\s*\]"  # "2.8 [SD 1.7]"
    r"|\s*\(\s*\d+[.·]\d+\s*\)(?!\s*%))"
)
# A decimal comma is read where a spread follows ("6,4±1,5"), never a part of the number.
_CN = rf"(?:{_N}(?:,\d{{1,2}}(?=\s*(?:±|\+/-)))?)"
# A small whole number in words, where a change is written so ("fell from seven to three",
# "by five in the needling group and by two with education"): read by the change patterns only.
_WORDN = rf"(?:{'|'.join(w for w, n in WORD_NUMBERS.items() if n <= 20)})\b"
_NW = rf"(?:{_N}|{_WORDN})"
_SPREAD_CN = _SPREAD.replace(r"\d+(?:[.·]\d+)?", r"\d+(?:[.,·]\d+)?", 1)
PM_RE = guarded(re.compile(rf"(?<![\d.,·])(?P<v>{_CN}){_SPREAD_CN}"))
FROM_TO_PM = guarded(re.compile(rf"(?:\bfrom\s+|:\s*)(?P<a>{_CN}){_SPREAD_CN}\s*(?:(?:\w+\s+)?to\s+|(?:→|->|⟶)\s*)(?P<b>{_CN}){_SPREAD_CN}"))
CHANGE_VERB = guarded(re.compile(r"\b(?:changed|fell|dropped|decreased|declined|improved|increased|rose|reduced|lowered|diminished)\b", re.I))
_CHANGE_UNITS = r"points?|days?|%|percent|mm|cm|degrees?|°|kPa|kg/cm²|kg/cm2|N/cm2|attacks?|episodes?|hours?|doses?"
# (a change "per month" is a rate's change: "decreased by 4.2 per month")
BY_CHANGE = guarded(re.compile(rf"\b(?:changed|fell|dropped|decreased|declined|improved|increased|rose|reduced|lowered|diminished)\s+(?:by\s+)?(?:a (?:mean|median) of\s+|an average of\s+)?(?P<v>[-−–]?\d+(?:[.·]\d+)?)\s*(?P<u>{_CHANGE_UNITS}|per\s+(?:day|week|month|year)\b)(?![\w±])"))
# "achieved by 41% of the needling group": by whom, a share of a group (not "fell by 41%").
_SHARE_OF = r"(?:\s*(?:and|vs\.?|versus)\s*\d+(?:[.·]\d+)?\s?%)?\s+of\s+(?:the\s+)?(?:[\w-]+\s+){0,3}?(?:patients|participants|people|subjects|group|arm|cases|responders|women|men)\b"
BY_ONLY = guarded(re.compile(rf"\bby\s+(?:a (?:mean|median) of\s+)?(?P<v>[-−–]?\d+(?:[.·]\d+)?)\s*(?P<u>{_CHANGE_UNITS})(?![\w])(?!(?i:{_SHARE_OF}))"))
# "... by 12 points with needling versus 4 points with usual care": the second arm's change.
VERSUS_CHANGE = re.compile(rf"[^.;()\d]{{0,40}}?\b(?:versus|vs\.?|compared with|and)\s+(?:by\s+)?(?P<v>[-−–]?\d+(?:[.·]\d+)?)\s*(?P<u>{_CHANGE_UNITS})(?![\w])")
# "fell by 4.4 and 4.9 days", "by 3.5 and 1.6 doses per month": two arms' changes sharing one unit.
BY_PAIR = guarded(re.compile(
    rf"\bby\s+(?:a (?:mean|median) of\s+)?(?P<v>\d+(?:[.·]\d+)?)\s*(?:{_CHANGE_UNITS})?\s+(?:and|versus|vs\.?)\s+(?:by\s+)?"
    rf"(?P<v2>\d+(?:[.·]\d+)?)\s*(?P<u>{_CHANGE_UNITS})(?![\w])"
))
# "reduced monthly migraine days by 1.9, 2.4 and 1.7 days at 1, 3 and 6 months": one change per time point.
BY_LIST = guarded(re.compile(
    rf"\bby\s+(?:a (?:mean|median) of\s+)?(?P<v>[-−–]?\d+(?:[.·]\d+)?)\s*,\s*(?P<v2>[-−–]?\d+(?:[.·]\d+)?)\s*,?\s*and\s+"
    rf"(?P<v3>[-−–]?\d+(?:[.·]\d+)?)\s*(?P<u>{_CHANGE_UNITS})(?![\w])"
))
# "Compared with sham, DN reduced ...": a change said against the other arm is a difference between groups.
COMPARED_FIRST = re.compile(r"^\W*(?:compared (?:with|to)|relative to|versus|vs\.?)\b|\bmore (?:with|than)\b|\bthan (?:with )?\w+", re.IGNORECASE)
# "by 2.1 with BoNT-A and 1.6 with saline", "by 3.8 with bupivacaine and by 1.2 with placebo":
# each change next to its group, no unit needed.
BY_WITH_PAIR = guarded(re.compile(
    rf"\bby\s+(?:a (?:mean|median) of\s+)?(?P<v>\d+(?:[.·]\d+)?|{_WORDN})\s*(?:{_CHANGE_UNITS})?\s+(?:with|in|after)\s+[^;,.()\d]{{1,50}}?"
    rf"\s+(?:and|versus|vs\.?)\s+(?:by\s+)?(?P<v2>\d+(?:[.·]\d+)?|{_WORDN})\s*(?:{_CHANGE_UNITS})?\s+(?:with|in|after)\b"
))
# "EA reduced headache days by 7.8 and MA by 5.9": each arm's change, named before its "by"
# (a change verb must come first, as for the pairs above).
BY_ARM_PAIR = guarded(re.compile(
    rf"\bby\s+(?:a (?:mean|median) of\s+)?(?P<v>\d+(?:[.·]\d+)?)\s*(?:{_CHANGE_UNITS})?\s+and\s+(?:the\s+)?(?:[A-Za-z][\w-]*\s+){{1,3}}?"
    rf"by\s+(?:a (?:mean|median) of\s+)?(?P<v2>\d+(?:[.·]\d+)?)(?![\d.,·]|\s*(?:%|weeks?|months?|years?)\b)"
))
# "from 10.4 to 6.1 days per month": the value after treatment (a unit is required, so years are not read).
# Without a unit, "to B" must be followed by its group ("from 11.8 to 7.1 with bupivacaine").
# A median's spread may stand after either number: "from 8 (IQR 7-8) to 3 (IQR 2-4)".
_IQR = r"(?:\s*\((?:IQR|interquartile range|range)[^)]{0,30}\))"
FROM_TO_PLAIN = guarded(re.compile(
    rf"\bfrom\s+(?P<a>{_N})\s*(?:{_CHANGE_UNITS}|/10\b)?{_IQR}?\s+to\s+(?P<b>{_N})"
    rf"\s*(?P<u>{_CHANGE_UNITS}|/10\b|(?=\s+(?:with|without|after)\s|\s+in\s+(?:the|both|each)\s)|(?={_IQR}))"
))
# "score improved from 64 to 49", "fell from 7.5 to 3.2", "(dry needling: 8.4 to 4.9; ...)" after a
# change verb: the value after treatment, with or without a unit (the verb says it is a result).
CHANGED_FROM_TO = guarded(re.compile(
    rf"\b(?:changed|fell|fallen|dropped|decreased|declined|improved|increased|rose|risen|reduced|lowered|diminished|went|gone)\s+from\s+"
    rf"(?P<a>{_NW})(?:/10)?\s+to\s+(?P<b>{_NW})(?:/10)?(?![\d.,·]*\s*(?:years?|months?|weeks?)\b)"
))
# "(dry needling: 8.4 to 4.9; ...)", "decreased in the DN group (from 6.4 to 2.9)": after a change verb.
COLON_FROM_TO = re.compile(rf"(?::\s*|\(\s*)(?:from\s+)?(?P<a>{_N})\s+to\s+(?P<b>{_N})(?=\s*[;,)])")
# "... fell from 7 to 3 on the NPRS, and median headache days from 14 to 5.": a change whose
# verb is not repeated, "from A to B" ending its clause (a rate's unit may close it: "from 9.2
# to 6.0 per month"), after a change verb (not years).
ELIDED_FROM_TO = re.compile(rf"\bfrom\s+(?P<a>{_N})(?:/10)?\s+to\s+(?P<b>{_N})(?:/10)?(?![\d.,·]\d)(?<!\b(?:19|20)\d\d)"
                            r"(?:\s+(?:per|a)\s+(?:day|week|month|year)\b)?(?=\s*(?:[.;,(]|and\b|$))")
# "(10.3 vs 13.1 days)": two arms' results side by side.
# (Percentages are left to the percentage rules, which check they are results.)
_PAIR_UNITS = _CHANGE_UNITS.replace("%|percent|", "")
VS_PAIR = guarded(re.compile(
    rf"(?P<a>{_N})\s*(?P<ua>{_PAIR_UNITS})?\s+(?:vs\.?|versus)\s+(?P<b>{_N})\s*"
    # a unit, or none where a p-value or the clause's end follows ("was 3.4 vs 5.0 (p = 0.003)")
    # or the scale it is read on ("2.9 vs 4.2 on the NPRS")
    rf"(?:(?P<u>{_PAIR_UNITS})(?![\w])|(?=\s*(?:\(\s*(?:[Pp]\b|group|interaction|between)|[;,.](?:\s|$)|\)))|(?=\s+on\s+(?:the|a)\s))"
))
# "3 (IQR 2–5) versus 4 (IQR 3–5)", "median 2 [IQR 0-4] vs 5 [IQR 2-8]", "were 8 (IQR 2–18)
# and 14 (IQR 6–27), respectively", "2.9 kg/cm² (IQR 2.4–3.3) and ...": two groups' medians.
_IQR = rf"\s*[(\[]\s*IQR\s*[:,]?\s*{_N}\s*(?:–|-|to|,)\s*{_N}\s*[)\]]"
MEDIAN_PAIR = guarded(re.compile(rf"(?<![\d.])(?P<a>{_N})(?:\s*(?:{_CHANGE_UNITS}))?{_IQR}\s*(?:vs\.?|versus|and)\s+(?:median\s+)?"
                                 rf"(?P<b>{_N})(?:\s*(?:{_CHANGE_UNITS}))?{_IQR}"))
ETA_SQUARED = re.compile(r"η|eta", re.I)  # an ANOVA's effect size: not an effect this table keeps
# "8.2 (deep), 11.0 (superficial) and 13.4 (sham)", "11.2 (needling) and 13.5 (usual care alone)":
# each group's value with the group's name in brackets after it (a name, not a spread, a
# count or an interval: no digit in it).
_LABELLED = r"(?P<{g}>{n})\s*\((?!\s*(?:IQR|SD|SE|CI|range|n\b|p\b|mean|median)\b)[A-Za-z][^()\d;]{{0,40}}\)"
LABELLED_LIST = guarded(re.compile(
    r"(?<![\d.·])" + _LABELLED.format(g="a", n=_N) + r"(?:\s*(?:,|;|and|versus|vs\.?)\s*(?:and\s+)?"
    + _LABELLED.format(g="b", n=_N).replace("(?P<b>", "(?:") + r")+"
))
LABELLED_ITEM = re.compile(_LABELLED.format(g="v", n=_N))
# "10.4 → 6.1", "7.2 -> 5.5": a value before and after, read as "from A to B" (the value after).
ARROW = guarded(re.compile(rf"(?<![\d.·])(?P<a>{_N})\s*(?:→|->|⟶)\s*(?P<b>{_N})(?![\d.·]\d)"))
PERCENT_RE = guarded(re.compile(r"(?<![\w.])(?P<v>\d+(?:[.·]\d+)?)\s?%"))
GROUP_SHARE = re.compile(
    r"(?:\s*(?:vs\.?|versus|and)\s*\d+(?:[.·]\d+)?\s?%)?\s+(?:of|in)\s+(?:the\s+)?(?:[\w-]+\s+){0,3}?"
    r"(?:patients|participants|people|subjects|controls|group|arm|weeks|days|cases|responders|women|men)\b"
    # "21 of 47 (45%) treated participants": a count's share, in brackets before its group
    # (not the share who stayed in the study: "27 of 30 (90%) participants were retained")
    r"|\)\s+(?:[\w-]+\s+){0,2}?(?:patients|participants|people|subjects|controls|cases|responders|women|men)\b"
    r"(?!\s+(?:were\s+|was\s+)?(?:retained|completed|followed|lost|withdrew|dropped|remained|attended|adherent|enrolled|recruited))",
    re.I,
)
# Words that make a mean ± SD or a percentage descriptive rather than a result.
DESCRIPTIVE = guarded(re.compile(
    # "49 women" describes a sample; "in women and −1.2 days in men" names a subgroup's result
    r"\b(?:age[ds]?|years? old|aged|BMI|body mass|height|weight|female|male|(?<=\d\s)(?:women|men)|"
    r"disease duration|history|(?<!from )(?<!since )(?<!over )(?<!to )(?<!for )baseline|prevalence|reported comorbid|comorbid)\b",
    re.I,
))
# Harms are reported, but they are not the effect on headache this table tracks.
SAFETY = guarded(re.compile(r"\badverse (?:events?|effects?|reactions?)|\bside[- ]effects?|\bcomplications?\b|\bbruising\b|\bsoreness\b|\bdrowsiness\b|\bdry mouth\b|\bnausea\b|\bdizziness\b|\bweakness\b|\btransient\b|\bdiscontinued (?:because|due)\b", re.I))
# "0.5% lidocaine", "2% lidocaine gel": a concentration (but "45% with bupivacaine" is a group's share).
SUBSTANCE_AFTER = re.compile(r"^\s*(?:(?!(?:with|in|on|after|among|and|or|vs|versus)\b)[a-z]+\s+)?(?:lidocaine|lignocaine|saline|nacl|bupivacaine|procaine|gel|solution|cream|ethanol|dextrose|glucose|botulinum|w/v|v/v)\b", re.I)
TIME_POINT = guarded(re.compile(
    r"\b(?:at|after|by)\s+(?:the\s+)?(?:week|month|day)\s+\d+\b|"
    r"\bat\s+\d+(?:[- ](?:weeks?|months?|days?))\b|"
    r"\b\d+[- ](?:weeks?|months?|days?)\s+(?:follow-up|after)\b|"
    r"\b(?:immediately after (?:treatment|needling)|short[- ]term|mid[- ]term|medium[- ]term|long[- ]term|post-?treatment|at follow-up|at discharge)\b",
    re.I,
))
COMPARISON = guarded(re.compile(
    r"\b(?:compared (?:with|to)|versus|vs\.?|against|than)\s+(?P<what>[^,;.()\[\]]{3,60})",
    re.I,
))

# Read over every result sentence with digits, most of which lack a word one of them
# needs ("from", "by", "%"): each is run only where it can match (text.Checked: the
# same matches). Not the patterns that are cheaper to run than to check.
_IN_SENTENCE = {p: Checked(p) for p in (FROM_TO_PM, CHANGED_FROM_TO, FROM_TO_PLAIN, BY_ONLY, BY_PAIR, BY_WITH_PAIR, VS_PAIR,
                                        PERCENT_RE)}


def _scan(pattern: re.Pattern, text: str) -> Iterator[re.Match]:
    """pattern.finditer(text), checked first where _IN_SENTENCE says so."""
    return _IN_SENTENCE.get(pattern, pattern).finditer(text)


@dataclass
class Effect:
    outcome: str
    measure: str
    value: float
    ci_low: float | None
    ci_high: float | None
    p_value: str | None
    time_point: str | None
    comparison: str | None
    sentence: str
    sentence_start: int
    sentence_end: int
    value_text: str  # the estimate as written, e.g. "SMD −0.82 (95% CI −1.20 to −0.44)"
    value_start: int  # offset of value_text in the abstract
    # between_groups (a difference between groups: MD, SMD, RR, OR, "3 fewer days
    # than sham"), within_group (a change in one arm: "fell by 2.1"), arm (one
    # group's value: a mean, "to B" of "from A to B", a percentage of a group),
    # None for correlations and agreement statistics (r, φ, ICC).
    level: str | None = None


def normalise_p(op: str | None, value: str) -> str:
    """A p-value captured as operator and number, in the one form the evaluator
    compares too (vocab.normalise_p): '<', '.001' → '<0.001'; '≤' → '<=';
    no operator → '='; '0.050' → '0.05'."""
    return vocab.normalise_p(f"{op or ''}{value}")


def find_effects(abstract: str) -> list[Effect]:
    """Every numeric effect the abstract reports, each with its sentence and offsets."""
    text = decimal_points(abstract)
    if text is abstract:
        return _find_effects(abstract)
    # Read with decimal points; quote the words as the abstract writes them (same offsets).
    return [
        replace(e, sentence=abstract[e.sentence_start : e.sentence_end],
                value_text=abstract[e.value_start : e.value_start + len(e.value_text)])
        for e in _find_effects(text)
    ]


# A decimal comma ("1,4 points", "p = 0,001"), never a thousands separator ("1,200").
DECIMAL_COMMA = re.compile(r"(?<![\d,.])(?:0|[1-9]\d{0,2}),\d{1,2}(?![\d,])|(?<![\d,.])0,\d+(?![\d,])")
DECIMAL_POINT = re.compile(r"\d\.\d")


def decimal_points(abstract: str) -> str:
    """The abstract with its decimal commas written as points, where it writes every
    decimal with a comma (two or more, and no decimal point); else the abstract itself.
    The length is unchanged, so every offset read from the result holds for the abstract."""
    if DECIMAL_POINT.search(abstract):
        return abstract
    commas = list(DECIMAL_COMMA.finditer(abstract))
    if len(commas) < 2:
        return abstract
    chars = list(abstract)
    for m in commas:
        chars[m.start() + m.group(0).index(",")] = "."
    return "".join(chars)


def _find_effects(abstract: str) -> list[Effect]:
    RULES.forget()  # matches are remembered per sentence, for one abstract at a time
    effects: list[Effect] = []
    painful = bool(HEADACHE_WORD.search(abstract))
    split = sentences(abstract)
    responder = _responder_outcome(split, painful)
    # A result sentence that names no outcome ("Clinically important improvement
    # occurred in 71% ...") before any other did is about the primary outcome.
    context = _primary_outcome(split, painful) or responder
    for s in split:
        if s.is_preamble:
            continue
        found = _sentence_effects(s, context, painful)
        if responder and found and _only_responders(s.text, painful):
            # "Responders were 58% vs 31%", where a responder was defined by headache
            # intensity: the outcome is intensity, not the frequency "responder" suggests.
            found = [replace(e, outcome=responder) if e.outcome == "frequency" else e for e in found]
        effects.extend(found)
        named = [kind for _, _, kind in outcome_spans(s.text, painful) if kind != "other"]
        if named:
            context = named[-1]
    return effects


# "A responder was defined as a reduction of at least 30% in headache intensity",
# "Clinically important improvement was defined as ...".
RESPONDER_DEFINED = re.compile(
    r"\b(?:respon\w*|improvement|success|relapse|remission)\b[^.;]{0,60}?\b(?:defined|classified|counted)\s+(?:as|by)\b"
    r"(?P<rest>[^.;]*)",
    re.IGNORECASE,
)
RESPONDER_WORD = re.compile(r"respon", re.IGNORECASE)


def _responder_outcome(split: list[Sentence], painful: bool) -> str | None:
    """The outcome that defines a responder, where the abstract says so."""
    for s in split:
        m = RESPONDER_DEFINED.search(s.text)
        if m:
            rest = m.group("rest")
            kinds = [k for a, b, k in outcome_spans(rest, painful) if k != "other" and not RESPONDER_WORD.search(rest[a:b])]
            if kinds:
                return kinds[0]
    return None


PRIMARY = re.compile(r"\bprimary\s+(?:outcomes?|end\s?points?|measures?)\b(?P<rest>[^.;]*)", re.IGNORECASE)


def _primary_outcome(split: list[Sentence], painful: bool) -> str | None:
    """The outcome the methods name as primary, if they do."""
    for s in split:
        m = PRIMARY.search(s.text) if s.is_preamble or not s.section else None
        if m:
            kinds = [k for _, _, k in outcome_spans(m.group("rest"), painful) if k != "other"]
            if kinds:
                return kinds[0]
    return None


# "… (adjusted OR 1.89 …) and needed fewer visits (mean 7.2 vs 8.9)": a clause with a
# verb of its own speaks of its own outcome, not of the one named before it.
OWN_CLAUSE = re.compile(
    r"(?:,\s*|\s)and\s+(?:also\s+)?(?:needed|had|required|used|took|made|attended|missed|returned|received)\b", re.IGNORECASE
)


def _outcome(text: str, pos: int, context: str | None, painful: bool) -> str:
    """The outcome a number at `pos` belongs to, read in its own clause where it has one."""
    starts = [m.end() for m in OWN_CLAUSE.finditer(text, 0, pos)]
    if starts:
        cs = starts[-1]
        return outcome_at(text[cs:], pos - cs, default="other", painful=painful) or "other"
    return outcome_at(text, pos, default=context or "other", painful=painful) or "other"


def _only_responders(text: str, painful: bool) -> bool:
    """True if the sentence's only frequency words are responder words."""
    spans = [text[a:b] for a, b, k in outcome_spans(text, painful) if k == "frequency"]
    return bool(spans) and all(RESPONDER_WORD.search(w) for w in spans)


def _sentence_effects(s: Sentence, context_outcome: str | None = None, painful: bool = False) -> list[Effect]:
    """The effects of one sentence; `context_outcome` is the outcome the previous
    result sentences were about, for a sentence that names none ("Verum was
    superior to sham (MD -1.2 days ...)" after "Migraine days decreased ...")."""
    text = s.text
    if not _has_digit(text) and not _WORD_CHANGE.search(text):
        return []  # every effect is a number written in digits, or a change in words
    taken: list[tuple[int, int]] = []  # spans already read, so a number is used once
    found: list[tuple[int, Effect]] = []
    marks: list[re.Match] | None = None  # the sentence's time points and comparison, read at its first effect
    comparison: str | None = None

    def free(a: int, b: int) -> bool:
        return all(b <= x or a >= y for x, y in taken)

    def thresholds() -> list[tuple[int, int]]:
        return [(h.start, h.end) for h in RULES.find("threshold", text)]  # remembered per text by the engine

    def add(pos: int, end: int, measure: str, value_m: re.Match | str, value: float,
            lo: float | None, hi: float | None, tail_from: int, p: str | None = None,
            level: str | None = "arm") -> None:
        nonlocal marks, comparison
        taken.append((pos, end))
        if lo is None and any(x <= pos < y for x, y in thresholds()):
            return  # "50% responders", "a reduction of at least 30%": who counts as a responder, not a result
        p = p or _p_after(text, tail_from)
        if marks is None:
            marks, comparison = list(TIME_POINT.finditer(text)), _comparison(text)
        value_at = value_m.start("v") if isinstance(value_m, re.Match) and "v" in value_m.re.groupindex else pos
        found.append((pos, Effect(
            outcome=_outcome(text, max(pos, value_at), context_outcome, painful),
            measure=measure,
            value=value,
            ci_low=lo,
            ci_high=hi,
            p_value=p,
            time_point=_time_point(text, pos, marks),
            comparison=comparison,
            sentence=text,
            sentence_start=s.start,
            sentence_end=s.end,
            value_text=text[pos:end],
            value_start=s.start + pos,
            level=level,
        )))

    # 1. Named estimates, with their CI and p.
    for m in MEASURE_RE.finditer(text):
        measure = next(MEASURE_NAMES[int(k[1:])][1] for k, v in m.groupdict().items() if v)
        vm = VALUE_AFTER_NAME.match(text, m.end())
        if not vm or not free(m.start(), vm.end()):
            continue
        if ETA_SQUARED.search(m.group(0)):
            taken.append((m.start(), vm.end()))  # read, so its number is not taken for another result
            continue
        if m.group(0).lower().startswith("differ") and DESCRIPTIVE.search(_clause(text, m.start())):
            continue  # "the difference in mean age was 4 years": a baseline, not an effect
        after_value = _UNIT_RE.match(text[vm.end():]).end()
        ci = CI_RE.match(text, vm.end() + after_value) or BARE_CI.match(text, vm.end() + after_value)
        lo = hi = None
        end = vm.end() + after_value
        if ci:
            lo, hi = to_float(ci.group("lo")), to_float(ci.group("hi"))
            end = ci.end()
        else:  # "(difference 2.1 points, 0.6 to 3.6)": an interval rule reads the pair after the comma
            iv = next((iv for iv in RULES.find("interval", text, end)
                       if iv.rule.id == "interval.after_value_in_brackets" and text[end:iv.start].strip() in (",", ";")), None)
            if iv is not None:
                bounds = to_float(iv.group("lo")), to_float(iv.group("hi"))
                if min(bounds) <= to_float(vm.group("v")) <= max(bounds):  # an interval around this value
                    (lo, hi), end = bounds, iv.end
        add(m.start(), end, measure, vm, to_float(vm.group("v")), lo, hi, end, p=_p_in_ci(ci),
            level=None if CORRELATION.fullmatch(m.group(0)) else "between_groups")

    # 1b. Any interval marks an estimate: the number before it is the value, and the
    #     words before that say what it is (see _estimate_kind).
    for iv in RULES.find("interval", text):
        if not free(iv.start, iv.end):
            continue  # already read with a named estimate
        lead = len(text[: iv.start].rstrip(" ;,"))  # "(2.9 points; 95% CI ...)": the ";" is the interval's own
        seg = _segment_start(text, lead, taken)
        v = _value_before(text, seg, lead, free)
        if v is None or DESCRIPTIVE.search(text[seg:lead]):
            continue  # no number, or an age, a baseline or a description, not a result
        value, lo, hi = to_float(v.group("v")), to_float(iv.group("lo")), to_float(iv.group("hi"))
        if not (min(lo, hi) <= value <= max(lo, hi)
                or (min(lo, hi) <= -value <= max(lo, hi) and _DOWNWARD.search(text[seg:lead]))):
            continue  # the number before is not what the interval is around (nor, written unsigned, its fall)
        if iv.rule.id != "interval.named" and v.end() + 12 < iv.start and not _is_difference(text, seg, iv.start, v):
            continue  # a bare pair far from its number counts only after a difference wording
        measure, level = _estimate_kind(text, seg, v, iv.start, found)
        p = normalise_p(iv.group("p_op"), iv.group("p_v")) if iv.group("p_v") else None
        add(v.start("v"), iv.end, measure, v, value, lo, hi, iv.end, p=p, level=level)

    # 1c. A difference written in words with a test's p right after it ("2.3 fewer
    #     days than sham, a difference with a p-value of 0.03"; "the mean advantage
    #     was 9.6 points (P = .04)") is an estimate too.
    for d in RULES.find("difference_value", text):
        a, b = d.span("v")
        if not free(a, b) or DESCRIPTIVE.search(_clause(text, a)):
            continue
        # (the p may stand inside the wording: "2.0 fewer days (P = 0.03) than the other group")
        p = _p_after(text, b, reach=120) or _p_after(text, d.end, reach=120)
        if p:
            add(a, b, "MD", d.match, to_float(d.group("v")), None, None, d.end, p=p, level="between_groups")

    # 2. "from A ± a to B ± b": the value after treatment.
    for m in _scan(FROM_TO_PM, text):
        clause = _clause(text, m.start())
        if free(m.start(), m.end()) and not DESCRIPTIVE.search(clause) and not SAFETY.search(clause):
            add(m.start(), m.end(), "other", m, to_float(m.group("b")), None, None, m.end())

    # 3. Group means ± SD that are results (not ages or baseline descriptions).
    for m in PM_RE.finditer(text):
        if not free(m.start(), m.end()):
            continue
        if DESCRIPTIVE.search(text[max(0, m.start() - 80) : m.end() + 25]) or SAFETY.search(_clause(text, m.start())):
            continue
        add(m.start(), m.end(), "other", m, to_float(m.group("v")), None, None, m.end(), level=_group_level(text, m.start()))

    # 2a. "improved from 64 to 49" after a change verb, and "(group: 8.4 to 4.9; ...)" in a
    #     sentence that says things changed: the value after treatment.
    for pattern in (CHANGED_FROM_TO, COLON_FROM_TO, ELIDED_FROM_TO):
        for m in _scan(pattern, text):
            if pattern is not CHANGED_FROM_TO and not CHANGE_VERB.search(text[max(0, m.start() - 120) : m.start()]):
                continue
            clause = _clause(text, m.start())
            if free(m.start("b"), m.end("b")) and not DESCRIPTIVE.search(clause) and not SAFETY.search(clause):
                add(m.start("b"), m.end("b"), "other", m, to_float(m.group("b")), None, None, m.end())

    # 2b. "from 10.4 to 6.1 days per month" (no SD), the value after treatment.
    for m in _scan(FROM_TO_PLAIN, text):
        clause = _clause(text, m.start())
        if free(m.start(), m.end()) and not DESCRIPTIVE.search(clause) and not SAFETY.search(clause):
            add(m.start("b"), m.end(), "other", m, to_float(m.group("b")), None, None, m.end())

    # 4. Changes "by N points" (including "score by 28 points" after a first change
    #    verb), the other arm's change written after it, and an interval if one follows.
    for pattern in (BY_CHANGE, BY_ONLY):
        for m in _scan(pattern, text):
            if _OR_MORE_AFTER.match(text[m.end():]):
                continue  # a threshold: "reduced by 50% or more in 12 patients"
            clause = _clause(text, m.start())
            if SAFETY.search(clause) or DESCRIPTIVE.search(clause):
                continue
            if pattern is BY_ONLY and not CHANGE_VERB.search(text[max(0, m.start() - 80) : m.start()]):
                continue  # "reported by 6% of the group" is not a change
            if free(m.start("v"), m.end()):
                ci = CI_RE.match(text, m.end())
                lo, hi, end = (to_float(ci.group("lo")), to_float(ci.group("hi")), ci.end()) if ci else (None, None, m.end())
                add(m.start("v"), end, "other", m, to_float(m.group("v")), lo, hi, end, p=_p_in_ci(ci),
                    level="within_group")
                tail = VERSUS_CHANGE.match(text, end)
                if tail and free(tail.start("v"), tail.end()):
                    add(tail.start("v"), tail.end(), "other", tail, to_float(tail.group("v")), None, None, tail.end(),
                        level="within_group")

    # 4a. Two arms' changes written as a pair: "fell by 4.4 and 4.9 days", "by 2.1 with
    #     BoNT-A and 1.6 with saline" (a change verb must come first: "reduced", "fell").
    for pattern in (BY_LIST, BY_PAIR, BY_WITH_PAIR, BY_ARM_PAIR):
        for m in _scan(pattern, text):
            clause = _clause(text, m.start())
            if SAFETY.search(clause) or DESCRIPTIVE.search(clause) \
                    or not CHANGE_VERB.search(text[max(0, m.start() - 80) : m.start() + 3]):
                continue
            # One arm's change at several times, said against the other arm, is a difference between groups.
            between = pattern is BY_LIST and bool(COMPARED_FIRST.search(clause))
            for name in [n for n in ("v", "v2", "v3") if n in m.re.groupindex]:
                if free(m.start(name), m.end(name)):
                    add(m.start(name), m.end(name), "MD" if between else "other", m, to_float(m.group(name)), None,
                        None, m.end(), level="between_groups" if between else "within_group")

    def groups_result(m: re.Match) -> bool:
        """Groups' values side by side that are results: unread, not a description or a harm."""
        return free(m.start(), m.end()) and not DESCRIPTIVE.search(_window(text, m.start(), m.end())) \
            and not SAFETY.search(_clause(text, m.start()))

    # 4b. "8.2 (deep), 11.0 (superficial) and 13.4 (sham)": each named group's value.
    for m in LABELLED_LIST.finditer(text):
        if groups_result(m):
            for item in LABELLED_ITEM.finditer(text, m.start(), m.end()):
                add(item.start("v"), item.end(), "other", item, to_float(item.group("v")), None, None, item.end())

    # 4b. "migraine days 10.4 → 6.1": the value after, as for "from A to B".
    for m in ARROW.finditer(text):
        clause = _clause(text, m.start())
        if free(m.start(), m.end()) and not DESCRIPTIVE.search(clause) and not SAFETY.search(clause):
            add(m.start("b"), m.end("b"), "other", m, to_float(m.group("b")), None, None, m.end())

    # 4b. Both arms' results: "3 (IQR 2–5) versus 4 (IQR 3–5)" (medians first, or the pairs
    #     would read "5) versus 4"), then "(10.3 vs 13.1 days)".
    for m in [*MEDIAN_PAIR.finditer(text), *_scan(VS_PAIR, text)]:
        if groups_result(m):
            add(m.start("a"), m.end("a"), "other", m, to_float(m.group("a")), None, None, m.end())
            add(m.start("b"), m.end(), "other", m, to_float(m.group("b")), None, None, m.end())

    # 4c. One group's result without a spread, next to its group ("58.9 in the needling
    #     group", "3.9 and 4.2, respectively"), in a clause that names an outcome.
    times = [(h.start, h.end) for h in RULES.find("not_a_value", text)]
    for m in RULES.find("arm_value", text):
        clause = _clause(text, m.start)
        if DESCRIPTIVE.search(clause) or SAFETY.search(clause) or COUNTS.search(clause):
            continue
        for name in ("v", "v2"):
            a, b = m.span(name) if m.group(name) else (-1, -1)
            if a < 0 or not free(a, b) or any(x <= a < y for x, y in times) \
                    or outcome_at(text, a, default=None, painful=painful) is None:
                continue
            add(a, b, "other", m.match, to_float(m.group(name)), None, None, b, level=_group_level(text, a))

    # 5. Percentages of a group that are results.
    for m in _scan(PERCENT_RE, text):
        if not free(m.start(), m.end()) or _percent_is_not_a_result(text, m):
            continue
        add(m.start(), m.end(), "other", m, to_float(m.group("v")), None, None, m.end(), level=_group_level(text, m.start(), m.end()))

    found.sort(key=lambda item: item[0])
    return [e for _, e in found]


# A number as the value of an estimate: not inside a word ("HIT-6"), a ratio ("3/10") or a longer number.
VALUE = guarded(re.compile(r"(?<![\w.·/\-−–])(?P<v>(?:[-−–]\s?)?\d+(?:[.·]\d+)?)(?![\d/]|[.·]\d)"))
VALUE_REACH = 130  # characters from a value to its interval, at most
# Sample counts, not results: "30 in the needling group" after "randomized".
COUNTS = re.compile(r"\b(?:randomi[sz]ed|allocated|assigned|enrolled|completed|dropped out|withdrew|lost to|recruited|included)\b", re.I)
CORRELATION = guarded(re.compile(r"φ|\bphi\b|(?<![A-Za-z])r|ICC", re.I))


_ASCII_DIGIT = re.compile(r"[0-9]")
_WORD_CHANGE = re.compile(rf"\bfrom\s+{_WORDN}\s+to\s+{_WORDN}|\bby\s+{_WORDN}")


def _has_digit(text: str) -> bool:
    """Any character str.isdigit() accepts (superscripts too), ASCII ones found first."""
    return bool(_ASCII_DIGIT.search(text)) or (not text.isascii() and any(c.isdigit() for c in text))


# The small patterns of the helpers below, compiled once (re.search(text, ...) looks
# each up in re's cache on every call, and they are called for every number).
_CHANGE = r"\b(?:changed|fell|dropped|decreased|declined|improved|increased|rose|reduced|lowered|diminished)\b"
_TO_BEFORE = re.compile(r"\bto\s*$")
_CHANGE_BEFORE = re.compile(rf"(?:{_CHANGE}|\bby)\s+(?:a (?:mean|median) of\s+|an average of\s+)?$", re.I)
_CHANGE_IN_CLAUSE = re.compile(rf"{_CHANGE}\s+(?:by\s+)?(?:a (?:mean|median) of\s+)?[\d.]", re.I)
_THRESHOLD_BEFORE = re.compile(r"(?:least|more than|over|under|up to|by|≥|>=|>|≤|<=|<)\s*(?:an?\s+)?$", re.I)
_BY_BEFORE = re.compile(r"\bby\s*$", re.I)
# A fall written without its sign ("fell by 1.1 (95% CI −3.1 to 0.9)"): the interval is the signed change's.
_DOWNWARD = re.compile(r"\b(?:fell|dropped|decreased|declined|reduced|lowered|diminished|fewer|less|lower|smaller)\b", re.I)
# "a 99.8% posterior probability that …", "probability of superiority 96%", "P(benefit) = 97%".
_PROBABILITY_NEAR = re.compile(r"\bprobabilit(?:y|ies)\b[^.;,()]{0,30}$|\bP\s*\([^)]{1,30}\)\s*[=:]?\s*$", re.I)
_PROBABILITY_AFTER = re.compile(r"\s*(?:posterior\s+|predictive\s+)?probabilit(?:y|ies)\b", re.I)
# "(94% of studies)", "in 71% of the included trials": how many studies of a review, not a result.
_STUDIES_AFTER = re.compile(r"\s+of\s+(?:the\s+)?(?:(?:included|eligible|\w+)\s+){0,2}(?:studies|trials|reviews|RCTs|articles|papers)\b", re.I)
_SHARE_AFTER = re.compile(_SHARE_OF, re.I)
_OR_MORE_AFTER = re.compile(r"\s*or (?:more|greater|higher)\b", re.I)
_I2_BEFORE = re.compile(r"\bI\s*(?:2|²|\^2)\s*[=:]?\s*$")
_RANKING_BEFORE = re.compile(r"\b(?:SUCRA|P-score)\s*[=:]?\s*$")
_INTERVAL_AFTER = re.compile(r"\s*(?:CrI|CI|confidence|credible)", re.I)
_COUNT_BEFORE = re.compile(r"\bn\s*=\s*\d+\s*/\s*\d+\s*,\s*$|\(\s*$")
_CLOSE_AFTER = re.compile(r"\s*\)")
_CLAUSE_STOP = re.compile(r";(?!\s*[Pp]\b)|\b(?:and|while|whereas|but)\b\s+(?![Pp]\b)")
_DIGIT = re.compile(r"\d")
_UNIT_RE = re.compile(UNIT)


def _group_level(text: str, pos: int, end: int | None = None) -> str:
    """A group's figure at `pos` (ending at `end`) is a change within it ("fell by 3.2
    (SD 2.9)", "reduced 58%", "decreased by 52.4% with DN, 41.0% with LLLT") or its
    value ("fell to 3.9", "achieved by 41% of the needling group")."""
    before = text[max(0, pos - 30) : pos]
    if _TO_BEFORE.search(before) or (end is not None and _BY_BEFORE.search(before) and _SHARE_AFTER.match(text, end)):
        return "arm"
    if _CHANGE_BEFORE.search(before):
        return "within_group"
    clause = text[max(text.rfind(";", 0, pos), text.rfind(":", 0, pos)) + 1 : pos]
    return "within_group" if _CHANGE_IN_CLAUSE.search(clause) else "arm"


def _segment_start(text: str, pos: int, taken: list[tuple[int, int]]) -> int:
    """Where the words about the estimate at `pos` begin: after the previous estimate
    read in the sentence, or the clause start (";"), whichever is later."""
    ends = [b for a, b in taken if b <= pos]
    return max([text.rfind(";", 0, pos) + 1, *ends])


def _value_before(text: str, seg: int, pos: int, free) -> re.Match | None:
    """The nearest number before `pos` (within the segment) that is not a time point."""
    start = max(seg, pos - VALUE_REACH)
    skip = [(h.start, h.end) for h in RULES.find("not_a_value", text, start, pos)]
    candidates = [
        m for m in VALUE.finditer(text, start, pos)
        if free(m.start("v"), m.end("v")) and all(not (a <= m.start("v") < b) for a, b in skip)
    ]
    return candidates[-1] if candidates else None


def _is_difference(text: str, seg: int, pos: int, v: re.Match) -> bool:
    return any(d.span("v")[0] == v.start("v") for d in RULES.find("difference_value", text, seg, pos)) \
        or bool(RULES.find("between_cue", text, seg, pos))


def _estimate_kind(text: str, seg: int, v: re.Match, pos: int, found: list) -> tuple[str, str | None]:
    """(measure, level) of the value before an interval: a difference wording makes it
    a between-group MD; otherwise it continues the previous estimate of the sentence
    (or the estimate named before it); a change verb makes it a change in one group."""
    if _is_difference(text, seg, pos, v):
        return "MD", "between_groups"
    before = [e for at, e in found if at < v.start()]
    if before:
        return before[-1].measure, before[-1].level
    named = list(MEASURE_RE.finditer(text, 0, v.start()))
    if named:
        return next(MEASURE_NAMES[int(k[1:])][1] for k, x in named[-1].groupdict().items() if x), "between_groups"
    if RULES.find("within_cue", text, seg, pos):
        return "other", "within_group"
    return "other", "arm"


def _p_in_ci(ci: re.Match | None) -> str | None:
    """A p-value written inside the interval's brackets: "(95% CI -1.6 to 0.8; p = 0.49)"."""
    if ci and ci.group("p_v"):
        return normalise_p(ci.group("p_op"), ci.group("p_v"))
    return None


def _percent_is_not_a_result(text: str, m: re.Match) -> bool:
    before = text[max(0, m.start() - 30) : m.start()]
    after = text[m.end() : m.end() + 40]
    if (_THRESHOLD_BEFORE.search(before) and not (_BY_BEFORE.search(before) and _SHARE_AFTER.match(after))) \
            or _OR_MORE_AFTER.match(after):
        return True  # responder thresholds ("at least 50%", "50% or more"), changes read above
    if re.search(r"\bfrom\s*$", before, re.I) and re.match(r"\s*to\s+[-−–]?\d", after, re.I):
        return True  # "from 28% to 8%": the value before treatment; the one after is the result
    if _I2_BEFORE.search(before):
        return True  # heterogeneity of a meta-analysis, not an effect
    if _RANKING_BEFORE.search(before):
        return True  # a network meta-analysis's ranking, not an effect
    if _INTERVAL_AFTER.match(after):
        return True  # the level of an interval: "95% CI"
    if _PROBABILITY_NEAR.search(before) or _PROBABILITY_AFTER.match(after):
        return True  # a Bayesian trial's probability of benefit, not an effect
    if _STUDIES_AFTER.match(after):
        return True  # a review's share of its studies ("pain intensity (94% of studies)")
    if _COUNT_BEFORE.search(before) and _CLOSE_AFTER.match(after) and "n =" in before:
        return True
    if SUBSTANCE_AFTER.match(after):
        return True  # a concentration: "0.5% lidocaine"
    if DESCRIPTIVE.search(_clause(text, m.start())) or SAFETY.search(_clause(text, m.start())):
        return True
    # A percentage is a result where its sentence names an outcome, or where it is
    # the share of a group ("68.2% of the needling group", "34.4% vs. 31.1% of weeks").
    if GROUP_SHARE.match(text, m.end()):
        return False
    return outcome_at(text, m.start(), default=None) is None


def _p_after(text: str, start: int, reach: int = 60) -> str | None:
    """The p-value written right after an estimate (within `reach` characters), before
    the next estimate or clause end."""
    window = text[start : start + reach]
    # Stop at the next clause, but not at "; p < 0.001" which still belongs to the estimate.
    stop = _CLAUSE_STOP.search(window)
    if stop:
        window = window[: stop.start()]
    m = P_RE.search(window)
    # The p-value belongs to this number only if no other number comes between them.
    if not m or _DIGIT.search(window[: m.start()]):
        return None
    return normalise_p(m.group("op"), m.group("pv"))


def _clause(text: str, pos: int) -> str:
    """The clause around `pos`: from the previous ';' or sentence start to the next."""
    a = max(text.rfind(";", 0, pos), text.rfind(":", 0, pos)) + 1
    b = text.find(";", pos)
    return text[a : b if b >= 0 else len(text)]


def _window(text: str, a: int, b: int) -> str:
    """The words around a span, within its clause: in "baseline 8.4 vs 8.1; at 4 weeks:
    6.2 vs 7.5" the second pair is not a baseline."""
    start, end = max(0, a - 40), min(len(text), b + 25)
    before, after = text.rfind(";", start, a), text.find(";", b, end)
    return text[before + 1 if before >= 0 else start : after if after >= 0 else end]


def _time_point(text: str, pos: int, marks: list[re.Match] | None = None) -> str | None:
    """The time point in the number's clause, else the nearest written before it, else
    after. `marks`: the text's TIME_POINT matches, if the caller has them already."""
    clause_start = max(text.rfind(";", 0, pos), 0)
    clause_end = text.find(";", pos)
    clause_end = len(text) if clause_end < 0 else clause_end
    if marks is None:
        marks = list(TIME_POINT.finditer(text))
    inside = [m for m in marks if clause_start <= m.start() < clause_end]
    if inside:
        return min(inside, key=lambda m: abs(m.start() - pos)).group(0)
    before = [m for m in marks if m.start() <= pos]
    if before:
        return before[-1].group(0)
    return marks[0].group(0) if marks else None


def _comparison(text: str) -> str | None:
    m = COMPARISON.search(text)
    return m.group(0).strip() if m else None
