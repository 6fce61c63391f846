"""The `evidence` command end to end, into temporary databases."""

from __future__ import annotations

import gzip
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from fake_eutils import make_efetch, record_bytes
from pipeline.cli import cli


def invoke(*args, **kwargs):
    result = CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False, **kwargs)
    return result


def test_run_snapshot_builds_the_database_then_adds_nothing(db_path):
    first = invoke("run", "--source", "snapshot", "--db", db_path)
    assert first.exit_code == 0, first.output
    assert "new: 27" in first.output and str(db_path) in first.output
    db = sqlite_utils.Database(db_path)
    assert db["studies"].count == 27
    run = db["runs"].get(1)
    assert (run["status"], run["source"], run["new"]) == ("ok", "snapshot", 27)
    second = invoke("run", "--source", "snapshot", "--db", db_path)
    assert second.exit_code == 0 and "new: 0" in second.output and "unchanged: 27" in second.output
    assert db["studies"].count == 27 and db["runs"].count == 2


def test_a_study_the_extractor_fails_on_is_named_in_the_summary(db_path, monkeypatch):
    """One abstract that breaks the extractor fails alone, and the run's summary says so."""
    from pipeline import extract as extract_module

    real = extract_module.extract

    def breaks_on_one(record):
        if "dry needling" in record.title.lower() and "sham" in record.title.lower():
            raise ValueError("a test: this abstract breaks the extractor")
        return real(record)

    monkeypatch.setattr(extract_module, "extract", breaks_on_one)
    result = invoke("run", "--source", "snapshot", "--db", db_path)
    db = sqlite_utils.Database(db_path)
    failed = db.execute("select count(*) from studies where extractor_version is null").fetchone()[0]
    assert result.exit_code == 0 and failed >= 1, result.output
    noun = "study" if failed == 1 else "studies"
    assert f"NOT extracted: {failed} {noun} (the extractor failed on them" in result.output
    monkeypatch.setattr(extract_module, "extract", real)
    again = invoke("run", "--source", "snapshot", "--db", db_path)
    assert "NOT extracted" not in again.output and f"extracted: {failed} studies" in again.output


def test_db_defaults_to_the_environment(tmp_path, monkeypatch):
    target = tmp_path / "env.db"
    monkeypatch.setenv("EVIDENCE_DB", str(target))
    assert invoke("run", "--source", "snapshot").exit_code == 0
    assert sqlite_utils.Database(target)["studies"].count == 27


