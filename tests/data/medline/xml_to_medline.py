"""Write PubMed XML records as MEDLINE text, the way NCBI does (`efetch rettype=medline`).

Used once to make `snapshot.nbib` from the bundled snapshot; the tests read
the file it wrote, not this script. Run from the project root:

    .venv/bin/python tests/data/medline/xml_to_medline.py pipeline/snapshot/efetch.xml > tests/data/medline/snapshot.nbib

Follows NCBI's layout as seen in its own output (see pubmed_result*.txt here):
tags padded to four characters and "- ", lines wrapped at 87 characters on
spaces with continuation lines indented six spaces (a trailing space left at
each break, as current NCBI output has), fields in NCBI's order, a structured
abstract as one paragraph with "LABEL: " before each section, affiliations
(AD) and ORCIDs (AUID, before AD) after the author they belong to, MeSH major topics
starred, records separated by a blank line.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from pipeline.parse import text_of  # noqa: E402

WIDTH = 87
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
NOTICE_TAGS = {
    "CommentOn": "CON", "CommentIn": "CIN", "ErratumIn": "EIN", "ErratumFor": "EFR",
    "RetractionIn": "RIN", "RetractionOf": "ROF", "UpdateIn": "UIN", "UpdateOf": "UOF",
    "RepublishedIn": "RPI", "RepublishedFrom": "RPF", "ExpressionOfConcernIn": "ECI",
    "ExpressionOfConcernFor": "ECF",
}


def field(tag: str, value: str | None) -> list[str]:
    if not value:
        return []
    words = " ".join(value.split()).split(" ")
    lines, line = [], f"{tag:<4}- {words[0]}"
    for word in words[1:]:
        if len(line) + 1 + len(word) > WIDTH:
            lines.append(line + " ")
            line = "      " + word
        else:
            line += " " + word
    return lines + [line]


def ymd(el, sep: str = "", time: bool = False) -> str | None:
    if el is None:
        return None
    y, m, d = el.findtext("Year"), el.findtext("Month") or "1", el.findtext("Day") or "1"
    month = int(m) if m.isdigit() else MONTHS.index(m[:3].title()) + 1
    out = f"{int(y):04d}{sep}{month:02d}{sep}{int(d):02d}"
    if time:
        out += f" {int(el.findtext('Hour') or 0):02d}:{int(el.findtext('Minute') or 0):02d}"
    return out


def pub_date(el) -> str | None:
    if el is None:
        return None
    if el.findtext("MedlineDate"):
        return el.findtext("MedlineDate").strip()
    parts = [el.findtext("Year"), el.findtext("Month") or el.findtext("Season")]
    day = el.findtext("Day")
    if parts[1] and parts[1].isdigit():
        parts[1] = MONTHS[int(parts[1]) - 1]
    parts.append(str(int(day)) if day and day.isdigit() else day)
    return " ".join(p for p in parts if p)


def source(info, ji, a, ids) -> str:
    """The citation line NCBI ends a record with: 'Medicine (Baltimore). 2019 Feb;98(8):e14520. doi: ...'."""
    ta = info.findtext("MedlineTA") if info is not None else ""
    where = "".join([
        ji.findtext("Volume") or "",
        f"({ji.findtext('Issue')})" if ji.findtext("Issue") else "",
        f":{a.findtext('Pagination/MedlinePgn')}" if a.findtext("Pagination/MedlinePgn") else "",
    ])
    text = f"{ta}. {pub_date(ji.find('PubDate'))}" + (f";{where}" if where else "") + "."
    return text + (f" doi: {ids['doi']}." if ids.get("doi") else "")


def record(art) -> str:
    mc = art.find("MedlineCitation")
    a = mc.find("Article")
    j = a.find("Journal")
    ji = j.find("JournalIssue")
    info = mc.find("MedlineJournalInfo")
    pd = art.find("PubmedData")
    out: list[str] = []
    out += field("PMID", mc.findtext("PMID"))
    out += field("OWN", mc.get("Owner"))
    out += field("STAT", mc.get("Status"))
    out += field("DCOM", ymd(mc.find("DateCompleted")))
    out += field("LR", ymd(mc.find("DateRevised")))
    for issn in j.iterfind("ISSN"):
        out += field("IS", f"{issn.text} ({issn.get('IssnType')})")
    if info is not None and info.findtext("ISSNLinking"):
        out += field("IS", f"{info.findtext('ISSNLinking')} (Linking)")
    out += field("VI", ji.findtext("Volume"))
    out += field("IP", ji.findtext("Issue"))
    out += field("DP", pub_date(ji.find("PubDate")))
    out += field("TI", text_of(a.find("ArticleTitle")))
    out += field("PG", a.findtext("Pagination/MedlinePgn"))
    for loc in a.iterfind("ELocationID"):
        out += field("LID", f"{loc.text} [{loc.get('EIdType')}]")
    abstract = a.find("Abstract")
    if abstract is not None:
        parts = []
        for section in abstract.iterfind("AbstractText"):
            body = text_of(section)
            parts.append(f"{section.get('Label')}: {body}" if section.get("Label") else body)
        out += field("AB", " ".join(p for p in parts if p))
        out += field("CI", abstract.findtext("CopyrightInformation"))
    for author in a.iterfind("AuthorList/Author"):
        if author.get("ValidYN", "Y") != "Y":
            continue
        if author.find("CollectiveName") is not None:
            out += field("CN", text_of(author.find("CollectiveName")))
        else:
            last, fore, initials = (author.findtext(t) for t in ("LastName", "ForeName", "Initials"))
            out += field("FAU", f"{last}, {fore}" if fore else last)
            out += field("AU", f"{last} {initials}" if initials else last)
        for ident in author.iterfind("Identifier[@Source='ORCID']"):
            out += field("AUID", f"ORCID: {ident.text}")
        for aff in author.iterfind("AffiliationInfo/Affiliation"):
            out += field("AD", text_of(aff))
    out += field("LA", a.findtext("Language"))
    for bank in a.iterfind("DataBankList/DataBank"):
        for acc in bank.iterfind("AccessionNumberList/AccessionNumber"):
            out += field("SI", f"{bank.findtext('DataBankName')}/{acc.text}")
    for pt in a.iterfind("PublicationTypeList/PublicationType"):
        out += field("PT", pt.text)
    for date in a.iterfind("ArticleDate"):
        out += field("DEP", ymd(date))
    if info is not None:
        out += field("PL", info.findtext("Country"))
        out += field("TA", info.findtext("MedlineTA"))
    out += field("JT", j.findtext("Title"))
    if info is not None:
        out += field("JID", info.findtext("NlmUniqueID"))
    for subset in mc.iterfind("CitationSubset"):
        out += field("SB", subset.text)
    for cc in mc.iterfind("CommentsCorrectionsList/CommentsCorrections"):
        tag = NOTICE_TAGS.get(cc.get("RefType"))
        if tag:
            ref = cc.findtext("RefSource")
            out += field(tag, f"{ref} PMID: {cc.findtext('PMID')}" if cc.findtext("PMID") else ref)
    for heading in mc.iterfind("MeshHeadingList/MeshHeading"):
        d = heading.find("DescriptorName")
        term = ("*" if d.get("MajorTopicYN") == "Y" else "") + d.text
        for q in heading.iterfind("QualifierName"):
            term += "/" + ("*" if q.get("MajorTopicYN") == "Y" else "") + q.text
        out += field("MH", term)
    ids = {i.get("IdType"): i.text for i in pd.iterfind("ArticleIdList/ArticleId")} if pd is not None else {}
    out += field("PMC", ids.get("pmc"))
    out += field("MID", ids.get("mid"))
    for kl in mc.iterfind("KeywordList"):
        out += field("OTO", kl.get("Owner"))
        for kw in kl.iterfind("Keyword"):
            out += field("OT", text_of(kw))
    history = {d.get("PubStatus"): d for d in pd.iterfind("History/PubMedPubDate")} if pd is not None else {}
    out += field("EDAT", ymd(history.get("pubmed"), "/", time=True))
    out += field("MHDA", ymd(history.get("medline"), "/", time=True))
    out += field("CRDT", ymd(history.get("entrez"), "/", time=True))
    for status, d in history.items():
        out += field("PHST", f"{ymd(d, '/', time=status in ('entrez', 'pubmed', 'medline'))} [{status}]")
    for kind in ("doi", "pii"):
        if ids.get(kind):
            out += field("AID", f"{ids[kind]} [{kind}]")
    out += field("PST", pd.findtext("PublicationStatus") if pd is not None else None)
    out += field("SO", source(info, ji, a, ids))
    return "\n".join(out)


def main(path: str) -> None:
    tree = etree.parse(path, etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False))
    records = [record(art) for art in tree.getroot().iterfind("PubmedArticle")]
    sys.stdout.write("\n\n".join(records) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
