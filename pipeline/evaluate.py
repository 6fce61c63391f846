"""Score the extractor's output against a hand-labelled gold file (`evidence evaluate`).

Both sides are dicts PMID → record with the keys in `RECORD_KEYS`. Every gold PMID is
scored; a PMID without a prediction counts as wrong on the single-valued fields and as
empty on the list fields and effects. Predicted PMIDs that are not in the gold are ignored.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Collection

if TYPE_CHECKING:
    import sqlite_utils

from .vocab import COMPARATORS, DESIGNS, DIRECTIONS, HEADACHE_TYPES, MEASURES, OUTCOMES

# The one p-value normaliser: the form effects are stored in is the form compared.
from .vocab import normalise_p as normalize_p
from .vocab import parse_p as _parse_p

# Comparator values added after the older gold files were labelled.
V2_COMPARATORS = {"other", "unspecified_control"}
RECORD_KEYS = (
    "design", "on_topic", "headache_types", "comparators", "n_randomized", "outcomes", "direction", "effects",
)
EFFECT_KEYS = ("outcome", "measure", "value", "ci_low", "ci_high", "p")
LIST_FIELDS = {"headache_types": HEADACHE_TYPES, "comparators": COMPARATORS, "outcomes": OUTCOMES}
# Scored fields in report order, with their metric kind.
FIELD_KINDS = {
    "design": "accuracy",
    "on_topic": "accuracy",
    "headache_types": "f1",
    "comparators": "f1",
    "n_randomized": "exact",
    "outcomes": "f1",
    "direction": "accuracy",
}

TARGETS: dict[str, float] = {
    "design": 0.95,
    "on_topic": 0.95,
    "headache_types": 0.90,
    "comparators": 0.85,
    "n_randomized": 0.93,
    "outcomes": 0.90,
    "direction": 0.90,
    "effect_recall": 0.90,
    "effect_precision": 0.95,
    "effect_between": 0.90,  # between-group estimates recalled (gold sets that label levels)
}

ABS_TOL = 1e-6
REL_TOL = 1e-4


class _Missing:
    """The value of a field the prediction lacks (no record for the PMID, or no such key)."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


@dataclass
class FieldScore:
    name: str
    kind: str  # "accuracy", "f1" or "exact"
    value: float  # in [0, 1]
    n: int  # records scored
    detail: str = ""
    errors: list[tuple[str, object, object]] = field(default_factory=list)  # (pmid, expected, got)


@dataclass
class EffectScore:
    gold: int
    predicted: int
    matched: int
    recall: float
    precision: float
    ci_agreement: float | None  # among matched effects whose gold has a CI
    p_agreement: float | None  # among matched effects whose gold has a p
    missed: list[tuple[str, dict]]  # (pmid, gold effect) not matched
    spurious: list[tuple[str, dict]]  # (pmid, predicted effect) not matched
    # Gold effects labelled `level: between_groups` (the number a clinician wants
    # first), and how many of them were matched; None when the gold file has no levels.
    between_gold: int | None = None
    between_matched: int = 0

    @property
    def between_recall(self) -> float | None:
        return _share(self.between_matched, self.between_gold) if self.between_gold else None


@dataclass
class Report:
    fields: list[FieldScore]
    effects: EffectScore
    records: int  # gold PMIDs scored
    missing: list[str]  # gold PMIDs with no prediction
    # pmid → field → the rules behind the predicted value, as "rule on 'quote'" (from
    # extraction_evidence), so that every error names the rule that fired or that none did
    reasons: dict[str, dict[str, list[str]]] = field(default_factory=dict)


# --- loading and validation ---------------------------------------------------------------


def load_gold(path: str | os.PathLike[str]) -> dict[str, dict]:
    """Read a gold JSON file, drop top-level keys starting with "_", and validate every record.

    Raises ValueError naming the PMID and key of the first malformed entry.
    """
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: gold file must be a JSON object of PMID -> record")
    gold = {pmid: rec for pmid, rec in data.items() if not pmid.startswith("_")}
    if not gold:
        raise ValueError(f"{path}: gold file has no records")
    for pmid, rec in gold.items():
        _validate_record(pmid, rec)
    return gold


