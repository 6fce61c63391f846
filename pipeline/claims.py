"""The article's claims ↔ the stored studies: a stance per study, a verdict per claim.

Rules, in plain words (also printed in the digest's methods note):

Which studies count. Only studies of dry needling in people with headache
(`on_topic`), with results (not protocols), and never a retracted one (it is
listed, flagged, and not counted). A study is relevant to a claim when it
measured one of the claim's outcomes and, where the claim names them, studied
one of its headache types or comparators.

Stance of a study. Where the study reports an estimate with a confidence
interval for the claim's outcome, the interval decides: all intervals include
no effect → neutral (contradicts when the study found no difference from sham
or no treatment). Where every such interval favours needling and the authors
call the evidence inconclusive, the study supports (their doubt is about
certainty, which is rated apart). Otherwise the authors' finding decides:
favours needling → supports; favours the comparator → contradicts; no
difference against sham or no treatment → contradicts; inconclusive → neutral
(no effect shown).
A finding of no difference from an active treatment (lidocaine or another
injection, manual therapy, exercise, medication, another form of needling) →
comparable, a stance of its own: needling did about as well as another
treatment, which is not evidence against a claim that needling helps, and not
evidence for it either (it does not test needling against doing nothing).
Where the study's own text says all (or both) groups improved, the digest
says so.

An add-on trial (needling plus a treatment against that treatment alone)
compares needling with nothing on a common background: no difference there
contradicts, as against sham.

Verdict of a claim: what the evidence suggests (its direction: benefit, no
difference, harm, unclear) and how certain it is, in GRADE's four levels, by
the certainty rules below; written "benefit — low certainty" and said in
Cochrane's plain words ("may reduce pain intensity — low certainty"). No
counted study measured it → no direct evidence (no direction, no certainty).
Studies are never added up by design weight: the body of evidence is rated.

Suggested rewordings. Each states the verdict (direction and certainty) it was
written for; when either has moved since, the digest flags the wording for review and lists it
among the changes, and offers a wording generated from the verdict and the
studies, labelled as generated.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

import sqlite_utils

from . import certainty, claim_kinds, terms
from .topic import Topic, TopicError
from .vocab import COMPARATORS, HEADACHE_TYPES, OUTCOMES



def verdict_key(direction: str, level: str | None) -> str:
    """'benefit_low_certainty': a claim's direction and certainty as one value
    (a change of either is a change of verdict); 'no_direct_evidence' without them."""
    return "no_direct_evidence" if level is None else f"{direction}_{level}_certainty"


VERDICTS: dict[str, str] = {
    verdict_key(d, level): f"{certainty.DIRECTIONS[d][:1].upper()}{certainty.DIRECTIONS[d][1:]} — {certainty.LEVEL_WORDS[level]} certainty"
    for d in ("benefit", "no_difference", "harm", "unclear")
    for level in reversed(certainty.LEVELS)
} | {"no_direct_evidence": "No direct evidence: no study in people with headache measured it"} | claim_kinds.VERDICTS
# Verdicts before certainty was rated (issue 12): a wording written for one of
# them still loads, and is always flagged for review.
LEGACY_VERDICTS = ("strong", "moderate", "limited", "conflicting", "contradicted", "insufficient")
DESIGN_WEIGHT = {
    "meta_analysis": 3.0,
    "systematic_review": 3.0,
    "rct": 2.0,
    "non_randomized_trial": 1.0,
    "cohort": 1.0,
}
REVIEWS = ("meta_analysis", "systematic_review")
NO_EFFECT = {"SMD": 0.0, "MD": 0.0, "WMD": 0.0, "d": 0.0, "OR": 1.0, "RR": 1.0}

# Comparators that do nothing (or pretend to): no difference against them counts against the claim.
INACTIVE_COMPARATORS = ("sham", "usual_care")
# Active treatments, as a writer would name them: a tie with one of them is "comparable".
ACTIVE_COMPARATORS: dict[str, str] = {
    "lidocaine_or_injection": "lidocaine or another injection",
    "manual_therapy": "manual therapy",
    "exercise": "exercise",
    "medication": "medication",
    "other_needling": "another form of needling",
    "other": "another treatment",
}
# How abstracts say that every arm got better: only then may the digest say "all groups improved".
ALL_GROUPS_IMPROVED = re.compile(
    r"\b(?:all|both|the (?:two|three|four)) (?:(?:two|three|four) )?(?:treatment )?(?:groups|arms)"
    r"(?: \w+){0,2} (?:improved|showed (?:a )?(?:significant )?improvements?|got better|reduced)"
    r"|\bimprove(?:d|ments?) (?:was |were )?(?:seen |observed |found )?in (?:all|both) (?:groups|arms)",
    re.I,
)
STANCES = ("supports", "contradicts", "comparable", "neutral", "excluded")
REWORDING_KEYS = ("text", "written_for")


@dataclass
class Claim:
    id: str
    text: str
    quote: str
    outcomes: list[str] = field(default_factory=list)
    headache_types: list[str] = field(default_factory=list)
    comparators: list[str] = field(default_factory=list)
    rewordings: list["Rewording"] = field(default_factory=list)
    kind: str = "efficacy"  # efficacy, safety or background (pipeline/claim_kinds.py)
    terms: list[str] = field(default_factory=list)  # a background claim's words, as studies write them
    proxy: str | None = None  # what the claim says that no study measured (its outcomes stand in: indirect)

    @property
    def rewording(self) -> str | None:
        """The first suggested wording as written (what the `claims` table keeps)."""
        return self.rewordings[0].text if self.rewordings else None


@dataclass(frozen=True)
class Rewording:
    """A suggested wording and the verdict it was written for: when the verdict
    moves, the wording may no longer fit, and the digest says so."""

    text: str
    written_for: str


@dataclass(eq=False)
class Evidence:
    """One study's bearing on one claim. Compared by identity: the certainty rules
    ask whether an item is in a body of evidence (`e in body`), which compared
    every field of every pair, quadratic in the studies behind a claim."""

    claim_id: str
    pmid: str
    stance: str  # one of STANCES
    reason: str
    sentence: str | None
    weight: float  # orders the studies in the digest; never added up into a verdict
    counted: bool
    retracted: bool = False
    rated: bool = False  # in the body of evidence whose certainty was rated
    note: str | None = None  # why a counted study was listed but not rated


@dataclass
class Verdict:
    claim_id: str
    verdict: str
    explanation: str
    supporting: int
    contradicting: int
    neutral: int
    considered: int  # counted studies (on topic, with results, not retracted)
    indirect: list[str] = field(default_factory=list)  # off-topic studies that measured the outcome
    comparable: int = 0  # counted studies no different from an active treatment
    rating: certainty.Rating | None = None  # direction and GRADE certainty, with the reasons
    statement: str = ""  # what it suggests and how certain, in Cochrane's plain words

    @property
    def direction(self) -> str:
        return self.rating.direction if self.rating else "none"

    @property
    def certainty(self) -> str | None:
        return self.rating.certainty if self.rating else None

    @property
    def label(self) -> str:
        return VERDICTS[self.verdict]


def load_claims(topic: Topic) -> list[Claim]:
    """The claims of a topic file, checked against the vocabularies."""
    claims = []
    for i, raw in enumerate(topic.raw.get("claims") or []):
        where = f"{topic.path}: claim {i + 1}"
        if not isinstance(raw, dict) or not raw.get("id") or not raw.get("text") or not raw.get("quote"):
            raise TopicError(f"{where}: needs id, text and quote")
        for key, vocab in (("outcomes", OUTCOMES), ("headache_types", HEADACHE_TYPES), ("comparators", COMPARATORS)):
            unknown = [v for v in raw.get(key) or [] if v not in vocab]
            if unknown:
                raise TopicError(f"{where} ({raw['id']}): unknown {key}: {', '.join(unknown)} (known: {', '.join(vocab)})")
        kind = str(raw.get("kind") or "efficacy")
        if kind not in claim_kinds.KINDS:
            raise TopicError(f"{where} ({raw['id']}): unknown kind {kind!r} (known: {', '.join(claim_kinds.KINDS)})")
        if kind == "background" and not raw.get("terms"):
            raise TopicError(f"{where} ({raw['id']}): a background claim needs terms (the words studies use for it)")

        claims.append(
            Claim(
                id=str(raw["id"]),
                text=" ".join(str(raw["text"]).split()),
                quote=" ".join(str(raw["quote"]).split()),
                outcomes=list(raw.get("outcomes") or []),
                headache_types=list(raw.get("headache_types") or []),
                comparators=list(raw.get("comparators") or []),
                rewordings=load_rewordings(raw.get("rewording"), f"{where} ({raw['id']})"),
                kind=kind,
                terms=[str(t) for t in raw.get("terms") or []],
                proxy=" ".join(str(raw["proxy"]).split()) if raw.get("proxy") else None,
            )
        )
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise TopicError(f"{topic.path}: claim ids must be unique")
    return claims


def load_rewordings(raw: object, where: str) -> list[Rewording]:
    """`rewording: {text: ..., written_for: VERDICT}`, or a list of them (one per verdict)."""
    if raw is None:
        return []
    entries = raw if isinstance(raw, list) else [raw]
    return [_rewording(entry, where) for entry in entries]


def _rewording(entry: object, where: str) -> Rewording:
    if not isinstance(entry, dict):
        raise TopicError(f"{where}: rewording must be a mapping {{text: ..., written_for: VERDICT}} "
                         f"or a list of them, not {entry!r}")
    unknown = [k for k in entry if k not in REWORDING_KEYS]
    if unknown:
        raise TopicError(f"{where}: rewording has unknown key(s) {', '.join(map(str, unknown))} (known: {', '.join(REWORDING_KEYS)})")
    if not isinstance(entry.get("text"), str) or not entry["text"].strip():
        raise TopicError(f"{where}: rewording needs text (the suggested wording)")
    if not entry.get("written_for"):
        raise TopicError(f"{where}: rewording needs written_for (the verdict it was written for: {', '.join(VERDICTS)})")
    if entry["written_for"] not in VERDICTS and entry["written_for"] not in LEGACY_VERDICTS:
        raise TopicError(f"{where}: rewording written_for: unknown verdict '{entry['written_for']}' (known: {', '.join(VERDICTS)})")
    return Rewording(" ".join(entry["text"].split()), str(entry["written_for"]))


def _loads(value: str | None) -> list:
    return json.loads(value) if value else []


# Columns of `studies` the matching, the certainty rules, the digest and its
# citations read (not the abstract's sections, MeSH, keywords: the largest, unused).
STUDY_FIELDS = (
    "pmid", "title", "abstract", "journal", "journal_abbrev", "volume", "issue", "pages", "year",
    "pub_date", "doi", "pmcid", "authors", "publication_types", "language", "retracted", "kind",
    "entrez_date", "content_hash", "design", "on_topic", "headache_types", "comparators",
    "n_randomized", "outcomes", "direction", "evidence_level", "summary", "extractor_version",
    "deleted_from_pubmed", "first_seen_run", "last_changed_run",
)


def studies_for_claims(db: sqlite_utils.Database) -> list[dict]:
    """Extracted studies with their effects, as the matching reads them."""
    return list(iter_studies(db))


def iter_studies(db: sqlite_utils.Database, *, page: int = 1000):
    """`studies_for_claims` one study at a time, read a page at a time in PMID order
    (studies and their effects walked together by PMID), so that only the studies a
    caller keeps stay in memory."""
    columns = [c for c in STUDY_FIELDS if c in db["studies"].columns_dict]
    cols = ", ".join(f"[{c}]" for c in columns)
    last = ""
    while True:
        rows = db.execute(
            f"select {cols} from studies where extractor_version is not null and pmid > ? order by pmid limit {int(page)}",
            [last],
        ).fetchall()
        if not rows:
            return
        effects: dict[str, list[dict]] = {}
        cursor = db.execute(
            "select * from effects where pmid > ? and pmid <= ? order by pmid, id", [last, rows[-1][0]]
        )
        names = [d[0] for d in cursor.description]
        for values in cursor:
            e = dict(zip(names, values))
            effects.setdefault(e["pmid"], []).append(e)
        harms = _harms_between(db, last, rows[-1][0])
        for values in rows:
            row = dict(zip(columns, values))
            for key in ("headache_types", "comparators", "outcomes"):
                row[key] = _loads(row[key])
            row["effects"] = effects.get(row["pmid"], [])
            row["harms_state"], row["harms"] = harms.get(row["pmid"], ("not_reported", []))
            yield row
        if len(rows) < page:
            return
        last = rows[-1][0]


def _harms_between(db: sqlite_utils.Database, after: str, upto: str) -> dict[str, tuple[str, list[dict]]]:
    """PMID → (harms reporting state, its harms) for studies in (after, upto], for safety claims."""
    if not db["harms_reporting"].exists():
        return {}
    out: dict[str, tuple[str, list[dict]]] = {
        pmid: (state, []) for pmid, state in
        db.execute("select pmid, state from harms_reporting where pmid > ? and pmid <= ?", [after, upto])
    }
    for h in db.query("select pmid, event, kind, affected, denominator, severity, arm, sentence from harms "
                      "where pmid > ? and pmid <= ? order by pmid, id", [after, upto]):
        if h["pmid"] in out:
            out[h["pmid"]][1].append(h)
    return out


def weight(study: dict) -> float:
    w = DESIGN_WEIGHT.get(study["design"], 0.5)
    if study["design"] == "rct" and "sham" in study["comparators"]:
        w += 1.0
    return w


def relevant(claim: Claim, study: dict) -> bool:
    if claim.outcomes and not set(claim.outcomes) & set(study["outcomes"]):
        return False
    if claim.headache_types and not set(claim.headache_types) & set(study["headache_types"]):
        return False
    if claim.comparators and not set(claim.comparators) & set(study["comparators"]):
        return False
    return True


def stance(claim: Claim, study: dict) -> tuple[str, str, str | None]:
    """(stance, reason, sentence) of one relevant, counted study."""
    outcomes = claim.outcomes or study["outcomes"]
    with_ci = [
        e for e in study["effects"]
        if e["outcome"] in outcomes and e["measure"] in NO_EFFECT and e["ci_low"] is not None and e["ci_high"] is not None
    ]
    comps = [c for c in study["comparators"] if c != "none"]
    add_on = _once(study, "add_on", certainty.is_add_on)
    if with_ci and all(e["ci_low"] <= NO_EFFECT[e["measure"]] <= e["ci_high"] for e in with_ci):
        names = _names({e["outcome"] for e in with_ci})
        if study["direction"] == "no_difference" and (set(comps) & set(INACTIVE_COMPARATORS) or add_on):
            return (
                "contradicts",
                f"no better than {', '.join(c.replace('_', ' ') for c in comps) or 'the comparison'}: every confidence "
                f"interval for {names} includes no effect ({_estimates(with_ci)})",
                with_ci[0]["sentence"],
            )
        return (
            "neutral",
            f"every confidence interval for {names} includes no effect ({_estimates(with_ci)})",
            with_ci[0]["sentence"],
        )
    if with_ci and study["direction"] == "inconclusive" and all(_favours_needling(e) for e in with_ci):
        # The authors' doubt is about certainty, which is rated apart: the estimates say which way.
        return (
            "supports",
            f"every confidence interval for {_names({e['outcome'] for e in with_ci})} favours dry needling "
            f"({_estimates(with_ci)}; the authors judge the evidence uncertain)",
            with_ci[0]["sentence"],
        )
    direction = study["direction"]
    versus = ", ".join(c.replace("_", " ") for c in comps) or (
        "the same treatment without needling" if add_on else "no comparison group")
    sentence = _finding_sentence(study)
    if direction == "favours_needling":
        return "supports", f"favours dry needling ({versus}) on {_names(set(outcomes) & set(study['outcomes']) or outcomes)}", sentence
    if direction == "favours_comparator":
        return "contradicts", f"the comparator ({versus}) did better", sentence
    if direction == "no_difference":
        if add_on and comps:
            return "contradicts", f"adding needling did no better than {versus} alone", sentence
        if set(comps) & set(INACTIVE_COMPARATORS):
            return "contradicts", f"no better than {versus}", sentence
        if not comps:
            return "neutral", "about as effective as the treatments it was compared with", sentence
        return "comparable", tie_reason(study, comps), sentence
    return "neutral", "the authors judge the evidence insufficient to conclude", sentence


def _estimates(effects: list) -> str:
    return f"{len(effects)} estimate{'s' if len(effects) != 1 else ''}"


def _favours_needling(e: dict) -> bool:
    """A difference (needling minus comparator) whose whole interval lies on needling's side."""
    if e["measure"] not in ("SMD", "MD", "WMD"):
        return False
    if e["outcome"] in certainty.LOWER_IS_BETTER:
        return e["ci_high"] < 0
    return e["ci_low"] > 0


