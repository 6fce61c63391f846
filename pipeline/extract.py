"""What each study is, what it compared, what it found: rules over the title,
abstract, publication types and MeSH, every output traceable to the text.

The rules are written for how abstracts in general report designs, samples and
results (see `terms.py` for the wording they recognise), not for particular
records. EXTRACTOR_VERSION (pipeline/version.py) is the code's version (bump it
when a rule in code changes) plus a hash of the rule files in rules/ and the
topic's words: a study extracted by another version is extracted again on the
next run (`evidence extract --all` forces it), and each row records the version
that wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import rules, terms
from .document import Document
from .effects import Effect, find_effects
from .harms import Harm
from .harms import find as find_harms
from .provenance import Reason, as_value
from .sample_size import sample_size
from .text import Checked, Sentence, Specialised, per_abstract
from .version import EXTRACTOR_VERSION  # the code's version and a hash of rules and topic words (version.py)
from .vocab import COMPARATORS, DESIGN_LABELS, EVIDENCE_LEVELS, OUTCOMES



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
    harms_reported: bool = False  # does the abstract say anything of harms (harms.py)?
    harms: list[Harm] = field(default_factory=list)


# The parts of a study the extractor reads: the document model, so that its
# sentences and named parts are computed once per record.
Record = Document


RULES = rules.default()


def extract(record: Record) -> Extraction:
    # The term cache serves one abstract's sentences; cleared so that repeated
    # abstracts (benchmarks) are not faster than real ones.
    terms.outcome_spans.cache_clear()
    sents = record.sentences
    why = Why(record)
    design = classify_design(record, sents, why=why)
    on_topic = is_on_topic(record, sents, design, why=why)
    headache = headache_types(record, sents, why=why)
    comps = comparators(record, sents, design, why=why)
    n = sample_size(RULES, record, sents, design, why=why)
    outs = outcomes(record, sents, design, why=why)
    direction = classify_direction(record, sents, design, on_topic, comps, why=why)
    effects = find_effects(record.abstract)
    harms_reported, harms_found = find_harms(record.abstract)
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
        reasons=why.reasons,
        harms_reported=harms_reported,
        harms=harms_found,
    )
    extraction.summary = summarise(extraction, sents)
    return extraction


class Why:
    """Collects the reason behind each value while the fields are extracted."""

    def __init__(self, doc: Document | None = None):
        self.doc = doc
        self.reasons: list[Reason] = []

    def add(self, field_: str, value: object, rule: str, quote: str | None = None, *,
            scope: str = "abstract", confidence: str = "high") -> None:
        where = start = end = None
        if quote and self.doc is not None:
            found = self.doc.locate(quote, scope)
            if found:
                where, start, end = found
            else:
                quote = None  # not verbatim in the record: never show words that are not there
        self.reasons.append(Reason(field_, as_value(value), rule, confidence, where, start, end, quote))


# --- design -----------------------------------------------------------------


def classify_design(record: Record, sents: list[Sentence], *, why: Why | None = None) -> str:
    """The design, read by the rules in rules/design.yml from what the abstract
    says about this study; PubMed's publication types settle what the text leaves open."""
    decision = RULES.decide("design", record.parts)
    if why is not None:
        if decision:
            why.add("design", decision.value, decision.rule.id, decision.quote, scope=decision.scope,
                    confidence=decision.rule.confidence)
        else:
            why.add("design", "other", "default.design-other", confidence="low")
    return decision.value if decision else "other"


# --- population and intervention ---------------------------------------------


# "Unlike dry needling, acupuncture ...": a mention that is not the study's subject.
CONTRAST = re.compile(
    r"\b(?:unlike|differs? from|different from|rather than|as opposed to|instead of|in contrast to|compared to|than)\s+(?:\w+\s+){0,2}?(?:dry[- ]needl|trigger[- ]point needl)",
    re.I,
)

# The topic's words as read over every sentence: run only where one of their words is
# (text.Checked: the same matches).
_DRY_NEEDLING = Checked(terms.DRY_NEEDLING)
_HEADACHE_WORD = Checked(terms.HEADACHE_WORD)
_CONTRAST = Checked(CONTRAST)


