"""Numeric effects in the notations real abstracts use, each tied to its sentence."""

from __future__ import annotations

import pytest

from pipeline.effects import decimal_points, find_effects, normalise_p
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


# --- estimates anchored on intervals and tests, with their level ------------------------


def kinds(text: str):
    return [(e.measure, e.value, e.ci_low, e.ci_high, e.p_value, e.level) for e in find_effects(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("RESULTS: Headache days fell more with needling (difference 1.1 days, 95% confidence interval −0.4 to 2.3).",
         ("MD", 1.1, -0.4, 2.3, None, "between_groups")),
        ("RESULTS: The groups differed by 3.2 points (1.1 to 5.3) on the HIT-6.",
         ("MD", 3.2, 1.1, 5.3, None, "between_groups")),
        ("RESULTS: Needling led to 14 fewer headache days a year (95% CI 5 to 30).",
         ("MD", 14.0, 5.0, 30.0, None, "between_groups")),
        ("RESULTS: Pain was 11.8 points lower with needling (95% CI 6.2 to 17.4; p<0.001).",
         ("MD", 11.8, 6.2, 17.4, "<0.001", "between_groups")),
        ("RESULTS: For pain intensity, the mean advantage was 9.6 points (P = .04).",
         ("MD", 9.6, None, None, "=0.04", "between_groups")),
        ("RESULTS: Needled patients had 2.3 fewer headache days than sham, a difference with a p-value of 0.03.",
         ("MD", 2.3, None, None, "=0.03", "between_groups")),
        ("RESULTS: Pain intensity fell more with needling (SMD −0.21, 95% CrI −0.55 to 0.12).",
         ("SMD", -0.21, -0.55, 0.12, None, "between_groups")),
        ("RESULTS: Pain fell by 2.1 points in the needling group (95% CI 1.5 to 2.7).",
         ("other", 2.1, 1.5, 2.7, None, "within_group")),
        ("RESULTS: Headache days were 6.1 (95% CI 5.0 to 7.2) with needling.",
         ("other", 6.1, 5.0, 7.2, None, "arm")),
    ],
)
def test_an_interval_or_a_test_after_a_difference_marks_an_estimate(text, expected):
    assert kinds(text) == [expected]


def test_a_second_estimate_carries_the_first_ones_kind_and_its_own_time_point():
    text = ("RESULTS: Cervical rotation was wider with needling by 4.1° at 4 weeks (95% CI 1.0 to 7.2) "
            "and at 3 months (2.9° [95% CI: 0.8; 5.0]).")
    got = [(e.outcome, e.measure, e.value, e.ci_low, e.ci_high, e.level, e.time_point) for e in find_effects(text)]
    assert got == [
        ("range_of_motion", "MD", 4.1, 1.0, 7.2, "between_groups", "at 4 weeks"),
        ("range_of_motion", "MD", 2.9, 0.8, 5.0, "between_groups", "at 3 months"),
    ]


def test_the_value_of_an_interval_is_never_a_time_point_and_lies_inside_it():
    text = "RESULTS: At 3 weeks the groups differed by 2.9 headache days per 4 weeks in favour of needling (1.2 to 4.6)."
    assert [(e.value, e.measure) for e in find_effects(text)] == [(2.9, "MD")]
    # A bare pair far from a number, without a difference, is not an interval.
    assert find_effects("RESULTS: Pain was rated 7 on most days by the patients (scores 2 to 5).") == []


def test_ages_and_descriptions_with_an_interval_are_not_effects():
    assert find_effects("RESULTS: Mean age was 41 years (95% CI 38 to 44).") == []


def test_levels_of_group_results():
    text = (
        "RESULTS: HIT-6 scores were 58.9 in the needling group and 59.6 in the sham group. "
        "Headache intensity fell to 3.9 and 4.2, respectively. "
        "Pain decreased by 3.9±1.8 with needling and 0.9±1.2 with sham (p<0.001). "
        "Headache frequency decreased from 7 to 2 days per week."
    )
    got = [(e.value, e.level) for e in find_effects(text)]
    assert got == [(58.9, "arm"), (59.6, "arm"), (3.9, "arm"), (4.2, "arm"),
                   (3.9, "within_group"), (0.9, "within_group"), (2.0, "arm")]


