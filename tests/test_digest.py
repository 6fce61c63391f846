"""The article digest: claims in order in both formats, citations that resolve,
escaping, forest plots, the change section, and the rendered page."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from browser import PHONE, box, chrome, needs_chromium, page_width, screenshot
from fake_eutils import make_efetch, record_bytes, with_fresh_pmids
from pipeline import claims as C
from pipeline import digest, store, update
from pipeline.cli import cli
from pipeline.sources import Source, snapshot_source
from pipeline.topic import PROJECT_ROOT, load_topic

SCREENSHOT = PROJECT_ROOT / "scripts" / "screenshot.sh"


@pytest.fixture
def built(tmp_path):
    db = store.open_db(tmp_path / "e.db")
    update.load(db, snapshot_source(), command="run")
    update.extract_pending(db)
    html, md = digest.write_digest(db, load_topic(), tmp_path)
    return db, html.read_text(), md.read_text(), tmp_path


def test_every_claim_appears_in_both_formats_in_the_articles_order(built):
    _, html, md, _ = built
    claims = C.load_claims(load_topic())
    for text in (html, md):
        positions = [text.index(f"{i}. {c.text}") for i, c in enumerate(claims, 1)]
        assert positions == sorted(positions)


def test_every_citation_resolves_to_a_stored_pmid(built):
    db, html, md, _ = built
    stored = {r["pmid"] for r in db["studies"].rows}
    cited = set(re.findall(r"pubmed\.ncbi\.nlm\.nih\.gov/(\d+)/", html))
    assert cited and cited <= stored
    assert set(re.findall(r"pubmed\.ncbi\.nlm\.nih\.gov/(\d+)/", md)) == cited
    # Every [n] used in a claim has its reference.
    numbers = {int(n) for n in re.findall(r'href="#ref-(\d+)"', html)}
    assert numbers <= {int(n) for n in re.findall(r'<li id="ref-(\d+)"', html)}


def _claim_text(claim_id: str, topic=None) -> str:
    return next(c.text for c in C.load_claims(topic or load_topic()) if c.id == claim_id)


def md_claim(md: str, claim_id: str, topic=None) -> str:
    """One claim's section of the Markdown digest (found by its id, whatever its number)."""
    text = _claim_text(claim_id, topic)
    start = re.search(r"^## \d+\. " + re.escape(text) + "$", md, re.M).start()
    end = md.find("\n## ", start + 1)
    return md[start : end if end > 0 else len(md)]


def html_claim(html: str, claim_id: str) -> str:
    """One claim's section of the HTML digest."""
    start = html.index(f'id="claim-{claim_id}"')
    return html[start : html.index("</section>", start)]


def test_unsupported_mechanisms_are_said_plainly(built):
    _, html, md, _ = built
    for claim_id in ("blood-flow", "endorphins"):
        for section in (html_claim(html, claim_id), md_claim(md, claim_id)):
            assert "No direct evidence among 7 studies" in section
            assert "supports" not in section.lower().replace("study supports", "")
            assert "checked by a person" not in section  # no study to check


def test_forest_plot_where_comparable_effects_exist(built):
    _, html, _, _ = built
    first = html[html.index('id="claim-trigger-point-pain"') : html.index('id="claim-blood-flow"')]
    assert first.count("<svg") == 1 and first.count('class="point"') == 3
    last = html[html.index('id="claim-tension-type-and-migraine"') : html.index('id="references"')]
    assert last.count("<svg") == 2  # pain intensity and disability: one plot per outcome
    endorphins = html[html.index('id="claim-endorphins"') : html.index('id="claim-intensity-duration"')]
    assert "<svg" not in endorphins


def test_methods_note_and_suggested_rewording(built):
    _, html, md, _ = built
    assert "dry needling" in html[html.index('id="methods"') :] and "Verdict of a claim" in html
    assert "Suggested wording" in html and "*Suggested wording:*" in md