def is_on_topic(record: Record, sents: list[Sentence], design: str, *, why: Why | None = None) -> bool:
    """Dry needling studied (not merely mentioned) in people with headache."""
    why = why or Why()
    if design == "mechanism_study":
        why.add("on_topic", False, "on_topic.mechanism-study")
        return False
    if design == "other":  # a survey, a cross-sectional or bibliometric study: nobody was treated
        why.add("on_topic", False, "on_topic.not-a-treatment-study")
        return False
    in_title = terms.DRY_NEEDLING.search(record.title)
    if not in_title:
        neighbour = terms.NEIGHBOURS.search(record.title)
        if neighbour:  # the title names another intervention (acupuncture, an injection, manipulation)
            why.add("on_topic", False, "on_topic.neighbour-in-title", neighbour.group(0), scope="title")
            return False
    mentions = [s for s in sents if _DRY_NEEDLING.search(s.text) and not _CONTRAST.search(s.text)]
    studied = bool(in_title) or len(mentions) >= 2 or (bool(mentions) and mentions[0] is sents[0])
    if not studied:
        why.add("on_topic", False, "on_topic.needling-not-studied",
                confidence="high" if not mentions else "low")
        return False
    headache_in_title = None if _negated_headache(record.title) else terms.HEADACHE_WORD.search(record.title)
    headache_sentences = [
        s for s in sents if (_HEADACHE_WORD.search(s.text) or _any_type(s.text)) and not _negated_headache(s.text)
    ]
    on = bool(headache_in_title) or _any_type(record.title) or len(headache_sentences) >= 2
    needle = in_title.group(0) if in_title else terms.DRY_NEEDLING.search(mentions[0].text).group(0)
    if on:
        quote = headache_in_title.group(0) if headache_in_title else None
        why.add("on_topic", True, "on_topic.needling-and-headache", quote or needle,
                scope="title" if quote or in_title else "abstract")
    else:
        why.add("on_topic", False, "on_topic.no-headache-population", needle, scope="title" if in_title else "abstract",
                confidence="low" if headache_sentences else "high")
    return on


# The headache types' patterns, compiled once (with the flags _any_type and found_in
# give them), each run only where one of its words is (text.Checked).
_TYPE_PATTERNS = {kind: Checked(re.compile(p, 0 if kind == "tension_type" else re.I)) for kind, p in terms.HEADACHE_TERMS.items()}
_TYPE_PATTERNS_FOUND = {**_TYPE_PATTERNS, "tension_type": Checked(re.compile(r"(?i:tension[- ]type|tension headaches?)|\bC?E?TTH\b"))}
_NEGATED_HEADACHE = Checked(re.compile(r"\bno (?:\w+ )?(?:headaches?|pain)\b|\bwithout (?:\w+ )?(?:headaches?|migraines?)\b", re.I))


# Asked of each sentence by several fields: answered once per abstract (text.per_abstract).
@per_abstract
def _any_type(text: str) -> bool:
    return any(p.search(text) for p in _TYPE_PATTERNS.values())


@per_abstract
def _negated_headache(text: str) -> bool:
    return bool(_NEGATED_HEADACHE.search(text))


def headache_types(record: Record, sents: list[Sentence], *, why: Why | None = None) -> list[str]:
    """Headache populations studied: the title and non-background sentences, else any sentence."""
    why = why or Why()

    def found_in(texts: list[str]) -> list[tuple[str, str]]:
        joined = "\n".join(texts)
        out = []
        for kind, pattern in _TYPE_PATTERNS_FOUND.items():
            m = pattern.search(joined)
            if m:
                out.append((kind, m.group(0)))
        return out

    main = [record.title] + [s.text for s in sents if not _is_background(s) and not _negated_headache(s.text)]
    found = found_in(main)
    rule, confidence = "headache.named-for-this-study", "high"
    if not found:
        found = found_in([s.text for s in sents if not _negated_headache(s.text)])
        rule, confidence = "headache.named-in-background", "low"
    if not found:
        headache_mentions = [
            t for t in [record.title] + [s.text for s in sents]
            if _HEADACHE_WORD.search(t) and not _negated_headache(t)
        ]
        title_says = terms.HEADACHE_WORD.search(record.title) and not _negated_headache(record.title)
        if headache_mentions and (title_says or len(headache_mentions) >= 2):
            word = terms.HEADACHE_WORD.search(headache_mentions[0]).group(0)
            found = [("other", word)]
            rule, confidence = "headache.unnamed-type", "low"
    for kind, quote in found:
        why.add("headache_types", kind, f"{rule}.{kind}", quote, confidence=confidence)
    if not found:
        why.add("headache_types", "", "default.no-headache-type")
    return [kind for kind, _ in found]


