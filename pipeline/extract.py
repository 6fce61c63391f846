"""What each study is, what it compared, what it found: rules over the title,
abstract, publication types and MeSH, every output traceable to the text.

The rules are written for how abstracts in general report designs, samples and
results (see `terms.py` for the wording they recognise), not for particular
records. EXTRACTOR_VERSION is the code's version (bump it when a rule in code
changes) plus a hash of the rule files in rules/: a study extracted by another
version is extracted again on the next run (`evidence extract --all` forces
it), and each row records the version that wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import rules, terms
from .effects import Effect, find_effects
from .provenance import Reason
from .text import Sentence, WORD_NUMBER_RE, sentences, word_number
from .vocab import COMPARATORS, EVIDENCE_LEVELS, OUTCOMES

EXTRACTOR_VERSION = f"1.6+{rules.fingerprint()[:8]}"

PARTICIPANTS = (
    r"(?:patients?|participants?|people|persons|subjects|individuals|adults|women|men|"
    r"volunteers|veterans|athletes|workers|students|children|adolescents|cases|members|soldiers|"
    r"personnel|employees|nurses|runners|players|drivers|recruits|"
    r"migraineurs|sufferers|(?:[A-Z]{2,6}\s)?patients)"
)


@dataclass
class Extraction:
    design: str
    on_topic: bool
    headache_types: list[str]
    comparators: list[str]
    n_randomized: int | None
    outcomes: list[str]
    direction: str
    evidence_level: str
    summary: str
    effects: list[Effect] = field(default_factory=list)
    version: str = EXTRACTOR_VERSION
    reasons: list[Reason] = field(default_factory=list)  # why each field's value (provenance.py)


@dataclass
class Record:
    """The parts of a study the extractor reads."""

    title: str
    abstract: str
    publication_types: list[str] = field(default_factory=list)
    mesh: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.abstract}"


def extract(record: Record) -> Extraction:
    # The term cache serves one abstract's sentences; cleared so that repeated
    # abstracts (benchmarks) are not faster than real ones.
    terms.outcome_spans.cache_clear()
    sents = sentences(record.abstract)
    design = classify_design(record, sents)
    on_topic = is_on_topic(record, sents, design)
    headache = headache_types(record, sents)
    comps = comparators(record, sents, design)
    n = sample_size(record, sents, design)
    outs = outcomes(record, sents, design)
    direction = classify_direction(record, sents, design, on_topic, comps)
    effects = find_effects(record.abstract)
    extraction = Extraction(
        design=design,
        on_topic=on_topic,
        headache_types=headache,
        comparators=comps,
        n_randomized=n,
        outcomes=outs,
        direction=direction,
        evidence_level=EVIDENCE_LEVELS[design],
        summary="",
        effects=effects,
    )
    extraction.summary = summarise(extraction, sents)
    return extraction


# --- design -----------------------------------------------------------------

RANDOMISED = re.compile(
    r"(?<!non-)(?<!non )\brandomi[sz]ed\b(?! (?:controlled )?trials? (?:were|was|published|of|in|met)\b)(?! or observational)|"
    r"\brandomly (?:assigned|allocated|split|divided|distributed)|allocated at random|"
    r"assigned at random|random allocation|\brandomi[sz]ation\b",
    re.I,
)
REVIEW_SEARCH = re.compile(
    r"\b(?:searched|databases?|PRISMA|PROSPERO|MEDLINE|Embase|CENTRAL|PEDro|Scopus|CINAHL|Web of Science)\b", re.I
)


# Sentences about other people's work: "a recent systematic review found ...",
# "randomized trials have suggested ...". They do not describe this study.
PRIOR_WORK = re.compile(
    r"\b(?:previous|prior|earlier|recent|existing|other|published)\b[^.]{0,40}\b(?:reviews?|trials?|stud(?:y|ies)|meta-analys[ie]s)\b|"
    r"\b(?:have|has) (?:been )?(?:suggested|shown|reported|found|demonstrated)\b|\bagrees? with\b|\bin line with\b|\bconsistent with\b",
    re.I,
)


def own_text(record: Record, sents: list[Sentence]) -> str:
    """The title and the sentences that describe this study (not its background,
    discussion, or other people's work)."""
    keep = [record.title]
    for s in sents:
        if s.section and re.search(r"background|introduction|context|rationale|discussion|conclusion|interpretation|perspective", s.section, re.I):
            continue
        if PRIOR_WORK.search(s.text):
            continue
        keep.append(s.text)
    return "\n".join(keep)


def classify_design(record: Record, sents: list[Sentence]) -> str:
    """The design, read from what the abstract says about this study; PubMed's
    publication types settle what the text leaves open."""
    title = record.title
    own = own_text(record, sents)
    types = {t.lower() for t in record.publication_types}
    first = sents[0].text if sents else ""
    if re.search(r"\bprotocol\b", title, re.I) or re.search(
        r"^\s*protocol for\b|\b(?:this|the) (?:study|trial|review) protocol\b|\bplanned (?:systematic )?review\b|"
        r"\bwill be (?:randomly |randomi[sz]ed |)(?:assigned|allocated|randomi[sz]ed|searched|recruited|enrolled|eligible|included)\b",
        record.abstract, re.I,
    ):
        return "protocol"
    if re.search(r"\bdata mining\b|\bbibliometric|\bliterature study\b", own, re.I):
        return "other"
    not_pooled = re.search(
        r"\bwithout (?:a )?(?:meta-?analy|pooling)|\bno meta-?analy|\bnot pooled\b|\bnarrative(?:ly)? synthe|\bcould not be pooled|\bpooling was not",
        own, re.I,
    )
    if "meta-analysis" in types or re.search(r"meta-?analy", title, re.I) or (
        not not_pooled
        and re.search(r"\bwe pooled\b|\bpooled (?:estimates?|data|analysis|effects?)\b|\brandom-effects\b|\bmeta-?analy[sz]", own, re.I)
        and re.search(r"\breview\b|\bsearched\b|\bpooled\b", own, re.I)
    ):
        return "meta_analysis"
    is_review = "review" in types or "systematic review" in types or re.search(r"\breview\b", title, re.I)
    if "systematic review" in types or re.search(r"systematic(?:ally)? review", own, re.I) or (
        is_review and REVIEW_SEARCH.search(own) and re.search(r"\bsearch(?:ed)?\b", own, re.I)
    ):
        return "systematic_review"
    if is_review or re.search(r"\bnarrative review\b|\bthis (?:paper|article|review) (?:sets|summari[sz]es|discusses|surveys)", own, re.I):
        return "narrative_review"
    if re.search(r"\bcase series\b|\bseries of (?:\w+ )?(?:patients|cases)\b|\b(?:\w+ )?consecutive (?:patients|cases)\b", own, re.I):
        return "case_series"
    if "case reports" in types or re.search(r"\bcase report\b|\b(?:this|the) report describes\b", own, re.I) or re.search(
        r"\b(?:in )?a (?:\d+-year-old )?(?:patient|woman|man) (?:with|who)\b", f"{title}\n{first}", re.I
    ):
        return "case_report"
    # Healthy volunteers only: a physiology study, even when randomized.
    if re.search(r"\bhealthy (?:participants|volunteers|subjects|women|men|adults)\b", record.abstract, re.I) and not re.search(
        r"\bpatients?\b|\bdiagnosed\b", record.abstract, re.I
    ):
        return "mechanism_study"
    if RANDOMISED.search(own):
        return "rct"
    if re.search(r"\bretrospective\b|\bcohort\b|\bmedical (?:charts|records)\b|\bchart review\b", own, re.I):
        return "cohort"
    if re.search(r"\bcross-sectional\b|\bcase-control\b|\bcontrol group\b.*\bhealthy\b|\bhealthy\b.*\bmatched\b|\breliability\b|\bsurvey\b|\bprevalence\b", own, re.I):
        return "other"
    if re.search(r"\bpilot\b|\bquasi-experimental\b|\bsingle[- ]arm\b|\bpre-?post\b|\bopen-label\b|\bnon-?randomi[sz]ed\b|\buncontrolled\b", own, re.I) or "clinical trial" in types:
        return "non_randomized_trial"
    if "randomized controlled trial" in types:
        return "rct"
    return "other"


# --- population and intervention ---------------------------------------------


# "Unlike dry needling, acupuncture ...": a mention that is not the study's subject.
CONTRAST = re.compile(
    r"\b(?:unlike|differs? from|different from|rather than|as opposed to|instead of|in contrast to|compared to|than)\s+(?:\w+\s+){0,2}?(?:dry[- ]needl|trigger[- ]point needl)",
    re.I,
)


def is_on_topic(record: Record, sents: list[Sentence], design: str) -> bool:
    """Dry needling studied (not merely mentioned) in people with headache."""
    if design == "mechanism_study":
        return False
    in_title = bool(terms.DRY_NEEDLING.search(record.title))
    if not in_title and terms.NEIGHBOURS.search(record.title):
        return False  # the title names another intervention (acupuncture, an injection, manipulation)
    mentions = [s for s in sents if terms.DRY_NEEDLING.search(s.text) and not CONTRAST.search(s.text)]
    studied = in_title or len(mentions) >= 2 or (bool(mentions) and mentions[0] is sents[0])
    if not studied:
        return False
    headache_in_title = bool(terms.HEADACHE_WORD.search(record.title)) or _any_type(record.title)
    headache_sentences = sum(
        1 for s in sents if (terms.HEADACHE_WORD.search(s.text) or _any_type(s.text)) and not _negated_headache(s.text)
    )
    return headache_in_title or headache_sentences >= 2


def _any_type(text: str) -> bool:
    return any(re.search(p, text, re.I if k != "tension_type" else 0) for k, p in terms.HEADACHE_TERMS.items())


def _negated_headache(text: str) -> bool:
    return bool(re.search(r"\bno (?:headache|pain)\b|\bwithout (?:headache|migraine)\b", text, re.I))


def headache_types(record: Record, sents: list[Sentence]) -> list[str]:
    """Headache populations studied: the title and non-background sentences, else any sentence."""
    def found_in(texts: list[str]) -> list[str]:
        joined = "\n".join(texts)
        out = []
        for kind, pattern in terms.HEADACHE_TERMS.items():
            flags = 0 if kind == "tension_type" else re.I
            if kind == "tension_type":
                pattern = r"(?i:tension[- ]type|tension headaches?)|\bC?E?TTH\b"
            if re.search(pattern, joined, flags):
                out.append(kind)
        return out

    main = [record.title] + [s.text for s in sents if not _is_background(s) and not _negated_headache(s.text)]
    kinds = found_in(main)
    if not kinds:
        kinds = found_in([s.text for s in sents if not _negated_headache(s.text)])
    if not kinds:
        headache_mentions = sum(
            1 for t in [record.title] + [s.text for s in sents]
            if terms.HEADACHE_WORD.search(t) and not _negated_headache(t)
        )
        if terms.HEADACHE_WORD.search(record.title) or headache_mentions >= 2:
            kinds = ["other"]
    return kinds


def _is_background(s: Sentence) -> bool:
    return bool(s.section and re.match(r"(background|introduction|context|rationale)", s.section.strip(), re.I))


# --- comparators --------------------------------------------------------------

TRIAL_CUES = re.compile(
    r"\b(?:versus|vs\.?|compared|comparing|comparison|against|than|control(?:led)? group|"
    r"randomi[sz]ed|randomly|allocated|assigned|group|arm|G[1-4])\b|\b(?:received|underwent|given)\b[^.;]*\bor\b",
    re.I,
)
REVIEW_CUES = re.compile(r"\b(?:versus|vs\.?|compared? (?:with|to)|compar(?:e|es|ing) [^.;]{0,40}\bwith|against|comparators? (?:were|was|included)|control interventions?)\b", re.I)
VERSUS = re.compile(r"\b(?:versus|vs\.?|compared (?:with|to))\s", re.I)
SINGLE_ARM = re.compile(
    r"\bsingle[- ]arm|\bsingle[- ]group|\bpre-?post|\bno (?:between-group|control)|\bone group\b|\bwithout a control group\b", re.I
)


def comparators(record: Record, sents: list[Sentence], design: str) -> list[str]:
    """What the studied intervention was compared against: from the title and the
    sentences that describe groups or comparisons. 'none' for designs without a
    comparison group; [] where nothing is compared or the comparison is unnamed."""
    if design in ("case_report", "case_series"):
        return ["none"]
    if design == "non_randomized_trial" and SINGLE_ARM.search(record.text):
        return ["none"]
    on_topic_review = design == "narrative_review" and terms.DRY_NEEDLING.search(record.title) and terms.HEADACHE_WORD.search(record.title)
    if design in ("narrative_review", "protocol", "other") and not VERSUS.search(record.title) and not on_topic_review:
        return []
    cues = REVIEW_CUES if design in ("meta_analysis", "systematic_review", "narrative_review", "protocol") else TRIAL_CUES
    own = _intervention(record, sents)
    title_after_versus = ""
    v = VERSUS.search(record.title)
    if v:
        title_after_versus = record.title[v.end():]
    texts = [record.title] + [s.text for s in sents if cues.search(s.text) and not _is_background(s)]
    found: list[str] = []
    for kind, pattern in terms.COMPARATOR_TERMS.items():
        # A class that is the study's own intervention counts only where the title sets
        # it against another of its kind ("manipulation versus mobilization").
        if kind in own and not re.search(pattern, title_after_versus, re.I):
            continue
        if any(
            not _co_intervention(text, m.start()) and not _outcome_use(text, m) and not negated_mention(text, m)
            for text in texts
            for m in re.finditer(pattern, text, re.I)
        ):
            found.append(kind)
    if design == "mechanism_study" and not found:
        return ["none"]
    return sorted(found, key=list(COMPARATORS).index)


def _intervention(record: Record, sents: list[Sentence]) -> set[str]:
    """Comparator classes that are the study's own intervention rather than comparators.

    Dry needling when the title names it (everything else is then compared with it);
    otherwise the treatment the title names before any 'versus', or failing that the
    first treatment the abstract says patients received.
    """
    title = record.title
    if terms.DRY_NEEDLING.search(title):
        return set()
    head = title[: VERSUS.search(title).start()] if VERSUS.search(title) else title
    own = {k for k, p in terms.COMPARATOR_TERMS.items() if k != "sham" and re.search(p, head, re.I)}
    if re.search(r"\bacupunct", title, re.I):
        own.add("other_needling")  # an acupuncture trial: acupuncture is the intervention, not a comparator
    if own:
        return own
    for s in sents:
        m = re.search(r"\b(?:received|underwent|were treated with|had)\b(?P<rest>.{0,60})", s.text, re.I)
        if m:
            for kind, pattern in terms.COMPARATOR_TERMS.items():
                if kind != "sham" and re.search(pattern, m.group("rest"), re.I):
                    return {kind}
    return set()


# A comparator named only to say it was absent or to contrast with it ("no placebo
# arm", "without a sham group", "unlike sham-controlled trials", "rather than
# sham") is not a comparator of this study. The cue must stand right before the
# comparator word, with only small words (articles, "sham or", "control") between,
# so "no difference from placebo" still names placebo as the comparator.
NEGATION_BEFORE = re.compile(
    r"\b(?:no|not|without|unlike|lack(?:ed|ing|s)?|absence of|absent|neither|nor|non-?|rather than|instead of|"
    r"in contrast (?:to|with)|as opposed to|other than|never|"
    r"(?:did|does|do|could|was|were) not (?:include|use|have|involve|receive|get|employ|contain)|"
    r"(?:was|were) not (?:compared (?:with|to|against))|not compared (?:with|to|against))"
    r"\s+(?:(?:a|an|the|any|separate|dedicated|formal|true|inert|control|blinded|sham|placebo|or|and|nor|"
    r"previous|earlier|prior|other|most|many|typical|conventional|usual)\s+){0,3}$",
    re.I,
)
NEGATION_AFTER = re.compile(
    r"^[\w-]*(?:\s+(?:group|arm|control|condition|needling|procedure|comparison|comparator|intervention)s?)?\s+"
    r"(?:(?:was|were|is|are) (?:not|never) (?:used|included|given|possible|feasible|available|offered)|"
    r"(?:was|were|is|are) (?:lacking|absent|missing|omitted|not included)|"
    r"(?:could not|cannot) be (?:used|included|given))",
    re.I,
)


def negated_mention(text: str, m: re.Match) -> bool:
    """The comparator word is named as absent or as a contrast, not as this study's arm."""
    before = text[max(0, m.start() - 60) : m.start()]
    before = re.split(r"[.;:()]|,\s", before)[-1]
    if NEGATION_BEFORE.search(before) or _prefixed_negation(text, m):
        return True
    return bool(NEGATION_AFTER.match(text[m.end() : m.end() + 60]))


def _prefixed_negation(text: str, m: re.Match) -> bool:
    """'non-sham', 'sham-free', 'placebo-free'."""
    return bool(re.search(r"\bnon-$", text[max(0, m.start() - 4) : m.start()], re.I)
                or re.match(r"-free\b", text[m.end() : m.end() + 5], re.I))


def _co_intervention(text: str, pos: int) -> bool:
    """Given to every group, or combined with needling: not a comparator."""
    window = text[max(0, pos - 60) : pos + 40]
    return bool(re.search(
        r"\ball (?:groups|patients|participants)\b|\bon (?:migraine )?prophylaxis\b|\bplus\b|\bcombined with\b|"
        r"\bpairing\b|\bcombining\b|\balongside\b|\bas well as\b|\bboth groups\b|\bin addition to\b|"
        r"\bneedling and (?:an? )?(?:[\w-]+ ){0,3}$",
        text[max(0, pos - 60) : pos], re.I,
    ) or re.search(r"\b(?:plus|combined with|and) (?:dry )?needling\b", window, re.I))


def _outcome_use(text: str, m: re.Match) -> bool:
    """'rescue medication use' is an outcome, not a comparator."""
    after = text[m.end() : m.end() + 15]
    before = text[max(0, m.start() - 12) : m.start()]
    return bool(re.match(r"\s*(?:use|intake|consumption)", after, re.I) or re.search(r"rescue\s*$", before, re.I))


# --- sample size ----------------------------------------------------------------

_NUMBER = rf"(?:\d{{1,3}}(?:,\d{{3}})+|\d+|{WORD_NUMBER_RE.pattern})"
N_PATTERNS = [
    # "We randomized 108 patients", "randomly assigned 60 participants"
    re.compile(rf"\b(?:randomi[sz]ed|randomly (?:assigned|allocated)|enrolled|recruited|included|studied)\s+(?P<n>{_NUMBER})\s+(?:\w+\s+){{0,3}}?{PARTICIPANTS}", re.I),
    # "A total of 168 people", "Forty-five patients", "Thirty adults (8 men...)"
    re.compile(rf"(?:\ba total of\s+)?(?<![\d.,])(?P<n>{_NUMBER})\s+(?:[\w-]+\s+){{0,3}}?{PARTICIPANTS}\b", re.I),
    # "covering 33 veterans" is covered above; "(n = 110)"
    re.compile(r"\(\s*[nN]\s*=\s*(?P<n>\d+)\s*\)"),
]
GROUPS_OF = re.compile(rf"\b(?P<k>{_NUMBER})\s+(?:groups|arms)\s+of\s+(?P<n>{_NUMBER})\b|\b(?P<k2>{_NUMBER})\s+arms\s+of\s+(?P<n2>\d+)\s+each\b", re.I)
PER_ARM = re.compile(r"\b(?P<n>\d+)\s+(?:per|in each)\s+(?:arm|group)\b", re.I)
# Words attached to a count that make it not the number enrolled ("72 completed").
NOT_PARTICIPANTS = re.compile(
    r"^\s*(?:who\s+|were\s+|had\s+)?(?:completed|finished|analy[sz]ed|dropped|withdrew|lost to follow-up|excluded|screened|records|studies|trials|papers|articles)\b",
    re.I,
)


def sample_size(record: Record, sents: list[Sentence], design: str) -> int | None:
    """Participants randomized (or enrolled, for a study without randomization)."""
    if design in ("meta_analysis", "systematic_review", "narrative_review", "protocol"):
        return None
    if design == "case_report":
        return 1
    candidates = [s for s in sents if not _is_background(s)] or sents
    # Prefer the sentence that describes allocation, then any describing participants.
    ranked = sorted(candidates, key=lambda s: 0 if RANDOMISED.search(s.text) else 1)
    for s in ranked:
        n = _n_in_sentence(s.text)
        if n:
            return n
    return None


def _n_in_sentence(text: str) -> int | None:
    m = GROUPS_OF.search(text)
    if m:
        k = _as_int(m.group("k") or m.group("k2"))
        n = _as_int(m.group("n") or m.group("n2"))
        if k and n:
            return k * n
    for pattern in N_PATTERNS:
        for m in pattern.finditer(text):
            following = text[m.end() : m.end() + 25]
            preceding = text[max(0, m.start() - 25) : m.start()]
            if NOT_PARTICIPANTS.search(following) or re.search(r"\b(?:from|out of)\s*$", preceding):
                continue
            n = _as_int(m.group("n"))
            if not n or n < 1 or n > 100_000:
                continue
            # "20 patients ... and 20 healthy participants": two groups enrolled together.
            rest = text[m.end() : m.end() + 120]
            second = re.match(rf"[^.;]*?\band\s+(?P<n>{_NUMBER})\s+(?:[\w-]+\s+){{0,2}}?(?:healthy|control|matched)\b", rest, re.I)
            if second and not RANDOMISED.search(text):
                n2 = _as_int(second.group("n"))
                if n2:
                    return n + n2
            return n
    m = PER_ARM.search(text)
    if m:
        arms = re.search(r"\b(two|three|four|2|3|4)\s+(?:arms|groups)\b", text, re.I)
        if arms:
            return _as_int(m.group("n")) * (_as_int(arms.group(1)) or 0) or None
    return None


def _as_int(text: str | None) -> int | None:
    if not text:
        return None
    t = text.replace(",", "").strip()
    if t.isdigit():
        return int(t)
    return word_number(t)


# --- outcomes -----------------------------------------------------------------


def outcomes(record: Record, sents: list[Sentence], design: str) -> list[str]:
    """Outcomes measured or reported: from aims, methods, results, conclusions (not background)."""
    if design == "narrative_review" and not (terms.DRY_NEEDLING.search(record.title) and terms.HEADACHE_WORD.search(record.title)):
        return []  # a review that only touches the topic measured nothing of it
    texts = [s.text for s in sents if not _is_background(s) and not _negated_headache(s.text)]
    found: set[str] = set()
    for text in texts:
        for start, end, kind in terms.outcome_spans(text):
            if kind == "pain_intensity" and re.fullmatch(r"pain", text[start:end], re.I):
                # Bare "pain" names an outcome only when something is said to change it.
                if not re.search(r"\b(?:reduc|lower|decreas|less|improv|relie|eas)\w*\s+(?:\w+\s+){0,3}pain\b|\bpain\b\s+(?:\w+\s+){0,2}(?:decreased|improved|fell|reduced|was reduced)", text, re.I):
                    continue
            found.add(kind)
    order = list(OUTCOMES)
    return sorted(found, key=order.index)


# --- direction ------------------------------------------------------------------

INCONCLUSIVE = re.compile(
    r"\b(?:certainty|quality) of (?:the )?evidence (?:is|was) (?:very )?low|\bvery low[- ](?:quality|certainty)\b.*\bevidence\b.*\b(?:conclu|uncertain)|"
    r"\binsufficient evidence\b|\bevidence (?:is|was|remains) (?:insufficient|inconclusive|limited|unclear)|"
    r"\bno (?:firm )?conclusions?\b|\bcannot be (?:drawn|recommended)|\bremains? (?:unclear|uncertain)",
    re.I,
)
NO_DIFFERENCE = re.compile(
    r"\b(?:about|equally|just) as (?:well|effective)\b|\bas (?:effective|well) as\b|\bsimilar(?:ly)?\b|\bcomparable\b|"
    r"\bno (?:significant |statistically significant )?(?:difference|advantage)s?\b|\bdid not differ\b|\bnot (?:significantly )?different\b|"
    r"\b(?:both|all (?:three|two|four)) (?:groups|techniques|approaches|treatments) (?:improved|worked|fell)|\bfell with both\b|\bwith both techniques\b|"
    r"\bnot superior\b|\bno better than\b|\b(?:without|no) (?:significant )?between-group differences?\b",
    re.I,
)
FAVOURS_COMPARATOR = re.compile(
    r"\b(?:more|greater|better|superior|larger|fewer)\b[^.;]*\bthan\s+(?:with\s+|in\s+|after\s+|did\s+)?(?:the\s+)?(?:(?:dry|trigger[- ]point)\s+)?(?:needling|DN)\b|"
    r"\b(?:was|were|is|are)\s+(?:\w+\s+)?(?:superior|preferable) to (?:(?:dry|trigger[- ]point)\s+)?(?:needling|DN)\b|"
    r"\bneedling was (?:less effective|inferior)\b|\bfavou?red (?:the )?(?:control|comparator|sham)\b",
    re.I,
)
# A comparison that says needling did NOT do better: checked before superiority.
NEGATED = re.compile(
    r"\b(?:no|not)\s+(?:more|better|superior|greater)\b|\bdid not (?:reduce|improve|lower|decrease|outperform|differ)|"
    r"\b(?:was|were) not (?:more )?(?:effective|superior)|\bfailed to (?:reduce|improve|show)|"
    r"\b(?:without|no) (?:a )?(?:significant |statistically significant )?between-group differences?\b",
    re.I,
)
POSITIVE = re.compile(
    r"\b(?:reduc|lower|decreas|improv|lessen|relie|alleviat|eas)\w*|\beffective\b|\bbenefit\w*|\bbetter\b|\bsuperior\b|"
    r"\bsignificant (?:gains|improvement|reduction)s?\b|\buseful\b|\bclinically meaningful\b|\breasonable option\b",
    re.I,
)


# What a sentence names as the arm needling beat.
_COMPARATOR_WORDS = (
    r"sham|placebo|control|usual care|waiting list|no treatment|lidocaine|injections?|manual therapy|exercise|"
    r"medication|manipulation|mobili[sz]ation|compression|massage"
)
SUPERIORITY = re.compile(
    r"\b(?:more|greater|better|superior|larger|fewer|less|lower)\b[^.;]*?\b(?:than|relative to|compared (?:with|to)|versus|over)\b[^.;]*?"
    rf"\b(?:{_COMPARATOR_WORDS}|comparators?|without needling|alone)|"
    r"\brelative to (?:sham|placebo|control)|\bonly the (?:real|true|active|needling|DN)[- ]?(?:needling )?(?:arm|group)\b[^.;]*\b(?:gains|improv|reduc)|"
    r"\b(?:associated with|produced|gave|led to|resulted in) (?:a |an )?(?:\w+ ){0,2}(?:greater|larger|more) (?:\w+ )?(?:reductions?|improvements?|decreases?|benefits?)|"
    r"\b(?:reduc|lower|decreas|improv|lessen|allevia)\w*\b[^.;]*?\b(?:compared (?:with|to)|relative to|versus|than)\b[^.;]*?"
    rf"\b(?:{_COMPARATOR_WORDS})",
    re.I,
)
OFF_OUTCOME = re.compile(r"\badverse|\bside effects?|\bbaseline|\bdemographic|\bage\b|\bsex\b|\bsafety|\bcarry-over", re.I)
# Starts only right after a non-space, so a long run of spaces costs linear time.
CLAUSE_BREAK = re.compile(r";|(?<=\S),?\s+(?:but|whereas|while|however|although|nor)\b", re.I)
NONSIGNIFICANT = re.compile(
    r"\bnot (?:statistically )?significant|\bdid not reach (?:statistical )?significance|\bnon-?significant|\bno significant\b", re.I
)
CORE = {"pain_intensity", "frequency", "duration"}


def _clauses(texts: list[str]) -> list[str]:
    return [c for t in texts for c in CLAUSE_BREAK.split(t) if c.strip()]


def _about_core(clause: str) -> bool | None:
    """True if a clause is about headache or pain itself, False if only about other
    outcomes (disability, medication, mobility...), None if it names no outcome."""
    kinds = {k for _, _, k in terms.outcome_spans(clause)} - {"other"}
    if terms.HEADACHE_WORD.search(clause) or kinds & CORE:
        return True
    return False if kinds else None


def classify_direction(record: Record, sents: list[Sentence], design: str, on_topic: bool, comps: list[str]) -> str:
    """The authors' finding on the headache or pain outcome against the comparator.

    Read clause by clause, the conclusion first, then the results: the evidence
    judged too weak → inconclusive; the comparator did better → favours_comparator;
    needling did better on headache or pain → favours_needling (even if a
    secondary outcome did not differ); no difference on headache or pain, or
    overall → no_difference; otherwise improvement reported → favours_needling.
    """
    if not on_topic or design in ("protocol", "mechanism_study"):
        return "not_applicable"
    conclusion = [s.text for s in sents if s.section and re.search(r"conclu|discussion|interpretation", s.section, re.I)]
    if not conclusion:  # unstructured: the last two sentences usually conclude
        conclusion = [s.text for s in sents[-2:]]
    closing = " ".join(conclusion)
    findings = [s.text for s in sents if s.is_result or not s.section]
    if INCONCLUSIVE.search(closing):
        return "inconclusive"
    # Superficial versus deep needling: both arms are needling, "than ... needling" says nothing.
    controlled = comps != ["none"]

    def worse(clause: str) -> bool:
        return comps != ["other_needling"] and bool(FAVOURS_COMPARATOR.search(clause)) and _about_core(clause) is not False

    def better(clause: str) -> bool:
        return bool(SUPERIORITY.search(clause)) and not NEGATED.search(clause) and not NONSIGNIFICANT.search(clause) \
            and _about_core(clause) is not False

    def alike(clause: str) -> bool:
        return bool(NEGATED.search(clause) or NO_DIFFERENCE.search(clause) or NONSIGNIFICANT.search(clause)) \
            and not OFF_OUTCOME.search(clause) and _about_core(clause) is not False

    for texts in ([closing], findings):
        # A sentence whose difference "was not significant" is a tie, whatever its first clause says.
        clauses = [c for t in texts for c in ([t] if NONSIGNIFICANT.search(t) else _clauses([t]))]
        if any(worse(c) for c in clauses):
            return "favours_comparator"
        if any(better(c) for c in clauses):
            return "favours_needling"
        if controlled and any(alike(c) for c in clauses):
            return "no_difference"
    if POSITIVE.search(closing) or any(POSITIVE.search(f) for f in findings):
        return "favours_needling"
    return "inconclusive"


# --- the one-line summary -------------------------------------------------------

DESIGN_LABELS = {
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
DIRECTION_PHRASES = {
    "favours_needling": "favours dry needling",
    "no_difference": "no difference",
    "favours_comparator": "favours the comparator",
    "inconclusive": "inconclusive",
    "not_applicable": "",
}


def summarise(x: Extraction, sents: list[Sentence]) -> str:
    """'RCT · n=168 · tension-type · dry needling vs sham · pain intensity, frequency: favours dry needling (P < .05)'."""
    parts = [DESIGN_LABELS[x.design]]
    if x.n_randomized:
        parts.append(f"n={x.n_randomized}")
    if x.headache_types:
        parts.append(", ".join(h.replace("_", "-") for h in x.headache_types))
    if not x.on_topic:
        parts.append("not a study of dry needling for headache")
        return " · ".join(parts)
    if x.comparators and x.comparators != ["none"]:
        parts.append("dry needling vs " + ", ".join(c.replace("_", " ") for c in x.comparators))
    elif x.comparators == ["none"]:
        parts.append("dry needling, no comparison group")
    if x.design == "protocol":
        parts.append("planned: " + ", ".join(o.replace("_", " ") for o in x.outcomes) if x.outcomes else "no results yet")
        return " · ".join(parts)
    finding = DIRECTION_PHRASES[x.direction]
    outs = ", ".join(o.replace("_", " ") for o in x.outcomes if o != "other")
    # A p-value alone is quoted only for a finding of difference: next to "no
    # difference" it would come from some other comparison and mislead.
    evidence = _key_number(x, sents, p_ok=x.direction in ("favours_needling", "favours_comparator"))
    line = (f"{outs}: " if outs and finding else outs) + finding + (f" ({evidence})" if evidence else "")
    if line.strip():
        parts.append(line)
    return " · ".join(parts)


def _key_number(x: Extraction, sents: list[Sentence], *, p_ok: bool) -> str | None:
    """The first reported estimate, or failing that the first p-value in the results, as written."""
    named = [e for e in x.effects if e.measure != "other"]
    if named:
        return named[0].value_text
    if not p_ok:
        return None
    for s in sents:
        if s.is_result or not s.section:
            m = re.search(r"\b[Pp]\s*(?:<|=|≤|<=)\s*0?\.\d+", s.text)
            if m:
                return m.group(0)
    return None
