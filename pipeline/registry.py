"""The registry cross-check: what the topic's trials registered on ClinicalTrials.gov,
which publications report them, and where the two disagree.

`refresh` is the whole job: fetch (live API v2, or the bundled snapshot), parse
each Study into a `Trial`, store them, link trials to stored studies, and write
the cross-check findings, in one transaction so a failure leaves the previous
state whole. The word lists that map registry wording to the project's
vocabularies are data, in `registry_terms.yml`, with examples the tests check.

Tables: `trials` (one row per NCT number), `trial_publications` (trial ↔ PMID,
with how the link was found and a confidence), `trial_findings` (one row per
disagreement or overdue trial, with its evidence) and `trial_changes` (what each
refresh found different from the one before: a new registration, a status
change, a newly linked publication; written in the refresh's transaction).
"""

from __future__ import annotations

import calendar
import json
import logging
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlite_utils

from . import ctgov, store, yamldata
from .terms import HEADACHE_TERMS
from .topic import Topic

log = logging.getLogger(__name__)

SNAPSHOT_DIR = Path(__file__).parent / "snapshot" / "clinicaltrials"
SNAPSHOT_DATE = "2026-11-25"
TERMS_FILE = Path(__file__).parent / "registry_terms.yml"

# A link at or above this confidence counts as "the trial's publication" for the
# cross-checks and the unpublished check; below it (down to POSSIBLE) it is kept
# as a lead for a person to check, relation "possible", and counts for nothing.
LINK_THRESHOLD = 0.5
POSSIBLE_THRESHOLD = 0.35
# Registered vs published sample sizes: any difference is a finding; over this
# fraction of the registered number it is "major".
SAMPLE_SIZE_TOLERANCE = 0.10
# Statuses that a trial should have left by its completion date.
OPEN_STATUSES = {"NOT_YET_RECRUITING", "RECRUITING", "ENROLLING_BY_INVITATION", "ACTIVE_NOT_RECRUITING", "UNKNOWN"}
FINISHED_STATUSES = {"COMPLETED", "TERMINATED"}
# Registry reference types that point at a publication of the trial itself
# (BACKGROUND references are literature the trial builds on).
OWN_REFERENCE_TYPES = {"RESULT": 1.0, "DERIVED": 0.95}
# Designs of a study that can report a trial's results; reviews only mention
# trials, protocols describe them before results exist.
REVIEW_DESIGNS = {"meta_analysis", "systematic_review", "narrative_review"}
NON_RESULT_DESIGNS = REVIEW_DESIGNS | {"protocol", "mechanism_study"}


class RegistryError(ValueError):
    """A registry record or snapshot that cannot be used, with the reason."""


# --- the record ----------------------------------------------------------------


@dataclass
class Trial:
    """One ClinicalTrials.gov study, as the cross-check needs it. Absent modules give None or []."""

    nct: str
    brief_title: str | None = None
    official_title: str | None = None
    org_study_id: str | None = None
    status: str | None = None
    status_verified: str | None = None
    why_stopped: str | None = None
    start_date: str | None = None
    start_date_type: str | None = None
    primary_completion_date: str | None = None
    primary_completion_date_type: str | None = None
    completion_date: str | None = None
    completion_date_type: str | None = None
    first_posted: str | None = None
    last_updated: str | None = None
    has_results: bool | None = None
    study_type: str | None = None
    phases: list[str] = field(default_factory=list)
    allocation: str | None = None
    intervention_model: str | None = None
    masking: str | None = None
    primary_purpose: str | None = None
    enrollment: int | None = None
    enrollment_type: str | None = None
    conditions: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    interventions: list[dict] = field(default_factory=list)  # {type, name, description}
    arms: list[dict] = field(default_factory=list)  # {label, type, description, interventions}
    primary_outcomes: list[dict] = field(default_factory=list)  # {measure, description, time_frame}
    secondary_outcomes: list[dict] = field(default_factory=list)
    sponsor: str | None = None
    sponsor_class: str | None = None
    collaborators: list[str] = field(default_factory=list)
    investigators: list[str] = field(default_factory=list)  # overall officials, responsible investigator
    references: list[dict] = field(default_factory=list)  # {pmid, type, citation}
    missing_modules: list[str] = field(default_factory=list)
    on_topic: bool | None = None
    found_by: list[str] = field(default_factory=list)  # "search", "pmid:NNN" (cited by a stored study)
    raw: dict = field(default_factory=dict)


MODULES = (
    "identificationModule", "statusModule", "sponsorCollaboratorsModule", "conditionsModule",
    "designModule", "armsInterventionsModule", "outcomesModule", "contactsLocationsModule", "referencesModule",
)


def parse_study(study: dict) -> Trial:
    """A Study object of the API v2 → Trial; tolerant of every module but the NCT number being absent."""
    if not isinstance(study, dict):
        raise RegistryError(f"a study is a JSON object, not {type(study).__name__}")
    ps = _dict(study.get("protocolSection"))
    ident = _dict(ps.get("identificationModule"))
    nct = ident.get("nctId")
    if not isinstance(nct, str) or not ctgov.NCT_RE.match(nct):
        raise RegistryError(f"a study without a valid nctId: {nct!r}")
    status = _dict(ps.get("statusModule"))
    sponsor = _dict(ps.get("sponsorCollaboratorsModule"))
    conditions = _dict(ps.get("conditionsModule"))
    design = _dict(ps.get("designModule"))
    info = _dict(design.get("designInfo"))
    enrollment = _dict(design.get("enrollmentInfo"))
    arms_module = _dict(ps.get("armsInterventionsModule"))
    outcomes = _dict(ps.get("outcomesModule"))
    contacts = _dict(ps.get("contactsLocationsModule"))
    references = _dict(ps.get("referencesModule"))

    def date_of(name: str) -> tuple[str | None, str | None]:
        struct = _dict(status.get(name))
        return _str(struct.get("date")), _str(struct.get("type"))

    start, start_type = date_of("startDateStruct")
    primary, primary_type = date_of("primaryCompletionDateStruct")
    completion, completion_type = date_of("completionDateStruct")
    investigators = [_str(o.get("name")) for o in _dicts(contacts.get("overallOfficials"))]
    responsible = _dict(sponsor.get("responsibleParty"))
    investigators.append(_str(responsible.get("investigatorFullName")))
    count = enrollment.get("count")
    has_results = study.get("hasResults")
    return Trial(
        nct=nct,
        brief_title=_str(ident.get("briefTitle")),
        official_title=_str(ident.get("officialTitle")),
        org_study_id=_str(_dict(ident.get("orgStudyIdInfo")).get("id")),
        status=_str(status.get("overallStatus")),
        status_verified=_str(status.get("statusVerifiedDate")),
        why_stopped=_str(status.get("whyStopped")),
        start_date=start,
        start_date_type=start_type,
        primary_completion_date=primary,
        primary_completion_date_type=primary_type,
        completion_date=completion,
        completion_date_type=completion_type,
        first_posted=date_of("studyFirstPostDateStruct")[0],
        last_updated=date_of("lastUpdatePostDateStruct")[0],
        has_results=has_results if isinstance(has_results, bool) else None,
        study_type=_str(design.get("studyType")),
        phases=[p for p in _list(design.get("phases")) if isinstance(p, str)],
        allocation=_str(info.get("allocation")),
        intervention_model=_str(info.get("interventionModel")),
        masking=_str(_dict(info.get("maskingInfo")).get("masking")),
        primary_purpose=_str(info.get("primaryPurpose")),
        enrollment=count if isinstance(count, int) and not isinstance(count, bool) else None,
        enrollment_type=_str(enrollment.get("type")),
        conditions=[c for c in _list(conditions.get("conditions")) if isinstance(c, str)],
        keywords=[k for k in _list(conditions.get("keywords")) if isinstance(k, str)],
        interventions=[
            {"type": _str(i.get("type")), "name": _str(i.get("name")), "description": _str(i.get("description"))}
            for i in _dicts(arms_module.get("interventions"))
        ],
        arms=[
            {
                "label": _str(a.get("label")), "type": _str(a.get("type")), "description": _str(a.get("description")),
                "interventions": [n for n in _list(a.get("interventionNames")) if isinstance(n, str)],
            }
            for a in _dicts(arms_module.get("armGroups"))
        ],
        primary_outcomes=_outcomes(outcomes.get("primaryOutcomes")),
        secondary_outcomes=_outcomes(outcomes.get("secondaryOutcomes")),
        sponsor=_str(_dict(sponsor.get("leadSponsor")).get("name")),
        sponsor_class=_str(_dict(sponsor.get("leadSponsor")).get("class")),
        collaborators=[n for c in _dicts(sponsor.get("collaborators")) if (n := _str(c.get("name")))],
        investigators=list(dict.fromkeys(i for i in investigators if i)),
        references=[
            {"pmid": _str(r.get("pmid")), "type": _str(r.get("type")), "citation": _str(r.get("citation"))}
            for r in _dicts(references.get("references"))
        ],
        missing_modules=[m for m in MODULES if m not in ps],
        raw=study,
    )