def tie_reason(study: dict, comps: list[str]) -> str:
    """What a tie with an active treatment found, in a writer's words."""
    reason = f"no difference from an active treatment ({_active_names(comps)})"
    return reason + ("; all groups improved" if all_groups_improved(study) else "")


def _active_names(comps: list[str]) -> str:
    return ", ".join(ACTIVE_COMPARATORS.get(c, c.replace("_", " ")) for c in comps if c != "none")


def all_groups_improved(study: dict) -> bool:
    """Only the study's own words may say that every group got better."""
    return improved_sentence(study) is not None


def improved_sentence(study: dict) -> str | None:
    """The study's sentence saying all groups improved, to quote beside the claim."""
    for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", (study.get("abstract") or "").strip()):
        if ALL_GROUPS_IMPROVED.search(sentence):
            return sentence.split(":", 1)[1].strip() if re.match(r"[A-Z ]+:", sentence) else sentence
    return None


def _names(outcomes) -> str:
    return ", ".join(sorted(o.replace("_", " ") for o in outcomes))


def _finding_sentence(study: dict) -> str | None:
    """The authors' concluding sentence, as written."""
    abstract = study["abstract"] or ""
    for line in reversed(abstract.split("\n")):
        if re.match(r"(conclusions?|discussion|interpretation|perspective)[^:]*:", line, re.I):
            return line.split(":", 1)[1].strip()
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z])", abstract.strip())
    return parts[-1] if parts and parts[-1] else None


