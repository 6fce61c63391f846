"""How certain the evidence for a claim is, in GRADE's terms, and what it suggests.

Certainty of a claim (GRADE: high, moderate, low, very low), rated on the body
of evidence that answers the claim's question, never added up across designs:

Which studies are rated. The counted studies that take a side or show no effect
on the claim's outcome. A tie with an active treatment is rated only where the
claim names that comparator; for a claim that needling helps (against sham or
nothing) it answers another question and is listed, not rated. Where randomized
trials or reviews exist, only they are rated; uncontrolled and observational
studies are then listed beside them and add no certainty. An add-on trial
(needling plus a treatment against that treatment alone) tests needling against
nothing on a common background, so it is read as such.

Starting level. High when the best counted design is a randomized trial or a
systematic review or meta-analysis of randomized trials; low when it is
non-randomized, observational, uncontrolled, a case report or series.

Downgrades, one level each (imprecision up to two), each shown with its
one-line reason:
- risk of bias: at least half the rated studies have no sham control and no
  blinding, are uncontrolled (before-after), or are reviews reporting trials at
  high risk of bias or of varying quality; or the body is a single small trial
  (under 100 participants);
- inconsistency: studies disagree (some find a benefit, some do not), a
  review finds no clear effect where trials report one, or the estimates for the
  outcome lie on both sides of no effect;
- indirectness: at least half the rated studies answer another question:
  another population (e.g. neck pain, headache only a subgroup), an active
  comparator for a claim against sham or nothing (or a review pooling
  comparisons with other treatments), or another outcome than the claim's
  (including a claim whose words no study measured, backed by the nearest
  outcome that was: its `proxy` in the topic file);
- imprecision: fewer than 400 participants in all (GRADE's rule of thumb for
  the optimal information size of a continuous outcome; two levels under 100),
  counting the largest review or the trials, whichever is larger; or
  intervals that cross no effect (unless the finding is no difference).

A direction that cannot be told (unclear) is never rated above low.

The reviews' own judgement is a ceiling. Where a systematic review or
meta-analysis counted for the claim states the certainty or quality of its
evidence ("low certainty", "very low quality evidence", "insufficient
evidence", read as very low; "limited evidence" as low), the digest quotes that
sentence, and the claim is never rated above it, unless trials published after
the review (so not in it) add direct, consistent evidence from sham-controlled
or blinded trials: then the claim may be rated one level above the review, and
the digest says so and names the trials.

Direction, apart from certainty. What the rated studies suggest: benefit
(studies finding a benefit are at least twice as many as those that do not,
counting those that showed no effect either way),
no difference (studies finding no difference from sham or no treatment, or
from the active treatment the claim names, are at least twice as many as
those finding a benefit), harm (likewise, the comparator did better), unclear
(anything else: studies disagree, or none takes a side). Any disagreement is
also an inconsistency downgrade.
The digest says both in Cochrane's plain-language forms: high "reduces",
moderate "probably reduces", low "may reduce", very low "we are uncertain
whether ... reduces" (for a benefit; "makes little or no difference" and
"is less effective than" likewise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .terms import HEADACHE_WORD  # the topic's condition words (topics/<topic>/words.yml)

LEVELS = ("very_low", "low", "moderate", "high")
LEVEL_WORDS = {"very_low": "very low", "low": "low", "moderate": "moderate", "high": "high"}
DIRECTIONS: dict[str, str] = {
    "benefit": "benefit",
    "no_difference": "no difference",
    "harm": "harm (worse than the comparator)",
    "unclear": "unclear",
    "none": "no direct evidence",
}
OPTIMAL_INFORMATION_SIZE = 400  # participants, continuous outcome (GRADE rule of thumb)
VERY_SMALL = 100  # under this: two levels for imprecision
SMALL_TRIAL = 100  # a single trial under this: risk of bias
REVIEWS = ("meta_analysis", "systematic_review")
RANDOMIZED = ("rct",) + REVIEWS
NO_EFFECT = {"SMD": 0.0, "MD": 0.0, "WMD": 0.0, "d": 0.0, "OR": 1.0, "RR": 1.0}
INACTIVE = ("sham", "usual_care")
# Outcomes where less is better ("reduces"); for the others needling "improves".
LOWER_IS_BETTER = ("pain_intensity", "frequency", "duration", "disability", "medication_use")
HEADACHE_OUTCOMES = ("pain_intensity", "frequency", "duration", "disability")

# --- how reviews state their certainty ------------------------------------------------

_LEVEL = r"(very[- ]low|low|moderate|high)"
STATED_CERTAINTY = [
    # "low certainty", "very low-quality evidence", "low to moderate certainty of evidence" (not "high quality trials").
    # "Low- to moderate-certainty evidence" too.
    re.compile(rf"\b{_LEVEL}(?:-?\s*to[- ](very[- ]low|low|moderate))?[- ](?:certainty\b|quality[- ](?:of[- ](?:the[- ])?)?evidence\b)", re.I),
    # "The evidence was of very low quality."
    re.compile(rf"\bevidence (?:is|was|were|are|remains?) of {_LEVEL}[- ](?:quality|certainty)\b", re.I),
    # "The certainty of evidence ... ranged from very low to moderate": the lowest counts.
    re.compile(rf"\b(?:certainty|quality)\b[^.;]{{0,60}}?\brang(?:ed|es|ing) from {_LEVEL} to {_LEVEL}\b", re.I),
    re.compile(rf"\b(?:certainty|quality|strength) of (?:the )?(?:overall )?evidence\b[^.;]{{0,40}}?\b(?:is|was|were|are|remains?|rated(?: as)?|judged(?: as)?|graded(?: as)?|considered)\s+(?:as\s+)?{_LEVEL}\b", re.I),
    re.compile(r"\b(insufficient|inconclusive|limited)\b[- ](?:\w+[- ]){0,2}?evidence\b|\bevidence (?:is|was|remains) (insufficient|inconclusive|limited)\b", re.I),
]
_WORD_LEVEL = {"very low": "very_low", "very-low": "very_low", "low": "low", "moderate": "moderate", "high": "high",
               "insufficient": "very_low", "inconclusive": "very_low", "limited": "low"}
# Sentences of a review on its included trials' risk of bias.
REVIEW_BIAS = re.compile(
    r"\bhigh risk of bias\b|\b(?:methodological )?quality (?:of the (?:included )?(?:trials|studies) )?varied\b|"
    r"\bvaried widely\b|\blow[- ]quality (?:trials|studies)\b|\bpoor (?:methodological )?quality\b|\bunclear risk of bias\b",
    re.I,
)
# A review that pooled needling against other treatments as well as sham.
REVIEW_ACTIVE = re.compile(
    r"\b(?:any|all) other (?:interventions?|treatments?|comparators?)\b|\bother (?:active )?(?:interventions|treatments|therapies)\b|"
    r"\bactive (?:comparators?|controls?|treatments?)\b|\bcomparison interventions\b",
    re.I,
)
BLINDED = re.compile(r"\b(?:double|single|triple|assessor|evaluator|examiner|patient|participant)[- ]?blind(?:ed)?\b|\bblinded\b|\bmasked\b", re.I)
NOT_BLINDED = re.compile(
    r"\b(?:not|un|non-?)[- ]?blinded\b|\bopen[- ]label\b|\bwithout blinding\b|\bno blinding\b|\bnot masked\b|"
    r"\bneither\b[^.;]{0,80}\b(?:blinded|masked)\b|\bcould not be (?:blinded|masked)\b",
    re.I,
)
# An add-on design (needling plus a treatment, against that treatment alone); not
# extract.NEEDLING_ADDED, which reads a conclusion naming needling as added.
ADD_ON_DESIGN = re.compile(
    r"\b(?:plus|added to|in addition to|combined with|add-on|together with)\b[^.;]{0,80}\b(?:versus|vs\.?|compared (?:with|to)|or)\b[^.;]{0,60}\balone\b|"
    r"\balone\b[^.;]{0,80}\b(?:plus|with added|combined with)\b[^.;]{0,40}\bneedling\b|\badding (?:dry )?needling\b|\badd-on\b",
    re.I,
)
NECK_POPULATION = re.compile(r"\bneck pain\b|\bmyofascial pain\b|\bwhiplash\b|\bshoulder pain\b|\bcervicalgia\b", re.I)
REVIEW_N = re.compile(r"\b(?:enrolling|including|involving|with|of|totalling|total of)\s+(\d[\d,]*)\s+(?:patients|participants|people|subjects|adults)\b", re.I)
POOLED_N = re.compile(r"\bn\s*=\s*(\d[\d,]*)", re.I)


@dataclass(frozen=True)
class ReviewJudgement:
    """A review's own statement of how certain its evidence is."""

    pmid: str
    level: str  # one of LEVELS
    sentence: str
    year: int | None


