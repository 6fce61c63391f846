"""Harms in an abstract: the adverse events reported, how many had them, how severe
they were said to be, and which group they were in, kept apart from effects.

General rules for how abstracts report harms (the wordings are data with their
examples in rules/harms.yml, read through pipeline/rules.py):

- an event is a generic word ("adverse events", "side effects", "complications",
  "serious adverse events") or a named one ("soreness", "bruising",
  "pneumothorax"); pain or discomfort is the outcome, and counts as a harm only
  when tied to the needle ("post-needling pain") or inside a harm frame (people
  withdrawing "because of pain", adverse events "limited to discomfort");
- a negation cue reaches forward or backward to the events of its clause (a
  pseudo-negation such as "no difference in" outranks it; "but", ";" and
  ", and" end a clause; "other than" ends it and reopens the events after it);
  a negated event is a harm with nobody affected, severity "none";
- a count ("12 of 40", "13 participants", "(8%)", "(n = 3)", "Four adverse
  events") belongs to the nearest event of its clause, and the group named
  right after it (or else before it) is its arm; one harm per count;
- severity is only what is written: a severity word next to the event or said
  of it later in the clause, else "unstated";
- only sentences that report (not background, aims or methods), and only events
  the sentence says happened or did not (a negation, a count, a withdrawal,
  a list of events or a verb such as "occurred"): "adverse events were
  recorded" is a method, and side effects of the population's usual medication,
  "adverse childhood experiences" or how trials reported harms are not harms.

A study whose abstract says nothing about harms is "not reported", never
"none": `find` returns harms_reported False and no harms for it.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass

import sqlite_utils

from . import rules
from .rules import Hit, RuleSet
from .text import Sentence, sentences, to_float, word_number
from .version import EXTRACTOR_VERSION

SEVERITIES = ("none", "mild", "moderate", "serious", "unstated")
ARMS = ("needling", "comparator", "both")
STATES = {
    "not_reported": "the abstract says nothing about harms",
    "none_reported": "the abstract says no harms (or no harms of a kind) occurred, and reports none that did",
    "reported": "the abstract reports at least one harm that occurred",
}
# A negation reaches at most this many words to its event ("No participant in either group reported adverse events").
NEGATION_REACH = 8
# A severity word this close before an event is said of it ("Four mild adverse events").
SEVERITY_REACH = 3
_WORD = re.compile(r"[\w-]+")


@dataclass
class Harm:
    event: str  # lower-case, as written ("post-needling soreness", "serious adverse events")
    kind: str  # the event noun it is grouped by in summaries ("soreness", "adverse events")
    affected: int | None  # people (or events, where only those are counted); 0 for a negated event
    denominator: int | None
    percent: float | None
    severity: str  # see SEVERITIES
    arm: str | None  # see ARMS
    quote: str  # the words read, from the event to its count, within the sentence
    quote_start: int  # offsets of the quote in the abstract
    quote_end: int
    sentence: str
    sentence_start: int
    sentence_end: int
    rule: str  # the event's rule id
    count_rule: str | None  # the count's rule id, if any
    confidence: str  # high (a negation or a count), low (a verb or a frame only)

    def as_record(self) -> dict:
        """The harm in the gold file's form."""
        return {
            "event": self.event, "affected": self.affected, "denominator": self.denominator,
            "percent": self.percent, "severity": self.severity, "arm": self.arm, "quote": self.quote,
        }


@dataclass
class _Event:
    hit: Hit
    start: int
    end: int
    name: str
    kind: str
    generic: bool
    framed: bool = False  # read inside a withdrawal, a list of events or after "other than"
    listed: tuple[int, int] | None = None  # the list of events it is in ("mainly drowsiness and dry mouth,")


# --- finding ---------------------------------------------------------------------------------


def find(abstract: str, ruleset: RuleSet | None = None) -> tuple[bool, list[Harm]]:
    """Whether the abstract reports on harms at all, and the harms it reports."""
    rs = ruleset or rules.default()
    found: list[Harm] = []
    for s in sentences(abstract or ""):
        if s.is_preamble:
            continue  # "adverse events were recorded at each visit" says what was planned
        found += _sentence_harms(rs, s)
    found = _tidy(found)
    return bool(found), found