def test_counts_next_to_a_group_are_not_results():
    text = "RESULTS: Pain responders were 14 of 30 after needling and 6 of 29 on the waiting list; 30 were randomized in each group."
    assert find_effects(text) == []


def test_decimal_commas_are_read_where_a_spread_follows():
    text = "RESULTS: Headache intensity fell (dry needling: 6,4±1,5 to 3,2±1,7; cupping: 6,1±1,8 to 3,5±1,9)."
    assert [e.value for e in find_effects(text)] == [3.2, 3.5]


def test_effects_store_their_level_and_old_databases_gain_the_column(tmp_path):
    import sqlite_utils

    from pipeline import store
    from pipeline.extract import Record, extract

    path = tmp_path / "old.db"
    old = store.open_db(path)
    old.execute("alter table effects drop column level")  # as made before effects had a level
    old.conn.commit()
    assert "level" not in sqlite_utils.Database(path)["effects"].columns_dict
    db = store.open_db(path)
    assert "level" in db["effects"].columns_dict
    db["studies"].insert({"pmid": "1", "title": "Dry needling for migraine", "abstract": "x"})
    x = extract(Record("Dry needling for migraine", "RESULTS: Migraine days fell more with needling (difference 1.1 days, 95% CI 0.2 to 2.0).", []))
    store.save_extractions(db, [("1", x)])
    assert [(r["measure"], r["value"], r["level"]) for r in db["effects"].rows] == [("MD", 1.1, "between_groups")]


def test_every_level_is_in_the_vocabulary():
    from pipeline.effects import LEVELS

    text = (
        "RESULTS: Pain fell more with needling (SMD −0.5, 95% CI −0.9 to −0.1) and by 2.1 points (SD 1.0) overall; "
        "68.2% of the needling group were responders (r = 0.4)."
    )
    assert {e.level for e in find_effects(text)} <= set(LEVELS) | {None}


def test_a_threshold_written_with_an_article_is_not_an_effect():
    assert find_effects("RESULTS: Five of seven patients with headache recorded at least a 50% reduction in headache days.") == []


def test_the_look_ahead_on_effect_and_outcome_patterns_changes_no_match():
    """text.guarded: the effect patterns and the outcome terms find, on every bundled
    sentence, exactly what the same patterns compiled plainly find."""
    import glob
    import re
    from pathlib import Path

    from pipeline import effects, terms, text
    from pipeline.parse import MalformedRecord, parse

    root = Path(__file__).resolve().parent.parent
    files = [root / "pipeline" / "snapshot" / "efetch.xml", *map(Path, sorted(glob.glob(str(root / "tests" / "data" / "*" / "efetch.xml"))))]
    texts = [x.text for f in files for s in parse(f) if not isinstance(s, MalformedRecord) for x in sentences(s.abstract or "")]
    patterns = [p for p in vars(effects).values() if isinstance(p, re.Pattern)] + [p for _, p, _ in terms._OUTCOME_CHECKED]
    patterns += [terms.HEADACHE_WORD, terms.DRY_NEEDLING, terms.NEIGHBOURS, text.WORD_NUMBER_RE]
    patterns += [re.compile(p, re.IGNORECASE) for p in terms.HEADACHE_TERMS.values()]
    guarded = [p for p in patterns if p.pattern.startswith("(?=[")]
    assert len(guarded) > 10
    for fast in guarded:
        plain = re.compile(fast.pattern[fast.pattern.index("])(?:") + 5 : -1], fast.flags)
        for t in texts:
            assert [(m.span(), m.groupdict()) for m in plain.finditer(t)] == \
                [(m.span(), m.groupdict()) for m in fast.finditer(t)], (fast.pattern[:60], t)