@dataclass
class Downgrade:
    domain: str  # risk of bias, inconsistency, indirectness, imprecision
    levels: int
    reason: str

    def __str__(self) -> str:
        return f"−{self.levels} {self.domain}: {self.reason}"


@dataclass
class Rating:
    direction: str  # one of DIRECTIONS
    certainty: str | None  # one of LEVELS; None when there is no direct evidence
    start: str | None = None  # "high" or "low"
    start_reason: str = ""
    downgrades: list[Downgrade] = field(default_factory=list)
    reviews: list[ReviewJudgement] = field(default_factory=list)  # every stated judgement that applies
    ceiling: ReviewJudgement | None = None  # the lowest of them
    capped: str | None = None  # how the review's judgement lowered the rating
    above_review: str | None = None  # why the rating is above a review's, when it is
    rated: list[str] | RatedPmids = field(default_factory=list)  # PMIDs of the rated body
    set_aside: dict[str, str] = field(default_factory=dict)  # PMID -> why listed but not rated (not kept streamed)
    comparators: list[str] = field(default_factory=list)  # the rated studies' comparators, in order of appearance
    reviews_total: int = 0  # counted reviews that state their certainty (`reviews` may keep only the first few)

    @property
    def reasons(self) -> list[str]:
        """The rating's steps, one line each, as the digest and the claims table show them."""
        if self.certainty is None:
            return []
        lines = [f"starts {self.start}: {self.start_reason}"] if self.start else []
        lines += [str(d) if d.levels else f"{d.domain}: {d.reason}" for d in self.downgrades]
        lines += self.caps
        if self.above_review:
            lines.append(self.above_review)
        return lines

    @property
    def caps(self) -> list[str]:
        return [c for c in (self.capped or "").split("\n") if c]

    def cap(self, line: str) -> None:
        self.capped = f"{self.capped}\n{line}" if self.capped else line