def record(reported: bool, harms: list[Harm]) -> dict:
    """One study's prediction in the gold file's form, for `score`."""
    return {"harms_reported": reported, "harms": [h.as_record() for h in harms]}


def state(reported: bool, harms: list[Harm]) -> str:
    """not_reported, none_reported or reported (see STATES)."""
    if not reported or not harms:
        return "not_reported"
    return "none_reported" if all(h.severity == "none" and not h.affected for h in harms) else "reported"


def _sentence_harms(rs: RuleSet, s: Sentence) -> list[Harm]:
    text = s.text
    # Most sentences name no event and have no harms label, and a symptom ("pain") is an
    # event only inside a frame, which without an event only a withdrawal or an "other
    # than" opens: nothing below can find a harm in such a sentence, so its other harm
    # rules are not read.
    if not rs.find("harm_event", text) and not _section_event(rs, s) and not (
        rs.find("harm_frame_event", text) and (rs.find("harm_withdrawal", text) or _has_exception(rs, text))
    ):
        return []
    masks = [(h.start, h.end) for h in rs.find("harm_not", text)]
    stops = rs.find("harm_terminate", text)
    reports = rs.find("harm_report", text)
    cuts = sorted({0, len(text)} | {h.start for h in stops} | {h.end for h in stops})
    exceptions = [h for h in stops if h.group("exception")]

    def clause(pos: int) -> tuple[int, int]:
        lo = max(c for c in cuts if c <= pos)
        return lo, min(c for c in cuts if c > pos) if pos < len(text) else len(text)

    def masked(a: int, b: int) -> bool:
        return any(a < mb and b > ma for ma, mb in masks)

    events = [_event(h) for h in rs.find("harm_event", text) if not masked(h.start, h.end)]
    # A list cue ("mostly", "the most frequent") speaks of harms only beside a harm word.
    if not any(e.generic for e in events):
        reports = [r for r in reports if not r.group("list")]
    frames, lists = _frames(rs, text, reports, exceptions, clause)
    for h in rs.find("harm_frame_event", text):
        if any(a <= h.start < b for a, b in frames) and not any(h.start < e.end and h.end > e.start for e in events):
            events.append(_event(h, framed=True))
    for e in events:
        e.framed = e.framed or any(a <= e.start < b for a, b in frames)
        e.listed = next(((a, b) for a, b in lists if a <= e.start < b), None)
    events.sort(key=lambda e: e.start)
    section_event = _section_event(rs, s) if not events else None
    if not events and not section_event:
        return []

    counts = rs.find("harm_count", text)
    negations = [h for h in rs.find("harm_negation", text) if not h.group("pseudo")]
    # "No difference in adverse events between groups" is not a negation, and says events occurred.
    pseudo = [h for h in rs.find("harm_negation", text) if h.group("pseudo")]
    severities = rs.find("harm_severity", text)
    arms = rs.find("harm_arm", text)
    both_in_sentence = next((h for h in arms if h.group("both")), None)
    contrasts = rs.find("harm_contrast", text)

    if section_event:  # "ADVERSE EVENTS: None were reported." — the label names the event
        return _section_harms(s, section_event, counts, negations, severities, arms, both_in_sentence)

    def negated(e: _Event) -> bool:
        lo, hi = clause(e.start)
        for n in negations:
            if n.group("forward") and lo <= n.start and n.end <= e.start and _words(text[n.end:e.start]) <= NEGATION_REACH:
                return True
            if n.group("backward") and e.end <= n.start < hi and _words(text[e.end:n.start]) <= NEGATION_REACH:
                return True
        return False

    # Each count to the nearest event of its clause (the preceding one on a tie).
    owned: dict[int, list[Hit]] = defaultdict(list)
    for c in counts:
        lo, hi = clause(c.start)
        # An event in a list takes only a count inside that list: "Adverse events, mainly
        # drowsiness and dry mouth, occurred in 8%" counts the adverse events.
        near = [
            (_gap(c, e), e.start > c.start, i)
            for i, e in enumerate(events)
            if lo <= e.start < hi and (e.listed is None or e.listed[0] <= c.start < e.listed[1])
        ]
        if near:
            owned[min(near)[2]].append(c)

    out: list[Harm] = []
    for i, e in enumerate(events):
        lo, hi = clause(e.start)
        neg = negated(e)
        # "No adverse events other than mild soreness": nothing but the soreness happened.
        if neg and e.generic and any(x.start >= e.end and x.start == hi for x in exceptions):
            continue
        # A list cue speaks for the whole sentence ("Dry mouth and somnolence were the most frequent adverse events").
        reported = neg or owned[i] or e.framed or any(
            (r.group("verb") and lo <= r.start < hi) or r.group("list") for r in reports
        ) or any(lo <= p.start < hi for p in pseudo)
        if not reported:
            continue  # a mention, not a report ("adverse events were recorded", "post-injection soreness fared better")
        severity = "none" if neg else _severity(e, severities, events, lo, hi, text)
        if neg:
            none_of = next((c for c in owned[i] if c.group("none")), None)
            denominator = _int(none_of.group("denominator")) if none_of else None
            arm = _arm_in(arms, lo, hi) or _arm_of(both_in_sentence)
            out.append(_harm(s, e, 0, denominator, None, severity, arm, None, e.start, e.end, "high"))
            continue
        if not owned[i]:
            arm = _arm_in(arms, *(e.listed or (lo, hi))) or _arm_of(both_in_sentence)
            out.append(_harm(s, e, None, None, None, severity, arm, None, e.start, e.end, "low"))
            continue
        mine = sorted(owned[i], key=lambda c: c.start)
        previous_arm = None
        for k, c in enumerate(mine):
            after_limit = mine[k + 1].start if k + 1 < len(mine) else hi
            before_limit = mine[k - 1].end if k else lo
            arm = (
                # The group named in or right after the count ("3 of 23 injected patients", "17% after sham").
                _arm_of(next((a for a in arms if c.start <= a.start < after_limit and a.start < hi), None))
                or _arm_of(next((a for a in reversed(arms) if before_limit <= a.start and a.end <= c.start), None))
                or _arm_of(both_in_sentence)
            )
            # "after needling (38% vs 17%)": the count after a contrast is of the other group.
            if arm is None and previous_arm in ("needling", "comparator") and any(
                mine[k - 1].end <= v.start < c.start for v in contrasts
            ):
                arm = "comparator" if previous_arm == "needling" else "needling"
            previous_arm = arm
            affected = 0 if c.group("none") else _int(c.group("affected"))
            percent = to_float(c.group("percent")) if c.group("percent") else None
            a, b = min(e.start, c.start), max(e.end, c.end)
            out.append(_harm(s, e, affected, _int(c.group("denominator")), percent, severity, arm, c.rule.id, a, b, "high"))
    return out


