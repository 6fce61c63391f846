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
from dataclasses import dataclass, field

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
    indirect_total: int = 0  # off-topic studies that measured the outcome, all (`indirect` may list the first few)

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


_PARSED: dict[str, list] = {}  # the few distinct JSON lists of the vocabulary columns, parsed once


def _loads(value: str | None) -> list:
    if not value:
        return []
    parsed = _PARSED.get(value)
    if parsed is None:
        parsed = json.loads(value)
        if len(_PARSED) < 10_000:
            _PARSED[value] = parsed
    return list(parsed)


# Columns of `studies` the matching, the certainty rules, the digest and its
# citations read (not the abstract's sections, MeSH, keywords: the largest, unused).
STUDY_FIELDS = (
    "pmid", "title", "abstract", "journal", "journal_abbrev", "volume", "issue", "pages", "year",
    "pub_date", "doi", "pmcid", "authors", "publication_types", "language", "retracted", "kind",
    "entrez_date", "content_hash", "design", "on_topic", "headache_types", "comparators",
    "n_randomized", "outcomes", "direction", "evidence_level", "summary", "extractor_version",
    "deleted_from_pubmed", "first_seen_run", "last_changed_run",
)


# Of those, what the matching and the certainty rules read (the digest reads the rest,
# for citations, of the few studies it shows): a narrower row a study as they stream by.
ASSESS_FIELDS = (
    "pmid", "title", "abstract", "year", "pub_date", "retracted", "design", "on_topic", "headache_types",
    "comparators", "n_randomized", "outcomes", "direction", "deleted_from_pubmed",
)


def studies_for_claims(db: sqlite_utils.Database) -> list[dict]:
    """Extracted studies with their effects, as the matching reads them."""
    return list(iter_studies(db))


def iter_studies(db: sqlite_utils.Database, *, page: int = 1000, attach=None, pmids: list[str] | None = None,
                 fields: tuple[str, ...] = STUDY_FIELDS):
    """`studies_for_claims` one study at a time, read a page at a time in PMID order
    (studies and their effects walked together by PMID), so that only the studies a
    caller keeps stay in memory. `attach(after, upto)`, where given, returns PMID →
    a value for the page's studies (after, upto] (with `pmids`: `attach(None, None,
    pmids)`, for those), set as each study's "check".
    `pmids`: only these studies (the changed ones to judge; the digest's shown ones).
    `fields`: the columns read (`ASSESS_FIELDS`: what the assessment needs)."""
    columns = [c for c in fields if c in db["studies"].columns_dict]
    cols = ", ".join(f"[{c}]" for c in columns)
    last = ""
    wanted = sorted(set(pmids)) if pmids is not None else None
    while True:
        if wanted is not None:
            chunk, wanted = wanted[:page], wanted[page:]
            if not chunk:
                return
            rows = db.execute(
                f"select {cols} from studies where pmid in ({', '.join('?' * len(chunk))}) order by pmid", chunk
            ).fetchall()
            if not rows:
                continue
        else:
            rows = db.execute(
                f"select {cols} from studies where extractor_version is not null and pmid > ? "
                f"order by pmid limit {int(page)}",
                [last],
            ).fetchall()
            if not rows:
                return
        effects: dict[str, list[dict]] = {}
        cursor = db.execute(
            "select * from effects where pmid > ? and pmid <= ? order by pmid, id", [last, rows[-1][0]]
        ) if wanted is None else db.execute(
            f"select * from effects where pmid in ({', '.join('?' * len(rows))}) order by pmid, id", [r[0] for r in rows]
        )
        names = [d[0] for d in cursor.description]
        for values in cursor:
            e = dict(zip(names, values))
            effects.setdefault(e["pmid"], []).append(e)
        harms = _harms_between(db, rows[0][0] if wanted is not None else last, rows[-1][0], inclusive=wanted is not None)
        attached = (attach(last, rows[-1][0]) if wanted is None else attach(None, None, [r[0] for r in rows])) \
            if attach else {}
        for values in rows:
            row = dict(zip(columns, values))
            for key in ("headache_types", "comparators", "outcomes"):
                row[key] = _loads(row[key])
            row["effects"] = effects.get(row["pmid"], [])
            row["harms_state"], row["harms"] = harms.get(row["pmid"], ("not_reported", []))
            if attach:
                row["check"] = attached.get(row["pmid"])
            yield row
        if wanted is None and len(rows) < page:
            return
        last = rows[-1][0]


