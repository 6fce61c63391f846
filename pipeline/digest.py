"""The article digest for writers: each claim, what the evidence suggests and how
certain (GRADE, with the reasons and the reviews' own judgement), the studies
behind it, forest plots and citations, rendered from Jinja2 templates to HTML
and Markdown."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import sqlite_utils
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from . import certainty as certainty_module
from . import claims as claims_module
from . import store
from .cite import ama, vancouver
from .claims import VERDICTS, Claim, Verdict
from .extract import DESIGN_LABELS
from .files import write_atomic
from .forest import forest_plot
from .freshness import freshness
from .rewording import WordingAdvice, advise
from .topic import PROJECT_ROOT, Topic

TEMPLATES = PROJECT_ROOT / "templates" / "digest"
STANCE_ORDER = {stance: i for i, stance in enumerate(claims_module.STANCES)}
# The overview's count of studies per stance, in a writer's words (zero counts left out).
COUNT_WORDS = (("supporting", "for"), ("contradicting", "against"), ("neutral", "no effect shown"),
               ("comparable", "tied with an active treatment"))


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

    @property
    def rating(self) -> certainty_module.Rating | None:
        return self.verdict.rating

    @property
    def counts(self) -> list[str]:
        """['2 for', '2 no effect shown'], or ['no counted study']."""
        parts = [f"{getattr(self.verdict, key)} {words}" for key, words in COUNT_WORDS if getattr(self.verdict, key)]
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


def build(db: sqlite_utils.Database, topic: Topic) -> Digest:
    """Assess the claims (saving them to `claims`/`claim_evidence`) and gather the digest."""
    claim_list = claims_module.load_claims(topic)
    studies = claims_module.studies_for_claims(db)
    results = claims_module.assess(claim_list, studies)
    claims_module.save(db, results)
    by_pmid = {s["pmid"]: s for s in studies}
    ref_numbers: dict[str, int] = {}
    references: list[dict] = []

    def cite(pmid: str) -> int:
        if pmid not in ref_numbers:
            ref_numbers[pmid] = len(ref_numbers) + 1
            study = by_pmid[pmid]
            references.append({"number": ref_numbers[pmid], "study": study, "text": vancouver(study), "ama": ama(study)})
        return ref_numbers[pmid]

    sections = []
    for number, (claim, verdict, evidence) in enumerate(results, 1):
        rows = []
        for e in sorted(evidence, key=lambda e: (STANCE_ORDER[e.stance], -e.weight, e.pmid)):
            study = by_pmid[e.pmid]
            outcome_effects = [
                x for x in study["effects"] if not claim.outcomes or x["outcome"] in claim.outcomes
            ]
            quotes = _quotes(e.sentence, outcome_effects)
            improved = claims_module.improved_sentence(study) if e.stance == "comparable" else None
            if improved and improved not in {q["sentence"] for q in quotes}:
                # "all groups improved" is said only on the study's own words: show them.
                quotes.insert(0, {"sentence": improved, "estimates": []})
            rows.append({
                "study": study, "evidence": e, "ref": cite(e.pmid), "effects": outcome_effects, "quotes": quotes,
            })
        indirect = [{"study": by_pmid[p], "ref": cite(p)} for p in verdict.indirect]
        sections.append(
            ClaimSection(number, claim, verdict, VERDICTS[verdict.verdict], rows, forest_plots(rows), indirect,
                         advise(claim, verdict, rows), review_judgements(verdict, cite))
        )
    methods = methods_note(db, topic, studies)
    digest = Digest(topic, _now(), sections, references, methods)
    digest.changes = changes_since_last(db, digest)
    return digest


def review_judgements(verdict: Verdict, cite) -> list[dict]:
    """Each counted review's own statement of its certainty (its most specific one), cited."""
    out, seen = [], set()
    for j in verdict.rating.reviews if verdict.rating else []:
        if j.pmid not in seen:
            seen.add(j.pmid)
            out.append({"judgement": j, "level": certainty_module.level_word(j.level), "ref": cite(j.pmid)})
    return out


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


def methods_note(db: sqlite_utils.Database, topic: Topic, studies: list[dict]) -> dict:
    last = store.last_update(db) or {}
    return {
        # When the pipeline ran and how current the data is are different dates:
        # a run today over the 2025 snapshot must not read as "updated today".
        "freshness": freshness(db).as_dict(),
        "query": topic.query,
        "source": last.get("source"),
        "source_detail": last.get("source_detail"),
        "studies": len(studies),
        "on_topic": sum(1 for s in studies if s["on_topic"]),
        "retracted": sum(1 for s in studies if s["retracted"]),
        # The stance and verdict rules, then the certainty rules: each from its one source.
        "rules": claims_module.__doc__.strip() + "\n\n" + certainty_module.__doc__.strip(),
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
        changes.update(
            since=previous["created_at"],
            new_studies=_new_studies(db, previous),
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


def _new_studies(db: sqlite_utils.Database, previous: dict) -> list[dict]:
    """Studies first stored after the previous digest."""
    if previous.get("last_run") is not None:
        return list(db.query("select * from studies where first_seen_run > ? order by pmid", [previous["last_run"]]))
    # A digest written before digests kept the run: compare with its PMID list, once.
    old = set(json.loads(previous.get("pmids") or "[]"))
    return [r for r in db.query("select * from studies order by pmid") if r["pmid"] not in old]


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
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "html.j2"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["label"] = lambda v: (v or "").replace("_", " ")
    # A verdict key in words: "Benefit — low certainty"; an older key (before certainty) as it was.
    env.filters["verdict_label"] = verdict_label
    env.filters["level"] = certainty_module.level_word
    env.filters["direction"] = lambda d: certainty_module.DIRECTIONS.get(d or "", (d or "").replace("_", " "))
    env.filters["design"] = lambda v: DESIGN_LABELS.get(v, v or "")
    env.filters["fromjson"] = lambda v: json.loads(v) if v else []
    env.filters["paragraphs"] = paragraphs
    env.filters["sentence"] = lambda v: (v or "")[:1].upper() + (v or "")[1:]  # keeps "UTC" as it is
    env.filters["utc"] = lambda v: (v or "")[:16].replace("T", " ") + " UTC" if v else ""
    # DOIs may hold <, >, " (old SICI DOIs): percent-encode them in link targets.
    env.filters["doi_url"] = lambda doi: "https://doi.org/" + quote(doi or "", safe="/:;()._-")
    return env


def render(digest: Digest, out_dir: Path) -> tuple[Path, Path]:
    """Write digest.html and digest.md into `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = environment()
    context = {"d": digest, "verdicts": VERDICTS}
    html_path, md_path = out_dir / "digest.html", out_dir / "digest.md"
    # Atomic: a kill mid-write leaves yesterday's digest, never an empty one.
    write_atomic(html_path, env.get_template("digest.html.j2").render(**context))
    # Markdown is not HTML: no HTML escaping, but the template escapes Markdown's
    # own specials where study text goes in.
    md_env = environment()
    md_env.autoescape = False
    write_atomic(md_path, md_env.get_template("digest.md.j2").render(**context))
    return html_path, md_path


def write_digest(db: sqlite_utils.Database, topic: Topic, out_dir: Path) -> tuple[Path, Path]:
    """Build, write and record the digest (recorded only once both files are written)."""
    digest = build(db, topic)
    paths = render(digest, out_dir)
    record(db, digest)
    return paths
