"""The weekly email over a real SMTP server on 127.0.0.1 (aiosmtpd): content,
delivery, the never-twice ledger, failures, and the run lock."""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
import time

import pytest
import sqlite_utils
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from conftest import closed_port

from pipeline import store
from pipeline.cli import cli


class Inbox:
    """An SMTP handler that keeps what it accepts, or refuses while `refuse` is set."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.refuse = False

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "451 Requested action aborted: try again later"
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch):
    inbox = Inbox()
    port = closed_port()  # free now; aiosmtpd needs a fixed port to check it started
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("DIGEST_FROM", "digest@example.org")
    monkeypatch.setenv("DIGEST_TO", "a@example.org, b@example.org")
    for var in ("SMTP_USER", "SMTP_PASSWORD", "SMTP_STARTTLS", "SMTP_SSL", "DIGEST_SKIP_EMPTY"):
        monkeypatch.delenv(var, raising=False)
    yield inbox
    controller.stop()


def send(db_path, *extra):
    return CliRunner().invoke(cli, ["email", "--db", str(db_path), *extra])


def test_the_weekly_email_is_delivered_whole(smtp, loaded):
    result = send(loaded)
    assert result.exit_code == 0, result.output
    ((rcpts, msg),) = smtp.messages
    assert rcpts == ["a@example.org", "b@example.org"]
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert msg["Subject"].startswith("Dry needling & headache evidence, ")
    assert "8 studies in the database for the first time" in msg["Subject"]
    assert msg["List-Unsubscribe"] == "<mailto:digest@example.org?subject=unsubscribe>"
    assert msg["Message-ID"] and msg["Date"]
    db = sqlite_utils.Database(loaded)
    on_topic = [r["pmid"] for r in db["studies"].rows_where("on_topic = 1")]
    for pmid in on_topic:  # every new study, with its link, in both parts
        assert f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" in text
        assert f'href="https://pubmed.ncbi.nlm.nih.gov/{pmid}/"' in html
    assert "style=" in html and "<style>" not in html  # CSS inlined for mail clients
    assert "Last successful update" in text and "FEED HEALTH" in text
    (row,) = db["emails_sent"].rows
    assert row["recipients"] == 2 and sorted(eval_json(row["new_pmids"])) == sorted(on_topic)


def test_subscribers_never_see_each_others_addresses(smtp, loaded):
    """The list goes in the SMTP envelope only: no header of the delivered
    message names a recipient."""
    assert send(loaded).exit_code == 0
    ((rcpts, msg),) = smtp.messages
    assert rcpts == ["a@example.org", "b@example.org"]
    headers = "\n".join(f"{k}: {v}" for k, v in msg.items())
    assert "a@example.org" not in headers and "b@example.org" not in headers
    assert msg["To"] == "undisclosed-recipients:;"


def eval_json(text):
    import json

    return json.loads(text)


def test_a_second_run_in_the_same_week_sends_nothing(smtp, loaded):
    assert send(loaded).exit_code == 0
    again = send(loaded)
    assert again.exit_code == 0 and "already sent" in again.output
    assert len(smtp.messages) == 1
    forced = send(loaded, "--force")
    assert forced.exit_code == 0 and len(smtp.messages) == 2
    assert [r["forced"] for r in sqlite_utils.Database(loaded)["emails_sent"].rows] == [0, 1]


def test_a_refused_send_records_nothing_and_the_next_run_delivers(smtp, loaded):
    smtp.refuse = True
    failed = send(loaded)
    assert failed.exit_code == 1 and "nothing recorded" in failed.output
    db = sqlite_utils.Database(loaded)
    assert db["emails_sent"].count == 0
    assert list(db["runs"].rows_where("command = 'email'"))[-1]["status"] == "failed"
    smtp.refuse = False
    assert send(loaded).exit_code == 0 and len(smtp.messages) == 1
    assert db["emails_sent"].count == 1


def test_an_unreachable_server_records_nothing(loaded, monkeypatch):
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(closed_port()))
    monkeypatch.setenv("DIGEST_FROM", "d@example.org")
    monkeypatch.setenv("DIGEST_TO", "a@example.org")
    result = send(loaded)
    assert result.exit_code == 1 and "did not accept" in result.output
    assert sqlite_utils.Database(loaded)["emails_sent"].count == 0


def test_a_week_with_nothing_new_still_says_so_unless_told_to_skip(smtp, loaded):
    assert send(loaded).exit_code == 0
    db = sqlite_utils.Database(loaded)
    db.execute("update emails_sent set week = '2000-W01'")  # last week's email
    db.conn.commit()
    assert send(loaded).exit_code == 0
    _, quiet = smtp.messages[-1]
    assert quiet["Subject"].endswith("nothing new")
    assert "Nothing new this week. Last checked" in quiet.get_body(("plain",)).get_content()
    db.execute("update emails_sent set week = '2000-W01'")
    db.conn.commit()
    skipped = send(loaded, "--skip-empty")
    assert skipped.exit_code == 0 and "skipped" in skipped.output and len(smtp.messages) == 2


def test_new_study_changed_verdict_and_retraction_reach_the_next_email(smtp, loaded):
    assert send(loaded).exit_code == 0
    db = sqlite_utils.Database(loaded)
    db.execute("update emails_sent set week = '2000-W01', sent_at = '2000-01-01T00:00:00+00:00'")
    db.execute("update studies set retracted = 1 where pmid = '30813155'")
    db.execute("update claims set verdict = 'benefit_moderate_certainty' where id = 'endorphins'")
    db.conn.commit()
    assert send(loaded).exit_code == 0
    _, msg = smtp.messages[-1]
    text = msg.get_body(("plain",)).get_content()
    assert "RETRACTED OR CORRECTED" in text and "RETRACTED: A randomized trial of trigger point" in text
    assert "VERDICTS THAT CHANGED" in text and "no direct evidence → benefit — moderate certainty" in text
    assert "1 retracted or corrected" in msg["Subject"] and "1 verdict changed" in msg["Subject"]


def test_dry_run_writes_the_message_and_says_where(loaded, tmp_path):
    result = send(loaded, "--dry-run", "--out", str(tmp_path / "outbox"))
    assert result.exit_code == 0
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    assert str(eml) in result.output
    assert email.message_from_bytes(eml.read_bytes()).is_multipart()
    assert sqlite_utils.Database(loaded)["emails_sent"].count == 0


def test_missing_recipients_is_a_clear_error(loaded, monkeypatch):
    monkeypatch.delenv("DIGEST_TO", raising=False)
    result = send(loaded)
    assert result.exit_code == 1 and "DIGEST_TO is not set" in result.output


def test_two_concurrent_runs_one_runs_one_reports_the_lock(tmp_path, fake_eutils):
    """A slow live run holds the lock; a second run waits briefly, then stops with a clear message."""
    from fake_eutils import Fault

    db_path = tmp_path / "evidence.db"
    store.open_db(db_path)
    fake_eutils.faults.append(Fault("slow", delay=4, path="efetch.fcgi"))
    env = {**os.environ, "NCBI_EUTILS_URL": fake_eutils.base_url, "EVIDENCE_LOCK_WAIT": "0.5", "NCBI_API_KEY": "k"}
    first = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--source", "pubmed", "--db", str(db_path)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 20
    while not any(r["path"] == "efetch.fcgi" for r in fake_eutils.requests) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run([sys.executable, "-m", "pipeline", "run", "--source", "snapshot", "--db", str(db_path)],
                            env=env, capture_output=True, text=True, timeout=60)
    out, _ = first.communicate(timeout=60)
    assert first.returncode == 0, out
    assert second.returncode == 1 and "another run is updating" in second.stderr
    runs = list(sqlite_utils.Database(db_path)["runs"].rows)
    assert [(r["source"], r["status"]) for r in runs] == [("pubmed", "ok")]


def test_only_on_topic_retractions_and_real_notices_are_reported(smtp, loaded):
    assert send(loaded).exit_code == 0
    db = sqlite_utils.Database(loaded)
    db.execute("update emails_sent set week = '2000-W01'")
    # An erratum on an off-topic asthma-like record, an "update" notice on an on-topic one: neither is news.
    db.execute("""update studies set notices = '[{"type": "ErratumIn", "pmid": "1", "source": "x"}]' where pmid = '35732505'""")
    db.execute("""update studies set notices = '[{"type": "UpdateIn", "pmid": "2", "source": "y"}]' where pmid = '33609358'""")
    db.execute("""update studies set notices = '[{"type": "ErratumIn", "pmid": "3", "source": "z"}]' where pmid = '29037632'""")
    db.conn.commit()
    assert send(loaded).exit_code == 0
    _, msg = smtp.messages[-1]
    text = msg.get_body(("plain",)).get_content()
    section = text.split("RETRACTED OR CORRECTED")[1].split("FEED HEALTH")[0]
    assert "pubmed.ncbi.nlm.nih.gov/29037632/" in section
    assert "35732505" not in section and "33609358" not in section


# --- Issue 9, item 13: honest wording, the digest link, verdict lines, live or not, unsubscribe ---


def parts(msg):
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def words(html):
    """What a reader sees of the HTML part: the tags dropped."""
    import re

    return re.sub(r"<[^>]+>", "", html)


def section(text, start, end):
    """The text between two headings (or to the end)."""
    after = text.split(start, 1)[1]
    return after.split(end, 1)[0] if end in after else after


def test_the_first_email_calls_its_studies_what_they_are_with_their_pubmed_dates(smtp, loaded):
    assert send(loaded).exit_code == 0
    ((_, msg),) = smtp.messages
    text, html = parts(msg)
    assert "8 studies in the database for the first time" in msg["Subject"]
    for body in (text, html, msg["Subject"]):  # records of 2009-2024 are not "new studies"
        assert "new stud" not in body.lower()
    assert "8 studies in the database for the first time" in text and "8 studies in the database for the first time" in html
    db = sqlite_utils.Database(loaded)
    for s in db["studies"].rows_where("on_topic = 1"):
        assert f"entered PubMed {s['entrez_date']}, published {s['pub_date']}" in text, s["pmid"]
        assert f"entered PubMed {s['entrez_date']}, published {s['pub_date']}" in html, s["pmid"]


def _store_now(db, pmid, entrez_date=None):
    """Make `pmid` look first stored just now (after the last email), optionally entered into PubMed on `entrez_date`."""
    from datetime import datetime, timezone

    stamp = datetime.now(timezone.utc).isoformat()
    db.execute("update studies set first_seen_at = ?, entrez_date = coalesce(?, entrez_date) where pmid = ?",
               [stamp, entrez_date, pmid])


def test_a_later_email_tells_new_in_pubmed_from_old_records_stored_for_the_first_time(smtp, loaded):
    from datetime import datetime, timezone

    assert send(loaded).exit_code == 0
    db = sqlite_utils.Database(loaded)
    db.execute("update emails_sent set week = '2000-W01'")
    today = datetime.now(timezone.utc).date().isoformat()
    _store_now(db, "30813155", entrez_date=today)  # entered PubMed after the last email: new
    _store_now(db, "19241799")  # stored this week, but a 2009 record: not new research
    db.conn.commit()
    assert send(loaded).exit_code == 0
    _, msg = smtp.messages[-1]
    text, html = parts(msg)
    assert "1 new in PubMed" in msg["Subject"] and "1 older study stored for the first time" in msg["Subject"]
    new = section(text, "NEW IN PUBMED SINCE THE LAST EMAIL (1)", "OLDER RECORDS")
    assert "pubmed.ncbi.nlm.nih.gov/30813155/" in new and "19241799" not in new
    assert f"entered PubMed {today}" in new
    older = section(text, "OLDER RECORDS IN THE DATABASE FOR THE FIRST TIME (1)", "VERDICTS")
    assert "pubmed.ncbi.nlm.nih.gov/19241799/" in older and "entered PubMed 2009-02-27, published 2009 Jan" in older
    assert "Older records in the database for the first time (1)" in html
    assert "entered PubMed 2009-02-27, published 2009 Jan" in html


def test_only_old_records_never_make_new_studies(smtp, loaded):
    assert send(loaded).exit_code == 0
    db = sqlite_utils.Database(loaded)
    db.execute("update emails_sent set week = '2000-W01'")
    _store_now(db, "19241799")
    db.conn.commit()
    assert send(loaded).exit_code == 0
    _, msg = smtp.messages[-1]
    text, html = parts(msg)
    assert "new" not in msg["Subject"].split(":", 1)[1].lower()
    assert "NEW IN PUBMED" not in text and "New in PubMed" not in html


def test_every_email_links_to_the_public_digest(smtp, loaded, monkeypatch):
    monkeypatch.setenv("DIGEST_URL", "https://evidence.example.org/digest/")
    assert send(loaded).exit_code == 0
    _, msg = smtp.messages[-1]
    text, html = parts(msg)
    assert "Full digest: https://evidence.example.org/digest/" in text
    assert 'href="https://evidence.example.org/digest/"' in html


def test_without_a_public_digest_url_the_email_says_where_the_file_is(smtp, loaded, monkeypatch):
    monkeypatch.delenv("DIGEST_URL", raising=False)
    assert send(loaded).exit_code == 0
    _, msg = smtp.messages[-1]
    text, html = parts(msg)
    digest = loaded.parent / "digest.html"
    assert digest.exists()
    assert f"open {digest} in a browser" in text and f"open {digest} in a browser" in words(html)
    assert "file:" not in html and 'href="' + str(digest) not in html  # no link that breaks for the reader


def test_a_digest_url_that_is_not_a_web_address_is_refused(smtp, loaded, monkeypatch):
    monkeypatch.setenv("DIGEST_URL", "evidence.example.org/digest")
    result = send(loaded)
    assert result.exit_code == 1 and "DIGEST_URL" in result.output
    assert smtp.messages == []


def test_the_first_email_lists_the_current_verdicts(smtp, loaded):
    assert send(loaded).exit_code == 0
    _, msg = smtp.messages[-1]
    text, html = parts(msg)
    assert "No verdict changed" not in text
    verdicts = section(text, "CURRENT VERDICTS", "FEED HEALTH")
    from pipeline.digest import verdict_label

    for claim in sqlite_utils.Database(loaded)["claims"].rows:
        # Direction and certainty, in words, and the plain statement under it (issue 12).
        line = f"* {claim['text'].rstrip('.')}: {verdict_label(claim['verdict'])}\n  {claim['statement']}"
        assert line in verdicts.replace("\r\n", "\n"), line
        assert f"{claim['text'].rstrip('.')}: {verdict_label(claim['verdict'])}" in words(html)
        assert claim["statement"] in words(html)
    assert "very low certainty" in verdicts and "It is unclear whether dry needling reduces pain intensity" in verdicts


def test_a_later_email_says_no_verdict_changed_or_lists_each_change(smtp, loaded):
    assert send(loaded).exit_code == 0
    db = sqlite_utils.Database(loaded)
    db.execute("update emails_sent set week = '2000-W01'")
    db.conn.commit()
    assert send(loaded).exit_code == 0
    _, quiet = smtp.messages[-1]
    text, html = parts(quiet)
    assert "No verdict changed" in text and "No verdict changed" in html
    db.execute("update emails_sent set week = '2000-W01'")
    # A change of certainty alone is a change of verdict (issue 12) ...
    db.execute("update claims set verdict = 'unclear_low_certainty' where id = 'intensity-duration'")
    db.conn.commit()
    assert send(loaded).exit_code == 0
    _, changed = smtp.messages[-1]
    text, html = parts(changed)
    head = "Dry needling decreases the intensity and duration of headaches"
    assert f"* {head}: unclear — very low certainty → unclear — low certainty" in text
    assert "No verdict changed" not in text and "No verdict changed" not in html
    assert f"{head}: unclear — very low certainty → <strong>unclear — low certainty</strong>" in html
    # ... and so is a change of direction alone.
    db.execute("update emails_sent set week = '2000-W01'")
    db.execute("update claims set verdict = 'benefit_low_certainty' where id = 'intensity-duration'")
    db.conn.commit()
    assert send(loaded).exit_code == 0
    text, _ = parts(smtp.messages[-1][1])
    assert f"* {head}: unclear — low certainty → benefit — low certainty" in text
    assert "1 verdict changed" in smtp.messages[-1][1]["Subject"]


def test_a_feed_that_never_reached_live_pubmed_says_so(smtp, loaded):
    from pipeline.freshness import freshness

    assert send(loaded).exit_code == 0
    _, msg = smtp.messages[-1]
    text, html = parts(msg)
    data_line = freshness(sqlite_utils.Database(loaded)).data_line
    assert "bundled PubMed snapshot of 2025-09-01" in data_line
    for body in (text, html):
        assert "never reached live PubMed" in body and data_line in body
    # at the top, not only at the bottom
    assert text.index("never reached live PubMed") < text.index("IN THE DATABASE FOR THE FIRST TIME")


def test_a_live_feed_does_not_say_it_never_was(smtp, db_path, fake_eutils, monkeypatch):
    monkeypatch.setenv("NCBI_EUTILS_URL", fake_eutils.base_url)
    monkeypatch.setenv("NCBI_API_KEY", "k")  # the faster rate limit keeps the test quick
    assert CliRunner().invoke(cli, ["run", "--source", "pubmed", "--db", str(db_path)]).exit_code == 0
    assert send(db_path).exit_code == 0
    _, msg = smtp.messages[-1]
    text, html = parts(msg)
    assert "never reached live PubMed" not in text and "NOT LIVE" not in text and "Not live" not in html
    assert "live PubMed as of" in text and "live PubMed as of" in html
    # The registry could not be reached (CTGOV_API_URL is a dead port): that one is said to be not live.
    assert [line for line in text.splitlines() if "not live" in line] == [
        next(line for line in text.splitlines() if line.startswith("Registry: bundled ClinicalTrials.gov snapshot of 2026-11-25 — not live"))]


def test_a_dry_run_without_a_sender_still_carries_an_unsubscribe(loaded, tmp_path, monkeypatch):
    for var in ("DIGEST_FROM", "DIGEST_TO", "DIGEST_UNSUBSCRIBE"):
        monkeypatch.delenv(var, raising=False)
    assert send(loaded, "--dry-run", "--out", str(tmp_path / "outbox")).exit_code == 0
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    header = msg["List-Unsubscribe"]
    assert header and header.startswith("<mailto:") and header.endswith(">") and ".invalid" in header
    text, html = parts(msg)
    link = header[1:-1]
    assert f"Unsubscribe: {link}" in text and f'href="{link}"' in html
    assert "placeholder" in text  # the operator previewing sees it is not real


def test_a_dry_run_uses_the_configured_unsubscribe_without_a_sender(loaded, tmp_path, monkeypatch):
    monkeypatch.delenv("DIGEST_FROM", raising=False)
    monkeypatch.setenv("DIGEST_UNSUBSCRIBE", "https://evidence.example.org/unsubscribe")
    assert send(loaded, "--dry-run", "--out", str(tmp_path / "outbox")).exit_code == 0
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg["List-Unsubscribe"] == "<https://evidence.example.org/unsubscribe>"
    assert "placeholder" not in parts(msg)[0]


@pytest.mark.parametrize("sender", [None, "", "not-an-address", "evidence-digest@example.invalid"])
def test_a_real_send_needs_a_proper_sender(smtp, loaded, monkeypatch, sender):
    if sender is None:
        monkeypatch.delenv("DIGEST_FROM", raising=False)
    else:
        monkeypatch.setenv("DIGEST_FROM", sender)
    result = send(loaded)
    assert result.exit_code == 1 and "DIGEST_FROM" in result.output
    assert smtp.messages == [] and sqlite_utils.Database(loaded)["emails_sent"].count == 0


# --- registered trials (issue 16) ------------------------------------------------------


def _registry_refresh(db_path, studies):
    """A registry refresh from the live API (a fake ClinicalTrials.gov serving `studies`)."""
    from fake_ctgov import FakeCtGov
    from test_registry import TODAY, quick

    from pipeline import registry
    from pipeline.topic import load_topic

    with FakeCtGov(studies) as fake:
        return registry.refresh(store.open_db(db_path), load_topic(), source="live", today=TODAY, client=quick(fake.base_url))


def _last_week_was_emailed(db_path):
    """The first email and the registry's first load, moved back a week: what follows is news."""
    db = sqlite_utils.Database(db_path)
    db.execute("update emails_sent set week = '2026-W48', sent_at = '2026-11-25T08:00:00+00:00'")
    db.execute("update trial_changes set seen_at = '2026-11-25T06:00:00+00:00'")
    db.execute("update studies set first_seen_at = '2026-11-25T06:00:00+00:00'")
    db.conn.commit()


