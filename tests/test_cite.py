"""Citations (Vancouver, AMA) and exports (RIS, BibTeX, CSL-JSON) of the snapshot's studies."""

from __future__ import annotations

import json

import bibtexparser
import pytest
import rispy

from pipeline import cite, sources, store, update

N_SNAPSHOT = 27


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> dict[str, dict]:
    """The snapshot's 27 studies as `studies` rows, by PMID (loaded once for the module)."""
    db = store.open_db(tmp_path_factory.mktemp("cite") / "e.db")
    result = update.load(db, sources.snapshot_source(), command="run")
    assert result.ok
    rows = {row["pmid"]: row for row in db["studies"].rows}
    assert len(rows) == N_SNAPSHOT
    return rows


def retracted_copy(study: dict) -> dict:
    return {**study, "retracted": 1}


# --- Vancouver and AMA (citeproc-py with the CSL styles) ------------------------
#
# Hand-checked against the rules, not copied from the program's output:
# NLM/Vancouver (Citing Medicine 2nd ed.): "Surname AB" without periods, up to 6 authors
# then "et al."; title; NLM journal abbreviation; "year Mon day" (or the MedlineDate as
# written); ";volume(issue):pages" with repeated leading digits dropped ("806-15",
# "e1560-9"); "doi:…."; "PubMed PMID: n; PubMed Central PMCID: PMCn."
# AMA 11th ed.: up to 6 authors, more than 6 -> first 3 + "et al."; title; abbreviated
# journal (italic in print); year only ";volume(issue):pages" with pages in full
# ("806-815"); "doi:…" with no closing period; no DOI -> the entry ends at the pages.

CASES = {
    # 4 authors, issue, electronic page, PMCID
    "30813155": (
        "Gildir S, Tüzün EH, Eroğlu G, Eker L. A randomized trial of trigger point dry needling versus "
        "sham needling for chronic tension-type headache. Medicine (Baltimore). 2019 Feb;98(8):e14520. "
        "doi:10.1097/MD.0000000000014520. PubMed PMID: 30813155; PubMed Central PMCID: PMC6408118.",
        "Gildir S, Tüzün EH, Eroğlu G, Eker L. A randomized trial of trigger point dry needling versus "
        "sham needling for chronic tension-type headache. Medicine (Baltimore). 2019;98(8):e14520. "
        "doi:10.1097/MD.0000000000014520",
    ),
    # MedlineDate "2022 Nov-Dec" as written (NLM), year only (AMA); page range 806-815
    "35659858": (
        "Vázquez-Justes D, Yarzábal-Rodríguez R, Doménech-García V, Herrero P, Bellosta-López P. "
        "Effectiveness of dry needling for headache: A systematic review. Neurologia (Engl Ed). "
        "2022 Nov-Dec;37(9):806-15. doi:10.1016/j.nrleng.2019.09.010. PubMed PMID: 35659858.",
        "Vázquez-Justes D, Yarzábal-Rodríguez R, Doménech-García V, Herrero P, Bellosta-López P. "
        "Effectiveness of dry needling for headache: A systematic review. Neurologia (Engl Ed). "
        "2022;37(9):806-815. doi:10.1016/j.nrleng.2019.09.010",
    ),
    # 12 authors: 6 + et al. (NLM), 3 + et al. (AMA); pub_date "2022 Oct 03" -> "2022 Oct 3"
    "35732505": (
        "Zheng H, Gao T, Zheng QH, Lu LY, Hou TH, Zhang SS, et al. Acupuncture for Patients With Chronic "
        "Tension-Type Headache: A Randomized Controlled Trial. Neurology. 2022 Oct 3;99(14):e1560-9. "
        "doi:10.1212/WNL.0000000000200670. PubMed PMID: 35732505.",
        "Zheng H, Gao T, Zheng QH, et al. Acupuncture for Patients With Chronic Tension-Type Headache: "
        "A Randomized Controlled Trial. Neurology. 2022;99(14):e1560-e1569. doi:10.1212/WNL.0000000000200670",
    ),
    # no DOI; PubMed's abbreviated range "101-10" (NLM keeps it short, AMA writes it in full)
    "26136602": (
        "Bond BM, Kinslow C. Improvement in clinical outcomes after dry needling in a patient with "
        "occipital neuralgia. J Can Chiropr Assoc. 2015 Jun;59(2):101-10. "
        "PubMed PMID: 26136602; PubMed Central PMCID: PMC4486992.",
        "Bond BM, Kinslow C. Improvement in clinical outcomes after dry needling in a patient with "
        "occipital neuralgia. J Can Chiropr Assoc. 2015;59(2):101-110.",
    ),
    # year-only date, volume without issue, exactly 7 authors (the first count cut to et al.)
    "31572570": (
        "Pourahmadi M, Mohseni-Bandpei MA, Keshtkar A, Koes BW, Fernández-de-Las-Peñas C, Dommerholt J, "
        "et al. Effectiveness of dry needling for improving pain and disability in adults with "
        "tension-type, cervicogenic, or migraine headaches: protocol for a systematic review. "
        "Chiropr Man Therap. 2019;27:43. doi:10.1186/s12998-019-0266-7. PubMed PMID: 31572570.",
        "Pourahmadi M, Mohseni-Bandpei MA, Keshtkar A, et al. Effectiveness of dry needling for improving "
        "pain and disability in adults with tension-type, cervicogenic, or migraine headaches: protocol "
        "for a systematic review. Chiropr Man Therap. 2019;27:43. doi:10.1186/s12998-019-0266-7",
    ),
    # exactly 6 authors (all listed in both styles), two-part surnames, MedlineDate "2012 Nov-Dec"
    "23206963": (
        "Cagnie B, Barbe T, De Ridder E, Van Oosterwijck J, Cools A, Danneels L. The influence of dry "
        "needling of the trapezius muscle on muscle blood flow and oxygenation. J Manipulative Physiol "
        "Ther. 2012 Nov-Dec;35(9):685-91. doi:10.1016/j.jmpt.2012.10.005. PubMed PMID: 23206963.",
        "Cagnie B, Barbe T, De Ridder E, Van Oosterwijck J, Cools A, Danneels L. The influence of dry "
        "needling of the trapezius muscle on muscle blood flow and oxygenation. J Manipulative Physiol "
        "Ther. 2012;35(9):685-691. doi:10.1016/j.jmpt.2012.10.005",
    ),
}