@pytest.mark.reliability("input", "<script> in a title or abstract")
def test_script_in_a_title_or_abstract_is_escaped(tmp_path, snapshot_xml):
    records = record_bytes(snapshot_xml)
    evil = records[0].replace(
        b"versus sham needling for chronic", b"versus sham needling &lt;script&gt;alert(1)&lt;/script&gt; for chronic"
    ).replace(b"In this sample,", b"In this sample &lt;script&gt;steal()&lt;/script&gt;,").replace(
        b"10.1097/MD.0000000000014520", b"10.1097/MD.0000000000014520&quot;&gt;&lt;script&gt;x()&lt;/script&gt;"
    )
    db = store.open_db(tmp_path / "e.db")
    update.load(db, Source("file", "t", lambda: iter([make_efetch([evil] + records[1:])])), command="import")
    update.extract_pending(db)
    html, md = digest.write_digest(db, load_topic(), tmp_path)
    page = html.read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    markdown = md.read_text()
    assert "<script>" not in markdown and '">' not in markdown
    assert "doi.org/10.1097/MD.0000000000014520%22%3E%3Cscript%3E" in page


def test_the_change_section_lists_what_moved(tmp_path, snapshot_xml):
    records = record_bytes(snapshot_xml)
    db = store.open_db(tmp_path / "e.db")
    update.load(db, Source("file", "t", lambda: iter([make_efetch(records[1:])])), command="import")
    update.extract_pending(db)
    first, _ = digest.write_digest(db, load_topic(), tmp_path)
    assert "Changes since the previous digest" not in first.read_text()
    retracted = records[1].replace(
        b'<PublicationType UI="D016428">Journal Article</PublicationType>',
        b'<PublicationType UI="D016428">Journal Article</PublicationType><PublicationType UI="D016441">Retracted Publication</PublicationType>',
    )
    update.load(db, Source("file", "t", lambda: iter([make_efetch([records[0], retracted] + records[2:])])), command="import")
    update.extract_pending(db)
    second, md = digest.write_digest(db, load_topic(), tmp_path)
    page = second.read_text()
    changes = page[page.index('id="changes"') : page.index('id="references"')]
    assert "New studies: 1" in changes and "30813155" in changes
    assert "Newly retracted: 1" in changes and "33609358" in changes
    assert "RETRACTED" in page


def test_run_writes_the_digest_beside_the_database_and_names_it(tmp_path):
    result = CliRunner().invoke(cli, ["run", "--source", "snapshot", "--db", str(tmp_path / "e.db")])
    assert result.exit_code == 0
    assert f"Digest: {tmp_path / 'digest.html'}" in result.output
    assert (tmp_path / "digest.md").exists()


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium not installed (.ci/run installs it)")
def test_the_digest_renders_to_a_readable_png(built):
    """Headless Debian chromium draws the page: a tall, non-blank PNG."""
    _, _, _, folder = built
    png = folder / "digest.png"
    subprocess.run(
        ["bash", str(SCREENSHOT), str(folder / "digest.html"), str(png), "1100", "2400"],
        check=True, capture_output=True, timeout=120,
    )
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1100, 2400)
    assert len(data) > 100_000  # a blank page compresses to a few kB


def test_export_of_a_claims_studies_round_trips(built):
    """`evidence export --claim` writes the claim's studies; RIS and BibTeX parse back."""
    import bibtexparser
    import rispy

    db, _, _, folder = built
    db_path = str(folder / "e.db")
    expected = {r["pmid"] for r in db["claim_evidence"].rows_where("claim_id = ?", ["trigger-point-pain"])}
    out = folder / "pain.ris"
    result = CliRunner().invoke(cli, ["export", "--format", "ris", "--claim", "trigger-point-pain", "--db", db_path, "--out", str(out)])
    assert result.exit_code == 0, result.output
    entries = rispy.loads(out.read_text())
    assert {e["accession_number"] for e in entries} == expected
    bib = CliRunner().invoke(cli, ["export", "--format", "bibtex", "--db", db_path]).output
    library = bibtexparser.parse_string(bib)
    assert not library.failed_blocks
    assert len(library.entries) == db["studies"].count_where("on_topic = 1")


