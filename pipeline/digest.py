"""The article digest for writers: each claim, what the evidence suggests and how
certain (GRADE, with the reasons and the reviews' own judgement), the studies
behind it, forest plots and citations, rendered from Jinja2 templates to HTML
and Markdown.

Beside each claim it says how far a person has checked what the claim rests on
(`checked_values`: stale checks count as unchecked), which numbers no person has
checked, which values the rules read with low confidence (`extraction_evidence`),
and the registered trials that bear on it (`registry.trials_for_claim`)."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import quote

import sqlite_utils
from jinja2 import BytecodeCache, Environment, FileSystemBytecodeCache, FileSystemLoader, select_autoescape
from markupsafe import Markup

from . import claim_kinds, certainty as certainty_module
from . import claims as claims_module
from . import registry as registry_module
from . import findings, store, vocab
from .cite import citations
from .digest_fingerprint import TEMPLATES, Check, _last_fingerprint, _today, check, fingerprint  # noqa: F401 (digest.fingerprint)
from .claims import VERDICTS, Claim, Verdict
from .files import write_atomic_chunks
from .forest import forest_plot
from .freshness import freshness
from .rewording import WordingAdvice, advise
from .topic import Topic

log = logging.getLogger(__name__)
STANCE_ORDER = {stance: i for i, stance in enumerate(claims_module.STANCES)}
# The overview's count of studies per stance, in a writer's words (zero counts left out).
COUNT_WORDS = (("supporting", "for"), ("contradicting", "against"), ("neutral", "no effect shown"),
               ("comparable", "tied with an active treatment"))
# The same counts for the claims that are not about efficacy (claim_kinds.py).
KIND_COUNT_WORDS = {
    "safety": (("supporting", "minor or none"), ("contradicting", "serious"), ("neutral", "silent")),
    "background": (("neutral", "to read"),),
}
# A stance → its count on a Verdict (and so its words above); the studies a claim does
# not show are counted in the same words, those never counted in their own.
STANCE_COUNTS = {"supports": "supporting", "contradicts": "contradicting", "neutral": "neutral",
                 "comparable": "comparable"}
HIDDEN_WORDS = {"excluded": "excluded (retracted or withdrawn)"}
# The values a claim rests on, for a low-confidence reading, in a writer's words.
FIELD_WORDS = {"on_topic": "on topic", "design": "design", "direction": "direction", "comparators": "comparators",
               "n_randomized": "n", "outcomes": "outcomes", "headache_types": "headache types"}
UNCHECKED_MARK = "†"  # beside each number no person has checked (legend in each claim and the methods note)
CTGOV_URL = "https://clinicaltrials.gov/study/"


@dataclass
class StudyCheck:
    """What a person checked of one study: its state ('checked', 'stale': the abstract
    was revised since, so shown as unchecked; or 'unchecked'), who and when, the fields
    whose checks are applied, the effect checks, and the fields the rules read with
    low confidence."""

    state: str = "unchecked"
    who: str | None = None
    on: str | None = None
    fields: set[str] = field(default_factory=set)
    effect_checks: list[tuple[str, dict]] = field(default_factory=list)  # (action, {"select", "values"})
    low: set[str] = field(default_factory=set)

    @property
    def checked(self) -> bool:
        return self.state == "checked"

    def low_unchecked(self, names: tuple[str, ...]) -> list[str]:
        """Of `names`, the fields read with low confidence that no person checked, in words."""
        return [FIELD_WORDS[f] for f in names if f in self.low and f not in self.fields]

    def effect_checked(self, e: dict) -> bool:
        """Is this shown effect one a person confirmed, corrected or added?"""
        return any(_check_covers(action, spec, e) for action, spec in self.effect_checks)


@dataclass
class ClaimSection:
    number: int
    claim: Claim
    verdict: Verdict
    label: str
    studies: list[dict]  # each: study row + evidence + citation number + effects
    forests: list[Markup] = field(default_factory=list)
    indirect: list[dict] = field(default_factory=list)  # needling studies outside headache, not counted
    wording: WordingAdvice | None = None
    reviews: list[dict] = field(default_factory=list)  # each review's own stated certainty: judgement + ref
    checks: dict = field(default_factory=dict)  # how far a person checked the studies it rests on (`claim_checks`)
    trials: dict | None = None  # registered trials bearing on it (`claim_trials`); None: registry not loaded or n/a
    hidden: dict[str, int] = field(default_factory=dict)  # stance -> studies not shown (listed in Datasette)
    total: int = 0  # every study bearing on the claim (its claim_evidence rows)
    indirect_total: int = 0  # every indirect study (`indirect` names the first few)
    reviews_total: int = 0  # counted reviews stating their certainty (`reviews` quotes the first few)
    link: str | None = None  # the Datasette page listing every study behind it

    @property
    def more(self) -> int:
        """Studies bearing on the claim that are not shown."""
        return sum(self.hidden.values())

    @property
    def hidden_words(self) -> list[str]:
        """['1,200 for', '30 no effect shown']: the studies not shown, by stance, in the
        overview's words for the claim's kind."""
        words = dict(KIND_COUNT_WORDS.get(self.claim.kind, COUNT_WORDS))
        return [f"{n:,} {words.get(STANCE_COUNTS.get(st, ''), HIDDEN_WORDS.get(st, st))}" for st, n in self.hidden.items()]

    @property
    def rating(self) -> certainty_module.Rating | None:
        return self.verdict.rating

    @property
    def graded(self) -> bool:
        """An efficacy verdict (direction and certainty, or no direct evidence); safety and
        background verdicts are shown by their own label."""
        return self.verdict.rating is not None or self.verdict.verdict == "no_direct_evidence"

    @property
    def counts(self) -> list[str]:
        """['2 for', '2 no effect shown'], or ['no counted study']."""
        words_for = KIND_COUNT_WORDS.get(self.claim.kind, COUNT_WORDS)
        parts = [f"{getattr(self.verdict, key):,} {words}" for key, words in words_for if getattr(self.verdict, key)]
        return parts or ["no counted study"]


@dataclass
class Digest:
    topic: Topic
    created_at: str
    sections: list[ClaimSection]
    references: list[dict]  # in order of first citation
    methods: dict
    changes: dict = field(default_factory=dict)
    ledger_row: dict = field(default_factory=dict)  # its `digests` row, entered once written


# Of each stance, the studies a claim shows in full with their citations (`claims.shown_order`:
# reviews and sham-controlled trials first, then the newest); the rest are counted, and
# listed in Datasette (`claim_evidence`). The counts and the verdict are of all of them.
SHOWN_PER_STANCE = 5
INDIRECT_SHOWN = 5  # needling studies outside headache, named per claim
REVIEWS_SHOWN = 5  # reviews' own certainty statements quoted per claim
NEW_STUDIES_SHOWN = 50  # new studies named in the changes since the previous digest


class _CheckTally:
    """What a person checked of the studies the claims rest on, counted as the studies
    stream by (`add` sees each claim's Evidence of one study in turn: `findings.replay`):
    per claim, and across claims for the methods note. Holds no study."""

    def __init__(self, claims: list[Claim]) -> None:
        self.fields = {c.id: claim_fields(c) for c in claims}
        self.claim: dict[str, dict[str, int]] = {
            c.id: dict.fromkeys(("checked", "stale", "low", "low_informative", "low_randomized"), 0) for c in claims}
        self.page: dict[str, StudyCheck] = {}
        self.note = dict.fromkeys(("studies", "checked", "checked_values", "stale", "low_values", "low_studies"), 0)
        self.current: str | None = None
        self.current_low: set[str] = set()

    def attach(self, db: sqlite_utils.Database):
        def page(after: str | None, upto: str | None, pmids: list[str] | None = None) -> dict[str, StudyCheck]:
            self.page = load_checks(db, pmids, after=after, upto=upto)
            return self.page
        return page

    def add(self, e, role: tuple[bool, bool]) -> None:
        if e.pmid != self.current:
            self.close()
            self.current, self.current_low = e.pmid, set()
            self.current_counted = False
        if not e.counted:
            return
        check = self.page.get(e.pmid) or StudyCheck()
        n = self.claim[e.claim_id]
        n["checked"] += check.checked
        n["stale"] += check.state == "stale"
        low = check.low_unchecked(self.fields[e.claim_id])
        if low:
            n["low"] += 1
            n["low_informative"] += role[0]
            n["low_randomized"] += role[0] and role[1]
        self.current_counted = True
        self.current_check = check
        self.current_low.update(low)

    def close(self) -> None:
        """The study whose Evidence came last, into the methods note's counts (once)."""
        if self.current is None or not getattr(self, "current_counted", False):
            return
        c, n = self.current_check, self.note
        n["studies"] += 1
        n["checked"] += c.checked
        n["checked_values"] += len(c.fields) + len(c.effect_checks) if c.checked else 0
        n["stale"] += c.state == "stale"
        n["low_values"] += len(self.current_low)
        n["low_studies"] += bool(self.current_low)
        self.current_counted = False


def build(db: sqlite_utils.Database, topic: Topic) -> Digest:
    """Assess the claims (saving them to `claims`/`claim_evidence`) and gather the digest.

    Each claim is rebuilt from every study's kept findings (`assess`), keeping counts
    and summaries (its verdict and certainty are of every study) and its
    `SHOWN_PER_STANCE` most informative studies of each stance, which alone are read
    in full, shown and cited (their citations from the `citations` cache,
    `cite.citations`)."""
    claim_list = claims_module.load_claims(topic)
    tallies, checks = assess(db, claim_list)
    claims_module.save_claims(db, [(t.claim, t.verdict) for t in tallies])
    ref_numbers: dict[str, int] = {}
    references: list[dict] = []
    by_pmid: dict[str, dict] = {}
    for t in tallies:
        for _, _, s, _ in t.shown():
            by_pmid[s["pmid"]] = s
        for s in t.indirect_studies:
            by_pmid.setdefault(s["pmid"], s)
    # The studies shown are stubs (PMID, year, check): their whole rows now, for the
    # quotes, citations and forest plots; and the reviews quoted that are not shown.
    wanted = {j.pmid for t in tallies if t.verdict.rating for j in t.verdict.rating.reviews} | set(by_pmid)
    for s in claims_module.iter_studies(db, pmids=sorted(wanted), attach=checks.attach(db)) if wanted else ():
        if s["pmid"] in by_pmid:
            by_pmid[s["pmid"]].update((k, v) for k, v in s.items() if k not in by_pmid[s["pmid"]])
        else:
            by_pmid[s["pmid"]] = s

    def cite(pmid: str) -> int:
        if pmid not in ref_numbers:
            ref_numbers[pmid] = len(ref_numbers) + 1
            references.append({"number": ref_numbers[pmid], "study": by_pmid[pmid], "text": None, "ama": None})
        return ref_numbers[pmid]

    link = evidence_link(db)
    sections = []
    for number, t in enumerate(tallies, 1):
        claim, verdict = t.claim, t.verdict
        rows = []
        for _, e, study, _ in t.shown():
            outcome_effects = [
                dict(x) for x in study["effects"] if not claim.outcomes or x["outcome"] in claim.outcomes
            ] if claim.kind in ("efficacy", "mechanism") else []  # a safety or background claim quotes, it does not measure
            quotes = _quotes(e.sentence, outcome_effects)
            improved = claims_module.improved_sentence(study) if e.stance == "comparable" else None
            if improved and improved not in {q["sentence"] for q in quotes}:
                # "all groups improved" is said only on the study's own words: show them.
                quotes.insert(0, {"sentence": improved, "estimates": []})
            check = study.get("check") or StudyCheck()
            for x in outcome_effects:
                x["unchecked"] = not check.effect_checked(x)
            rows.append({
                "study": study, "evidence": e, "ref": cite(e.pmid), "effects": outcome_effects, "quotes": quotes,
                "check": check, "low": check.low_unchecked(claim_fields(claim)) if e.counted else [],
                "n_unchecked": "n_randomized" not in check.fields,
            })
        indirect = [{"study": s, "ref": cite(s["pmid"])} for s in t.indirect_studies]
        section = ClaimSection(
            number, claim, verdict, VERDICTS.get(verdict.verdict, verdict_label(verdict.verdict)), rows,
            forest_plots(rows), indirect, advise(claim, verdict, rows), review_judgements(verdict, cite),
            claim_checks(rows, t, checks.claim[claim.id]))
        section.hidden = {st: n for st, n in t.hidden.items() if n}
        section.total = t.evidence_total
        section.indirect_total = t.indirect_total
        section.reviews_total = verdict.rating.reviews_total if verdict.rating else 0
        section.link = f"{link}?claim_id={quote(claim.id, safe='')}&_sort_desc=weight" if link else None
        sections.append(section)
    today = _today()
    overdue = {u["nct"]: u for u in registry_module.unpublished(db, today)} if _has(db, "trials") else {}
    for section in sections:
        section.trials = claim_trials(db, section.claim, overdue, ref_numbers)
    texts = citations(db, [r["study"] for r in references], ("vancouver", "ama"))
    for r in references:
        pmid = str(r["study"]["pmid"])
        r["text"], r["ama"] = texts[(pmid, "vancouver")], texts[(pmid, "ama")]
    methods = methods_note(db, topic)
    methods["checks"] = checks_note(checks.note)
    methods["registry"] = registry_note(db, today)
    digest = Digest(topic, _now(), sections, references, methods)
    digest.changes = changes_since_last(db, digest)
    return digest


def assess(db: sqlite_utils.Database, claim_list: list[Claim]) -> tuple[list, _CheckTally]:
    """The claims assessed over every study: the studies that changed since the last
    assessment judged (`findings.refresh`), every claim rebuilt from every study's kept
    findings (`findings.replay`, keeping `SHOWN_PER_STANCE` of each stance), their
    claim_evidence rows synced, and what a person checked of their studies counted."""
    findings.refresh(db, claim_list)
    checks = _CheckTally(claim_list)
    tallies = findings.replay(db, claim_list, keep=SHOWN_PER_STANCE, attach=checks.attach(db),
                              on_evidence=checks.add)
    checks.close()
    findings.sync_evidence(db, tallies)
    return tallies, checks


def evidence_link(db: sqlite_utils.Database) -> str | None:
    """The Datasette page listing a claim's studies (`claim_evidence`, paged, with its
    stance facet), as `evidence serve` names the database: after the file's stem."""
    path = store.db_file(db)
    return f"/{quote(Path(path).stem, safe='')}/claim_evidence" if path else None


def review_judgements(verdict: Verdict, cite) -> list[dict]:
    """Each counted review's own statement of its certainty (its most specific one), cited."""
    out, seen = [], set()
    for j in verdict.rating.reviews if verdict.rating else []:
        if j.pmid not in seen:
            seen.add(j.pmid)
            out.append({"judgement": j, "level": certainty_module.level_word(j.level), "ref": cite(j.pmid)})
    return out


def _has(db: sqlite_utils.Database, table: str) -> bool:
    return db[table].exists()


def load_checks(db: sqlite_utils.Database, pmids: list[str] | None = None, *,
                after: str | None = None, upto: str | None = None) -> dict[str, StudyCheck]:
    """PMID → what a person checked of it (`checked_values`, applied checks only: a stale
    check is kept but not applied, so the study reads as unchecked) and which of its
    values the rules read with low confidence (`extraction_evidence`): of `pmids`, or of
    the studies in (after, upto] (a page of the studies as they stream by)."""
    out: dict[str, StudyCheck] = {}
    has_checks, has_reasons = _has(db, "checked_values"), _has(db, "extraction_evidence")
    if pmids is None:
        chunks = [("pmid > ? and pmid <= ?", [after or "", upto or ""])]
    else:
        chunks = [(f"pmid in ({', '.join('?' * len(pmids[i : i + 500]))})", pmids[i : i + 500])
                  for i in range(0, len(pmids), 500)]
    for where, args in chunks:
        if has_reasons:
            for pmid, name in db.execute(
                # "+confidence": read by PMID (a page's studies), not by the confidence index,
                # which would visit every low reading of the database for each page (quadratic).
                f"select distinct pmid, field from extraction_evidence where +confidence = 'low' and {where}", args,
            ):
                out.setdefault(pmid, StudyCheck()).low.add(name)
        if has_checks:
            for pmid, name, action, value, who, on, applied, stale in db.execute(
                "select pmid, field, action, value, who, checked_on, applied, stale from checked_values "
                f"where {where} order by pmid, field", args,
            ):
                c = out.setdefault(pmid, StudyCheck())
                if stale:
                    c.state = "stale"
                elif applied and c.state != "stale":
                    c.state = "checked"
                if not applied:
                    continue
                c.who, c.on = c.who or who, max(c.on or "", on or "") or None
                if action == "set":
                    c.fields.add(name)
                elif action != "reject":
                    c.effect_checks.append((action, json.loads(value)))
    for c in out.values():
        if c.state == "stale":  # shown as unchecked until a person confirms it against the new abstract
            c.fields, c.effect_checks = set(), []
    return out


def _close(a: object, b: object) -> bool:
    return (isinstance(a, (int, float)) and isinstance(b, (int, float))
            and math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6))