def level_word(level: str | None) -> str:
    return LEVEL_WORDS.get(level or "", "")


# --- reading the studies -----------------------------------------------------------------


def _once(study: dict, name: str, fn):
    """`fn()` computed once per study however many claims ask (kept in the study's
    "_memo", as `claims._once`): the regexes over the abstract are the costliest step
    of the rating, and each claim that a study bears on would run them again."""
    memo = study.setdefault("_memo", {})
    if name not in memo:
        memo[name] = fn()
    return memo[name]


def _study_sentences(study: dict) -> list[str]:
    return _once(study, "sentences", lambda: _sentences(study.get("abstract") or ""))


def _outcomes_named(study: dict, sentence: str) -> set[str]:
    """The outcomes a sentence of the study names (`terms.outcome_spans`), once per sentence."""
    from . import terms

    named = _once(study, "named", dict)
    if sentence not in named:
        named[sentence] = {k for _, _, k in terms.outcome_spans(sentence)}
    return named[sentence]


def _sentences(text: str) -> list[str]:
    """The abstract's sentences, its background left out (it speaks of other people's work)."""
    out = []
    for line in (text or "").split("\n"):
        if re.match(r"\s*(?:BACKGROUND|INTRODUCTION|CONTEXT|RATIONALE)\b[^:]*:", line, re.I):
            continue
        line = re.sub(r"^[A-Z][A-Z /&-]+:\s*", "", line.strip())
        out += [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z(])", line) if s]
    return out


def stated_certainty(study: dict, outcomes: list[str] | None = None) -> list[ReviewJudgement]:
    """Every sentence in which a review states its certainty or quality of evidence,
    with the level read from it. Sentences that name an outcome apply only to the
    claim's outcomes; those that name none apply to all."""
    found = []
    for sentence, level in _once(study, "stated", lambda: _stated_sentences(study)):
        if outcomes:
            named = _outcomes_named(study, sentence) - {"other"}
            if named and not named & set(outcomes):
                continue
        found.append(ReviewJudgement(study["pmid"], level, sentence, _year(study)))
    # The most specific first: a sentence naming the claim's outcomes, else the closing one.
    if outcomes:
        found.sort(key=lambda j: not (_outcomes_named(study, j.sentence) & set(outcomes)))
    else:
        found.reverse()
    return found


def _stated_sentences(study: dict) -> list[tuple[str, str]]:
    """(sentence, the lowest level it states) of each sentence stating a certainty."""
    out = []
    for sentence in _study_sentences(study):
        # Every pattern needs "certainty", "quality" or "evidence" (in any case): a cheap
        # test first, the same answer.
        low = sentence.lower()
        if "certa" not in low and "qual" not in low and "denc" not in low:
            continue
        levels = []
        for pattern in STATED_CERTAINTY:
            for m in pattern.finditer(sentence):
                levels += [_WORD_LEVEL[g.lower().replace("-", " ")] for g in m.groups() if g]
        if levels:
            out.append((sentence, min(levels, key=LEVELS.index)))
    return out


def _year(study: dict) -> int | None:
    for key in ("year", "pub_date"):
        m = re.search(r"\b(19|20)\d\d\b", str(study.get(key) or ""))
        if m:
            return int(m.group(0))
    return None


def is_add_on(study: dict) -> bool:
    """Needling added to a treatment, against that treatment alone."""
    def read() -> bool:
        text = f"{study.get('title') or ''}\n{study.get('abstract') or ''}"
        # Each of its forms holds "alone" or "add" (in any case): a cheap test first, the same answer.
        low = text.lower()
        return ("alone" in low or "add" in low) and bool(ADD_ON_DESIGN.search(text))
    return _once(study, "add_on", read)


