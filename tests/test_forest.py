"""Forest plots a person can read: who each row is, which way is better, ticks once,
legible on a phone; and a digest without sideways scrolling at 390 px."""

from __future__ import annotations

import json
import re

import pytest

from browser import PHONE, box, chrome, needs_chromium, page_width, screenshot
from pipeline import digest, forest, store, update
from pipeline.sources import snapshot_source
from pipeline.topic import load_topic

SENTENCE = (
    "For short-term pain intensity, very low-quality evidence showed no statistically significant advantage over "
    "comparators in TTH (SMD -1.27, 95% CI -3.56 to 1.03; n = 230), CGH (SMD -0.41, 95% CI -4.69 to 3.87; n = 104) "
    "or mixed TTH/migraine samples (SMD 0.03, 95% CI -0.42 to 0.48; n = 90)."
)
AUTHORS = json.dumps([{"last_name": "Pourahmadi", "initials": "M"}, {"last_name": "Dommerholt", "initials": "J"}])


def effect(value, low, high, value_text, *, outcome="pain_intensity", measure="SMD", time_point="short-term",
           comparison=None, sentence=SENTENCE):
    return {"outcome": outcome, "measure": measure, "value": value, "ci_low": low, "ci_high": high,
            "time_point": time_point, "comparison": comparison, "value_text": value_text, "sentence": sentence}


def row(ref=3, authors=AUTHORS, year=2021, direction="inconclusive"):
    return {"ref": ref, "study": {"authors": authors, "year": year, "design": "meta_analysis", "direction": direction}}


MA = [
    (row(), effect(-1.27, -3.56, 1.03, "SMD -1.27, 95% CI -3.56 to 1.03")),
    (row(), effect(-0.41, -4.69, 3.87, "SMD -0.41, 95% CI -4.69 to 3.87")),
    (row(), effect(0.03, -0.42, 0.48, "SMD 0.03, 95% CI -0.42 to 0.48")),
]


def texts(svg: str, cls: str) -> list[str]:
    return [re.sub(r"<[^>]+>", " ", t).split() and " ".join(re.sub(r"<[^>]+>", " ", t).split())
            for t in re.findall(rf'<text[^>]*class="{cls}"[^>]*>(.*?)</text>', svg, re.S)]


def test_rows_carry_author_year_subgroup_and_time_point():
    svg = str(forest.forest_plot("pain_intensity", "SMD", MA))
    labels = texts(svg, "label")
    assert labels == [
        "Pourahmadi et al. 2021 [3] · TTH · short-term",
        "Pourahmadi et al. 2021 [3] · CGH · short-term",
        "Pourahmadi et al. 2021 [3] · mixed TTH/migraine samples · short-term",
    ]
    assert len(set(labels)) == len(labels)


def test_a_comparison_column_names_the_row():
    items = [
        (row(1, json.dumps([{"last_name": "Navarro-Santana"}]), 2020),
         effect(-1.53, -2.29, -0.76, "MD −1.53", measure="MD", time_point="immediately after treatment", comparison="Compared with sham")),
        (row(1, json.dumps([{"last_name": "Navarro-Santana"}]), 2020),
         effect(-0.51, -0.95, -0.06, "MD −0.51", measure="MD", time_point="short-term", comparison="compared with manual therapy")),
    ]
    labels = texts(str(forest.forest_plot("pain_intensity", "MD", items)), "label")
    assert labels == [
        "Navarro-Santana 2020 [1] · vs sham · immediately after treatment",
        "Navarro-Santana 2020 [1] · vs manual therapy · short-term",
    ]


def test_rows_that_would_read_alike_are_told_apart():
    same = [(row(), effect(-1.0, -2.0, 0.5, "a", sentence="x")), (row(), effect(-0.5, -1.0, 0.2, "b", sentence="x"))]
    labels = texts(str(forest.forest_plot("pain_intensity", "SMD", same)), "label")
    assert len(set(labels)) == 2


@pytest.mark.parametrize("outcome, measure, left, right", [
    ("pain_intensity", "SMD", "← favours needling", "favours comparator →"),
    ("frequency", "MD", "← favours needling", "favours comparator →"),
    ("disability", "SMD", "← favours needling", "favours comparator →"),
    ("range_of_motion", "MD", "← favours comparator", "favours needling →"),
    ("pain_intensity", "OR", "← lower", "higher →"),  # is the event good or bad? not known: no guess
    ("pain_intensity", "d", "← lower", "higher →"),  # Cohen's d is often unsigned
    ("blood_flow", "MD", "← lower", "higher →"),  # no agreed better side
])
def test_the_axis_says_which_side_favours_needling(outcome, measure, left, right):
    items = [(row(), effect(v, v - 0.5, v + 0.5, "x", outcome=outcome, measure=measure, sentence=f"s{v}"))
             for v in (1.2, 1.8)]
    svg = str(forest.forest_plot(outcome, measure, items))
    assert texts(svg, "favours") == [left, right]