@pytest.mark.parametrize("pmid", list(CASES))
def test_vancouver_and_ama_strings_for_real_records(studies, pmid):
    """Vancouver and AMA citations of real records match the styles exactly."""
    expected_vancouver, expected_ama = CASES[pmid]
    assert cite.vancouver(studies[pmid]) == expected_vancouver
    assert cite.ama(studies[pmid]) == expected_ama


def test_no_doi_record_is_really_without_doi(studies):
    """The no-DOI case is a snapshot record that has no DOI."""
    assert not studies["26136602"]["doi"]
    assert "doi" not in cite.vancouver(studies["26136602"]).lower()


def test_every_study_cites_cleanly(studies):
    """Every snapshot study gives well-formed plain-text citations: no markup, no citation
    number, no doubled punctuation or empty parts, no URL standing in for an access date."""
    for study in studies.values():
        for text in (cite.vancouver(study), cite.ama(study)):
            for bad in ("..", " .", ";;", "()", ";:", " ,", "None", "?.", "<", ">", "&amp;", "http", "[Internet]"):
                assert bad not in text, (study["pmid"], bad, text)
            assert text.startswith(json.loads(study["authors"])[0]["last_name"]), text
            assert text == " ".join(text.split())
        assert f"PubMed PMID: {study['pmid']}" in cite.vancouver(study)
        assert "PMID" not in cite.ama(study)
        if study["doi"]:
            assert f"doi:{study['doi']}. PubMed PMID" in cite.vancouver(study)
            assert cite.ama(study).endswith(f"doi:{study['doi']}")