def test_import_adds_exactly_the_new_records(db_path, tmp_path, snapshot_xml):
    """Importing a file of N records not yet stored adds N (here 3 new PMIDs, in .xml.gz)."""
    invoke("run", "--source", "snapshot", "--db", db_path)
    records = record_bytes(snapshot_xml)[:3]
    renumbered = [
        r.replace(f'<PMID Version="1">{p}</PMID>'.encode(), f'<PMID Version="1">9{p}</PMID>'.encode())
        for r, p in zip(records, ["30813155", "33609358", "35659858"])
    ]
    path = tmp_path / "saved.xml.gz"
    path.write_bytes(gzip.compress(make_efetch(renumbered)))
    result = invoke("import", path, "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "new: 3" in result.output
    db = sqlite_utils.Database(db_path)
    assert db["studies"].count == 30
    assert db["runs"].get(2)["source"] == "file" and str(path) in db["runs"].get(2)["source_detail"]


def test_import_of_a_missing_file_is_a_clear_error(db_path):
    result = CliRunner().invoke(cli, ["import", "nope.xml", "--db", str(db_path)])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_run_pubmed_stores_what_the_server_serves(db_path, fake_eutils, monkeypatch):
    """Pointed at a local E-utilities, a live run fetches every record in as few requests as batching allows."""
    monkeypatch.setenv("NCBI_EUTILS_URL", fake_eutils.base_url)
    monkeypatch.setenv("NCBI_API_KEY", "sekret-key-123")  # 10 requests a second keeps the test quick
    result = invoke("run", "--source", "pubmed", "--db", db_path)
    assert result.exit_code == 0, result.output
    db = sqlite_utils.Database(db_path)
    assert {r["pmid"] for r in db["studies"].rows} == set(fake_eutils.pmids)
    assert [r["path"] for r in fake_eutils.requests] == ["esearch.fcgi", "efetch.fcgi"]
    run = db["runs"].get(1)
    assert (run["status"], run["source"], run["found"], run["window"]) == ("ok", "pubmed", 27, None)
    assert "dry needling" in run["query"]
    assert "sekret-key-123" not in repr(run) and "sekret-key-123" not in result.output

    # The next run is incremental: only what was entered or modified since a day before.
    fake_eutils.requests.clear()
    again = invoke("run", "--source", "pubmed", "--db", db_path)
    assert again.exit_code == 0, again.output
    searches = [r["params"] for r in fake_eutils.requests if r["path"] == "esearch.fcgi"]
    yesterday = date.fromordinal(date.today().toordinal() - 1).strftime("%Y/%m/%d")
    assert len(searches) == 1  # entered or modified, in one search on the history server
    assert f'"{yesterday}"[EDAT]' in searches[0]["term"] and f'"{yesterday}"[MDAT]' in searches[0]["term"]
    assert db["runs"].get(2)["window"].startswith("entered or modified")


def test_auto_falls_back_to_the_snapshot_loudly(db_path):
    """With E-utilities unreachable (a closed loopback port), auto uses the snapshot and says so."""
    result = invoke("run", "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "BUNDLED SNAPSHOT" in result.output
    assert sqlite_utils.Database(db_path)["runs"].get(1)["source"] == "snapshot"


def test_auto_uses_pubmed_when_it_answers(db_path, fake_eutils, monkeypatch):
    monkeypatch.setenv("NCBI_EUTILS_URL", fake_eutils.base_url)
    result = invoke("run", "--db", db_path)
    assert result.exit_code == 0 and "LIVE PubMed" in result.output
    assert sqlite_utils.Database(db_path)["runs"].get(1)["source"] == "pubmed"


@pytest.mark.reliability("secret", "a failed live run with a key and an email set")
def test_pubmed_failure_exits_non_zero_and_is_in_the_ledger(db_path, monkeypatch):
    """Scheduled jobs use --source pubmed: unreachable PubMed is a failed run, never a quiet one."""
    from pipeline import pubmed

    original = pubmed.Client.__init__

    def quick(self, *a, **k):  # fewer, shorter retries: a closed port fails at once anyway
        original(self, *a, **{**k, "attempts": 2, "backoff_initial": 0.01, "backoff_jitter": 0.01})

    monkeypatch.setattr(pubmed.Client, "__init__", quick)
    monkeypatch.setenv("NCBI_EMAIL", "me@example.org")
    monkeypatch.setenv("NCBI_API_KEY", "sekret-key-123")
    result = CliRunner().invoke(cli, ["run", "--source", "pubmed", "--db", str(db_path)])
    assert result.exit_code == 1 and "failed" in result.output
    run = sqlite_utils.Database(db_path)["runs"].get(1)
    assert run["status"] == "failed" and "connection refused" in run["error"]
    # Neither the key nor the email, as written or URL-encoded, is stored or shown.
    for secret in ("me@example.org", "me%40example.org", "sekret-key-123"):
        assert secret not in run["error"] and secret not in result.output


def _quick_retries(monkeypatch, attempts: int = 5) -> None:
    from pipeline import pubmed

    original = pubmed.Client.__init__

    def quick(self, *a, **k):
        original(self, *a, **{**k, "attempts": attempts, "backoff_initial": 0.01, "backoff_jitter": 0.01, "backoff_max": 0.02})

    monkeypatch.setattr(pubmed.Client, "__init__", quick)


@pytest.mark.reliability("network", "HTTP 503 on every attempt (terminal output)")
def test_a_failed_live_run_reads_well_in_the_terminal(db_path, fake_eutils, monkeypatch):
    """One short line per retry, the error once with what to do, no "Next" after a failure."""
    from fake_eutils import Fault

    _quick_retries(monkeypatch)
    monkeypatch.setenv("NCBI_EUTILS_URL", fake_eutils.base_url)
    monkeypatch.setenv("NCBI_API_KEY", "sekret-key-123")
    fake_eutils.faults.extend(Fault("status", status=503) for _ in range(10))
    result = CliRunner().invoke(cli, ["run", "--source", "pubmed", "--db", str(db_path)])
    out = result.output
    assert result.exit_code == 1
    retries = [line for line in out.splitlines() if line.startswith("PubMed esearch")]
    assert len(retries) == 4, out  # attempts 2..5
    assert all(len(line) <= 100 and "HTTP 503" in line and "attempt" in line for line in retries), retries
    assert out.count("HTTP 503 (gave up after 5 attempts)") == 1, out
    assert out.count("Error:") == 1 and "--source auto" in out
    assert "Next:" not in out
    assert "sekret-key-123" not in out


@pytest.mark.reliability("network", "connection refused")
def test_an_unreachable_pubmed_is_named_by_its_cause_not_its_url(db_path, monkeypatch):
    _quick_retries(monkeypatch, attempts=2)
    result = CliRunner().invoke(cli, ["run", "--source", "pubmed", "--db", str(db_path)])
    lines = result.output.splitlines()
    assert result.exit_code == 1
    assert max(map(len, lines)) <= 300, max(lines, key=len)  # the hint line is the longest
    assert "esearch: connection refused (gave up after 2 attempts)" in result.output
    assert "Max retries exceeded" not in result.output and "esearch.fcgi?" not in result.output


@pytest.mark.reliability("crash", "SIGKILL during extraction")
def test_a_run_killed_during_extraction_is_not_a_successful_update(db_path):
    """SIGKILL after the load, in the extraction stage: the next run finds it failed,
    so it neither counts as the last update nor moves the incremental watermark."""
    killer = (
        "import os, signal, sys; from pipeline import update; "
        "update.extract_pending = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL); "
        "from pipeline.cli import main; sys.argv[0] = 'evidence'; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", killer, "run", "--source", "snapshot", "--db", str(db_path)],
        capture_output=True, timeout=120,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-1000:]
    assert sqlite_utils.Database(db_path)["runs"].get(1)["status"] == "loaded"
    result = invoke("run", "--source", "snapshot", "--db", db_path)
    assert result.exit_code == 0, result.output
    runs = {r["id"]: r for r in sqlite_utils.Database(db_path)["runs"].rows}
    assert runs[1]["status"] == "failed" and "interrupted" in runs[1]["error"]
    assert runs[2]["status"] == "ok"
    db = sqlite_utils.Database(db_path)
    # The second run extracted what the first had stored but not extracted.
    assert db.execute("select count(*) from studies where extractor_version is null").fetchone()[0] == 0


@pytest.mark.reliability("crash", "extraction raises")
def test_an_extraction_error_fails_the_run(db_path, monkeypatch):
    from pipeline import update

    def broken(*args, **kwargs):
        raise RuntimeError("extractor exploded")

    monkeypatch.setattr(update, "extract_pending", broken)
    result = CliRunner().invoke(cli, ["run", "--source", "snapshot", "--db", str(db_path)])
    assert result.exit_code != 0
    run = sqlite_utils.Database(db_path)["runs"].get(1)
    assert run["status"] == "failed" and "extractor exploded" in run["error"]


def test_status_reports_runs_counts_and_freshness(db_path):
    invoke("run", "--source", "snapshot", "--db", db_path)
    out = invoke("status", "--db", db_path).output
    assert "Studies: 27" in out and "snapshot" in out and "last successful update" in out
    assert "2019" in out and "newest record entered PubMed: 2023-09-04" in out
    assert "NOT extracted" not in out


def test_status_names_the_studies_the_extractor_has_not_read(db_path, monkeypatch):
    from pipeline import parallel, update

    extract_rows = parallel.extract_rows

    def fails_on_one(rows):  # the first study of each chunk fails, as an odd abstract would
        done = extract_rows(rows[1:])
        return [(rows[0][0], None, "RuntimeError: an odd abstract")] + done

    monkeypatch.setattr(update.parallel, "extract_rows", fails_on_one)
    invoke("run", "--source", "snapshot", "--db", db_path)
    out = invoke("status", "--db", db_path).output
    assert "NOT extracted by the current extractor" in out and ": 1 study " in out


def test_every_command_has_help():
    for command in cli.commands:
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output
        assert cli.commands[command].help, command


def test_python_dash_m_runs_the_same_program():
    out = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True, check=True)
    assert "run" in out.stdout and "import" in out.stdout and "status" in out.stdout