def _words(text: str | None) -> str:
    return " ".join((text or "").split()).lower()


def _check_covers(action: str, spec: dict, e: dict) -> bool:
    """Does an applied effect check (confirm, correct, add) stand behind effect `e` as shown?
    Its sentence words must be in the effect's sentence and its value (the corrected or
    added one where it sets one) must be the effect's."""
    select, values = spec.get("select") or {}, spec.get("values") or {}
    if action == "confirm":
        wanted = select
    elif action in ("correct", "add"):
        wanted = {k: values.get(k, select.get(k) if action == "correct" else None) for k in ("value", "outcome", "measure")}
    else:
        return False
    if not _close(wanted.get("value"), e.get("value")):
        return False
    if any(wanted.get(k) is not None and wanted[k] != e.get(k) for k in ("outcome", "measure")):
        return False
    return _words(select.get("sentence")) in _words(e.get("sentence"))


def claim_fields(claim: Claim) -> tuple[str, ...]:
    """The extracted values a claim rests on for one study: which studies count (on topic,
    design), and for an efficacy or mechanism claim what they found (direction, comparators, n), and the
    outcomes and headache types where the claim names them."""
    if getattr(claim, "kind", "efficacy") in ("safety", "background"):  # not read from findings and outcomes
        return ("on_topic", "design")
    names = ("on_topic", "design", "direction", "comparators", "n_randomized")
    return names + (("outcomes",) if claim.outcomes else ()) + (("headache_types",) if claim.headache_types else ())


