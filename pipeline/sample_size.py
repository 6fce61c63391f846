"""How many people a study randomised (or enrolled, without randomisation).

The wordings are data (rules/sample_size.yml, label `count`, each rule's role in
its id); what stays here is the order in which the roles are believed, which is
procedural: a number said to be randomised, then a count said once for every
group times the number of groups, then the groups' counts added up in the
sentence that allocates them, then the number enrolled. Counts that are not the
sample (screened, completed, "22 of 32", "49 women" in a breakdown) win where
they overlap the others and are never taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import rules
from .document import NOT_OWN
from .text import Sentence, word_number

if TYPE_CHECKING:  # extract.py imports this module
    from .document import Document
    from .extract import Why

ROLES = ("randomised", "each", "arm", "enrolled", "not_sample")
NOT_APPLICABLE = ("meta_analysis", "systematic_review", "narrative_review", "protocol")
# How many groups a trial had, where a count is given "per group" without it.
GROUP_COUNT = re.compile(r"\b(two|three|four|five|2|3|4|5)[\s-]+(?:arms?|groups?|armed)\b", re.I)
LARGEST = 100_000  # a count above this is a misreading (a year, a registry number)


@dataclass(frozen=True)
class Count:
    role: str
    n: int
    rule: str
    sentence: Sentence
    precedence: int = 0  # the rule's: which of two wordings in one sentence to believe
    k: int | None = None  # groups, for "three groups of 25"
    n2: int | None = None  # a second group enrolled with the first


def role_of(rule_id: str) -> str:
    """count.ROLE.name → ROLE (checked against ROLES)."""
    parts = rule_id.split(".")
    if len(parts) < 3 or parts[0] != "count" or parts[1] not in ROLES:
        raise rules.RuleError(f"sample-size rule {rule_id!r}: its id must be count.ROLE.name with ROLE one of {', '.join(ROLES)}")
    return parts[1]


def counts(ruleset: rules.RuleSet, s: Sentence) -> list[Count]:
    """The counts in one sentence, in text order, each with its role."""
    found = []
    for hit in ruleset.find("count", s.text):
        n = as_int(hit.group("n"))
        if n is None or not 0 < n <= LARGEST:
            continue
        found.append(Count(role_of(hit.rule.id), n, hit.rule.id, s, hit.rule.precedence,
                           as_int(hit.group("k")), as_int(hit.group("n2"))))
    return found


def sample_size(ruleset: rules.RuleSet, record: Document, sents: list[Sentence], design: str, *, why: Why) -> int | None:
    """Participants randomised (or enrolled, for a study without randomisation); records its reason."""
    if design in NOT_APPLICABLE:
        why.add("n_randomized", None, f"n.not-applicable-{design.replace('_', '-')}")
        return None
    if design == "case_report":
        why.add("n_randomized", 1, "n.case-report")
        return 1
    # the sentences about this study: not its background or its conclusion (document.NOT_OWN)
    own = [s for s in sents if not (s.section and NOT_OWN.search(s.section))] or sents
    # Methods before results: a results sentence's counts are more often responders.
    own.sort(key=lambda s: 1 if s.is_result else 0)
    allocating = [s for s in own if ruleset.find("allocation", s.text)]
    found = {id(s): counts(ruleset, s) for s in own}

    def give(n: int, rule: str, s: Sentence, confidence: str = "high") -> int:
        why.add("n_randomized", n, rule, s.text, confidence=confidence)
        return n

    ordered = allocating + [s for s in own if s not in allocating]
    for s in ordered:
        for c in found[id(s)]:
            if c.role == "randomised":
                return give(c.n, c.rule, s)
    unsure = None  # a count per group whose number of groups is not said
    for s in ordered:
        for c in found[id(s)]:
            if c.role == "each":
                k = c.k or _groups(record, s)
                if k:
                    return give(c.n * k, c.rule, s)
                unsure = unsure or c
    for s in allocating:
        arms = [c for c in found[id(s)] if c.role == "arm"]
        if len(arms) >= 2:
            return give(sum(c.n for c in arms), "n.groups-added-up", s)
    for s in own:
        # within a sentence, the strongest wording first ("examined 40 patients" over "Two physiotherapists")
        for c in sorted(found[id(s)], key=lambda c: -c.precedence):
            if c.role in ("enrolled", "arm"):
                # an RCT whose number randomised is nowhere: the number enrolled, weakly
                confidence = "low" if design == "rct" or c.role == "arm" else "high"
                return give(c.n + (c.n2 or 0), c.rule, s, confidence)
    if design != "rct":  # "a case series of six patients": the title, last
        title = Sentence(record.title, 0, len(record.title), None)
        for c in counts(ruleset, title):
            if c.role == "enrolled":
                return give(c.n + (c.n2 or 0), c.rule, title, "low")
    if unsure:  # "18 in each arm" and nothing else: most trials have two arms
        return give(unsure.n * 2, unsure.rule, unsure.sentence, "low")
    why.add("n_randomized", None, "default.no-sample-size", confidence="low")
    return None


def _groups(record: Document, s: Sentence) -> int | None:
    """The number of groups, from the sentence or else the title ("a three-arm trial")."""
    for text in (s.text, record.title):
        m = GROUP_COUNT.search(text)
        if m:
            return as_int(m.group(1))
    return None


def as_int(text: str | None) -> int | None:
    """'1,200' → 1200, 'Forty-two' → 42; None for anything else."""
    if not text:
        return None
    t = text.replace(",", "").strip()
    if t.isdigit():
        return int(t)
    return word_number(t)