def test_citation_edge_cases(studies):
    """Collective authors, '?' titles, days, seasons and missing parts are written cleanly."""
    base = studies["30813155"]
    study = {
        **base,
        "authors": json.dumps([{"collective_name": "Headache Trialists Group"}, {"last_name": "Eker", "fore_name": "Levent"}]),
        "title": "Does dry needling work?",
        "pub_date": "2019 02 15",
        "issue": None,
        "pages": None,
        "doi": None,
        "pmcid": None,
    }
    assert cite.vancouver(study) == (
        "Headache Trialists Group, Eker L. Does dry needling work? Medicine (Baltimore). 2019 Feb 15;98. PubMed PMID: 30813155."
    )
    assert cite.ama(study) == "Headache Trialists Group, Eker L. Does dry needling work? Medicine (Baltimore). 2019;98."
    csl = cite.to_csl(study)
    assert csl["author"][0] == {"literal": "Headache Trialists Group"}
    assert csl["issued"] == {"date-parts": [[2019, 2, 15]]}

    # no authors, no abbreviation, a season: the title opens the entry (once), NLM keeps the season
    seasonal = {**base, "pub_date": "2019 Spring", "journal_abbrev": None, "authors": "[]"}
    assert cite.vancouver(seasonal).startswith("A randomized trial of trigger point dry needling")
    assert "headache. Medicine. 2019 Spring;98(8):e14520. doi:" in cite.vancouver(seasonal)
    assert cite.ama(seasonal) == (
        "A randomized trial of trigger point dry needling versus sham needling for chronic tension-type "
        "headache. Medicine. 2019;98(8):e14520. doi:10.1097/MD.0000000000014520"
    )
    assert cite.to_csl(seasonal)["issued"] == {"date-parts": [[2019]], "season": 1}
    # a MedlineDate range gives the year only in CSL (Vancouver prints it as written, see CASES)
    assert cite.to_csl(studies["35659858"])["issued"] == {"date-parts": [[2022]]}
    spanning = {**base, "pub_date": "1998 Dec-1999 Jan", "year": 1998}
    assert "Medicine (Baltimore). 1998 Dec-1999 Jan;98(8):e14520." in cite.vancouver(spanning)
    assert "Medicine (Baltimore). 1998;98(8):e14520." in cite.ama(spanning)

    # nothing but the journal and the date: NLM stops after the date; AMA, with no volume
    # or issue, cites it as published online (its rule for articles not yet in an issue)
    bare = {**base, "volume": None, "issue": None, "pages": None, "doi": None, "pmcid": None}
    assert cite.vancouver(bare).endswith("headache. Medicine (Baltimore). 2019 Feb. PubMed PMID: 30813155.")
    assert cite.ama(bare).endswith("headache. Medicine (Baltimore). Published online February 2019.")

    # an author PubMed gives with initials only keeps them
    initials = {**base, "authors": json.dumps([{"last_name": "Smith", "initials": "JR"}])}
    assert cite.vancouver(initials).startswith("Smith JR. A randomized trial")
    assert cite.to_csl(initials)["author"] == [{"family": "Smith", "given": "J. R."}]


def test_html_variant_is_escaped_and_keeps_the_italics(studies):
    """`citation(..., html=True)` escapes the study's text and keeps AMA's italic journal;
    the plain text is not escaped (it is for pasting)."""
    study = {**studies["30813155"], "title": "Tom & Jerry <b>5 < 6</b>?"}
    assert cite.citation(study, "ama", html=True) == (
        "Gildir S, Tüzün EH, Eroğlu G, Eker L. Tom &amp; Jerry &lt;b&gt;5 &lt; 6&lt;/b&gt;? "
        "<i>Medicine (Baltimore)</i>. 2019;98(8):e14520. doi:10.1097/MD.0000000000014520"
    )
    assert cite.citation(study, "vancouver", html=True).startswith(
        "Gildir S, Tüzün EH, Eroğlu G, Eker L. Tom &amp; Jerry &lt;b&gt;5 &lt; 6&lt;/b&gt;? Medicine (Baltimore). 2019 Feb;"
    )
    assert "Tom & Jerry <b>5 < 6</b>? Medicine (Baltimore)." in cite.ama(study)
    assert cite.citation(studies["30813155"], "ama") == cite.ama(studies["30813155"])
    with pytest.raises(ValueError, match="unknown citation style"):
        cite.citation(study, "apa")


def test_books_and_chapters_cite_sensibly(studies):
    """A chapter: "In: <book>." and the year; a whole book: its title, AMA title case."""
    common = {
        "journal_abbrev": None, "volume": None, "issue": None, "pages": None,
        "pub_date": "2024 Jan", "year": 2024, "doi": None, "pmcid": None, "kind": "book",
    }
    chapter = {**studies["23115475"], **common, "journal": "StatPearls"}
    assert cite.vancouver(chapter) == (
        "Dommerholt J. Dry needling — peripheral and central considerations. In: StatPearls. 2024. PubMed PMID: 23115475."
    )
    assert cite.ama(chapter) == "Dommerholt J. Dry needling — peripheral and central considerations. In: StatPearls. 2024."
    book = {**studies["23115475"], **common, "journal": "Dry needling — peripheral and central considerations"}
    assert cite.vancouver(book) == (
        "Dommerholt J. Dry needling — peripheral and central considerations. 2024. PubMed PMID: 23115475."
    )
    assert cite.ama(book) == "Dommerholt J. Dry Needling — Peripheral and Central Considerations. 2024."
    assert cite.citation(book, "ama", html=True).startswith("Dommerholt J. <i>Dry Needling")