def test_sentences_are_split_once_but_each_caller_gets_its_own_list():
    abstract = "RESULTS: Pain fell. CONCLUSIONS: Needling helps."
    first = sentences(abstract)
    first.clear()
    assert [s.text for s in sentences(abstract)] == ["Pain fell.", "Needling helps."]


def test_outcome_terms_are_found_as_without_the_pre_checks():
    """terms._spans skips the patterns none of whose required words is in the sentence:
    on every bundled sentence (and upper-cased, and with a long s) it finds what
    running every pattern finds."""
    import glob
    from pathlib import Path

    from pipeline import terms
    from pipeline.parse import MalformedRecord, parse

    root = Path(__file__).resolve().parent.parent
    files = [root / "pipeline" / "snapshot" / "efetch.xml", *map(Path, sorted(glob.glob(str(root / "tests" / "data" / "*" / "efetch.xml"))))]
    texts = [x.text for f in files for s in parse(f) if not isinstance(s, MalformedRecord) for x in sentences(s.abstract or "")]
    texts += [t.upper() for t in texts[:200]] + [t.replace("s", "\u017f") for t in texts[:200]]

    def plain(text):
        candidates = sorted(
            ((m.start(), m.end(), name) for name, p in terms._OUTCOME_PATTERNS for m in p.finditer(text)),
            key=lambda c: (c[0], -(c[1] - c[0])),
        )
        spans = []
        for c in candidates:
            if not spans or c[0] >= spans[-1][1]:
                spans.append(c)
        return tuple(spans)

    for t in texts:
        assert terms._spans.__wrapped__(t)[0] == plain(t), t


# General wordings read since set 5 and 6 (issue 11): each a way abstracts report numbers.


@pytest.mark.parametrize(("text", "expected"), [
    # "by N days" after a difference is an amount, not a time point
    ("RESULTS: The groups differed by 0.3 days (95% CI −0.8 to 1.4; P = 0.59).",
     [("other", "MD", 0.3, -0.8, 1.4, "=0.59", "between_groups")]),
    # two arms' changes sharing one unit, and each next to its group
    ("RESULTS: Headache frequency fell by 4.4 and 4.9 days per month.",
     [("frequency", "other", 4.4, None, None, None, "within_group"), ("frequency", "other", 4.9, None, None, None, "within_group")]),
    ("RESULTS: Headache-free days increased by 2.1 with BoNT-A and 1.6 with saline (difference 0.5; 95% CI −1.4 to 2.4).",
     [("frequency", "other", 2.1, None, None, None, "within_group"), ("frequency", "other", 1.6, None, None, None, "within_group"),
      ("frequency", "MD", 0.5, -1.4, 2.4, None, "between_groups")]),
    # medians with their IQR, next to their group
    ("RESULTS: After treatment, median headache intensity was 3 (IQR 2-4) in the dry needling group and 5 (IQR 4-6) in the ultrasound group.",
     [("pain_intensity", "other", 3.0, None, None, None, "arm"), ("pain_intensity", "other", 5.0, None, None, None, "arm")]),
    # "improved from 64 to 49" after a change verb: the value after treatment, its outcome named before
    ("RESULTS: Her Headache Impact Test-6 score improved from 64 to 49.", [("disability", "other", 49.0, None, None, None, "arm")]),
    # an outcome named right after the number is its own; a p written as "P-value 0.02" or "2.9 × 10−3"
    ("RESULTS: At 6 weeks the groups differed by 1.2 NDI points (−3.0 to 5.4).", [("disability", "MD", 1.2, -3.0, 5.4, None, "between_groups")]),
    ("RESULTS: Intensity was 1.1 points lower with needling than with the drug (P-value 0.02).",
     [("other", "MD", 1.1, None, None, "=0.02", "between_groups")]),
    ("RESULTS: Participants responded more often with needling (RR 1.71, 95% CI 1.19 to 2.45; p = 2.9 × 10−3).",
     [("frequency", "RR", 1.71, 1.19, 2.45, "=0.0029", "between_groups")]),
])
def test_general_wordings_from_the_fifth_and_sixth_sets(text, expected):
    got = [(e.outcome, e.measure, e.value, e.ci_low, e.ci_high, e.p_value, e.level) for e in find_effects(text)]
    assert got == expected


