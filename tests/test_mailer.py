"""The weekly email over a real SMTP server on 127.0.0.1 (aiosmtpd): content,
delivery, the never-twice ledger, failures, and the run lock."""

from __future__ import annotations

import email
import email.policy
import os
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


@pytest.fixture
def loaded(tmp_path):
    path = tmp_path / "evidence.db"
    assert CliRunner().invoke(cli, ["run", "--source", "snapshot", "--db", str(path)]).exit_code == 0
    return path


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
    assert msg["Subject"].startswith("Dry needling & headache evidence, ") and "8 new studies" in msg["Subject"]
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
    db.execute("update claims set verdict = 'moderate' where id = 'endorphins'")
    db.conn.commit()
    assert send(loaded).exit_code == 0
    _, msg = smtp.messages[-1]
    text = msg.get_body(("plain",)).get_content()
    assert "RETRACTED OR CORRECTED" in text and "RETRACTED: A randomized trial of trigger point" in text
    assert "VERDICTS THAT CHANGED" in text and "no direct evidence -> moderate" in text
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