def _once(study: dict, name: str, fn) -> object:
    """`fn(study)`, computed once per study however many claims ask (a regex over
    the abstract is the costliest step of the matching)."""
    memo = study.setdefault("_memo", {})
    if name not in memo:
        memo[name] = fn(study)
    return memo[name]


def _mentions_needling(study: dict) -> bool:
    return bool(terms.DRY_NEEDLING.search(f"{study['title']}\n{study['abstract'] or ''}"))


def assess(claims: list[Claim], studies) -> list[tuple[Claim, Verdict, list[Evidence]]]:
    """Every claim with its verdict and the evidence behind it (relevant studies only)."""
    return assess_studies(claims, studies)[0]


def assess_studies(claims: list[Claim], studies) -> tuple[list[tuple[Claim, Verdict, list[Evidence]]], dict[str, dict]]:
    """`assess` in one pass over `studies` (any iterable, e.g. `iter_studies`), also
    returning the studies that bear on some claim (counted, excluded or indirect), by
    PMID: the only ones the digest cites, and the only ones kept in memory."""
    evidence: dict[str, list[Evidence]] = {c.id: [] for c in claims}
    indirect: dict[str, list[str]] = {c.id: [] for c in claims}
    kept: dict[str, dict] = {}
    pool = 0
    for s in studies:
        counted_study = (
            s["on_topic"] and s["design"] != "protocol" and not s["retracted"] and not s.get("deleted_from_pubmed")
        )
        pool += bool(counted_study)
        keep = False
        for claim in claims:
            if claim.kind == "safety":
                # Every counted study bears on safety: its harms, or its silence about them.
                if counted_study:
                    st, reason, sentence = claim_kinds.harms_stance(s)
                    evidence[claim.id].append(Evidence(claim.id, s["pmid"], st, reason, sentence, weight(s), True))
                    keep = True
                continue
            if claim.kind == "background":
                if not s["retracted"] and not s.get("deleted_from_pubmed") and claim_kinds.addresses(s, claim.terms):
                    evidence[claim.id].append(Evidence(
                        claim.id, s["pmid"], "neutral",
                        "an observational study of people with headache that addresses it (read it before citing)",
                        None, 1.0, True))
                    keep = True
                continue
            if not relevant(claim, s):
                continue
            if s["retracted"]:
                evidence[claim.id].append(
                    Evidence(claim.id, s["pmid"], "excluded", "retracted: never counted", None, 0.0, False, True))
                keep = True
                continue
            if s.get("deleted_from_pubmed"):
                evidence[claim.id].append(
                    Evidence(claim.id, s["pmid"], "excluded", "withdrawn from PubMed: not counted", None, 0.0, False))
                keep = True
                continue
            if not s["on_topic"]:
                # Needling studies outside headache that measured the outcome: shown
                # to writers as indirect, never counted.
                if claim.outcomes and _once(s, "needling", _mentions_needling):
                    indirect[claim.id].append(s["pmid"])
                    keep = True
                continue
            if s["design"] == "protocol":
                continue
            st, reason, sentence = stance(claim, s)
            evidence[claim.id].append(Evidence(claim.id, s["pmid"], st, reason, sentence, weight(s), True))
            keep = True
        if keep:
            kept[s["pmid"]] = s
    results = [
        (claim, verdict(claim, evidence[claim.id], kept, pool, indirect[claim.id]), evidence[claim.id])
        for claim in claims
    ]
    return results, kept