def claim_checks(rows: list[dict], tally=None, counts: dict[str, int] | None = None) -> dict:
    """How far a person checked the studies a claim rests on (its counted studies): how
    many were checked, which checks are stale, whether any shown number is unchecked, and
    whether its verdict rests only on values read with low confidence that no one checked
    (the rated studies, or the counted ones where none was rated, each with such a value).

    The references are of the studies shown (`rows`); the counts, with a `tally` and its
    `counts` (`_CheckTally`), of every counted study."""
    counted = [r for r in rows if r["evidence"].counted]
    rated = [r for r in counted if r["evidence"].rated] or counted
    marks = any(r["n_unchecked"] and r["study"]["n_randomized"] for r in rows) or any(
        e.get("unchecked") for r in rows for q in r["quotes"] for e in q["estimates"])
    if tally is None:  # the rows are every study
        n_counted, n_rated = len(counted), len(rated)
        counts = {"checked": sum(1 for r in counted if r["check"].checked),
                  "stale": sum(1 for r in counted if r["check"].state == "stale")}
        low = sum(1 for r in rated if r["low"])
    else:
        rating = tally.verdict.rating
        n_counted = sum(tally.counts.values())
        n_rated = len(rating.rated) if rating and rating.certainty else 0
        if n_rated:
            low = counts["low_randomized"] if tally.body.randomized.n else counts["low_informative"]
        else:
            n_rated, low = n_counted, counts["low"]
    checked = [r["ref"] for r in counted if r["check"].checked]
    stale = [r["ref"] for r in counted if r["check"].state == "stale"]
    low_refs = [{"ref": r["ref"], "fields": r["low"]} for r in rated if r["low"]]
    return {
        "studies": n_counted,
        "checked": checked,
        "checked_total": counts["checked"],
        "checked_more": counts["checked"] - len(checked),
        "stale": stale,
        "stale_total": counts["stale"],
        "stale_more": counts["stale"] - len(stale),
        "marks": marks,
        "only_low": bool(n_rated) and low == n_rated,
        "low": low_refs,
        "low_more": low - len(low_refs),
    }


