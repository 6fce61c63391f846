"""Serving 100,000 studies (issue 15): the studies page counts its facets on
`study_facets`, a narrow mirror of the studies' facet columns kept by triggers,
with the same answers and links as Datasette's own facets; the canned queries
read indexes in their own order. Checked by the answers and the query plans,
never by timing (bench/bench_serve.py times them)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from pipeline import checked, datasette_plugin, publish, store, update
from pipeline.sources import snapshot_source
from pipeline.topic import PROJECT_ROOT

TRIAL = "30813155"  # the sham-controlled RCT: tension-type headache, outcomes include quality_of_life


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The bundled snapshot loaded and extracted (built once)."""
    path = tmp_path_factory.mktemp("serve_scale") / "built.db"
    db = store.open_db(path)
    assert update.load(db, snapshot_source(), command="import").ok
    update.extract_pending(db)
    db.conn.execute("pragma wal_checkpoint(truncate)")
    db.conn.close()
    return path


@pytest.fixture
def db_path(built, tmp_path) -> Path:
    """A private copy of the built database, named as the metadata expects."""
    path = tmp_path / "evidence.db"
    source, target = sqlite3.connect(built), sqlite3.connect(path)
    source.backup(target)
    source.close()
    target.close()
    return path


@pytest.fixture
def db(db_path):
    return store.open_db(db_path)


def mirror_problems(db) -> list:
    """Where study_facets is not what `studies` says: rows missing either side, or
    a value (or the facet key's values) that differs."""
    cols = list(store.STUDY_FACET_COLUMNS)
    studies = {r[0]: r[1:] for r in db.execute(f"select rowid, {', '.join(cols)} from studies")}
    facets = {r[0]: r[1:] for r in db.execute(
        f"select f.id, {', '.join('f.' + c for c in cols)}, k.key from study_facets f "
        "left join facet_keys k on k.id = f.facet_id")}
    problems = [("missing", i) for i in set(studies) ^ set(facets)]
    for rowid, values in studies.items():
        if rowid not in facets:
            continue
        mirrored, key = facets[rowid][:-1], store.facet_values(facets[rowid][-1])
        if tuple(mirrored) != tuple(values):
            problems.append(("columns", rowid, values, mirrored))
        row = dict(zip(cols, values))
        expected = {c: json.loads(row[c] or "[]") if c in store.FACET_KEY_LISTS else row[c]
                    for c in store.FACET_KEY_COLUMNS}
        if key != expected:
            problems.append(("key", rowid, expected, key))
    return problems


def test_study_facets_mirror_the_studies_after_an_import_and_after_a_correction(db, tmp_path):
    assert db["studies"].count == db["study_facets"].count > 20
    assert mirror_problems(db) == []
    # A person's correction (pipeline/checked.py writes `studies`) reaches the mirror.
    folder = tmp_path / "checked"
    folder.mkdir()
    sha = checked.abstract_sha(db["studies"].get(TRIAL)["abstract"])
    (folder / f"{TRIAL}.yml").write_text(f"""\
pmid: {TRIAL}
checked_by: Test Reviewer
checked_on: 2026-12-01
abstract_sha: "{sha}"
fields:
  headache_types: [migraine, cervicogenic]
  comparators: [exercise]
  direction: no_difference
  design: non_randomized_trial
""", encoding="utf-8")
    result = checked.apply(db, folder=folder)
    assert result.written == [TRIAL]
    row = db.execute("select f.headache_types, f.comparators, f.direction, f.design, k.key from study_facets f "
                     "join facet_keys k on k.id = f.facet_id where f.pmid = ?", [TRIAL]).fetchone()
    assert json.loads(row[0]) == ["migraine", "cervicogenic"] and json.loads(row[1]) == ["exercise"]
    assert row[2:4] == ("no_difference", "non_randomized_trial")
    key = store.facet_values(row[4])
    assert (key["design"], key["on_topic"], key["direction"], key["headache_types"], key["comparators"]) == (
        "non_randomized_trial", 1, "no_difference", ["migraine", "cervicogenic"], ["exercise"])
    assert mirror_problems(db) == []
    # Re-extraction (which writes the rules' values, then the checks over them) too.
    update.extract_pending(db, everything=True)
    checked.apply(db)
    assert mirror_problems(db) == []