def verdict(claim: Claim, evidence: list[Evidence], studies: dict[str, dict], pool: int, indirect: list[str]) -> Verdict:
    counted = [e for e in evidence if e.counted]
    if claim.kind in ("safety", "background"):
        return _other_kind_verdict(claim, counted, studies, pool)
    sup = [e for e in counted if e.stance == "supports"]
    con = [e for e in counted if e.stance == "contradicts"]
    neu = [e for e in counted if e.stance == "neutral"]
    tie = [e for e in counted if e.stance == "comparable"]
    rating = certainty.rate(claim, evidence, studies)
    for e in counted:
        e.rated = e.pmid in rating.rated
        e.note = rating.set_aside.get(e.pmid)
    v = verdict_key(rating.direction, rating.certainty)
    result = Verdict(
        claim_id=claim.id,
        verdict=v,
        explanation=explain(v, sup, con, neu, studies, pool, indirect, tie),
        supporting=len(sup),
        contradicting=len(con),
        neutral=len(neu),
        considered=pool,
        indirect=indirect,
        comparable=len(tie),
        rating=rating,
    )
    result.statement = statement(claim, result, studies)
    return result


def _other_kind_verdict(claim: Claim, counted: list[Evidence], studies: dict[str, dict], pool: int) -> Verdict:
    """A safety or background claim: its own verdict words (claim_kinds.RULES), no efficacy grade."""
    if claim.kind == "safety":
        key, said = claim_kinds.safety_verdict([studies[e.pmid] for e in counted])
    else:
        key, said = claim_kinds.background_verdict([e.pmid for e in counted])
    by = {st: sum(e.stance == st for e in counted) for st in ("supports", "contradicts", "neutral")}
    return Verdict(
        claim_id=claim.id, verdict=key, explanation=said, supporting=by["supports"],
        contradicting=by["contradicts"], neutral=by["neutral"], considered=pool, statement=said,
    )