def _outcomes(value: object) -> list[dict]:
    return [
        {"measure": m, "description": _str(o.get("description")), "time_frame": _str(o.get("timeFrame"))}
        for o in _dicts(value)
        if (m := _str(o.get("measure")))
    ]


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _dicts(value: object) -> list[dict]:
    return [v for v in _list(value) if isinstance(v, dict)]


def _str(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


# --- the word lists --------------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    """registry_terms.yml, compiled and checked."""

    outcomes: dict[str, list[re.Pattern]]
    outcome_examples: dict[str, list[str]]
    unmapped_examples: list[str]
    arm_types: dict[str, str | None]
    arm_words: dict[str, list[re.Pattern]]
    arm_word_examples: dict[str, list[str]]
    published_comparators: dict[str, str]


@lru_cache(maxsize=4)
def load_terms(path: Path = TERMS_FILE) -> Terms:
    """Read and check the word lists (outcome names must be vocab.OUTCOMES values)."""
    from .vocab import COMPARATORS, OUTCOMES

    data = yamldata.safe_load(path.read_text(encoding="utf-8"))
    classes = {"sham", "active", "no_intervention", "none", "experimental"}

    def compile_all(section: str, entries: dict) -> tuple[dict[str, list[re.Pattern]], dict[str, list[str]]]:
        patterns, examples = {}, {}
        for name, entry in entries.items():
            try:
                patterns[name] = [re.compile(p, re.IGNORECASE) for p in entry["patterns"]]
            except (KeyError, TypeError, re.error) as e:
                raise RegistryError(f"{path}: {section}.{name}: {e}") from None
            examples[name] = list(entry.get("examples") or [])
        return patterns, examples

    outcomes, outcome_examples = compile_all("outcomes", data["outcomes"])
    unknown = set(outcomes) - set(OUTCOMES)
    if unknown:
        raise RegistryError(f"{path}: outcomes not in vocab.OUTCOMES: {', '.join(sorted(unknown))}")
    arm_words, arm_word_examples = compile_all("arm_words", data["arm_words"])
    arm_types = dict(data["arm_types"])
    published = dict(data["published_comparators"])
    bad = {v for v in list(arm_types.values()) + list(published.values()) if v is not None} - classes
    bad |= set(arm_words) - classes
    # DESIGN.md also names `other` and `unspecified_control`, which the extractor may come to write.
    unknown_values = set(published) - set(COMPARATORS) - {"other", "unspecified_control"}
    if bad or unknown_values:
        raise RegistryError(f"{path}: unknown comparator class or value: {sorted(bad | unknown_values)}")
    return Terms(outcomes, outcome_examples, list(data.get("unmapped_examples") or []), arm_types,
                 arm_words, arm_word_examples, published)


def outcome_terms(measure: str) -> list[str]:
    """The vocab outcomes a registry outcome title names (in vocab order; [] when none)."""
    return [name for name, patterns in load_terms().outcomes.items() if any(p.search(measure) for p in patterns)]


def arm_class(arm: dict) -> str | None:
    """What a registered arm is: experimental, sham, active, no_intervention (None when unknown)."""
    terms = load_terms()
    kind = terms.arm_types.get(arm.get("type") or "", None)
    if kind in ("experimental", "sham", "no_intervention"):
        return kind
    text = " ".join(filter(None, (arm.get("label"), arm.get("description"))))
    for name, patterns in terms.arm_words.items():
        if any(p.search(text) for p in patterns):
            return name
    return "active" if arm.get("type") in ("ACTIVE_COMPARATOR", "OTHER") else kind


def comparator_classes(trial: Trial) -> list[str] | None:
    """The comparator classes the registry's arms describe (sham, active, no_intervention,
    none for a single-arm trial), or None when the record has no arms to read."""
    if not trial.arms:
        return ["none"] if trial.intervention_model == "SINGLE_GROUP" else None
    if len(trial.arms) == 1:
        return ["none"]
    classes = [arm_class(a) for a in trial.arms]
    comparators = sorted({c for c in classes if c and c != "experimental"})
    # Two experimental arms compare one active treatment with another.
    return comparators or ["active"]


def published_classes(comparators: Iterable[str]) -> list[str]:
    """studies.comparators → the same classes (values that say nothing are left out)."""
    table = load_terms().published_comparators
    return sorted({table[c] for c in comparators if c in table})


# --- topic and dates ---------------------------------------------------------------


def topic_terms(topic: Topic) -> tuple[list[str], list[str]]:
    """The topic file's clinicaltrials: conditions and interventions."""
    block = topic.raw.get("clinicaltrials") or {}
    if not isinstance(block, dict):
        raise RegistryError(f"{topic.path}: clinicaltrials: should be a mapping with conditions and interventions")
    conditions = [str(c) for c in block.get("conditions") or []]
    interventions = [str(i) for i in block.get("interventions") or []]
    if not conditions and not interventions:
        raise RegistryError(f"{topic.path}: add a clinicaltrials: block with conditions and interventions to search the registry")
    return conditions, interventions


def is_on_topic(trial: Trial, conditions: list[str], interventions: list[str]) -> bool:
    """Does the trial name one of the topic's conditions and one of its interventions?"""
    titles = " ".join(filter(None, (trial.brief_title, trial.official_title)))
    about = " ".join([titles, *trial.conditions, *trial.keywords])
    given = " ".join([titles, *(i["name"] or "" for i in trial.interventions), *(a["label"] or "" for a in trial.arms)])
    return _names_any(about, conditions) and _names_any(given, interventions)


def _names_any(text: str, terms: list[str]) -> bool:
    if not terms:
        return True
    text = " ".join(re.split(r"[\s\-]+", text.lower()))
    return any(re.search(r"\b" + re.escape(" ".join(re.split(r"[\s\-]+", t.lower()))), text) for t in terms)


def end_of(partial: str | None) -> date | None:
    """The last day a registry date (yyyy, yyyy-MM or yyyy-MM-dd) can mean."""
    if not partial:
        return None
    try:
        parts = [int(p) for p in partial.split("-")]
        if len(parts) == 1:
            return date(parts[0], 12, 31)
        if len(parts) == 2:
            return date(parts[0], parts[1], calendar.monthrange(parts[0], parts[1])[1])
        return date(parts[0], parts[1], parts[2])
    except (ValueError, IndexError):
        return None


def months_between(start: date, end: date) -> int:
    """Whole months from `start` to `end` (negative when end is earlier)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - 1 if end.day < start.day else months


# --- the database ----------------------------------------------------------------

TRIAL_COLUMNS: dict[str, type] = {
    "nct": str, "brief_title": str, "official_title": str, "org_study_id": str, "status": str,
    "status_verified": str, "why_stopped": str, "start_date": str, "start_date_type": str,
    "primary_completion_date": str, "primary_completion_date_type": str, "completion_date": str,
    "completion_date_type": str, "first_posted": str, "last_updated": str, "has_results": int,
    "study_type": str, "phases": str, "allocation": str, "intervention_model": str, "masking": str,
    "primary_purpose": str, "enrollment": int, "enrollment_type": str, "conditions": str, "keywords": str,
    "interventions": str, "arms": str, "comparator_types": str, "primary_outcomes": str,
    "secondary_outcomes": str, "outcome_terms": str, "sponsor": str, "sponsor_class": str,
    "collaborators": str, "investigators": str, "references": str, "missing_modules": str,
    "on_topic": int, "found_by": str, "source": str, "fetched_at": str, "raw": str,
}
TRIAL_JSON = {
    "phases", "conditions", "keywords", "interventions", "arms", "comparator_types", "primary_outcomes",
    "secondary_outcomes", "outcome_terms", "collaborators", "investigators", "references", "missing_modules",
    "found_by", "raw",
}
LINK_COLUMNS: dict[str, type] = {
    "nct": str, "pmid": str, "method": str, "methods": str, "relation": str, "confidence": float,
    "evidence": str, "reference_type": str,
}
FINDING_COLUMNS: dict[str, type] = {
    "id": int, "nct": str, "pmid": str, "kind": str, "severity": str, "detail": str,
    "registry_value": str, "published_value": str, "evidence": str, "checked_on": str,
}
CHANGE_COLUMNS: dict[str, type] = {
    "id": int, "nct": str, "kind": str, "old": str, "new": str, "pmid": str, "detail": str,
    "context": str, "source": str, "seen_at": str,
}
CHANGE_KINDS = ("new_registration", "status_changed", "publication_linked")
# trial_changes.context: NULL for a change between two loads (news), or why it is not news.
FIRST_LOAD = "first load"  # the first registry load into this database: how things stood, not what changed
OLDER_COPY = "older copy"  # the bundled snapshot loaded after a live load: older data, not a registry change
# Links that make a publication "linked" for the change log: the trial's own report or protocol.
LINKED_RELATIONS = ("results", "protocol")
_to_json = json.JSONEncoder(ensure_ascii=False).encode


def ensure_tables(db: sqlite_utils.Database) -> None:
    """Create or complete the trials, trial_publications, trial_findings and trial_changes tables; harmless to repeat."""
    for name, columns, pk in (
        ("trials", TRIAL_COLUMNS, "nct"),
        ("trial_publications", LINK_COLUMNS, ("nct", "pmid")),
        ("trial_findings", FINDING_COLUMNS, "id"),
        ("trial_changes", CHANGE_COLUMNS, "id"),
    ):
        table = db.table(name)
        if not table.exists():
            table.create(columns, pk=pk)
        else:
            for column, kind in columns.items():
                if column not in table.columns_dict:
                    table.add_column(column, kind)
    db.table("trials").create_index(["status"], if_not_exists=True)
    db.table("trial_publications").create_index(["pmid"], if_not_exists=True)
    db.table("trial_findings").create_index(["nct"], if_not_exists=True)
    db.table("trial_findings").create_index(["pmid"], if_not_exists=True)
    db.table("trial_findings").create_index(["kind"], if_not_exists=True)
    db.table("trial_changes").create_index(["seen_at"], if_not_exists=True)
    db.table("trial_changes").create_index(["nct"], if_not_exists=True)


def trial_row(trial: Trial, run_stamp: str, source: str | None = None) -> dict:
    """The `trials` columns of one trial (lists and objects as JSON)."""
    row: dict[str, Any] = {k: v for k, v in asdict(trial).items() if k in TRIAL_COLUMNS}
    row["has_results"] = None if trial.has_results is None else int(trial.has_results)
    row["on_topic"] = None if trial.on_topic is None else int(trial.on_topic)
    row["comparator_types"] = comparator_classes(trial)
    row["outcome_terms"] = {
        "primary": sorted({t for o in trial.primary_outcomes for t in outcome_terms(o["measure"])}),
        "secondary": sorted({t for o in trial.secondary_outcomes for t in outcome_terms(o["measure"])}),
    }
    for name in TRIAL_JSON:
        row[name] = None if row[name] is None else _to_json(row[name])
    row["source"] = source
    row["fetched_at"] = run_stamp
    return row


def save_trials(
    db: sqlite_utils.Database, trials: Iterable[Trial], run_stamp: str, *, source: str | None = None,
    replace: bool = False,
) -> int:
    """Upsert trials in one transaction (with `replace`, the table then holds exactly these); returns how many."""
    ensure_tables(db)
    with db.conn:
        return _save_trials(db, list(trials), run_stamp, source, replace)


def _save_trials(db: sqlite_utils.Database, trials: list[Trial], stamp: str, source: str | None, replace: bool) -> int:
    rows = [trial_row(t, stamp, source) for t in trials]
    if replace:
        db.conn.execute("delete from trials")
    cols = list(TRIAL_COLUMNS)
    updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in cols if c != "nct")
    db.conn.executemany(
        f"insert into trials ({', '.join(f'[{c}]' for c in cols)}) values ({', '.join(':' + c for c in cols)}) "
        f"on conflict(nct) do update set {updates}",
        rows,
    )
    return len(rows)


def load_trials(db: sqlite_utils.Database) -> dict[str, dict]:
    """Every stored trial, JSON columns decoded, by NCT number."""
    if not db["trials"].exists():
        return {}
    out = {}
    for row in db.query("select * from trials order by nct"):
        for name in TRIAL_JSON:
            if name in row:
                empty = {} if name == "raw" else None if name == "comparator_types" else []  # None: arms unknown
                row[name] = json.loads(row[name]) if row[name] else empty
        out[row["nct"]] = row
    return out


# --- links -----------------------------------------------------------------------


def study_ncts(db: sqlite_utils.Database) -> dict[str, dict[str, str]]:
    """PMID → {NCT number: "pubmed_databank" or "abstract_nct"} for every stored study that names one."""
    out: dict[str, dict[str, str]] = {}
    rows = db.query("select pmid, title, abstract, nct from studies where nct is not null and nct not in ('', '[]')")
    for row in rows:
        ncts = [n.upper() for n in json.loads(row["nct"] or "[]") if isinstance(n, str)]
        if not ncts:
            continue
        text = f"{row['title'] or ''} {row['abstract'] or ''}".upper()
        raw = (store.raw_xml(db, row["pmid"]) or b"").decode("utf-8", "replace").upper()
        found = {}
        for nct in ncts:
            in_bank = bool(
                re.search(rf"<ACCESSIONNUMBER>\s*{nct}\s*</ACCESSIONNUMBER>", raw)
                or re.search(rf"^SI\s+-\s+CLINICALTRIALS\.GOV/{nct}\b", raw, re.MULTILINE)
            )
            # Not in the text, so it came from the record's data bank list.
            found[nct] = "pubmed_databank" if in_bank or nct not in text else "abstract_nct"
        out[row["pmid"]] = found
    return out


def link_publications(db: sqlite_utils.Database) -> list[dict]:
    """Rebuild `trial_publications` from registry references, studies' NCT numbers and title matches."""
    ensure_tables(db)
    with db.conn:
        return _link(db)


def _study_rows(db: sqlite_utils.Database) -> dict[str, dict]:
    rows = db.query(
        "select pmid, title, abstract, year, design, n_randomized, headache_types, comparators, outcomes, authors "
        "from studies where deleted_from_pubmed is null"
    )
    out = {}
    for row in rows:
        for name in ("headache_types", "comparators", "outcomes", "authors"):
            row[name] = json.loads(row[name]) if row[name] else None
        out[row["pmid"]] = row
    return out


def _relation(study: dict | None) -> str:
    if study is None:
        return "results"  # the registry names it as the trial's own publication; we do not hold it
    if study["design"] in REVIEW_DESIGNS:
        return "mentions"
    if study["design"] == "protocol":
        return "protocol"
    return "results"


def _link(db: sqlite_utils.Database) -> list[dict]:
    trials = load_trials(db)
    studies = _study_rows(db)
    links: dict[tuple[str, str], dict] = {}

    def add(nct: str, pmid: str, method: str, confidence: float, evidence: str, ref_type: str | None = None) -> None:
        link = links.setdefault((nct, pmid), {"nct": nct, "pmid": pmid, "methods": [], "confidence": 0.0,
                                              "evidence": [], "reference_type": None})
        link["methods"].append(method)
        link["evidence"].append(evidence)
        link["confidence"] = max(link["confidence"], confidence)
        link["reference_type"] = link["reference_type"] or ref_type

    for nct, trial in trials.items():
        for ref in trial["references"]:
            if ref.get("pmid") and ref.get("type") in OWN_REFERENCE_TYPES:
                add(nct, ref["pmid"], "registry_reference", OWN_REFERENCE_TYPES[ref["type"]],
                    f"the registry lists PMID {ref['pmid']} as a {ref['type']} reference", ref["type"])
    named = study_ncts(db)
    for pmid, ncts in named.items():
        for nct, method in ncts.items():
            if nct in trials:
                where = "its PubMed data bank list" if method == "pubmed_databank" else "its title or abstract"
                add(nct, pmid, method, 0.95 if method == "pubmed_databank" else 0.85, f"PMID {pmid} names {nct} in {where}")
    # Title, investigator and dates, for studies that name no trial and no trial names.
    linked = {pmid for _, pmid in links} | set(named)
    by_number = {nct for nct, _ in links}
    for nct, pmid, score, reasons in _title_matches(trials, {p: s for p, s in studies.items() if p not in linked}, by_number):
        add(nct, pmid, "title_match", score, "; ".join(reasons))

    rows = []
    order = ["registry_reference", "pubmed_databank", "abstract_nct", "title_match"]
    for link in links.values():
        study = studies.get(link["pmid"])
        relation = _relation(study)
        if link["methods"] == ["title_match"] and link["confidence"] < LINK_THRESHOLD:
            relation = "possible"
        methods = sorted(set(link["methods"]), key=order.index)
        rows.append({
            "nct": link["nct"], "pmid": link["pmid"], "method": methods[0], "methods": _to_json(methods),
            "relation": relation, "confidence": round(link["confidence"], 3),
            "evidence": "; ".join(link["evidence"]), "reference_type": link["reference_type"],
        })
    rows.sort(key=lambda r: (r["nct"], r["pmid"]))
    db.conn.execute("delete from trial_publications")
    if rows:
        db.conn.executemany(
            f"insert into trial_publications ({', '.join(LINK_COLUMNS)}) values ({', '.join(':' + c for c in LINK_COLUMNS)})",
            rows,
        )
    return rows


# Words that say nothing about which trial a title describes.
STOP_WORDS = {"a", "an", "and", "are", "as", "at", "by", "for", "from", "in", "into", "is", "its", "of", "on", "or", "the", "their", "to", "with", "without", "versus", "vs", "via", "study", "studies", "trial", "trials", "randomized", "randomised", "controlled", "clinical", "pilot", "comparison", "compare", "compared", "comparing", "effect", "effects", "effectiveness", "efficacy", "patient", "patients", "individual", "individuals", "subject", "subjects", "people", "adult", "adults", "treatment", "treatments", "use", "using", "utilization", "utilisation", "among", "between", "after", "before", "single", "double", "blind", "group", "groups", "program", "programme", "plus", "alone", "evaluation"}


def _tokens(text: str | None) -> set[str]:
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    out = set()
    for word in re.findall(r"[a-z0-9]+", text):
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]  # headaches → headache
        if len(word) > 1 and word not in STOP_WORDS:
            out.add(word)
    return out