def test_study_facets_follow_every_write_to_studies(db):
    """Triggers: whoever inserts, updates or deletes a study (the loader, the extractor,
    corrections, a clone in SQL as the bench makes) leaves the mirror exact."""
    with db.conn:
        db.conn.execute("update studies set outcomes = '[\"frequency\", \"frequency\"]', year = 1999 where pmid = ?", [TRIAL])
        db.conn.execute("insert into studies (pmid, title, design, on_topic, headache_types) "
                        "select pmid || '9', title, design, on_topic, headache_types from studies")
        db.conn.execute("delete from studies where pmid = (select max(pmid) from studies)")
        # Not JSON: the write still lands, and the list counts as none in the facet key.
        db.conn.execute("update studies set comparators = 'not json' where pmid = ?", [TRIAL])
    key = db.execute("select k.key from study_facets f join facet_keys k on k.id = f.facet_id where f.pmid = ?",
                     [TRIAL]).fetchone()[0]
    assert store.facet_values(key)["comparators"] == [] and store.facet_values(key)["outcomes"] == ["frequency", "frequency"]
    with db.conn:
        db.conn.execute("update studies set comparators = '[]' where pmid = ?", [TRIAL])
    assert mirror_problems(db) == []
    # An update that changes no facet column writes nothing to the mirror.
    changes = db.conn.total_changes
    with db.conn:
        db.conn.execute("update studies set title = title || '.' where pmid = ?", [TRIAL])
    assert db.conn.total_changes - changes == 1
    # VACUUM keeps the rowids the mirror (and the FTS index) are keyed by.
    db.conn.execute("vacuum")
    assert mirror_problems(db) == []


def test_a_database_without_the_mirror_gets_it_when_opened(db_path):
    db = store.open_db(db_path)
    with db.conn:
        for name in store.STUDY_FACET_TRIGGERS:
            db.conn.execute(f"drop trigger {name}")
        db.conn.execute("drop table study_facets")
        db.conn.execute("update studies set design = 'cohort' where pmid = ?", [TRIAL])
    db.conn.close()
    db = store.open_db(db_path)
    assert mirror_problems(db) == []
    # A mirror that lost rows (a copy made without the triggers) is refilled too.
    with db.conn:
        db.conn.execute("delete from study_facets where pmid = ?", [TRIAL])
    assert mirror_problems(store.open_db(db_path)) == []
    # Opening an up-to-date database writes nothing to the mirror.
    db = store.open_db(db_path)
    changes = db.conn.total_changes
    store.ensure_study_facets(db)
    assert db.conn.total_changes == changes


# Pages of the studies table whose facets are compared with Datasette's own.
FACET_PAGES = [
    "on_topic=1",
    "_topic=all",  # every study (the plugin's way to a page without the on-topic filter)
    "_search=needling",
    "_search=needling+headache&on_topic=1",
    "headache_types__arraycontains=migraine&design=rct",
    "comparators__arraycontains=sham&direction=favours_needling",
    "year__gte=2020",
    "title__contains=needling",  # a column study_facets lacks: counted on studies
    "_where=abstract+like+'%25sham%25'",
    "on_topic=1&_facet=evidence_level&_facet_array=publication_types&_facet=journal",
    "_facet_size=2&_search=pain",
    "_sort=pmid&_next=30000000",
    "design=no_such_design",
    "_search=needling&_facet=journal&_facet_array=publication_types",
]


def recording_app(db_path, monkeypatch, *, flatten: bool = False):
    """The Datasette app over `db_path`, and the list of SQL its evidence database runs
    (`flatten`: whitespace runs made one space)."""
    store.open_db(db_path).conn.close()
    app = publish.app(db_path)
    seen: list[str] = []
    database = app.get_database("evidence")
    original = database.execute

    async def execute(sql, *args, **kwargs):
        seen.append(" ".join(sql.split()) if flatten else sql)
        return await original(sql, *args, **kwargs)

    monkeypatch.setattr(database, "execute", execute)
    return app, seen


def facets_of(app, query: str) -> dict:
    response = asyncio.run(app.client.get(f"/evidence/studies.json?{query}"))
    assert response.status_code == 200, response.text
    data = response.json()
    return {"facet_results": data["facet_results"], "facets_timed_out": data.get("facets_timed_out")}