def blinded(study: dict) -> bool:
    def read() -> bool:
        text = f"{study.get('title') or ''}\n{study.get('abstract') or ''}"
        return bool(BLINDED.search(text)) and not NOT_BLINDED.search(text)
    return _once(study, "blinded", read)


def sham_controlled(study: dict) -> bool:
    return "sham" in (study.get("comparators") or [])


def uncontrolled(study: dict) -> bool:
    return study["design"] in ("case_report", "case_series") or (study.get("comparators") or []) == ["none"]


def participants(study: dict, outcomes: list[str] | None = None) -> int | None:
    """Participants of a trial, or of a review: the total it states, or the n's of
    its pooled estimates for the claim's outcomes (summed per sentence), the larger."""
    if study["design"] not in REVIEWS:
        return study.get("n_randomized")
    stated, pooled = _once(study, "participants", lambda: _review_sizes(study))
    found = list(stated)
    for total, named in pooled:
        if not outcomes or named & set(outcomes):
            found.append(total)
    return max(found) if found else None


def _review_sizes(study: dict) -> tuple[list[int], list[tuple[int, set[str]]]]:
    """A review's stated totals of participants, and (sum, outcomes named) of each
    sentence giving pooled n's."""
    stated = [int(n.replace(",", "")) for n in REVIEW_N.findall(study.get("abstract") or "")]
    pooled = []
    for sentence in _study_sentences(study):
        ns = [int(n.replace(",", "")) for n in POOLED_N.findall(sentence)] if "=" in sentence else []
        if ns:
            pooled.append((sum(ns), _outcomes_named(study, sentence)))
    return stated, pooled


def comparator_indirect(claim, study: dict) -> str | None:
    """Why the study's comparison is not the claim's, or None."""
    comps = [c for c in study.get("comparators") or [] if c != "none"]
    if claim.comparators:
        return None  # relevance already required one of the claim's comparators
    if study["design"] in REVIEWS:
        if _once(study, "review_active", lambda: bool(REVIEW_ACTIVE.search(study.get("abstract") or ""))) \
                and "sham" not in comps:
            return "pooled comparisons with other treatments, not with sham or no treatment"
        return None
    if comps and not set(comps) & set(INACTIVE) and not is_add_on(study):
        names = ", ".join(c.replace("_", " ") for c in comps)
        return f"compared with an active treatment ({names}), not with sham or no treatment"
    return None


def population_indirect(study: dict) -> str | None:
    def read() -> str | None:
        title = study.get("title") or ""
        if NECK_POPULATION.search(title) and not HEADACHE_WORD.search(title):
            return f"population: {NECK_POPULATION.search(title).group(0).lower()}, headache only in some"
        return None
    return _once(study, "population", read)


def outcome_indirect(claim, study: dict) -> str | None:
    if getattr(claim, "proxy", None):
        # The claim's own words name something no study measured; its outcomes are the nearest that were.
        return f"outcome: {claim.proxy}"
    if claim.outcomes:
        return None  # relevance already required one of the claim's outcomes
    if not set(study.get("outcomes") or []) & set(HEADACHE_OUTCOMES):
        return "outcome: no headache outcome measured (pain, frequency, duration or disability)"
    return None


def indirectness(claim, study: dict) -> str | None:
    return population_indirect(study) or comparator_indirect(claim, study) or outcome_indirect(claim, study)


def bias_concern(study: dict) -> str | None:
    if uncontrolled(study):
        return "uncontrolled (before-after)"
    if study["design"] in REVIEWS:
        biased = _once(study, "review_bias", lambda: bool(REVIEW_BIAS.search(study.get("abstract") or "")))
        return "trials at high risk of bias or of varying quality" if biased else None
    if not sham_controlled(study) and not blinded(study):
        return "no sham control and no blinding"
    return None


def estimates(study: dict, outcomes: list[str]) -> list[dict]:
    return [
        e for e in study.get("effects") or []
        if (not outcomes or e["outcome"] in outcomes) and e["measure"] in NO_EFFECT
    ]


# --- the rating -------------------------------------------------------------------------


TIE_ASIDE = "a tie with an active treatment answers another question (not a test against sham or nothing)"
NON_RANDOMIZED_ASIDE = "non-randomized or uncontrolled: adds no certainty beside randomized evidence"
NAMED = 12  # newer trials named in a rating's reason before "and N more" (its row stays small at any size)


