"""The PubMed XML parser on the bundled snapshot and on genuine NCBI output."""

from __future__ import annotations

import gzip
import json

import pytest
from lxml import etree

from conftest import NCBI_REAL
from fake_eutils import make_efetch, record_bytes
from pipeline import parse as parse_module
from pipeline.parse import DocumentError, MalformedRecord, Study, iter_articles, parse

SNAPSHOT_PMIDS = json.loads(
    (NCBI_REAL.parent.parent.parent / "pipeline" / "snapshot" / "esearch.json").read_text()
)["esearchresult"]["idlist"]


def by_pmid(source) -> dict[str, Study]:
    out = {}
    for item in parse(source):
        assert not isinstance(item, MalformedRecord), item
        out[item.pmid] = item
    return out


@pytest.fixture(scope="module")
def studies() -> dict[str, Study]:
    from pipeline.sources import SNAPSHOT_XML

    return by_pmid(SNAPSHOT_XML)


def test_every_snapshot_record_parses(studies):
    """All 27 snapshot records parse, with a title, a year, a journal and a content hash."""
    assert sorted(studies) == sorted(SNAPSHOT_PMIDS)
    for s in studies.values():
        assert s.title and s.year and s.journal and len(s.content_hash) == 64
        assert s.raw_xml.startswith(b"<PubmedArticle")
        assert s.abstract or s.pmid == "27351677"  # the one record without an abstract


def test_structured_abstract_with_trial_registration(studies):
    """A structured abstract keeps its sections and labels; DOI, PMCID, NCT, authors, dates come through."""
    s = studies["30813155"]
    assert s.title == "A randomized trial of trigger point dry needling versus sham needling for chronic tension-type headache."
    assert [x["label"] for x in s.abstract_sections] == [
        "BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS", "TRIAL REGISTRATION",
    ]
    assert s.abstract_sections[0]["category"] == "BACKGROUND"
    assert s.abstract.startswith("BACKGROUND: Chronic tension-type headache (CTTH) is often linked")
    assert s.abstract.endswith("TRIAL REGISTRATION: ClinicalTrials.gov NCT03500861.")
    assert s.journal == "Medicine"
    assert s.journal_abbrev == "Medicine (Baltimore)"
    assert (s.volume, s.issue, s.pages, s.year, s.pub_date) == ("98", "8", "e14520", 2019, "2019 Feb")
    assert s.doi == "10.1097/MD.0000000000014520"
    assert s.pmcid == "PMC6408118"
    assert s.nct == ["NCT03500861"]
    assert s.publication_types == ["Journal Article", "Randomized Controlled Trial"]
    assert s.keywords == ["pain", "primary headache disorders", "quality of life", "sham treatment"]
    assert s.entrez_date == "2019-02-28"
    assert s.revised_date == "2025-09-01"
    assert s.language == "eng"
    assert s.retracted is False
    assert [a.display for a in s.authors] == ["Gildir S", "Tüzün EH", "Eroğlu G", "Eker L"]
    assert s.authors[0].affiliations == [
        "Eastern Mediterranean University Health Sciences Faculty, Department of Physiotherapy "
        "and Rehabilitation, Famagusta, Northern Cyprus."
    ]
    assert s.authors[1].fore_name == "Emine Handan"


def test_inline_markup_kept_as_text(studies):
    """<i> and <sub> inside AbstractText become plain text in place (P < .05, SO2)."""
    assert "after treatment (P < .05), and every headache outcome" in studies["30813155"].abstract
    blood = studies["23206963"].abstract
    assert "oxygen saturation (SO2) in the trapezius muscle" in blood
    assert "(P ≤ .001)" in blood  # a character reference, decoded


def test_record_without_abstract_is_kept(studies):
    s = studies["27351677"]
    assert s.abstract == "" and s.abstract_sections == []
    assert s.title == "Acupuncture for the prevention of episodic migraine."
    assert s.doi == "10.1002/14651858.CD001218.pub3"


def test_medline_date(studies):
    """A MedlineDate ('2022 Nov-Dec') is kept as written and gives the year."""
    s = studies["35659858"]
    assert (s.year, s.pub_date) == (2022, "2022 Nov-Dec")
    assert s.mesh[:2] == ["Dry Needling", "Headache"]


def test_non_ascii_and_apostrophe_names(studies):
    names = {a.display for s in studies.values() for a in s.authors}
    for name in ("Karadaş Ö", "İnan LE", "Couppé C", "Brønfort G", "O'Connor CN", "Fernández-de-Las-Peñas C"):
        assert name in names


def test_nct_from_databank_and_from_text(snapshot_xml):
    """NCT numbers come from DataBankList and from the abstract text, in order, without repeats."""
    record = record_bytes(snapshot_xml)[0]  # 30813155
    # Drop the DataBankList: the number must still come from the abstract text.
    without_bank = etree.fromstring(record)
    bank = without_bank.find(".//DataBankList")
    bank.getparent().remove(bank)
    text = etree.tostring(without_bank).replace(b"NCT03500861.</AbstractText>", b"NCT03500861; NCT01234567.</AbstractText>")
    (s,) = list(parse(make_efetch([text])))
    assert s.nct == ["NCT03500861", "NCT01234567"]


