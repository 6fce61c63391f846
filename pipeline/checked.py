"""Values a person checked: correction files beside the topic, applied over the
machine's values so that every surface (tables, claims, digest, exports,
Datasette, email) shows them without knowing they exist.

One YAML file per study, `topics/<topic>/checked/<PMID>.yml` (plain text: it
goes through code review and version control like the topic file)::

    pmid: 33609358
    checked_by: A. Reviewer
    checked_on: 2026-12-02
    abstract_sha: "5d2c0e7a9b1f4c3e"   # the abstract the person read (`abstract_sha()`)
    fields:
      design: {value: meta_analysis, note: "pooled random-effects SMDs"}
      n_randomized: {value: null}
      outcomes: [pain_intensity, disability]       # shorthand: the value alone
    effects:
      - {action: confirm, sentence: "in TTH (SMD -1.27", value: -1.27}
      - {action: reject, sentence: "(66.1% vs. 17.8%)", value: 66.1, note: a usage share, not an effect}
      - action: correct
        sentence: "Short-term disability"          # words of the machine effect's sentence
        value: -2.28                               # and its value: which effect
        set: {ci_low: -2.66}                       # what the person says instead
      - action: add
        sentence: "…the whole sentence, verbatim from the abstract…"
        outcome: pain_intensity
        measure: MD
        value: -1.2
        ci_low: -2.0
        ci_high: -0.4

Every field listed is checked (confirmed when it equals the machine's value,
corrected when not); a field left out stays the machine's. Who and when come
from the file, or per field/effect (`checked_by`, `checked_on` keys).

How it is stored. `apply` writes the checked values into `studies` and
`effects` (so every reader sees them) and records in `checked_values` which
values a person set, by whom, when, from which file and line, beside the
machine's value (`machine_value`) and whether the two agree. The machine's own
values stay in `extraction_evidence` and, for restoring, in `checked_machine`
(a copy of the machine's row and effects, retaken whenever the extractor
writes the study again: a trigger on `studies.extractor_version` marks it).
So re-extraction never loses a check: the extractor writes, `apply` puts the
person's values back, and where the rules now give another value the
`checked_disagreements` view lists it.

Stale checks. A file names the abstract it was checked against
(`abstract_sha`). When PubMed revises the abstract, the check is kept but
marked stale and is **not applied**: the rows show the machine's value, with
its rule, and every surface shows it as unchecked. A check made against other
words may no longer be true (an erratum changes the sample size); a person
confirms it by setting the new `abstract_sha` (`evidence review PMID` prints
it), and it applies again.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Iterable

import sqlite_utils
import yaml

from . import provenance
from .vocab import COMPARATORS, DESIGNS, DIRECTIONS, EFFECT_LEVELS, EVIDENCE_LEVELS, HEADACHE_TYPES, MEASURES, OUTCOMES
from .vocab import normalise_p, parse_p

# Fields a person may check, in the order they are shown.
FIELDS = ("design", "on_topic", "headache_types", "comparators", "n_randomized", "outcomes", "direction", "summary")
LIST_VOCABS: dict[str, dict[str, str]] = {
    "headache_types": HEADACHE_TYPES, "comparators": COMPARATORS, "outcomes": OUTCOMES,
}
SCALAR_VOCABS: dict[str, dict[str, str]] = {"design": DESIGNS, "direction": DIRECTIONS}
ACTIONS = ("add", "correct", "reject", "confirm")
FILE_KEYS = ("pmid", "checked_by", "checked_on", "abstract_sha", "fields", "effects", "note")
FIELD_KEYS = ("value", "note", "checked_by", "checked_on")
# What picks out one machine effect (reject, correct, confirm): words of its sentence and its value.
SELECT_KEYS = ("sentence", "value", "outcome", "measure")
EFFECT_VALUE_KEYS = ("outcome", "measure", "value", "ci_low", "ci_high", "p", "time_point", "comparison", "level", "value_text")
ITEM_KEYS = ("action", "note", "checked_by", "checked_on", "set")
# The effects columns a check compares and writes (all but id, pmid, extractor_version).
EFFECT_COLUMNS = ("outcome", "measure", "value", "ci_low", "ci_high", "p_value", "time_point", "comparison",
                  "value_text", "sentence", "sentence_start", "sentence_end", "value_start", "level")
SHA_LENGTH = 16

DISAGREEMENTS_SQL = (
    "select pmid, field, value as checked, machine_value as rules, machine_first as rules_when_checked, "
    "who, checked_on, note, file, line from checked_values where stale = 0 and agrees = 0 order by pmid, field"
)


# One row per study: checked by a person, stale (its abstract changed since) or
# unchecked; who checked it; how many claims rest on it; how many of its values the
# rules read with low confidence. Datasette facets on `checked`.
STUDY_CHECKS_SQL = """
select s.pmid, s.title, s.design, s.on_topic,
  case when exists (select 1 from checked_values c where c.pmid = s.pmid and c.stale = 1) then 'stale'
       when exists (select 1 from checked_values c where c.pmid = s.pmid and c.applied = 1) then 'checked'
       else 'unchecked' end as checked,
  (select group_concat(distinct c.who) from checked_values c where c.pmid = s.pmid and c.applied = 1) as checked_by,
  (select max(c.checked_on) from checked_values c where c.pmid = s.pmid and c.applied = 1) as checked_on,
  (select count(distinct e.claim_id) from claim_evidence e where e.pmid = s.pmid and e.counted = 1) as claims_resting_on_it,
  (select count(*) from extraction_evidence x where x.pmid = s.pmid and x.confidence = 'low') as low_confidence_values