def test_the_first_email_says_the_registry_was_loaded_for_the_first_time_not_what_is_new(smtp, loaded):
    """16 trials arrived with the first load: the email says so in one line and lists none as news."""
    assert send(loaded).exit_code == 0
    ((_, msg),) = smtp.messages
    text, html = parts(msg)
    registered = section(text, "REGISTERED TRIALS (ClinicalTrials.gov)", "FEED HEALTH")
    assert registered.strip().splitlines() == [
        registered.strip().splitlines()[0],
        registered.strip().splitlines()[1],
        "No registry changes in the last 7 days.",
    ]
    assert registered.strip().splitlines()[0].startswith(
        "Registry: bundled ClinicalTrials.gov snapshot of 2026-11-25 — not live; loaded ")
    assert "16 trials recorded as they stood (13 about dry needling for headache, 3 publications linked), not as news" in registered
    assert "First load of the registry (" in registered and "from the bundled snapshot" in registered
    seen = words(html)
    assert "Registered trials (ClinicalTrials.gov)" in seen and "16 trials recorded as they stood" in seen
    assert "No registry changes in the last 7 days." in seen
    assert "registry change" not in msg["Subject"] and "New registrations" not in text


def test_a_new_registration_a_status_change_and_a_new_link_reach_the_next_email(smtp, loaded):
    from test_registry import completed_with_results, new_trial, registry_news

    assert send(loaded).exit_code == 0
    _last_week_was_emailed(loaded)
    result = _registry_refresh(loaded, registry_news({"NCT05444296": completed_with_results},
                                                     [new_trial(first_posted="2026-11-30"), new_trial("NCT07500002", "2019-03-01")]))
    assert result["changes_written"] == 4
    assert send(loaded).exit_code == 0
    _, msg = smtp.messages[-1]
    text, html = parts(msg)
    assert msg["Subject"].endswith(": 4 registry changes")
    registered = section(text, "REGISTERED TRIALS (ClinicalTrials.gov)", "FEED HEALTH")
    lines = registered.strip().splitlines()
    assert lines[0].startswith("Registry: live ClinicalTrials.gov (API v2), refreshed ")
    assert "\n".join(lines[1:]) == """
New registrations (1), first posted on or after 2026-11-25:
* NCT07500001 Dry Needling of the Suboccipital Muscles in Chronic Migraine
  not yet recruiting, 50 participants, first posted 2026-11-30
  https://clinicaltrials.gov/study/NCT07500001

In the registry search for the first time, registered earlier or undated (1):
* NCT07500002 Dry Needling of the Suboccipital Muscles in Chronic Migraine
  not yet recruiting, 50 participants, first posted 2019-03-01
  https://clinicaltrials.gov/study/NCT07500002

Status changes (1):
* NCT05444296 Superficial Dry Needling for Cervicogenic Headache: not yet recruiting → completed (registry record updated 2026-11-29)
  https://clinicaltrials.gov/study/NCT05444296

Newly linked publications (1):
* PMID 29037632 Comparison of acute effects of superficial and deep dry needling into trigger points of suboccipital and upper trapezius muscles in patients with cervicogenic headache.
  the results publication of NCT05444296 Superficial Dry Needling for Cervicogenic Headache; the registry lists PMID 29037632 as a RESULT reference
  https://pubmed.ncbi.nlm.nih.gov/29037632/  https://clinicaltrials.gov/study/NCT05444296"""
    assert "First load" not in registered and "No registry changes" not in text
    seen = words(html)
    for heading in ("New registrations (1)", "In the registry search for the first time (1)", "Status changes (1)",
                    "Newly linked publications (1)"):
        assert heading in seen
    assert "not yet recruiting → completed" in seen
    assert 'href="https://clinicaltrials.gov/study/NCT07500001"' in html
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/29037632/"' in html
    assert "Nothing new this week" not in text  # registry news is news


