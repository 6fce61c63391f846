"""The controlled vocabularies of the extracted columns, with what each value means.

One place for the values the extractor writes, the evaluator checks, and
Datasette's metadata explains.
"""

from __future__ import annotations

DESIGNS: dict[str, str] = {
    "meta_analysis": "systematic review with a pooled (meta-analytic) estimate",
    "systematic_review": "systematic review without pooling",
    "rct": "randomized controlled trial (including pilot and crossover RCTs)",
    "non_randomized_trial": "controlled or single-arm trial without randomization (pre-post, quasi-experimental)",
    "cohort": "cohort study, prospective or retrospective (including chart reviews comparing groups)",
    "case_series": "several patients described without a comparison group",
    "case_report": "one patient",
    "protocol": "protocol of a planned trial or review (no results yet)",
    "narrative_review": "review without a systematic search",
    "mechanism_study": "physiology or mechanism study (e.g. in healthy people), not of clinical outcomes",
    "other": "cross-sectional, case-control, reliability, bibliometric or other designs",
}

HEADACHE_TYPES: dict[str, str] = {
    "tension_type": "tension-type headache (episodic or chronic)",
    "migraine": "migraine",
    "cervicogenic": "cervicogenic headache",
    "post_traumatic": "post-traumatic headache (after head or neck injury)",
    "other": "other or unclassified headache (e.g. occipital neuralgia, 'headache' in myofascial pain)",
}

COMPARATORS: dict[str, str] = {
    "sham": "sham or placebo needling, or a placebo injection",
    "lidocaine_or_injection": "trigger point injection (lidocaine, anaesthetic, botulinum toxin)",
    "manual_therapy": "manual therapy: manipulation, mobilization, massage, myofascial release",
    "exercise": "exercise or stretching programme",
    "medication": "drug treatment",
    "usual_care": "usual care, waiting list or no treatment",
    "other_needling": "another needling technique (e.g. superficial vs deep) or acupuncture",
    "none": "no comparison group (single-arm study, case report)",
}

OUTCOMES: dict[str, str] = {
    "pain_intensity": "headache or pain intensity (VAS, NPRS)",
    "frequency": "headache frequency (days or attacks per month, responders)",
    "duration": "headache duration",
    "disability": "disability or impact (NDI, HDI, HIT-6, functional indices)",
    "range_of_motion": "cervical range of motion",
    "pressure_pain_threshold": "pressure pain threshold or tenderness",
    "quality_of_life": "quality of life (SF-36 and similar)",
    "medication_use": "analgesic or rescue medication use",
    "blood_flow": "blood flow, perfusion or oxygenation",
    "endorphins": "endorphins or other endogenous opioids",
    "other": "another measured outcome",
}

DIRECTIONS: dict[str, str] = {
    "favours_needling": "the authors found dry needling better than the comparator (or improvement in a single-arm study)",
    "no_difference": "no difference between dry needling and the comparator",
    "favours_comparator": "the comparator did better",
    "inconclusive": "the authors say the evidence is insufficient to conclude",
    "not_applicable": "protocols, mechanism studies and records not about dry needling for headache",
}

MEASURES: dict[str, str] = {
    "SMD": "standardized mean difference",
    "MD": "mean difference",
    "WMD": "weighted mean difference",
    "RR": "risk ratio",
    "OR": "odds ratio",
    "d": "Cohen's d or another effect size",
    "other": "percentages, group means, η², φ and other reported figures",
}

# Oxford CEBM 2011 levels for questions of treatment benefit, by design.
EVIDENCE_LEVELS: dict[str, str] = {
    "meta_analysis": "1",
    "systematic_review": "1",
    "rct": "2",
    "non_randomized_trial": "3",
    "cohort": "3",
    "case_series": "4",
    "case_report": "4",
    "mechanism_study": "5",
    "narrative_review": "5",
    "protocol": "n/a",
    "other": "4",
}
