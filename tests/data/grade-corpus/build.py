"""Writes efetch.xml: hand-written, PubMed-style records (PMIDs 90000001+, not
assigned by PubMed) that, with the bundled snapshot, make a corpus the size a
live search returns (about 20 on-topic studies with results, several reviews).
The abstracts are written for testing, not copied from any paper; they use the
wordings real abstracts use for certainty, add-on designs, absent placebo arms,
active comparators and neck-pain populations. Run: python build.py
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).parent

# (pmid, year, month, title, publication types, [(label, text), ...], authors)
RECORDS = [
    ("90000001", 2024, "Mar",
     "Dry needling for tension-type headache: a systematic review and meta-analysis of randomized sham-controlled trials.",
     ["Journal Article", "Systematic Review", "Meta-Analysis"],
     [("BACKGROUND", "Dry needling of myofascial trigger points is widely used for tension-type headache (TTH)."),
      ("METHODS", "MEDLINE, Embase, CENTRAL and PEDro were searched to January 2024 for randomized trials comparing dry needling with sham needling in adults with TTH. Two reviewers assessed risk of bias with RoB 2 and rated the certainty of evidence with GRADE; random-effects meta-analyses pooled headache intensity."),
      ("RESULTS", "Six trials with 342 participants were included; four were at high risk of bias. Dry needling reduced headache intensity compared with sham (SMD -0.52, 95% CI -0.88 to -0.16; 6 trials, n = 342), with substantial heterogeneity."),
      ("CONCLUSIONS", "Dry needling may reduce headache intensity in tension-type headache compared with sham needling, but the certainty of the evidence is low.")],
     [("Marlow", "Helen"), ("Okafor", "Daniel")]),
    ("90000002", 2022, "Jun",
     "Dry needling versus sham needling for migraine: a meta-analysis.",
     ["Journal Article", "Meta-Analysis"],
     [("OBJECTIVE", "To pool randomized trials of dry needling against sham needling for migraine pain intensity."),
      ("METHODS", "Databases (PubMed, Scopus, Web of Science) were searched to December 2021. Random-effects meta-analysis; certainty was graded with GRADE."),
      ("RESULTS", "Five trials (n = 286) were pooled. Migraine pain intensity did not differ between dry needling and sham (SMD -0.10, 95% CI -0.41 to 0.21)."),
      ("CONCLUSIONS", "Dry needling was no more effective than sham needling for migraine pain intensity (very low certainty evidence).")],
     [("Ferreira", "Lucas"), ("Haddad", "Nour")]),
    ("90000003", 2023, "Sep",
     "Dry needling added to physiotherapy versus physiotherapy alone for cervicogenic headache: a randomized clinical trial.",
     ["Journal Article", "Randomized Controlled Trial"],
     [("OBJECTIVE", "To test whether adding dry needling to a physiotherapy programme improves cervicogenic headache."),
      ("METHODS", "Eighty patients with cervicogenic headache were randomly assigned to dry needling plus physiotherapy (manual therapy and exercise) or physiotherapy alone for 4 weeks. The trial had no sham arm and neither participants nor therapists were blinded. Headache intensity (NPRS) was the primary outcome."),
      ("RESULTS", "Headache intensity fell more with dry needling plus physiotherapy than with physiotherapy alone (MD -1.4 points, 95% CI -2.3 to -0.5)."),
      ("CONCLUSIONS", "Adding dry needling to physiotherapy reduced headache intensity in cervicogenic headache more than physiotherapy alone.")],
     [("Lindqvist", "Ebba"), ("Moreau", "Paul")]),
    ("90000004", 2020, "Feb",
     "Dry needling versus manual therapy for chronic tension-type headache: a randomized trial.",
     ["Journal Article", "Randomized Controlled Trial"],
     [("METHODS", "Sixty-four adults with chronic tension-type headache were randomized to dry needling or manual therapy (ischemic compression) of trigger points, four sessions over two weeks. Outcome assessors were blinded. Headache intensity and frequency were measured at one month."),
      ("RESULTS", "Headache intensity decreased more with dry needling than with manual therapy (MD -1.1, 95% CI -1.9 to -0.3), while frequency did not differ."),
      ("CONCLUSIONS", "Dry needling reduced headache intensity more than manual therapy in chronic tension-type headache.")],
     [("Castillo", "Irene"), ("Vega", "Tomás")]),
    ("90000005", 2021, "Nov",
     "Multimodal physiotherapy including dry needling for chronic migraine: a randomized controlled trial.",
     ["Journal Article", "Randomized Controlled Trial"],
     [("BACKGROUND", "Pragmatic trials test needling as part of usual physiotherapy rather than alone."),
      ("METHODS", "Unlike sham-controlled trials of needling alone, this pragmatic trial randomized a total of 96 patients with chronic migraine to a multimodal programme (dry needling, exercise and education) or usual care from their general practitioner. The trial had no placebo arm. Monthly migraine days and pain intensity were recorded."),
      ("RESULTS", "Migraine days fell more in the multimodal group than with usual care (MD -2.0 days, 95% CI -3.4 to -0.6), and pain intensity improved."),
      ("CONCLUSIONS", "A multimodal programme including dry needling reduced migraine frequency and pain intensity compared with usual care.")],
     [("Novak", "Petra"), ("Quinn", "Aidan")]),
    ("90000006", 2019, "Apr",
     "Dry needling of the upper trapezius in patients with mechanical neck pain: a randomized trial.",
     ["Journal Article", "Randomized Controlled Trial"],
     [("METHODS", "Fifty patients with mechanical neck pain, 20 of whom also reported headache, were randomized to dry needling or sham needling of upper trapezius trigger points. Participants and assessors were blinded. Neck pain intensity was the primary outcome; headache frequency was recorded in those with headache."),
      ("RESULTS", "Pain intensity decreased more with dry needling than with sham needling (MD -1.6, 95% CI -2.5 to -0.7); headache frequency was lower after real needling."),
      ("CONCLUSIONS", "Dry needling reduced neck pain and headache frequency relative to sham needling.")],
     [("Bauer", "Jonas"), ("Kowalski", "Marta")]),
    ("90000007", 2023, "Jan",
     "Dry needling for chronic mechanical neck pain: a randomized sham-controlled trial.",
     ["Journal Article", "Randomized Controlled Trial"],
     [("METHODS", "One hundred and ten adults with chronic mechanical neck pain were randomized to dry needling or sham needling, three sessions. Pain intensity (VAS) and neck disability were measured at four weeks."),
      ("RESULTS", "Pain intensity decreased more after dry needling than after sham (MD -1.2, 95% CI -1.8 to -0.6)."),
      ("CONCLUSIONS", "Dry needling reduced neck pain intensity compared with sham needling.")],
     [("Sato", "Kenji"), ("Duarte", "Ana")]),
    ("90000008", 2022, "Aug",
     "Dry needling for chronic neck pain in office workers: a randomized trial.",
     ["Journal Article", "Randomized Controlled Trial"],
     [("METHODS", "Seventy office workers with chronic neck pain were randomized to dry needling or stretching exercises for three weeks. Pain intensity and cervical range of motion were measured."),
      ("RESULTS", "Pain intensity fell more with dry needling than with stretching exercises (MD -0.9, 95% CI -1.6 to -0.2); range of motion improved in both groups."),
      ("CONCLUSIONS", "Dry needling reduced neck pain more than stretching exercises.")],
     [("Ahmadi", "Reza"), ("Olsen", "Kari")]),
    ("90000009", 2025, "Feb",
     "Trigger point dry needling versus sham needling for chronic tension-type headache: a double-blind randomized trial.",
     ["Journal Article", "Randomized Controlled Trial"],
     [("METHODS", "We randomized 120 patients with chronic tension-type headache to trigger point dry needling or sham needling (non-penetrating needles), six sessions over three weeks. Participants and outcome assessors were blinded. Headache intensity was the primary outcome."),
      ("RESULTS", "Headache intensity was reduced more with dry needling than with sham needling (MD -1.3, 95% CI -2.0 to -0.6) at one month."),
      ("CONCLUSIONS", "Trigger point dry needling reduced headache intensity in chronic tension-type headache relative to sham needling.")],
     [("Petrov", "Ivan"), ("Garcia", "Lucia")]),
    ("90000010", 2025, "May",
     "Dry needling versus sham needling for episodic migraine: a randomized controlled trial.",
     ["Journal Article", "Randomized Controlled Trial"],
     [("METHODS", "Ninety patients with episodic migraine were randomly assigned to dry needling or sham needling of cervical trigger points. The trial was double-blind. Pain intensity and monthly migraine days were measured at three months."),
      ("RESULTS", "Pain intensity did not differ between groups (MD -0.2, 95% CI -0.9 to 0.5), nor did migraine days."),
      ("CONCLUSIONS", "Dry needling was no more effective than sham needling for episodic migraine.")],
     [("Rossi", "Giulia"), ("Yilmaz", "Emre")]),
    ("90000011", 2021, "Jul",
     "Dry needling for cervicogenic headache in routine practice: a retrospective cohort study.",
     ["Journal Article", "Observational Study"],
     [("METHODS", "In this retrospective cohort, medical records of 150 patients with cervicogenic headache treated in two physiotherapy clinics were reviewed; 82 received dry needling with usual physiotherapy and 68 usual physiotherapy."),
      ("RESULTS", "Headache intensity and neck disability improved more in patients who received dry needling."),
      ("CONCLUSIONS", "Dry needling was associated with greater improvement in headache intensity and disability in cervicogenic headache.")],
     [("Hughes", "Megan"), ("Tan", "Wei")]),
    ("90000012", 2020, "Oct",
     "Dry needling for post-traumatic headache in veterans: a case series.",
     ["Journal Article", "Case Reports"],
     [("METHODS", "This case series describes 12 consecutive veterans with post-traumatic headache after mild traumatic brain injury who received dry needling of cervical and cranial trigger points."),
      ("RESULTS", "Headache intensity and frequency decreased after treatment in 10 of 12 veterans."),
      ("CONCLUSIONS", "Dry needling may be useful for post-traumatic headache.")],
     [("Brooks", "Samuel"), ("Diaz", "Maria")]),
    ("90000013", 2019, "Nov",
     "Deep dry needling versus sham for cervicogenic headache: a randomized assessor-blinded trial.",
     ["Journal Article", "Randomized Controlled Trial"],
     [("METHODS", "Forty patients with cervicogenic headache were randomized to deep dry needling or sham needling of suboccipital trigger points; assessors were blinded. Headache intensity and cervical range of motion were measured after four sessions."),
      ("RESULTS", "Headache intensity decreased and cervical range of motion increased more with dry needling than with sham needling (P < .01)."),
      ("CONCLUSIONS", "Deep dry needling reduced headache intensity and improved range of motion in cervicogenic headache compared with sham.")],
     [("Mendes", "Rafael"), ("Clarke", "Olivia")]),
    ("90000014", 2022, "Mar",
     "Dry needling versus stretching exercise for tension-type headache: a randomized trial.",
     ["Journal Article", "Randomized Controlled Trial"],
     [("METHODS", "Sixty adults with tension-type headache were randomized to dry needling or a home stretching exercise programme for four weeks. Headache intensity and frequency were recorded."),
      ("RESULTS", "Headache intensity and frequency improved in both groups, with no significant difference between groups."),
      ("CONCLUSIONS", "Dry needling was as effective as stretching exercise for tension-type headache.")],
     [("Eriksen", "Lars"), ("Patel", "Anika")]),
    ("90000015", 2021, "Jan",
     "Dry needling for chronic migraine: a single-arm pilot study.",
     ["Journal Article", "Clinical Trial"],
     [("METHODS", "In this single-arm pilot study, 30 patients with chronic migraine received six sessions of dry needling of cervical trigger points. Migraine frequency, pain intensity and medication use were recorded."),
      ("RESULTS", "Monthly migraine days, pain intensity and analgesic medication use decreased after treatment."),
      ("CONCLUSIONS", "Dry needling may reduce migraine frequency and pain; controlled trials are needed.")],
     [("Kaur", "Simran"), ("Lemaire", "Claire")]),
    ("90000016", 2024, "Aug",
     "Dry needling versus amitriptyline for chronic tension-type headache: a randomized trial.",
     ["Journal Article", "Randomized Controlled Trial"],
     [("METHODS", "Seventy patients with chronic tension-type headache were randomized to dry needling or amitriptyline medication for eight weeks. Headache frequency and analgesic medication use were the outcomes."),
      ("RESULTS", "Headache frequency and analgesic medication use fell in both groups, with no significant difference between dry needling and amitriptyline."),
      ("CONCLUSIONS", "Dry needling was as effective as amitriptyline medication for chronic tension-type headache.")],
     [("Zhou", "Min"), ("Santos", "Bruno")]),
    ("90000017", 2023, "May",
     "Dry needling for migraine: a systematic review.",
     ["Journal Article", "Systematic Review"],
     [("METHODS", "PubMed, Embase and PEDro were searched for randomized trials of dry needling in migraine. Risk of bias was assessed with the Cochrane tool."),
      ("RESULTS", "Seven trials with 410 participants were included; most had high risk of bias, comparators varied (sham, medication, other treatments) and results were inconsistent."),
      ("CONCLUSIONS", "There is insufficient evidence to support or refute dry needling for migraine.")],
     [("Walsh", "Ciara"), ("Ibrahim", "Omar")]),
]


def article(pmid, year, month, title, types, sections, authors) -> str:
    abstract = "".join(
        f'<AbstractText Label="{label}" NlmCategory="{label}">{escape(text)}</AbstractText>\n' for label, text in sections
    )
    names = "".join(
        f'<Author ValidYN="Y"><LastName>{escape(last)}</LastName><ForeName>{escape(first)}</ForeName>'
        f"<Initials>{first[0]}</Initials></Author>\n"
        for last, first in authors
    )
    pubtypes = "".join(f'<PublicationType UI="D000000">{escape(t)}</PublicationType>\n' for t in types)
    month_number = "JanFebMarAprMayJunJulAugSepOctNovDec".index(month) // 3 + 1
    return f"""<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM">