def _is_background(s: Sentence) -> bool:
    return bool(s.section) and _background_label(s.section)


@per_abstract  # every sentence of a section asks
def _background_label(label: str) -> bool:
    return bool(re.match(r"(background|introduction|context|rationale)", label.strip(), re.I))


# --- comparators --------------------------------------------------------------

_TRIAL_CUE_WORDS = (
    r"versus", r"vs\.?", r"compared", r"comparing", r"comparison", r"against", r"than", r"control(?:led)? group",
    r"randomi[sz]ed", r"randomly", r"allocated", r"assigned", r"group", r"arm", r"G[1-4]",
)
# (each word as an alternative of its own, \bword\b: the same matches as \b(?:a|b|...)\b)
TRIAL_CUES = re.compile(
    "|".join(rf"\b{w}\b" for w in _TRIAL_CUE_WORDS) + r"|\b(?:received|underwent|given)\b[^.;]*\b(?:or|alone|only)\b", re.I
)
# Read over every sentence with only the cues whose words it has (text.Specialised).
_TRIAL_CUES = Specialised([("", TRIAL_CUES.pattern, "")], re.I)
# (a review names its trials' comparators after "comparing dry needling, alone or
# added to another treatment, with ...": the words between may be many)
REVIEW_CUES = re.compile(r"\b(?:versus|vs\.?|compared? (?:with|to)|compar(?:e|es|ed|ing) [^.;]{0,80}?\bwith|against|comparators?(?: (?:in|of) (?:the |these |all )?(?:included )?(?:trials|studies|RCTs))? (?:were|was|included)|control interventions?)\b", re.I)
VERSUS = re.compile(r"\b(?:versus|vs\.?|compared (?:with|to))\s", re.I)
SINGLE_ARM = re.compile(
    r"\bsingle[- ]arm|\bsingle[- ]group|\bpre-?post|\bno (?:between-group|control)|\bone group\b|\bwithout a control group\b", re.I
)


