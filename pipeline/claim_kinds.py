"""Claims that are not about efficacy, and the rules their verdicts follow.

A claim's `kind` in the topic file says what would back it:

- `efficacy` (the default): outcomes measured in people with headache; graded
  with GRADE (pipeline/claims.py, pipeline/certainty.py);
- `mechanism`: how it would work (blood flow, endorphins): judged exactly like
  efficacy, on the mechanism's outcome measured in people with headache;
- `safety`: the harms the counted studies report (the `harms` table);
- `background`: observational studies of people with headache that address
  the claim's `terms` (e.g. how common trigger points are); never counted as
  evidence that a treatment works.

`RULES` holds each kind's rules in plain words: the digest's methods note
prints them, so code and digest say the same thing.
"""

from __future__ import annotations

KINDS = ("efficacy", "mechanism", "safety", "background")

RULES: dict[str, str] = {
    "safety": (
        "Safety claims are backed by the harms the counted studies' abstracts report, never graded like "
        "efficacy. A study that does not mention harms counts as 'not reported', never as 'none'. The verdict "
        "is: a serious harm reported, if any counted study reports one that occurred; else only minor harms "
        "reported, if every harm reported is described as mild, minor or absent ('no adverse events'); else "
        "harms reported but not described; and harms not reported, when no counted study mentions them. Every "
        "verdict says how many studies did not report harms: abstracts under-report harms, and trials of tens "
        "of people cannot show that a rare serious harm does not happen."
    ),
    "background": (
        "Background claims (about headache itself, such as how often trigger points are found) are backed by "
        "observational studies (cross-sectional, case-control or cohort) of people with headache that name the "
        "claim's terms; they are listed for a writer to read, not counted as evidence that a treatment works. "
        "The database collects studies of dry needling: where it holds none that address a background claim, the "
        "verdict says so rather than guess."
    ),
}

VERDICTS: dict[str, str] = {
    "harms_serious_reported": "Safety: a serious harm was reported",
    "harms_minor_only": "Safety: only minor harms were reported",
    "harms_uncharacterised": "Safety: harms reported but not described",
    "harms_not_reported": "Safety: no counted study reports on harms",
    "background_observational": "Background: observational studies address it",
    "background_not_addressed": "Background: not addressed by the stored studies",
}
OBSERVATIONAL = ("other", "cohort")
MINOR = ("none", "mild")


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def harms_stance(study: dict) -> tuple[str, str, str | None]:
    """(stance, reason, sentence) of one counted study on a safety claim."""
    state, harms = study.get("harms_state") or "not_reported", study.get("harms") or []
    occurred = [h for h in harms if not (h["severity"] == "none" or h["affected"] == 0)]
    quote = harms[0]["sentence"] if harms else None
    if state == "not_reported" or not harms:
        return "neutral", "does not report on harms", None
    serious = [h for h in occurred if h["severity"] == "serious"]
    if serious:
        return "contradicts", f"reports a serious harm: {serious[0]['event']}", serious[0]["sentence"]
    if not occurred:
        return "supports", "reports no harms (" + harms[0]["event"] + ": none)", quote
    if all(h["severity"] in MINOR for h in occurred):
        return "supports", "reports only minor harms: " + ", ".join(sorted({h["event"] for h in occurred})), quote
    return "neutral", "reports harms without saying how serious: " + ", ".join(sorted({h["event"] for h in occurred})), quote


def safety_verdict(counted: list[dict]) -> tuple[str, str]:
    """(verdict key, statement) of a safety claim over the counted studies (with their harms)."""
    reporting = [s for s in counted if (s.get("harms_state") or "not_reported") != "not_reported" and s.get("harms")]
    silent = len(counted) - len(reporting)
    said_silent = f"{_plural(silent, 'study', 'studies')} did not report on harms"
    if not reporting:
        return "harms_not_reported", (
            f"None of the {_plural(len(counted), 'counted study', 'counted studies')} of dry needling for headache "
            "reports on harms in its abstract, so the abstracts say nothing about its safety either way."
        )
    events: dict[str, set[str]] = {}
    serious: list[tuple[dict, dict]] = []
    unstated = False
    none_only = 0
    for s in reporting:
        occurred = [h for h in s["harms"] if not (h["severity"] == "none" or h["affected"] == 0)]
        none_only += not occurred
        for h in occurred:
            events.setdefault(h["kind"] or h["event"], set()).add(s["pmid"])
            if h["severity"] == "serious":
                serious.append((s, h))
            elif h["severity"] not in MINOR:
                unstated = True
    common = "; ".join(f"{e} ({_plural(len(p), 'study', 'studies')})" for e, p in
                       sorted(events.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:4])
    reported = f" Reported: {common}." if common else ""
    n = _plural(len(reporting), "study", "studies")
    if serious:
        s, h = serious[0]
        return "harms_serious_reported", (
            f"A serious harm was reported ({h['event']}, PMID {s['pmid']}). {n} reported on harms ({none_only} "
            f"reported none); {said_silent}.{reported}"
        )
    if unstated:
        return "harms_uncharacterised", (
            f"{n} reported on harms ({none_only} reported none), some without saying how serious they were; "
            f"{said_silent}.{reported}"
        )
    return "harms_minor_only", (
        f"Reported harms were minor in the {n} that reported on harms ({none_only} reported none); "
        f"{said_silent}.{reported} Studies of this size cannot rule out rare serious harms."
    )


def addresses(study: dict, terms: list[str]) -> bool:
    """An observational study of people with headache that names one of a background claim's terms."""
    if study["design"] not in OBSERVATIONAL or not study["headache_types"]:
        return False
    if [c for c in study["comparators"] if c != "none"]:
        return False  # it compares treatments (a treatment cohort): not a study of the population itself
    text = f"{study['title']}\n{study['abstract'] or ''}".lower()
    return any(t.lower() in text for t in terms)


def background_verdict(found: list[str]) -> tuple[str, str]:
    """(verdict key, statement) of a background claim, from the PMIDs of the studies that address it."""
    if not found:
        return "background_not_addressed", (
            "No stored study addresses this: the database collects studies of dry needling, not of what causes "
            "headache, so this background claim needs its own literature search before it is published."
        )
    return "background_observational", (
        f"{_plural(len(found), 'observational study', 'observational studies')} of people with headache "
        f"{'addresses' if len(found) == 1 else 'address'} it (PMID {', '.join(found)}): background to read before "
        "citing, not evidence that needling works."
    )