from studies s
"""


class CheckedError(ValueError):
    """Correction files that cannot be used: every problem, each naming its file and line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class FieldCheck:
    field: str
    value: Any  # as the file gives it: a string, bool, int or None, or a list
    note: str | None
    who: str
    on: str
    line: int


@dataclass(frozen=True)
class EffectCheck:
    action: str  # add, correct, reject, confirm
    index: int  # position in the file's `effects` list
    select: dict  # reject/correct/confirm: sentence words and value (outcome, measure) of the machine's effect
    values: dict  # add: the effect; correct: the keys to change (`set`)
    note: str | None
    who: str
    on: str
    line: int


@dataclass
class Correction:
    pmid: str
    file: Path
    checked_by: str
    checked_on: str
    abstract_sha: str
    fields: list[FieldCheck] = field(default_factory=list)
    effects: list[EffectCheck] = field(default_factory=list)
    note: str | None = None


@dataclass
class ApplyResult:
    written: list[str] = field(default_factory=list)  # studies whose rows changed
    applied: int = 0  # checked values now in the rows
    stale: list[str] = field(default_factory=list)  # studies whose checks wait for confirmation
    restored: list[str] = field(default_factory=list)  # studies whose checks were withdrawn: machine values back
    pending: list[str] = field(default_factory=list)  # checked studies not yet extracted (nothing to apply)
    unmatched: list[str] = field(default_factory=list)  # "file line N: ..." effect checks matching no machine effect
    disagreements: int = 0
    skipped: list[str] = field(default_factory=list)  # files for studies this database does not hold (missing_ok)


# --- the files ----------------------------------------------------------------------------


def folder_for(topic_path: str | Path) -> Path:
    """The checked folder of a topic file: topics/dry-needling-headache.yml → topics/dry-needling-headache/checked."""
    return Path(topic_path).with_suffix("") / "checked"


def abstract_sha(abstract: str | None) -> str:
    """The short hash a correction file names its abstract by."""
    return hashlib.sha256((abstract or "").encode("utf-8")).hexdigest()[:SHA_LENGTH]