def statement(claim: Claim, v: Verdict, studies: dict[str, dict]) -> str:
    """What the evidence suggests and how certain, in Cochrane's plain words."""
    comps: list[str] = []
    if v.rating and v.rating.direction in ("no_difference", "harm"):
        for pmid in v.rating.rated:
            comps += [c for c in studies[pmid]["comparators"] if c != "none"]
    return certainty.plain(claim, v.rating or certainty.Rating("none", None), comps)


def _describe(e: Evidence, studies: dict[str, dict]) -> str:
    s = studies[e.pmid]
    label = {"meta_analysis": "a meta-analysis", "systematic_review": "a systematic review", "rct": "a randomized trial",
             "non_randomized_trial": "an uncontrolled study", "cohort": "a cohort study", "case_report": "a case report",
             "case_series": "a case series"}.get(s["design"], "a study")
    if s["design"] == "rct" and "sham" in s["comparators"]:
        label = "a sham-controlled randomized trial"
    n = f" of {s['n_randomized']} people" if s["n_randomized"] and s["design"] != "case_report" else ""
    return f"{label}{n}"


def explain(v: str, sup, con, neu, studies: dict[str, dict], pool: int, indirect: list[str], tie=()) -> str:
    """Two plain sentences on what the evidence shows: for and against, then the rest."""
    if v == "no_direct_evidence":
        first = f"No direct evidence among {pool} studies of dry needling for headache with results: none measured this."
        second = (
            f"{len(indirect)} other stud{'y' if len(indirect) == 1 else 'ies'} measured it outside headache "
            "(not counted), so the claim rests on theory, not on trials in people with headache."
            if indirect else "The claim rests on theory, not on trials in people with headache."
        )
        return f"{first} {second}"
    first = _clauses([("Supporting", [_describe(e, studies) for e in sup]),
                      ("Against", [_describe(e, studies) for e in con])])
    second = _clauses([("No effect shown", [_describe(e, studies) for e in neu]),
                       ("No difference from an active treatment", [_describe_tie(e, studies) for e in tie])])
    if tie:
        # Said outright, so that a tie never reads as needling having failed.
        second = second[:-1] + " — not evidence against the claim, and not a test against no treatment."
    text = " ".join(x for x in (first, second) if x)
    return text or "No counted study."


