"""Numeric effects in an abstract: estimate, confidence interval, p-value, and the
sentence each came from.

General rules for how abstracts write results, not rules for particular
sentences:

- a named estimate (SMD, MD, WMD, OR, RR, Cohen's d, η², φ, "effect size",
  "mean difference", ...) followed by its value, optionally a unit, a 95% CI in
  any of the usual notations, and a p-value;
- a group result written as mean ± SD (for "from A ± a to B ± b", the value
  after treatment), a change "by N points/days", or a percentage of a group;
- only in sentences that report findings (not background, aims or methods),
  and never ages, baseline descriptions, concentrations or sample counts.

Every number returned is read from the text; nothing is computed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import NUM, Sentence, sentences, to_float
from .terms import outcome_at, outcome_spans

_N = rf"(?:{NUM})"
# The estimate's name → measure vocabulary. Longer names first.
# Abbreviations are matched case-sensitively ("OR" is not "or"); names in words are not.
MEASURE_NAMES: list[tuple[str, str]] = [
    (r"standardi[sz]ed mean differences?|(?-i:\bSMDs?\b)|hedges'? ?g\b", "SMD"),
    (r"weighted mean differences?|(?-i:\bWMDs?\b)", "WMD"),
    (r"(?:(?:paired|adjusted|between-group|absolute|mean)\s+)+differences?|mean differences?|(?-i:\bMDs?\b)|difference in means|\bdifferences?(?=\s+(?:in\s+(?:[\w-]+\s+){1,4}?)?(?:of|was|=)\s*[-−–]?\d)", "MD"),
    (r"(?:adjusted )?odds ratios?|(?-i:\ba?ORs?(?:Q\d|adj)?\b)", "OR"),
    (r"risk ratios?|relative risks?|rate ratios?|(?-i:\ba?RRs?\b)", "RR"),
    (r"effect sizes?\s*\(cohen'?s d\)|cohen'?s d|effect sizes?|(?-i:\bES\b)|(?<![A-Za-z])d(?=\s*[=:])", "d"),
    (r"partial\s*η\s*[2²]|η\s*[2²]|eta[- ]squared|partial eta[- ]squared", "other"),
    (r"φ|\bphi\b|hazard ratios?|(?-i:\ba?HRs?\b)|(?<![A-Za-z])r(?=\s*=)|(?-i:\bICC\b)", "other"),
]
MEASURE_RE = re.compile("|".join(f"(?P<m{i}>{p})" for i, (p, _) in enumerate(MEASURE_NAMES)), re.I)
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
CI_RE = re.compile(
    rf"""[\s,;]*(?:(?P<outer>[(\[])\s*)?(?:95\s*%\s*)?(?:CI|confidence\s+intervals?|c\.i\.)\s*(?:\[CI\]|\(CI\))?\s*[,:=]?\s*(?P<open>[\[(])?\s*
    (?P<lo>{_N}){UNIT}\s*(?:to|,|;|–|—|-|and)\s*(?P<hi>{_N}){UNIT}\s*(?:[;,]\s*[Pp]\s*(?P<p_op><=|>=|≤|≥|<|>|=)\s*(?P<p_v>0?[.·]\d+|\d(?:[.·]\d+)?))?
    \s*(?(open)[\])])\s*(?(outer)[\])])""",
    re.I | re.X,
)
# An interval written without "CI" right after a named estimate: "RR 1.45 (1.10–1.91)".
BARE_CI = re.compile(
    rf"\s*[(\[]\s*(?P<lo>{_N})\s*(?:–|—|-|to|,|;)\s*(?P<hi>{_N})\s*(?P<p_op>)(?P<p_v>)[)\]]"
)
P_RE = re.compile(
    r"\bp(?:\s*-?\s*(?:values?|trend|for trend|interaction))?\s*(?:(?P<op><=|>=|≤|≥|<|>|=)|(?P<of>\bof\b|\bwas\b))\s*(?P<pv>0?[.·]\d+|\d(?:[.·]\d+)?(?:\s*[x×]\s*10\s*\^?\s*[-−]\s*\d+)?)",
    re.I,
)
# A spread written after a mean: "± 1.1", "+/- 1.1", "± SD 1.1" or "(SD 1.1)".
# A bare bracket counts only with a decimal in it ("3.9 (2.1)"): "(4)" is too often something else.
_SPREAD = (
    r"(?:\s*(?:±|\+/-|\+-)\s*(?:SD\s*)?\d+(?:[.·]\d+)?|\s*\(\s*SD\s*[=:]?\s*\d+(?:[.·]\d+)?\s*\)"
    r"|\s*\(\s*\d+[.·]\d+\s*\)(?!\s*%))"
)
PM_RE = re.compile(rf"(?P<v>{_N}){_SPREAD}")
FROM_TO_PM = re.compile(rf"\bfrom\s+(?P<a>{_N}){_SPREAD}\s*(?:\w+\s+)?to\s+(?P<b>{_N}){_SPREAD}")
CHANGE_VERB = re.compile(r"\b(?:changed|fell|dropped|decreased|declined|improved|increased|rose|reduced|lowered|diminished)\b", re.I)
_CHANGE_UNITS = r"points?|days?|%|percent|mm|cm|degrees?|°|kPa|kg/cm²|kg/cm2|N/cm2|attacks?|hours?"
BY_CHANGE = re.compile(rf"\b(?:changed|fell|dropped|decreased|declined|improved|increased|rose|reduced|lowered|diminished)\s+(?:by\s+)?(?:a mean of\s+|an average of\s+)?(?P<v>\d+(?:[.·]\d+)?)\s*(?P<u>{_CHANGE_UNITS})(?![\w±])")
BY_ONLY = re.compile(rf"\bby\s+(?P<v>\d+(?:[.·]\d+)?)\s*(?P<u>{_CHANGE_UNITS})(?![\w])")
# "... by 12 points with needling versus 4 points with usual care": the second arm's change.
VERSUS_CHANGE = re.compile(rf"[^.;()\d]{{0,40}}?\b(?:versus|vs\.?|compared with|and)\s+(?:by\s+)?(?P<v>\d+(?:[.·]\d+)?)\s*(?P<u>{_CHANGE_UNITS})(?![\w])")
# "from 10.4 to 6.1 days per month": the value after treatment (a unit is required, so years are not read).
FROM_TO_PLAIN = re.compile(rf"\bfrom\s+(?P<a>{_N})\s+to\s+(?P<b>{_N})\s*(?P<u>{_CHANGE_UNITS}|/10\b)")
# "(10.3 vs 13.1 days)": two arms' results side by side.
# (Percentages are left to the percentage rules, which check they are results.)
_PAIR_UNITS = _CHANGE_UNITS.replace("%|percent|", "")
VS_PAIR = re.compile(rf"(?P<a>{_N})\s*(?P<ua>{_PAIR_UNITS})?\s+(?:vs\.?|versus)\s+(?P<b>{_N})\s*(?P<u>{_PAIR_UNITS})(?![\w])")
PERCENT_RE = re.compile(r"(?<![\w.])(?P<v>\d+(?:[.·]\d+)?)\s?%")
GROUP_SHARE = re.compile(
    r"(?:\s*(?:vs\.?|versus|and)\s*\d+(?:[.·]\d+)?\s?%)?\s+(?:of|in)\s+(?:the\s+)?(?:[\w-]+\s+){0,3}?"
    r"(?:patients|participants|people|subjects|group|arm|weeks|days|cases|responders|women|men)\b",
    re.I,
)
# Words that make a mean ± SD or a percentage descriptive rather than a result.
DESCRIPTIVE = re.compile(
    r"\b(?:age[ds]?|years? old|aged|BMI|body mass|height|weight|female|male|women|men|"
    r"disease duration|history|baseline|prevalence|reported comorbid|comorbid)\b",
    re.I,
)
# Harms are reported, but they are not the effect on headache this table tracks.
SAFETY = re.compile(r"\badverse (?:events?|effects?|reactions?)|\bside[- ]effects?|\bcomplications?\b|\bbruising\b|\bsoreness\b", re.I)
SUBSTANCE_AFTER = re.compile(r"^\s*(?:[a-z]+\s+)?(?:lidocaine|lignocaine|saline|nacl|bupivacaine|procaine|gel|solution|cream|ethanol|dextrose|glucose|botulinum|w/v|v/v)\b", re.I)
TIME_POINT = re.compile(
    r"\b(?:at|after|by)\s+(?:the\s+)?(?:week|month|day)\s+\d+\b|"
    r"\bat\s+\d+(?:[- ](?:weeks?|months?|days?))\b|"
    r"\b\d+[- ](?:weeks?|months?|days?)\s+(?:follow-up|after)\b|"
    r"\b(?:immediately after (?:treatment|needling)|short[- ]term|mid[- ]term|medium[- ]term|long[- ]term|post-?treatment|at follow-up|at discharge)\b",
    re.I,
)
COMPARISON = re.compile(
    r"\b(?:compared (?:with|to)|versus|vs\.?|against|than)\s+(?P<what>[^,;.()\[\]]{3,60})",
    re.I,
)


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


def normalise_p(op: str | None, value: str) -> str:
    """'<', '.001' → '<0.001'; '≤' → '<='; no operator → '='."""
    op = {"≤": "<=", "≥": ">=", None: "="}.get(op, op)
    v = value.replace("·", ".").replace("−", "-").replace(" ", "")
    if v.startswith("."):
        v = "0" + v
    return f"{op}{v}"


def find_effects(abstract: str) -> list[Effect]:
    """Every numeric effect the abstract reports, each with its sentence and offsets."""
    effects: list[Effect] = []
    context: str | None = None
    for s in sentences(abstract):
        if s.is_preamble:
            continue
        effects.extend(_sentence_effects(s, context))
        named = [kind for _, _, kind in outcome_spans(s.text) if kind != "other"]
        if named:
            context = named[-1]
    return effects


def _sentence_effects(s: Sentence, context_outcome: str | None = None) -> list[Effect]:
    """The effects of one sentence; `context_outcome` is the outcome the previous
    result sentences were about, for a sentence that names none ("Verum was
    superior to sham (MD -1.2 days ...)" after "Migraine days decreased ...")."""
    text = s.text
    taken: list[tuple[int, int]] = []  # spans already read, so a number is used once
    found: list[tuple[int, Effect]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= x or a >= y for x, y in taken)

    def add(pos: int, end: int, measure: str, value_m: re.Match | str, value: float,
            lo: float | None, hi: float | None, tail_from: int, p: str | None = None) -> None:
        p = p or _p_after(text, tail_from)
        taken.append((pos, end))
        value_at = value_m.start("v") if isinstance(value_m, re.Match) and "v" in value_m.re.groupindex else pos
        found.append((pos, Effect(
            outcome=outcome_at(text, max(pos, value_at), default=context_outcome or "other"),
            measure=measure,
            value=value,
            ci_low=lo,
            ci_high=hi,
            p_value=p,
            time_point=_time_point(text, pos),
            comparison=_comparison(text),
            sentence=text,
            sentence_start=s.start,
            sentence_end=s.end,
            value_text=text[pos:end],
            value_start=s.start + pos,
        )))

    # 1. Named estimates, with their CI and p.
    for m in MEASURE_RE.finditer(text):
        measure = next(MEASURE_NAMES[int(k[1:])][1] for k, v in m.groupdict().items() if v)
        vm = VALUE_AFTER_NAME.match(text, m.end())
        if not vm or not free(m.start(), vm.end()):
            continue
        if m.group(0).lower().startswith("differ") and DESCRIPTIVE.search(_clause(text, m.start())):
            continue  # "the difference in mean age was 4 years": a baseline, not an effect
        after_value = re.match(UNIT, text[vm.end():]).end()
        ci = CI_RE.match(text, vm.end() + after_value) or BARE_CI.match(text, vm.end() + after_value)
        lo = hi = None
        end = vm.end() + after_value
        if ci:
            lo, hi = to_float(ci.group("lo")), to_float(ci.group("hi"))
            end = ci.end()
        add(m.start(), end, measure, vm, to_float(vm.group("v")), lo, hi, end, p=_p_in_ci(ci))

    # 1b. A bare number with its own CI continues the estimate named before it:
    #     "the rate ratio was 0.36 (95% CI, 0.27 to 0.49) ... and 0.83 (95% CI, 0.59 to 1.16)".
    for m in re.finditer(rf"(?<![\w.])(?P<v>{_N})(?![\d.])", text):
        ci = CI_RE.match(text, m.end())
        if not ci or not free(m.start(), ci.end()):
            continue
        named = [n for n in MEASURE_RE.finditer(text, 0, m.start())]
        measure = (
            next(MEASURE_NAMES[int(k[1:])][1] for k, v in named[-1].groupdict().items() if v)
            if named else "other"
        )
        add(m.start(), ci.end(), measure, m, to_float(m.group("v")), to_float(ci.group("lo")), to_float(ci.group("hi")), ci.end(), p=_p_in_ci(ci))

    # 2. "from A ± a to B ± b": the value after treatment.
    for m in FROM_TO_PM.finditer(text):
        clause = _clause(text, m.start())
        if free(m.start(), m.end()) and not DESCRIPTIVE.search(clause) and not SAFETY.search(clause):
            add(m.start(), m.end(), "other", m, to_float(m.group("b")), None, None, m.end())

    # 3. Group means ± SD that are results (not ages or baseline descriptions).
    for m in PM_RE.finditer(text):
        if not free(m.start(), m.end()):
            continue
        if DESCRIPTIVE.search(text[max(0, m.start() - 80) : m.end() + 25]) or SAFETY.search(_clause(text, m.start())):
            continue
        add(m.start(), m.end(), "other", m, to_float(m.group("v")), None, None, m.end())

    # 2b. "from 10.4 to 6.1 days per month" (no SD), the value after treatment.
    for m in FROM_TO_PLAIN.finditer(text):
        clause = _clause(text, m.start())
        if free(m.start(), m.end()) and not DESCRIPTIVE.search(clause) and not SAFETY.search(clause):
            add(m.start("b"), m.end(), "other", m, to_float(m.group("b")), None, None, m.end())

    # 4. Changes "by N points" (including "score by 28 points" after a first change
    #    verb), the other arm's change written after it, and an interval if one follows.
    for pattern in (BY_CHANGE, BY_ONLY):
        for m in pattern.finditer(text):
            if re.match(r"\s*or (?:more|greater|higher)\b", text[m.end():], re.I):
                continue  # a threshold: "reduced by 50% or more in 12 patients"
            clause = _clause(text, m.start())
            if SAFETY.search(clause) or DESCRIPTIVE.search(clause):
                continue
            if pattern is BY_ONLY and not CHANGE_VERB.search(text[max(0, m.start() - 80) : m.start()]):
                continue  # "reported by 6% of the group" is not a change
            if free(m.start("v"), m.end()):
                ci = CI_RE.match(text, m.end())
                lo, hi, end = (to_float(ci.group("lo")), to_float(ci.group("hi")), ci.end()) if ci else (None, None, m.end())
                add(m.start("v"), end, "other", m, to_float(m.group("v")), lo, hi, end, p=_p_in_ci(ci))
                tail = VERSUS_CHANGE.match(text, end)
                if tail and free(tail.start("v"), tail.end()):
                    add(tail.start("v"), tail.end(), "other", tail, to_float(tail.group("v")), None, None, tail.end())

    # 4b. "(10.3 vs 13.1 days)": both arms' results.
    for m in VS_PAIR.finditer(text):
        if free(m.start(), m.end()) and not DESCRIPTIVE.search(_window(text, m.start(), m.end())) \
                and not SAFETY.search(_clause(text, m.start())):
            add(m.start("a"), m.end("a"), "other", m, to_float(m.group("a")), None, None, m.end())
            add(m.start("b"), m.end(), "other", m, to_float(m.group("b")), None, None, m.end())

    # 5. Percentages of a group that are results.
    for m in PERCENT_RE.finditer(text):
        if not free(m.start(), m.end()) or _percent_is_not_a_result(text, m):
            continue
        add(m.start(), m.end(), "other", m, to_float(m.group("v")), None, None, m.end())

    found.sort(key=lambda item: item[0])
    return [e for _, e in found]


def _p_in_ci(ci: re.Match | None) -> str | None:
    """A p-value written inside the interval's brackets: "(95% CI -1.6 to 0.8; p = 0.49)"."""
    if ci and ci.group("p_v"):
        return normalise_p(ci.group("p_op"), ci.group("p_v"))
    return None


def _percent_is_not_a_result(text: str, m: re.Match) -> bool:
    before = text[max(0, m.start() - 30) : m.start()]
    after = text[m.end() : m.end() + 40]
    if re.search(r"(?:least|more than|over|under|up to|by|≥|>=|>|≤|<=|<)\s*$", before, re.I) or re.match(r"\s*or (?:more|greater|higher)\b", after, re.I):
        return True  # responder thresholds ("at least 50%", "50% or more"), changes read above
    if re.search(r"\bI\s*(?:2|²|\^2)\s*[=:]?\s*$", before):
        return True  # heterogeneity of a meta-analysis, not an effect
    if re.match(r"\s*(?:CI|confidence|credible)", after, re.I):
        return True  # the level of an interval: "95% CI"
    if re.search(r"\bn\s*=\s*\d+\s*/\s*\d+\s*,\s*$|\(\s*$", before) and re.match(r"\s*\)", after) and "n =" in before:
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


def _p_after(text: str, start: int) -> str | None:
    """The p-value written right after an estimate, before the next estimate or clause end."""
    window = text[start : start + 60]
    # Stop at the next clause, but not at "; p < 0.001" which still belongs to the estimate.
    stop = re.search(r";(?!\s*[Pp]\b)|\b(?:and|while|whereas|but)\b\s+(?![Pp]\b)", window)
    if stop:
        window = window[: stop.start()]
    m = P_RE.search(window)
    # The p-value belongs to this number only if no other number comes between them.
    if not m or re.search(r"\d", window[: m.start()]):
        return None
    return normalise_p(m.group("op"), m.group("pv"))


def _clause(text: str, pos: int) -> str:
    """The clause around `pos`: from the previous ';' or sentence start to the next."""
    a = max(text.rfind(";", 0, pos), text.rfind(":", 0, pos)) + 1
    b = text.find(";", pos)
    return text[a : b if b >= 0 else len(text)]


def _window(text: str, a: int, b: int) -> str:
    return text[max(0, a - 40) : min(len(text), b + 25)]


def _time_point(text: str, pos: int) -> str | None:
    """The time point in the number's clause, else the nearest written before it, else after."""
    clause_start = max(text.rfind(";", 0, pos), 0)
    clause_end = text.find(";", pos)
    clause_end = len(text) if clause_end < 0 else clause_end
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
