"""The claim finder: it reads an article (text, Markdown, HTML), proposes the sentences
that assert an effect, a mechanism, a safety property or a background fact with
their kind and vocabulary terms, writes them as topic-file YAML, and is measured
against hand-labelled lists of claims."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline import claim_finder as cf
from pipeline import rules
from pipeline.claims import load_claims
from pipeline.topic import Topic, load_topic

TESTS = Path(__file__).parent
GOLD = TESTS / "gold" / "claims"  # hand-labelled claims of articles (not extraction gold)
ARTICLES = TESTS / "data" / "articles"
CUES = cf.cues()
TOPIC = load_topic()
ARTICLE = TOPIC.article_text() or ""
SUGGESTED = cf.suggest(ARTICLE, topic=TOPIC)


def holding(words: str, suggestions: list[cf.Suggestion] = SUGGESTED) -> cf.Suggestion:
    """The one proposal whose quote holds `words`."""
    found = [s for s in suggestions if words.lower() in s.quote.lower()]
    assert len(found) == 1, f"{len(found)} proposals hold {words!r}"
    return found[0]


# --- the cue rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", CUES.rules, ids=[r.id for r in CUES.rules])
def test_every_cue_fires_on_its_examples_and_not_on_its_counterexamples(rule):
    """Each cue is its own test: the file would not load otherwise, this names the cue."""
    for ex in rule.examples:
        assert CUES.fires(rule, ex.text), f"{rule.id} does not fire on {ex.text!r}"
    for text in rule.counterexamples:
        assert not CUES.fires(rule, text), f"{rule.id} fires on {text!r}"


def test_every_label_has_cues_every_list_is_used_and_every_cue_reads_a_sentence():
    assert {r.label for r in CUES.rules} == set(CUES.labels) == {*cf.KINDS, "not_claim"}
    used = " ".join(r.pattern for r in CUES.rules)
    assert [name for name in CUES.lists if "{" + name + "}" not in used] == []
    assert {r.scope for r in CUES.rules} == {"sentence"}


def test_the_cues_live_apart_from_the_extractors_rules():
    """rules/claims/ is a subfolder, so the extractor's fingerprint (rules/*.yml) ignores it."""
    assert cf.CUES_DIR.parent == rules.RULES_DIR
    assert all(path.parent == rules.RULES_DIR for path in rules.RULES_DIR.glob("*.yml"))
    assert not set(rules.load().labels) & set(CUES.labels)


# --- the bundled article ------------------------------------------------------------------------


def test_every_claim_of_the_topic_file_is_proposed_and_marked_existing():
    existing = {s.existing: s for s in SUGGESTED if s.existing}
    assert sorted(existing) == sorted(c.id for c in load_claims(TOPIC))
    assert existing["blood-flow"].kind == "mechanism" and existing["blood-flow"].outcomes == ["blood_flow"]
    assert existing["endorphins"].kind == "mechanism" and existing["endorphins"].outcomes == ["endorphins"]
    assert existing["intensity-duration"].kind == "efficacy"
    assert {"pain_intensity", "duration"} <= set(existing["intensity-duration"].outcomes)
    assert "range_of_motion" in existing["range-of-motion"].outcomes
    assert existing["tension-type-and-migraine"].headache_types == ["tension_type", "migraine"]
    assert "medication" in existing["drug-free"].comparators


@pytest.mark.parametrize(
    "words, kind",
    [
        ("highly effective", "efficacy"),
        ("promising results", "efficacy"),
        ("minimally invasive procedure performed by trained healthcare professionals", "safety"),
        ("muscle tension and dysfunction often play a significant role", "background"),
        ("can refer pain to other areas of the body, including the head", "background"),
        ("enhance overall well-being", "efficacy"),
        ("a sense of relaxation", "efficacy"),
    ],
)
def test_the_claims_the_issue_lists_are_proposed_with_their_kind(words, kind):
    assert holding(words).kind == kind


