"""Numeric effects in the notations real abstracts use, each tied to its sentence."""

from __future__ import annotations

import pytest

from pipeline.effects import find_effects, normalise_p
from pipeline.text import sentences, word_number


def one(text: str):
    (effect,) = find_effects(text)
    return effect


def triple(e):
    return (e.measure, e.value, e.ci_low, e.ci_high, e.p_value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("RESULTS: Pain fell more with needling (SMD −0.82 (95% CI −1.20 to −0.44)).", ("SMD", -0.82, -1.20, -0.44, None)),
        ("RESULTS: Pain intensity improved (MD -1.2 (95% CI, -1.9 to -0.4); P < .001).", ("MD", -1.2, -1.9, -0.4, "<0.001")),
        ("RESULTS: Responders were more frequent (OR 1.9 [95%CI: 0.8; 3.0], p=0.03).", ("OR", 1.9, 0.8, 3.0, "=0.03")),
        ("RESULTS: Disability fell (risk ratio 1.6, 95% confidence interval 0.8–3.0).", ("RR", 1.6, 0.8, 3.0, None)),
        ("RESULTS: Headache days fell (WMD –2.4, 95% CI –3.1 to –1.7, p-value of 0.002).", ("WMD", -2.4, -3.1, -1.7, "=0.002")),
        ("RESULTS: Pain decreased with an effect size (Cohen's d) = 1.1.", ("d", 1.1, None, None, None)),
        ("RESULTS: The group effect on pain intensity was large (η2 = 0.21, p < 0.01).", ("other", 0.21, None, None, "<0.01")),
        ("RESULTS: Needling reduced pain intensity (d = 0.64; P = .049).", ("d", 0.64, None, None, "=0.049")),
        ("RESULTS: Pain fell (mean difference 4.3 days, 95% CI 2.0 to 6.5; p < 0.001).", ("MD", 4.3, 2.0, 6.5, "<0.001")),
        ("RESULTS: Pressure pain threshold rose (MD 55.48 kPa, 95% CI 27.03 to 83.93).", ("MD", 55.48, 27.03, 83.93, None)),
        ("RESULTS: Pain improved (Hedges' g 0·45, 95% CI 0·12 to 0·78).", ("SMD", 0.45, 0.12, 0.78, None)),
    ],
)
def test_named_estimates_in_every_notation(text, expected):
    assert triple(one(text)) == expected  # numbers parse exactly as written


def test_outcome_is_the_nearest_term_before_the_number():
    text = (
        "RESULTS: For short-term pain intensity, evidence showed no advantage (SMD -1.27, 95% CI -3.56 to 1.03). "
        "Short-term disability improved more with needling (SMD -2.28, 95% CI -2.66 to -1.91). "
        "Pressure pain thresholds rose (MD 55.48 kPa, 95% CI 27.03 to 83.93)."
    )
    assert [e.outcome for e in find_effects(text)] == ["pain_intensity", "disability", "pressure_pain_threshold"]


def test_every_effect_carries_its_sentence_and_offsets():
    abstract = (
        "BACKGROUND: Headache is common.\n"
        "RESULTS: Headache frequency fell (OR 2.65 [95% CI: 1.5; 4.77], p < 0.001). Nothing else changed."
    )
    (e,) = find_effects(abstract)
    assert abstract[e.sentence_start : e.sentence_end] == e.sentence
    assert e.sentence == "Headache frequency fell (OR 2.65 [95% CI: 1.5; 4.77], p < 0.001)."
    assert abstract[e.value_start : e.value_start + len(e.value_text)] == e.value_text
    assert e.value_text == "OR 2.65 [95% CI: 1.5; 4.77]"


def test_group_means_and_changes():
    text = (
        "RESULTS: Pain intensity fell from 6.2 ± 1.1 to 3.1 ± 1.4 in the needling group. "
        "Monthly headache days fell by 13.1 ± 9.8 days with needling versus 8.8 ± 9.6 days with sham. "
        "Her Neck Disability Index score changed by 32 points."
    )
    got = [(e.outcome, e.measure, e.value) for e in find_effects(text)]
    assert got == [
        ("pain_intensity", "other", 3.1),
        ("frequency", "other", 13.1),
        ("frequency", "other", 8.8),
        ("disability", "other", 32.0),
    ]


def test_percentages_of_groups_are_results_but_not_concentrations_or_thresholds():
    text = (
        "METHODS: A responder had at least 50% fewer headache days; sham was 0.9% saline.\n"
        "RESULTS: At week 16, 68.2% of the needling group and 48.1% of the sham group were responders. "
        "Two-thirds were women (n = 22/33, 67%). Points on the head were used more often (66.1% vs. 17.8%)."
    )
    assert [e.value for e in find_effects(text)] == [68.2, 48.1]


