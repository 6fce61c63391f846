"""The `evidence` command line: a thin click layer over the library."""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click
import filelock
import sqlite_utils

from . import digest_fingerprint, report, sources, store, update
from .version import EXTRACTOR_VERSION
from .files import write_atomic
from .topic import DEFAULT_TOPIC, PROJECT_ROOT, TopicError, load_topic
from .update import RunResult, load


class _OnUse:
    """A module imported on first use of one of its names, so that `evidence --help`
    and `evidence import` do not load what only other commands need (Datasette,
    the mailer, APScheduler, the evaluator). `known` answers names needed while the
    commands are being declared without importing the module."""

    def __init__(self, name: str, **known: object) -> None:
        self.__name, self.__known = name, known

    def __getattr__(self, attr: str):
        if attr in self.__known:
            return self.__known[attr]
        import importlib

        return getattr(importlib.import_module(self.__name, __package__), attr)


digest_module = _OnUse(".digest")  # only when a digest is written (`_digest`: not when unchanged)
cite = _OnUse(".cite")  # citeproc: `export` (the digest imports its own)
# requests, urllib3, tenacity: only live runs talk to PubMed. MAX_BATCH is pubmed.MAX_BATCH
# (bench/check_lazy_imports.py checks they agree).
pubmed = _OnUse(".pubmed", MAX_BATCH=200)
evaluation = _OnUse(".evaluate")
registry_module = _OnUse(".registry")  # the ClinicalTrials.gov cross-check
mailer = _OnUse(".mailer")  # imports the digest and the SMTP stack
publish = _OnUse(".publish")  # imports Datasette
# The --config default is needed when the command is declared, without APScheduler:
# it is pipeline.schedule.DEFAULT_CONFIG (bench/check_lazy_imports.py checks they agree).
schedule_module = _OnUse(".schedule", DEFAULT_CONFIG=PROJECT_ROOT / "deploy" / "schedule.yml")

log = logging.getLogger("pipeline")

DEFAULT_DB = "db/evidence.db"
LOCK_WAIT_SECONDS = 10


def db_option(f):
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="EVIDENCE_DB",
        default=DEFAULT_DB,
        show_default=True,
        help="SQLite database (env: EVIDENCE_DB).",
    )(f)