def _has_exception(rs: RuleSet, text: str) -> bool:
    """Whether an "other than" (a harm_terminate hit with an exception) is in `text`; the
    label's rules (most of which end clauses) are read only where a rule that gives
    exceptions matches at all."""
    if not any(r.regex.search(text) for r in rs.of("harm_terminate") if "exception" in r.regex.groupindex):
        return False
    return any(h.group("exception") for h in rs.find("harm_terminate", text))


def _event(h: Hit, framed: bool = False) -> _Event:
    noun = h.group("noun")
    if noun is not None:  # a generic word: its name is the category and the noun, not "or unexpected"
        category = h.group("category")
        name = f"{category} {noun}" if category else noun
        kind = name
    else:
        name = h.group("event") or h.match.group(0)
        kind = name
    name = " ".join(name.lower().split())
    return _Event(h, h.start, h.end, name, _kind(" ".join(kind.lower().split())), noun is not None, framed)


def _kind(name: str) -> str:
    """The event noun a summary groups by: "post-needling soreness" → "soreness"."""
    name = re.sub(r"^(?:post[- ]?\w+|[\w-]+-related|local|transient local|muscle)\s+", "", name)
    name = re.sub(r"\s+(?:at|around|over|near|during|after|following)\s+.*$", "", name)
    name = re.sub(r"^(?:severe|major|grave|life-threatening)\s+", "serious ", name)
    name = re.sub(r"\b(adverse|side|untoward|undesirable|unwanted)[\s-]+(effects?|reactions?|events?|outcomes?)$", r"adverse events", name)
    return {"bruise": "bruising", "bruises": "bruising", "hematoma": "haematoma", "hematomas": "haematoma",
            "haematomas": "haematoma", "complication": "complications", "side-effects": "adverse events"}.get(name, name)