def test_a_note_names_what_no_vocabulary_term_covers():
    relaxation = holding("a sense of relaxation")
    assert "quality_of_life" in relaxation.outcomes  # well-being
    assert relaxation.note == "no vocabulary term for: relaxation"
    assert holding("highly effective").note == "no outcome in the vocabulary fits"
    assert holding("minimally invasive").note.startswith("a safety claim")
    assert holding("play a significant role").note.startswith("a background fact")
    assert holding("These endorphins").section == "Neurological Effects"  # the list item's label


def test_headings_the_article_about_itself_and_calls_to_action_are_not_proposed():
    quotes = " ".join(s.quote for s in SUGGESTED)
    for words in ("What is Dry Needling", "In this blog post", "consultation at", "worth exploring"):
        assert words not in quotes
    assert len(SUGGESTED) == 25  # of the article's 28 sentences (headings aside)


def test_to_yaml_is_the_topic_files_claim_shape_and_loads_as_claims():
    text = cf.to_yaml(SUGGESTED, source=TOPIC.article_path.name)
    assert text.startswith("# Claims proposed from how-dry-needling-can-alleviate-headaches.txt.")
    data = yaml.safe_load(text)
    assert [c["quote"] for c in data["claims"]] == [s.quote for s in SUGGESTED]
    first = data["claims"][0]
    assert first == {
        "id": "headaches-common-ailment-significantly-impact",
        "text": "Headaches are a common ailment that can significantly impact our quality of life.",
        "quote": "Headaches are a common ailment that can significantly impact our quality of life.",
        "kind": "background",
        "terms": ["headaches", "ailment", "significantly", "impact"],  # a first guess at the words, for the writer to edit
        "note": cf._note("", "background", [], []),
    }
    blood = next(c for c in data["claims"] if c.get("existing") == "blood-flow")
    assert blood["outcomes"] == ["blood_flow"] and blood["kind"] == "mechanism"
    # The topic file's own loader takes the proposals as they are (kind, note, existing are extra).
    topic = Topic(id="t", title="t", query="q", path=Path("proposed.yml"), raw=data)
    assert [c.id for c in load_claims(topic)] == [s.id for s in SUGGESTED]
    assert yaml.safe_load(cf.to_yaml([])) == {"claims": []}


# --- reading formats ----------------------------------------------------------------------------

TAI_CHI_HTML = """<!DOCTYPE html>
<html><head><title>Tai Chi for Knee Pain | Riverside Physio</title>
<style>body { font-family: sans-serif; }</style>
<script>var claim = "Tai chi is highly effective for everyone.";</script></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li>Our treatments are effective for every condition you can name</li></ul></nav>
<article>
<h1>Can Tai Chi Ease Knee Osteoarthritis?</h1>
<p>Knee osteoarthritis is one of the most common causes of chronic pain in older adults. It affects more than
300 million people worldwide, and the risk rises with age and body weight.</p>
<p>Tai chi is a gentle form of exercise that originated in China as a martial art. In this article, we look at
what the research says.</p>
<h2>What does the evidence say?</h2>
<p>A 2016 randomised trial found that tai chi was as effective as physical therapy for knee osteoarthritis.
Participants who practised twice a week reported less pain and better physical function after 12&nbsp;weeks.
Many people also notice improvements in balance and sleep.</p>
<h2>How does it work?</h2>
<ul>
<li><strong>Muscle strength:</strong> The slow, weight-bearing movements strengthen the quadriceps, which support
and stabilise the knee joint.</li>
<li><strong>Mind &amp; body:</strong> Tai chi calms the nervous system and may lower levels of the stress hormone cortisol.</li>
</ul>
<h2>Is it safe?</h2>
<p>Tai chi is low-impact and generally safe for older adults, and serious side effects are rare. People with
severe knee instability should avoid deep stances until they have spoken to a physiotherapist.</p>
<p>Why not join one of our classes? Book a free consultation with our team today!</p>
</article>
<footer><p>Our treatments are effective and safe for every condition you can name.</p></footer>
</body></html>"""