def topic_option(f):
    return click.option(
        "--topic",
        "topic_path",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=DEFAULT_TOPIC,
        show_default=True,
        help="Topic file: the PubMed query and the article.",
    )(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show debug logging.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@click.version_option(package_name="evidence-pipeline")
def cli(verbose: bool, quiet: bool) -> None:
    """Evidence tracking for dry needling and headache: PubMed → SQLite → digest."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr, force=True)
    for noisy in ("urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def run_lock(db_path: Path) -> Iterator[None]:
    """Only one run writes a database at a time: a second waits briefly, then stops."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    # One lock per database file, however it is named: a symlink or a relative
    # path to the same file must find the same lock.
    lock = filelock.FileLock(str(db_path.resolve()) + ".lock")
    wait = float(os.environ.get("EVIDENCE_LOCK_WAIT") or LOCK_WAIT_SECONDS)
    try:
        lock.acquire(timeout=wait)
    except filelock.Timeout:
        raise click.ClickException(
            f"another run is updating {db_path} (lock {lock.lock_file} held for over "
            f"{wait:g}s); try again when it has finished"
        ) from None
    try:
        yield
    finally:
        lock.release()


def open_db(db_path: Path) -> sqlite_utils.Database:
    db = store.open_db(db_path)
    store.fail_stale_runs(db)  # under the run lock: any 'running' row is a dead run
    return db


@cli.command()
@click.option(
    "--source",
    default="auto",
    show_default=True,
    metavar="auto|pubmed|snapshot|FILE",
    help="auto: PubMed if it answers, else the bundled snapshot. "
    "pubmed: live only, failing loudly (for scheduled jobs). snapshot: the bundled records. "
    "FILE: a file saved from PubMed (XML or MEDLINE text).",
)
@click.option("--full", is_flag=True, help="With PubMed: search everything, not only what is new since the last run.")
@click.option("--batch-size", type=click.IntRange(1, pubmed.MAX_BATCH), default=pubmed.MAX_BATCH, show_default=True, help="Records per efetch request.")
@db_option
@topic_option
def run(source: str, full: bool, batch_size: int, db_path: Path, topic_path: Path) -> None:
    """One whole update: fetch or load the topic's studies, store and extract them,
    match the article's claims and write the digest."""
    topic = _topic(topic_path)
    with run_lock(db_path):
        db = open_db(db_path)
        chosen = _choose_source(db, source, topic.query, full=full, batch_size=batch_size)
        result = _load(db, chosen, command="run", query=topic.query)
        html = _later_stages(db, result, topic, db_path.parent, registry="snapshot" if source == "snapshot" else "auto")
    _finish(db, db_path, result, html)


@cli.command(name="import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@db_option
@topic_option
def import_(files: tuple[Path, ...], db_path: Path, topic_path: Path) -> None:
    """Load files saved from PubMed, then extract and update the digest.

    Each FILE is PubMed XML (efetch output, or Send to → File → Format: XML) or
    MEDLINE text (Save → Format: PubMed, as .txt or .nbib), optionally gzipped;
    the format is read from the content, not the name. A file that is neither
    stops the import before anything is stored."""
    topic = _topic(topic_path)
    try:
        sources.check_files(list(files))
    except sources.FormatError as e:
        raise click.ClickException(str(e)) from None
    with run_lock(db_path):
        db = open_db(db_path)
        result = _load(db, sources.file_source(list(files)), command="import")
        html = _later_stages(db, result, topic, db_path.parent)
    _finish(db, db_path, result, html)


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Folder for digest.html and digest.md [default: beside the database].")
@db_option
@topic_option
def digest(out_dir: Path | None, db_path: Path, topic_path: Path) -> None:
    """Write the article digest: each claim, its verdict, the studies and citations."""
    _require_db(db_path)
    topic = _topic(topic_path)
    with run_lock(db_path):
        db = open_db(db_path)
        html, md = _digest(db, topic, out_dir or db_path.parent)
    click.echo(f"Digest: {html}\n        {md}")


@cli.command()
@click.option("--format", "fmt", required=True, type=click.Choice(["ris", "bibtex", "csljson"]), help="Citation format.")
@click.option("--claim", "claim_id", default=None, help="Only the studies behind this claim (see the digest or the claims table).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write to this file [default: standard output].")
@db_option
def export(fmt: str, claim_id: str | None, out_file: Path | None, db_path: Path) -> None:
    """Citations for a reference manager: RIS, BibTeX or CSL-JSON (never retracted or withdrawn studies)."""
    _require_db(db_path)
    db = store.open_db(db_path)
    if claim_id:
        if not db["claims"].count_where("id = ?", [claim_id]):
            known = ", ".join(r["id"] for r in db["claims"].rows) or "none yet: run `evidence digest`"
            raise click.BadParameter(f"no claim {claim_id!r} (claims: {known})", param_hint="--claim")
        rows = list(db.query(
            "select s.* from studies s join claim_evidence ce on ce.pmid = s.pmid "
            "where ce.claim_id = ? and ce.counted = 1 order by s.year desc, s.pmid", [claim_id]))
    else:
        # Retracted and withdrawn studies are not handed to reference managers.
        rows = list(db.query(
            "select * from studies where on_topic = 1 and retracted = 0 and deleted_from_pubmed is null "
            "order by year desc, pmid"))
    text = cite.export(rows, fmt)
    if out_file:
        write_atomic(out_file, text)
        click.echo(f"{len(rows)} references written to {out_file}", err=True)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Write the message to a .eml file instead of sending it (DIGEST_FROM/DIGEST_TO not needed: placeholders on example.invalid stand in).")
@click.option("--force", is_flag=True, help="Send even if this week's digest was already sent.")
@click.option("--skip-empty", is_flag=True, envvar="DIGEST_SKIP_EMPTY", help="Send nothing in a week with nothing new (default: a short 'nothing new' note, so a silent week never hides a broken feed) [env: DIGEST_SKIP_EMPTY].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Folder for --dry-run's .eml [default: outbox/ beside the database].")
@db_option
def email(dry_run: bool, force: bool, skip_empty: bool, out_dir: Path | None, db_path: Path) -> None:
    """The weekly email: studies stored since the last one (new in PubMed apart from older
    records, each with its PubMed dates), changed verdicts, retractions, how current the
    data is, and a link to the digest [env: DIGEST_URL]. Sent once a week."""
    _require_db(db_path)
    with run_lock(db_path):
        db = open_db(db_path)
        try:
            message = mailer.weekly_job(
                db, mailer.SmtpSettings.from_env(), dry_run=dry_run, force=force, skip_empty=skip_empty,
                outbox=out_dir or db_path.parent / "outbox",
            )
        except mailer.MailError as e:
            tail = "nothing delivered" if e.recorded else "nothing recorded, the next run will try again"
            raise click.ClickException(f"{e}; {tail}") from None
    click.echo(message)


@cli.command()
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=schedule_module.DEFAULT_CONFIG, show_default=True, help="Jobs and their cron expressions.")
@click.option("--run-for", type=float, default=None, help="Stop after this many seconds (for trying a configuration).")
@db_option
def schedule(config_path: Path, run_for: float | None, db_path: Path) -> None:
    """Run the scheduled jobs (daily update, weekly email) in the foreground."""
    try:
        jobs = schedule_module.load_jobs(config_path)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    for job in jobs:
        click.echo(f"{job.name}: evidence {' '.join(job.args)} ({job.describe()})", err=True)
    schedule_module.run(jobs, db_path=db_path, run_for=run_for)


@cli.command(name="extract")
@click.option("--all", "everything", is_flag=True, help="Re-extract every study (after the rules improve), not only new and changed ones.")
@db_option
@topic_option
def extract_(everything: bool, db_path: Path, topic_path: Path) -> None:
    """Extract design, population, comparators, outcomes, effects and direction from
    abstracts; values a person checked (the topic's checked/ folder) are applied over them."""
    _require_db(db_path)
    topic = _topic(topic_path)
    with run_lock(db_path):
        db = open_db(db_path)
        n = update.extract_pending(db, everything=everything)
        # A database of other studies (a test corpus) extracts like any other: the
        # correction files it does not hold are named, not a reason to fail the run.
        applied = _apply_checks(db, topic, missing_ok=True)
    click.echo(f"Extracted {n} studies with extractor {EXTRACTOR_VERSION}; {db['effects'].count} effects stored."
               + (f" {applied}" if applied else ""))


@cli.command()
@click.argument("pmid", required=False)
@click.option("--edit", is_flag=True, help="Open the correction file in $EDITOR after writing it.")
@db_option
@topic_option
def review(pmid: str | None, edit: bool, db_path: Path, topic_path: Path) -> None:
    """What a person should check first (studies behind the claims' verdicts, then
    low-confidence values, then new studies); with PMID, that study's values with
    their rules and sentences, and a correction file to fill in."""
    from . import checked, review as review_module

    _require_db(db_path)
    topic = _topic(topic_path)
    db = store.open_db(db_path)
    if pmid is None:
        click.echo(review_module.progress(db))
        items = review_module.queue(db)
        for item in items[:30]:
            mark = " (stale check)" if item.stale else ""
            click.echo(f"  {item.pmid}  {review_module.TIERS[item.tier]}{mark}: {item.why} — {item.title[:70]}")
        if len(items) > 30:
            click.echo(f"  … and {len(items) - 30} more")
        click.echo("Next: `evidence review PMID` for one study's values and a correction file.")
        return
    if not pmid.isdigit() or db.execute("select 1 from studies where pmid = ?", [pmid]).fetchone() is None:
        raise click.ClickException(f"no study with PMID {pmid} in {db_path}")
    click.echo(review_module.sheet(db, pmid))
    folder = checked.folder_for(topic.path)
    path = folder / f"{pmid}.yml"
    if path.exists():
        click.echo(f"\nCorrection file (already there, not overwritten): {path}")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(path, review_module.template(db, pmid))
        click.echo(f"\nCorrection file written: {path} — fill it in, sign it (checked_by), then `evidence extract`.")
    if edit:
        click.edit(filename=str(path))


@cli.command()
@click.option("--gold", "gold_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Hand-labelled JSON: {PMID: {design, on_topic, ..., effects}} (with --harms: {PMID: {harms_reported, harms}}).")
@click.option("--errors", is_flag=True, help="List every mismatch under its field, with the rule that gave the wrong value (or that none did).")
@click.option("--strict", is_flag=True, help="Exit with status 1 when a figure is below its target.")
@click.option("--harms", "harms_gold", is_flag=True, help="Score the harms extraction (the `harms` table) against a harms gold file.")
@click.option("--checked", "against_checked", is_flag=True, help="Score the rules against every value a person has checked (no --gold needed).")
@db_option
def evaluate(gold_path: Path | None, errors: bool, strict: bool, harms_gold: bool, against_checked: bool, db_path: Path) -> None:
    """Compare the stored extraction with a gold file: accuracy or F1 per field, effect
    recall and precision (the rules' own values, not the ones a person corrected)."""
    _require_db(db_path)
    db = store.open_db(db_path)
    if against_checked:
        from . import checked

        click.echo(checked.format_score(checked.score_rules_against_checked(db), show_errors=errors))
        return
    if gold_path is None:
        raise click.UsageError("give --gold FILE (or --checked)")
    if harms_gold:
        try:
            gold = evaluation.load_harms_gold(gold_path)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        result = evaluation.score_harms(db, gold)
        click.echo(evaluation.format_harms_report(result, show_errors=errors))
        return
    try:
        gold = evaluation.load_gold(gold_path)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    report = evaluation.score(evaluation.predictions_from_db(db, list(gold)), gold)
    click.echo(evaluation.format_report(report, show_errors=errors))
    if strict and evaluation.below_target(report):
        raise SystemExit(1)


@cli.group()
def claims() -> None:
    """The article's claims: propose them from an article for the topic file."""


@claims.command()
@click.argument("article", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the YAML here [default: print it].")
@topic_option
def suggest(article: Path, out_file: Path | None, topic_path: Path) -> None:
    """Propose claims from ARTICLE (plain text, Markdown or HTML) as YAML to edit
    into the topic file: each sentence that asserts an effect, a mechanism, a
    safety property or a background fact, with its quote, kind and vocabulary
    terms; claims already in the topic file are marked `existing`."""
    from . import claim_finder

    topic = _topic(topic_path)
    try:
        text = article.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{article} is not UTF-8 text (plain text, Markdown or HTML expected)") from None
    found = claim_finder.suggest(text, fmt=claim_finder.format_for(article), topic=topic)
    yaml_text = claim_finder.to_yaml(found, source=article.name)
    if out_file:
        write_atomic(out_file, yaml_text)
        kinds = {}
        for f in found:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        click.echo(f"{len(found)} claims proposed ({summary}) → {out_file}")
    else:
        click.echo(yaml_text, nl=False)


@cli.command()
@click.option("--source", type=click.Choice(["auto", "live", "snapshot"]), default="auto", show_default=True,
              help="live: ClinicalTrials.gov (CTGOV_API_URL); snapshot: the bundled registry records; auto: live if it answers.")
@db_option
@topic_option
def trials(source: str, db_path: Path, topic_path: Path) -> None:
    """Cross-check the topic's registered trials (ClinicalTrials.gov) with the stored
    studies: links, sample sizes, comparators, primary outcomes, unpublished trials."""
    _require_db(db_path)
    topic = _topic(topic_path)
    with run_lock(db_path):
        db = open_db(db_path)
        try:
            result = registry_module.refresh(db, topic, source=source)
        except registry_module.ctgov.CtGovError as e:
            raise click.ClickException(str(e)) from None
    click.echo(report.trials_text(db, result))


@cli.command()
@click.option("--runs", "n_runs", default=5, show_default=True, help="How many recent runs to show.")
@db_option
def status(n_runs: int, db_path: Path) -> None:
    """Recent runs, studies by design and year, and how fresh the data is."""
    _require_db(db_path)
    db = store.open_db(db_path)
    click.echo(report.status_text(db, n_runs=n_runs))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8001, show_default=True, type=int, help="Port to listen on.")
@click.option("--public", is_flag=True, help="For a public instance: no SQL typed by visitors (canned queries, tables, facets, search, feeds and charts still work).")
@db_option
def serve(host: str, port: int, public: bool, db_path: Path) -> None:
    """Browse the database in Datasette: studies, effects, claims, the digest (read-only).
    Every query is bounded in time, rows and size; --public also turns off visitors' own SQL."""
    _require_db(db_path)
    store.open_db(db_path)  # the schema in place, WAL on, before Datasette opens it
    args = publish.serve_args(db_path, host, port, public=public)
    mode = "public: no visitor SQL" if public else "local: SQL box on"
    click.echo(f"Datasette on http://{host}:{port}/ ({mode}; Ctrl-C to stop)", err=True)
    os.execv(sys.executable, args)


# --- helpers ----------------------------------------------------------------


def _require_db(db_path: Path) -> None:
    if not db_path.exists():
        raise click.ClickException(f"no database at {db_path}: run `evidence run` first")


def _later_stages(db, result: RunResult, topic, out_dir: Path, registry: str | None = None) -> Path | None:
    """Extract, cross-check the registry (`run` only) and write the digest after a
    load; only then is the run ok (a run killed or failing here stays not-ok, so it
    neither counts as an update nor moves the incremental watermark). Returns the
    digest's HTML path."""
    try:
        _extract(db, result, topic)
        if registry and result.ok:
            _registry(db, topic, registry)
        html = _digest(db, topic, out_dir)[0] if result.ok else None
    except BaseException as e:
        if result.ok:
            store.fail_run(db, result.run_id, f"stopped after loading: {type(e).__name__}: {e}")
        raise
    if result.ok:
        store.complete_run(db, result.run_id)
    return html


def _extract(db, result: RunResult, topic=None) -> None:
    """Extraction for the studies this run added or changed (and any left pending),
    then the values a person checked applied over the rules' ones."""
    n = update.extract_pending(db)
    store.update_run(db, result.run_id, extracted=n)
    if n:
        log.info("extracted %d studies (new, changed, or read by an older extractor)", n)
    if topic is not None:
        said = _apply_checks(db, topic, missing_ok=True)
        if said:
            log.info("%s", said)


def _apply_checks(db, topic, *, missing_ok: bool = False) -> str:
    """Apply the topic's correction files (checked/); a malformed file stops with its file
    and line. With `missing_ok` (runs, imports and extraction: the database may hold
    another corpus) files for studies it does not hold are skipped and named."""
    from . import checked

    folder = checked.folder_for(topic.path)
    try:
        result = checked.apply(db, folder=folder, missing_ok=missing_ok)
    except checked.CheckedError as e:
        raise click.ClickException(f"correction files in {folder}: {e}") from None
    parts = []
    if result.applied:
        parts.append(f"{result.applied} values checked by a person applied")
    if result.disagreements:
        parts.append(f"{result.disagreements} where the rules now disagree (`evidence status`)")
    if result.stale:
        parts.append(f"{len(result.stale)} checks stale (abstract revised: shown as unchecked until confirmed)")
    if result.skipped:
        names = ", ".join(result.skipped[:5]) + (f" and {len(result.skipped) - 5} more" if len(result.skipped) > 5 else "")
        parts.append(f"{len(result.skipped)} correction files for studies not in this database left aside ({names})")
    return ("Checked values: " + "; ".join(parts) + ".") if parts else ""


def _registry(db, topic, source: str) -> None:
    """The registry cross-check, as part of a run: a registry that cannot be reached
    is reported and skipped, never a reason to lose the PubMed update."""
    if not topic.raw.get("clinicaltrials"):
        return
    try:
        result = registry_module.refresh(db, topic, source=source)
    except registry_module.ctgov.CtGovError as e:
        log.warning("registry cross-check skipped: %s", e)
        return
    # (a fallback to the bundled registry snapshot is logged once, by the registry itself)
    log.info("registry: %d trials, %d links, %d findings (`evidence trials` lists them)", result.get("trials", 0),
             result.get("links_written", 0), result.get("findings_written", 0))


def _digest(db, topic, out_dir: Path) -> tuple[Path, Path]:
    try:
        # Whether it must be written is decided first, without the digest module (the
        # claims, citation styles and templates): a run that changed nothing does not load it.
        checked = digest_fingerprint.check(db, topic, out_dir)
        if checked.unchanged:
            return checked.paths
        return digest_module.write_digest(db, topic, out_dir, checked=checked)
    except TopicError as e:
        raise click.ClickException(str(e)) from None


def _topic(path: Path):
    try:
        return load_topic(path)
    except TopicError as e:
        raise click.ClickException(str(e)) from None


def _choose_source(db, source: str, query: str, *, full: bool, batch_size: int) -> sources.Source:
    if source == "snapshot":
        return sources.snapshot_source()
    if source not in ("auto", "pubmed"):
        path = Path(source)
        if not path.is_file():
            raise click.BadParameter(f"not auto, pubmed, snapshot or an existing file: {source}", param_hint="--source")
        return sources.file_source([path])
    client = pubmed.Client()
    if source == "auto" and not client.probe():
        _banner(
            f"PubMed E-utilities ({client.settings.base_url}) did not answer: "
            f"using the BUNDLED SNAPSHOT of {sources.SNAPSHOT_DATE}, not live data."
        )
        return sources.snapshot_source()
    last = None if full else store.last_ok_run(db, source="pubmed", query=query)
    since = sources.parse_since(last["started_at"]) if last else None
    if source == "auto":
        _banner(f"Using LIVE PubMed ({client.settings.base_url}).")
    return sources.pubmed_source(client, query, since=since, batch_size=batch_size)


def _load(db, source: sources.Source, *, command: str, query: str | None = None) -> RunResult:
    """Run `load` with a progress bar on a terminal and plain log lines elsewhere."""
    interactive = sys.stderr.isatty()
    if interactive:
        from tqdm import tqdm

        bar = tqdm(total=source.expected, unit="records", desc=source.name, file=sys.stderr)
    else:
        bar = _NoBar()
    seen = [0]

    def tick() -> None:
        if bar.total is None and source.expected:
            bar.total = source.expected  # a live search says its size once it has run
        seen[0] += 1
        bar.update(1)
        if not interactive and seen[0] % 1000 == 0:
            log.info("%s: %d records read", source.name, seen[0])

    try:
        return load(db, source, command=command, query=query, on_record=tick, more_to_do=True)
    finally:
        bar.close()


class _NoBar:
    """tqdm's place off a terminal (where it would be disabled): plain log lines instead."""

    total = None

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _finish(db, db_path: Path, result: RunResult, digest: Path | None = None) -> None:
    click.echo(report.run_summary(db, db_path, result, digest))
    if not result.ok:
        url = pubmed.Settings.from_env().base_url
        raise click.ClickException(report.failure_message(result, url))


def _banner(message: str) -> None:
    line = "=" * min(78, max(40, len(message)))
    click.echo(f"{line}\n{message}\n{line}", err=True)


def main() -> None:
    cli(prog_name="evidence")