def checks_note(counts: dict[str, int]) -> dict:
    """For the methods note: of the studies the verdicts rest on (counted for any claim),
    how many a person checked, how many checks are stale, and how many low-confidence
    readings no one checked (`_CheckTally.note`: counted as the studies streamed by)."""
    studies, checked = counts["studies"], counts["checked"]
    return {
        "studies": studies,
        "checked": checked,
        "share": round(100 * checked / studies) if studies else 0,
        "checked_values": counts["checked_values"],
        "stale": counts["stale"],
        "low_values": counts["low_values"],
        "low_studies": counts["low_studies"],
        "mark": UNCHECKED_MARK,
    }


def claim_trials(db: sqlite_utils.Database, claim: Claim, overdue: dict[str, dict],
                 ref_numbers: dict[str, int]) -> dict | None:
    """The on-topic registered trials bearing on a claim (`registry.trials_for_claim`:
    those that registered one of its outcomes, in people with one of its headache types),
    grouped as a writer reads them: unpublished long after completion first, then those
    still running, then those published (with the reference or PMID of their report).
    None where the registry is not loaded or the claim is background (about headache,
    not a treatment)."""
    if not _has(db, "trials") or getattr(claim, "kind", "efficacy") == "background":
        return None
    if not db.execute("select 1 from trials limit 1").fetchone():
        return None
    outcomes = claim.outcomes  # none for a safety claim: any trial of needling may report harms
    trials = registry_module.trials_for_claim(db, outcomes, claim.headache_types)
    groups: dict[tuple[int, str], list[dict]] = {}
    for t in sorted(trials, key=lambda t: t["nct"]):
        status = registry_module.status_words(t["status"])
        item = {"nct": t["nct"], "url": CTGOV_URL + t["nct"], "size": _size(t), "reports": [],
                "note": "terminated" if t["status"] == "TERMINATED" else None}
        if t["published"]:
            for link in t["publications"]:
                if link["relation"] == "results" and link["confidence"] >= registry_module.LINK_THRESHOLD:
                    item["reports"].append({"pmid": link["pmid"], "ref": ref_numbers.get(link["pmid"])})
            item["note"] = None
            key = (4, "published")
        elif t["status"] in registry_module.FINISHED_STATUSES:
            months = (overdue.get(t["nct"]) or {}).get("months_since_completion")
            if months is None:
                key = (2, "completed, no completion date given, unpublished")
            elif months >= 24:
                key = (0, "completed and unpublished 2 years or more after completion")
            elif months >= 12:
                key = (1, "completed and unpublished 1 year or more after completion")
            else:
                key = (2, "completed under a year ago, not yet published")
        else:
            key = (3, "status unknown" if t["status"] == "UNKNOWN" else status)
        groups.setdefault(key, []).append(item)
    return {
        "count": len(trials),
        "outcomes": bool(outcomes),
        "groups": [{"label": label, "trials": items} for (_, label), items in sorted(groups.items())],
    }