def test_ages_and_counts_compared_are_not_results():
    assert find_effects("RESULTS: Patients aged 34 vs 36 years (p = 0.4) were enrolled; 30 vs 30 patients.") == []


def test_decimal_commas_are_read_as_decimal_points_and_quoted_as_written():
    text = ("RESULTS: Headache intensity was lower with needling (mean difference 1,4 points; 95% CI 0,6 to 2,2; "
            "p = 0,001). HIT-6 did not differ (p = 0,31).")
    (e,) = [e for e in find_effects(text) if e.measure == "MD"]
    assert (e.value, e.ci_low, e.ci_high, e.p_value) == (1.4, 0.6, 2.2, "=0.001")
    assert text[e.value_start : e.value_start + len(e.value_text)] == e.value_text
    assert "1,4 points; 95% CI 0,6 to 2,2" in e.value_text and e.sentence in text
    # thousands separators stay numbers in thousands
    assert decimal_points("A total of 1,200 patients; MD 2.5 (95% CI 1.1 to 3.9).") == \
        "A total of 1,200 patients; MD 2.5 (95% CI 1.1 to 3.9)."


def test_a_responder_threshold_is_not_a_result_and_responders_take_the_defining_outcome():
    text = ("METHODS: A responder was defined as a reduction of at least 30% in mean headache intensity at 8 weeks.\n"
            "RESULTS: The proportion of 50% responders was 38% and 35%, respectively. "
            "Responders were 58% in the dry needling group vs 31% in the sham group (risk ratio 1.87; 95% CI 1.15 to 3.04).")
    found = [(e.outcome, e.value) for e in find_effects(text)]
    assert ("pain_intensity", 1.87) in found and ("pain_intensity", 58.0) in found
    assert all(v not in (50.0, 30.0) for _, v in found)


@pytest.mark.parametrize(("text", "expected"), [
    # a change keeps its printed sign
    ("RESULTS: Headache intensity changed by −32.4 mm with real needling and −12.9 mm with sham (P<0.0001).",
     [("pain_intensity", -32.4), ("pain_intensity", -12.9)]),
    # each group's change after "(group: from A to B; ...)"
    ("RESULTS: Both interventions reduced headache intensity (dry needling: from 6.8 to 3.9; kinesio taping: from 6.5 to 4.1).",
     [("pain_intensity", 3.9), ("pain_intensity", 4.1)]),
    # a group's share next to a drug is not a concentration
    ("RESULTS: The responder rate was 45% with bupivacaine and 19% with saline.", [("frequency", 45.0), ("frequency", 19.0)]),
    # "from baseline" is a change, not a baseline description
    ("RESULTS: Dry needling reduced headache frequency by 48% from baseline, compared with 27% with TENS.",
     [("frequency", 48.0), ("frequency", 27.0)]),
    # a subgroup's estimate ("in women and ... in men") is a result
    ("RESULTS: The between-group difference in headache frequency was −3.9 days (95% CI −6.2 to −1.6) in women "
     "and −1.2 days (95% CI −4.3 to 1.9) in men.", [("frequency", -3.9), ("frequency", -1.2)]),
    ("RESULTS: Mean headache frequency was 6.2 days per month in the DN group and 9.0 days in the control group.",
     [("frequency", 6.2), ("frequency", 9.0)]),
    # a case report's "OUTCOMES" section holds its results
    ("INTERVENTION AND OUTCOME: Migraine days fell from twelve to four per month, and the HIT-6 score decreased from 66 to 52.",
     [("frequency", 4.0), ("disability", 52.0)]),
    # adverse events are not effects
    ("RESULTS: Drowsiness or dry mouth occurred in 40% of patients taking amitriptyline and in 6% after dry needling.", []),
])
def test_group_results_as_journals_write_them(text, expected):
    assert [(e.outcome, e.value) for e in find_effects(text)] == expected