def test_descriptive_numbers_are_not_effects():
    text = (
        "RESULTS: Mean age was 36.28 ± 9.41 years. Thirty adults (8 men, 22 women; mean 39 ± 10 years) took part. "
        "Pain fell in 20 patients (P < .05)."
    )
    assert find_effects(text) == []


def test_background_and_methods_numbers_are_not_effects():
    text = (
        "BACKGROUND: A previous trial found an SMD of 0.5 for pain.\n"
        "METHODS: We expected an OR of 2.0 for responders.\n"
        "RESULTS: Needling lowered pain (SMD -0.4, 95% CI -0.7 to -0.1)."
    )
    assert [e.value for e in find_effects(text)] == [-0.4]


def test_no_number_is_invented():
    """Every value appears in the sentence it is reported with, as written."""
    text = "RESULTS: Pain fell (MD −1.53, 95% CI −2.29 to −0.76) and disability too (SMD −0.87, 95% CI −1.60 to −0.14)."
    for e in find_effects(text):
        assert e.value_text in e.sentence
        assert f"{abs(e.value):g}".rstrip("0") in e.value_text.replace("−", "-")


def test_p_value_normalisation():
    assert normalise_p("<", ".001") == "<0.001"
    assert normalise_p("≤", "0.05") == "<=0.05"
    assert normalise_p(None, "0.002") == "=0.002"


def test_sentences_keep_offsets_and_sections():
    abstract = (
        "OBJECTIVE: To test needling vs. sham in adults, e.g. with CTTH.\n"
        "(1) Objective: one. (2) Results: Pain fell (P = .01). It stayed low."
    )
    got = sentences(abstract)
    assert [(s.section, s.text) for s in got] == [
        ("OBJECTIVE", "To test needling vs. sham in adults, e.g. with CTTH."),
        ("Objective", "one."),
        ("Results", "Pain fell (P = .01)."),
        ("Results", "It stayed low."),
    ]
    for s in got:
        assert abstract[s.start : s.end] == s.text


@pytest.mark.parametrize("words, n", [("Forty-two", 42), ("twelve", 12), ("one hundred and twenty", 120), ("Seventy-eight", 78), ("many", None)])
def test_numbers_in_words(words, n):
    assert word_number(words) == n


def test_p_value_inside_the_interval_brackets():
    (e,) = find_effects("RESULTS: Pain did not differ (mean difference -0.4 (95% CI -1.6 to 0.8; p = 0.49)).")
    assert (e.measure, e.value, e.ci_low, e.ci_high, e.p_value) == ("MD", -0.4, -1.6, 0.8, "=0.49")


def test_compound_section_labels_keep_methods_numbers_out():
    abstract = (
        "PATIENTS AND METHODS: Baseline pain was 6.2 ± 1.1 on the VAS; 30% were smokers.\n"
        "BACKGROUND AND PURPOSE: Headache days averaged 15 ± 4.\n"
        "RESULTS AND CONCLUSIONS: Pain fell to 3.1 ± 1.5 on the VAS."
    )
    assert [e.value for e in find_effects(abstract)] == [3.1]


def test_thresholds_and_heterogeneity_are_not_effects_but_sd_in_brackets_is_read():
    text = (
        "RESULTS: Headache days were reduced by 50% or more in 12 of 20 patients. "
        "Pain intensity fell (SMD -0.5; 95% CI: -0.9, -0.1; I2 = 62%). "
        "Pain intensity fell from 6.5 (SD 1.2) to 3.1 (SD 1.5)."
    )
    got = [(e.measure, e.value) for e in find_effects(text)]
    assert got == [("SMD", -0.5), ("other", 3.1)]


def test_harms_are_not_effects():
    assert find_effects("RESULTS: There were 3 adverse events (10% of patients), including bruising.") == []


def test_one_paragraph_with_labels_inside_is_read_by_section():
    abstract = (
        "Background: Baseline pain was 6.0 ± 1.0 in earlier work. Methods: Forty adults were randomized. "
        "Results: Headache days fell from 12.1 ± 3.0 to 6.2 ± 2.5 with needling. Conclusions: Needling helped."
    )
    got = sentences(abstract)
    assert [s.section for s in got] == ["Background", "Methods", "Results", "Conclusions"]
    assert got[2].text == "Headache days fell from 12.1 ± 3.0 to 6.2 ± 2.5 with needling."
    assert [e.value for e in find_effects(abstract)] == [6.2]


def test_baseline_differences_and_harms_are_not_effects():
    text = (
        "RESULTS: Baseline characteristics were similar; the difference in mean age was 4 years. "
        "Post-needling soreness lasted 1.2 vs 0.5 days in the two groups. "
        "Headache days decreased from 14.2 (4.1) to 9.8 (5.0) days per month."
    )
    assert [e.value for e in find_effects(text)] == [9.8]