def _size(t: dict) -> str:
    if not t["enrollment"]:
        return "n not given"
    return f"n={t['enrollment']}" + (" planned" if t["enrollment_type"] == "ESTIMATED" else "")


def registry_note(db: sqlite_utils.Database, today: date) -> dict | None:
    """For the methods note: where the registry data came from, and how many registered
    on-topic trials remain unpublished 12 and 24 months after completion."""
    fresh = registry_module.registry_freshness(db) if _has(db, "trials") else None
    if fresh is None:
        return None
    day = (fresh["fetched_at"] or "")[:10] or "an unknown day"
    line = (f"live ClinicalTrials.gov (API v2), refreshed {day}" if fresh["live"] else
            f"bundled ClinicalTrials.gov snapshot of {registry_module.SNAPSHOT_DATE} — not live; loaded {day}")
    on_topic = registry_module.trials_for_claim(db)  # every on-topic trial, with whether it is published
    finished = [t for t in on_topic if t["status"] in registry_module.FINISHED_STATUSES]
    unpublished = [u for u in registry_module.unpublished(db, today) if u["on_topic"]]
    months = [u["months_since_completion"] for u in unpublished]
    return {
        "line": line,
        "live": fresh["live"],
        "trials": len(on_topic),
        "finished": len(finished),
        "published": sum(1 for t in on_topic if t["published"]),
        "over_12": sum(1 for m in months if m is not None and m >= 12),
        "over_24": [u["nct"] for u in unpublished if (u["months_since_completion"] or 0) >= 24],
        "undated": sum(1 for m in months if m is None),
        "as_of": today.isoformat(),
    }


