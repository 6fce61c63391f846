"""The registry cross-check on the bundled snapshot: trials stored, linked to the stored
studies, and each disagreement or overdue trial written as a finding with its evidence."""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest
from fake_ctgov import CtFault, FakeCtGov, snapshot_studies
from serving import free_port

from pipeline import ctgov, registry, store
from pipeline.topic import load_topic

TODAY = date(2026, 12, 2)


@pytest.fixture(autouse=True)
def no_registry(monkeypatch):
    """No test may reach the real registry: point CTGOV_API_URL at a dead loopback port."""
    monkeypatch.setenv("CTGOV_API_URL", f"http://127.0.0.1:{free_port()}/api/v2")


@pytest.fixture
def db(loaded):
    """The project's snapshot loaded by `evidence run --source snapshot` (27 studies, extracted)."""
    return store.open_db(loaded)


@pytest.fixture
def refreshed(db):
    result = registry.refresh(db, load_topic(), source="snapshot", today=TODAY)
    return db, result


def quick(base_url: str, **kw) -> ctgov.Client:
    options = {"backoff_initial": 0.01, "backoff_max": 0.05, "backoff_jitter": 0.01, "requests_per_second": 100, "timeout": 5}
    options.update(kw)
    return ctgov.Client(ctgov.Settings(base_url), **options)


def findings(db, kind: str | None = None) -> list[dict]:
    sql = "select nct, pmid, kind, severity, registry_value, published_value from trial_findings"
    rows = db.query(sql + (" where kind = ?" if kind else "") + " order by nct, pmid", [kind] if kind else [])
    return list(rows)


def links(db) -> dict[tuple[str, str], dict]:
    return {(r["nct"], r["pmid"]): r for r in db.query("select * from trial_publications")}


def edited(nct: str, change) -> list[dict]:
    """The snapshot's studies with one record changed by `change(protocolSection)`."""
    studies = copy.deepcopy(snapshot_studies())
    for study in studies:
        if study["protocolSection"]["identificationModule"]["nctId"] == nct:
            change(study["protocolSection"])
    return studies


# --- the snapshot -----------------------------------------------------------------


def test_snapshot_trials_are_stored_with_their_registered_facts(refreshed):
    """All 16 records land; the three neighbours the README names are not on topic."""
    db, result = refreshed
    assert result["source"] == "snapshot" and result["note"] is None and result["saved"] == 16
    trials = registry.load_trials(db)
    assert len(trials) == 16
    assert {n for n, t in trials.items() if not t["on_topic"]} == {"NCT03919630", "NCT01338701", "NCT04851067"}
    t = trials["NCT03730896"]
    assert (t["status"], t["enrollment"], t["enrollment_type"], t["completion_date"]) == ("TERMINATED", 17, "ACTUAL", "2020-03-01")
    assert t["primary_outcomes"][0]["measure"] == "Change in Headache Disability Index (HDI) score"
    assert t["outcome_terms"] == {"primary": ["disability"], "secondary": ["disability", "pain_intensity", "range_of_motion"]}
    assert t["sponsor"] == "Florida Gulf Coast University"
    assert trials["NCT03500861"]["comparator_types"] == ["sham"]
    assert trials["NCT06108180"]["comparator_types"] == ["no_intervention"]
    assert trials["NCT04305223"]["comparator_types"] == ["active"]
    assert trials["NCT03500861"]["found_by"] == ["search", "pmid:30813155"]


def test_a_trial_with_no_outcomes_block_and_missing_optional_fields(refreshed):
    """NCT03500861 has no outcomesModule; NCT05493098 no sponsor; NCT03919630 no dates or arms."""
    db, _ = refreshed
    trials = registry.load_trials(db)
    t = trials["NCT03500861"]
    assert t["primary_outcomes"] == [] and "outcomesModule" in t["missing_modules"]
    assert trials["NCT05493098"]["sponsor"] is None
    neighbour = trials["NCT03919630"]
    assert neighbour["start_date"] is None and neighbour["completion_date"] is None
    assert neighbour["arms"] == [] and neighbour["comparator_types"] is None
    # Its linked publication cannot be checked against registered outcomes: said, not skipped silently.
    info = findings(db, "no_registered_outcomes")
    assert {(f["nct"], f["pmid"], f["severity"]) for f in info} >= {("NCT03500861", "30813155", "info")}