def _harms_between(db: sqlite_utils.Database, after: str, upto: str,
                   inclusive: bool = False) -> dict[str, tuple[str, list[dict]]]:
    """PMID → (harms reporting state, its harms) for studies in (after, upto] ([after, upto]
    if `inclusive`), for safety claims."""
    if not db["harms_reporting"].exists():
        return {}
    low = ">=" if inclusive else ">"
    out: dict[str, tuple[str, list[dict]]] = {
        pmid: (state, []) for pmid, state in
        db.execute(f"select pmid, state from harms_reporting where pmid {low} ? and pmid <= ?", [after, upto])
    }
    for h in db.query("select pmid, event, kind, affected, denominator, severity, arm, sentence from harms "
                      f"where pmid {low} ? and pmid <= ? order by pmid, id", [after, upto]):
        if h["pmid"] in out:
            out[h["pmid"]][1].append(h)
    return out


def weight(study: dict) -> float:
    w = DESIGN_WEIGHT.get(study["design"], 0.5)
    if study["design"] == "rct" and "sham" in study["comparators"]:
        w += 1.0
    return w


def relevant(claim: Claim, study: dict) -> bool:
    if claim.outcomes and set(claim.outcomes).isdisjoint(study["outcomes"]):
        return False
    if claim.headache_types and set(claim.headache_types).isdisjoint(study["headache_types"]):
        return False
    if claim.comparators and set(claim.comparators).isdisjoint(study["comparators"]):
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
    sentence = _once(study, "finding", _finding_sentence)
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
    return _once(study, "improved", improved_sentence) is not None


def improved_sentence(study: dict) -> str | None:
    """The study's sentence saying all groups improved, to quote beside the claim."""
    low = (study.get("abstract") or "").lower()
    if "group" not in low and "arm" not in low:
        return None  # every form of it names the groups or arms (a cheap test first, the same answer)
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
    text = f"{study['title']}\n{study['abstract'] or ''}"
    # Every way of naming it holds one of these (in any case): most abstracts hold none,
    # and the test is a hundred times cheaper than the pattern (the same answer).
    low = text.lower()
    if "needl" not in low and "ntramu" not in low and "dn" not in low:
        return False
    return bool(terms.DRY_NEEDLING.search(text))


def assess(claims: list[Claim], studies) -> list[tuple[Claim, Verdict, list[Evidence]]]:
    """Every claim with its verdict and the evidence behind it (relevant studies only)."""
    return assess_studies(claims, studies)[0]


# A safety claim's verdict reads each counted study's harms; the silent ones are all alike.
_SILENT = {"pmid": None, "harms_state": "not_reported", "harms": []}


