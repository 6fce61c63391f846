"""Scheduled jobs for a single host: the daily update and the weekly email.

Each job is the same one-shot command cron or a systemd timer would run,
started as a child process so a crash in one run cannot take the scheduler
down; the commands' own database lock keeps them from overlapping, and
APScheduler never starts a job while its previous run is still going.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from . import yamldata
from .topic import PROJECT_ROOT

log = logging.getLogger(__name__)

DEFAULT_CONFIG = PROJECT_ROOT / "deploy" / "schedule.yml"


@dataclass
class Job:
    name: str
    args: list[str]
    cron: str | None = None
    every_seconds: float | None = None

    def trigger(self):
        if self.cron:
            return CronTrigger.from_crontab(self.cron)
        return IntervalTrigger(seconds=self.every_seconds)

    def describe(self) -> str:
        return f"cron {self.cron}" if self.cron else f"every {self.every_seconds:g}s"


def load_jobs(path: Path) -> list[Job]:
    """The jobs of a schedule file, checked (a bad cron expression is reported by job)."""
    data = yamldata.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    jobs = []
    for name, spec in (data.get("jobs") or {}).items():
        if not isinstance(spec, dict) or not spec.get("args"):
            raise ValueError(f"{path}: job {name!r} needs args (the evidence command to run)")
        job = Job(name, [str(a) for a in spec["args"]], spec.get("cron"), spec.get("every_seconds"))
        if bool(job.cron) == bool(job.every_seconds):
            raise ValueError(f"{path}: job {name!r} needs exactly one of cron or every_seconds")
        try:
            job.trigger()
        except ValueError as e:
            raise ValueError(f"{path}: job {name!r}: bad cron expression {job.cron!r}: {e}") from None
        jobs.append(job)
    if not jobs:
        raise ValueError(f"{path}: no jobs")
    return jobs


def run_job(job: Job, db_path: Path) -> int:
    """Run one job now, as a child process; returns its exit status and logs the outcome."""
    command = [sys.executable, "-m", "pipeline", *job.args, "--db", str(db_path)]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    took = time.monotonic() - started
    tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
    if result.returncode == 0:
        log.info("%s: ok in %.1fs: %s", job.name, took, " | ".join(tail))
    else:
        log.error("%s: FAILED (exit %d) in %.1fs: %s", job.name, result.returncode, took, " | ".join(tail))
    return result.returncode


def run(jobs: list[Job], *, db_path: Path, run_for: float | None = None) -> None:
    """Run the jobs on their triggers until interrupted (or for `run_for` seconds)."""
    scheduler = BackgroundScheduler()
    for job in jobs:
        # One run of a job at a time; missed runs (host asleep) collapse into one.
        scheduler.add_job(run_job, job.trigger(), args=[job, db_path], id=job.name, name=job.name,
                          max_instances=1, coalesce=True, misfire_grace_time=3600)
    scheduler.start()
    try:
        deadline = time.monotonic() + run_for if run_for else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.shutdown(wait=True)