def _surname_key(name: str) -> str:
    name = re.sub(r",.*$", "", name)  # "Kathleen Geist, DPT" → "Kathleen Geist"
    name = re.sub(r"\b(?:dr|prof|phd|md|dpt|pt|msc|ms|mph|bsc)\b\.?", " ", name, flags=re.IGNORECASE)
    words = re.findall(r"[^\W\d_]+(?:[-'][^\W\d_]+)*", name)
    return _fold(words[-1]) if words else ""


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _headache_types(texts: Iterable[str]) -> set[str]:
    joined = " ".join(texts)
    return {name for name, pattern in HEADACHE_TERMS.items() if re.search(pattern, joined, re.IGNORECASE)}


def _title_matches(
    trials: dict[str, dict], studies: dict[str, dict], already_published: set[str] = frozenset()
) -> list[tuple[str, str, float, list[str]]]:
    """(NCT, PMID, confidence, reasons) for each study whose best-matching trial clears POSSIBLE_THRESHOLD.

    Title words are weighted by rarity (the topic's own words, in every title,
    weigh little); a publication before the trial started is impossible; the
    investigator among the authors, publication after completion, the same
    sample size and the same headache type add to the score.
    """
    candidates = {p: s for p, s in studies.items() if s["design"] not in NON_RESULT_DESIGNS and s["title"]}
    if not candidates or not trials:
        return []
    trial_titles = {n: [_tokens(t["brief_title"]), _tokens(t["official_title"])] for n, t in trials.items()}
    study_titles = {p: _tokens(s["title"]) for p, s in candidates.items()}
    documents = [t for ts in trial_titles.values() for t in ts if t] + list(study_titles.values())
    df: dict[str, int] = {}
    for doc in documents:
        for word in doc:
            df[word] = df.get(word, 0) + 1
    weight = {w: math.log(1 + len(documents) / n) for w, n in df.items()}

    def similarity(a: set[str], b: set[str]) -> float:
        total = sum(weight[w] for w in a) + sum(weight[w] for w in b)
        return 2 * sum(weight[w] for w in a & b) / total if total else 0.0

    best: dict[str, tuple[str, float, list[str]]] = {}
    for pmid, study in candidates.items():
        for nct, trial in trials.items():
            score, reasons = _match_score(trial, study, trial_titles[nct], study_titles[pmid], similarity, already_published)
            if score >= POSSIBLE_THRESHOLD and score > best.get(pmid, ("", 0.0, []))[1]:
                best[pmid] = (nct, score, reasons)
    return [(nct, pmid, score, reasons) for pmid, (nct, score, reasons) in sorted(best.items())]