class Tally:
    """One claim's assessment built one study at a time (`take`, `add_indirect`), then
    `finish`: the verdict, its counts and explanation, and the certainty rating
    (`certainty.Body`) are kept as counts and summaries, never as the studies.

    `keep=None` keeps every Evidence (what `assess` returns). `keep=k` keeps, of each
    stance, the k most informative studies (`shown`: design weight, then newest, then
    PMID) with their study, and the first k indirect studies; the rest is counted."""

    def __init__(self, claim: Claim, keep: int | None = None) -> None:
        self.claim, self.keep = claim, keep
        self.body = certainty.Body(claim, keep)
        self.evidence: list[Evidence] = []  # every one (keep=None)
        self.roles: dict[int, tuple[bool, bool]] = {}  # id(Evidence) -> (informative, randomized), keep=None
        self.counts: dict[str, int] = dict.fromkeys(STANCES, 0)  # counted studies by stance
        self.all_by_stance: dict[str, int] = dict.fromkeys(STANCES, 0)  # every Evidence, counted or not
        self.listed: dict[str, list[str]] = {st: [] for st in STANCES}  # the explanation's first EXPLAIN_LIST
        self.indirect: list[str] = []
        self.indirect_studies: list[dict] = []  # keep=k: the first k indirect studies themselves
        self.indirect_total = 0
        self.harms: list[dict] = []  # safety: each counted study's harms, as claim_kinds reads them
        self.found: list[str] = []  # background: the PMIDs of the studies that address it
        self.candidates: dict[str, list[tuple]] = {st: [] for st in STANCES}  # keep=k: (key, e, study, role)
        self.verdict: Verdict | None = None

    def take(self, f: Finding, s: dict) -> tuple[bool, bool]:
        """Count what one study gave the claim (`Finding`). Returns (informative, randomized)
        as the certainty rules classed it (both False where they do not rate it). `s` is
        kept as the study shown (keep=k), read only for its PMID, year and "check"."""
        e = f.evidence
        self.all_by_stance[e.stance] += 1
        role = (False, False)
        if e.counted:
            self.counts[e.stance] += 1
            kind = self.claim.kind
            if kind == "safety":
                self.harms.append(f.harms or _SILENT)
            elif kind == "background":
                self.found.append(e.pmid)
            else:
                role = self.body.take(e.stance, e.pmid, f.facts)
                listed = self.listed[e.stance]
                if len(listed) < EXPLAIN_LIST:
                    listed.append(f.described)
        if self.keep is None:
            self.evidence.append(e)
            self.roles[id(e)] = role
        else:
            pool = self.candidates[e.stance]
            pool.append((shown_order(s, e.weight), e, s, role))
            if len(pool) >= 2 * self.keep:
                pool.sort(key=lambda c: c[0])
                del pool[self.keep:]
        return role

    def add_indirect(self, s: dict) -> None:
        self.indirect_total += 1
        if self.keep is None or len(self.indirect) < self.keep:
            self.indirect.append(s["pmid"])
            if self.keep is not None:
                self.indirect_studies.append(s)

    def finish(self, pool: int) -> Verdict:
        """The verdict, once every study was added; sets `rated` and `note` on the
        Evidence kept (every one, or the shown)."""
        claim = self.claim
        if claim.kind == "safety":
            key, said = claim_kinds.safety_verdict(self.harms)
        elif claim.kind == "background":
            key, said = claim_kinds.background_verdict(self.found)
        if claim.kind in ("safety", "background"):
            v = Verdict(
                claim_id=claim.id, verdict=key, explanation=said, supporting=self.counts["supports"],
                contradicting=self.counts["contradicts"], neutral=self.counts["neutral"], considered=pool,
                statement=said,
            )
        else:
            rating = self.body.rating()
            key = verdict_key(rating.direction, rating.certainty)
            v = Verdict(
                claim_id=claim.id,
                verdict=key,
                explanation=explain(key, self.listed, self.counts, pool, self.indirect_total),
                supporting=self.counts["supports"],
                contradicting=self.counts["contradicts"],
                neutral=self.counts["neutral"],
                considered=pool,
                indirect=self.indirect,
                comparable=self.counts["comparable"],
                rating=rating,
            )
            v.statement = certainty.plain(
                claim, rating, rating.comparators if rating.direction in ("no_difference", "harm") else [])
            for e, role in self.kept():
                if e.counted:
                    e.rated, e.note = self.body.rated(*role)
                    if e.rated and isinstance(rating.rated, certainty.RatedPmids):
                        rating.rated.add(e.pmid)
        v.indirect_total = self.indirect_total
        self.verdict = v
        return v

    def kept(self) -> list[tuple[Evidence, tuple[bool, bool]]]:
        if self.keep is None:
            return [(e, self.roles[id(e)]) for e in self.evidence]
        return [(e, role) for _, e, _, role in self.shown()]

    def shown(self) -> list[tuple[tuple, Evidence, dict, tuple[bool, bool]]]:
        """keep=k: of each stance the k most informative, stance by stance (`STANCES`' order)."""
        out = []
        for st in STANCES:
            out += sorted(self.candidates[st], key=lambda c: c[0])[: self.keep]
        return out

    @property
    def evidence_total(self) -> int:
        """Every study bearing on the claim (its `claim_evidence` rows), counted or not."""
        return sum(self.all_by_stance.values())

    @property
    def hidden(self) -> dict[str, int]:
        """keep=k: how many studies of each stance are not shown."""
        return {st: n - min(n, self.keep) for st, n in self.all_by_stance.items()}


def shown_order(study: dict, weight: float) -> tuple:
    """The order in which a claim's studies are shown, within a stance: the design
    weight first (systematic reviews, meta-analyses and sham-controlled randomized
    trials; then other randomized trials; then non-randomized and observational
    studies: the order in which the certainty rules let them count), then one a
    person checked (its numbers can be quoted as they are), then the newest (a newer
    review covers the older trials, and a writer cites current evidence), then the
    PMID as a number (the same order on every run)."""
    check = study.get("check")
    pmid = str(study["pmid"])
    return (-weight, not getattr(check, "checked", False), -(study.get("year") or 0), len(pmid), pmid)