def _frames(rs: RuleSet, text: str, reports: list[Hit], exceptions: list[Hit], clause) -> tuple[list, list]:
    """Stretches whose symptoms are harms (after a withdrawal's reason, a list cue, or
    "other than"), and the lists of events among them (a list ends at a comma)."""
    out = [(h.end, clause(h.end)[1]) for h in rs.find("harm_withdrawal", text)]
    out += [(h.end, clause(h.end)[1]) for h in exceptions]
    lists = []
    for h in reports:
        if h.group("list"):
            end = clause(h.end)[1]
            comma = text.find(",", h.end, end)
            lists.append((h.end, comma if comma > 0 else end))
    return out + lists, lists


def _section_event(rs: RuleSet, s: Sentence) -> Hit | None:
    """The event a section label names ("ADVERSE EVENTS:", "Safety and adverse effects:")."""
    if not s.section:
        return None
    hits = [h for h in rs.find("harm_event", s.section) if h.group("noun")]
    return hits[0] if hits else None


def _section_harms(s, label: Hit, counts, negations, severities, arms, both) -> list[Harm]:
    noun, category = label.group("noun"), label.group("category")
    name = " ".join((f"{category} {noun}" if category else noun).lower().split())
    e = _Event(label, 0, 0, name, _kind(name), True)
    end = len(s.text)
    if any(n.group("forward") or n.group("backward") for n in negations):
        return [_harm(s, e, 0, None, None, "none", _arm_in(arms, 0, end), None, 0, end, "high")]
    severity = next((_severity_of(h) for h in severities), "unstated")
    return [
        _harm(s, e, 0 if c.group("none") else _int(c.group("affected")), _int(c.group("denominator")),
              to_float(c.group("percent")) if c.group("percent") else None, severity,
              _arm_of(next((a for a in arms if a.start >= c.end), None)) or _arm_of(both), c.rule.id, 0, end, "low")
        for c in counts
    ]


def _severity(e: _Event, severities: list[Hit], events: list[_Event], lo: int, hi: int, text: str) -> str:
    """What the text says of this event's severity: a word just before it or inside it, or said of it later in the clause."""
    for h in severities:
        if e.start <= h.start < e.end:  # "serious adverse events"
            return _severity_of(h)
    before = [h for h in severities if lo <= h.start and h.end <= e.start and _words(text[h.end:e.start]) < SEVERITY_REACH]
    if before:
        return _severity_of(before[-1])
    later = [e2.start for e2 in events if e2.start > e.end]
    for h in severities:
        if e.end <= h.start < hi and not any(0 <= s2 - h.end and _words(text[h.end:s2]) < SEVERITY_REACH for s2 in later):
            return _severity_of(h)
    return "unstated"


def _severity_of(h: Hit) -> str:
    return next(name for name in ("serious", "moderate", "mild") if h.group(name))


def _arm_of(h: Hit | None) -> str | None:
    return None if h is None else next(name for name in ARMS if h.group(name))


def _arm_in(arms: list[Hit], lo: int, hi: int) -> str | None:
    return _arm_of(next((a for a in arms if lo <= a.start < hi), None))


def _gap(c: Hit, e: _Event) -> int:
    return max(e.start - c.end, c.start - e.end, 0)


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    t = " ".join(text.lower().split())
    if t.isdigit():
        return int(t)
    if t == "a single":
        return 1
    return word_number(t)