def test_a_study_contradicting_the_assumed_direction_makes_it_unknown():
    """A 'mean difference 4.3 days' in days saved favours needling though it is positive: no guess then."""
    items = [(row(direction="favours_needling"), effect(4.3, 2.0, 6.5, "MD 4.3", outcome="frequency", measure="MD", sentence="a")),
             (row(direction="favours_needling"), effect(4.5, 2.1, 6.8, "MD 4.5", outcome="frequency", measure="MD", sentence="b"))]
    assert texts(str(forest.forest_plot("frequency", "MD", items)), "favours") == ["← lower", "higher →"]


@pytest.mark.parametrize("values", [(0.2, 0.9), (0.02, 0.04), (-0.42, 1.03), (-4.69, 3.87), (0.1, 0.4)])
def test_ticks_are_distinct_and_include_no_effect(values):
    lo, hi = values
    items = [(row(), effect(lo, lo, hi, "x", sentence="a")), (row(), effect((lo + hi) / 2, lo, hi, "y", sentence="b"))]
    ticks = texts(str(forest.forest_plot("pain_intensity", "SMD", items)), "tick")
    assert len(ticks) == len(set(ticks)) >= 3
    assert "0" in ticks


def test_ratio_ticks_are_distinct_around_one():
    items = [(row(), effect(2.65, 1.5, 4.77, "x", measure="OR", sentence="a")),
             (row(), effect(2.4, 1.36, 4.3, "y", measure="OR", sentence="b"))]
    ticks = texts(str(forest.forest_plot("frequency", "OR", items)), "tick")
    assert len(ticks) == len(set(ticks)) and "1" in ticks


@pytest.fixture
def rendered(tmp_path):
    db = store.open_db(tmp_path / "e.db")
    update.load(db, snapshot_source(), command="run")
    update.extract_pending(db)
    html, _ = digest.write_digest(db, load_topic(), tmp_path)
    return html


LEGIBLE_PX = 11  # the issue asks for about 9; the layout gives about 15, so keep a margin that still catches a regression


@needs_chromium
def test_forest_plots_are_legible_on_a_phone(rendered, tmp_path):
    with chrome(*PHONE) as driver:
        driver.get(rendered.as_uri())
        assert page_width(driver) <= PHONE[0]
        plots = driver.find_elements("css selector", "svg.forest")
        assert len(plots) >= 3
        for i, plot in enumerate(plots):
            driver.execute_script("arguments[0].scrollIntoView()", plot)
            screenshot(driver, tmp_path / f"forest-{i}.png")
            rect = plot.rect
            assert rect["x"] >= 0 and rect["x"] + rect["width"] <= PHONE[0]
            labels = plot.find_elements("css selector", "text.label")
            names = [t.text for t in labels]
            assert len(set(names)) == len(names) and all(re.search(r"\b(19|20)\d\d\b", n) for n in names)
            for t in plot.find_elements("css selector", "text"):
                height = driver.execute_script("return arguments[0].getBoundingClientRect().height", t)
                assert height >= LEGIBLE_PX, (t.text, height)
            ticks = [t.text for t in plot.find_elements("css selector", "text.tick")]
            assert len(ticks) == len(set(ticks))


@needs_chromium
def test_the_digest_fits_a_phone_without_sideways_scrolling(rendered, tmp_path):
    with chrome(*PHONE) as driver:
        driver.get(rendered.as_uri())
        screenshot(driver, tmp_path / "phone-top.png")
        assert page_width(driver) <= PHONE[0]
        table = box(driver, "#overview table")
        assert table["right"] <= PHONE[0]
        driver.execute_script("document.getElementById('overview').scrollIntoView()")
        screenshot(driver, tmp_path / "phone-overview.png")
        # Every verdict badge is on screen, not cut off at the right.
        for badge in driver.find_elements("css selector", "#overview .badge"):
            assert badge.rect["x"] + badge.rect["width"] <= PHONE[0]
        driver.execute_script("document.getElementById('methods').scrollIntoView()")
        screenshot(driver, tmp_path / "phone-methods.png")