def test_facets_through_the_mirror_are_datasettes_own_facets(db_path, monkeypatch):
    """Values, counts (a list value once per study, as json_each counts it), order,
    truncation, links and the selected state: the same JSON as Datasette's column
    and array facets give on `studies`."""
    store.open_db(db_path).conn.close()
    ours = publish.app(db_path)
    mine = {q: facets_of(ours, q) for q in FACET_PAGES}
    monkeypatch.setattr(datasette_plugin, "STUDY_FACET_CLASSES", {})
    theirs = publish.app(db_path)
    for query in FACET_PAGES:
        assert mine[query] == facets_of(theirs, query), query
    # The facets asked for are there, and counted.
    found = mine["on_topic=1"]["facet_results"]
    assert {"design", "on_topic", "headache_types", "comparators", "outcomes", "direction", "year"} <= set(found)
    assert sum(r["count"] for r in found["on_topic"]["results"]) == store.open_db(db_path).execute(
        "select count(*) from studies where on_topic = 1").fetchone()[0]
    assert mine["_facet_size=2&_search=pain"]["facet_results"]["outcomes"]["truncated"]
    assert mine["design=no_such_design"]["facet_results"]["design"]["results"] == []


def test_the_mirror_counts_equal_json_each_counts(db):
    """The array facets' counts by SQL on the mirror's keys equal json_each over studies."""
    for column in store.FACET_KEY_LISTS:
        direct = dict(db.execute(
            f"select j.value, count(distinct s.pmid) from studies s, json_each(s.{column}) j "
            "where s.on_topic = 1 group by j.value"))
        position = store.FACET_KEY_COLUMNS.index(column)
        through = dict(db.execute(
            f"select j.value, sum(n) from (select facet_id, count(*) as n from study_facets where on_topic = 1 "
            f"group by facet_id) f join facet_keys k on k.id = f.facet_id, json_each(json_extract(k.key, '$[{position}]')) j "
            "group by j.value"))
        assert direct == through and direct, column


def test_the_studies_page_counts_its_facets_in_one_query_on_the_mirror(db_path, monkeypatch):
    """Datasette's per-facet queries over `studies` are not run: one query on
    study_facets counts design, on_topic, direction, year and the three lists."""
    app, seen = recording_app(db_path, monkeypatch)
    for query in ("on_topic=1", "_search=needling"):
        seen.clear()
        facets_of(app, query)
        counting = [s for s in seen if "count(*)" in s and "facet" in s]
        assert len(counting) == 1 and "from study_facets as studies" in counting[0], counting
        assert not [s for s in seen if "json_each" in s], seen


def test_the_page_html_shows_the_facets(db_path):
    store.open_db(db_path).conn.close()
    html = asyncio.run(publish.app(db_path).client.get("/evidence/studies?on_topic=1")).text
    for name in ("design", "headache_types", "comparators", "outcomes"):
        assert f'data-column="{name}"' in html or f">{name}<" in html or f"{name} " in html
    assert "headache_types__arraycontains=tension_type" in html
    assert "facet timed out" not in html.lower()


def plan(db, sql: str, params: dict) -> str:
    return " | ".join(r[3] for r in db.execute("explain query plan " + sql, params))


def canned() -> dict:
    meta = yaml.safe_load((PROJECT_ROOT / "db" / "metadata.yml").read_text(encoding="utf-8"))
    return meta["databases"]["evidence"]["queries"]


PARAMS = {"claim_id": "trigger-point-pain", "outcome": "", "since": "2000-01-01", "q": "needling"}


def test_the_canned_queries_read_their_indexes_in_their_own_order(db):
    """At 100,000 studies a sort of every match cost 0.1–0.4 s (bench/bench_serve.py);
    these read an index in the query's order and stop at the rows shown."""
    db.conn.create_function("fts_query", 1, datasette_plugin.fts_query)
    checked.ensure_tables(db)  # the study_checks view
    queries = canned()
    new_since = plan(db, queries["new_since"]["sql"], PARAMS)
    assert "idx_studies_new_order" in new_since and "TEMP B-TREE FOR ORDER BY" not in new_since
    assert "idx_studies_flagged" in plan(db, queries["retracted_or_flagged"]["sql"], PARAMS)
    rct = plan(db, queries["rct_effects"]["sql"], {**PARAMS, "outcome": "pain_intensity"})
    assert "idx_studies_design_order" in rct and "USE TEMP B-TREE FOR ORDER BY" not in rct
    unchecked = plan(db, queries["unchecked_behind_verdicts"]["sql"], PARAMS)
    assert "SCAN s" not in unchecked.split(" | ") and "idx_claim_evidence_pmid" in unchecked