def _invalid(pmid: str, key: str, problem: str) -> ValueError:
    return ValueError(f"gold record {pmid}, key {key!r}: {problem}")


def _check_keys(pmid: str, where: str, obj: object, keys: tuple[str, ...]) -> None:
    if not isinstance(obj, dict):
        raise _invalid(pmid, where, f"must be a JSON object, got {type(obj).__name__}")
    absent = [k for k in keys if k not in obj]
    if absent:
        prefix = f"{where}." if where else ""
        raise _invalid(pmid, prefix + absent[0], "missing")


def _check_label(pmid: str, key: str, value: object, vocab: Collection[str]) -> None:
    if not isinstance(value, str) or value not in vocab:
        raise _invalid(pmid, key, f"unknown value {value!r} (expected one of: {', '.join(vocab)})")


def _validate_record(pmid: str, rec: object) -> None:
    """Raise ValueError unless `rec` is a well-formed gold record."""
    if not isinstance(rec, dict):
        raise ValueError(f"gold record {pmid}: must be a JSON object, got {type(rec).__name__}")
    _check_keys(pmid, "", rec, RECORD_KEYS)
    _check_label(pmid, "design", rec["design"], DESIGNS)
    _check_label(pmid, "direction", rec["direction"], DIRECTIONS)
    if not isinstance(rec["on_topic"], bool):
        raise _invalid(pmid, "on_topic", f"must be true or false, got {rec['on_topic']!r}")
    n = rec["n_randomized"]
    if n is not None and not (isinstance(n, int) and not isinstance(n, bool) and n >= 0):
        raise _invalid(pmid, "n_randomized", f"must be a non-negative integer or null, got {n!r}")
    for key, vocab in LIST_FIELDS.items():
        if not isinstance(rec[key], list):
            raise _invalid(pmid, key, f"must be a list, got {rec[key]!r}")
        for label in rec[key]:
            _check_label(pmid, key, label, vocab)
    if "comparators_v2" in rec:
        if not isinstance(rec["comparators_v2"], list):
            raise _invalid(pmid, "comparators_v2", f"must be a list, got {rec['comparators_v2']!r}")
        for label in rec["comparators_v2"]:
            _check_label(pmid, "comparators_v2", label, COMPARATORS)
    if not isinstance(rec["effects"], list):
        raise _invalid(pmid, "effects", f"must be a list, got {rec['effects']!r}")
    for i, effect in enumerate(rec["effects"]):
        _validate_effect(pmid, f"effects[{i}]", effect)


def _validate_effect(pmid: str, where: str, effect: object) -> None:
    _check_keys(pmid, where, effect, EFFECT_KEYS)
    _check_label(pmid, f"{where}.outcome", effect["outcome"], OUTCOMES)
    _check_label(pmid, f"{where}.measure", effect["measure"], MEASURES)
    if not _is_number(effect["value"]):
        raise _invalid(pmid, f"{where}.value", f"must be a number, got {effect['value']!r}")
    for bound in ("ci_low", "ci_high"):
        if effect[bound] is not None and not _is_number(effect[bound]):
            raise _invalid(pmid, f"{where}.{bound}", f"must be a number or null, got {effect[bound]!r}")
    p = effect["p"]
    if p is not None and not (isinstance(p, str) and _parse_p(p)):
        raise _invalid(pmid, f"{where}.p", f"must be a p-value string such as '<0.001' or null, got {p!r}")


# --- comparisons ----------------------------------------------------------------------------


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _same(expected: object, got: object) -> bool:
    """Equality that does not let True stand for 1 (or 1 for True)."""
    return expected == got and isinstance(expected, bool) == isinstance(got, bool)