def test_a_second_topic_file_works_the_same_way(tmp_path):
    """Another article with its own claims: the pipeline is not wired to the first one."""
    (tmp_path / "article.txt").write_text("Needling helps neck disability in cervicogenic headache.\n")
    topic_file = tmp_path / "cervicogenic.yml"
    topic_file.write_text(
        "id: cgh\ntitle: Dry needling for cervicogenic headache\n"
        "query: '\"dry needling\"[tiab] AND cervicogenic[tiab]'\n"
        "article: {title: Needling and the neck, file: article.txt}\n"
        "claims:\n"
        "  - {id: neck-disability, text: Needling lowers neck disability., quote: helps neck disability,"
        " outcomes: [disability], headache_types: [cervicogenic]}\n"
        "  - {id: sleep, text: Needling improves sleep., quote: sleep, outcomes: [quality_of_life]}\n"
    )
    db_path = tmp_path / "e.db"
    result = CliRunner().invoke(cli, ["run", "--source", "snapshot", "--db", str(db_path), "--topic", str(topic_file)])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "digest.html").read_text()
    assert "Evidence digest: Needling and the neck" in page
    assert "1. Needling lowers neck disability." in page and "2. Needling improves sleep." in page
    assert "blood flow" not in page.lower().split('id="references"')[0]
    claims = {r["id"]: r for r in store.open_db(db_path)["claims"].rows}
    assert set(claims) == {"neck-disability", "sleep"}
    # The meta-analysis's disability estimates favour needling in cervicogenic headache, but it
    # rates its own evidence very low: so is the claim (issue 12).
    assert claims["neck-disability"]["verdict"] == "benefit_very_low_certainty"
    assert claims["neck-disability"]["review_certainty"].startswith("very low (PMID 33609358")


def test_export_leaves_out_retracted_studies(built):
    import rispy

    db, _, _, folder = built
    db.execute("update studies set retracted = 1 where pmid = '30813155'")
    db.conn.commit()
    ris = CliRunner().invoke(cli, ["export", "--format", "ris", "--db", str(folder / "e.db")]).output
    assert "30813155" not in {e["accession_number"] for e in rispy.loads(ris)}


def _header(text: str) -> str:
    return text[: text.index("Claims at a glance")]


def test_the_digest_says_when_it_ran_and_how_current_the_data_is(built):
    """Issue 9 item 7: a run today over the 2025 snapshot is not 'updated today'."""
    _, html, md, _ = built
    for text in (html, md):
        head = _header(text)
        assert "bundled PubMed snapshot of 2025-09-01 — not live; newest PubMed entry 2023-09-04" in head
        assert "Pipeline last ran " in head
        assert ", updated 20" not in head
        methods = text[text.index("Methods") :]
        assert "bundled PubMed snapshot of 2025-09-01 — not live" in methods


def test_a_tie_with_lidocaine_reads_as_what_was_found(built):
    """Issue 9 item 9: the drug-free claim rests on a trial where needling matched lidocaine."""
    _, html, md, _ = built
    for drug_free in (html_claim(html, "drug-free"), md_claim(md, "drug-free")):
        assert "No effect shown" not in drug_free
        assert "no difference from an active treatment (lidocaine or another injection); all groups improved" in drug_free
        # ... and the study's own words for it are quoted.
        assert "All three groups improved significantly on the measured variables" in drug_free
    assert "no difference from an active treatment" in html[html.index('id="methods"') :]


def _topic_with_rewording(tmp_path, written_for: str | None):
    text = (PROJECT_ROOT / "topics" / "dry-needling-headache.yml").read_text()
    # Only the trigger-point-pain claim's wording is edited, wherever the claim stands.
    claim = text.index("  - id: trigger-point-pain\n")
    claim_end = text.index("\n  - id: ", claim + 1)
    marker = "    rewording:\n      text: >-\n        Dry needling targets trigger points"
    block = text[claim:claim_end]
    assert marker in block and "written_for: unclear_very_low_certainty" in block
    if written_for is None:  # drop the claim's rewording altogether
        block = block[: block.index("    rewording:\n")]
    else:
        block = block.replace("written_for: unclear_very_low_certainty", f"written_for: {written_for}", 1)
    text = text[:claim] + block + text[claim_end:]
    (tmp_path / "how-dry-needling-can-alleviate-headaches.txt").write_text("article\n")
    path = tmp_path / "topic.yml"
    path.write_text(text)
    return load_topic(path)


def _digest_for(tmp_path, topic):
    db = store.open_db(tmp_path / "e.db")
    update.load(db, snapshot_source(), command="run")
    update.extract_pending(db)
    html, md = digest.write_digest(db, topic, tmp_path)
    return html.read_text(), md.read_text()