def _harm(s: Sentence, e: _Event, affected, denominator, percent, severity, arm, count_rule, a, b, confidence) -> Harm:
    return Harm(
        event=e.name, kind=e.kind, affected=affected, denominator=denominator, percent=percent, severity=severity,
        arm=arm, quote=s.text[a:b], quote_start=s.start + a, quote_end=s.start + b, sentence=s.text,
        sentence_start=s.start, sentence_end=s.end, rule=e.hit.rule.id, count_rule=count_rule, confidence=confidence,
    )


def _tidy(found: list[Harm]) -> list[Harm]:
    """Across the abstract: a generic statement without a count beside or after reported
    harms describes them ("all adverse events were mild", "this serious adverse event
    resolved") and lends them its severity; an event without a count beside the same event
    with one is the same harm; exact repeats go."""
    out: list[Harm] = []
    for h in found:
        bare = h.count_rule is None and h.severity != "none" and h.rule == "harm.event.generic"
        described = [o for o in found if o is not h and _occurred(o)
                     and (o.rule != "harm.event.generic" or o.count_rule is not None)
                     and (o.sentence_start < h.sentence_start or o.sentence_start == h.sentence_start)]
        if bare and described:
            if h.severity != "unstated":
                for o in described:
                    if o.severity == "unstated":
                        o.severity = h.severity
            continue
        out.append(h)
    counted = {h.kind for h in out if h.count_rule is not None}
    kept, seen = [], set()
    for h in out:
        if h.count_rule is None and h.severity != "none" and h.kind in counted:
            continue
        key = (h.kind, h.affected, h.denominator, h.percent, h.severity, h.arm)
        if key not in seen:
            seen.add(key)
            kept.append(h)
    return kept


def _occurred(h: Harm) -> bool:
    """A harm that happened (not "no adverse events")."""
    return not (h.severity == "none" and not h.affected)


# --- the database ----------------------------------------------------------------------------


def ensure_table(db: sqlite_utils.Database) -> None:
    """Create the `harms` and `harms_reporting` tables and their indexes; harmless to repeat."""
    db.table("harms").create(
        {
            "id": int,
            "pmid": str,
            "event": str,  # as written, lower-case
            "kind": str,  # the event noun summaries group by
            "affected": int,  # 0 for "no adverse events"; null when no count is written
            "denominator": int,
            "percent": float,
            "severity": str,  # none, mild, moderate, serious, unstated
            "arm": str,  # needling, comparator, both, or null
            "quote": str,
            "quote_start": int,  # offsets of the quote in studies.abstract
            "quote_end": int,
            "sentence": str,
            "sentence_start": int,
            "sentence_end": int,
            "rule": str,
            "count_rule": str,
            "confidence": str,
            "rules_version": str,
        },
        pk="id",
        foreign_keys=[("pmid", "studies", "pmid")],
        if_not_exists=True,
    )
    db.table("harms").create_index(["pmid"], if_not_exists=True)
    db.table("harms").create_index(["kind"], if_not_exists=True)
    db.table("harms_reporting").create(
        {"pmid": str, "state": str, "harms": int, "rules_version": str},
        pk="pmid",
        foreign_keys=[("pmid", "studies", "pmid")],
        if_not_exists=True,
    )


_COLUMNS = (
    "event", "kind", "affected", "denominator", "percent", "severity", "arm", "quote", "quote_start", "quote_end",
    "sentence", "sentence_start", "sentence_end", "rule", "count_rule", "confidence",
)


def save(db: sqlite_utils.Database, items: list[tuple[str, bool, list[Harm]]]) -> None:
    """Replace each study's harms and reporting state, in one transaction."""
    ensure_table(db)
    if not items:
        return
    with db.conn:
        write(db, items)