<PMID Version="1">{pmid}</PMID>
<DateRevised><Year>{year}</Year><Month>{month_number:02d}</Month><Day>15</Day></DateRevised>
<Article PubModel="Print"><Journal><ISSN IssnType="Print">0000-0000</ISSN>
<JournalIssue CitedMedium="Print"><Volume>{year - 1990}</Volume><Issue>1</Issue><PubDate><Year>{year}</Year><Month>{month}</Month></PubDate></JournalIssue>
<Title>Journal of Test Headache Studies</Title><ISOAbbreviation>J Test Headache Stud</ISOAbbreviation></Journal>
<ArticleTitle>{escape(title)}</ArticleTitle>
<Pagination><MedlinePgn>1-10</MedlinePgn></Pagination>
<Abstract>
{abstract}<CopyrightInformation>Fixture abstract written for software testing; not a real paper.</CopyrightInformation>
</Abstract>
<AuthorList CompleteYN="Y">
{names}</AuthorList>
<Language>eng</Language>
<PublicationTypeList>
{pubtypes}</PublicationTypeList>
</Article>
<MedlineJournalInfo><Country>England</Country><MedlineTA>J Test Headache Stud</MedlineTA><ISSNLinking>0000-0000</ISSNLinking></MedlineJournalInfo>
</MedlineCitation>
<PubmedData><History>
<PubMedPubDate PubStatus="pubmed"><Year>{year}</Year><Month>{month_number}</Month><Day>15</Day></PubMedPubDate>
<PubMedPubDate PubStatus="entrez"><Year>{year}</Year><Month>{month_number}</Month><Day>15</Day><Hour>6</Hour><Minute>0</Minute></PubMedPubDate>
</History>
<PublicationStatus>ppublish</PublicationStatus>
<ArticleIdList>
<ArticleId IdType="pubmed">{pmid}</ArticleId>
</ArticleIdList></PubmedData></PubmedArticle>
"""


def main() -> None:
    body = "".join(article(*r) for r in RECORDS)
    (HERE / "efetch.xml").write_text(
        '<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
        '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>\n' + body + "</PubmedArticleSet>\n"
    )


if __name__ == "__main__":
    main()