def comparators(record: Record, sents: list[Sentence], design: str, *, why: Why | None = None) -> list[str]:
    """What the studied intervention was compared against: from the title and the
    sentences that describe groups or comparisons. 'none' for designs without a
    comparison group; [] where nothing is compared or the comparison is unnamed."""
    why = why or Why()
    if design in ("case_report", "case_series"):
        why.add("comparators", "none", f"comparators.none-for-{design.replace('_', '-')}")
        return ["none"]
    single = SINGLE_ARM.search(record.text) if design == "non_randomized_trial" else None
    if single:
        why.add("comparators", "none", "comparators.single-arm", single.group(0))
        return ["none"]
    if design == "other":
        # A survey, a cross-sectional or a case-control study of people compares no
        # treatment: "none", as for a single group. A study of no people (a
        # bibliometric or data-mining study of papers) has no comparison to speak of: [].
        counted = next((s for s in sents if any(not h.rule.id.startswith("count.not_sample.")
                                                for h in RULES.find("count", s.text))), None)
        if counted is not None:
            why.add("comparators", "none", "comparators.none-for-other-with-participants", counted.text)
            return ["none"]
        why.add("comparators", "", "comparators.not-read-for-other")
        return []
    on_topic_review = design == "narrative_review" and terms.DRY_NEEDLING.search(record.title) and terms.HEADACHE_WORD.search(record.title)
    # (a protocol names its arms as a trial does, and is read like one)
    if design == "narrative_review" and not VERSUS.search(record.title) and not on_topic_review:
        why.add("comparators", "", f"comparators.not-read-for-{design.replace('_', '-')}")
        return []
    cues = REVIEW_CUES if design in ("meta_analysis", "systematic_review", "narrative_review", "protocol") else _TRIAL_CUES
    own = _intervention(record, sents)
    title_after_versus = ""
    v = VERSUS.search(record.title)
    if v:
        title_after_versus = record.title[v.end():]
    texts = [record.title] + [s.text for s in sents if cues.search(s.text) and not _is_background(s)]
    found: list[str] = []
    controls: re.Match | None = None
    for rule in RULES.family("comparator"):
        kind = rule.value
        # A class that is the study's own intervention counts only where the title sets
        # it against another of its kind ("manipulation versus mobilization").
        if kind in own and not rule.regex.search(title_after_versus):
            continue
        first = next((
            m for text in RULES.possible_in(rule.regex, texts) for m in rule.regex.finditer(text)
            if not _co_intervention(text, m) and not _outcome_use(text, m) and not negated_mention(text, m)
        ), None)
        if first is None:
            continue
        if kind == "unspecified_control":
            controls = first
            continue
        found.append(kind)
        why.add("comparators", kind, rule.id, first.group(0))
    if design == "mechanism_study" and not found:
        why.add("comparators", "none", "comparators.none-for-mechanism-study", confidence="low")
        return ["none"]
    if not found and controls is not None:
        # A control group is named but not what it received: say so, rather than "no comparison".
        why.add("comparators", "unspecified_control", "comparator.unspecified-control", controls.group(0))
        return ["unspecified_control"]
    if not found:
        # A trial that names no comparator the vocabulary knows: maybe none, maybe unread.
        trial = design in ("rct", "non_randomized_trial", "meta_analysis", "systematic_review")
        why.add("comparators", "", "default.no-comparator-named", confidence="low" if trial else "high")
    return sorted(found, key=list(COMPARATORS).index)


# Compiled once, here and below: re.search(pattern_text, ...) looks the pattern up in
# re's cache on every call, and these are called per sentence or per match.
_RECEIVED = re.compile(r"\b(?:received|underwent|were treated with|had)\b(?P<rest>.{0,60})", re.I)


_ADDED_TO = re.compile(r"\b(?:added to|plus|in addition to|combined with)\s+(?:\w+\s+)?$", re.I)


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
    classes = [r for r in RULES.family("comparator") if r.value not in ("sham", "unspecified_control")]
    # (not the care the title's treatment is added to: "electroacupuncture added to usual care")
    own = {r.value for r in classes if any(not _ADDED_TO.search(head[max(0, m.start() - 20) : m.start()])
                                           for m in r.regex.finditer(head))}
    if re.search(r"\bacupunct", title, re.I):
        own.add("other_needling")  # an acupuncture trial: acupuncture is the intervention, not a comparator
    if own:
        return own
    for s in sents:
        m = _RECEIVED.search(s.text)
        if m:
            for r in classes:
                if r.regex.search(m.group("rest")):
                    return {r.value}
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


_CO_BEFORE = re.compile(
    r"\ball (?:groups|patients|participants)\b|\bon (?:migraine )?prophylaxis\b|\bplus\b|\bcombined with\b|"
    r"\bpairing\b|\bcombining\b|\balongside\b|\bas well as\b|\bboth groups\b|\bin addition to\b|"
    r"(?<!sham )(?<!placebo )\bneedling and (?:an? )?(?:[\w-]+ ){0,3}$",  # (a list "sham needling and usual care" is not)
    re.I,
)
_WITH_NEEDLING = re.compile(r"\b(?:plus|combined with|and) (?:dry )?needling\b", re.I)


# Where one arm ends and the next begins: a co-intervention cue ("plus", "combined
# with") before one of these belongs to the other arm ("needling plus usual care
# versus usual care alone", "to needling plus exercise or to exercise alone").
ARM_BREAK = re.compile(r"\b(?:versus|vs\.?|compared (?:with|to)|or (?:to|with)|than|against)\s", re.I)
# "usual care alone", "physiotherapy only (control group)", "manual therapy and exercise
# only": an arm of its own.
ALONE = re.compile(r"\s*(?:\([^()]{0,40}\)\s*)?(?:(?:and|or)\s+)?(?:[\w-]+\s+){0,3}?(?:alone|only)\b", re.I)