def test_results_written_like_a_table_and_lists_of_changes():
    table = ("RESULTS: Monthly migraine days, DN plus exercise vs exercise alone: baseline 8.4 vs 8.1; "
             "at 4 weeks: 6.2 vs 7.5; at 12 weeks: 4.9 vs 7.0 (group × time interaction, P = 0.008).")
    assert [e.value for e in find_effects(table)] == [6.2, 7.5, 4.9, 7.0]  # the baseline pair is not a result
    listed = ("RESULTS: Compared with sham, DN reduced monthly migraine days by 1.9, 2.4 and 1.7 days at 1, 3 and "
              "6 months, respectively (all P < .05).")
    assert [(e.measure, e.value, e.level) for e in find_effects(listed)] == [
        ("MD", 1.9, "between_groups"), ("MD", 2.4, "between_groups"), ("MD", 1.7, "between_groups")]
    medians = ("RESULTS: The median reduction in headache days over 4 weeks was 4.0 (IQR 2.0–7.0) with bupivacaine "
               "and 1.0 (IQR 0.0–3.0) with placebo (p<.001). Over 6 months, headache recurrence occurred in 21% of "
               "the needling group and in 38% of the physiotherapy-alone group.")
    assert [(e.outcome, e.value) for e in find_effects(medians)] == [
        ("frequency", 4.0), ("frequency", 1.0), ("frequency", 21.0), ("frequency", 38.0)]


def test_a_case_reports_inline_outcomes_section_and_changes_in_percent():
    text = ("Introduction: Cervicogenic headache is often managed with manual therapy. Outcomes: Headache intensity "
            "decreased from 7/10 to 1/10 on the NPRS, and the Neck Disability Index improved from 28% to 8%.")
    assert [(e.outcome, e.value) for e in find_effects(text)] == [("pain_intensity", 1.0), ("disability", 8.0)]
    signed = "RESULTS: Headache days fell in both groups (dry needling −3.1, sham −2.7 days/month); fewer visits (mean 7.2 vs 8.9)."
    assert [e.value for e in find_effects(signed)] == [-3.1, -2.7, 7.2, 8.9]
    # a clause with a verb of its own is about its own outcome
    own = ("RESULTS: Patients who received dry needling had greater odds of improvement in headache intensity "
           "(adjusted OR 1.89, 95% CI 1.05 to 3.40) and needed fewer visits (mean 7.2 vs 8.9).")
    assert [(e.outcome, e.value) for e in find_effects(own)] == [("pain_intensity", 1.89), ("other", 7.2), ("other", 8.9)]


@pytest.mark.parametrize(("text", "expected"), [
    ("RESULTS: Headache intensity decreased in the DN group (from 6.4 to 2.9) and in the TENS group (from 6.2 to 4.0).",
     [("pain_intensity", 2.9), ("pain_intensity", 4.0)]),
    ("RESULTS: PPTs over the temporalis were lower in the migraine group (mean 1.9 kg/cm2) than in the control group "
     "(mean 2.7 kg/cm2; P < 0.001).", [("pressure_pain_threshold", 1.9), ("pressure_pain_threshold", 2.7)]),
    ("RESULTS: Patients in the DN cohort required fewer visits (mean 7.2 vs 8.9; P=.03).", [("other", 7.2), ("other", 8.9)]),
    ("RESULTS: StO2 increased by 4.6% after DN and by 0.8% after sham (P = 0.003).", [("blood_flow", 4.6), ("blood_flow", 0.8)]),
    ("RESULTS: The total effective rate was 90.0% (27/30) in the dry needling group and 70.0% (21/30) in the control group.",
     [("other", 90.0), ("other", 70.0)]),
    # "visits" as the unit of a share is not an outcome of its own
    ("RESULTS: Pain reduction of at least 50% was achieved in 71% of TPI visits and 63% of prochlorperazine visits.",
     [("pain_intensity", 71.0), ("pain_intensity", 63.0)]),
])
def test_group_values_in_brackets_and_outcomes_named_by_their_unit(text, expected):
    assert [(e.outcome, e.value) for e in find_effects(text)] == expected