# Studies named in one list of an explanation; beyond it, "and N more": the claims
# row stays a few kilobytes whatever the size of the database (issue 15).
EXPLAIN_LIST = 12


def _listed(items: list[str]) -> str:
    if len(items) <= EXPLAIN_LIST:
        return "; ".join(items)
    return "; ".join(items[:EXPLAIN_LIST]) + f"; and {len(items) - EXPLAIN_LIST:,} more"


def _clauses(groups: list[tuple[str, list[str]]]) -> str:
    """'Supporting: a; b; against: c.' — one sentence of labelled lists, empty ones left out."""
    clauses = [f"{label}: {_listed(items)}" for label, items in groups if items]
    if not clauses:
        return ""
    return "; ".join([clauses[0]] + [c[0].lower() + c[1:] for c in clauses[1:]]) + "."


def _describe_tie(e: Evidence, studies: dict[str, dict]) -> str:
    """'a randomized trial of 45 people vs lidocaine or another injection, in which all groups improved'."""
    s = studies[e.pmid]
    improved = ", in which all groups improved" if all_groups_improved(s) else ""
    return f"{_describe(e, studies)} vs {_active_names(s['comparators'])}{improved}"


def review_certainty(v: Verdict) -> str | None:
    """'very low (PMID 33609358, 2021): "…the certainty of the evidence is very low."' — the lowest
    certainty a counted review states for the claim, with its sentence."""
    j = v.rating.ceiling if v.rating else None
    if not j:
        return None
    return f'{certainty.level_word(j.level)} (PMID {j.pmid}{f", {j.year}" if j.year else ""}): "{j.sentence}"'