def values_agree(a: object, b: object) -> bool:
    """Two numbers equal within 1e-6 absolute or 1e-4 relative (1.6 == 1.60)."""
    return _is_number(a) and _is_number(b) and math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _bound_agrees(a: object, b: object) -> bool:
    """A CI bound agrees when both are absent or both numbers agree."""
    return (a is None and b is None) or values_agree(a, b)


def _ci_agrees(gold: dict, pred: dict) -> bool:
    return all(_bound_agrees(gold.get(bound), pred.get(bound)) for bound in ("ci_low", "ci_high"))


def match_effects(gold: list[dict], predicted: list[dict]) -> list[tuple[int, int]]:
    """Pair gold and predicted effects one-to-one, as (gold index, predicted index).

    A pair is possible when the outcome is equal and the value agrees; greedily, pairs whose
    measure also agrees are taken first, then pairs whose CI agrees, then in list order.
    """
    candidates = sorted(
        ((g.get("measure") != p.get("measure"), not _ci_agrees(g, p)), i, j)
        for i, g in enumerate(gold)
        for j, p in enumerate(predicted)
        if g.get("outcome") == p.get("outcome") and values_agree(g.get("value"), p.get("value"))
    )
    used_gold: set[int] = set()
    used_pred: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i not in used_gold and j not in used_pred:
            used_gold.add(i)
            used_pred.add(j)
            pairs.append((i, j))
    return pairs


# --- scoring --------------------------------------------------------------------------------


def _share(hits: int, total: int) -> float:
    return hits / total if total else 1.0


def _predicted(pred: dict | None, name: str) -> object:
    return MISSING if pred is None else pred.get(name, MISSING)


def _score_agreement(name: str, kind: str, gold: dict[str, dict], preds: dict[str, dict | None]) -> FieldScore:
    errors: list[tuple[str, object, object]] = []
    for pmid, rec in gold.items():
        got = _predicted(preds[pmid], name)
        if not _same(rec[name], got):
            errors.append((pmid, rec[name], got))
    correct = len(gold) - len(errors)
    return FieldScore(name, kind, _share(correct, len(gold)), len(gold), f"{correct}/{len(gold)}", errors)


def _score_f1(name: str, gold: dict[str, dict], preds: dict[str, dict | None]) -> FieldScore:
    """Micro-averaged F1 over (pmid, label) pairs; 1.0 when nothing is expected or predicted."""
    tp = fp = fn = 0
    errors: list[tuple[str, object, object]] = []
    for pmid, rec in gold.items():
        expected = set(rec[name])
        got_value = _predicted(preds[pmid], name)
        got = set(got_value) if isinstance(got_value, list) else set()
        tp += len(expected & got)
        fp += len(got - expected)
        fn += len(expected - got)
        if expected != got:
            errors.append((pmid, sorted(expected), sorted(got, key=str)))
    precision, recall = _share(tp, tp + fp), _share(tp, tp + fn)
    f1 = _share(2 * tp, 2 * tp + fp + fn)
    detail = f"precision {precision:.2f}, recall {recall:.2f}"
    return FieldScore(name, "f1", f1, len(gold), detail, errors)