def test_changes_written_with_other_verbs_and_rates_are_read():
    values = lambda t: [(e.value, e.level) for e in find_effects(t)]  # noqa: E731
    # "went from A to B", "had fallen from A to B": the value after treatment, as for "fell from"
    assert values("RESULTS: Headache days went from 12.4 to 6.1 per month with needling versus "
                  "from 11.9 to 10.8 without treatment.") == [(6.1, "arm"), (10.8, "arm")]
    assert values("RESULTS: Mean headache intensity had fallen from 6.2 to 2.4 on a 0-10 scale.") == [(2.4, "arm")]
    # a change "per month" is a change, the second arm's too
    assert values("RESULTS: Headache days decreased by 4.2 per month after needling and by 3.8 after "
                  "placebo (P = .71).") == [(4.2, "within_group"), (3.8, "within_group")]


def test_an_arm_that_outperformed_another_by_an_amount_is_a_difference_between_them():
    (e,) = find_effects("RESULTS: Immediately after treatment, needling outperformed TENS by 1.9 points on the NPRS (P = .02).")
    assert (e.value, e.level, e.p_value, e.outcome) == (1.9, "between_groups", "=0.02", "pain_intensity")


def test_a_change_whose_verb_is_not_repeated_and_pairs_read_on_a_scale():
    values = lambda t: [(e.value, e.level, e.outcome) for e in find_effects(t)]  # noqa: E731
    assert values("RESULTS: Median headache intensity fell from 7 to 3 on the numeric pain rating scale, "
                  "and median headache days per month from 14 to 5.") == [(3.0, "arm", "pain_intensity"),
                                                                          (5.0, "arm", "frequency")]
    # years are not a change, and a decimal is not cut short ("from 5.9 to 5.2")
    assert values("METHODS: Patients treated from 2018 to 2023 were included; pain improved.") == []
    assert [v for v, _, _ in values("RESULTS: Intensity fell from 6.1 to 3.8 with needling and from 5.9 to 5.2 "
                                    "with usual care.")] == [3.8, 5.2]
    assert [v for v, _, _ in values("RESULTS: Intensity was lower with needling (2.9 vs 4.2 on the NPRS).")] == [2.9, 4.2]


def test_a_group_ahead_by_an_amount_and_a_p_inside_the_comparison_are_differences():
    found = find_effects("RESULTS: At one month the needling group was ahead by 1.3 NPRS points (P = 0.01) and reported "
                         "2.0 fewer headache days per month (P = 0.03) than the mobilisation group.")
    assert [(e.value, e.level, e.outcome, e.p_value) for e in found] == [
        (1.3, "between_groups", "pain_intensity", "=0.01"), (2.0, "between_groups", "frequency", "=0.03")]


def test_a_margin_carried_to_a_later_time_and_percent_means_with_their_spread():
    found = find_effects("RESULTS: Needling outperformed sham by a margin of 2.9 headache days at week 4 (95% CI 1.5 to "
                         "4.3; P < .001); by week 12 the margin had narrowed to 1.7 days (0.3 to 3.1; P = .02).")
    assert [(e.value, e.level, e.ci_low, e.ci_high, e.p_value) for e in found] == [
        (2.9, "between_groups", 1.5, 4.3, "<0.001"), (1.7, "between_groups", 0.3, 3.1, "=0.02")]
    # "14.2% ± 7.9%": the mean is a value, its SD is not
    found = find_effects("RESULTS: NDI scores were 14.2% ± 7.9% and 15.0% ± 8.4%, respectively (P = .66).")
    assert [e.value for e in found] == [14.2, 15.0]