def _co_intervention(text: str, m: re.Match) -> bool:
    """Given to every group, or combined with needling: not a comparator."""
    if ALONE.match(text, m.end()):
        return False
    pos = m.start()
    before = text[max(0, pos - 60) : pos]
    breaks = list(ARM_BREAK.finditer(before))
    if breaks:
        before = before[breaks[-1].end() :]
    window = text[max(0, pos - 60) : pos + 40]
    return bool(_CO_BEFORE.search(before) or _WITH_NEEDLING.search(window))


def _outcome_use(text: str, m: re.Match) -> bool:
    """'rescue medication use' is an outcome, not a comparator."""
    after = text[m.end() : m.end() + 15]
    before = text[max(0, m.start() - 12) : m.start()]
    return bool(re.match(r"\s*(?:use|intake|consumption)", after, re.I) or re.search(r"rescue\s*$", before, re.I))


# --- outcomes -----------------------------------------------------------------


_BARE_PAIN = re.compile(r"pain", re.I)
_PAIN_CHANGED = re.compile(
    r"\b(?:reduc|lower|decreas|less|improv|relie|eas)\w*\s+(?:\w+\s+){0,3}pain\b|\bpain\b\s+(?:\w+\s+){0,2}(?:decreased|improved|fell|reduced|was reduced)",
    re.I,
)


def outcomes(record: Record, sents: list[Sentence], design: str, *, why: Why | None = None) -> list[str]:
    """Outcomes measured or reported: from aims, methods, results, conclusions (not background)."""
    why = why or Why()
    if design == "narrative_review" and not (terms.DRY_NEEDLING.search(record.title) and terms.HEADACHE_WORD.search(record.title)):
        why.add("outcomes", "", "outcomes.off-topic-review")
        return []  # a review that only touches the topic measured nothing of it
    texts = [s.text for s in sents if not _is_background(s) and not _negated_headache(s.text)]
    found: dict[str, str] = {}
    for text in texts:
        for start, end, kind in terms.outcome_spans(text):
            if kind == "pain_intensity" and _BARE_PAIN.fullmatch(text[start:end]):
                # Bare "pain" names an outcome only when something is said to change it.
                if not _PAIN_CHANGED.search(text):
                    continue
            found.setdefault(kind, text[start:end])
    order = list(OUTCOMES)
    kinds = sorted(found, key=order.index)
    for kind in kinds:
        why.add("outcomes", kind, f"outcomes.named.{kind}", found[kind])
    if not kinds:
        why.add("outcomes", "", "default.no-outcome-named", confidence="low" if design in ("rct", "meta_analysis") else "high")
    return kinds


# --- direction ------------------------------------------------------------------

# The cues are data: rules/direction.yml (labels direction_cue/...). What stays here is
# the procedure: clauses, their order, and which cue decides.
def _cue(name: str, text: str) -> re.Match | None:
    """The first match of a direction cue (rules/direction.yml) in `text`."""
    hits = RULES.find(f"direction_cue/{name}", text)
    return hits[0].match if hits else None


# Starts only right after a non-space, so a long run of spaces costs linear time.
# ", with fewer adverse effects" is a clause of its own: a tie on the headache is
# not vetoed by the safety words after it.
CLAUSE_BREAK = re.compile(r";|(?<=\S),?\s+(?:but|whereas|while|however|although|nor)\b|(?<=\S),\s+with\s+(?=(?:fewer|less|more|similar|no|a\ lower|a\ higher)\b)", re.I)
CORE = {"pain_intensity", "frequency", "duration"}


def _clauses(texts: list[str]) -> list[str]:
    return [c for t in texts for c in CLAUSE_BREAK.split(t) if c.strip()]


GROUP_WORDS = re.compile(r"\b(?:groups?|arms?|between|treatments|interventions|techniques|conditions|approaches|comparators?)\b", re.I)