class RatedPmids:
    """The PMIDs of a rated body when it was streamed (`Body(keep=...)`): how many
    there are (`len`), and membership for the PMIDs a caller registered (`add`: the
    studies the digest shows), without holding every PMID."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.known: set[str] = set()

    def add(self, pmid: str) -> None:
        self.known.add(pmid)

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def __contains__(self, pmid: object) -> bool:
        return pmid in self.known

    def __iter__(self):
        return iter(sorted(self.known))


@dataclass(slots=True)  # not frozen: one is built per kept finding at every assessment, ten times faster
class Facts:
    """What the rules read of one counted study for one claim (`facts`), derived from the
    study once: a body of evidence is built from these alone (`Body.take`), so they can be
    kept and a body rebuilt without reading the study again (`pipeline/findings.py`)."""

    judgements: tuple[ReviewJudgement, ...] = ()  # a review's stated certainty, the most specific first
    informative: bool = False  # rated (False: a tie with an active treatment the claim does not name)
    randomized: bool = False
    design: str | None = None
    direction: str | None = None
    n_randomized: int | None = None
    comparators: tuple[str, ...] = ()
    concern: str | None = None  # risk of bias (`bias_concern`)
    why: str | None = None  # indirectness
    people: int | None = None  # participants (`participants`)
    estimates: tuple[tuple[str, float | None, float | None, float | None], ...] = ()  # (measure, value, ci_low, ci_high)
    newer: tuple[int, str] | None = None  # a direct controlled trial: (year or 0, "PMID … (year, n participants)")


def facts(claim, stance: str, s: dict) -> Facts:
    """The `Facts` of one counted study (`s`, of stance `stance`) for `claim`."""
    found = tuple(stated_certainty(s, claim.outcomes)) if s["design"] in REVIEWS else ()
    if stance == "comparable" and not set(claim.comparators) & set(s.get("comparators") or []):
        return Facts(found)
    why = indirectness(claim, s)
    newer = None
    if s["design"] == "rct" and not why and (sham_controlled(s) or blinded(s)):
        newer = (_year(s) or 0, f"PMID {s['pmid']} ({_year(s)}, {_n(s.get('n_randomized'))})")
    return Facts(
        found, True, s["design"] in RANDOMIZED, s["design"], s.get("direction"), s.get("n_randomized"),
        tuple(s.get("comparators") or ()), bias_concern(s), why, participants(s, claim.outcomes),
        tuple((x["measure"], x["value"], x["ci_low"], x["ci_high"]) for x in estimates(s, claim.outcomes)), newer,
    )


class _Part:
    """What the rules read of one candidate body of evidence (the randomized informative
    studies, or every informative study): counts, sets of reasons, sums and extremes,
    never the studies themselves."""

    def __init__(self) -> None:
        self.n = 0
        self.kinds: set[str] = set()
        self.stances: set[str] = set()
        self.supports = self.contradicts = self.worse = self.same = self.unsettled = 0
        self.concerned, self.concern_kinds = 0, set()
        self.trials, self.first_trial_n, self.trial_n = 0, None, 0
        self.review_n, self.unknown, self.review_neutral = 0, False, False
        self.indirect, self.indirect_kinds = 0, set()
        self.estimates, self.crossing, self.sides = 0, 0, set()
        self.low: float | None = None
        self.high: float | None = None
        self.comps: dict[str, None] = {}  # comparators, in order of first appearance
        self.pmids: list[str] = []  # kept only for `rate` (Body(keep=None))

    def add(self, stance: str, f: Facts) -> None:
        self.n += 1
        self.kinds.add(_design_word(f.design))
        self.stances.add(stance)
        self.supports += stance == "supports"
        self.contradicts += stance == "contradicts"
        if stance == "contradicts" and f.direction == "favours_comparator":
            self.worse += 1
        elif stance in ("contradicts", "comparable"):
            self.same += 1
        self.unsettled += stance == "neutral"
        if f.concern:
            self.concerned += 1
            self.concern_kinds.add(f.concern)
        if f.design in REVIEWS:
            self.review_n = max(self.review_n, f.people or 0)
            self.review_neutral |= stance in ("neutral", "contradicts")
        else:
            self.trials += 1
            if self.trials == 1:
                self.first_trial_n = f.n_randomized
            self.trial_n += f.n_randomized or 0
        self.unknown |= not f.people
        if f.why:
            self.indirect += 1
            self.indirect_kinds.add(f.why)
        for measure, value, ci_low, ci_high in f.estimates:
            self.estimates += 1
            if value is not None:
                null = NO_EFFECT[measure]
                self.sides.add((value > null) - (value < null))
                self.low = value if self.low is None else min(self.low, value)
                self.high = value if self.high is None else max(self.high, value)
            if ci_low is not None and ci_high is not None and ci_low <= NO_EFFECT[measure] <= ci_high:
                self.crossing += 1
        for c in f.comparators:
            if c != "none":
                self.comps.setdefault(c)


class Body:
    """The rating of one claim built one counted study at a time (`add`, or `take` with the
    study's `Facts`, in the order of the evidence), then `rating()`: what the certainty
    rules below need is kept as counts and summaries, so a claim resting on 30,000
    studies holds no study.

    `keep=None` (what `rate` uses) also keeps every rated PMID, every set-aside note and
    every review judgement; `keep=k` keeps the first k reviews' judgements (and the one
    the ceiling comes from) and names the first `NAMED` newer trials, counting the rest."""

    def __init__(self, claim, keep: int | None = None) -> None:
        self.claim, self.keep = claim, keep
        self.counted = 0
        self.randomized, self.informative = _Part(), _Part()
        self.set_aside: dict[str, str] = {}
        self.judgements: list[ReviewJudgement] = []
        self.judged: set[str] = set()  # reviews whose judgement is kept (keep=k)
        self.reviews_judging = 0  # reviews stating their certainty, all of them
        self.ceiling: ReviewJudgement | None = None
        self.newer: dict[tuple[str, int], list] = {}  # (stance, year) -> [count, [(order, name)]]
        self.order = 0

    def add(self, e, s: dict) -> tuple[bool, bool]:
        """Count one counted study (`e`: its claims.Evidence). Returns (informative,
        randomized): whether it can be rated, and is randomized evidence."""
        return self.take(e.stance, e.pmid, facts(self.claim, e.stance, s))

    def take(self, stance: str, pmid: str, f: Facts) -> tuple[bool, bool]:
        """`add` from the study's `Facts`."""
        self.counted += 1
        self.order += 1
        if f.judgements:
            self.reviews_judging += 1
            for j in f.judgements:
                if self.ceiling is None or LEVELS.index(j.level) < LEVELS.index(self.ceiling.level):
                    self.ceiling = j
            if self.keep is None:
                self.judgements += f.judgements
            elif len(self.judged) < self.keep:
                self.judged.add(pmid)
                self.judgements.append(f.judgements[0])
        if not f.informative:
            if self.keep is None:
                self.set_aside[pmid] = TIE_ASIDE
            return False, False
        self.informative.add(stance, f)
        if f.randomized:
            self.randomized.add(stance, f)
        if self.keep is None:
            self.informative.pmids.append(pmid)
            if f.randomized:
                self.randomized.pmids.append(pmid)
        if f.newer:
            year, name = f.newer
            bucket = self.newer.setdefault((stance, year), [0, []])
            bucket[0] += 1
            if self.keep is None or len(bucket[1]) < NAMED:
                bucket[1].append((self.order, name))
        return True, f.randomized

    @property
    def body(self) -> _Part:
        """The rated body: the randomized informative studies where there are any."""
        return self.randomized if self.randomized.n else self.informative

    def rated(self, informative: bool, randomized: bool) -> tuple[bool, str | None]:
        """(rated, note) of one counted study, once every study was added: the note says
        why a counted study is listed but not rated."""
        if not informative:
            return False, TIE_ASIDE
        if self.randomized.n and not randomized:
            return False, NON_RANDOMIZED_ASIDE
        return True, None

    def _rated_pmids(self) -> list[str] | RatedPmids:
        if self.keep is None:
            return list(self.body.pmids)
        return RatedPmids(self.body.n)

    def _set_aside(self) -> dict[str, str]:
        if self.keep is None and self.randomized.n:
            randomized = set(self.randomized.pmids)
            return self.set_aside | {p: NON_RANDOMIZED_ASIDE for p in self.informative.pmids if p not in randomized}
        return dict(self.set_aside)

    def rating(self) -> Rating:
        if not self.counted:
            return Rating("none", None)
        if not self.informative.n:
            r = Rating("unclear", "very_low", None, "", set_aside=self._set_aside(), rated=self._rated_pmids())
            r.downgrades.append(Downgrade("indirectness", 0, "very low: only comparisons with an active treatment; no study answers the claim's question"))
            self._apply_reviews(r)
            return r
        p = self.body
        start = "high" if self.randomized.n else "low"
        start_reason = f"best design {' and '.join(sorted(p.kinds))}" + ("" if self.randomized.n else " (not randomized)")
        direction, why_unclear = _direction_counts(p.supports, p.worse, p.same, p.unsettled)
        downgrades: list[Downgrade] = []

        # Risk of bias.
        if p.concerned and p.concerned * 2 >= p.n:
            kinds = sorted(p.concern_kinds)
            downgrades.append(Downgrade("risk of bias", 1, f"{'; '.join(kinds)} ({_of(p.concerned, p.n)})"))
        elif p.n == 1 and p.trials and (p.first_trial_n or 0) < SMALL_TRIAL:
            downgrades.append(Downgrade("risk of bias", 1, f"a single small trial ({_n(p.first_trial_n)})"))

        # Inconsistency.
        if "supports" in p.stances and "contradicts" in p.stances:
            downgrades.append(Downgrade("inconsistency", 1, f"studies disagree: {p.supports} found a benefit, {p.contradicts} did not"))
        elif {1, -1} <= p.sides:
            downgrades.append(Downgrade("inconsistency", 1, f"estimates on both sides of no effect ({_fmt(p.low)} to {_fmt(p.high)})"))
        elif "supports" in p.stances and p.review_neutral:
            downgrades.append(Downgrade("inconsistency", 1, "a review finds no clear effect where trials report a benefit"))

        # Indirectness.
        if p.indirect and p.indirect * 2 >= p.n:
            kinds = sorted(p.indirect_kinds)
            downgrades.append(Downgrade("indirectness", 1, f"{'; '.join(kinds)} ({_of(p.indirect, p.n)})"))

        # Imprecision.
        total = max(p.trial_n, p.review_n)
        imprecise = []
        if not total and p.unknown:
            imprecise.append("number of participants not stated")
        elif total < VERY_SMALL:
            imprecise.append(f"fewer than {VERY_SMALL} participants in all ({_n(total)})")
        elif total < OPTIMAL_INFORMATION_SIZE:
            imprecise.append(f"fewer than {OPTIMAL_INFORMATION_SIZE} participants in all ({total}; GRADE's optimal information size rule of thumb)")
        if p.crossing and direction != "no_difference":
            imprecise.append(f"intervals cross no effect ({p.crossing} of {p.estimates} estimates)")
        if imprecise:
            downgrades.append(Downgrade("imprecision", 2 if total and total < VERY_SMALL else 1, "; ".join(imprecise)))

        level = max(0, LEVELS.index(start) - sum(d.levels for d in downgrades))
        rating = Rating(direction, LEVELS[level], start, start_reason, downgrades, rated=self._rated_pmids(),
                        set_aside=self._set_aside())
        rating.comparators = list(p.comps)
        if direction == "unclear" and level > LEVELS.index("low"):
            rating.certainty = "low"
            rating.cap(f"capped at low: the direction is unclear ({why_unclear})")
        self._apply_reviews(rating)
        return rating

    def _apply_reviews(self, rating: Rating) -> None:
        rating.reviews_total = self.reviews_judging
        if self.ceiling is None:
            return
        ceiling = self.ceiling  # the lowest; among equals the first (the most specific of the first review)
        rating.reviews = list(self.judgements)
        if ceiling.pmid not in {j.pmid for j in rating.reviews}:
            rating.reviews.append(ceiling)
        rating.ceiling = ceiling
        if LEVELS.index(rating.certainty) <= LEVELS.index(ceiling.level):
            return
        count, names = 0, []
        if self.informative.n:  # newer trials count only in a rated body (a tie set aside is not one)
            for (stance, year), (n, named) in self.newer.items():
                if ceiling.year and year > ceiling.year and _agrees(stance, rating.direction):
                    count += n
                    names += named
        names = [name for _, name in sorted(names)]
        consistent = not any(d.domain == "inconsistency" for d in rating.downgrades)
        if count and consistent:
            allowed = LEVELS[min(LEVELS.index(ceiling.level) + 1, LEVELS.index(rating.certainty))]
            if self.keep is not None and count > NAMED:
                listed = ", ".join(names[:NAMED]) + f", and {count - NAMED:,} more"
            else:
                listed = ", ".join(names)
            rating.above_review = (
                f"rated {level_word(allowed)}, above the {level_word(ceiling.level)} certainty that review PMID "
                f"{ceiling.pmid} ({ceiling.year}) states: {count} newer trial{'s' if count != 1 else ''} "
                f"published after it and not in it add direct, consistent, controlled evidence: {listed}"
            )
            rating.certainty = allowed
            return
        why = ("newer trials do not lift it: the evidence is inconsistent" if count
               else "no trial published after it adds direct, consistent, controlled evidence")
        rating.cap(
            f"capped at {level_word(ceiling.level)}: review PMID {ceiling.pmid}"
            f"{f' ({ceiling.year})' if ceiling.year else ''} rates its own evidence {level_word(ceiling.level)}; {why}"
        )
        rating.certainty = ceiling.level