def test_links_registry_references_databank_and_the_unlinked_pair_by_title(refreshed):
    """Two DERIVED references (also in PubMed's DataBank list) and NCT04305223 ↔ 34689708 by title,
    dates and sample size; no other pair clears the threshold."""
    db, _ = refreshed
    found = links(db)
    published = {k for k, r in found.items() if r["relation"] == "results" and r["confidence"] >= registry.LINK_THRESHOLD}
    assert published == {("NCT03500861", "30813155"), ("NCT03919630", "33148134"), ("NCT04305223", "34689708")}
    derived = found[("NCT03500861", "30813155")]
    assert json.loads(derived["methods"]) == ["registry_reference", "pubmed_databank"]
    assert derived["reference_type"] == "DERIVED"
    matched = found[("NCT04305223", "34689708")]
    assert matched["method"] == "title_match"
    assert registry.LINK_THRESHOLD <= matched["confidence"] < 0.95
    assert "title similarity" in matched["evidence"] and "same sample size (7)" in matched["evidence"]
    # NCT05285852 (DN of SCM in migraine) is not linked to anything in the fixture.
    assert not [k for k in found if k[0] == "NCT05285852"]


def test_the_two_sample_size_mismatches_and_no_false_one(refreshed):
    db, _ = refreshed
    rows = findings(db, "sample_size_differs")
    assert [(r["nct"], r["pmid"], r["registry_value"], r["published_value"], r["severity"]) for r in rows] == [
        ("NCT03500861", "30813155", "160", "168", "minor"),  # 5% apart: a finding, not over the 10% flag
        ("NCT03919630", "33148134", "48", "45", "minor"),
    ]
    evidence = registry.findings_for_pmid(db, "30813155")
    size = next(f for f in evidence if f["kind"] == "sample_size_differs")
    assert size["evidence"]["registry"]["field"] == "designModule.enrollmentInfo"
    assert size["evidence"]["publication"] == {"field": "studies.n_randomized", "value": 168}
    assert size["evidence"]["link"]["method"] == "registry_reference"
    assert "168 randomized" in size["detail"]


def test_registered_arms_against_the_abstracts_comparators(refreshed):
    """Sham registered and sham reported agree; an active comparator arm registered for a
    publication whose abstract describes no comparison group is a finding."""
    db, _ = refreshed
    rows = findings(db, "comparator_differs")
    assert [(r["nct"], r["pmid"], json.loads(r["registry_value"]), json.loads(r["published_value"])) for r in rows] == [
        ("NCT04305223", "34689708", ["active"], ["none"])
    ]


def test_completed_trials_without_a_publication_12_and_24_months_on(refreshed):
    db, _ = refreshed
    overdue = {r["nct"]: r["kind"] for r in findings(db) if r["kind"].startswith("unpublished")}
    assert overdue == {
        "NCT03730896": "unpublished_24_months",  # terminated 2020-03
        "NCT05285852": "unpublished_24_months",
        "NCT05496010": "unpublished_24_months",
        "NCT06108180": "unpublished_24_months",
        "NCT07192497": "unpublished_12_months",  # completed 2025-07-14
    }
    listed = registry.unpublished(db, TODAY)
    assert [r["nct"] for r in listed][:1] == ["NCT03730896"]
    assert {r["nct"] for r in listed} == set(overdue) | {"NCT01338701"}  # completed, but no date given
    assert next(r for r in listed if r["nct"] == "NCT01338701")["months_since_completion"] is None