def _quotes(finding: str | None, effects: list[dict]) -> list[dict]:
    """Sentences to quote for one study, each once, with the estimates read from it."""
    quotes: list[dict] = []
    for e in effects:
        if quotes and quotes[-1]["sentence"] == e["sentence"]:
            quotes[-1]["estimates"].append(e)
        else:
            quotes.append({"sentence": e["sentence"], "estimates": [e]})
    if finding and finding not in {q["sentence"] for q in quotes}:
        quotes.insert(0, {"sentence": finding, "estimates": []})
    return quotes


def methods_note(db: sqlite_utils.Database, topic: Topic, studies: list[dict] | None = None) -> dict:
    if studies is None:  # counted in SQL: the studies are not all held in memory
        n, on_topic, retracted = db.execute(
            "select count(*), coalesce(sum(on_topic), 0), coalesce(sum(retracted), 0) "
            "from studies where extractor_version is not null"
        ).fetchone()
    else:
        n = len(studies)
        on_topic = sum(1 for s in studies if s["on_topic"])
        retracted = sum(1 for s in studies if s["retracted"])
    last = store.last_update(db) or {}
    return {
        # When the pipeline ran and how current the data is are different dates:
        # a run today over the 2025 snapshot must not read as "updated today".
        "freshness": freshness(db).as_dict(),
        "query": topic.query,
        "source": last.get("source"),
        "source_detail": last.get("source_detail"),
        "studies": n,
        "on_topic": on_topic,
        "retracted": retracted,
        # The stance and verdict rules, then the certainty rules: each from its one source.
        "rules": claims_module.__doc__.strip() + "\n\n" + certainty_module.__doc__.strip() + "\n\n"
        + "\n\n".join(claim_kinds.RULES.values()),  # safety and background claims: their own rules
    }