def test_html_drops_scripts_styles_navigation_and_keeps_headings_as_headings():
    got = cf.blocks(TAI_CHI_HTML)
    assert cf.guess_format(TAI_CHI_HTML) == "html"
    assert [b.text for b in got if b.kind == "heading"] == [
        "Can Tai Chi Ease Knee Osteoarthritis?", "What does the evidence say?", "How does it work?", "Is it safe?",
    ]
    text = " ".join(b.text for b in got)
    assert "every condition" not in text and "font-family" not in text and "Riverside" not in text
    assert "12\xa0weeks" in text or "12 weeks" in text
    assert cf.Block("item", "Mind & body: Tai chi calms the nervous system and may lower levels of the stress hormone cortisol.") in got
    nested = cf.blocks("<ul><li><p><b>Label:</b> Said here.</p></li><li>Two</li></ul><p>After.</p>", "html")
    assert nested == [cf.Block("item", "Label: Said here."), cf.Block("item", "Two"), cf.Block("paragraph", "After.")]


def test_a_second_article_on_another_topic_gets_every_kind_and_no_call_to_action():
    """An HTML page on tai chi for knee osteoarthritis, hand-labelled here: 10 claims, 0 other sentences proposed."""
    got = cf.suggest(TAI_CHI_HTML)
    kinds = {s.quote[:41]: s.kind for s in got}
    assert kinds == {
        "Knee osteoarthritis is one of the most co": "background",
        "It affects more than 300 million people w": "background",
        "Tai chi is a gentle form of exercise that": "background",
        "A 2016 randomised trial found that tai ch": "efficacy",
        "Participants who practised twice a week r": "efficacy",
        "Many people also notice improvements in b": "efficacy",
        "The slow, weight-bearing movements streng": "mechanism",
        "Tai chi calms the nervous system and may ": "efficacy",  # a mechanism the modal cue takes: a known miss
        "Tai chi is low-impact and generally safe ": "safety",
        "People with severe knee instability shoul": "safety",
    }
    assert holding("reported less pain", got).outcomes == ["pain_intensity"]
    assert holding("reported less pain", got).note == "no vocabulary term for: function"
    assert all(s.existing is None and s.headache_types == [] for s in got)


FOAM_MD = """---
title: Foam rolling
---

# Foam Rolling for Runners: Does It Help?

Muscle soreness after a long run is **very common**, especially in people who have just increased their mileage.

## What the research shows

A [2019 meta-analysis](https://example.org/study) found that foam rolling *slightly* reduced muscle soreness.

* **Nerves:** The pressure stimulates nerve endings in the skin and fascia.

| Muscle | Claim |
|---|---|
| Calves | Rolling is highly effective |

```
Rolling is proven to cure everything.
```

Have questions? Contact us to book a session.
"""


def test_markdown_drops_front_matter_tables_and_code_and_strips_inline_markup():
    assert cf.guess_format(FOAM_MD) == "markdown"
    assert cf.blocks(FOAM_MD) == [
        cf.Block("heading", "Foam Rolling for Runners: Does It Help?"),
        cf.Block("paragraph", "Muscle soreness after a long run is very common, especially in people who have just increased their mileage."),
        cf.Block("heading", "What the research shows"),
        cf.Block("paragraph", "A 2019 meta-analysis found that foam rolling slightly reduced muscle soreness."),
        cf.Block("item", "Nerves: The pressure stimulates nerve endings in the skin and fascia."),
        cf.Block("paragraph", "Have questions? Contact us to book a session."),
    ]
    assert [(s.kind, s.section) for s in cf.suggest(FOAM_MD)] == [
        ("background", "Foam Rolling for Runners: Does It Help?"),
        ("efficacy", "What the research shows"),
        ("mechanism", "Nerves"),
    ]