def test_what_is_overdue_depends_on_the_day_the_caller_passes(db):
    registry.refresh(db, load_topic(), source="snapshot", today=date(2025, 6, 1))
    kinds = {r["nct"]: r["kind"] for r in findings(db)}
    assert kinds["NCT06108180"] == "unpublished_12_months"  # 17 months after 2023-12-05
    assert "NCT07192497" not in kinds  # not yet completed then
    assert "NCT07309874" not in kinds and "NCT03583190" not in kinds  # completion dates still ahead


def test_statuses_left_open_past_their_completion_date(refreshed):
    db, _ = refreshed
    stale = {r["nct"]: r["registry_value"] for r in findings(db, "status_overdue")}
    assert stale == {
        "NCT03583190": "RECRUITING",  # estimated completion 2025-12-10
        "NCT05444296": "NOT_YET_RECRUITING",
        "NCT07309874": "NOT_YET_RECRUITING",  # 2026-06-01, before the day passed
        "NCT04851067": "UNKNOWN",
        "NCT05140291": "UNKNOWN",
        "NCT05493098": "UNKNOWN",
    }


def test_refresh_twice_gives_the_same_tables(refreshed):
    db, first = refreshed
    before = [list(db.query(f"select * from {t} order by 1, 2")) for t in ("trial_publications", "trial_findings")]
    second = registry.refresh(db, load_topic(), source="snapshot", today=TODAY)
    after = [list(db.query(f"select * from {t} order by 1, 2")) for t in ("trial_publications", "trial_findings")]
    assert before[0] == after[0]
    assert [{k: v for k, v in r.items() if k != "id"} for r in before[1]] == [{k: v for k, v in r.items() if k != "id"} for r in after[1]]
    assert first["findings"] == second["findings"] and first["trials"] == second["trials"] == 16


def test_read_functions_for_the_surfaces(refreshed):
    db, result = refreshed
    assert result["findings"]["sample_size_differs"] == 2 and result["links"]["results:title_match"] == 1
    assert registry.summary(db)["by_status"]["COMPLETED"] == 8
    assert {f["kind"] for f in registry.findings_for_pmid(db, "34689708")} == {"comparator_differs", "no_registered_outcomes"}
    assert registry.findings_for_pmid(db, "99999999") == []
    pain = {t["nct"]: t for t in registry.trials_for_claim(db, ["pain_intensity"], ["cervicogenic"])}
    assert set(pain) == {"NCT03730896", "NCT05140291", "NCT05444296", "NCT07192497"}
    assert "NCT05496010" not in pain  # pain, but tension-type headache
    assert all(not t["published"] for t in pain.values())
    anything = {t["nct"] for t in registry.trials_for_claim(db)}
    assert "NCT04305223" in anything and "NCT03919630" not in anything  # on-topic trials only
    assert [t["published"] for t in registry.trials_for_claim(db) if t["nct"] == "NCT04305223"] == [True]


# --- changed registry records, through the live path ------------------------------------


def test_primary_outcome_not_among_the_reported_outcomes(db):
    """A registered primary outcome the abstract never reports is a finding; one it reports is not."""
    def disability(ps):
        ps["outcomesModule"] = {"primaryOutcomes": [{"measure": "Headache Disability Index"}, {"measure": "Headache frequency"}]}
    with FakeCtGov(edited("NCT03500861", disability)) as fake:
        registry.refresh(db, load_topic(), source="live", today=TODAY, client=quick(fake.base_url))
    rows = findings(db, "primary_outcome_not_reported")
    assert [(r["nct"], r["pmid"], r["registry_value"]) for r in rows] == [("NCT03500861", "30813155", "Headache Disability Index")]
    assert json.loads(rows[0]["published_value"]) == ["pain_intensity", "frequency", "duration", "quality_of_life"]
    assert not [f for f in findings(db, "no_registered_outcomes") if f["nct"] == "NCT03500861"]


def test_an_unmapped_primary_outcome_is_reported_as_unchecked(db):
    def odd(ps):
        ps["outcomesModule"] = {"primaryOutcomes": [{"measure": "Number of adverse events"}]}
    with FakeCtGov(edited("NCT03500861", odd)) as fake:
        registry.refresh(db, load_topic(), source="live", today=TODAY, client=quick(fake.base_url))
    assert [(r["nct"], r["severity"]) for r in findings(db, "primary_outcome_unmapped")] == [("NCT03500861", "info")]
    assert findings(db, "primary_outcome_not_reported") == []