def rate(claim, evidence: list, studies: dict[str, dict]) -> Rating:
    """Direction and certainty of one claim from its evidence (claims.Evidence rows):
    `Body` fed every counted study, keeping every PMID and judgement."""
    body = Body(claim)
    for e in evidence:
        if e.counted:
            body.add(e, studies[e.pmid])
    return body.rating()


def _agrees(stance: str, direction: str) -> bool:
    return {"benefit": "supports", "no_difference": "contradicts", "harm": "contradicts"}.get(direction) == stance or (
        direction == "no_difference" and stance == "comparable")


def _direction_counts(sup: int, worse: int, same: int, unsettled: int) -> tuple[str, str]:
    # A rated study that showed no effect either way (`neutral`: e.g. a pooled
    # estimate whose interval includes no effect) did not find a benefit, so it
    # weighs against "benefit" (else a lone positive trial beside a null
    # meta-analysis reads as "benefit"); it is not evidence of no difference.
    against = worse + same
    if sup and sup >= 2 * (against + unsettled):
        return "benefit", ""
    if against and against >= 2 * sup:
        if same >= worse:
            return "no_difference", ""
        return "harm", ""
    if sup:
        return "unclear", "studies disagree"
    return "unclear", "no rated study shows a difference either way"


def _design_word(design: str) -> str:
    return {"rct": "randomized trials", "meta_analysis": "reviews of randomized trials",
            "systematic_review": "reviews of randomized trials", "non_randomized_trial": "non-randomized or uncontrolled trials",
            "cohort": "cohort studies", "case_report": "case reports", "case_series": "case series"}.get(design, "other designs")