def test_no_wording_is_flagged_when_each_was_written_for_todays_verdict(built):
    _, html, md, _ = built
    assert "review this wording" not in html and "review this wording" not in md


def test_a_wording_written_for_another_verdict_is_flagged(tmp_path):
    """Issue 9 item 10: the evidence moved, the wording did not: say so, and offer a generated one."""
    html, md = _digest_for(tmp_path, _topic_with_rewording(tmp_path, "benefit_moderate_certainty"))
    section = html_claim(html, "trigger-point-pain")
    assert ("written for <em>benefit — moderate certainty</em>, evidence now <em>unclear — very low certainty</em>: "
            "review this wording") in section
    assert "Generated wording" in section and "not written by an editor" in section
    md_section = md_claim(md, "trigger-point-pain")
    assert ("written for *benefit — moderate certainty*, evidence now *unclear — very low certainty*: "
            "review this wording") in md_section
    assert "Generated wording" in md_section
    # The change section lists it, even in the first digest.
    changes = html[html.index('id="changes"') : html.index('id="references"')]
    assert "Wordings to review: 1" in changes and "trigger-point-pain" in changes
    assert "Wordings to review: 1" in md


def test_a_claim_without_a_fitting_wording_gets_a_generated_one(tmp_path):
    html, md = _digest_for(tmp_path, _topic_with_rewording(tmp_path, None))
    section = html_claim(html, "trigger-point-pain")
    assert "Generated wording" in section and "review this wording" not in section
    generated = re.search(r'class="rewording generated">(.*?)</p>', section, re.S).group(1)
    # Honest: very low certainty is said in Cochrane's words, never "shown" or "proven".
    assert "Generated wording:</strong> It is unclear whether dry needling reduces pain intensity" in generated
    assert "very low certainty" in generated and "a review rates its evidence very low certainty" in generated
    assert "proven" not in generated and "shown to" not in generated
    assert "Generated wording" in md_claim(md, "trigger-point-pain")


def test_a_retraction_that_moves_a_verdict_flags_its_wording(built):
    """The evidence moves (the only supporting study is retracted): the wording written for
    'limited' is flagged, and the change section lists the verdict and the wording."""
    db, _, _, folder = built
    db.execute("update studies set retracted = 1 where pmid = '34689708'")
    db.conn.commit()
    html, md = digest.write_digest(db, load_topic(), folder)
    page = html.read_text()
    section = html_claim(page, "range-of-motion")
    assert ("written for <em>benefit — very low certainty</em>, evidence now <em>unclear — very low certainty</em>: "
            "review this wording") in section
    assert "Generated wording" in section
    changes = page[page.index('id="changes"') : page.index('id="references"')]
    assert "range-of-motion: benefit — very low certainty → unclear — very low certainty" in changes
    assert "Wordings to review: 1" in changes and 'href="#claim-range-of-motion"' in changes


def _corpus_db(path, n: int, snapshot_xml):
    """A database of `n` studies: the snapshot's records under fresh PMIDs."""
    records = with_fresh_pmids(record_bytes(snapshot_xml), n, 70_000_000)
    db = store.open_db(path)
    update.load(db, Source("file", "t", lambda: iter([make_efetch(records)])), command="import")
    update.extract_pending(db)
    return db


def _digest_work(db, out) -> tuple[int, int]:
    """SQLite virtual-machine steps (in thousands) to build and record a digest, and
    the size of the row it adds to `digests`."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    db.conn.set_progress_handler(count, 1000)
    try:
        digest.write_digest(db, load_topic(), out)
    finally:
        db.conn.set_progress_handler(None, 0)
    row = db.execute("select * from digests order by id desc limit 1").fetchone()
    return steps[0], sum(len(str(v)) for v in row)


def test_the_digest_work_grows_linearly_and_its_ledger_row_does_not_grow(tmp_path, snapshot_xml):
    """Counted, not timed: from N to 4N studies the digest's database work grows at
    most about fourfold, and each `digests` row stays the same size (it records the
    last run, not every PMID, so the table grows with digests, not digests × N)."""
    work = {}
    for n in (60, 240):
        db = _corpus_db(tmp_path / f"{n}.db", n, snapshot_xml)
        _digest_work(db, tmp_path / f"out{n}")  # the first digest
        work[n] = _digest_work(db, tmp_path / f"out{n}")  # a later one, with nothing new
    (steps_n, row_n), (steps_4n, row_4n) = work[60], work[240]
    assert steps_4n <= 5 * max(steps_n, 1), work
    assert row_4n == row_n, work


def test_a_digest_that_fails_to_write_is_not_the_previous_digest(tmp_path, snapshot_xml):
    """The next digest's changes start from the last one actually written."""
    db = store.open_db(tmp_path / "e.db")
    update.load(db, snapshot_source(), command="run")
    update.extract_pending(db)
    digest.write_digest(db, load_topic(), tmp_path)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the digest's folder should be")
    with pytest.raises(OSError):
        digest.write_digest(db, load_topic(), blocked / "out")
    assert db["digests"].count == 1