def test_retraction_from_publication_type_and_comments(snapshot_xml):
    records = record_bytes(snapshot_xml)
    by_type = records[0].replace(
        b'<PublicationType UI="D016428">Journal Article</PublicationType>',
        b'<PublicationType UI="D016428">Journal Article</PublicationType>'
        b'<PublicationType UI="D016441">Retracted Publication</PublicationType>',
    )
    by_notice = records[1].replace(
        b"</MedlineCitation>",
        b'<CommentsCorrectionsList><CommentsCorrections RefType="RetractionIn">'
        b"<RefSource>Phys Ther. 2025;105:pzaf001</RefSource><PMID Version=\"1\">40000001</PMID>"
        b"</CommentsCorrections><CommentsCorrections RefType=\"Cites\"><RefSource>x</RefSource>"
        b"</CommentsCorrections></CommentsCorrectionsList></MedlineCitation>",
    )
    a, b, c = parse(make_efetch([by_type, by_notice, records[2]]))
    assert a.retracted and "Retracted Publication" in a.publication_types
    assert b.retracted
    assert b.notices == [{"type": "RetractionIn", "pmid": "40000001", "source": "Phys Ther. 2025;105:pzaf001"}]
    assert not c.retracted and c.notices == []


def test_malformed_record_reported_and_others_kept(snapshot_xml):
    """A record with no PMID is reported with the reason; its neighbours still parse."""
    records = record_bytes(snapshot_xml)[:3]
    broken = etree.fromstring(records[1])
    pmid = broken.find("MedlineCitation/PMID")
    pmid.getparent().remove(pmid)
    items = list(parse(make_efetch([records[0], etree.tostring(broken), records[2]])))
    assert isinstance(items[1], MalformedRecord) and "no PMID" in items[1].reason
    assert [i.pmid for i in (items[0], items[2])] == ["30813155", "35659858"]


def test_gzip_and_bytes_inputs_give_the_same_records(tmp_path, snapshot_xml):
    gz = tmp_path / "saved.xml.gz"
    gz.write_bytes(gzip.compress(snapshot_xml.read_bytes()))
    plain = {s.pmid: s.content_hash for s in parse(snapshot_xml)}
    assert {s.pmid: s.content_hash for s in parse(gz)} == plain
    assert {s.pmid: s.content_hash for s in parse(snapshot_xml.read_bytes())} == plain


def test_truncated_document_yields_records_before_the_fault(snapshot_xml):
    data = snapshot_xml.read_bytes()
    cut = data[: data.index(b"<PMID Version=\"1\">35659858")]
    seen = []
    with pytest.raises(DocumentError, match="truncated"):
        for article in iter_articles(cut):
            seen.append(article.pmid)
    assert seen == ["30813155", "33609358"]
    # Cut between records: every record is whole, but the set never closes.
    between = data[: data.index(b"<PubmedArticle>", 10_000)]
    with pytest.raises(DocumentError, match="before </PubmedArticleSet>"):
        list(iter_articles(between))


@pytest.mark.parametrize("chunk", [50, 997, 4096])
def test_record_boundaries_do_not_depend_on_read_size(monkeypatch, snapshot_xml, chunk):
    """Records cut from the stream are the same whatever the read buffer's size."""
    expected = [(a.pmid, a.content_hash) for a in iter_articles(snapshot_xml)]
    monkeypatch.setattr(parse_module, "CHUNK", chunk)
    assert [(a.pmid, a.content_hash) for a in iter_articles(snapshot_xml)] == expected
    assert len(expected) == 27


def test_not_pubmed_xml_is_a_document_error(tmp_path):
    with pytest.raises(DocumentError, match="not a PubMed efetch document"):
        list(iter_articles(b"<html><body>Service unavailable</body></html>"))
    esearch = (NCBI_REAL / "biopython" / "esearch1.xml").read_bytes()
    with pytest.raises(DocumentError):
        list(iter_articles(esearch))


def test_a_record_that_is_not_well_formed_fails_alone(snapshot_xml):
    records = record_bytes(snapshot_xml)[:3]
    broken = records[1].replace(b"</ArticleTitle>", b"</ArticleTitel>")
    items = list(parse(make_efetch([records[0], broken, records[2]])))
    assert isinstance(items[1], MalformedRecord) and items[1].pmid == "33609358"
    assert "not well-formed" in items[1].reason
    assert [items[0].pmid, items[2].pmid] == ["30813155", "35659858"]


def test_latin1_document_is_decoded_by_its_declaration(snapshot_xml):
    record = record_bytes(snapshot_xml)[0].decode("utf-8")
    doc = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<PubmedArticleSet>' + record + "</PubmedArticleSet>")
    doc = doc.replace("Eroğlu", "Eroglu").encode("iso-8859-1")
    (s,) = parse(doc)
    assert "Tüzün EH" in [a.display for a in s.authors]


