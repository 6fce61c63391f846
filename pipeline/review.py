"""What a person should check first, and the sheet and file to check it with.

The queue puts first the studies the article's verdicts rest on, ordered by how
much a verdict would move if the study's values were wrong: the study's share
of the weight (`claims.weight`: design, sham control) among the counted studies
behind a claim, its largest over the claims it bears on. A study that alone
carries a verdict scores 1.0; one of four equal trials 0.25. Then studies with
low-confidence values (a default applied, a weak cue), most such values first;
then every other study not yet checked, newest first. Checked studies leave
the queue; a study whose check went stale (PubMed revised its abstract) comes
back into it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import sqlite_utils

from . import checked
from .provenance import FIELDS as REASON_FIELDS
from .text import sentences

TIERS = {1: "behind a claim's verdict", 2: "low-confidence values", 3: "not yet checked"}


@dataclass(frozen=True)
class ReviewItem:
    pmid: str
    tier: int  # 1 behind a verdict, 2 low confidence, 3 other unchecked
    score: float  # tier 1: largest share of a verdict's weight; tier 2: low-confidence values
    why: str  # in words, e.g. "carries 3.0 of 9.0 weight behind trigger-point-pain (33%); behind 3 claims"
    title: str
    stale: bool = False  # checked once, against an abstract PubMed has since revised


def _behind_claims(db: sqlite_utils.Database) -> dict[str, list[tuple[str, float, float, int]]]:
    """PMID → [(claim, weight, claim's total weight, studies behind it)] over the counted evidence."""
    if not db["claim_evidence"].exists():
        return {}
    rows = list(db.query(
        "select e.claim_id, e.pmid, e.weight from claim_evidence e join studies s on s.pmid = e.pmid "
        # counted evidence: on-topic studies, and for a background claim the observational studies it rests on
        "where e.counted = 1 order by e.claim_id"
    ))
    totals: dict[str, list[float]] = {}
    for r in rows:
        totals.setdefault(r["claim_id"], []).append(r["weight"] or 0.0)
    out: dict[str, list[tuple[str, float, float, int]]] = {}
    for r in rows:
        weights = totals[r["claim_id"]]
        out.setdefault(r["pmid"], []).append((r["claim_id"], r["weight"] or 0.0, sum(weights), len(weights)))
    return out


def queue(db: sqlite_utils.Database) -> list[ReviewItem]:
    """Unchecked (or stale) extracted studies, in the order a person should check them."""
    checked.ensure_tables(db)
    done = checked.checked_pmids(db) - checked.stale_pmids(db)
    stale = checked.stale_pmids(db)
    studies = {r["pmid"]: r for r in db.query(
        "select pmid, title, on_topic, first_seen_at from studies where extractor_version is not null")}
    items: list[ReviewItem] = []
    taken: set[str] = set()

    behind = _behind_claims(db)
    ranked = []
    for pmid, claims in behind.items():
        if pmid in done or pmid not in studies:
            continue
        claim, w, total, n = max(claims, key=lambda c: (c[1] / c[2] if c[2] else 0.0, c[0]))
        share = w / total if total else 0.0
        why = (f"carries {w:g} of {total:g} weight behind {claim} ({share:.0%}, {n} stud{'y' if n == 1 else 'ies'})"
               + (f"; behind {len(claims)} claims" if len(claims) > 1 else ""))
        ranked.append((-share, -len(claims), pmid, why, share))
    for _, _, pmid, why, share in sorted(ranked):
        items.append(ReviewItem(pmid, 1, round(share, 4), _stale_note(why, pmid in stale), studies[pmid]["title"], pmid in stale))
        taken.add(pmid)

    low: dict[str, list[str]] = {}
    for r in db.query("select pmid, field, rule from extraction_evidence where confidence = 'low' order by pmid, field"):
        entry = f"{r['field']} ({r['rule']})"
        if entry not in low.setdefault(r["pmid"], []):
            low[r["pmid"]].append(entry)
    ranked2 = sorted(
        (-(studies[p]["on_topic"] or 0), -len(v), p) for p, v in low.items()
        if p in studies and p not in done and p not in taken
    )
    for _, _, pmid in ranked2:
        why = f"low confidence: {', '.join(low[pmid])}"
        items.append(ReviewItem(pmid, 2, float(len(low[pmid])), _stale_note(why, pmid in stale), studies[pmid]["title"], pmid in stale))
        taken.add(pmid)

    rest = [s for p, s in studies.items() if p not in done and p not in taken]
    for s in sorted(rest, key=lambda s: (s["first_seen_at"] or "", s["pmid"]), reverse=True):
        why = f"not yet checked; first seen {(s['first_seen_at'] or '?')[:10]}"
        items.append(ReviewItem(s["pmid"], 3, 0.0, _stale_note(why, s["pmid"] in stale), s["title"], s["pmid"] in stale))
    return items


def _stale_note(why: str, stale: bool) -> str:
    return f"check is stale (abstract revised since checked): confirm it; {why}" if stale else why


def progress(db: sqlite_utils.Database) -> str:
    """'12 of 19 studies behind the claims checked' (a stale check does not count)."""
    checked.ensure_tables(db)
    behind = set(_behind_claims(db))
    if not behind:
        return "no study is behind the claims yet"
    done = len(behind & (checked.checked_pmids(db) - checked.stale_pmids(db)))
    return f"{done} of {len(behind)} stud{'y' if len(behind) == 1 else 'ies'} behind the claims checked"


# --- one study ----------------------------------------------------------------------------


def _sentence_of(study: dict, r: dict) -> str | None:
    """The whole sentence a reason's quote stands in (the title, for a quote from it)."""
    if not r.get("quote"):
        return None
    if r.get("where_") == "title":
        return study["title"]
    if r.get("where_") != "abstract" or r.get("start") is None:
        return r["quote"]
    for s in sentences(study["abstract"] or ""):
        if s.start <= r["start"] < s.end:
            return s.text
    return r["quote"]


def _rules_line(reasons: list[dict]) -> str:
    if not reasons:
        return "no rule recorded"
    parts = []
    for r in reasons:
        value = r["value"] if r["value"] != "" else "(empty)"
        parts.append(f"{value}: {r['rule']}" + (" [low confidence]" if r["confidence"] == "low" else ""))
    return "; ".join(parts)


def _effect_line(e: dict) -> str:
    ci = f" [{e['ci_low']:g}, {e['ci_high']:g}]" if e.get("ci_low") is not None and e.get("ci_high") is not None else ""
    p = f" p{e['p_value']}" if e.get("p_value") else ""
    extra = ", ".join(x for x in (e.get("time_point"), e.get("level")) if x)
    return f"{e['outcome']} {e['measure']} {e['value']:g}{ci}{p}" + (f" ({extra})" if extra else "")


def _study(db: sqlite_utils.Database, pmid: str) -> dict:
    rows = list(db.query("select * from studies where pmid = ?", [pmid]))
    if not rows:
        raise KeyError(f"PMID {pmid} is not in the database")
    return rows[0]


def _study_values(db: sqlite_utils.Database, pmid: str) -> tuple[dict, dict[str, dict], dict[str, list[dict]]]:
    """A study's row, its checks by field, and the rules' reasons by field."""
    checked.ensure_tables(db)
    checks = {r["field"]: r for r in db.query("select * from checked_values where pmid = ?", [pmid])}
    reasons: dict[str, list[dict]] = {}
    for r in db.query("select * from extraction_evidence where pmid = ? order by rowid", [pmid]):
        reasons.setdefault(r["field"], []).append(r)
    return _study(db, pmid), checks, reasons


def sheet(db: sqlite_utils.Database, pmid: str) -> str:
    """The abstract, then each value shown with where it comes from (rule and sentence,
    or who checked it), then the effects: what `evidence review PMID` prints."""
    s, checks, reasons = _study_values(db, pmid)
    sha = checked.abstract_sha(s["abstract"])
    where = ", ".join(str(x) for x in (s.get("journal"), s.get("year")) if x)
    lines = [f"PMID {pmid}: {s['title']}" + (f" ({where})" if where else ""), _check_state(checks, sha),
             f"abstract_sha: {sha}", "", s["abstract"] or "(no abstract)", "", "Values:"]
    machine = checked.machine_values(db, pmid)
    machine_fields = machine[0] if machine else {}
    for name in checked.FIELDS:
        shown = s.get(name)
        c = checks.get(name)
        lines.append(f"  {name} = {_show(name, shown)}")
        if c and c["applied"]:
            lines.append(f"      checked by {c['who']} on {c['checked_on']}" + (f": {c['note']}" if c["note"] else ""))
            if not c["agrees"]:
                lines.append(f"      rules say {_show(name, machine_fields.get(name))} ({_rules_line(reasons.get(name, []))})")
        else:
            if c and c["stale"]:
                lines.append(f"      STALE check by {c['who']} on {c['checked_on']} said {c['value']}: confirm or correct it")
            if name in REASON_FIELDS:
                lines.append(f"      rules: {_rules_line(reasons.get(name, []))}")
                for sentence in dict.fromkeys(x for x in (_sentence_of(s, r) for r in reasons.get(name, [])) if x):
                    lines.append(f"      \"{sentence}\"")
            else:
                lines.append("      rules: written from the values above")
    effects = list(db.query("select * from effects where pmid = ? order by sentence_start, value_start, id", [pmid]))
    lines += ["", f"Effects ({len(effects)}):" if effects else "Effects: none read from the abstract"]
    for i, e in enumerate(effects, 1):
        lines.append(f"  {i}. {_effect_line(e)}; as written: {e['value_text']!r}")
        lines.append(f"      \"{e['sentence']}\"")
    effect_checks = [c for f, c in checks.items() if f.startswith("effects[")]
    for c in effect_checks:
        state = "applied" if c["applied"] else "STALE" if c["stale"] else "not applied"
        spec = json.loads(c["value"])
        lines.append(f"  check {c['field']}: {c['action']} {spec['select'].get('value', spec['values'].get('value'))} "
                     f"({state}; by {c['who']} on {c['checked_on']}" + (f": {c['note']}" if c["note"] else "") + ")")
    return "\n".join(lines) + "\n"


def _check_state(checks: dict[str, dict], sha: str) -> str:
    if not checks:
        return "Not checked yet."
    c = next(iter(checks.values()))
    if any(x["stale"] for x in checks.values()):
        return (f"STALE: checked by {c['who']} on {c['checked_on']} against another version of the abstract "
                f"({c['file']}); shown as unchecked until a person confirms it (set abstract_sha: {sha}).")
    n = len(checks)
    return f"Checked by {c['who']} on {c['checked_on']} ({c['file']}: {n} value{'s' if n != 1 else ''})."


def _show(name: str, value: object) -> str:
    if name in checked.LIST_VOCABS:
        items = json.loads(value) if isinstance(value, str) else (value or [])
        return ", ".join(items) if items else "(none)"
    if name == "on_topic":
        return "(not extracted)" if value is None else "yes" if value else "no"
    return "null" if value is None else str(value)


def _yaml(value: object) -> str:
    """A value in YAML flow style (JSON is YAML)."""
    return json.dumps(value, ensure_ascii=False)


def template(db: sqlite_utils.Database, pmid: str, *, today: date | None = None) -> str:
    """A correction file for one study, pre-filled (the person's earlier values where a
    check exists, else the machine's), each value commented with its rule and words."""
    s, checks, reasons = _study_values(db, pmid)
    machine = checked.machine_values(db, pmid)
    machine_fields, machine_effects = machine if machine else ({}, [])
    who = next((c["who"] for c in checks.values()), "")
    out = [
        f"# Checked values for PMID {pmid}: {s['title']}",
        "# Every field left under `fields` is marked checked by you: delete those you did not check,",
        "# correct those that are wrong (vocabularies: pipeline/vocab.py) and add a note where it helps.",
        "# Effects: confirm, correct (set: the new values), reject or add; see the examples below.",
        f"pmid: {pmid}",
        f"checked_by: {_yaml(who)}  # your name",
        f"checked_on: {(today or date.today()).isoformat()}",
        f"abstract_sha: {_yaml(checked.abstract_sha(s['abstract']))}  # the abstract you read: leave it as it is",
        "fields:",
    ]
    for name in checked.FIELDS:
        c = checks.get(name)
        if c:
            value = _from_check(name, c["value"])
        else:
            value = _from_column(name, machine_fields.get(name))
        for r in reasons.get(name, []):
            quote = f" on {r['quote'][:100]!r}" if r.get("quote") else ""
            out.append(f"  # rules: {r['value'] or '(empty)'} by {r['rule']} ({r['confidence']}){quote}")
        if c:
            out.append(f"  # checked by {c['who']} on {c['checked_on']}; the rules give "
                       f"{_yaml(_from_column(name, machine_fields.get(name)))}")
        note = f", note: {_yaml(c['note'])}" if c and c["note"] else ""
        out.append(f"  {name}: {{value: {_yaml(value)}{note}}}")
    out.append("effects:")
    for i, e in enumerate(machine_effects, 1):
        out.append(f"  # {i}. {_effect_line(e)}: {e['sentence'][:160]!r}")
        out.append(f"  #- {{action: confirm, sentence: {_yaml(e['value_text'])}, value: {e['value']:g}}}")
    for c in (c for f, c in sorted(checks.items()) if f.startswith("effects[")):
        spec = json.loads(c["value"])
        item = {"action": c["action"], **spec["select"]}
        if c["action"] == "add":
            item.update(spec["values"])
        elif spec["values"]:
            item["set"] = spec["values"]
        if c["note"]:
            item["note"] = c["note"]
        out.append(f"  - {_yaml(item)}")
    out += [
        "  # Reject one the rules read wrongly:",
        "  #- {action: reject, sentence: \"words of its sentence\", value: 12.5, note: \"a baseline figure\"}",
        "  # Correct one (pick it by sentence and value; set only what changes):",
        "  #- {action: correct, sentence: \"words of its sentence\", value: -1.2, set: {ci_low: -2.0, measure: MD}}",
        "  # Add one the rules missed (the sentence verbatim):",
        "  #- {action: add, sentence: \"the whole sentence\", outcome: pain_intensity, measure: MD, value: -1.2,"
        " ci_low: -2.0, ci_high: -0.4, p: \"<0.01\", level: between_groups}",
    ]
    return "\n".join(out) + "\n"


def _from_check(name: str, value: str) -> object:
    if name in checked.LIST_VOCABS:
        return json.loads(value)
    if name == "on_topic":
        return value == "true"
    if name == "n_randomized":
        return int(value) if value else None
    return value


def _from_column(name: str, value: object) -> object:
    if name in checked.LIST_VOCABS:
        return json.loads(value) if isinstance(value, str) else list(value or [])
    if name == "on_topic":
        return None if value is None else bool(value)
    return value