def test_the_investigator_among_the_authors_raises_the_match(db):
    def official(ps):
        ps["contactsLocationsModule"]["overallOfficials"] = [{"name": "Kathleen Geist, DPT", "role": "PRINCIPAL_INVESTIGATOR"}]
    registry.refresh(db, load_topic(), source="snapshot", today=TODAY)
    without = links(db)[("NCT04305223", "34689708")]["confidence"]
    with FakeCtGov(edited("NCT04305223", official)) as fake:
        registry.refresh(db, load_topic(), source="live", today=TODAY, client=quick(fake.base_url))
    link = links(db)[("NCT04305223", "34689708")]
    assert link["confidence"] > without
    assert "investigator Kathleen Geist, DPT is first author" in link["evidence"]


def test_a_publication_before_the_trial_started_is_never_matched(db):
    def later(ps):
        ps["statusModule"]["startDateStruct"] = {"date": "2025-01-01"}
        ps["statusModule"]["completionDateStruct"] = {"date": "2025-06-01"}
    with FakeCtGov(edited("NCT04305223", later)) as fake:
        registry.refresh(db, load_topic(), source="live", today=TODAY, client=quick(fake.base_url))
    assert ("NCT04305223", "34689708") not in links(db)
    assert "NCT04305223" in {r["nct"] for r in findings(db, "unpublished_12_months")}


def test_live_refresh_pages_fetches_cited_trials_and_tolerates_missing_modules(db):
    """The search (in pages) lacks NCT03919630, which a stored study names: it is fetched by
    number. One record carries only its identification module."""
    studies = [s for s in snapshot_studies() if s["protocolSection"]["identificationModule"]["nctId"] != "NCT03919630"]
    bare = next(s for s in studies if s["protocolSection"]["identificationModule"]["nctId"] == "NCT05446649")
    bare["protocolSection"] = {"identificationModule": {"nctId": "NCT05446649"}}
    bare.pop("hasResults", None)
    single = next(s for s in snapshot_studies() if s["protocolSection"]["identificationModule"]["nctId"] == "NCT03919630")
    with FakeCtGov(studies, singles=[single]) as fake:
        fake.max_page_size = 10
        fake.faults.append(CtFault("status", status=503, path="/studies"))
        result = registry.refresh(db, load_topic(), source="live", today=TODAY, client=quick(fake.base_url))
        assert "/api/v2/studies/NCT03919630" in fake.paths
        assert fake.paths.count("/api/v2/studies") == 3  # one 503 retried, then pages of 10 and 5
    assert result["source"] == "live" and result["saved"] == 16 and result["not_found"] == []
    trials = registry.load_trials(db)
    assert trials["NCT03919630"]["found_by"] == ["pmid:33148134"]
    bare_row = trials["NCT05446649"]
    assert bare_row["status"] is None and bare_row["enrollment"] is None and bare_row["arms"] == []
    assert "statusModule" in bare_row["missing_modules"] and bare_row["has_results"] is None
    assert ("NCT03919630", "33148134") in links(db)


def test_a_failed_live_fetch_stores_nothing(refreshed):
    db, _ = refreshed
    before = list(db.query("select nct, fetched_at from trials order by nct"))
    findings_before = findings(db)
    with FakeCtGov() as fake:
        fake.faults += [CtFault("status", status=503, path="/studies")] * 20
        with pytest.raises(ctgov.CtGovError, match="HTTP 503"):
            registry.refresh(db, load_topic(), source="live", today=date(2027, 6, 1), client=quick(fake.base_url, attempts=2))
    assert list(db.query("select nct, fetched_at from trials order by nct")) == before
    assert findings(db) == findings_before