def _of(k: int, n: int) -> str:
    return f"{k} of {n}" if n > 1 else "the only rated study"


def _n(n: int | None) -> str:
    return f"{n} participants" if n else "participants not stated"


def _fmt(x: float) -> str:
    return f"{x:g}"


# --- plain language ----------------------------------------------------------------------

PLAIN: dict[str, dict[str, str]] = {
    "benefit": {
        "high": "Dry needling {verb}s {what}{in_whom}",
        "moderate": "Dry needling probably {verb}s {what}{in_whom}",
        "low": "Dry needling may {verb} {what}{in_whom}",
        "very_low": "We are uncertain whether dry needling {verb}s {what}{in_whom}",
    },
    "no_difference": {
        "high": "Dry needling makes little or no difference to {what}{in_whom}{versus}",
        "moderate": "Dry needling probably makes little or no difference to {what}{in_whom}{versus}",
        "low": "Dry needling may make little or no difference to {what}{in_whom}{versus}",
        "very_low": "We are uncertain whether dry needling makes any difference to {what}{in_whom}{versus}",
    },
    "harm": {
        "high": "Dry needling is less effective{than} for {what}{in_whom}",
        "moderate": "Dry needling is probably less effective{than} for {what}{in_whom}",
        "low": "Dry needling may be less effective{than} for {what}{in_whom}",
        "very_low": "We are uncertain whether dry needling is less effective{than} for {what}{in_whom}",
    },
    "unclear": {
        level: "It is unclear whether dry needling {verb}s {what}{in_whom}" for level in LEVELS
    },
}