def _match_score(
    trial: dict, study: dict, trial_titles: list[set[str]], study_title: set[str], similarity: Any,
    already_published: set[str],
) -> tuple[float, list[str]]:
    start = end_of(trial["start_date"]) or end_of(trial["first_posted"])
    year = study["year"]
    if year and start and year < start.year:
        return 0.0, []  # published before the trial began: not its report
    title = max(similarity(t, study_title) for t in trial_titles)
    reasons = [f"title similarity {title:.2f}"]
    score = 0.6 * title
    completion = end_of(trial["completion_date"]) or end_of(trial["primary_completion_date"])
    if year and completion and completion.year <= year <= completion.year + 5:
        score += 0.1
        reasons.append(f"published {year}, within 5 years of completion ({trial['completion_date']})")
    authors = [a for a in study["authors"] or [] if isinstance(a, dict)]
    surnames = [_fold(a.get("last_name") or "") for a in authors]
    for name in trial["investigators"]:
        key = _surname_key(name)
        if key and key in surnames:
            first = surnames.index(key) == 0
            score += 0.3 if first else 0.25
            reasons.append(f"investigator {name} is {'first ' if first else ''}author")
            break
    n, enrolled = study["n_randomized"], trial["enrollment"]
    if n and enrolled:
        if n == enrolled:
            score += 0.15
            reasons.append(f"same sample size ({n})")
        elif abs(n - enrolled) <= SAMPLE_SIZE_TOLERANCE * enrolled:
            score += 0.05
            reasons.append(f"similar sample size ({enrolled} registered, {n} published)")
        elif abs(n - enrolled) > 0.25 * enrolled:
            score -= 0.15
            reasons.append(f"different sample size ({enrolled} registered, {n} published)")
    # The registered intervention should be named somewhere in the paper: a trial
    # of dry needling is not reported by a paper on acupuncture with a similar title.
    names = [i["name"] for i in trial["interventions"] if i.get("name")]
    if names:
        text = _tokens(f"{study['title'] or ''} {study.get('abstract') or ''}")
        named = [name for name in names if (words := _tokens(name)) and words <= text]
        if named:
            score += 0.05
            reasons.append(f"names the registered intervention {named[0]}")
        else:
            score -= 0.3
            reasons.append("names none of the registered interventions")
    if trial["nct"] in already_published:
        # Its publication is known by NCT number; a second report is possible but rarer.
        score -= 0.1
        reasons.append("the trial already has a publication linked by NCT number")
    registered_types = _headache_types([*trial["conditions"], trial["brief_title"] or "", trial["official_title"] or ""])
    published_types = set(study["headache_types"] or [])
    if registered_types and published_types:
        if registered_types & published_types:
            score += 0.05
            reasons.append("same headache type")
        else:
            score -= 0.2
            reasons.append("different headache type")
    return min(score, 1.0), reasons