def test_auto_falls_back_to_the_snapshot_and_says_so(db):
    result = registry.refresh(db, load_topic(), source="auto", today=TODAY)  # CTGOV_API_URL: a dead port
    assert result["source"] == "snapshot" and result["trials"] == 16
    assert "could not be used" in result["note"] and "snapshot of 2026-11-25" in result["note"]
    assert registry.summary(db)["trials_source"] == "snapshot"


def test_a_study_without_an_nct_number_cannot_be_parsed():
    with pytest.raises(registry.RegistryError, match="nctId"):
        registry.parse_study({"protocolSection": {"identificationModule": {"briefTitle": "x"}}})
    trial = registry.parse_study({"protocolSection": {"identificationModule": {"nctId": "NCT01234567"}}})
    assert trial.enrollment is None and trial.conditions == [] and trial.has_results is None
    assert registry.comparator_classes(trial) is None


# --- the change log: what a refresh found different ---------------------------------------


def changes(db, since_id: int = 0) -> list[tuple]:
    return [tuple(r) for r in db.execute(
        "select nct, kind, old, new, pmid, context, source from trial_changes where id > ? order by id", [since_id])]


def last_change_id(db) -> int:
    return db.execute("select coalesce(max(id), 0) from trial_changes").fetchone()[0]


def registry_news(ps_changes: dict, extra: list[dict] = ()) -> list[dict]:
    """The snapshot with `ps_changes` {nct: change(protocolSection)} applied, plus `extra` studies."""
    studies = copy.deepcopy(snapshot_studies())
    for study in studies:
        change = ps_changes.get(study["protocolSection"]["identificationModule"]["nctId"])
        if change:
            change(study["protocolSection"])
    return studies + list(extra)


def new_trial(nct: str = "NCT07500001", first_posted: str = "2026-11-30") -> dict:
    """A new registration: NCT07309874's record under another number and title."""
    study = copy.deepcopy(next(s for s in snapshot_studies()
                               if s["protocolSection"]["identificationModule"]["nctId"] == "NCT07309874"))
    ident = study["protocolSection"]["identificationModule"]
    ident["nctId"], ident["briefTitle"] = nct, "Dry Needling of the Suboccipital Muscles in Chronic Migraine"
    study["protocolSection"]["statusModule"]["studyFirstPostDateStruct"] = {"date": first_posted, "type": "ACTUAL"}
    return study


def completed_with_results(ps):
    """NCT05444296 completes and lists a stored study (PMID 29037632) as its RESULT reference."""
    ps["statusModule"]["overallStatus"] = "COMPLETED"
    ps["statusModule"]["lastUpdatePostDateStruct"] = {"date": "2026-11-29", "type": "ACTUAL"}
    ps["referencesModule"] = {"references": [{"pmid": "29037632", "type": "RESULT", "citation": "Sedighi A, et al. 2017."}]}


def test_the_first_load_records_how_things_stood_not_news(db):
    """`evidence run --source snapshot` loaded the registry once: 16 registrations and 3
    links, all marked as the first load; nothing else."""
    rows = changes(db)
    assert len(rows) == 19
    assert {r[5] for r in rows} == {registry.FIRST_LOAD} and {r[6] for r in rows} == {"snapshot"}
    assert sorted(r[0] for r in rows if r[1] == "new_registration") == sorted(registry.load_trials(db))
    assert sorted((r[0], r[4], r[3]) for r in rows if r[1] == "publication_linked") == [
        ("NCT03500861", "30813155", "results"), ("NCT03919630", "33148134", "results"), ("NCT04305223", "34689708", "results")]
    first = db.execute("select detail from trial_changes where nct = 'NCT03500861' and kind = 'new_registration'").fetchone()[0]
    assert first == 'NCT03500861 "Trigger Point Dry Needling for Chronic Tension-Type Headache": completed, 160 participants, first posted 2018-04-18'


