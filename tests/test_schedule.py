"""`evidence schedule`: jobs from a configuration, fired on their triggers."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlite_utils

from pipeline import schedule


def test_the_shipped_configuration_is_valid():
    jobs = {j.name: j for j in schedule.load_jobs(schedule.DEFAULT_CONFIG)}
    assert jobs["update"].args == ["run", "--source", "pubmed"] and jobs["update"].cron
    assert jobs["email"].args == ["email"] and jobs["email"].cron


def test_a_bad_cron_expression_is_reported_by_job(tmp_path):
    config = tmp_path / "s.yml"
    config.write_text("jobs:\n  update: {args: [run], cron: '61 * * * *'}\n")
    with pytest.raises(ValueError, match="job 'update': bad cron expression"):
        schedule.load_jobs(config)


def test_the_scheduler_fires_both_jobs_on_a_short_trigger(tmp_path):
    db_path = tmp_path / "evidence.db"
    outbox = tmp_path / "outbox"
    config = tmp_path / "s.yml"
    config.write_text(
        "jobs:\n"
        "  update: {args: [run, --source, snapshot], every_seconds: 1}\n"
        f"  email: {{args: [email, --dry-run, --out, '{outbox}'], every_seconds: 1.5}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "schedule", "--config", str(config), "--db", str(db_path), "--run-for", "6"],
        capture_output=True, text=True, timeout=90,
    )
    assert result.returncode == 0, result.stderr
    commands = [r["command"] for r in sqlite_utils.Database(db_path)["runs"].rows]
    assert "run" in commands and "email" in commands
    assert list(outbox.glob("*.eml"))