def load_dir(folder: str | Path, db: sqlite_utils.Database | None = None, *, missing_ok: bool = False,
             skipped: list[str] | None = None) -> list[Correction]:
    """Read and check every `*.yml`/`*.yaml` correction in `folder` (none when it does not
    exist); raises CheckedError listing each problem as `file:line: what`. With `db`,
    PMIDs must be stored studies and added effects' sentences must be in their abstract;
    with `missing_ok` (a run over another corpus), a file for a study this database
    does not hold is left out and named in `skipped` instead."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    problems: list[str] = []
    out: list[Correction] = []
    for path in sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file()):
        if missing_ok and db is not None and _pmid_absent(path, db):
            if skipped is not None:
                skipped.append(path.name)
            continue
        found = load_file(path, db, problems)
        if found:
            out.append(found)
    seen: dict[str, Path] = {}
    for c in out:
        if c.pmid in seen:
            problems.append(f"{c.file}:1: PMID {c.pmid} is checked in {seen[c.pmid].name} too: one file per study")
        seen.setdefault(c.pmid, c.file)
    if problems:
        raise CheckedError(problems)
    return out


def _pmid_absent(path: Path, db: sqlite_utils.Database) -> bool:
    """The file is named for a study the database does not hold (a malformed file is
    never skipped: only a well-named one for another corpus's study)."""
    return path.stem.isdigit() and db.execute("select 1 from studies where pmid = ?", [path.stem]).fetchone() is None


def load_file(path: Path, db: sqlite_utils.Database | None, problems: list[str]) -> Correction | None:
    """One correction file, its problems appended to `problems` (None when any)."""
    before = len(problems)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        problems.append(f"{path}:1: cannot read it as UTF-8 text: {e}")
        return None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark else 1
        problems.append(f"{path}:{line}: not valid YAML: {getattr(e, 'problem', None) or e}")
        return None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        problems.append(f"{path}:1: expected a mapping with pmid, checked_by, checked_on, abstract_sha and fields")
        return None
    at = _Lines(node, path, problems)
    at.duplicates(node)
    for key in data:
        if key not in FILE_KEYS:
            at.error((key,), f"unknown key {key!r} (known: {', '.join(FILE_KEYS)})")

    pmid = str(data.get("pmid") or "").strip()
    if not pmid.isdigit():
        at.error(("pmid",), f"pmid must be a PubMed ID (digits), not {data.get('pmid')!r}")
    elif path.stem != pmid:
        at.error(("pmid",), f"pmid {pmid} is not the file's name ({path.name}): name the file {pmid}.yml")
    study = None
    if pmid.isdigit() and db is not None:
        study = db.execute("select abstract from studies where pmid = ?", [pmid]).fetchone()
        if study is None:
            at.error(("pmid",), f"PMID {pmid} is not in the database")
    who = _text(data.get("checked_by"))
    if not who:
        at.error(("checked_by",), "checked_by is empty: sign the check (who checked it), or remove the file")
    on = _day(data.get("checked_on"), at, ("checked_on",))
    sha = _text(data.get("abstract_sha"))
    if not sha or not all(ch in "0123456789abcdef" for ch in sha.lower()) or len(sha) < 8:
        at.error(("abstract_sha",), f"abstract_sha must be the hash of the abstract checked (`evidence review {pmid}` prints it), not {sha!r}")

    fields = []
    raw_fields = data.get("fields") or {}
    if not isinstance(raw_fields, dict):
        at.error(("fields",), "fields must be a mapping of field: {value, note}")
        raw_fields = {}
    for name, raw in raw_fields.items():
        check = _field_check(name, raw, at, who, on)
        if check:
            fields.append(check)

    effects = []
    raw_effects = data.get("effects") or []
    if not isinstance(raw_effects, list):
        at.error(("effects",), "effects must be a list of {action: add|correct|reject|confirm, ...}")
        raw_effects = []
    abstract = study[0] if study else None
    for i, raw in enumerate(raw_effects):
        check = _effect_check(i, raw, at, who, on, abstract if db is not None else None)
        if check:
            effects.append(check)
    if len(problems) > before:
        return None
    return Correction(pmid, path, who, on, sha.lower(), fields, effects, _text(data.get("note")) or None)


class _Lines:
    """Line numbers of a composed YAML document, for error messages."""

    def __init__(self, root: yaml.Node, path: Path, problems: list[str]):
        self.root, self.path, self.problems = root, path, problems

    def line(self, keys: tuple) -> int:
        node = self.root
        best = node.start_mark.line + 1
        for key in keys:
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if k.value == str(key):
                        best, node = k.start_mark.line + 1, v
                        break
                else:
                    return best
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                node = node.value[key]
                best = node.start_mark.line + 1
            else:
                return best
        return best

    def error(self, keys: tuple, problem: str) -> None:
        self.problems.append(f"{self.path}:{self.line(keys)}: {problem}")

    def duplicates(self, node: yaml.Node) -> None:
        """PyYAML keeps the last of two equal keys silently: a correction must not."""
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for k, v in node.value:
                if k.value in seen:
                    self.problems.append(f"{self.path}:{k.start_mark.line + 1}: {k.value!r} is given twice")
                seen.add(k.value)
                self.duplicates(v)
        elif isinstance(node, yaml.SequenceNode):
            for v in node.value:
                self.duplicates(v)


def _text(value: object) -> str:
    return "" if value is None else " ".join(str(value).split())


def _day(value: object, at: _Lines, keys: tuple) -> str:
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        at.error(keys, f"checked_on must be a date (YYYY-MM-DD), not {value!r}")
        return ""


def _field_check(name: object, raw: object, at: _Lines, who: str, on: str) -> FieldCheck | None:
    keys = ("fields", name)
    if name not in FIELDS:
        at.error(keys, f"unknown field {name!r} (known: {', '.join(FIELDS)})")
        return None
    if isinstance(raw, dict):
        for k in raw:
            if k not in FIELD_KEYS:
                at.error(keys, f"{name}: unknown key {k!r} (known: {', '.join(FIELD_KEYS)})")
        if "value" not in raw:
            at.error(keys, f"{name}: needs a value")
            return None
        value, note = raw["value"], _text(raw.get("note")) or None
        who = _text(raw.get("checked_by")) or who
        on = _day(raw["checked_on"], at, keys) if "checked_on" in raw else on
    else:
        value, note = raw, None
    problem = _field_problem(str(name), value)
    if problem:
        at.error(keys, f"{name}: {problem}")
        return None
    return FieldCheck(str(name), value, note, who, on, at.line(keys))


def _field_problem(name: str, value: object) -> str | None:
    """Why `value` cannot be the field's value, or None."""
    if name in SCALAR_VOCABS:
        vocab = SCALAR_VOCABS[name]
        return None if value in vocab else f"unknown value {value!r} (known: {', '.join(vocab)})"
    if name in LIST_VOCABS:
        vocab = LIST_VOCABS[name]
        if not isinstance(value, list):
            return f"must be a list (e.g. [{next(iter(vocab))}]), not {value!r}"
        unknown = [v for v in value if v not in vocab]
        return f"unknown value(s) {', '.join(map(repr, unknown))} (known: {', '.join(vocab)})" if unknown else None
    if name == "on_topic":
        return None if isinstance(value, bool) else f"must be true or false, not {value!r}"
    if name == "n_randomized":
        ok = value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
        return None if ok else f"must be a whole number or null, not {value!r}"
    if name == "summary":
        return None if isinstance(value, str) and value.strip() else "must be a line of text"
    return "unknown field"


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _effect_values_problem(values: dict, required: tuple[str, ...]) -> str | None:
    for k in required:
        if values.get(k) is None:
            return f"needs {k}"
    checks = (("outcome", OUTCOMES), ("measure", MEASURES), ("level", EFFECT_LEVELS))
    for k, vocab in checks:
        if values.get(k) is not None and values[k] not in vocab:
            return f"unknown {k} {values[k]!r} (known: {', '.join(vocab)})"
    for k in ("value", "ci_low", "ci_high"):
        if values.get(k) is not None and not _is_number(values[k]):
            return f"{k} must be a number, not {values[k]!r}"
    if values.get("p") is not None and not parse_p(str(values["p"])):
        return f"p must be a p-value as written (e.g. '<0.001'), not {values['p']!r}"
    return None


def _effect_check(i: int, raw: object, at: _Lines, who: str, on: str, abstract: str | None) -> EffectCheck | None:
    keys = ("effects", i)
    if not isinstance(raw, dict):
        at.error(keys, "an effect check is a mapping with action: add|correct|reject|confirm")
        return None
    action = raw.get("action")
    if action not in ACTIONS:
        at.error(keys, f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
        return None
    allowed = ITEM_KEYS + (EFFECT_VALUE_KEYS + ("sentence",) if action == "add" else SELECT_KEYS)
    bad = [k for k in raw if k not in allowed or (k == "set" and action != "correct")]
    if bad:
        at.error(keys, f"{action}: unknown key(s) {', '.join(map(repr, bad))} (known: {', '.join(k for k in allowed if k != 'set' or action == 'correct')})")
        return None
    who = _text(raw.get("checked_by")) or who
    on = _day(raw["checked_on"], at, keys) if "checked_on" in raw else on
    note = _text(raw.get("note")) or None
    sentence = _text(raw.get("sentence"))
    if not sentence:
        at.error(keys, f"{action}: needs sentence (words of the effect's sentence, as in the abstract)")
        return None
    if action == "add":
        values = {k: raw.get(k) for k in EFFECT_VALUE_KEYS if raw.get(k) is not None}
        problem = _effect_values_problem(values, ("outcome", "measure", "value"))
        if problem is None and abstract is not None and _find(abstract, sentence) is None:
            problem = "sentence is not in the study's abstract (copy it verbatim)"
        if problem:
            at.error(keys, f"add: {problem}")
            return None
        return EffectCheck(action, i, {"sentence": sentence}, values, note, who, on, at.line(keys))
    select = {k: raw.get(k) for k in SELECT_KEYS if raw.get(k) is not None}
    select["sentence"] = sentence
    problem = _effect_values_problem(select, ("value",))
    values: dict = {}
    if problem is None and action == "correct":
        values = raw.get("set") or {}
        if not isinstance(values, dict) or not values:
            problem = "needs set: {key: new value, ...} (outcome, measure, value, ci_low, ci_high, p, time_point, comparison, level, value_text)"
        elif [k for k in values if k not in EFFECT_VALUE_KEYS]:
            problem = f"set: unknown key(s) {', '.join(repr(k) for k in values if k not in EFFECT_VALUE_KEYS)}"
        else:
            problem = _effect_values_problem(values, ())
    if problem:
        at.error(keys, f"{action}: {problem}")
        return None
    return EffectCheck(action, i, select, dict(values), note, who, on, at.line(keys))


def _find(text: str, words: str) -> tuple[int, int] | None:
    """Where `words` stand in `text` (exactly, else ignoring case and runs of spaces)."""
    i = text.find(words)
    if i >= 0:
        return i, i + len(words)
    squashed, index = [], []
    prev_space = False
    for j, ch in enumerate(text):
        if ch.isspace():
            if prev_space:
                continue
            ch, prev_space = " ", True
        else:
            prev_space = False
        squashed.append(ch.lower())
        index.append(j)
    k = "".join(squashed).find(" ".join(words.split()).lower())
    if k < 0:
        return None
    end = k + len(" ".join(words.split())) - 1
    return index[k], index[end] + 1


# --- the tables ---------------------------------------------------------------------------


def ensure_tables(db: sqlite_utils.Database) -> None:
    """Create `checked_values`, `checked_machine`, the trigger and the views; harmless to repeat."""
    db.table("checked_values").create(
        {
            "pmid": str, "field": str,  # a FIELDS name, or effects[i] (the i-th effect check of the file)
            "action": str,  # set (a field), add, correct, reject, confirm (an effect)
            "value": str,  # the checked value as the rows hold it (lists and effects as JSON)
            "machine_value": str,  # the rules' value now (for an effect: the machine effect it picks, JSON, or '')
            "machine_first": str,  # the rules' value when the check was first applied
            "agrees": int,  # the rules give what the person gave (see `_agrees`)
            "who": str, "checked_on": str, "note": str, "file": str, "line": int,
            "stale": int,  # the abstract changed since the check: kept, not applied
            "abstract_hash": str,  # abstract_sha of the abstract the person read
            "applied": int,  # the value is in the rows now
        },
        pk=("pmid", "field"),
        foreign_keys=[("pmid", "studies", "pmid")],
        if_not_exists=True,
    )
    db.table("checked_values").create_index(["stale", "agrees"], if_not_exists=True)
    db.table("checked_machine").create(
        {"pmid": str, "fields": str, "effects": str, "fresh": int, "taken_at": str},
        pk="pmid",
        if_not_exists=True,
    )
    # The extractor rewrote the study (store.save_extractions, or save_studies clearing a
    # revised record): the copy of the machine's values must be retaken before applying.
    db.execute(
        "create trigger if not exists checked_machine_rewritten after update of extractor_version on studies "
        "begin update checked_machine set fresh = 1 where pmid = new.pmid; end"
    )
    db.execute(f"create view if not exists checked_disagreements as {DISAGREEMENTS_SQL}")
    db.execute(f"create view if not exists study_checks as {STUDY_CHECKS_SQL}")


def _canon(name: str, value: object) -> str:
    """A field's value as `checked_values.value` holds it (lists in vocabulary order)."""
    if name in LIST_VOCABS:
        order = list(LIST_VOCABS[name])
        items = sorted(set(value or []), key=lambda v: order.index(v) if v in order else len(order))
        return json.dumps(items, ensure_ascii=False)
    if name == "on_topic":
        return provenance.as_value(bool(value)) if value is not None else ""
    return provenance.as_value(value)


def _column(name: str, value: object) -> object:
    """A checked field's value as the `studies` column holds it."""
    if name in LIST_VOCABS:
        return json.dumps(list(dict.fromkeys(value or [])), ensure_ascii=False)
    if name == "on_topic":
        return int(bool(value))
    return value


def _column_canon(name: str, stored: object) -> str:
    """A `studies` column's value in the `checked_values` form."""
    if name in LIST_VOCABS:
        return _canon(name, json.loads(stored) if stored else [])
    if name == "on_topic":
        return "" if stored is None else provenance.as_value(bool(stored))
    return provenance.as_value(stored)


def record(db: sqlite_utils.Database, corrections: list[Correction], pmids: Iterable[str] | None = None) -> None:
    """Make `checked_values` hold exactly these corrections (for `pmids`, or all); the
    rules' side (machine values, agreement, staleness) is filled in by `apply`."""
    scope = set(pmids) if pmids is not None else None
    old = {(r["pmid"], r["field"], r["value"]): r["machine_first"] for r in db.query("select * from checked_values")}
    if scope is None:
        db.execute("delete from checked_values")
    else:
        for pmid in scope:
            db.execute("delete from checked_values where pmid = ?", [pmid])
    rows = []
    for c in corrections:
        if scope is not None and c.pmid not in scope:
            continue
        base = {"pmid": c.pmid, "file": c.file.name, "abstract_hash": c.abstract_sha, "stale": 0, "applied": 0}
        for f in c.fields:
            value = _canon(f.field, f.value)
            rows.append(base | {"field": f.field, "action": "set", "value": value, "who": f.who, "checked_on": f.on,
                                "note": f.note, "line": f.line, "machine_first": old.get((c.pmid, f.field, value))})
        for e in c.effects:
            value = json.dumps({"select": e.select, "values": e.values}, ensure_ascii=False, sort_keys=True)
            name = f"effects[{e.index}]"
            rows.append(base | {"field": name, "action": e.action, "value": value, "who": e.who, "checked_on": e.on,
                                "note": e.note, "line": e.line, "machine_first": old.get((c.pmid, name, value))})
    if rows:
        db["checked_values"].insert_all(rows, pk=("pmid", "field"), replace=True)


# --- applying -----------------------------------------------------------------------------


def apply(db: sqlite_utils.Database, pmids: Iterable[str] | None = None, *,
          folder: str | Path | None = None, missing_ok: bool = False) -> ApplyResult:
    """Write the checked values over the machine's in `studies` and `effects`, in one
    transaction. With `folder`, first read its correction files (a bad file raises
    CheckedError and changes nothing) and make them the recorded checks; without,
    re-apply the recorded ones (after re-extraction). `pmids` limits the studies."""
    scope = list(pmids) if pmids is not None else None
    skipped: list[str] = []
    corrections = load_dir(folder, db, missing_ok=missing_ok, skipped=skipped) if folder is not None else None
    ensure_tables(db)  # (load_dir raised before anything was written, if a file is bad)
    result = ApplyResult(skipped=skipped)
    with db.atomic():  # nested sqlite-utils writes become savepoints: all of it lands, or none
        if corrections is not None:
            record(db, corrections, scope)
        checks: dict[str, list[dict]] = {}
        for r in db.query("select * from checked_values order by pmid, line"):
            checks.setdefault(r["pmid"], []).append(r)
        todo = set(checks) | {r[0] for r in db.execute("select pmid from checked_machine")}
        if scope is not None:
            todo &= set(scope)
        for pmid in sorted(todo):
            _apply_study(db, pmid, checks.get(pmid, []), result)
    result.disagreements = db.execute("select count(*) from checked_disagreements").fetchone()[0]
    return result


def _study_effects(db: sqlite_utils.Database, pmid: str) -> list[dict]:
    cols = ", ".join(f"[{c}]" for c in EFFECT_COLUMNS)
    cursor = db.execute(f"select id, {cols} from effects where pmid = ? order by id", [pmid])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values)) for values in cursor]