def test_arms_changes_named_before_their_by_shares_of_a_count_and_a_scale_range():
    values = lambda t: [(e.value, e.level, e.outcome) for e in find_effects(t)]  # noqa: E731
    assert values("RESULTS: EA reduced headache days by 7.8 and MA by 5.9 at the end of treatment (P = 0.04).") == [
        (7.8, "within_group", "frequency"), (5.9, "within_group", "frequency")]
    # the scale's range is not the value before the interval
    assert values("RESULTS: Headache pain intensity differed by 9.8 points on a 100-point scale "
                  "(95% CI, 3.2 to 16.4) in favor of needling.") == [(9.8, "between_groups", "pain_intensity")]
    found = values("RESULTS: A 50% or greater reduction was achieved by 21 of 47 (45%) treated participants and "
                   "8 of 47 (17%) controls (risk ratio 2.63, 95% CI 1.30 to 5.32).")
    assert [v for v, _, _ in found] == [45.0, 17.0, 2.63] and {o for _, _, o in found} == {"frequency"}
    # the share of participants who stayed in the study is not a result
    assert values("RESULTS: Recruitment averaged 2.5 participants per month and 27 of 30 (90%) participants "
                  "were retained at 12 weeks.") == []


def test_a_share_of_a_group_after_by_is_the_group_value_not_a_change():
    found = find_effects("Complete relief was reported by 38% of the needling arm and 21% of the control arm.")
    assert [(e.value, e.level) for e in found] == [(38.0, "arm"), (21.0, "arm")]
    # "by N%" of a change stays a change within the group
    assert [(e.value, e.level) for e in find_effects("Headache days fell by 35% in the needling arm.")] == [(35.0, "within_group")]


def test_an_estimate_adjusted_for_baseline_is_not_a_baseline_description():
    found = find_effects("Adjusted for baseline scores, the arms differed by 2.3 points (95% CI 0.9 to 3.7).")
    assert [(e.measure, e.value, e.ci_low, e.ci_high, e.level) for e in found] == [("MD", 2.3, 0.9, 3.7, "between_groups")]
    assert find_effects("Mean age differed by 4 years at baseline (95% CI 1 to 7).") == []


def test_changes_by_a_median_and_a_bare_hedges_g():
    found = find_effects("Migraine days fell by a median of 5 days with needling and 2 days with sham.")
    assert [(e.value, e.level) for e in found] == [(5.0, "within_group"), (2.0, "within_group")]
    found = find_effects("The standardised effect favoured needling for disability (g = 0.64).")
    assert [(e.measure, e.value) for e in found] == [("SMD", 0.64)]


def test_a_share_with_an_adverse_event_is_not_an_effect():
    assert find_effects("Transient muscle weakness was reported by 9% of patients in the injection arm.") == []


def test_a_bayesian_probability_is_not_an_effect():
    found = find_effects("Needling reduced migraine days by 1.8 (95% CrI 0.6 to 3.0), a 98.7% posterior probability of benefit.")
    assert [e.value for e in found] == [1.8]
    assert find_effects("The probability that needling was superior to sham was 91%.") == []


def test_a_reviews_share_of_its_studies_is_not_an_effect():
    assert find_effects("Most trials measured headache frequency (82% of the included studies) and disability (47% of studies).") == []


def test_a_fall_written_without_its_sign_keeps_its_signed_interval():
    found = find_effects("Attack frequency dropped by 1.4 per month (95% CI −2.6 to −0.2) with needling.")
    assert [(e.value, e.ci_low, e.ci_high) for e in found] == [(1.4, -2.6, -0.2)]
    # the level of a credible interval is not a result
    assert [e.value for e in find_effects("Pain fell by 2.2 points (95% CrI −3.0 to −1.4).")] == [2.2]


def test_two_groups_medians_with_their_iqr_and_means_with_sd_in_square_brackets():
    found = find_effects("Attack days were fewer with needling (median 4 [IQR 2-6] versus 7 [IQR 5-9]).")
    assert [(e.value, e.ci_low, e.level) for e in found] == [(4.0, None, "arm"), (7.0, None, "arm")]
    found = find_effects("Pain intensity was 3.1 [SD 1.2] with needling and 4.4 [SD 1.5] with sham.")
    assert [e.value for e in found] == [3.1, 4.4]