@pytest.mark.reliability("crash", "two runs at once")
def test_a_second_run_waits_for_the_lock_then_stops(db_path, monkeypatch):
    import filelock

    from pipeline import cli as cli_module

    monkeypatch.setattr(cli_module, "LOCK_WAIT_SECONDS", 0.2)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(db_path) + ".lock"):
        result = CliRunner().invoke(cli, ["run", "--source", "snapshot", "--db", str(db_path)])
    assert result.exit_code == 1 and "another run is updating" in result.output


@pytest.mark.reliability("crash", "a second run through a symlinked database path")
def test_the_lock_holds_through_a_symlinked_path(db_path, tmp_path, monkeypatch):
    import filelock

    from pipeline import cli as cli_module

    monkeypatch.setattr(cli_module, "LOCK_WAIT_SECONDS", 0.2)
    assert invoke("run", "--source", "snapshot", "--db", db_path).exit_code == 0
    link = tmp_path / "elsewhere" / "link.db"
    link.parent.mkdir()
    link.symlink_to(db_path)
    with filelock.FileLock(str(db_path) + ".lock"):
        result = CliRunner().invoke(cli, ["run", "--source", "snapshot", "--db", str(link)])
    assert result.exit_code == 1 and "another run is updating" in result.output
    assert sqlite_utils.Database(db_path)["runs"].count == 1