def test_a_quiet_registry_says_no_registry_changes_and_where_the_trials_came_from(smtp, loaded):
    from test_registry import registry_news

    assert send(loaded).exit_code == 0
    _last_week_was_emailed(loaded)
    assert _registry_refresh(loaded, registry_news({}))["changes_written"] == 0  # the same records, live
    assert send(loaded).exit_code == 0
    _, msg = smtp.messages[-1]
    text, html = parts(msg)
    registered = section(text, "REGISTERED TRIALS (ClinicalTrials.gov)", "FEED HEALTH").strip().splitlines()
    assert registered[0].startswith("Registry: live ClinicalTrials.gov (API v2), refreshed ")
    assert registered[1:] == ["No registry changes since the last email."]
    assert "No registry changes since the last email." in words(html)
    assert msg["Subject"].endswith("nothing new")


def test_a_fallback_to_the_bundled_registry_snapshot_is_said_not_listed(smtp, loaded):
    """After a live load, a refresh that falls back to the older snapshot says it is not
    live and that its differences are older data; the completion is not reported back."""
    from test_registry import completed_with_results, registry_news

    from pipeline import registry
    from pipeline.topic import load_topic

    _registry_refresh(loaded, registry_news({"NCT05444296": completed_with_results}))
    assert send(loaded).exit_code == 0
    _last_week_was_emailed(loaded)
    registry.refresh(store.open_db(loaded), load_topic(), source="auto")  # CTGOV_API_URL: a dead port
    assert send(loaded).exit_code == 0
    _, msg = smtp.messages[-1]
    text, html = parts(msg)
    registered = section(text, "REGISTERED TRIALS (ClinicalTrials.gov)", "FEED HEALTH").strip().splitlines()
    assert registered[0].startswith("Registry: bundled ClinicalTrials.gov snapshot of 2026-11-25 — not live; loaded ")
    assert registered[1:] == [
        ("The registry was loaded from the bundled snapshot after a live load; where it differs from the live data "
         "(1 trial or link), the snapshot is older, so none of it is listed as a change."),
        "No registry changes since the last email.",
    ]
    assert re.search(r'<p class="notlive"[^>]*>Registry: bundled ClinicalTrials.gov snapshot of 2026-11-25 — not live', html)
    assert "Status changes" not in text and "completed" not in "\n".join(registered)