def test_eta_squared_and_a_transient_symptom_are_not_effects():
    assert find_effects("Disability improved more with needling (partial η² = 0.18).") == []
    assert find_effects("Transient bruising occurred in 12% of the needling group.") == []
    found = find_effects("Complete relief was reported by 30% and 12% of patients, respectively.")
    assert [(e.value, e.level) for e in found] == [(30.0, "arm"), (12.0, "arm")]


def test_medians_joined_by_and_a_rate_closing_an_elided_change_and_an_interval_after_a_comma():
    found = find_effects("At 12 weeks, median HIT-6 scores were 52 (IQR 48–58) and 60 (IQR 55–64), respectively.")
    assert [(e.value, e.level) for e in found] == [(52.0, "arm"), (60.0, "arm")]
    found = find_effects("HIT-6 scores fell from 64 to 55, and rescue medication days from 9.2 to 6.0 per month.")
    assert [e.value for e in found] == [55.0, 6.0]
    found = find_effects("Neck function improved more with needling (adjusted difference 2.1 points, 0.6 to 3.6).")
    assert [(e.value, e.ci_low, e.ci_high, e.outcome) for e in found] == [(2.1, 0.6, 3.6, "disability")]
    # a share of the control participants is a group's result like any other
    found = find_effects("Tender points were found in 74% of patients and 18% of controls.")
    assert [e.value for e in found] == [74.0, 18.0]


def test_an_outcome_named_in_the_next_clause_is_not_the_numbers():
    found = find_effects("Serum cortisol was 21% lower in the needling group than in the sham group (P = .02), and β-endorphin was higher.")
    assert [(e.value, e.outcome) for e in found] == [(21.0, "other")]
    # within its own clause, a term after the number still names it
    found = find_effects("After needling, 21% fewer attacks were recorded than after sham.")
    assert [(e.value, e.outcome) for e in found] == [(21.0, "frequency")]


def test_changes_written_in_words_and_medians_with_their_unit():
    found = find_effects("Median attack intensity fell from eight to four with needling.")
    assert [(e.value, e.value_text) for e in found] == [(4.0, "four")]
    found = find_effects("Headache days fell by six with needling and by three with stretching.")
    assert [(e.value, e.level) for e in found] == [(6.0, "within_group"), (3.0, "within_group")]
    # numbers in words that are not results stay unread
    assert find_effects("Two of the twelve patients were lost to follow-up by three months.") == []
    found = find_effects("Pressure pain thresholds were 3.4 kg/cm² (IQR 2.9–3.8) and 2.6 kg/cm² (IQR 2.2–3.1), respectively.")
    assert [(e.value, e.outcome) for e in found] == [(3.4, "pressure_pain_threshold"), (2.6, "pressure_pain_threshold")]


def test_values_with_their_group_named_in_brackets_and_changes_written_with_arrows():
    found = find_effects("Headache days in the last month were 5.1 (needling), 7.4 (stretching) and 8.0 (waiting list).")
    assert [(e.value, e.outcome, e.level) for e in found] == [(5.1, "frequency", "arm"), (7.4, "frequency", "arm"),
                                                              (8.0, "frequency", "arm")]
    # a bracket holding a count, a spread or a description is not a group's name
    assert find_effects("Patients were allocated to needling (n = 30) or sham (n = 30).") == []
    found = find_effects("Before → after (means): HIT-6 63 → 55; headache days 12.0 → 7.5.")
    assert [(e.value, e.outcome) for e in found] == [(55.0, "disability"), (7.5, "frequency")]
    found = find_effects("NDI, needling: 28.4 ± 6.1 → 15.2 ± 5.0; exercise: 27.9 ± 5.8 → 20.6 ± 6.3.")
    assert [e.value for e in found] == [15.2, 20.6]


def test_an_outcome_named_after_points_for_is_the_numbers():
    found = find_effects("The difference was 0.8 points on the NPRS (95% CI 0.1 to 1.5) and 3.0 points for the HIT-6 (95% CI 0.9 to 5.1).")
    assert [(e.value, e.outcome) for e in found] == [(0.8, "pain_intensity"), (3.0, "disability")]