def test_styles_are_loaded_once_and_27_studies_cite_fast(studies):
    """The CSL styles are parsed once; all 27 studies in both styles take well under a second."""
    import time

    from pipeline import csl

    assert csl.load_style("vancouver") is csl.load_style("vancouver")
    csl._render.cache_clear()  # time the formatting itself, not the cache
    start = time.perf_counter()
    for study in studies.values():
        cite.vancouver(study)
        cite.ama(study)
    assert time.perf_counter() - start < 1.0


# --- exports round-trip through their parsers ----------------------------------


def test_ris_round_trips_through_rispy(studies):
    """RIS read back with rispy gives every record's PMID, title, DOI and author count."""
    rows = list(studies.values())
    records = rispy.loads(cite.export(rows, "ris"))
    assert len(records) == N_SNAPSHOT
    for row, rec in zip(rows, records):
        assert rec["type_of_reference"] == "JOUR"
        assert rec["accession_number"] == row["pmid"]
        assert rec["title"] == row["title"].rstrip(".")
        assert rec.get("doi") == (row["doi"] or None)
        assert len(rec["authors"]) == len(json.loads(row["authors"]))
        assert rec["urls"] == [f"https://pubmed.ncbi.nlm.nih.gov/{row['pmid']}/"]
        assert rec["year"] == str(row["year"])
        assert rec["alternate_title1"] == row["journal_abbrev"]
        assert "notes" not in rec
    gildir = records[rows.index(studies["30813155"])]
    assert gildir["authors"][1] == "Tüzün, Emine Handan"
    assert (gildir["volume"], gildir["number"], gildir["start_page"]) == ("98", "8", "e14520")
    assert gildir["abstract"].startswith("BACKGROUND:") and "METHODS:" in gildir["abstract"]
    bond = records[rows.index(studies["26136602"])]
    assert (bond["start_page"], bond["end_page"]) == ("101", "110")


def test_bibtex_round_trips_through_bibtexparser(studies):
    """BibTeX parses back with bibtexparser 2: 27 entries, unique keys, no failures, right DOIs."""
    rows = list(studies.values())
    library = bibtexparser.parse_string(cite.export(rows, "bibtex"))
    assert library.failed_blocks == []
    assert len(library.entries) == N_SNAPSHOT
    keys = [e.key for e in library.entries]
    assert len(set(keys)) == N_SNAPSHOT
    by_pmid = {e["pmid"]: e for e in library.entries}
    assert set(by_pmid) == set(studies)
    for pmid, row in studies.items():
        entry = by_pmid[pmid]
        assert entry.entry_type == "article"
        if row["doi"]:
            assert entry["doi"] == row["doi"]
        else:
            assert "doi" not in entry.fields_dict
        assert entry["year"] == str(row["year"])
        assert entry["author"].count(" and ") == len(json.loads(row["authors"])) - 1
    gildir = by_pmid["30813155"]
    assert gildir.key == "gildir2019randomized"
    assert gildir["author"].startswith("Gildir, Sila and Tüzün, Emine Handan and ")
    assert gildir["title"] == "{A randomized trial of trigger point dry needling versus sham needling for chronic tension-type headache}"
    assert by_pmid["35659858"].key == "vazquezjustes2022effectiveness"
    assert by_pmid["35659858"]["pages"] == "806--815"
    assert by_pmid["23206963"]["pages"] == "685--691"


def test_bibtex_keys_stay_unique_and_special_characters_parse(studies):
    """Clashing keys get a, b suffixes; braces, percent signs and ampersands do not break parsing."""
    base = studies["30813155"]
    tricky = {**base, "pmid": "1", "title": "50% of {braced} & un}balanced_titles #1 cost $5."}
    text = cite.export([base, {**base, "pmid": "2"}, {**base, "pmid": "3"}, tricky], "bibtex")
    library = bibtexparser.parse_string(text)
    assert library.failed_blocks == []
    assert [e.key for e in library.entries] == [
        "gildir2019randomized", "gildir2019randomizeda", "gildir2019randomizedb", "gildir2019braced",
    ]
    title = library.entries[3]["title"]
    assert r"50\%" in title and r"\&" in title and r"\_" in title and r"\#" in title
    # the whole value stays brace-balanced for BibTeX itself (a lone brace is spelled out)
    assert title.count("{") == title.count("}") and r"\textbraceright{}" in title
    balanced = cite.export([{**base, "title": "The {HIT-6} score"}], "bibtex")
    assert r"{The \{HIT-6\} score}" in bibtexparser.parse_string(balanced).entries[0]["title"]