def write(db: sqlite_utils.Database, items: list[tuple[str, bool, list[Harm]]]) -> None:
    """Replace each study's harms and reporting state; the caller holds the transaction
    (the extraction is stored with its harms, all or nothing)."""
    # The extractor's version (code, rule files and the topic's words, its drug list
    # among them), not the rule files' hash alone: every input that read these harms.
    version = EXTRACTOR_VERSION
    pmids = [pmid for pmid, _, _ in items]
    for start in range(0, len(pmids), 500):
        chunk = pmids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        db.conn.execute(f"delete from harms where pmid in ({marks})", chunk)
        db.conn.execute(f"delete from harms_reporting where pmid in ({marks})", chunk)
    db.conn.executemany(
        f"insert into harms (pmid, {', '.join(_COLUMNS)}, rules_version) values (?, {', '.join('?' * len(_COLUMNS))}, ?)",
        [(pmid, *(getattr(h, c) for c in _COLUMNS), version) for pmid, _, found in items for h in found],
    )
    db.conn.executemany(
        "insert into harms_reporting (pmid, state, harms, rules_version) values (?, ?, ?, ?)",
        [(pmid, state(reported, found), len(found), version) for pmid, reported, found in items],
    )


def summarise(db: sqlite_utils.Database, pmids: list[str]) -> dict:
    """What a set of studies says about harms: how many report them at all, how many
    report none, which events and how often, and any serious event that occurred."""
    ensure_table(db)
    wanted = list(dict.fromkeys(pmids))
    states: dict[str, str] = {}
    rows: list[dict] = []
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        states.update({r["pmid"]: r["state"] for r in db.query(f"select pmid, state from harms_reporting where pmid in ({marks})", chunk)})
        rows += list(db.query(f"select * from harms where pmid in ({marks}) order by pmid, quote_start", chunk))
    by_state: dict[str, list[str]] = {name: [] for name in STATES}
    for pmid in wanted:
        by_state[states.get(pmid, "not_reported")].append(pmid)  # never extracted: nothing is known to be reported
    events: dict[str, dict] = {}
    for r in rows:
        if r["severity"] == "none" and not r["affected"]:
            continue
        e = events.setdefault(r["kind"], {"event": r["kind"], "studies": [], "mentions": 0, "affected": 0, "counted_in": 0})
        e["mentions"] += 1
        if r["pmid"] not in e["studies"]:
            e["studies"].append(r["pmid"])
        if r["affected"] is not None and r["arm"] != "comparator":
            e["affected"] += r["affected"]
            e["counted_in"] += 1
    serious = [
        {"pmid": r["pmid"], "event": r["event"], "affected": r["affected"], "arm": r["arm"], "quote": r["quote"]}
        for r in rows
        if r["severity"] == "serious" and r["affected"] != 0
    ]
    no_serious = sorted({r["pmid"] for r in rows if r["severity"] == "none" and r["kind"].startswith("serious")})
    return {
        "studies": len(wanted),
        "reporting": len(by_state["reported"]) + len(by_state["none_reported"]),
        "not_reported": len(by_state["not_reported"]),
        "none_reported": len(by_state["none_reported"]),
        "with_events": len(by_state["reported"]),
        "events": sorted(
            ({**e, "studies": len(e["studies"]), "pmids": e["studies"]} for e in events.values()),
            key=lambda e: (-e["studies"], -e["mentions"], e["event"]),
        ),
        "serious": serious,
        "no_serious_reported": no_serious,
        "pmids": by_state,
    }


# --- scoring against a gold set --------------------------------------------------------------

# Words that say the same harm in other words ("side effects" is "adverse events").
_GENERIC_WORDS = {"adverse", "side", "effect", "event", "reaction", "complication", "untoward", "undesirable", "unwanted", "harm", "outcome"}
_SERIOUS_WORDS = {"serious", "severe", "major", "grave", "life-threatening"}
_FILLER = {"of", "the", "at", "a", "an", "and", "or", "in", "to", "post", "needling", "needle", "site", "related", "treatment",
           "local", "transient", "muscle", "during", "after", "following", "insertion", "dry", "injection", "procedure"}


def _event_words(event: str) -> frozenset[str]:
    words = set()
    for w in re.findall(r"[a-z]+", (event or "").lower()):
        w = w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "ous")) else w
        if w in _SERIOUS_WORDS:
            words.add("SERIOUS")
        elif w in _GENERIC_WORDS:
            words.add("AE")
        elif w not in _FILLER:
            words.add(w)
    return frozenset(words)