def _score_effects(gold: dict[str, dict], preds: dict[str, dict | None]) -> EffectScore:
    n_gold = n_pred = matched = 0
    ci_total = ci_ok = p_total = p_ok = 0
    missed: list[tuple[str, dict]] = []
    spurious: list[tuple[str, dict]] = []
    between_gold = between_matched = 0
    levelled = False
    for pmid, rec in gold.items():
        gold_effects = rec["effects"]
        pred_value = _predicted(preds[pmid], "effects")
        pred_effects = pred_value if isinstance(pred_value, list) else []
        pairs = match_effects(gold_effects, pred_effects)
        n_gold += len(gold_effects)
        n_pred += len(pred_effects)
        matched += len(pairs)
        for i, j in pairs:
            g, p = gold_effects[i], pred_effects[j]
            if g["ci_low"] is not None or g["ci_high"] is not None:
                ci_total += 1
                ci_ok += _ci_agrees(g, p)
            if g["p"] is not None:
                p_total += 1
                p_ok += normalize_p(g["p"]) == normalize_p(p.get("p"))
        gold_used = {i for i, _ in pairs}
        pred_used = {j for _, j in pairs}
        for i, e in enumerate(gold_effects):
            levelled |= "level" in e
            if e.get("level") == "between_groups":
                between_gold += 1
                between_matched += i in gold_used
        missed += [(pmid, e) for i, e in enumerate(gold_effects) if i not in gold_used]
        spurious += [(pmid, e) for j, e in enumerate(pred_effects) if j not in pred_used]
    return EffectScore(
        gold=n_gold,
        predicted=n_pred,
        matched=matched,
        recall=_share(matched, n_gold),
        precision=_share(matched, n_pred),
        ci_agreement=ci_ok / ci_total if ci_total else None,
        p_agreement=p_ok / p_total if p_total else None,
        missed=missed,
        spurious=spurious,
        between_gold=between_gold if levelled else None,
        between_matched=between_matched,
    )


def score(predicted: dict[str, dict], gold: dict[str, dict]) -> Report:
    """Score predictions for every gold PMID, field by field, and the extracted effects.

    Comparators: a gold record written for the extended vocabulary (`comparators_v2`,
    with `other` and `unspecified_control`) is scored on it; an older one, labelled
    before those values existed, is scored with them left out of the prediction."""
    gold = {pmid: ({**rec, "comparators": rec["comparators_v2"]} if "comparators_v2" in rec else rec) for pmid, rec in gold.items()}
    preds = {pmid: predicted.get(pmid) for pmid in gold}
    for pmid, pred in preds.items():
        if pred and "comparators_v2" not in gold[pmid] and set(pred.get("comparators") or []) & V2_COMPARATORS:
            preds[pmid] = {**pred, "comparators": [c for c in pred["comparators"] if c not in V2_COMPARATORS]}
    fields = [
        _score_f1(name, gold, preds) if kind == "f1" else _score_agreement(name, kind, gold, preds)
        for name, kind in FIELD_KINDS.items()
    ]
    missing = [pmid for pmid, pred in preds.items() if pred is None]
    reasons = {pmid: pred["_reasons"] for pmid, pred in preds.items() if pred and pred.get("_reasons")}
    return Report(fields=fields, effects=_score_effects(gold, preds), records=len(gold), missing=missing, reasons=reasons)


def below_target(report: Report) -> list[str]:
    """Names (as in TARGETS) of the fields and effect metrics scoring under their target."""
    scores = {f.name: f.value for f in report.fields}
    scores["effect_recall"] = report.effects.recall
    scores["effect_precision"] = report.effects.precision
    scores["effect_between"] = report.effects.between_recall  # None: the gold labels no levels
    return [name for name, target in TARGETS.items() if scores[name] is not None and scores[name] < target]


# --- formatting -----------------------------------------------------------------------------


def _describe_effect(e: dict) -> str:
    text = f"{e.get('outcome')} {e.get('measure')} {e.get('value')}"
    if e.get("ci_low") is not None or e.get("ci_high") is not None:
        text += f" [{e.get('ci_low')}, {e.get('ci_high')}]"
    if e.get("p") is not None:
        text += f" p{e.get('p')}"
    return text


def _share_text(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.3f}"


