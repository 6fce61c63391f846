"""Suggested wordings that keep up with the evidence.

An editor's wording is written for one verdict, a direction and a certainty
(`written_for` in the topic file, e.g. benefit_low_certainty). When either
moves (a retraction, a new trial, a review's judgement) the digest shows that
wording flagged for review, and offers a wording generated from today's
direction, certainty and studies, labelled as generated. The generated
sentences never say more than the certainty: they use Cochrane's plain-language
forms (high "reduces", moderate "probably reduces", low "may reduce", very low
"we are uncertain whether ... reduces"), filled with what was measured and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import certainty
from .claims import ACTIVE_COMPARATORS, Claim, Rewording, Verdict

# One template per certainty (every direction): {plain} is Cochrane's form for the
# direction and certainty; n (rated studies), studies ("study"/"studies"),
# review (a clause on a review's own judgement) and ties (active-treatment ties).
GENERATED: dict[str, str] = {
    "high": "{plain} (high-certainty evidence from {n} {studies}{review}){ties}.",
    "moderate": "{plain} (moderate-certainty evidence from {n} {studies}{review}){ties}.",
    "low": "{plain} (low-certainty evidence from {n} {studies}{review}){ties}.",
    "very_low": "{plain}: the evidence ({n} {studies}) is of very low certainty{review}{ties}.",
    "none": (
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
    """A wording in Cochrane's plain words for the claim's direction and certainty."""
    rating = verdict.rating
    if rating is None or rating.certainty is None:
        return GENERATED["none"].format(what=_what(claim))
    counted = [r for r in rows if r["evidence"].counted]
    comps = [c for r in counted if r["evidence"].pmid in rating.rated for c in r["study"]["comparators"] if c != "none"]
    n = len(rating.rated) or len(counted)
    review = ""
    if rating.ceiling:
        review = f"; a review rates its evidence {certainty.level_word(rating.ceiling.level)} certainty"
    return GENERATED[rating.certainty].format(
        plain=certainty.plain_words(claim, rating, comps if rating.direction in ("no_difference", "harm") else []),
        n=n, studies="study" if n == 1 else "studies", review=review, ties=_ties(counted, rating),
    )


def _what(claim: Claim) -> str:
    names = [o.replace("_", " ") for o in claim.outcomes] or ["headache outcomes"]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _ties(counted: list[dict], rating=None) -> str:
    """'; against lidocaine or another injection it did about as well' when a study tied
    (and the tie is not already the rated finding)."""
    ties = [r for r in counted if r["evidence"].stance == "comparable"
            and not (rating and r["evidence"].pmid in rating.rated)]
    if not ties:
        return ""
    comps = sorted({c for r in ties for c in r["study"]["comparators"] if c in ACTIVE_COMPARATORS})
    names = " or ".join(ACTIVE_COMPARATORS[c] for c in comps) or "an active treatment"
    return f"; against {names} it did about as well"