def test_book_chapters_are_exported_as_chapters(studies):
    """A book chapter (kind 'book') becomes a CSL chapter, an RIS CHAP and a BibTeX @incollection."""
    chapter = {
        **studies["23115475"], "kind": "book", "journal": "StatPearls", "journal_abbrev": None,
        "volume": None, "issue": None, "pages": None, "pub_date": "2024 Jan", "year": 2024, "doi": None,
    }
    csl = cite.to_csl(chapter)
    assert (csl["type"], csl["container-title"]) == ("chapter", "StatPearls")
    ris = rispy.loads(cite.export([chapter], "ris"))[0]
    assert (ris["type_of_reference"], ris["secondary_title"]) == ("CHAP", "StatPearls")
    entry = bibtexparser.parse_string(cite.export([chapter], "bibtex")).entries[0]
    assert (entry.entry_type, entry["booktitle"]) == ("incollection", "StatPearls")


def test_csljson_items_have_the_required_fields(studies):
    """CSL-JSON parses back to 27 items carrying the required CSL fields."""
    rows = list(studies.values())
    items = json.loads(cite.export(rows, "csljson"))
    assert len(items) == N_SNAPSHOT
    for row, item in zip(rows, items):
        assert item["id"] == f"pmid:{row['pmid']}"
        assert item["type"] == "article-journal"
        assert item["title"] and not item["title"].endswith(".")
        assert item["container-title"] == row["journal"]
        assert item["container-title-short"] == row["journal_abbrev"]
        assert item["issued"]["date-parts"][0][0] == row["year"]
        assert item["PMID"] == row["pmid"]
        assert item["URL"] == f"https://pubmed.ncbi.nlm.nih.gov/{row['pmid']}/"
        assert item.get("DOI") == (row["doi"] or None)
        assert all("family" in a or "literal" in a for a in item["author"])
        assert "status" not in item
    gildir = cite.to_csl(studies["30813155"])
    assert gildir["issued"] == {"date-parts": [[2019, 2]]}
    assert gildir["author"][1] == {"family": "Tüzün", "given": "Emine Handan"}
    assert (gildir["volume"], gildir["issue"], gildir["page"], gildir["PMCID"]) == ("98", "8", "e14520", "PMC6408118")
    assert "Tüzün" in cite.export([studies["30813155"]], "csljson")  # not \u-escaped


# --- retraction and bad formats -------------------------------------------------


def test_a_retracted_study_is_marked_in_every_format(studies):
    """A retracted study is marked in Vancouver, AMA, CSL-JSON, RIS and BibTeX."""
    study = retracted_copy(studies["30813155"])
    marked = "Gildir S, Tüzün EH, Eroğlu G, Eker L. A randomized trial of trigger point dry needling versus sham " \
        "needling for chronic tension-type headache [Retracted]. Medicine (Baltimore). 2019"
    assert cite.vancouver(study).startswith(marked + " Feb;98(8):e14520.")
    assert cite.ama(study).startswith(marked + ";98(8):e14520.")
    # a title that already says so is not marked twice; a '?' title keeps its '?'
    assert cite.vancouver({**study, "title": "RETRACTED: Needling."}).lower().count("retracted") == 1
    assert "Does it work? [Retracted]. Medicine" in cite.ama({**study, "title": "Does it work?"})
    # PubMed's "Retracted Publication" type marks it too
    typed = {**studies["30813155"], "publication_types": json.dumps(["Journal Article", "Retracted Publication"])}
    assert "headache [Retracted]. Medicine" in cite.vancouver(typed)
    csl = cite.to_csl(study)
    assert csl["status"] == "retracted" and csl["note"] == "RETRACTED"
    assert json.loads(cite.export([study], "csljson"))[0]["status"] == "retracted"
    assert rispy.loads(cite.export([study], "ris"))[0]["notes"] == ["RETRACTED"]
    entry = bibtexparser.parse_string(cite.export([study], "bibtex")).entries[0]
    assert entry["note"] == "RETRACTED"
    # an unretracted study carries no mark
    unmarked = cite.vancouver(studies["30813155"]) + cite.ama(studies["30813155"]) + cite.export([studies["30813155"]], "bibtex")
    assert "retracted" not in unmarked.lower()


@pytest.mark.parametrize("fmt", ["endnote", "", "csl", "bib"])
def test_unknown_format_raises_value_error(studies, fmt):
    """An unknown export format raises ValueError."""
    with pytest.raises(ValueError, match="unknown citation format"):
        cite.export(list(studies.values()), fmt)