def machine_values(db: sqlite_utils.Database, pmid: str) -> tuple[dict, list[dict]] | None:
    """The machine's own (fields, effects) of a study, whatever a person checked: the
    copy `apply` keeps while checks are applied, else the rows. For scoring the rules
    (`evidence evaluate` should read these, not the checked rows)."""
    ensure_tables(db)
    snap = db.execute("select fields, effects, fresh from checked_machine where pmid = ?", [pmid]).fetchone()
    if snap and not snap[2]:
        return json.loads(snap[0]), json.loads(snap[1])
    row = db.execute(f"select {', '.join(FIELDS)}, evidence_level from studies where pmid = ?", [pmid]).fetchone()
    if row is None:
        return None
    return dict(zip(FIELDS + ("evidence_level",), row)), [_strip_id(e) for e in _study_effects(db, pmid)]


def _strip_id(e: dict) -> dict:
    return {k: e[k] for k in EFFECT_COLUMNS}


def _apply_study(db: sqlite_utils.Database, pmid: str, checks: list[dict], result: ApplyResult) -> None:
    study = db.execute("select abstract, title, publication_types, mesh, extractor_version from studies where pmid = ?",
                       [pmid]).fetchone()
    if study is None or study[4] is None:
        # Not (yet, or no longer) extracted: nothing to write over; the checks wait.
        if checks:
            result.pending.append(pmid)
        return
    abstract = study[0] or ""
    snap = db.execute("select fresh from checked_machine where pmid = ?", [pmid]).fetchone()
    if snap is None or snap[0]:
        # The rows are the machine's own now (never checked, or just re-extracted): keep a copy.
        fields_now = dict(zip(FIELDS + ("evidence_level",), db.execute(
            f"select {', '.join(FIELDS)}, evidence_level from studies where pmid = ?", [pmid]).fetchone()))
        effects_now = [_strip_id(e) for e in _study_effects(db, pmid)]
        db["checked_machine"].upsert(
            {"pmid": pmid, "fields": json.dumps(fields_now, ensure_ascii=False),
             "effects": json.dumps(effects_now, ensure_ascii=False), "fresh": 0, "taken_at": _now()},
            pk="pmid",
        )
        machine_fields, machine_effects = fields_now, effects_now
    else:
        machine_fields, machine_effects = machine_values(db, pmid)  # type: ignore[misc]

    sha = abstract_sha(abstract)
    target = dict(machine_fields)
    effects = [dict(e) for e in machine_effects]
    live = [c for c in checks if c["abstract_hash"] == sha]
    if len(live) < len(checks):
        result.stale.append(pmid)
    updates = []
    field_checked = False
    for c in checks:
        stale = c["abstract_hash"] != sha
        if c["action"] == "set":
            machine = _column_canon(c["field"], machine_fields.get(c["field"]))
            agrees = machine == c["value"]
            if not stale:
                field_checked |= not agrees
                if not agrees:
                    target[c["field"]] = _column(c["field"], _from_canon(c["field"], c["value"]))
        else:
            machine, agrees = _effect_check_against(c, machine_effects)
            if not stale:
                effects = _apply_effect(c, effects, abstract)
        updates.append((machine, c["machine_first"] if c["machine_first"] is not None else machine,
                        int(agrees), int(stale), int(not stale), pmid, c["field"]))
        result.applied += not stale
        if not stale and not agrees and c["action"] in ("correct", "reject", "confirm") and not _picked(c, machine_effects):
            sel = json.loads(c["value"])["select"]
            result.unmatched.append(f"{c['file']} line {c['line']}: {c['action']} matches no machine effect "
                                    f"(value {sel.get('value')} in '{sel.get('sentence')}')")
    db.conn.executemany(
        "update checked_values set machine_value = ?, machine_first = ?, agrees = ?, stale = ?, applied = ? "
        "where pmid = ? and field = ?",
        updates,
    )
    target["evidence_level"] = EVIDENCE_LEVELS.get(target["design"], target.get("evidence_level"))
    summary_checked = any(c["field"] == "summary" and c["abstract_hash"] == sha for c in checks)
    effects_changed = _effect_keys(effects) != _effect_keys(machine_effects)
    if not summary_checked and (field_checked or effects_changed):
        # The machine's summary describes the machine's values: say the person's instead.
        target["summary"] = _summary(target, effects, study)
    changed = _write_fields(db, pmid, target) | _write_effects(db, pmid, effects, study[4])
    if changed:
        result.written.append(pmid)
    if not checks:
        db.execute("delete from checked_machine where pmid = ?", [pmid])
        result.restored.append(pmid)