@dataclass(slots=True)
class Finding:
    """What one study gives one claim, derived from the study once: its Evidence, and
    what the claim's tally reads of a counted study (a safety claim its harms, an efficacy
    or mechanism claim its certainty `Facts` and its description). A `Tally` takes it
    without the study, so findings can be kept and the verdicts rebuilt from them
    (`pipeline/findings.py`)."""

    evidence: Evidence
    year: int | None = None  # orders the studies shown (`shown_order`)
    described: str | None = None  # "a randomized trial of 60 people", as the explanation lists it
    harms: dict | None = None  # safety: {"pmid", "harms_state", "harms"} where it reports harms
    facts: certainty.Facts | None = None

    @property
    def role(self) -> tuple[bool, bool]:
        """(informative, randomized), as `Tally.take` returns it."""
        f = self.facts
        return (True, f.randomized) if f is not None and f.informative else (False, False)


def finding(claim: Claim, e: Evidence, s: dict) -> Finding:
    """The `Finding` of study `s` whose Evidence on `claim` is `e`."""
    f = Finding(e, s.get("year"))
    if not e.counted:
        return f
    if claim.kind == "safety":
        if (s.get("harms_state") or "not_reported") != "not_reported" and s.get("harms"):
            f.harms = {"pmid": s["pmid"], "harms_state": s.get("harms_state"), "harms": s.get("harms")}
    elif claim.kind != "background":
        f.described = _describe_tie(s) if e.stance == "comparable" else _describe(s)
        f.facts = certainty.facts(claim, e.stance, s)
    return f


def counted(s: dict) -> bool:
    """Counted for the claims: on topic, with results, neither retracted nor withdrawn."""
    return bool(s["on_topic"] and s["design"] != "protocol" and not s["retracted"] and not s.get("deleted_from_pubmed"))


def find(claim: Claim, s: dict, counted_study: bool) -> Finding | str | None:
    """One study against one claim: its `Finding`, "indirect" (a needling study outside
    headache that measured the outcome: shown, never counted), or None."""
    found = _match(claim, s, counted_study)
    return finding(claim, found, s) if isinstance(found, Evidence) else found


def _match(claim: Claim, s: dict, counted_study: bool) -> Evidence | str | None:
    """One study against one claim: its Evidence, "indirect", or None."""
    if claim.kind == "safety":
        # Every counted study bears on safety: its harms, or its silence about them.
        if counted_study:
            st, reason, sentence = claim_kinds.harms_stance(s)
            return Evidence(claim.id, s["pmid"], st, reason, sentence, weight(s), True)
        return None
    if claim.kind == "background":
        if not s["retracted"] and not s.get("deleted_from_pubmed") and claim_kinds.addresses(s, claim.terms):
            return Evidence(
                claim.id, s["pmid"], "neutral",
                "an observational study of people with headache that addresses it (read it before citing)",
                None, 1.0, True)
        return None
    if not relevant(claim, s):
        return None
    if s["retracted"]:
        return Evidence(claim.id, s["pmid"], "excluded", "retracted: never counted", None, 0.0, False, True)
    if s.get("deleted_from_pubmed"):
        return Evidence(claim.id, s["pmid"], "excluded", "withdrawn from PubMed: not counted", None, 0.0, False)
    if not s["on_topic"]:
        if claim.outcomes and _once(s, "needling", _mentions_needling):
            return "indirect"
        return None
    if s["design"] == "protocol":
        return None
    st, reason, sentence = stance(claim, s)
    return Evidence(claim.id, s["pmid"], st, reason, sentence, weight(s), True)


def assess_studies(claims: list[Claim], studies, *, keep: int | None = None, sink: EvidenceSink | None = None):
    """`assess` in one pass over `studies` (any iterable, e.g. `iter_studies`).

    keep=None (the default) returns (results, kept): every claim with its verdict and
    all its Evidence, and the studies that bear on some claim (counted, excluded or
    indirect) by PMID. keep=k returns the claims' `Tally`s, each holding its verdict
    and only the k most informative studies of each stance: the studies are not kept,
    and with a `sink` each Evidence is written as it is found, so memory does not grow
    with the number of studies."""
    tallies = [Tally(c, keep) for c in claims]
    kept: dict[str, dict] = {}
    pool = 0
    for s in studies:
        counted_study = counted(s)
        pool += counted_study
        bears = False
        for t in tallies:
            found = find(t.claim, s, counted_study)
            if found is None:
                continue
            bears = True
            if not isinstance(found, Finding):  # "indirect"
                t.add_indirect(s)
                continue
            role = t.take(found, s)
            if sink is not None:
                sink.add(found.evidence, role)
        if bears and keep is None:
            kept[s["pmid"]] = s
    for t in tallies:
        t.finish(pool)
    if keep is not None:
        return tallies
    return [(t.claim, t.verdict, t.evidence) for t in tallies], kept