def test_a_refresh_with_nothing_changed_writes_no_change(db):
    before = last_change_id(db)
    assert registry.refresh(db, load_topic(), source="snapshot", today=TODAY)["changes_written"] == 0
    with FakeCtGov() as fake:  # the same records from the live API: still nothing new
        assert registry.refresh(db, load_topic(), source="live", today=TODAY, client=quick(fake.base_url))["changes_written"] == 0
    assert changes(db, before) == []


def test_a_status_change_a_new_trial_and_a_new_link_are_recorded_with_the_refresh(db):
    before = last_change_id(db)
    with FakeCtGov(registry_news({"NCT05444296": completed_with_results}, [new_trial()])) as fake:
        result = registry.refresh(db, load_topic(), source="live", today=TODAY, client=quick(fake.base_url))
    assert result["changes_written"] == 3
    assert changes(db, before) == [
        ("NCT05444296", "status_changed", "NOT_YET_RECRUITING", "COMPLETED", None, None, "live"),
        ("NCT07500001", "new_registration", None, "NOT_YET_RECRUITING", None, None, "live"),
        ("NCT05444296", "publication_linked", None, "results", "29037632", None, "live"),
    ]
    details = [r[0] for r in db.execute("select detail from trial_changes where id > ? order by id", [before])]
    assert details[0] == "NCT05444296: not yet recruiting → completed (registry record updated 2026-11-29)"
    assert details[1] == ('NCT07500001 "Dry Needling of the Suboccipital Muscles in Chronic Migraine": not yet recruiting, '
                          "50 participants, first posted 2026-11-30")
    assert details[2].startswith('PMID 29037632 "Comparison of acute effects of superficial and deep dry needling')
    assert details[2].endswith("as its results publication: the registry lists PMID 29037632 as a RESULT reference")
    # The change log's stamp is the refresh's: the same as the trials it saw.
    stamps = {r[0] for r in db.execute("select distinct seen_at from trial_changes where id > ?", [before])}
    assert stamps == {registry.load_trials(db)["NCT07500001"]["fetched_at"]}
    # Seen once: the same records again change nothing.
    with FakeCtGov(registry_news({"NCT05444296": completed_with_results}, [new_trial()])) as fake:
        assert registry.refresh(db, load_topic(), source="live", today=TODAY, client=quick(fake.base_url))["changes_written"] == 0


def test_a_failed_refresh_records_no_change(db):
    before = last_change_id(db)
    with FakeCtGov(registry_news({"NCT05444296": completed_with_results})) as fake:
        fake.faults += [CtFault("status", status=503, path="/studies")] * 20
        with pytest.raises(ctgov.CtGovError):
            registry.refresh(db, load_topic(), source="live", today=TODAY, client=quick(fake.base_url, attempts=2))
    assert changes(db, before) == []


def test_a_fallback_to_the_older_snapshot_is_no_news_and_the_return_to_live_is_not_either(db):
    """live (NCT05444296 completed) → snapshot (still 'not yet recruiting' there: older data)
    → live again (completed, as before the fallback): the completion is news once."""
    live = registry_news({"NCT05444296": completed_with_results})
    with FakeCtGov(live) as fake:
        registry.refresh(db, load_topic(), source="live", today=TODAY, client=quick(fake.base_url))
    after_live = last_change_id(db)
    registry.refresh(db, load_topic(), source="auto", today=TODAY)  # CTGOV_API_URL is dead: the snapshot
    assert changes(db, after_live) == [
        ("NCT05444296", "status_changed", "COMPLETED", "NOT_YET_RECRUITING", None, registry.OLDER_COPY, "snapshot"),
    ]
    after_fallback = last_change_id(db)
    with FakeCtGov(live) as fake:
        registry.refresh(db, load_topic(), source="live", today=TODAY, client=quick(fake.base_url))
    assert changes(db, after_fallback) == []
    news = [r for r in changes(db) if r[5] is None]
    assert news == [
        ("NCT05444296", "status_changed", "NOT_YET_RECRUITING", "COMPLETED", None, None, "live"),
        ("NCT05444296", "publication_linked", None, "results", "29037632", None, "live"),
    ]