def save(db: sqlite_utils.Database, results: list[tuple[Claim, Verdict, list[Evidence]]]) -> int:
    """Make the `claims` and `claim_evidence` tables the current assessment, writing
    only the rows that differ (an unchanged assessment writes nothing; a few changed
    studies rewrite their own rows). Returns the rows written."""
    claim_rows = [
        {
            "id": c.id, "position": i, "kind": c.kind, "text": c.text, "quote": c.quote,
            "outcomes": json.dumps(c.outcomes), "headache_types": json.dumps(c.headache_types),
            "comparators": json.dumps(c.comparators), "rewording": c.rewording,
            "verdict": v.verdict, "verdict_label": VERDICTS[v.verdict],
            "direction": v.direction, "certainty": v.certainty,
            "certainty_reasons": json.dumps(v.rating.reasons if v.rating else []),
            "review_certainty": review_certainty(v), "statement": v.statement,
            "explanation": v.explanation,
            "supporting": v.supporting, "contradicting": v.contradicting, "neutral": v.neutral,
            "comparable": v.comparable, "studies_considered": v.considered,
        }
        for i, (c, v, _) in enumerate(results, 1)
    ]
    evidence_rows = [
        {k: val for k, val in asdict(e).items()}
        | {"counted": int(e.counted), "retracted": int(e.retracted), "rated": int(e.rated)}
        for _, _, evidence in results
        for e in evidence
    ]
    written = 0
    with db.conn:
        written += _sync(db, "claims", ("id",), claim_rows)
        written += _sync(db, "claim_evidence", ("claim_id", "pmid"), evidence_rows)
    return written