def _from_canon(name: str, value: str) -> object:
    if name in LIST_VOCABS:
        return json.loads(value)
    if name == "on_topic":
        return value == "true"
    if name == "n_randomized":
        return int(value) if value != "" else None
    return value


def _now() -> str:
    from .store import now

    return now()


def _effect_keys(effects: list[dict]) -> list[tuple]:
    return sorted((tuple(repr(e.get(k)) for k in EFFECT_COLUMNS) for e in effects))


def _agree(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return _is_number(a) and _is_number(b) and math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)


def _picks(select: dict, e: dict) -> bool:
    """Does a selector (sentence words, value, optional outcome and measure) pick out effect `e`?"""
    if not _agree(select.get("value"), e.get("value")):
        return False
    if any(select.get(k) is not None and select[k] != e.get(k) for k in ("outcome", "measure")):
        return False
    return _find(e.get("sentence") or "", select["sentence"]) is not None


def _picked(c: dict, machine_effects: list[dict]) -> list[dict]:
    spec = json.loads(c["value"])
    return [e for e in machine_effects if _picks(spec["select"], e)] if c["action"] != "add" else []


def _same_effect(a: dict, b: dict) -> bool:
    """The numbers a reader compares agree: outcome, measure, value, interval, p (and level when both say)."""
    return (a.get("outcome") == b.get("outcome") and a.get("measure") == b.get("measure")
            and _agree(a.get("value"), b.get("value")) and _agree(a.get("ci_low"), b.get("ci_low"))
            and _agree(a.get("ci_high"), b.get("ci_high"))
            and (a.get("p_value") or None) == (b.get("p_value") or None)
            and (a.get("level") is None or b.get("level") is None or a.get("level") == b.get("level")))


