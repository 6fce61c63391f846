"""Suggested wordings that keep up with the evidence.

An editor's wording is written for one verdict (`written_for` in the topic file).
When the verdict moves (a retraction, a new trial) the digest shows that wording
flagged for review, and offers a wording generated from today's verdict and
studies, labelled as generated. The generated sentences never say more than the
verdict: they are templates per verdict, filled with what was measured and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from .claims import ACTIVE_COMPARATORS, Claim, Rewording, Verdict

# One template per verdict. Fields: what (the outcomes), in_whom (" in tension-type
# headache"), n_for, n_against, n (counted studies), ties (a clause on active-treatment ties).
GENERATED: dict[str, str] = {
    "strong": "A systematic review and sham-controlled trials found that dry needling improves {what}{in_whom}.",
    "moderate": (
        "A sham-controlled trial found improvement in {what} after dry needling{in_whom}; "
        "no review has yet confirmed it."
    ),
    "limited": (
        "{n_for} of {n} studies that measured {what}{in_whom} report improvement after dry needling; "
        "the evidence is limited (small, uncontrolled or unconfirmed studies){ties}."
    ),
    "conflicting": (
        "Studies disagree on whether dry needling improves {what}{in_whom}: "
        "{n_for} found a benefit and {n_against} did not."
    ),
    "contradicted": "Studies of dry needling{in_whom} found no benefit for {what} over the treatments compared.",
    "insufficient": (
        "Studies have measured {what} after dry needling{in_whom}, but none settles whether it helps{ties}."
    ),
    "no_direct_evidence": (
        "No study of dry needling in people with headache has measured {what}; "
        "it is a proposed explanation, not a finding."
    ),
}


@dataclass(frozen=True)
class WordingAdvice:
    """What the digest offers a writer for one claim."""

    fitting: Rewording | None  # the editor's wording written for today's verdict
    stale: Rewording | None  # an editor's wording written for another verdict: review it
    generated: str | None  # offered when no editor's wording fits
    verdict: str

    @property
    def needs_review(self) -> bool:
        return self.stale is not None


def advise(claim: Claim, verdict: Verdict, rows: list[dict]) -> WordingAdvice:
    """The editor's wording if one was written for this verdict; otherwise flag the
    one written for another verdict, and generate one."""
    fitting = next((r for r in claim.rewordings if r.written_for == verdict.verdict), None)
    if fitting:
        return WordingAdvice(fitting, None, None, verdict.verdict)
    stale = claim.rewordings[0] if claim.rewordings else None
    return WordingAdvice(None, stale, generate(claim, verdict, rows), verdict.verdict)


def generate(claim: Claim, verdict: Verdict, rows: list[dict]) -> str:
    """A wording from the verdict's template, filled from the claim and its counted studies."""
    counted = [r for r in rows if r["evidence"].counted]
    return GENERATED[verdict.verdict].format(
        what=_what(claim),
        in_whom=_in_whom(claim),
        n_for=verdict.supporting,
        n_against=verdict.contradicting,
        n=len(counted),
        ties=_ties(counted),
    )


def _what(claim: Claim) -> str:
    names = [o.replace("_", " ") for o in claim.outcomes] or ["headache outcomes"]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _in_whom(claim: Claim) -> str:
    if not claim.headache_types:
        return ""
    names = [h.replace("_", "-") + (" headache" if h in ("tension_type", "cervicogenic", "post_traumatic") else "")
             for h in claim.headache_types]
    return " in " + " and ".join(names)


def _ties(counted: list[dict]) -> str:
    """'; against lidocaine or another injection it did about as well' when a study tied."""
    ties = [r for r in counted if r["evidence"].stance == "comparable"]
    if not ties:
        return ""
    comps = sorted({c for r in ties for c in r["study"]["comparators"] if c in ACTIVE_COMPARATORS})
    names = " or ".join(ACTIVE_COMPARATORS[c] for c in comps) or "an active treatment"
    return f"; against {names} it did about as well"