OLD_SQL = {  # the canned queries as they were before issue 15, for their answers
    "new_since": """with since as (select coalesce(nullif(:since, ''), (select max(substr(sent_at, 1, 10)) from emails_sent),
                     date('now', '-30 days')) as day)
                    select pmid, title, year, design, on_topic, summary, entrez_date, first_seen_at
                    from studies, since where first_seen_at >= since.day or entrez_date >= since.day
                    order by on_topic desc, coalesce(entrez_date, first_seen_at) desc""",
    "unchecked_behind_verdicts": """select c.pmid, c.title, c.design, c.checked, c.claims_resting_on_it, c.low_confidence_values
                    from study_checks c where c.claims_resting_on_it > 0 and c.checked != 'checked'
                    order by c.claims_resting_on_it desc, c.low_confidence_values desc, c.pmid""",
}


def test_the_rewritten_canned_queries_answer_as_before(db_path):
    from pipeline import digest
    from pipeline.topic import load_topic

    db = store.open_db(db_path)
    digest.write_digest(db, load_topic(), db_path.parent)
    checked.ensure_tables(db)
    queries = canned()
    for name, old in OLD_SQL.items():
        for since in ("2000-01-01", "2099-01-01", ""):
            params = {"since": since}
            new_rows = db.execute(queries[name]["sql"], params).fetchall()
            old_rows = db.execute(old, params).fetchall()
            assert new_rows == old_rows[:200], (name, since)
        assert name != "unchecked_behind_verdicts" or new_rows


def test_every_datasette_connection_maps_the_file(db_path):
    store.open_db(db_path).conn.close()
    app = publish.app(db_path)

    async def mmap():
        return await app.get_database("evidence").execute_fn(lambda conn: conn.execute("pragma mmap_size").fetchone()[0])

    assert asyncio.run(mmap()) == datasette_plugin.MMAP_BYTES


def test_facets_stay_datasettes_own_with_many_distinct_keys(db_path, monkeypatch):
    """Real data has thousands of distinct combinations (the bench's clones have 27):
    600 studies with seeded random designs, directions and lists, some lists
    repeating a value, give the same facets both ways. (A list that is not JSON
    fails Datasette's own array facet, the page with it; the mirror counts it as
    no value: test_study_facets_follow_every_write_to_studies.)"""
    import random

    rng = random.Random(15)
    db = store.open_db(db_path)
    cols = [r[1] for r in db.execute("pragma table_info(studies)")]
    pick = ", ".join("cast(cast(pmid as integer) + :off as text)" if c == "pmid" else f"[{c}]" for c in cols)
    lists = {"headache_types": ["tension_type", "migraine", "cervicogenic", "post_traumatic", "other"],
             "comparators": ["sham", "exercise", "medication", "usual_care", "none", "other"],
             "outcomes": ["pain_intensity", "frequency", "duration", "disability", "other"]}
    with db.conn:
        for k in range(1, 22):
            db.conn.execute(f"insert into studies ({', '.join(f'[{c}]' for c in cols)}) select {pick} from studies "
                            "where cast(pmid as integer) < 90000000", {"off": 90_000_000 + k * 100_000})
        for (pmid,) in db.execute("select pmid from studies").fetchall():
            values = {c: json.dumps(rng.sample(v, rng.randint(0, 3)) + ([v[0]] if rng.random() < 0.1 else []))
                      for c, v in lists.items()}
            db.conn.execute(
                "update studies set design = ?, direction = ?, on_topic = ?, year = ?, headache_types = ?, "
                "comparators = ?, outcomes = ? where pmid = ?",
                [rng.choice(["rct", "cohort", "case_report", None]), rng.choice(["favours_needling", "no_difference"]),
                 rng.choice([0, 1]), rng.randint(2000, 2025), values["headache_types"], values["comparators"],
                 values["outcomes"], pmid])
    assert db.execute("select count(*) from facet_keys where id in (select facet_id from study_facets)").fetchone()[0] > 300
    db.conn.close()
    pages = ["on_topic=1", "_topic=all", "_search=needling", "comparators__arraycontains=sham&_facet_size=max"]
    ours = publish.app(db_path)
    mine = {q: facets_of(ours, q) for q in pages}
    monkeypatch.setattr(datasette_plugin, "STUDY_FACET_CLASSES", {})
    theirs = publish.app(db_path)
    for query in pages:
        assert mine[query] == facets_of(theirs, query), query