def format_report(report: Report, *, show_errors: bool = False) -> str:
    """A plain-text table (field, metric, score, target, detail), then the effect metrics.

    Targets that are missed are flagged with '*'; with show_errors, each field's mismatches
    and the missed/spurious effects are listed under their row.
    """
    below = below_target(report)
    lines = [f"Scored {report.records} gold records."]
    if report.missing:
        lines.append(f"No prediction for {len(report.missing)}: {', '.join(report.missing)}")
    row = "{:<16} {:<9} {:>6}  {:<7} {}"
    lines += [
        "",
        row.format("field", "metric", "score", "target", "detail"),
        row.format("-" * 16, "-" * 9, "-" * 6, "-" * 7, "-" * 6),
    ]

    def target(name: str) -> str:
        return f"{TARGETS[name]:.2f}" + ("*" if name in below else "")

    for f in report.fields:
        lines.append(row.format(f.name, f.kind, f"{f.value:.3f}", target(f.name), f.detail))
        if show_errors:
            for pmid, exp, got in f.errors:
                lines.append(f"    {pmid}: expected {exp!r}, got {got!r}")
                lines += [f"        {why}" for why in report.reasons.get(pmid, {}).get(f.name, [])]

    eff = report.effects
    lines.append(row.format(
        "effects", "recall", f"{eff.recall:.3f}", target("effect_recall"),
        f"{eff.matched}/{eff.gold} gold effects matched",
    ))
    if show_errors:
        lines += [f"    missed {pmid}: {_describe_effect(e)}" for pmid, e in eff.missed]
    lines.append(row.format(
        "effects", "precision", f"{eff.precision:.3f}", target("effect_precision"),
        f"{eff.matched}/{eff.predicted} predicted effects matched",
    ))
    if show_errors:
        lines += [f"    spurious {pmid}: {_describe_effect(e)}" for pmid, e in eff.spurious]
    if eff.between_gold is not None:
        lines.append(row.format(
            "effects", "between", _share_text(eff.between_recall), target("effect_between"),
            f"{eff.between_matched}/{eff.between_gold} between-group estimates matched",
        ))
    lines.append(row.format(
        "effects", "CI", _share_text(eff.ci_agreement), "", "bounds agree, matched effects with a gold CI"
    ))
    lines.append(row.format(
        "effects", "p", _share_text(eff.p_agreement), "", "p agrees, matched effects with a gold p"
    ))
    if below:
        lines += ["", f"* below target: {', '.join(below)}"]
    return "\n".join(lines) + "\n"


def _as_list(value: object) -> list:
    return json.loads(value) if isinstance(value, str) else list(value or [])


def describe_reason(r: dict) -> str:
    """One stored reason as a line: "comparators = sham: rule comparators.named.sham on 'placebo'"."""
    value = r["value"] if r["value"] != "" else "(empty)"
    if r["rule"].startswith("default."):
        text = f"{r['field']} = {value}: no rule fired ({r['rule']})"
    else:
        text = f"{r['field']} = {value}: rule {r['rule']}"
        if r.get("quote"):
            quote = r["quote"] if len(r["quote"]) <= 90 else r["quote"][:87] + "..."
            text += f" on {quote!r}"
    return text + (" [low confidence]" if r.get("confidence") == "low" else "")