def changes_since_last(db: sqlite_utils.Database, digest: Digest) -> dict:
    """What moved since the previous digest: new studies, verdicts, retractions (`record` enters this one).

    A digest row keeps the last run it saw, not every PMID: new studies are those a
    later run first stored (one indexed query), so the work and the table grow with
    what changed, not with the size of the database times the number of digests."""
    verdicts = {s.claim.id: s.verdict.verdict for s in digest.sections}
    retracted = [r["pmid"] for r in db.query("select pmid from studies where retracted = 1 order by pmid")]
    last_run = db.execute("select max(id) from runs").fetchone()[0] or 0
    rows = list(db.query("select * from digests order by id desc limit 1"))
    previous = rows[0] if rows else None
    changes: dict = {"first": previous is None, "wordings": stale_wordings(digest)}
    if previous:
        old_verdicts = json.loads(previous["verdicts"] or "{}")
        old_retracted = set(json.loads(previous["retracted"] or "[]"))
        new_studies, new_count = _new_studies(db, previous)
        changes.update(
            since=previous["created_at"],
            new_studies=new_studies,
            new_count=new_count,
            verdicts=[
                {"claim": cid, "before": old_verdicts.get(cid), "after": v}
                for cid, v in verdicts.items() if old_verdicts.get(cid) != v
            ],
            retracted=[
                r for r in db.query("select * from studies where retracted = 1 order by pmid")
                if r["pmid"] not in old_retracted
            ],
        )
    # Recorded by `record` once the digest is written: a digest that failed to
    # render must not become "the previous digest" whose changes nobody saw.
    digest.ledger_row = {
        "created_at": digest.created_at, "source": digest.methods["source"],
        "verdicts": json.dumps(verdicts), "retracted": json.dumps(retracted), "last_run": last_run,
    }
    return changes


def record(db: sqlite_utils.Database, digest: Digest) -> None:
    """Enter a written digest in `digests`: the next digest's changes start from it."""
    with db.conn:
        # alter: last_run is new; digests rows written before it had every PMID instead
        db["digests"].insert(digest.ledger_row, alter=True)


def _new_studies(db: sqlite_utils.Database, previous: dict) -> tuple[list[dict], int]:
    """The first `NEW_STUDIES_SHOWN` studies first stored after the previous digest (PMID
    and title), and how many there are."""
    if previous.get("last_run") is not None:
        where, args = "first_seen_run > ?", [previous["last_run"]]
        count = db.execute(f"select count(*) from studies where {where}", args).fetchone()[0]
        return list(db.query(f"select pmid, title from studies where {where} order by pmid "
                             f"limit {NEW_STUDIES_SHOWN}", args)), count
    # A digest written before digests kept the run: compare with its PMID list, once.
    old = set(json.loads(previous.get("pmids") or "[]"))
    new = [r for r in db.query("select pmid, title from studies order by pmid") if r["pmid"] not in old]
    return new[:NEW_STUDIES_SHOWN], len(new)


def stale_wordings(digest: Digest) -> list[dict]:
    """Editors' wordings written for a verdict the evidence no longer gives."""
    return [
        {"claim": s.claim.id, "written_for": s.wording.stale.written_for, "verdict": s.verdict.verdict}
        for s in digest.sections if s.wording and s.wording.needs_review
    ]


def forest_plots(rows: list[dict]) -> list[Markup]:
    """One SVG forest plot per outcome and measure with two or more estimates with CIs
    (only estimates of the same outcome on the same scale are comparable)."""
    groups: dict[tuple[str, str], list[tuple[dict, dict]]] = {}
    for row in rows:
        if not row["evidence"].counted:
            continue
        for e in row["effects"]:
            if e["ci_low"] is not None and e["ci_high"] is not None and e["measure"] in claims_module.NO_EFFECT:
                groups.setdefault((e["outcome"], e["measure"]), []).append((row, e))
    return [forest_plot(outcome, measure, items) for (outcome, measure), items in groups.items() if len(items) >= 2]