# --- cross-checks ----------------------------------------------------------------


def cross_check(db: sqlite_utils.Database, today: date) -> list[dict]:
    """Rebuild `trial_findings` as of `today`; returns the rows written."""
    ensure_tables(db)
    with db.conn:
        return _cross_check(db, today)


def _published_links(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query(
        "select * from trial_publications where relation = 'results' and confidence >= ? order by nct, pmid",
        [LINK_THRESHOLD],
    ))


def _cross_check(db: sqlite_utils.Database, today: date) -> list[dict]:
    trials = load_trials(db)
    studies = _study_rows(db)
    links = _published_links(db)
    low = _low_confidence(db)
    findings: list[dict] = []
    for link in links:
        trial, study = trials.get(link["nct"]), studies.get(link["pmid"])
        if trial is None or study is None:
            continue  # a registry reference to a PMID we do not hold: nothing to compare
        via = {"method": link["method"], "confidence": link["confidence"], "evidence": link["evidence"]}
        for finding in (*_check_arms(trial, study), *_check_size(trial, study), *_check_outcomes(trial, study),
                        *_check_confirms(trial, study, low.get(study["pmid"], set()))):
            finding["evidence"]["link"] = via
            findings.append(finding)
    published = {link["nct"] for link in links}
    for trial in trials.values():
        findings.extend(_check_unpublished(trial, published, today))
        findings.extend(_check_status(trial, today))
    stamp = today.isoformat()
    rows = []
    for f in findings:
        rows.append({
            "nct": f["nct"], "pmid": f.get("pmid"), "kind": f["kind"], "severity": f["severity"],
            "detail": f["detail"], "registry_value": _value(f.get("registry_value")),
            "published_value": _value(f.get("published_value")), "evidence": _to_json(f["evidence"]),
            "checked_on": stamp,
        })
    db.conn.execute("delete from trial_findings")
    cols = [c for c in FINDING_COLUMNS if c != "id"]
    if rows:
        db.conn.executemany(
            f"insert into trial_findings ({', '.join(cols)}) values ({', '.join(':' + c for c in cols)})", rows
        )
    return rows