def plain(claim, rating: Rating, comparators: list[str] | None = None) -> str:
    """'Dry needling may reduce pain intensity — low certainty.' (Cochrane's forms)."""
    if rating.certainty is None:
        return f"No study of dry needling in people with headache has measured {what(claim)}."
    return f"{plain_words(claim, rating, comparators)} — {level_word(rating.certainty)} certainty."


def plain_words(claim, rating: Rating, comparators: list[str] | None = None) -> str:
    """The plain-language form alone: 'Dry needling may reduce pain intensity'."""
    names = _comparator_names(comparators or [])
    return PLAIN[rating.direction][rating.certainty].format(
        verb=verb(claim), what=what(claim), in_whom=in_whom(claim),
        versus=f" compared with {names}" if names else "", than=f" than {names}" if names else " than the comparator",
    )


def verb(claim) -> str:
    outs = claim.outcomes or ["pain_intensity"]
    return "reduce" if all(o in LOWER_IS_BETTER for o in outs) else "improve"


def what(claim) -> str:
    names = [o.replace("_", " ") for o in claim.outcomes]
    if not names:
        return "headache"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def in_whom(claim) -> str:
    if not claim.headache_types:
        return " in people with headache" if claim.outcomes and not set(claim.outcomes) & {"pain_intensity", "frequency", "duration"} else ""
    names = [h.replace("_", "-") + (" headache" if h in ("tension_type", "cervicogenic", "post_traumatic") else "")
             for h in claim.headache_types]
    return " in " + " and ".join(names)


def _comparator_names(comps: list[str]) -> str:
    words = {
        "sham": "sham needling", "usual_care": "usual care or no treatment",
        "lidocaine_or_injection": "lidocaine or another injection", "manual_therapy": "manual therapy",
        "exercise": "exercise", "medication": "medication", "other_needling": "another form of needling",
        "other": "another treatment",
    }
    names = list(dict.fromkeys(words[c] for c in comps if c in words))
    if len(names) < 2:
        return "".join(names)
    return ", ".join(names[:-1]) + (", or " if any(" or " in n for n in names) else " or ") + names[-1]