# The studies table's own view (StudiesTableView, issue 15 item 3): at 100,000
# studies a search page read every match's `studies` row three times (count, the
# page sorted by year, facets) and rendered all 41 columns; now the count is the
# facets' total on study_facets, a search's page is chosen on study_facets, and
# the HTML page selects only the columns it shows. Same answers as Datasette's own.
SEARCH_PAGES = [
    "_search=needling",
    "_search=needling+headache&on_topic=1",
    "_search=pain&design=rct",
    "_search=needling&headache_types__arraycontains=tension_type",
    "_search=headache&_sort=n_randomized",
    "_search=needling&_sort_desc=pmid",
    "_search=needling&_sort=title",  # a column study_facets lacks: Datasette's own page query
    "_search=%22trigger+point%22&_searchmode=raw",
    "_search=no+such+words+anywhere",
    "_search=needling&_facet=journal&_facet_array=publication_types",  # Datasette's own facets' SQL beside ours
]


def rows_and_count(app, query: str) -> tuple[list[dict], int]:
    response = asyncio.run(app.client.get(f"/evidence/studies.json?{query}&_size=max&_shape=objects"))
    assert response.status_code == 200, (query, response.text[:500])
    data = response.json()
    return data["rows"], data["filtered_table_rows_count"]


def datasettes_own(monkeypatch):
    """The plugin's count and page queries off: Datasette's own SQL on `studies`."""

    async def own(*args, **kwargs):
        return None

    monkeypatch.setattr(datasette_plugin, "_page_query", own)


def test_a_search_page_has_datasettes_rows_and_count(db_path, monkeypatch):
    """Rows (every column), their order by the page's sort and the row count are
    Datasette's own (rows of the same sort value may come in another order)."""
    store.open_db(db_path).conn.close()
    mine = {q: rows_and_count(publish.app(db_path), q) for q in [*SEARCH_PAGES, *FACET_PAGES]}
    datasettes_own(monkeypatch)
    theirs = {q: rows_and_count(publish.app(db_path), q) for q in mine}
    for query, (rows, count) in mine.items():
        their_rows, their_count = theirs[query]
        assert count == their_count == len(their_rows), query
        assert sorted(rows, key=lambda r: r["pmid"]) == sorted(their_rows, key=lambda r: r["pmid"]), query
        args = dict(pair.split("=", 1) for pair in query.split("&"))
        column = args.get("_sort") or args.get("_sort_desc") or "year"
        assert [r[column] for r in rows] == [r[column] for r in their_rows], query
    assert mine["_search=needling"][1] > 10 and mine["_search=no+such+words+anywhere"][1] == 0
    assert mine["_search=needling+headache&on_topic=1"][1] < mine["_search=needling"][1]


def test_paging_through_a_search_shows_every_match_once(db_path):
    """A page chosen on the mirror puts rows of the same year in PMID order, as
    Datasette's next pages (year, then PMID) take them."""
    store.open_db(db_path).conn.close()
    app = publish.app(db_path)
    everything, count = rows_and_count(app, "_search=needling")
    seen, url = [], "/evidence/studies.json?_search=needling&_size=4&_shape=objects"
    while url:
        data = asyncio.run(app.client.get(url)).json()
        seen += [r["pmid"] for r in data["rows"]]
        url = data["next_url"] and data["next_url"].removeprefix("http://localhost")
    assert seen == [r["pmid"] for r in everything] and len(seen) == count == len(set(seen)) > 8


def test_a_search_page_reads_the_mirror_and_the_page_columns_only(db_path, monkeypatch):
    """What makes a search fast at 100,000 studies: no count or sort over `studies`
    rows; the HTML page selects its own columns only, the JSON every column."""
    app, seen = recording_app(db_path, monkeypatch, flatten=True)
    html = asyncio.run(app.client.get("/evidence/studies?_search=needling")).text
    assert "rows where search matches" in html
    page_sql = [s for s in seen if s.startswith("select ") and " limit 51" in s and "from studies where" in s]
    assert len(page_sql) == 1, page_sql
    selected = page_sql[0].removeprefix("select ").split(" from studies ")[0].split(", ")
    assert set(selected) == {*datasette_plugin.STUDY_PAGE_COLUMNS}, selected
    assert "(select rowid from study_facets as studies where rowid in (select rowid from studies_fts" in page_sql[0]
    assert not [s for s in seen if s.startswith("select count(*) from studies")], seen
    seen.clear()
    asyncio.run(app.client.get("/evidence/studies.json?_search=needling"))
    page_sql = [s for s in seen if " limit 51" in s and "from studies where" in s]
    columns = [r[1] for r in store.open_db(db_path).execute("pragma table_info(studies)")]
    assert page_sql and page_sql[0].startswith(f"select {', '.join(columns)} from studies"), page_sql