def test_changes_since_reads_the_log_with_titles_for_the_surfaces(db):
    first_load = "2026-11-25T06:00:00+00:00"  # the first load, a week before (stamps are to the second)
    db.execute("update trial_changes set seen_at = ?", [first_load])
    db.conn.commit()
    with FakeCtGov(registry_news({"NCT05444296": completed_with_results}, [new_trial()])) as fake:
        registry.refresh(db, load_topic(), source="live", today=TODAY, client=quick(fake.base_url))
    rows = registry.changes_since(db, first_load)
    assert [(r["nct"], r["kind"]) for r in rows] == [
        ("NCT05444296", "status_changed"), ("NCT07500001", "new_registration"), ("NCT05444296", "publication_linked")]
    linked = rows[2]
    assert linked["title"] == "Superficial Dry Needling for Cervicogenic Headache" and linked["study_on_topic"] == 1
    assert linked["study_title"].startswith("Comparison of acute effects") and "RESULT reference" in linked["link_evidence"]
    assert rows[1]["first_posted"] == "2026-11-30" and rows[1]["on_topic"] == 1
    assert len(registry.changes_since(db)) == 22
    fresh = registry.registry_freshness(db)
    assert fresh["live"] and fresh["line"].startswith("live ClinicalTrials.gov (API v2), refreshed ")


# --- the word lists, checked by their own examples --------------------------------------


def _outcome_examples():
    terms = registry.load_terms()
    return [(name, example) for name, examples in terms.outcome_examples.items() for example in examples]


@pytest.mark.parametrize("outcome,title", _outcome_examples())
def test_every_outcome_example_maps_to_its_outcome(outcome, title):
    assert outcome in registry.outcome_terms(title)


@pytest.mark.parametrize("title", registry.load_terms().unmapped_examples)
def test_unmapped_examples_map_to_nothing(title):
    assert registry.outcome_terms(title) == []


def test_arm_words_and_types():
    terms = registry.load_terms()
    for cls, examples in terms.arm_word_examples.items():
        for label in examples:
            assert registry.arm_class({"label": label, "type": "OTHER"}) == cls, label
    assert registry.arm_class({"label": "Dry needling", "type": "EXPERIMENTAL", "description": "vs sham"}) == "experimental"
    assert registry.arm_class({"label": "Orthopedic Manual Therapy", "type": "ACTIVE_COMPARATOR"}) == "active"
    assert registry.published_classes(["sham", "manual_therapy", "unspecified_control"]) == ["active", "sham"]


def test_partial_registry_dates_mean_their_last_day():
    assert registry.end_of("2025-12") == date(2025, 12, 31)
    assert registry.end_of("2023") == date(2023, 12, 31)
    assert registry.end_of("2024-02") == date(2024, 2, 29)
    assert registry.end_of("soon") is None
    assert registry.months_between(date(2025, 7, 14), date(2026, 7, 13)) == 11
    assert registry.months_between(date(2025, 7, 14), date(2026, 7, 14)) == 12


def test_the_registry_confirms_a_value_the_rules_read_with_low_confidence(tmp_path):
    """A registered actual enrollment equal to a sample size the rules read with low
    confidence confirms it (an info finding); a differing one stays a mismatch."""
    from pipeline import registry as reg

    trial = {"nct": "NCT00000001", "enrollment": 40, "enrollment_type": "ACTUAL", "comparator_types": ["sham"]}
    study = {"pmid": "1", "n_randomized": 40, "comparators": ["sham"]}
    found = reg._check_confirms(trial, study, {"n_randomized", "comparators"})
    assert [f["kind"] for f in found] == ["registry_confirms", "registry_confirms"]
    assert "confirmed by the registry" in found[0]["detail"] and found[0]["severity"] == "info"
    assert reg._check_confirms(trial, study, set()) == []  # read with high confidence: nothing to confirm
    assert reg._check_confirms({**trial, "enrollment": 48}, study, {"n_randomized"}) == []
    assert reg._check_confirms({**trial, "enrollment_type": "ESTIMATED"}, study, {"n_randomized"}) == []