def test_content_hash_is_stable_and_sensitive(snapshot_xml):
    """The same record hashes the same from any source; one changed character changes it."""
    records = record_bytes(snapshot_xml)
    (a,) = iter_articles(make_efetch([records[0]]))
    first = a.content_hash
    (b,) = iter_articles(make_efetch([records[0]]))
    assert b.content_hash == first
    (c,) = iter_articles(make_efetch([records[0].replace(b"safe way", b"safe, way")]))
    assert c.content_hash != first


# --- genuine NCBI output kept by public projects ------------------------------------


def test_tags_without_spaces_do_not_glue_words():
    """NCBI once wrote `the<i>TERT</i>gene`: the text must read 'the TERT gene'."""
    (old,) = by_pmid(NCBI_REAL / "biopython" / "title_with_html_tags.xml").values()
    (new,) = by_pmid(NCBI_REAL / "biopython" / "pubmed4.xml").values()
    assert "genetic variants at the TERT gene region" in old.title
    assert old.title == new.title
    assert "theTERT" not in old.abstract and "TERTgene" not in old.abstract


def test_real_records_parse_with_their_quirks():
    recs = {}
    for path in sorted(NCBI_REAL.rglob("*.xml")):
        if "esearch" not in path.name:
            recs.update(by_pmid(path))
    assert set(recs) >= {"12091962", "9997", "11748933", "11700088", "27797938", "28775130", "30108519", "29963580", "29768149"}
    season = recs["12091962"]
    assert (season.year, season.pub_date, season.abstract) == (1990, "1990 Spring", "")
    assert "Università" in " ".join(a for au in recs["11748933"].authors for a in au.affiliations)
    assert recs["30108519"].title.startswith('A "Blood Relationship" Between')
    assert recs["30108519"].year == 2018
    collective = [a for a in recs["29963580"].authors if a.collective_name]
    assert collective and not collective[0].last_name
    assert any(a.orcid for a in recs["29963580"].authors)
    nejm = recs["29768149"]
    assert nejm.nct == ["NCT02149199"]
    assert "\t" not in nejm.abstract and "  " not in nejm.abstract  # re-serialised whitespace folded
    assert "β2-agonist" in nejm.abstract
    # No-break and thin spaces are folded to plain spaces.
    assert "\u00a0" not in recs["29963580"].abstract


BOOK = b"""<PubmedBookArticle><BookDocument><PMID Version="1">29939585</PMID>
<ArticleIdList><ArticleId IdType="bookaccession">NBK507909</ArticleId></ArticleIdList>
<Book><Publisher><PublisherName>StatPearls Publishing</PublisherName></Publisher>
<BookTitle book="statpearls">StatPearls</BookTitle><PubDate><Year>2025</Year><Month>01</Month></PubDate>
<AuthorList Type="editors"><Author><LastName>Editor</LastName><Initials>E</Initials></Author></AuthorList></Book>
<LocationLabel Type="chapter">Dry Needling</LocationLabel>
<ArticleTitle book="statpearls" part="article-20626">Dry Needling for Myofascial Pain</ArticleTitle>
<Language>eng</Language>
<AuthorList Type="authors"><Author ValidYN="Y"><LastName>Kalichman</LastName><ForeName>Leonid</ForeName><Initials>L</Initials></Author></AuthorList>
<PublicationType UI="D016454">Review</PublicationType>
<Abstract><AbstractText>Dry needling treats myofascial trigger points, including in <i>tension-type</i> headache.</AbstractText></Abstract>
</BookDocument><PubmedBookData><History><PubMedPubDate PubStatus="entrez"><Year>2018</Year><Month>6</Month><Day>26</Day></PubMedPubDate></History>
<PublicationStatus>ppublish</PublicationStatus><ArticleIdList><ArticleId IdType="pubmed">29939585</ArticleId></ArticleIdList></PubmedBookData></PubmedBookArticle>"""


def test_book_records_such_as_statpearls_chapters_are_kept(snapshot_xml):
    """PubMed also returns NCBI Bookshelf chapters: they are studies of kind 'book'."""
    items = list(parse(make_efetch([BOOK, record_bytes(snapshot_xml)[0]])))
    book = items[0]
    assert (book.pmid, book.kind, book.title, book.journal, book.year) == (
        "29939585", "book", "Dry Needling for Myofascial Pain", "StatPearls", 2025,
    )
    assert [a.display for a in book.authors] == ["Kalichman L"]
    assert book.abstract == "Dry needling treats myofascial trigger points, including in tension-type headache."
    assert book.entrez_date == "2018-06-26" and book.publication_types == ["Review"]
    assert items[1].pmid == "30813155"


def test_delete_citations_are_reported_not_stored(snapshot_xml):
    deleted = b'<DeleteCitation><PMID Version="1">12345678</PMID></DeleteCitation>'
    items = list(parse(make_efetch([record_bytes(snapshot_xml)[0], deleted])))
    assert isinstance(items[1], MalformedRecord) and "DeleteCitation" in items[1].reason