def _tie_between_groups(clause: str) -> bool:
    """A tie in the results that speaks of headache or pain, or of the groups as a
    whole; not one about some other measure the vocabulary does not name."""
    core = _about_core(clause)
    return core is True or (core is None and bool(GROUP_WORDS.search(clause)))


def _direction_clauses(sentence: str) -> list[str]:
    """The clauses direction is read from. A sentence whose difference "was not
    significant" is one tie, whatever its first clause says ("reduced more with
    needling, but the difference was not significant"); but where the
    non-significant clause names an outcome of its own ("... larger falls in
    intensity and disability; the change in frequency was not significant"),
    each clause speaks for its own outcome."""
    if not _cue("nonsignificant", sentence):
        return _clauses([sentence])
    parts = _clauses([sentence])
    tie = [p for p in parts if _cue("nonsignificant", p)]
    if len(parts) > 1 and tie and all(terms.outcome_spans(p) for p in tie):
        return parts
    return [sentence]


def _about_core(clause: str) -> bool | None:
    """True if a clause is about headache or pain itself, False if only about other
    outcomes (disability, medication, mobility...), None if it names no outcome."""
    kinds = {k for _, _, k in terms.outcome_spans(clause)} - {"other"}
    if terms.HEADACHE_WORD.search(clause) or kinds & CORE:
        return True
    return False if kinds else None


def classify_direction(record: Record, sents: list[Sentence], design: str, on_topic: bool, comps: list[str],
                       *, why: Why | None = None) -> str:
    """The authors' finding on the headache or pain outcome against the comparator.

    Read clause by clause, the conclusion first, then the results: the evidence
    judged too weak → inconclusive; the comparator did better → favours_comparator;
    needling did better on headache or pain → favours_needling (even if a
    secondary outcome did not differ); no difference on headache or pain, or
    overall → no_difference; otherwise improvement reported → favours_needling.
    """
    why = why or Why()

    def give(value: str, rule: str, quote: str | None = None, confidence: str = "high") -> str:
        why.add("direction", value, rule, quote, confidence=confidence)
        return value

    if not on_topic or design in ("protocol", "mechanism_study"):
        return give("not_applicable", "direction.not-applicable")
    conclusion = [s.text for s in sents if s.section and re.search(r"conclu|discussion|interpretation", s.section, re.I)]
    if not conclusion:  # unstructured: the last two sentences usually conclude
        conclusion = [s.text for s in sents[-2:]]
    closing = " ".join(conclusion)
    findings = [s.text for s in sents if s.is_result or not s.section]
    # Superficial versus deep needling: both arms are needling, "than ... needling" says nothing.
    controlled = comps != ["none"]

    def worse(clause: str) -> bool:
        return comps != ["other_needling"] and bool(_cue("favours_comparator", clause)) and _about_core(clause) is not False

    def better(clause: str) -> bool:
        return bool(_cue("superiority", clause)) and not _cue("negated", clause) and not _cue("nonsignificant", clause) \
            and _about_core(clause) is not False

    def alike(clause: str) -> bool:
        # "whereas no significant change was seen in the control group" speaks of one
        # arm: read without it, the clause must still say the arms did alike.
        for m in reversed(RULES.find("direction_cue/within_arm", clause)):
            clause = clause[: m.start] + clause[m.end :]
        return bool(_cue("negated", clause) or _cue("no_difference", clause) or _cue("nonsignificant", clause)) \
            and not _cue("off_outcome", clause) and _about_core(clause) is not False

    def partial_tie(clause: str) -> bool:
        """A conclusion that needling helps, "with effects comparable to those of manual
        therapy": a tie with one active comparator of several, not the study's finding
        (the results say how it did against the others)."""
        named = {r.value for r in RULES.family("comparator") if r.regex.search(clause)}
        return len(set(comps) - {"none", "unspecified_control"}) > 1 and bool(named & ACTIVE) \
            and not named & {"sham", "usual_care"} and bool(_cue("positive", clause))

    def weak_evidence() -> str | None:
        for hit in RULES.find("direction_cue/inconclusive", closing):
            if not _doubt_about_one_outcome(closing, hit.start):
                return give("inconclusive", hit.rule.id, hit.match.group(0))
        return None

    def positive_in(texts: list[str]) -> re.Match | None:
        """An improvement reported in a clause that neither denies nor doubts it."""
        return next((m for t in texts for c in _direction_clauses(t)
                     if (m := _cue("positive", c)) and not _cue("negated", c) and not _cue("nonsignificant", c)), None)

    # A review that judges its evidence too weak is inconclusive whatever its trials
    # showed; a trial's own finding on its outcome ("superior to sham for intensity")
    # is not undone by doubt about another outcome ("its effect on disability
    # remains uncertain"), so a trial reads its comparisons first.
    if design in REVIEWS and (found := weak_evidence()):
        return found
    for where, texts in (("conclusion", conclusion), ("results", findings)):
        clauses = [c for t in texts for c in _direction_clauses(t)]
        for test, value, rule in ((worse, "favours_comparator", "comparator-better"), (better, "favours_needling", "needling-better"),
                                  (alike, "no_difference", "no-difference")):
            if test is alike and not controlled:
                continue
            if test is alike and where == "conclusion" and (found := weak_evidence()):
                return found
            # In the results a tie decides only when it is about headache or pain itself:
            # "time to return to play did not differ" says nothing of the headache.
            strict = test is alike and where == "results"
            hit = next((c for c in clauses if test(c) and (not strict or _tie_between_groups(c))
                        and not (test is alike and where == "conclusion" and partial_tie(c))), None)
            if hit is not None:
                return give(value, f"direction.{rule}-in-{where}", hit.strip())
        if where == "conclusion":
            if found := weak_evidence():
                return found
            # An add-on trial's conclusion that adding needling brought a benefit ("adding
            # dry needling provides a short-term benefit") is a comparison with the other
            # arm, and outweighs a tie on a secondary outcome in the results.
            addon = [t for t in conclusion if NEEDLING_ADDED.search(t)]
            if controlled and (positive := positive_in(addon)) and _about_core(" ".join(addon)) is not False:
                return give("favours_needling", "direction.add-on-benefit-concluded", positive.group(0))
    positive = positive_in(conclusion) or positive_in(findings)
    if positive:
        return give("favours_needling", "direction.improvement-reported", positive.group(0), confidence="low")
    return give("inconclusive", "default.direction-inconclusive", confidence="low")