def predictions_from_db(db: "sqlite_utils.Database", pmids: list[str] | None = None) -> dict[str, dict]:
    """The stored extraction, in the gold file's shape, for `pmids` (default: every
    extracted study). Studies not yet extracted are left out, so they count as missing."""
    where = "extractor_version is not null"
    params: list[str] = []
    if pmids is not None:
        where += f" and pmid in ({', '.join('?' * len(pmids))})"
        params = list(pmids)
    out: dict[str, dict] = {}
    for row in db.query(f"select * from studies where {where}", params):
        out[row["pmid"]] = {
            "design": row["design"],
            "on_topic": bool(row["on_topic"]),
            "headache_types": json.loads(row["headache_types"] or "[]"),
            "comparators": json.loads(row["comparators"] or "[]"),
            "n_randomized": row["n_randomized"],
            "outcomes": json.loads(row["outcomes"] or "[]"),
            "direction": row["direction"],
            "effects": [],
        }
    if db["checked_machine"].exists():
        # Score the rules, not the person: a checked study is scored on the values the rules gave it.
        from . import checked

        for pmid in set(out) & checked.checked_pmids(db):
            machine = checked.machine_values(db, pmid)
            if machine:
                fields, effects = machine
                out[pmid].update({
                    "design": fields["design"], "on_topic": bool(fields["on_topic"]),
                    "headache_types": _as_list(fields["headache_types"]), "comparators": _as_list(fields["comparators"]),
                    "n_randomized": fields["n_randomized"], "outcomes": _as_list(fields["outcomes"]),
                    "direction": fields["direction"],
                    "_machine_effects": [
                        {"outcome": e["outcome"], "measure": e["measure"], "value": e["value"], "ci_low": e["ci_low"],
                         "ci_high": e["ci_high"], "p": e["p_value"]} for e in effects
                    ],
                })
    if db["extraction_evidence"].exists():
        for r in db.query(f"select * from extraction_evidence where pmid in (select pmid from studies where {where})", params):
            if r["pmid"] in out:
                out[r["pmid"]].setdefault("_reasons", {}).setdefault(r["field"], []).append(describe_reason(r))
    for e in db.query("select * from effects order by id"):
        if e["pmid"] in out and "_machine_effects" not in out[e["pmid"]]:
            out[e["pmid"]]["effects"].append(
                {"outcome": e["outcome"], "measure": e["measure"], "value": e["value"],
                 "ci_low": e["ci_low"], "ci_high": e["ci_high"], "p": e["p_value"]}
            )
    for pred in out.values():
        if "_machine_effects" in pred:
            pred["effects"] = pred.pop("_machine_effects")
    return out


# --- harms -------------------------------------------------------------------------------


def load_harms_gold(path: str | os.PathLike[str]) -> dict[str, dict]:
    """A harms gold file: {PMID: {harms_reported: bool, harms: [{event, affected, ...}]}}."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read a JSON gold file: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a harms gold file is a JSON object of PMID -> record")
    gold = {k: v for k, v in data.items() if not k.startswith("_")}
    for pmid, rec in gold.items():
        if not isinstance(rec, dict) or not isinstance(rec.get("harms_reported"), bool) or not isinstance(rec.get("harms"), list):
            raise ValueError(f"{path}: gold record {pmid} needs harms_reported (true/false) and harms (a list)")
    if not gold:
        raise ValueError(f"{path}: gold file has no records")
    return gold


def harms_predictions_from_db(db: "sqlite_utils.Database", pmids: list[str]) -> dict[str, dict]:
    """The stored harms, in the gold file's shape."""
    out: dict[str, dict] = {}
    if not db["harms_reporting"].exists():
        return out
    marks = ", ".join("?" * len(pmids))
    for r in db.query(f"select pmid, state from harms_reporting where pmid in ({marks})", pmids):
        out[r["pmid"]] = {"harms_reported": r["state"] != "not_reported", "harms": []}
    for h in db.query(f"select * from harms where pmid in ({marks}) order by id", pmids):
        if h["pmid"] in out:
            out[h["pmid"]]["harms"].append({k: h[k] for k in ("event", "affected", "denominator", "percent", "severity", "arm", "quote")})
    return out


def score_harms(db: "sqlite_utils.Database", gold: dict[str, dict]) -> dict:
    from . import harms

    return harms.score(gold, harms_predictions_from_db(db, list(gold)))


def format_harms_report(result: dict, *, show_errors: bool = False) -> str:
    def share(x: object) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    lines = [
        f"Scored {result['records']} gold records (harms).",
        f"harms reported (yes/no) accuracy  {share(result['harms_reported_accuracy'])}",
        f"harms recall     {share(result['recall'])}  ({result['matched']}/{result['gold']} gold harms matched)",
        f"harms precision  {share(result['precision'])}  ({result['matched']}/{result['predicted']} predicted harms matched)",
        f"severity agrees  {share(result['severity_accuracy'])}  (matched harms)",
        f"arm agrees       {share(result['arm_accuracy'])}  (matched harms)",
    ]
    if show_errors:
        for key in ("missed", "spurious", "errors"):
            for item in result.get(key) or []:
                lines.append(f"    {key}: {item}")
    return "\n".join(lines) + "\n"