# --- what a person checked, low-confidence readings, registered trials (issues 11, 13, 16) -------------

CHECKED = "33609358"  # the meta-analysis a person checked (topics/dry-needling-headache/checked/)


@pytest.fixture
def run_digest(loaded):
    """`evidence run --source snapshot`: the registry snapshot and the project's one real check applied."""
    db = store.open_db(loaded)
    return db, (loaded.parent / "digest.html").read_text(), (loaded.parent / "digest.md").read_text(), loaded.parent


def _counted(db, claim_id: str) -> set[str]:
    return {r["pmid"] for r in db.query("select pmid from claim_evidence where claim_id = ? and counted = 1", [claim_id])}


def _ref(html: str, pmid: str) -> int:
    return int(re.search(r'<li id="ref-(\d+)">(?:(?!</li>).)*?pubmed\.ncbi\.nlm\.nih\.gov/' + pmid + "/", html, re.S).group(1))


def test_each_claim_says_how_many_of_its_studies_a_person_checked(run_digest):
    """Issue 13 item 5: a claim resting on the checked meta-analysis says 1 of N, names it, and the
    study's own row says who checked it and when."""
    db, html, md, _ = run_digest
    for claim_id in ("trigger-point-pain", "tension-type-and-migraine"):
        counted = _counted(db, claim_id)
        assert CHECKED in counted and len(counted) > 1
        ref = _ref(html, CHECKED)
        assert f"1 of {len(counted)} studies checked by a person ([{ref}])" in md_claim(md, claim_id)
        section = html_claim(html, claim_id)
        assert f'1 of {len(counted)} studies checked by a person (<a href="#ref-{ref}">[{ref}]</a>)' in section
        assert "✓ checked by a person (helper session, 2026-12-02)" in section
        row = next(line for line in md_claim(md, claim_id).splitlines() if line.startswith(f"- **") and f"[{ref}]" in line)
        assert "*Checked by a person* (helper session, 2026-12-02)" in row
    # A claim none of whose studies was checked says 0.
    rom = _counted(db, "range-of-motion")
    assert CHECKED not in rom and f"0 of {len(rom)} studies checked by a person" in md_claim(md, "range-of-motion")


def test_each_unchecked_number_is_marked_and_checked_ones_are_not(run_digest):
    """The sham trial's n (no one checked it) carries the mark; the meta-analysis's pooled
    estimates, each confirmed by a person, do not."""
    _, html, md, _ = run_digest
    section = md_claim(md, "trigger-point-pain")
    assert "n=168†:" in section
    assert "**SMD -1.27, 95% CI -3.56 to 1.03**; **SMD -0.41" in section  # no † after a checked estimate
    assert "† marks a number no person has checked" in section
    page = html_claim(html, "trigger-point-pain")
    assert 'n=168<sup class="unchecked" title="not checked by a person">†</sup>' in page
    assert "<strong>SMD -1.27, 95% CI -3.56 to 1.03</strong>; " in page