def _describe(s: dict) -> str:
    label = {"meta_analysis": "a meta-analysis", "systematic_review": "a systematic review", "rct": "a randomized trial",
             "non_randomized_trial": "an uncontrolled study", "cohort": "a cohort study", "case_report": "a case report",
             "case_series": "a case series"}.get(s["design"], "a study")
    if s["design"] == "rct" and "sham" in s["comparators"]:
        label = "a sham-controlled randomized trial"
    n = f" of {s['n_randomized']} people" if s["n_randomized"] and s["design"] != "case_report" else ""
    return f"{label}{n}"


def explain(v: str, listed: dict[str, list[str]], counts: dict[str, int], pool: int, indirect: int) -> str:
    """Two plain sentences on what the evidence shows: for and against, then the rest
    (`listed`: the first studies of each stance described; `counts`: how many in all)."""
    if v == "no_direct_evidence":
        first = f"No direct evidence among {pool} studies of dry needling for headache with results: none measured this."
        second = (
            f"{indirect} other stud{'y' if indirect == 1 else 'ies'} measured it outside headache "
            "(not counted), so the claim rests on theory, not on trials in people with headache."
            if indirect else "The claim rests on theory, not on trials in people with headache."
        )
        return f"{first} {second}"
    group = lambda label, st: (label, listed[st], counts[st])
    first = _clauses([group("Supporting", "supports"), group("Against", "contradicts")])
    second = _clauses([group("No effect shown", "neutral"),
                       group("No difference from an active treatment", "comparable")])
    if counts["comparable"]:
        # Said outright, so that a tie never reads as needling having failed.
        second = second[:-1] + " — not evidence against the claim, and not a test against no treatment."
    text = " ".join(x for x in (first, second) if x)
    return text or "No counted study."


# Studies named in one list of an explanation; beyond it, "and N more": the claims
# row stays a few kilobytes whatever the size of the database (issue 15).
EXPLAIN_LIST = 12


def _listed(items: list[str], total: int) -> str:
    if total <= EXPLAIN_LIST:
        return "; ".join(items)
    return "; ".join(items[:EXPLAIN_LIST]) + f"; and {total - EXPLAIN_LIST:,} more"


def _clauses(groups: list[tuple[str, list[str], int]]) -> str:
    """'Supporting: a; b; against: c.' — one sentence of labelled lists, empty ones left out."""
    clauses = [f"{label}: {_listed(items, total)}" for label, items, total in groups if total]
    if not clauses:
        return ""
    return "; ".join([clauses[0]] + [c[0].lower() + c[1:] for c in clauses[1:]]) + "."


def _describe_tie(s: dict) -> str:
    """'a randomized trial of 45 people vs lidocaine or another injection, in which all groups improved'."""
    improved = ", in which all groups improved" if all_groups_improved(s) else ""
    return f"{_describe(s)} vs {_active_names(s['comparators'])}{improved}"


def review_certainty(v: Verdict) -> str | None:
    """'very low (PMID 33609358, 2021): "…the certainty of the evidence is very low."' — the lowest
    certainty a counted review states for the claim, with its sentence."""
    j = v.rating.ceiling if v.rating else None
    if not j:
        return None
    return f'{certainty.level_word(j.level)} (PMID {j.pmid}{f", {j.year}" if j.year else ""}): "{j.sentence}"'


_EVIDENCE_COLUMNS = ("claim_id", "pmid", "stance", "reason", "sentence", "weight", "counted", "retracted", "rated", "note")


