"""The article digest for writers: each claim, what the evidence suggests and how
certain (GRADE, with the reasons and the reviews' own judgement), the studies
behind it, forest plots and citations, rendered from Jinja2 templates to HTML
and Markdown."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
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
from .cite import citations
from .claims import VERDICTS, Claim, Verdict
from .extract import DESIGN_LABELS
from .forest import forest_plot
from .freshness import freshness
from .rewording import WordingAdvice, advise
from .topic import PROJECT_ROOT, Topic

TEMPLATES = PROJECT_ROOT / "templates" / "digest"
log = logging.getLogger(__name__)
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
    """Assess the claims (saving them to `claims`/`claim_evidence`) and gather the digest.

    The studies are read one page at a time and only those bearing on a claim are
    kept; their citations come from the `citations` cache (`cite.citations`)."""
    claim_list = claims_module.load_claims(topic)
    results, by_pmid = claims_module.assess_studies(claim_list, claims_module.iter_studies(db))
    claims_module.save(db, results)
    ref_numbers: dict[str, int] = {}
    references: list[dict] = []

    def cite(pmid: str) -> int:
        if pmid not in ref_numbers:
            ref_numbers[pmid] = len(ref_numbers) + 1
            references.append({"number": ref_numbers[pmid], "study": by_pmid[pmid], "text": None, "ama": None})
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
    for study in by_pmid.values():
        study["abstract"] = None  # read (stances, certainty, quotes); the pages do not show it
    texts = citations(db, [r["study"] for r in references], ("vancouver", "ama"))
    for r in references:
        pmid = str(r["study"]["pmid"])
        r["text"], r["ama"] = texts[(pmid, "vancouver")], texts[(pmid, "ama")]
    methods = methods_note(db, topic)
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
    """Write digest.html and digest.md into `out_dir`; returns their paths.

    Each page is streamed from its template to the file (a digest citing thousands
    of studies is tens of megabytes: it is never held whole in memory)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = environment()
    context = {"d": digest, "verdicts": VERDICTS}
    html_path, md_path = out_dir / "digest.html", out_dir / "digest.md"
    # Atomic: a kill mid-write leaves yesterday's digest, never an empty one.
    _write_atomic(html_path, env.get_template("digest.html.j2").generate(**context))
    # Markdown is not HTML: no HTML escaping, but the template escapes Markdown's
    # own specials where study text goes in.
    md_env = environment()
    md_env.autoescape = False
    _write_atomic(md_path, md_env.get_template("digest.md.j2").generate(**context))
    return html_path, md_path


def _write_atomic(path: Path, chunks) -> Path:
    """`files.write_atomic` for text made in pieces: a temporary file beside `path`,
    written piece by piece, flushed to disk, then renamed over `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            buffer: list[str] = []
            size = 0
            for chunk in chunks:
                buffer.append(chunk)
                size += len(chunk)
                if size > 1 << 16:
                    f.write("".join(buffer))
                    buffer, size = [], 0
            f.write("".join(buffer))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the digest is for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_digest(
    db: sqlite_utils.Database, topic: Topic, out_dir: Path, *, force: bool | None = None
) -> tuple[Path, Path]:
    """Build, write and record the digest (recorded only once both files are written).

    Within a run (`run`, `import`: its run is LOADED, its later stages under way)
    the digest is skipped, writing nothing, when the last digest written to
    `out_dir` was made from the same inputs (`fingerprint`: the studies and their
    extraction, the topic and its article, the templates and the code, the day of
    the last run) and its files are still there: a run that changed nothing
    leaves the digest as it was. Asked for on its own (`evidence digest`), or
    with `force=True`, it is always written; `force=False` skips outside a run too."""
    html_path, md_path = out_dir / "digest.html", out_dir / "digest.md"
    fp = fingerprint(db, topic, out_dir)
    if force is None:
        force = not db.execute("select 1 from runs where status = ? limit 1", [store.LOADED]).fetchone()
    if not force and html_path.exists() and md_path.exists() and _last_fingerprint(db) == fp:
        log.info("digest unchanged (same studies, claims, topic and templates): not rewritten")
        return html_path, md_path
    digest = build(db, topic)
    digest.ledger_row["fingerprint"] = fp
    paths = render(digest, out_dir)
    record(db, digest)
    return paths


def _last_fingerprint(db: sqlite_utils.Database) -> str | None:
    if "fingerprint" not in db["digests"].columns_dict:
        return None
    row = db.execute("select fingerprint from digests order by id desc limit 1").fetchone()
    return row[0] if row else None


# Code and templates whose change changes the digest.
_CODE = ("digest.py", "claims.py", "certainty.py", "cite.py", "csl.py", "forest.py", "freshness.py",
         "rewording.py", "vocab.py", "terms.py")


def fingerprint(db: sqlite_utils.Database, topic: Topic, out_dir: Path) -> str:
    """A hash of everything the digest is made from: each study's stored content hash,
    extracted fields and flags, the effects, the topic file and article, the templates
    and the code, where it is written, and what its data and run lines say (to the
    day: a second run the same day that changed nothing leaves the digest as it is).

    Reads one narrow row per study (no abstracts): linear, and a few tens of
    milliseconds for 20,000 studies."""
    h = hashlib.blake2b(digest_size=20)

    def add(value: object) -> None:
        h.update(repr(value).encode("utf-8", "surrogatepass"))
        h.update(b"\0")

    here = Path(__file__).resolve().parent
    for name in _CODE:
        add(name)
        h.update((here / name).read_bytes())
    for template in sorted(TEMPLATES.glob("digest.*.j2")):
        add(template.name)
        h.update(template.read_bytes())
    add(str(Path(topic.path).resolve()))
    h.update(Path(topic.path).read_bytes())
    if topic.article_path:
        h.update(topic.article_path.read_bytes())
    add(str(Path(out_dir).resolve()))
    fresh = freshness(db).as_dict()
    for key in ("last_run_at", "last_live_at"):
        fresh[key] = (fresh[key] or "")[:10]
    fresh.pop("run_line", None)
    fresh.pop("data_line", None)
    add(sorted(fresh.items()))
    add(store.last_update(db) and {k: v for k, v in store.last_update(db).items() if k != "finished_at"})
    columns = [c for c in ("pmid", "content_hash", "retracted", "deleted_from_pubmed", "first_seen_run",
                           "extractor_version", "design", "on_topic", "headache_types", "comparators",
                           "n_randomized", "outcomes", "direction", "evidence_level", "summary")
               if c in db["studies"].columns_dict]
    cursor = db.execute(f"select {', '.join(columns)} from studies order by pmid")
    while rows := cursor.fetchmany(5000):
        add(rows)
    add(db.execute("select count(*), max(id), total(value), total(ci_low), total(ci_high) from effects").fetchone())
    return h.hexdigest()