def _effect_check_against(c: dict, machine_effects: list[dict]) -> tuple[str, bool]:
    """(the machine effect it concerns as JSON, or '', and whether the rules agree with the person)."""
    spec = json.loads(c["value"])
    picked = _picked(c, machine_effects)
    if c["action"] == "add":
        wanted = _effect_from(spec["values"], {})
        same = [e for e in machine_effects if _same_effect(e, wanted)]
        return (json.dumps(same[0], ensure_ascii=False) if same else "", bool(same))
    machine = json.dumps(picked[0], ensure_ascii=False) if picked else ""
    if c["action"] == "reject":
        return machine, not picked  # the rules agree once they no longer give it
    if c["action"] == "confirm":
        return machine, bool(picked)
    wanted = _effect_from(spec["values"], picked[0] if picked else {})
    return machine, any(_same_effect(e, wanted) for e in machine_effects)


def _effect_from(values: dict, base: dict) -> dict:
    """An effect row from a check's values over a machine effect (`base`)."""
    e = {k: base.get(k) for k in EFFECT_COLUMNS}
    for k, v in values.items():
        if k == "p":
            e["p_value"] = normalise_p(str(v))
        else:
            e[k] = float(v) if k in ("value", "ci_low", "ci_high") else v
    return e


def _apply_effect(c: dict, effects: list[dict], abstract: str) -> list[dict]:
    spec = json.loads(c["value"])
    if c["action"] == "confirm":
        return effects
    if c["action"] in ("reject", "correct"):
        kept = [e for e in effects if not _picks(spec["select"], e)]
        picked = [e for e in effects if _picks(spec["select"], e)]
        if c["action"] == "reject":
            return kept
        if picked:
            return kept + [_effect_from(spec["values"], picked[0])] + picked[1:]
        values = spec["values"]
        if not all(values.get(k) is not None for k in ("outcome", "measure", "value")):
            return effects  # nothing to correct and not enough to add: reported as unmatched
        spec = {"select": spec["select"], "values": values}
    # add (or a correction whose machine effect the rules no longer give, complete enough to add)
    where = _find(abstract, spec["select"]["sentence"])
    if where is None:
        return effects  # the abstract changed: such a check is stale and never reaches here
    start, end = where
    e = _effect_from(spec["values"], {})
    e.update(sentence=abstract[start:end], sentence_start=start, sentence_end=end)
    text = e.get("value_text") or _number(e["value"])
    inside = _find(abstract[start:end], str(text))
    e["value_text"] = abstract[start + inside[0]:start + inside[1]] if inside else str(text)
    e["value_start"] = start + inside[0] if inside else start
    return effects + [e]