class EvidenceSink:
    """`claim_evidence` rows written as they are found (to a temporary table, a batch
    at a time), then made the table's content by `finish` in SQL, writing only the rows
    that differ: no assessment holds all its rows in memory. Rows added with a role
    (informative, randomized) get `rated` and `note` from their claim's rating at the end."""

    BATCH = 2000

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.buffer: list[tuple] = []
        db.execute("drop table if exists temp.claim_evidence_new")
        db.execute(
            "create temp table claim_evidence_new (claim_id text, pmid text, stance text, reason text, sentence text, "
            "weight real, counted integer, retracted integer, rated integer, note text, "
            "informative integer, randomized integer, primary key (claim_id, pmid))"
        )

    def add(self, e: Evidence, role: tuple[bool, bool] | None = None) -> None:
        informative, randomized = role if role is not None else (None, None)
        self.buffer.append((e.claim_id, e.pmid, e.stance, e.reason, e.sentence, e.weight, int(e.counted),
                            int(e.retracted), int(e.rated), e.note, informative, randomized))
        if len(self.buffer) >= self.BATCH:
            self.flush()

    def add_select(self, sql: str, params: list | tuple = ()) -> None:
        """Add the rows a query selects (the table's 12 columns, in order), in SQL."""
        self.flush()
        with self.db.conn:
            self.db.execute(f"insert into temp.claim_evidence_new {sql}", params)

    def flush(self) -> None:
        if self.buffer:
            self.db.conn.executemany(
                f"insert into temp.claim_evidence_new values ({', '.join('?' * 12)})", self.buffer)
            self.buffer = []

    def finish(self, tallies: list[Tally] | None = None) -> int:
        """Set rated/note of the rows added with a role (from each claim's `Body`), then
        sync `claim_evidence` to the rows. Returns the rows written."""
        self.flush()
        db = self.db
        _ensure_columns(db)
        with db.conn:
            # Per rated claim, whether its body is the randomized studies: one statement for all
            # claims (a statement per claim walked the rows once each).
            bodies = [(t.claim.id, int(bool(t.body.randomized.n))) for t in tallies or []
                      if t.claim.kind not in ("safety", "background") and t.verdict is not None]
            if bodies:
                db.execute(
                    f"with b(claim_id, randomized_body) as (values {', '.join(['(?, ?)'] * len(bodies))}) "
                    "update temp.claim_evidence_new as n set "
                    "rated = (counted = 1 and informative = 1 and (b.randomized_body = 0 or randomized = 1)), "
                    "note = case when counted = 0 then null when informative = 0 then ? "
                    "when b.randomized_body = 1 and randomized = 0 then ? end "
                    "from b where b.claim_id = n.claim_id and n.informative is not null",
                    [x for pair in bodies for x in pair] + [certainty.TIE_ASIDE, certainty.NON_RANDOMIZED_ASIDE],
                )
            cols = ", ".join(f"[{c}]" for c in _EVIDENCE_COLUMNS)
            same = " and ".join(f"c.[{c}] is n.[{c}]" for c in _EVIDENCE_COLUMNS)
            before = db.conn.total_changes
            db.execute(
                "delete from claim_evidence where not exists (select 1 from temp.claim_evidence_new n "
                "where n.claim_id = claim_evidence.claim_id and n.pmid = claim_evidence.pmid)"
            )
            deleted = db.conn.total_changes - before
            updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in _EVIDENCE_COLUMNS if c not in ("claim_id", "pmid"))
            before = db.conn.total_changes
            db.execute(
                f"insert into claim_evidence ({cols}) select {cols} from temp.claim_evidence_new n "
                f"where not exists (select 1 from claim_evidence c where {same}) "
                f"on conflict(claim_id, pmid) do update set {updates}"
            )
            written = db.conn.total_changes - before
        db.execute("drop table temp.claim_evidence_new")
        return deleted + written


def _ensure_columns(db: sqlite_utils.Database) -> None:
    """Columns `claim_evidence` lacks are added (`rated` and `note` came after the first schema)."""
    types = {"weight": float, "counted": int, "retracted": int, "rated": int}
    have = db["claim_evidence"].columns_dict
    for name in _EVIDENCE_COLUMNS:
        if name not in have:
            db["claim_evidence"].add_column(name, types.get(name, str))


def save(db: sqlite_utils.Database, results: list[tuple[Claim, Verdict, list[Evidence]]]) -> int:
    """Make the `claims` and `claim_evidence` tables the current assessment, writing
    only the rows that differ (an unchanged assessment writes nothing; a few changed
    studies rewrite their own rows). Returns the rows written."""
    sink = EvidenceSink(db)
    for _, _, evidence in results:
        for e in evidence:
            sink.add(e)
    return save_claims(db, [(c, v) for c, v, _ in results]) + sink.finish()


def save_claims(db: sqlite_utils.Database, verdicts: list[tuple[Claim, Verdict]]) -> int:
    """Make the `claims` table the current verdicts (rows that differ only). Returns the rows written."""
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
        for i, (c, v) in enumerate(verdicts, 1)
    ]
    with db.conn:
        return _sync(db, "claims", ("id",), claim_rows)


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