def test_an_unchecked_low_confidence_value_is_marked_and_a_verdict_resting_only_on_them_says_so(run_digest):
    """Issue 11 item 7: the uncontrolled pilot study's direction is a low-confidence reading no one
    checked; range of motion rests on it alone. The meta-analysis's low-confidence comparators were
    checked by a person, so they are not marked."""
    db, html, md, _ = run_digest
    low = {r["field"] for r in db.query("select field from extraction_evidence where pmid = '34689708' and confidence = 'low'")}
    assert "direction" in low
    pilot = _ref(html, "34689708")
    section = md_claim(md, "range-of-motion")
    row = next(line for line in section.splitlines() if line.startswith("- **") and f"[{pilot}]" in line)
    assert "*Machine reading, low confidence: direction* (unchecked)" in row
    assert (f"**Rests only on unchecked machine readings:** every study this verdict rests on has a value the rules "
            f"read with low confidence that no person has checked ([{pilot}]: direction)") in section
    page = html_claim(html, "range-of-motion")
    assert '<span class="tag low">machine reading, low confidence: direction</span>' in page
    assert 'class="rests-low"' in page
    # The meta-analysis: its comparators are a low-confidence reading, but a person checked them.
    assert db.execute("select 1 from extraction_evidence where pmid = ? and field = 'comparators' and confidence = 'low'",
                      [CHECKED]).fetchone()
    ref = _ref(html, CHECKED)
    tt = md_claim(md, "tension-type-and-migraine")
    row = next(line for line in tt.splitlines() if line.startswith("- **") and f"[{ref}]" in line)
    assert "low confidence" not in row
    assert "Rests only on unchecked" not in tt  # it rests on the checked meta-analysis too


def test_the_methods_note_states_the_share_checked_and_the_unpublished_trials(run_digest):
    db, html, md, _ = run_digest
    counted = {r["pmid"] for r in db.query("select distinct pmid from claim_evidence where counted = 1")}
    share = round(100 * 1 / len(counted))
    today = digest._today().isoformat()
    # The registry's own cross-check (written by the run) counts the overdue on-topic trials.
    overdue = dict(db.execute(
        "select f.kind, count(*) from trial_findings f join trials t using (nct) where t.on_topic = 1 "
        "and f.kind like 'unpublished_%' group by f.kind").fetchall())
    over_24 = overdue["unpublished_24_months"]
    over_12 = over_24 + overdue.get("unpublished_12_months", 0)
    finished = db.execute("select count(*) from trials where on_topic = 1 and status in ('COMPLETED', 'TERMINATED')").fetchone()[0]
    for text in (md, html):
        methods = text[text.rindex("Methods") :]
        assert f"Checked by a person: 1 of {len(counted)} studies the verdicts rest on ({share}%), 12 values in all" in methods
        assert "stale and counts as unchecked: none" in methods
        assert "Registry: bundled ClinicalTrials.gov snapshot of 2026-11-25 — not live; loaded 20" in methods
        assert (f"As of {today}, {over_12} of the {finished} completed or terminated remain unpublished 12 months or "
                f"more after completion, {over_24} of them 24 months or more") in " ".join(methods.split())
        for nct in ("NCT03730896", "NCT05285852", "NCT05496010", "NCT06108180"):
            assert nct in methods
    assert "Registry: bundled ClinicalTrials.gov snapshot of 2026-11-25 — not live" in _header(md)


def test_each_claim_lists_its_registered_trials_with_their_state(run_digest):
    """Issue 16: per claim, the on-topic trials that registered its outcomes, by state; a
    published one names its report."""
    _, html, md, _ = run_digest
    line = next(x for x in md_claim(md, "trigger-point-pain").splitlines() if x.startswith("*Registered trials:*"))
    assert line.startswith("*Registered trials:* 5 — 2 completed and unpublished 2 years or more after completion: "
                           "NCT03730896 (terminated, n=17), NCT05496010 (n=30); ")
    assert "1 status unknown: NCT05140291 (n=30 planned)" in line
    ref = _ref(html, "30813155")
    tt = md_claim(md, "tension-type-and-migraine")
    assert f"1 published: NCT03500861 (n=160, reported in [{ref}])" in tt
    page = html_claim(html, "tension-type-and-migraine")
    assert f'<a href="https://clinicaltrials.gov/study/NCT03500861">NCT03500861</a> (n=160, reported in <a href="#ref-{ref}">[{ref}]</a>)' in page
    assert "Registered trials:* none on ClinicalTrials.gov registered this outcome." in md_claim(md, "blood-flow")