def test_an_email_run_is_not_a_data_update(db_path, tmp_path):
    """The ledger has email runs too; freshness and the digest speak of data updates only."""
    invoke("run", "--source", "snapshot", "--db", db_path)
    invoke("email", "--dry-run", "--out", tmp_path / "outbox", "--db", db_path)
    out = invoke("status", "--db", db_path).output
    assert "from snapshot" in out and "from dry-run" not in out


def test_help_and_import_do_not_load_what_other_commands_need():
    """`evidence --help` and `evidence import` start without the extractor's rules, Datasette, the mailer,
    APScheduler or the evaluator; the schedule command's default still agrees."""
    probe = (
        "import sys; from click.testing import CliRunner; from pipeline.cli import cli, schedule_module; "
        "CliRunner().invoke(cli, ['--help']); CliRunner().invoke(cli, ['import', '--help']); "
        "heavy = [m for m in ('datasette', 'apscheduler', 'pipeline.mailer', 'pipeline.publish', "
        "'pipeline.schedule', 'pipeline.evaluate', 'pipeline.effects', 'pipeline.extract') if m in sys.modules]; "
        "from pipeline import schedule; print(heavy, schedule_module.DEFAULT_CONFIG == schedule.DEFAULT_CONFIG)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[] True", out.stdout + out.stderr


def test_an_unchanged_reimport_loads_neither_the_digest_nor_the_http_stack(tmp_path, snapshot_xml):
    """Issue 15: re-importing a file already stored decides to leave the digest as it is
    without loading the digest's code (claims, certainty, citation styles, Jinja2, the
    registry), the HTTP stack of live runs or the extractor; the CLI's stand-in for
    pubmed.MAX_BATCH is the real one. (bench/check_lazy_imports.py says the same.)"""
    db_path = tmp_path / "e.db"
    assert invoke("import", snapshot_xml, "--db", db_path).exit_code == 0
    digests = sqlite_utils.Database(db_path)["digests"]
    assert digests.count == 1
    heavy = ("pipeline.digest", "pipeline.claims", "pipeline.certainty", "pipeline.registry", "pipeline.cite",
             "pipeline.csl", "jinja2", "citeproc", "pipeline.pubmed", "requests", "urllib3", "tenacity",
             "pipeline.extract", "pipeline.effects", "tqdm", "datasette", "pipeline.mailer", "pipeline.publish")
    probe = (
        "import sys; from pipeline.cli import cli\n"
        f"cli.main(['import', {str(snapshot_xml)!r}, '--db', {str(db_path)!r}], standalone_mode=False)\n"
        f"print([m for m in {heavy!r} if m in sys.modules])\n"
        "from pipeline import cli as c, pubmed; print(c.pubmed.MAX_BATCH == pubmed.MAX_BATCH)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.stdout.splitlines()[-2:] == ["[]", "True"], out.stdout + out.stderr
    assert "unchanged: 27" in out.stdout and "digest unchanged" in out.stderr, out.stdout + out.stderr
    assert digests.count == 1
    # Once an input changes (here a value a person corrected in the database), the same
    # command writes the digest again, loading what it needs on the way.
    with digests.db.conn:
        digests.db.execute("update studies set direction = 'no_difference' where pmid = (select min(pmid) from studies)")
    again = invoke("import", snapshot_xml, "--db", db_path)
    assert again.exit_code == 0 and "unchanged: 27" in again.output and digests.count == 2, again.output


def test_an_import_that_writes_the_digest_does_not_load_the_http_stack(tmp_path, snapshot_xml):
    """The digest reads the stored registry (pipeline.registry imports the registry's
    client module): an import of a file, digest written, loads no HTTP stack."""
    db_path = tmp_path / "e.db"
    assert invoke("import", snapshot_xml, "--db", db_path).exit_code == 0
    db = sqlite_utils.Database(db_path)
    with db.conn:
        db.execute("update studies set direction = 'no_difference' where pmid = (select min(pmid) from studies)")
    heavy = ("pipeline.pubmed", "requests", "urllib3", "tenacity")
    probe = (
        "import sys; from pipeline.cli import cli\n"
        f"cli.main(['import', {str(snapshot_xml)!r}, '--db', {str(db_path)!r}], standalone_mode=False)\n"
        f"print('digest' in sys.modules['pipeline'].__dict__, [m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.stdout.splitlines()[-1] == "True []", out.stdout + out.stderr
    assert db["digests"].count == 2


def test_run_cross_checks_the_registry_snapshot_and_trials_prints_the_findings(loaded):
    """`run --source snapshot` loads the bundled registry records and links them;
    `evidence trials` reports the findings a clinician should see."""
    db = sqlite_utils.Database(loaded)
    assert db["trials"].count == 16
    links = {(r["nct"], r["pmid"]) for r in db.query("select nct, pmid from trial_publications where relation = 'results'")}
    assert {("NCT03500861", "30813155"), ("NCT03919630", "33148134"), ("NCT04305223", "34689708")} <= links
    out = invoke("trials", "--source", "snapshot", "--db", loaded)
    assert out.exit_code == 0, out.output
    assert "Registry: 16 trials" in out.output
    assert "NCT03919630 / PMID 33148134: NCT03919630 registered 48 participants; PMID 33148134 reports 45 randomized" in out.output


def test_trials_live_with_no_registry_is_a_clear_error(loaded):
    out = CliRunner().invoke(cli, ["trials", "--source", "live", "--db", str(loaded)])
    assert out.exit_code == 1 and "Error:" in out.output and "Traceback" not in out.output


def test_claims_suggest_writes_yaml_a_writer_can_edit(tmp_path):
    from pipeline.topic import load_topic

    article = load_topic().article_path
    out_file = tmp_path / "claims.yml"
    result = invoke("claims", "suggest", article, "--out", out_file)
    assert result.exit_code == 0, result.output
    assert "claims proposed" in result.output
    import yaml

    proposed = yaml.safe_load(out_file.read_text())["claims"]
    kinds = {c["kind"] for c in proposed}
    assert {"efficacy", "safety", "background"} <= kinds
    assert any(c.get("existing") == "blood-flow" for c in proposed)
    assert invoke("claims", "suggest", "--help").exit_code == 0


def test_evaluate_harms_scores_the_stored_harms(tmp_path):
    from pathlib import Path

    data = Path(__file__).parent / "data" / "harms" / "efetch.xml"
    gold = Path(__file__).parent / "gold" / "harms" / "harms.json"
    db = tmp_path / "harms.db"
    assert invoke("import", data, "--db", db).exit_code == 0
    out = invoke("evaluate", "--harms", "--gold", gold, "--db", db)
    assert out.exit_code == 0, out.output
    assert "Scored 44 gold records (harms)." in out.output
    # The stored harms give the same figures as reading them straight from the abstracts.
    import json

    from pipeline import harms
    from pipeline.parse import parse

    g = {k: v for k, v in json.loads(gold.read_text()).items() if not k.startswith("_")}
    direct = harms.score(g, {s.pmid: harms.record(*harms.find(s.abstract or "")) for s in parse(data)})
    assert f"harms recall     {direct['recall']:.3f}" in out.output


def _topic_copy(tmp_path):
    """The project's topic file and article in a temporary folder, so correction files
    written by the test land there and not in the project."""
    import shutil

    from pipeline.topic import DEFAULT_TOPIC, load_topic

    topic = load_topic()
    folder = tmp_path / "topics"
    folder.mkdir()
    shutil.copy(DEFAULT_TOPIC, folder / DEFAULT_TOPIC.name)
    shutil.copy(topic.article_path, folder / topic.article_path.name)
    shutil.copytree(DEFAULT_TOPIC.with_suffix("") / "checked", folder / DEFAULT_TOPIC.stem / "checked")
    return folder / DEFAULT_TOPIC.name


def test_review_lists_what_to_check_and_writes_a_correction_file_that_extraction_keeps(loaded, tmp_path):
    topic = _topic_copy(tmp_path)
    listing = invoke("review", "--db", loaded, "--topic", topic)
    assert listing.exit_code == 0, listing.output
    # The project's own example check (PMID 33609358) is one of them.
    assert "1 of 8 studies behind the claims checked" in listing.output
    sheet = invoke("review", "30813155", "--db", loaded, "--topic", topic)
    assert sheet.exit_code == 0, sheet.output
    correction = topic.parent / "dry-needling-headache" / "checked" / "30813155.yml"
    assert correction.exists() and "Correction file written" in sheet.output
    # A person corrects the sample size and signs the file.
    import yaml

    data = yaml.safe_load(correction.read_text())
    data["checked_by"] = "A. Reviewer"
    data["fields"] = {"n_randomized": {"value": 167, "note": "test: a deliberate correction"}}
    data.pop("effects", None)
    correction.write_text(yaml.safe_dump(data))
    out = invoke("extract", "--all", "--db", loaded, "--topic", topic)
    assert out.exit_code == 0, out.output
    db = sqlite_utils.Database(loaded)
    assert db["studies"].get("30813155")["n_randomized"] == 167
    # Re-extraction keeps it, and the rules' own value is still what --checked scores.
    assert invoke("extract", "--all", "--db", loaded, "--topic", topic).exit_code == 0
    assert sqlite_utils.Database(loaded)["studies"].get("30813155")["n_randomized"] == 167
    scored = invoke("evaluate", "--checked", "--db", loaded)
    assert scored.exit_code == 0 and "n_randomized" in scored.output
    status = invoke("status", "--db", loaded)
    assert "checked" in status.output.lower()
    assert "2 of 8 studies behind the claims checked" in invoke("review", "--db", loaded, "--topic", topic).output


def test_a_malformed_correction_file_stops_extraction_naming_file_and_line(loaded, tmp_path):
    topic = _topic_copy(tmp_path)
    folder = topic.parent / "dry-needling-headache" / "checked"
    (folder / "30813155.yml").write_text(
        "pmid: 30813155\nchecked_by: A. Reviewer\nchecked_on: 2026-12-02\nfields:\n  design: {value: rct}\n  colour: {value: red}\n"
    )
    before = sqlite_utils.Database(loaded)["studies"].get("30813155")
    out = CliRunner().invoke(cli, ["extract", "--db", str(loaded), "--topic", str(topic)])
    assert out.exit_code == 1 and "30813155.yml" in out.output and ":6" in out.output and "colour" in out.output
    assert sqlite_utils.Database(loaded)["studies"].get("30813155") == before


def test_extracting_a_database_of_other_studies_names_the_correction_files_it_leaves_aside(tmp_path):
    """The topic's correction files name studies of the bundled snapshot; a database of
    other studies still extracts, and says which files it did not apply."""
    db_path = tmp_path / "other.db"
    data = Path(__file__).parent / "data" / "heldout2" / "efetch.xml"
    assert invoke("import", data, "--db", db_path).exit_code == 0
    out = invoke("extract", "--all", "--db", db_path, "--topic", _topic_copy(tmp_path))
    assert out.exit_code == 0, out.output
    assert "Extracted 14 studies" in out.output
    assert "1 correction files for studies not in this database left aside (33609358.yml)" in out.output


def test_review_of_an_unknown_pmid_is_a_clear_error(loaded, tmp_path):
    out = CliRunner().invoke(cli, ["review", "123", "--db", str(loaded), "--topic", str(_topic_copy(tmp_path))])
    assert out.exit_code == 1 and "no study with PMID 123" in out.output