def test_plain_text_finds_titles_bullets_and_wrapped_paragraphs():
    text = "A Title Line\n\nFirst line of a paragraph that\nwraps onto a second line.\n\n  • An item: it says one thing.\n- Another item here.\n"
    assert cf.guess_format(text) == "markdown"  # a "- " bullet is Markdown; the text reader reads it the same
    assert cf.blocks(text, "text") == [
        cf.Block("heading", "A Title Line"),
        cf.Block("paragraph", "First line of a paragraph that wraps onto a second line."),
        cf.Block("item", "An item: it says one thing."),
        cf.Block("item", "Another item here."),
    ]
    with pytest.raises(ValueError, match="unknown format"):
        cf.blocks(text, "pdf")
    assert cf.format_for("a/b.HTM") == "html" and cf.format_for("x.md") == "markdown" and cf.format_for("x") is None


# --- scoring ------------------------------------------------------------------------------------


def test_score_matches_by_quote_overlap_and_counts_kinds():
    gold = {"claims": [
        {"quote": "highly effective", "kind": "efficacy"},
        {"quote": "Dry needling is a minimally invasive procedure", "kind": "safety"},
        {"quote": "muscle tension and dysfunction often play a significant role", "kind": "mechanism"},
        {"quote": "a sentence the article does not have at all", "kind": "efficacy"},
    ]}
    result = cf.score(SUGGESTED, gold)
    assert (result["labelled"], result["found"], result["recall"]) == (4, 3, 0.75)
    assert result["true_positives"] == 3 and result["precision"] == 3 / 25
    assert result["kind_accuracy"] == 2 / 3
    assert result["missed"] == ["a sentence the article does not have at all"]
    assert result["wrong_kind"] == [("muscle tension and dysfunction often play a significant role", "mechanism", "background")]
    # A bare list of quotes is a gold list too, without kinds.
    assert cf.score(SUGGESTED, ["highly effective"])["kind_accuracy"] is None
    assert cf.overlap("a sense of relaxation", "the sense of humour and a relaxation") < cf.GOLD_OVERLAP


# --- against the hand-labelled lists (written blind to the cues) --------------------------------

# First-run figures, recorded once when the cues were finished (2026-12-02) and never
# tuned to these labels afterwards; the floors hold them, rounded down.
#   bundled article: precision 21/25 = 0.840, recall 21/21 = 1.000, kind accuracy 18/21 = 0.857
#   yoga article:    precision 15/18 = 0.833, recall 17/28 = 0.607, kind accuracy 14/17 = 0.824
FLOORS: dict[str, dict[str, float] | None] = {
    "article_claims.json": {"precision": 0.84, "recall": 1.0, "kind_accuracy": 0.85},
    "article_claims_yoga.json": {"precision": 0.83, "recall": 0.60, "kind_accuracy": 0.82},
}


def _article(gold: dict, default: Path) -> tuple[str, str | None]:
    path = TESTS.parent / gold["article"] if isinstance(gold, dict) and isinstance(gold.get("article"), str) else default
    if not path.is_file():
        path = default
    return path.read_text(encoding="utf-8"), cf.format_for(path)


@pytest.mark.parametrize(
    "gold_name, article",
    [
        ("article_claims.json", TOPIC.article_path),
        ("article_claims_yoga.json", ARTICLES / "yoga-low-back-pain.md"),
    ],
)
def test_precision_and_recall_against_the_hand_labelled_claims_hold_their_first_run(gold_name, article):
    gold_path = GOLD / gold_name
    assert gold_path.is_file() and article.is_file()
    floor = FLOORS[gold_name]
    gold = json.loads(gold_path.read_text(encoding="utf-8"))
    text, fmt = _article(gold, article)
    result = cf.score(cf.suggest(text, fmt=fmt, topic=TOPIC if "yoga" not in gold_name else None), gold)
    assert result["recall"] >= floor["recall"], result["missed"]
    assert result["precision"] >= floor["precision"], result["extra"]
    if floor.get("kind_accuracy") is not None:
        assert result["kind_accuracy"] >= floor["kind_accuracy"], result["wrong_kind"]