def paragraphs(text: str | None) -> list[str]:
    """A docstring's paragraphs with its hard line breaks undone, except before a "- "
    list item: the rules read as text that reflows on a phone, one line per rule."""
    out = []
    for para in (text or "").strip().split("\n\n"):
        lines = [line.strip() for line in para.splitlines()]
        joined = lines[0] if lines else ""
        for line in lines[1:]:
            joined += ("\n" if line.startswith("- ") else " ") + line
        out.append(joined)
    return out


def verdict_label(key: str | None) -> str:
    """'benefit_low_certainty' → 'benefit — low certainty'; 'no_direct_evidence' → 'no direct evidence'."""
    if not key:
        return ""
    if key in VERDICTS and key != "no_direct_evidence":
        label = VERDICTS[key]
        return label[:1].lower() + label[1:]
    return key.replace("_", " ")


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def environment() -> Environment:
    """The templates' environment. Compiled templates are kept between processes
    (Jinja's bytecode cache, in a folder of the user's own under the system's temp
    directory, checked against each template's source): compiling the digest's two
    templates costs ~0.07 s a run, loading them from the cache ~0.002 s."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        bytecode_cache=_bytecode_cache(),
        autoescape=select_autoescape(["html", "html.j2"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["label"] = lambda v: (v or "").replace("_", " ")
    # A verdict key in words: "Benefit — low certainty"; an older key (before certainty) as it was.
    env.filters["verdict_label"] = verdict_label
    env.filters["level"] = certainty_module.level_word
    env.filters["direction"] = lambda d: certainty_module.DIRECTIONS.get(d or "", (d or "").replace("_", " "))
    env.filters["design"] = lambda v: vocab.DESIGN_LABELS.get(v, v or "")
    env.filters["fromjson"] = lambda v: json.loads(v) if v else []
    env.filters["paragraphs"] = paragraphs
    env.filters["sentence"] = lambda v: (v or "")[:1].upper() + (v or "")[1:]  # keeps "UTC" as it is
    env.filters["utc"] = lambda v: (v or "")[:16].replace("T", " ") + " UTC" if v else ""
    # DOIs may hold <, >, " (old SICI DOIs): percent-encode them in link targets.
    env.filters["doi_url"] = lambda doi: "https://doi.org/" + quote(doi or "", safe="/:;()._-")
    return env


def _bytecode_cache() -> BytecodeCache | None:
    try:
        return FileSystemBytecodeCache()
    except RuntimeError:  # no private folder can be made: compile every time
        return None


def render(digest: Digest, out_dir: Path) -> tuple[Path, Path]:
    """Write digest.html and digest.md into `out_dir`; returns their paths.

    Each page is streamed from its template to the file (a digest citing thousands
    of studies is tens of megabytes: it is never held whole in memory)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = environment()
    context = {"d": digest, "verdicts": VERDICTS, "shown": SHOWN_PER_STANCE}
    html_path, md_path = out_dir / "digest.html", out_dir / "digest.md"
    # Atomic: a kill mid-write leaves yesterday's digest, never an empty one.
    write_atomic_chunks(html_path, env.get_template("digest.html.j2").generate(**context))
    # Markdown is not HTML: no HTML escaping, but the template escapes Markdown's
    # own specials where study text goes in.
    md_env = environment()
    md_env.autoescape = False
    write_atomic_chunks(md_path, md_env.get_template("digest.md.j2").generate(**context))
    return html_path, md_path


def write_digest(
    db: sqlite_utils.Database, topic: Topic, out_dir: Path, *, force: bool | None = None,
    checked: Check | None = None,
) -> tuple[Path, Path]:
    """Build, write and record the digest (recorded only once both files are written).

    Within a run (`run`, `import`: its run is LOADED, its later stages under way)
    the digest is skipped, writing nothing, when the last digest written to
    `out_dir` was made from the same inputs (`fingerprint`: the studies and their
    extraction, the checks a person made, the registered trials, the topic and its
    article, the templates and the code, the day of the last run and today) and its files are still there: a run that changed nothing
    leaves the digest as it was. Asked for on its own (`evidence digest`), or
    with `force=True`, it is always written; `force=False` skips outside a run too.
    `checked`: that decision, made already by `digest_fingerprint.check` (the CLI makes
    it before importing this module)."""
    c = checked or check(db, topic, out_dir, force=force)
    if c.unchanged:
        return c.paths
    digest = build(db, topic)
    digest.ledger_row["fingerprint"] = c.fingerprint
    paths = render(digest, out_dir)
    record(db, digest)
    return paths