def _value(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return _to_json(value) if isinstance(value, (list, dict)) else str(value)


def _finding(trial: dict, study: dict | None, kind: str, severity: str, detail: str, registry: object,
             published: object, evidence: dict) -> dict:
    return {"nct": trial["nct"], "pmid": study["pmid"] if study else None, "kind": kind, "severity": severity,
            "detail": detail, "registry_value": registry, "published_value": published, "evidence": evidence}


def _check_arms(trial: dict, study: dict) -> list[dict]:
    registered = trial["comparator_types"]
    published = published_classes(study["comparators"] or [])
    if not registered or not published or set(registered) == set(published):
        return []
    arms = [f"{a['label']} ({a['type'] or 'no type'})" for a in trial["arms"]] or ["none listed"]
    extra = sorted(set(registered) - set(published))
    unseen = sorted(set(published) - set(registered))
    parts = []
    if extra:
        parts.append(f"registered {', '.join(extra)} comparator{'s' if len(extra) > 1 else ''} not in the abstract")
    if unseen:
        parts.append(f"the abstract reports {', '.join(unseen)} not registered")
    return [_finding(
        trial, study, "comparator_differs", "major",
        f"{trial['nct']} registered comparator types {', '.join(registered)}; PMID {study['pmid']}'s abstract: "
        f"{', '.join(published)} ({'; '.join(parts)})",
        registered, study["comparators"],
        {"registry": {"field": "armsInterventionsModule.armGroups", "arms": arms},
         "publication": {"field": "studies.comparators", "value": study["comparators"]}},
    )]


def _low_confidence(db: sqlite_utils.Database) -> dict[str, set[str]]:
    """PMID → the fields the rules read with low confidence (extraction_evidence)."""
    if not db["extraction_evidence"].exists():
        return {}
    out: dict[str, set[str]] = {}
    for pmid, fld in db.execute("select distinct pmid, field from extraction_evidence where confidence = 'low'"):
        out.setdefault(pmid, set()).add(fld)
    return out


def _check_confirms(trial: dict, study: dict, low: set[str]) -> list[dict]:
    """Where the rules read a value with low confidence and the registry (an actual count,
    or the same comparator types) says the same: the registry confirms it."""
    out = []
    enrolled, n = trial["enrollment"], study["n_randomized"]
    if "n_randomized" in low and n and enrolled == n and trial["enrollment_type"] != "ESTIMATED":
        out.append(_finding(
            trial, study, "registry_confirms", "info",
            f"{trial['nct']} registered {enrolled} participants: the sample size the rules read with low "
            f"confidence from PMID {study['pmid']} ({n}) is confirmed by the registry",
            enrolled, n, {"registry": {"field": "designModule.enrollmentInfo", "count": enrolled},
                          "publication": {"field": "studies.n_randomized", "value": n, "confidence": "low"}},
        ))
    registered, published = trial["comparator_types"], published_classes(study["comparators"] or [])
    if "comparators" in low and registered and published and set(registered) == set(published):
        out.append(_finding(
            trial, study, "registry_confirms", "info",
            f"{trial['nct']} registered comparator types {', '.join(registered)}: the comparators the rules read with "
            f"low confidence from PMID {study['pmid']} are confirmed by the registry",
            registered, study["comparators"],
            {"registry": {"field": "armsInterventionsModule.armGroups"},
             "publication": {"field": "studies.comparators", "value": study["comparators"], "confidence": "low"}},
        ))
    return out


def _check_size(trial: dict, study: dict) -> list[dict]:
    enrolled, n = trial["enrollment"], study["n_randomized"]
    if not enrolled or not n or enrolled == n:
        return []
    share = abs(n - enrolled) / enrolled
    estimate = trial["enrollment_type"] == "ESTIMATED"
    detail = (
        f"{trial['nct']} registered {enrolled} participants"
        f"{' (an estimate)' if estimate else ''}; PMID {study['pmid']} reports {n} randomized "
        f"({n - enrolled:+d}, {share:.1%} of the registered number)"
    )
    return [_finding(
        trial, study, "sample_size_differs", "major" if share > SAMPLE_SIZE_TOLERANCE else "minor", detail,
        enrolled, n,
        {"registry": {"field": "designModule.enrollmentInfo", "count": enrolled, "type": trial["enrollment_type"]},
         "publication": {"field": "studies.n_randomized", "value": n},
         "difference": n - enrolled, "share": round(share, 4), "tolerance": SAMPLE_SIZE_TOLERANCE},
    )]


def _check_outcomes(trial: dict, study: dict) -> list[dict]:
    registry = {"field": "outcomesModule.primaryOutcomes"}
    if not trial["primary_outcomes"]:
        return [_finding(
            trial, study, "no_registered_outcomes", "info",
            f"{trial['nct']} has no primary outcome in the registry record, so the publication's outcomes cannot be checked against it",
            None, study["outcomes"], {"registry": {**registry, "value": None, "missing_modules": trial["missing_modules"]}},
        )]
    reported = study["outcomes"] or []
    out = []
    for outcome in trial["primary_outcomes"]:
        terms = outcome_terms(outcome["measure"])
        evidence = {"registry": {**registry, "measure": outcome["measure"], "time_frame": outcome["time_frame"],
                                 "terms": terms},
                    "publication": {"field": "studies.outcomes", "value": reported}}
        if not terms:
            out.append(_finding(
                trial, study, "primary_outcome_unmapped", "info",
                f"{trial['nct']}'s primary outcome \"{outcome['measure']}\" names none of the outcome vocabulary's "
                "terms (pipeline/registry_terms.yml); not checked",
                outcome["measure"], reported, evidence,
            ))
        elif reported and not set(terms) & set(reported):
            out.append(_finding(
                trial, study, "primary_outcome_not_reported", "major",
                f"{trial['nct']} registered \"{outcome['measure']}\" ({', '.join(terms)}) as primary outcome; "
                f"PMID {study['pmid']}'s abstract reports {', '.join(reported)}",
                outcome["measure"], reported, evidence,
            ))
    return out


def _check_unpublished(trial: dict, published: set[str], today: date) -> list[dict]:
    if trial["status"] not in FINISHED_STATUSES or trial["nct"] in published:
        return []
    completed = end_of(trial["completion_date"]) or end_of(trial["primary_completion_date"])
    if completed is None:
        return []
    months = months_between(completed, today)
    if months < 12:
        return []
    threshold = 24 if months >= 24 else 12
    results = " (no results posted on the registry either)" if trial["has_results"] is False else ""
    return [_finding(
        trial, None, f"unpublished_{threshold}_months", "major" if threshold == 24 else "minor",
        f"{trial['nct']} ({trial['status'].lower()}, {trial['completion_date']}) has no linked publication "
        f"{months} months after completion{results}",
        trial["completion_date"], None,
        {"registry": {"field": "statusModule", "status": trial["status"], "completion_date": trial["completion_date"],
                      "completion_date_type": trial["completion_date_type"], "has_results": trial["has_results"]},
         "months_since_completion": months, "today": today.isoformat()},
    )]


def _check_status(trial: dict, today: date) -> list[dict]:
    if trial["status"] not in OPEN_STATUSES:
        return []
    completion = end_of(trial["completion_date"])
    if completion is None or completion >= today:
        return []
    detail = (
        f"{trial['nct']} is still {trial['status']} in the registry, but its "
        f"{'estimated ' if trial['completion_date_type'] == 'ESTIMATED' else ''}completion date "
        f"{trial['completion_date']} has passed"
    )
    if trial["status"] == "UNKNOWN":
        detail += " (UNKNOWN: the sponsor has not verified the status for over two years)"
    if trial["status_verified"]:
        detail += f"; status last verified {trial['status_verified']}"
    return [_finding(
        trial, None, "status_overdue", "minor", detail, trial["status"], None,
        {"registry": {"field": "statusModule", "status": trial["status"], "completion_date": trial["completion_date"],
                      "completion_date_type": trial["completion_date_type"],
                      "status_verified": trial["status_verified"], "last_updated": trial["last_updated"]},
         "months_overdue": months_between(completion, today), "today": today.isoformat()},
    )]


# --- what changed since the refresh before ------------------------------------------


def _linked(db: sqlite_utils.Database) -> dict[tuple[str, str], dict]:
    """The links that make a publication the trial's own: results or protocol, at or above LINK_THRESHOLD."""
    marks = ", ".join("?" * len(LINKED_RELATIONS))
    return {(r["nct"], r["pmid"]): r for r in db.query(
        f"select * from trial_publications where relation in ({marks}) and confidence >= ? order by nct, pmid",
        [*LINKED_RELATIONS, LINK_THRESHOLD],
    )}


def _stored_state(db: sqlite_utils.Database) -> dict:
    """What the registry tables hold before a refresh replaces them, and the change log so far."""
    trials = {r["nct"]: r for r in db.query("select nct, status, source, fetched_at from trials")}
    latest = max(trials.values(), key=lambda t: t["fetched_at"] or "", default=None)
    return {
        "trials": trials,
        "links": _linked(db),
        "changes": list(db.query("select id, nct, pmid, kind, old, new, context from trial_changes order by id")),
        "source": latest["source"] if latest else None,
    }


def _record_changes(db: sqlite_utils.Database, before: dict, stamp: str, source: str) -> list[dict]:
    """Compare the refreshed tables with `before` and write what is different to `trial_changes`.

    New registration: an NCT number never stored before. Status change: the
    overall status differs from the last load's. Newly linked publication: a
    results or protocol link never recorded before. The first load records every
    trial and link as `context` "first load"; the bundled snapshot loaded after a
    live load (a fallback) records its differences as "older copy", and the next
    live load compares with the live statuses from before the fallback, so
    neither counts as news twice.
    """
    previous = before["source"]
    if not before["trials"] and not before["changes"]:
        context = FIRST_LOAD
    elif previous == "live" and source == "snapshot":
        context = OLDER_COPY
    else:
        context = None
    counted = [c for c in before["changes"] if c["context"] != OLDER_COPY]
    seen_ncts = set(before["trials"]) | {c["nct"] for c in counted if c["kind"] == "new_registration"}
    seen_links = set(before["links"]) | {(c["nct"], c["pmid"]) for c in counted if c["kind"] == "publication_linked"}
    status_before = {nct: t["status"] for nct, t in before["trials"].items()}
    if source == "live" and previous == "snapshot":
        # Back from a fallback to the snapshot: the live status before it is the one to compare with.
        last: dict[str, dict] = {}
        for c in before["changes"]:
            if c["kind"] in ("new_registration", "status_changed"):
                last[c["nct"]] = c
        for nct, c in last.items():
            if c["context"] == OLDER_COPY and c["kind"] == "status_changed":
                status_before[nct] = c["old"]

    rows: list[dict] = []

    def add(nct: str, kind: str, old: str | None, new: str | None, pmid: str | None, detail: str) -> None:
        rows.append({"nct": nct, "kind": kind, "old": old, "new": new, "pmid": pmid, "detail": detail,
                     "context": context, "source": source, "seen_at": stamp})

    for t in db.query("select nct, brief_title, status, first_posted, last_updated, enrollment, enrollment_type, "
                      "why_stopped from trials order by nct"):
        nct = t["nct"]
        if nct not in seen_ncts:
            add(nct, "new_registration", None, t["status"], None, _registration_detail(t))
        elif nct in status_before and status_before[nct] != t["status"]:
            add(nct, "status_changed", status_before[nct], t["status"], None, _status_detail(t, status_before[nct]))
    titles = dict(db.execute("select pmid, title from studies").fetchall())
    for (nct, pmid), link in _linked(db).items():
        if (nct, pmid) not in seen_links:
            add(nct, "publication_linked", None, link["relation"], pmid, _link_detail(link, titles.get(pmid)))
    cols = [c for c in CHANGE_COLUMNS if c != "id"]
    if rows:
        db.conn.executemany(
            f"insert into trial_changes ({', '.join(cols)}) values ({', '.join(':' + c for c in cols)})", rows
        )
    return rows


def status_words(status: str | None) -> str:
    """A registry status as a reader reads it: NOT_YET_RECRUITING → not yet recruiting."""
    return status.replace("_", " ").lower() if status else "no status given"


def _registration_detail(t: dict) -> str:
    parts = [status_words(t["status"])]
    if t["enrollment"]:
        parts.append(f"{t['enrollment']} participants{' planned' if t['enrollment_type'] == 'ESTIMATED' else ''}")
    parts.append(f"first posted {t['first_posted']}" if t["first_posted"] else "first-posted date not in the record")
    return f"{t['nct']} \"{t['brief_title'] or 'untitled'}\": {', '.join(parts)}"


def _status_detail(t: dict, old: str | None) -> str:
    detail = f"{t['nct']}: {status_words(old)} → {status_words(t['status'])}"
    if t["last_updated"]:
        detail += f" (registry record updated {t['last_updated']})"
    if t["why_stopped"] and t["status"] in ("TERMINATED", "SUSPENDED", "WITHDRAWN"):
        detail += f"; why stopped: {t['why_stopped']}"
    return detail


def _link_detail(link: dict, title: str | None) -> str:
    what = "results publication" if link["relation"] == "results" else "protocol"
    held = f' "{title}"' if title else " (not in the database)"
    return f"PMID {link['pmid']}{held} linked to {link['nct']} as its {what}: {link['evidence']}"


# --- sources and the whole job ------------------------------------------------------


def snapshot_search() -> list[dict]:
    """The bundled snapshot's search result (studies.json, imitating GET /studies)."""
    try:
        return json.loads((SNAPSHOT_DIR / "studies.json").read_text(encoding="utf-8"))["studies"]
    except (OSError, ValueError, KeyError) as e:
        raise RegistryError(f"the bundled ClinicalTrials.gov snapshot in {SNAPSHOT_DIR} cannot be read: {e}") from None


def snapshot_studies(ncts: Iterable[str] = ()) -> tuple[list[dict], list[str]]:
    """The bundled snapshot's search result plus the single records of `ncts`: (studies, NCTs it lacks)."""
    studies = snapshot_search()
    have = {ctgov.nct_id(s) for s in studies}
    extra, missing = [], []
    for nct in ncts:
        if nct in have:
            continue
        path = SNAPSHOT_DIR / f"{nct}.json"
        if path.is_file():
            extra.append(json.loads(path.read_text(encoding="utf-8")))
        else:
            missing.append(nct)
    return studies + extra, missing


def _fetch_live(client: ctgov.Client, conditions: list[str], interventions: list[str], ncts: list[str]) -> tuple[list[dict], list[str], set[str]]:
    result = client.search(conditions, interventions)
    searched = {ctgov.nct_id(s) for s in result.studies}
    found, missing = client.fetch_studies([n for n in ncts if n not in searched])
    return result.studies + found, missing, searched


def refresh(
    db: sqlite_utils.Database,
    topic: Topic,
    source: str = "auto",
    today: date | None = None,
    *,
    client: ctgov.Client | None = None,
) -> dict:
    """Fetch the topic's trials and the trials stored studies name, store them, link and cross-check.

    `source`: "live" (the API; errors propagate as CtGovError), "snapshot" (the
    bundled files), or "auto" (live, falling back to the snapshot when the API
    cannot be reached or fails, saying so in `note` and the log). Everything is
    written in one transaction, after every fetch succeeded. Returns `summary(db)`
    plus source, note, the NCT numbers not found, links and findings written.
    """
    if source not in ("auto", "live", "snapshot"):
        raise ValueError(f"source must be auto, live or snapshot, not {source!r}")
    today = today or date.today()
    ensure_tables(db)
    conditions, interventions = topic_terms(topic)
    named = study_ncts(db)
    cited: dict[str, list[str]] = {}
    for pmid, ncts in named.items():
        for nct in ncts:
            cited.setdefault(nct, []).append(pmid)
    note = None
    used = source
    detail = ""
    if source in ("auto", "live"):
        client = client or ctgov.Client()
        try:
            if source == "auto" and not client.probe():
                raise ctgov.CtGovError(f"no answer from {client.settings.base_url}")
            studies, missing, searched = _fetch_live(client, conditions, interventions, sorted(cited))
            used, detail = "live", f"ClinicalTrials.gov API v2 at {client.settings.base_url}"
        except ctgov.CtGovError as e:
            if source == "live":
                raise
            note = (f"ClinicalTrials.gov could not be used ({e}); loaded the bundled snapshot of "
                    f"{SNAPSHOT_DATE} instead, which may be out of date")
            log.warning(note)
            used = "snapshot"
    if used == "snapshot":
        studies, missing = snapshot_studies(sorted(cited))
        searched = {ctgov.nct_id(s) for s in snapshot_search()}
        detail = f"bundled ClinicalTrials.gov snapshot of {SNAPSHOT_DATE}"

    trials: dict[str, Trial] = {}
    for study in studies:
        trial = parse_study(study)
        trial.on_topic = is_on_topic(trial, conditions, interventions)
        trial.found_by = (["search"] if trial.nct in searched else []) + [f"pmid:{p}" for p in sorted(cited.get(trial.nct, []))]
        trials[trial.nct] = trial
    stamp = store.now()
    with db.conn:  # the trials, their links, the findings and the changes land together or not at all
        before = _stored_state(db)
        saved = _save_trials(db, list(trials.values()), stamp, used, replace=True)
        links = _link(db)
        findings = _cross_check(db, today)
        changes = _record_changes(db, before, stamp, used)
    if missing:
        log.warning("ClinicalTrials.gov has no record of %s (named by stored studies)", ", ".join(missing))
    return {
        **summary(db),
        "source": used,
        "source_detail": detail,
        "note": note,
        "saved": saved,
        "not_found": missing,
        "links_written": len(links),
        "findings_written": len(findings),
        "changes_written": len(changes),
        "today": today.isoformat(),
    }


# --- reading, for the surfaces -----------------------------------------------------


def _decoded(rows: Iterable[dict]) -> list[dict]:
    out = []
    for row in rows:
        row = dict(row)
        if row.get("evidence") and row["evidence"][:1] == "{":
            row["evidence"] = json.loads(row["evidence"])
        out.append(row)
    return out


def findings_for_pmid(db: sqlite_utils.Database, pmid: str) -> list[dict]:
    """Cross-check findings about one publication (evidence decoded), most serious first."""
    if not db["trial_findings"].exists():
        return []
    return _decoded(db.query(
        "select * from trial_findings where pmid = ? order by case severity when 'major' then 0 "
        "when 'minor' then 1 else 2 end, kind, id", [pmid],
    ))


def findings_for_trial(db: sqlite_utils.Database, nct: str) -> list[dict]:
    """Cross-check findings about one trial (evidence decoded)."""
    if not db["trial_findings"].exists():
        return []
    return _decoded(db.query("select * from trial_findings where nct = ? order by kind, pmid, id", [nct]))


def trials_for_claim(
    db: sqlite_utils.Database, claim_outcomes: Iterable[str] = (), headache_types: Iterable[str] = ()
) -> list[dict]:
    """On-topic trials that registered one of `claim_outcomes` (any when empty) in people with one of
    `headache_types` (any when empty), each with its linked publications and whether it is published."""
    wanted_outcomes, wanted_types = set(claim_outcomes), set(headache_types)
    links = _links_by_trial(db)
    out = []
    for nct, trial in load_trials(db).items():
        if not trial["on_topic"]:
            continue
        terms = trial["outcome_terms"] or {}
        registered = set(terms.get("primary", [])) | set(terms.get("secondary", []))
        if wanted_outcomes and not registered & wanted_outcomes:
            continue
        types = _headache_types([*trial["conditions"], trial["brief_title"] or "", trial["official_title"] or ""])
        if wanted_types and not types & wanted_types:
            continue
        mine = links.get(nct, [])
        out.append({
            "nct": nct, "title": trial["brief_title"], "status": trial["status"], "enrollment": trial["enrollment"],
            "enrollment_type": trial["enrollment_type"], "completion_date": trial["completion_date"],
            "headache_types": sorted(types), "outcomes": sorted(registered & wanted_outcomes if wanted_outcomes else registered),
            "publications": mine,
            "published": any(link["relation"] == "results" and link["confidence"] >= LINK_THRESHOLD for link in mine),
        })
    return out


def _links_by_trial(db: sqlite_utils.Database) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    if db["trial_publications"].exists():
        for row in db.query("select nct, pmid, method, relation, confidence from trial_publications order by nct, confidence desc"):
            out.setdefault(row["nct"], []).append(row)
    return out


def unpublished(db: sqlite_utils.Database, today: date) -> list[dict]:
    """Completed or terminated trials with no linked publication, with months since completion
    (None when the registry gives no completion date), longest overdue first."""
    published = {link["nct"] for link in _published_links(db)} if db["trial_publications"].exists() else set()
    out = []
    for nct, trial in load_trials(db).items():
        if trial["status"] not in FINISHED_STATUSES or nct in published:
            continue
        completed = end_of(trial["completion_date"]) or end_of(trial["primary_completion_date"])
        out.append({
            "nct": nct, "title": trial["brief_title"], "status": trial["status"], "on_topic": trial["on_topic"],
            "completion_date": trial["completion_date"], "enrollment": trial["enrollment"],
            "sponsor": trial["sponsor"], "has_results": trial["has_results"],
            "months_since_completion": months_between(completed, today) if completed else None,
        })
    return sorted(out, key=lambda r: (r["months_since_completion"] is None, -(r["months_since_completion"] or 0), r["nct"]))


def changes_since(db: sqlite_utils.Database, since: str | None = None) -> list[dict]:
    """The changes recorded after `since` (an ISO timestamp; every one when None), in the order
    seen, each with its trial's title, on_topic and first-posted date and the publication's
    title and on_topic (None when the trial or the study is no longer stored)."""
    if not db["trial_changes"].exists():
        return []
    return list(db.query(
        "select c.*, t.brief_title as title, t.on_topic, t.first_posted, t.last_updated, t.enrollment, "
        "t.enrollment_type, s.title as study_title, s.on_topic as study_on_topic, p.evidence as link_evidence "
        "from trial_changes c left join trials t on t.nct = c.nct left join studies s on s.pmid = c.pmid "
        "left join trial_publications p on p.nct = c.nct and p.pmid = c.pmid "
        "where ? is null or c.seen_at > ? order by c.id",
        [since, since],
    ))


def registry_freshness(db: sqlite_utils.Database) -> dict | None:
    """Where the stored trials came from and when: {"source", "fetched_at", "live", "line"}
    ("bundled ClinicalTrials.gov snapshot of 2026-11-25 — not live; loaded 2026-12-02 09:36 UTC");
    None before the first registry load."""
    if not db["trials"].exists():
        return None
    row = db.execute("select source, fetched_at from trials order by fetched_at desc limit 1").fetchone()
    if row is None:
        return None
    source, fetched = row
    loaded = f"{fetched[:16].replace('T', ' ')} UTC" if fetched else "at an unknown time"
    if source == "live":
        line = f"live ClinicalTrials.gov (API v2), refreshed {loaded}"
    else:
        line = f"bundled ClinicalTrials.gov snapshot of {SNAPSHOT_DATE} — not live; loaded {loaded}"
    return {"source": source, "fetched_at": fetched, "live": source == "live", "line": line}


def summary(db: sqlite_utils.Database) -> dict:
    """Counts: trials (on topic, by status), links by method and relation, findings by kind."""
    if not db["trials"].exists():
        return {"trials": 0, "on_topic": 0, "by_status": {}, "links": {}, "findings": {}, "fetched_at": None, "trials_source": None}

    def counts(sql: str) -> dict:
        return {k: n for k, n in db.execute(sql).fetchall()}

    total, on_topic, fetched, src = db.execute(
        "select count(*), coalesce(sum(on_topic), 0), max(fetched_at), max(source) from trials"
    ).fetchone()
    return {
        "trials": total,
        "on_topic": on_topic,
        "by_status": counts("select status, count(*) from trials group by status order by status"),
        "links": counts("select relation || ':' || method, count(*) from trial_publications group by 1 order by 1"),
        "findings": counts("select kind, count(*) from trial_findings group by kind order by kind"),
        "fetched_at": fetched,
        "trials_source": src,
    }