def _number(x: float) -> str:
    return f"{x:g}"


def _summary(target: dict, effects: list[dict], study: tuple) -> str:
    """The one-line summary of the checked values, by the extractor's own `summarise`."""
    from .document import Document
    from .effects import Effect
    from .extract import Extraction, summarise

    def listed(name: str) -> list[str]:
        value = target.get(name)
        return json.loads(value) if isinstance(value, str) else list(value or [])

    x = Extraction(
        design=target["design"], on_topic=bool(target["on_topic"]), headache_types=listed("headache_types"),
        comparators=listed("comparators"), n_randomized=target["n_randomized"], outcomes=listed("outcomes"),
        direction=target["direction"], evidence_level=target["evidence_level"], summary="",
        effects=[Effect(**{k: e.get(k) for k in EFFECT_COLUMNS}) for e in effects],
    )
    types = json.loads(study[2]) if study[2] else []
    mesh = json.loads(study[3]) if study[3] else []
    doc = Document(study[1] or "", study[0] or "", types, mesh)
    return summarise(x, doc.sentences)


def _write_fields(db: sqlite_utils.Database, pmid: str, target: dict) -> bool:
    names = FIELDS + ("evidence_level",)
    now = db.execute(f"select {', '.join(names)} from studies where pmid = ?", [pmid]).fetchone()
    if tuple(target.get(n) for n in names) == tuple(now):
        return False
    # Not extractor_version: that marks the machine's writes (and would re-extract the study).
    db.execute(f"update studies set {', '.join(f'[{n}] = ?' for n in names)} where pmid = ?",
               [target.get(n) for n in names] + [pmid])
    return True


def _write_effects(db: sqlite_utils.Database, pmid: str, target: list[dict], version: str) -> bool:
    """Make the study's effects rows `target`, touching only rows that differ (ids of the others stay)."""
    current = _study_effects(db, pmid)
    wanted = list(target)
    stale_ids = []
    for row in current:
        key = _effect_keys([row])[0]
        match = next((i for i, e in enumerate(wanted) if _effect_keys([e])[0] == key), None)
        if match is None:
            stale_ids.append(row["id"])
        else:
            wanted.pop(match)
    if not stale_ids and not wanted:
        return False
    db.conn.executemany("delete from effects where id = ?", [(i,) for i in stale_ids])
    cols = ("pmid",) + EFFECT_COLUMNS + ("extractor_version",)
    db.conn.executemany(
        f"insert into effects ({', '.join(f'[{c}]' for c in cols)}) values ({', '.join('?' * len(cols))})",
        [(pmid,) + tuple(e.get(c) for c in EFFECT_COLUMNS) + (version,) for e in wanted],
    )
    return True


# --- reading it back ----------------------------------------------------------------------


def disagreements(db: sqlite_utils.Database) -> list[dict]:
    """Checked values the rules now give otherwise (stale checks left out): pmid, field,
    checked, rules, rules_when_checked, who, checked_on, note, file, line."""
    ensure_tables(db)
    return list(db.query(DISAGREEMENTS_SQL))