def _sync(db: sqlite_utils.Database, table: str, pk: tuple[str, ...], rows: list[dict]) -> int:
    """Make `table` hold exactly `rows`: insert, update and delete only what differs.
    Columns the table lacks are added (`comparable`, then direction and certainty,
    `rated` and `note` came after the first schema)."""
    if rows:
        missing = {k: v for k, v in rows[0].items() if k not in db[table].columns_dict}
        for name, value in missing.items():
            db[table].add_column(name, type(value) if value is not None else str)
    columns = list(rows[0]) if rows else []
    stored: dict[tuple, tuple] = {}
    if columns:
        cursor = db.execute(f"select {', '.join(f'[{c}]' for c in columns)} from [{table}]")
        index = [columns.index(k) for k in pk]
        for values in cursor:
            stored[tuple(values[i] for i in index)] = tuple(values)
    else:
        stored = {tuple(r): () for r in db.execute(f"select {', '.join(pk)} from [{table}]")}
    changed = []
    for row in rows:
        key = tuple(row[k] for k in pk)
        values = tuple(row[c] for c in columns)
        old = stored.pop(key, None)
        if old is None or not _same(old, values):
            changed.append(row)
    where = " and ".join(f"[{k}] = ?" for k in pk)
    if stored:
        db.conn.executemany(f"delete from [{table}] where {where}", list(stored))
    if changed:
        names = ", ".join(f"[{c}]" for c in columns)
        updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in columns if c not in pk)
        db.conn.executemany(
            f"insert into [{table}] ({names}) values ({', '.join('?' * len(columns))}) "
            f"on conflict({', '.join(pk)}) do update set {updates}",
            [tuple(r[c] for c in columns) for r in changed],
        )
    return len(changed) + len(stored)


def _same(stored: tuple, new: tuple) -> bool:
    """Stored values equal new ones as SQLite keeps them (True is 1, 2.0 is 2)."""
    return all(a == b or (isinstance(a, float) and isinstance(b, float) and abs(a - b) < 1e-12)
               for a, b in zip(stored, new))