REVIEWS = ("meta_analysis", "systematic_review", "narrative_review")
ACTIVE = {"lidocaine_or_injection", "manual_therapy", "exercise", "medication", "other_needling", "other"}
# "... but its effect on headache-related disability remains uncertain": doubt about
# one outcome, after a finding on the others, is not doubt about the evidence.
ONE_OUTCOME_DOUBT = re.compile(r"\b(?:its|the|their)\s+(?:effects?|impact|benefits?|influence)\s+on\s+", re.I)


def _doubt_about_one_outcome(closing: str, pos: int) -> bool:
    """The inconclusive cue at `pos` doubts one named outcome ("its effect on disability
    remains uncertain") in a clause after one that reports a benefit."""
    clauses = _clauses([closing])
    at = 0
    for i, c in enumerate(clauses):
        start = closing.find(c, at)
        at = start + len(c)
        if start <= pos < at:
            return i > 0 and bool(ONE_OUTCOME_DOUBT.search(c)) and bool(terms.outcome_spans(c)) \
                and any(_cue("positive", p) for p in clauses[:i])
    return False


# Needling added to another treatment, named as such in a conclusion.
NEEDLING_ADDED = re.compile(
    r"\b(?:adding|addition of|added to|in addition to|as an? (?:adjunct|add-on)|combined with|plus)\b[^.;]{0,60}?\b(?:dry )?needling\b"
    r"|\b(?:dry )?needling\b[^.;]{0,20}?\b(?:added to|in addition to|as an? (?:adjunct|add-on) to|combined with|plus)\b",
    re.IGNORECASE,
)


# --- the one-line summary -------------------------------------------------------

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