def origins(db: sqlite_utils.Database, pmids: Iterable[str] | None = None) -> dict[str, dict[str, dict]]:
    """PMID → field → where its shown value comes from: {"origin": "checked", "who", "on",
    "note"} for an applied check, else {"origin": "rules", "rule", "confidence"} (the
    lowest confidence among the field's values). Effects appear as "effects[i]"."""
    ensure_tables(db)
    where, params = "", []
    if pmids is not None:
        params = list(pmids)
        where = f"where pmid in ({', '.join('?' * len(params))})"
    out: dict[str, dict[str, dict]] = {}
    for r in db.query(f"select pmid, field, rule, confidence from extraction_evidence {where} order by pmid", params):
        slot = out.setdefault(r["pmid"], {}).setdefault(r["field"], {"origin": "rules", "rule": r["rule"], "confidence": "high"})
        if r["confidence"] == "low":
            slot.update(rule=r["rule"], confidence="low")
    applied = "applied = 1" + (f" and {where[6:]}" if where else "")
    for r in db.query(f"select pmid, field, action, who, checked_on, note from checked_values where {applied}", params):
        out.setdefault(r["pmid"], {})[r["field"]] = {
            "origin": "checked", "who": r["who"], "on": r["checked_on"], "note": r["note"], "action": r["action"]}
    return out


def checked_pmids(db: sqlite_utils.Database) -> set[str]:
    """Studies with at least one check applied (not stale)."""
    ensure_tables(db)
    return {r[0] for r in db.execute("select distinct pmid from checked_values where applied = 1")}


def stale_pmids(db: sqlite_utils.Database) -> set[str]:
    """Studies with a check waiting for a person to confirm it against the revised abstract."""
    ensure_tables(db)
    return {r[0] for r in db.execute("select distinct pmid from checked_values where stale = 1")}


def status_lines(db: sqlite_utils.Database) -> list[str]:
    """Lines for `evidence status`: progress, stale checks, where the rules disagree."""
    from .review import progress

    ensure_tables(db)
    n_values = db.execute("select count(*) from checked_values where applied = 1").fetchone()[0]
    n_studies = len(checked_pmids(db))
    lines = [f"{progress(db)}; {n_studies} stud{'y' if n_studies == 1 else 'ies'} checked in all ({n_values} value{'s' if n_values != 1 else ''})"]
    stale = sorted(stale_pmids(db))
    if stale:
        lines.append(f"{len(stale)} stud{'y' if len(stale) == 1 else 'ies'} with stale checks (abstract revised "
                     f"since checked; shown as unchecked until confirmed): {', '.join(stale)}")
    rows = disagreements(db)
    if rows:
        moved = sum(1 for r in rows if r["rules_when_checked"] == r["checked"])
        lines.append(f"the rules disagree with {len(rows)} checked value{'s' if len(rows) != 1 else ''}"
                     + (f" ({moved} agreed when checked)" if moved else "")
                     + ": table checked_disagreements")
    return lines


def score_rules_against_checked(db: sqlite_utils.Database) -> dict:
    """How often the rules give what a person checked (stale checks left out): per field
    {checked, agree, accuracy, errors: [(pmid, checked, rules)]}, and per effect action
    {checked, agree}; effects' `agree` means the rules find an added effect, no longer
    give a rejected one, give a corrected one as corrected, or still give a confirmed one."""
    ensure_tables(db)
    fields: dict[str, dict] = {}
    effects: dict[str, dict] = {a: {"checked": 0, "agree": 0} for a in ACTIONS}
    studies = set()
    for r in db.query("select * from checked_values where stale = 0 and machine_value is not null order by pmid, field"):
        studies.add(r["pmid"])
        if r["action"] == "set":
            slot = fields.setdefault(r["field"], {"checked": 0, "agree": 0, "errors": []})
            slot["checked"] += 1
            slot["agree"] += r["agrees"]
            if not r["agrees"]:
                slot["errors"].append((r["pmid"], r["value"], r["machine_value"]))
        else:
            effects[r["action"]]["checked"] += 1
            effects[r["action"]]["agree"] += r["agrees"]
    for slot in list(fields.values()) + list(effects.values()):
        slot["accuracy"] = slot["agree"] / slot["checked"] if slot["checked"] else None
    ordered = {f: fields[f] for f in FIELDS if f in fields}
    return {"studies": len(studies), "fields": ordered, "effects": effects}


def format_score(score: dict, *, show_errors: bool = False) -> str:
    """`score_rules_against_checked` as a plain-text table."""
    lines = [f"Scored the rules against {score['studies']} checked stud{'y' if score['studies'] == 1 else 'ies'}.", ""]
    row = "{:<16} {:>7} {:>6}  {}"
    lines.append(row.format("field", "checked", "agree", "accuracy"))
    for name, s in score["fields"].items():
        lines.append(row.format(name, s["checked"], s["agree"], f"{s['accuracy']:.3f}"))
        if show_errors:
            lines += [f"    {pmid}: checked {c}, rules {m or '(none)'}" for pmid, c, m in s["errors"]]
    for action, s in score["effects"].items():
        if s["checked"]:
            lines.append(row.format(f"effects {action}", s["checked"], s["agree"], f"{s['accuracy']:.3f}"))
    return "\n".join(lines) + "\n"