def _events_match(g: str, p: str) -> bool:
    gw, pw = _event_words(g), _event_words(p)
    return ("SERIOUS" in gw) == ("SERIOUS" in pw) and bool((gw - {"SERIOUS"}) & (pw - {"SERIOUS"}))


def _agree(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) < 1e-6  # type: ignore[arg-type]


def match(gold: list[dict], predicted: list[dict]) -> list[tuple[int, int]]:
    """Pair gold and predicted harms one-to-one: the event's words overlap and the number
    affected agrees; pairs whose event, percent and arm also agree are taken first."""
    candidates = sorted(
        ((g.get("event") != p.get("event"), not _agree(g.get("percent"), p.get("percent")), g.get("arm") != p.get("arm")), i, j)
        for i, g in enumerate(gold)
        for j, p in enumerate(predicted)
        if _events_match(g.get("event", ""), p.get("event", "")) and _agree(g.get("affected"), p.get("affected"))
    )
    used_g: set[int] = set()
    used_p: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i not in used_g and j not in used_p:
            used_g.add(i)
            used_p.add(j)
            pairs.append((i, j))
    return pairs


def _share(hits: int, total: int) -> float:
    return hits / total if total else 1.0


def score(gold: dict[str, dict], predicted: dict[str, dict]) -> dict:
    """Figures for every gold PMID: harms_reported accuracy, harm recall and precision,
    and agreement of severity, arm, denominator and percent on matched harms."""
    n_gold = n_pred = matched = 0
    reported_ok = 0
    agree = Counter()
    reporting_errors: list[tuple[str, bool, object]] = []
    severity_errors: list[tuple[str, dict, dict]] = []
    missed: list[tuple[str, dict]] = []
    spurious: list[tuple[str, dict]] = []
    missing = [pmid for pmid in gold if pmid not in predicted]
    for pmid, rec in gold.items():
        pred = predicted.get(pmid) or {}
        got = pred.get("harms_reported")
        if bool(got) == bool(rec["harms_reported"]) and got is not None:
            reported_ok += 1
        else:
            reporting_errors.append((pmid, rec["harms_reported"], got))
        g_harms, p_harms = rec.get("harms") or [], pred.get("harms") or []
        pairs = match(g_harms, p_harms)
        n_gold += len(g_harms)
        n_pred += len(p_harms)
        matched += len(pairs)
        for i, j in pairs:
            g, p = g_harms[i], p_harms[j]
            if g.get("severity") == p.get("severity"):
                agree["severity"] += 1
            else:
                severity_errors.append((pmid, g, p))
            agree["arm"] += g.get("arm") == p.get("arm")
            agree["denominator"] += _agree(g.get("denominator"), p.get("denominator"))
            agree["percent"] += _agree(g.get("percent"), p.get("percent"))
        used_g, used_p = {i for i, _ in pairs}, {j for _, j in pairs}
        missed += [(pmid, h) for i, h in enumerate(g_harms) if i not in used_g]
        spurious += [(pmid, h) for j, h in enumerate(p_harms) if j not in used_p]
    return {
        "records": len(gold),
        "missing": missing,
        "harms_reported_accuracy": _share(reported_ok, len(gold)),
        "gold": n_gold,
        "predicted": n_pred,
        "matched": matched,
        "recall": _share(matched, n_gold),
        "precision": _share(matched, n_pred),
        "severity_accuracy": agree["severity"] / matched if matched else None,
        "arm_accuracy": agree["arm"] / matched if matched else None,
        "denominator_agreement": agree["denominator"] / matched if matched else None,
        "percent_agreement": agree["percent"] / matched if matched else None,
        "reporting_errors": reporting_errors,
        "severity_errors": severity_errors,
        "missed": missed,
        "spurious": spurious,
    }


def as_dict(h: Harm) -> dict:
    """Every field of a harm, for JSON output."""
    return asdict(h)