def test_a_stale_check_counts_as_unchecked(run_digest):
    """A revised abstract makes the check stale: the digest shows the study as unchecked,
    marks its numbers again and counts it in the methods note (the inputs changed: rewritten)."""
    db, _, _, folder = run_digest
    with db.conn:
        db.execute("update checked_values set stale = 1, applied = 0 where pmid = ?", [CHECKED])
    html, md = (p.read_text() for p in digest.write_digest(db, load_topic(), folder))
    section = md_claim(md, "trigger-point-pain")
    counted = _counted(db, "trigger-point-pain")
    ref = _ref(html, CHECKED)
    assert f"0 of {len(counted)} studies checked by a person; check stale (abstract revised since), so unchecked: [{ref}]" in section
    assert "**SMD -1.27, 95% CI -3.56 to 1.03**†" in section
    assert "stale and counts as unchecked: 1" in md[md.rindex("## Methods") :]


def test_checks_and_the_registry_are_inputs_of_the_digest(run_digest):
    """The digest skipped as unchanged within a run must not hide a new check or a trial's new status."""
    db, _, _, folder = run_digest
    topic = load_topic()
    first = digest.fingerprint(db, topic, folder)
    with db.conn:
        db.execute("update checked_values set stale = 1, applied = 0 where pmid = ?", [CHECKED])
    second = digest.fingerprint(db, topic, folder)
    with db.conn:
        db.execute("update trials set status = 'COMPLETED' where nct = 'NCT03583190'")
    third = digest.fingerprint(db, topic, folder)
    assert len({first, second, third}) == 3


def test_a_claim_of_another_kind_shows_its_own_verdict(run_digest):
    """Safety and background claims carry their own verdict labels, never an efficacy grade."""
    from pipeline import claim_kinds

    db, html, md, _ = run_digest
    verdicts = {r["id"]: r["verdict"] for r in db["claims"].rows}
    for claim in C.load_claims(load_topic()):
        if verdicts[claim.id] not in claim_kinds.VERDICTS:  # an efficacy grade (or no direct evidence)
            continue
        label = C.VERDICTS[verdicts[claim.id]]
        assert f"**{label}**" in md_claim(md, claim.id)
        assert "Evidence suggests" not in md_claim(md, claim.id)
        assert f'<span class="badge d-none">{label}</span>' in html_claim(html, claim.id)


@needs_chromium
def test_the_checked_marks_and_trials_fit_a_phone(run_digest, tmp_path):
    """At 390 px: no sideways scrolling, the tags, marks and trial lists inside the screen."""
    _, _, _, folder = run_digest
    with chrome(*PHONE) as driver:
        driver.get((folder / "digest.html").as_uri())
        assert page_width(driver) <= PHONE[0]
        for css in ("#claim-range-of-motion .rests-low", "#claim-range-of-motion .tag.low",
                    "#claim-trigger-point-pain .trials", "#claim-trigger-point-pain .checks"):
            found = box(driver, css)
            assert found["left"] >= 0 and found["right"] <= PHONE[0], (css, found)
        driver.execute_script("document.querySelector('#claim-range-of-motion .rests-low').scrollIntoView()")
        screenshot(driver, tmp_path / "phone-checks.png")
        driver.execute_script("document.querySelector('#claim-trigger-point-pain .trials').scrollIntoView()")
        screenshot(driver, tmp_path / "phone-trials.png")


def test_compiled_templates_are_kept_between_processes(monkeypatch, tmp_path):
    """A second environment (another run) loads the digest template from the
    bytecode cache instead of compiling it; an edited template is compiled again."""
    import shutil

    from jinja2 import Environment, FileSystemBytecodeCache

    from pipeline import digest as digest_module

    templates = tmp_path / "templates"
    shutil.copytree(digest_module.TEMPLATES, templates)
    monkeypatch.setattr(digest_module, "TEMPLATES", templates)
    (tmp_path / "cache").mkdir()
    monkeypatch.setattr(digest_module, "_bytecode_cache", lambda: FileSystemBytecodeCache(str(tmp_path / "cache")))
    digest_module.environment().get_template("digest.html.j2")
    compiled = []
    real = Environment.compile
    monkeypatch.setattr(Environment, "compile", lambda self, *a, **k: compiled.append(a[1]) or real(self, *a, **k))
    digest_module.environment().get_template("digest.html.j2")
    assert compiled == []
    page = templates / "digest.html.j2"
    page.write_text(page.read_text() + "\n{# edited #}\n")
    digest_module.environment().get_template("digest.html.j2")
    assert compiled == ["digest.html.j2"]
