"""The weekly email: what is new, what changed, what was retracted; sent once per week.

The `emails_sent` ledger gets a row only after the SMTP server accepted the
message, so a failed send leaves nothing behind and the next run tries again,
and a second run in the same week sends nothing (unless forced).
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import css_inline
import sqlite_utils

from .cite import vancouver
from .claims import VERDICTS
from .digest import environment
from .store import Counts, failed_updates_since_last_ok, finish_run, last_update, now, start_run

FIRST_WINDOW_DAYS = 7
FIRST_LATEST = 10
STALE_AFTER = timedelta(days=2)  # a daily feed older than this is flagged


class MailError(RuntimeError):
    """The email could not be built or sent; nothing was recorded."""


@dataclass
class SmtpSettings:
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    use_ssl: bool = False
    sender: str = ""
    recipients: list[str] = field(default_factory=list)
    unsubscribe: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "SmtpSettings":
        env = os.environ if env is None else env

        def flag(name: str) -> bool:
            return (env.get(name) or "").strip().lower() in ("1", "true", "yes", "on")

        use_ssl = flag("SMTP_SSL")
        return cls(
            host=env.get("SMTP_HOST") or "localhost",
            port=int(env.get("SMTP_PORT") or (465 if use_ssl else 25)),
            user=env.get("SMTP_USER") or None,
            password=env.get("SMTP_PASSWORD") or None,
            starttls=flag("SMTP_STARTTLS"),
            use_ssl=use_ssl,
            sender=env.get("DIGEST_FROM") or "",
            recipients=[a.strip() for a in (env.get("DIGEST_TO") or "").split(",") if a.strip()],
            unsubscribe=env.get("DIGEST_UNSUBSCRIBE") or None,
        )

    def __repr__(self) -> str:  # never show the password
        return f"SmtpSettings(host={self.host!r}, port={self.port}, user={self.user!r}, starttls={self.starttls}, ssl={self.use_ssl})"


@dataclass
class Weekly:
    """What one weekly email says."""

    week: str  # ISO week, e.g. 2026-W48
    since: str | None  # when the previous email was sent (None the first time)
    new: list[dict]  # on-topic studies new since then
    other_new: int  # off-topic records found in the same window
    verdicts: list[dict]  # {"claim", "text", "before", "after"}
    retracted: list[dict]  # studies newly retracted or with a new notice
    health: dict
    first: bool = False

    @property
    def empty(self) -> bool:
        return not (self.new or self.verdicts or self.retracted)


def iso_week(when: datetime) -> str:
    year, week, _ = when.isocalendar()
    return f"{year}-W{week:02d}"


def last_sent(db: sqlite_utils.Database) -> dict | None:
    rows = list(db["emails_sent"].rows_where(order_by="id desc", limit=1))
    return rows[0] if rows else None


def already_sent(db: sqlite_utils.Database, week: str) -> dict | None:
    rows = list(db["emails_sent"].rows_where("week = ?", [week], limit=1))
    return rows[0] if rows else None


FLAG_NOTICES = {"RetractionIn", "ErratumIn", "ExpressionOfConcernIn"}


def _flagged(db: sqlite_utils.Database) -> dict[str, dict]:
    """Studies about dry needling for headache that are retracted, or carry a
    retraction, erratum or expression-of-concern notice."""
    out = {}
    for r in db.query("select * from studies where on_topic = 1 and (retracted = 1 or (notices is not null and notices != '[]'))"):
        if r["retracted"] or any(n.get("type") in FLAG_NOTICES for n in json.loads(r["notices"] or "[]")):
            out[r["pmid"]] = r
    return out


def feed_health(db: sqlite_utils.Database, when: datetime) -> dict:
    ok = last_update(db)
    stale = ok is None or when - datetime.fromisoformat(ok["finished_at"]) > STALE_AFTER
    return {
        "last_ok": ok["finished_at"] if ok else None,
        "source": ok["source"] if ok else None,
        "failures": failed_updates_since_last_ok(db),
        "stale": stale,
    }


def build_weekly(db: sqlite_utils.Database, when: datetime | None = None) -> Weekly:
    when = when or datetime.now(timezone.utc)
    previous = last_sent(db)
    if previous:
        since = previous["sent_at"]
        window = list(db.query(
            "select * from studies where first_seen_at > ? order by coalesce(entrez_date, '') desc, pmid", [since]
        ))
    else:
        since = None
        start = (when - timedelta(days=FIRST_WINDOW_DAYS)).date().isoformat()
        window = list(db.query(
            "select * from studies where entrez_date >= ? order by entrez_date desc, pmid", [start]
        ))
        if not any(s["on_topic"] for s in window):
            window = list(db.query(
                "select * from studies where on_topic = 1 order by coalesce(entrez_date, '') desc, pmid limit ?",
                [FIRST_LATEST],
            ))
    new = [s for s in window if s["on_topic"]]
    verdicts = []
    current = {r["id"]: r for r in db.query("select id, text, verdict from claims order by position")}
    if previous and previous["verdicts"]:
        before = json.loads(previous["verdicts"])
        verdicts = [
            {"claim": cid, "text": c["text"], "before": before.get(cid), "after": c["verdict"]}
            for cid, c in current.items()
            if before.get(cid) != c["verdict"]
        ]
    flagged = _flagged(db)
    seen_flagged = set(json.loads(previous["flagged"])) if previous and previous["flagged"] else set()
    retracted = [s for p, s in sorted(flagged.items()) if p not in seen_flagged]
    return Weekly(
        week=iso_week(when),
        since=since,
        new=new,
        other_new=len(window) - len(new),
        verdicts=verdicts,
        retracted=retracted,
        health=feed_health(db, when),
        first=previous is None,
    )


def subject(w: Weekly) -> str:
    if w.empty:
        return f"Dry needling & headache evidence, {w.week}: nothing new"
    parts = [f"{len(w.new)} new stud{'y' if len(w.new) == 1 else 'ies'}"]
    if w.verdicts:
        parts.append(f"{len(w.verdicts)} verdict{'s' if len(w.verdicts) != 1 else ''} changed")
    if w.retracted:
        parts.append(f"{len(w.retracted)} retracted or corrected")
    return f"Dry needling & headache evidence, {w.week}: " + ", ".join(parts)


def compose(w: Weekly, settings: SmtpSettings, *, when: datetime | None = None) -> EmailMessage:
    """A multipart (plain text + HTML with inline CSS) message for the week."""
    when = when or datetime.now(timezone.utc)
    env = environment()
    context = {
        "w": w,
        "verdicts": VERDICTS,
        "cite": vancouver,
        "unsubscribe": settings.unsubscribe or (f"mailto:{settings.sender}?subject=unsubscribe" if settings.sender else None),
    }
    text = env.get_template("weekly.txt.j2").render(**context)
    html = css_inline.inline(env.get_template("weekly.html.j2").render(**context))
    msg = EmailMessage()
    msg["Subject"] = subject(w)
    msg["From"] = settings.sender or "evidence-digest@localhost"
    msg["To"] = ", ".join(settings.recipients) or "undisclosed-recipients:;"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=(settings.sender.split("@")[-1] if "@" in settings.sender else "localhost"))
    if context["unsubscribe"]:
        msg["List-Unsubscribe"] = f"<{context['unsubscribe']}>"
    msg["X-Evidence-Week"] = w.week
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def send(msg: EmailMessage, settings: SmtpSettings, *, timeout: float = 30.0) -> None:
    """Hand the message to the SMTP server; raises MailError unless it accepted it."""
    if not settings.recipients:
        raise MailError("DIGEST_TO is not set: no one to send to (use --dry-run to write the message to a file)")
    if not settings.sender:
        raise MailError("DIGEST_FROM is not set: the sender address is required")
    try:
        if settings.use_ssl:
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        with client:
            if settings.starttls and not settings.use_ssl:
                client.starttls(context=ssl.create_default_context())
            if settings.user:
                client.login(settings.user, settings.password or "")
            refused = client.send_message(msg, from_addr=settings.sender, to_addrs=settings.recipients)
    except (smtplib.SMTPException, OSError) as e:
        raise MailError(f"SMTP {settings.host}:{settings.port} did not accept the digest: {type(e).__name__}: {e}") from e
    if refused:
        raise MailError(f"the server refused some recipients: {', '.join(refused)}")


def record(db: sqlite_utils.Database, w: Weekly, msg: EmailMessage, settings: SmtpSettings, *, forced: bool) -> int:
    """Note in the ledger that the server accepted this week's email."""
    verdicts = {r["id"]: r["verdict"] for r in db.query("select id, verdict from claims")}
    with db.conn:
        cursor = db.conn.execute(
            "insert into emails_sent (week, sent_at, subject, message_id, recipients, covered_from, "
            "new_pmids, verdict_changes, retracted_pmids, verdicts, flagged, forced) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                w.week, now(), str(msg["Subject"]), str(msg["Message-ID"]), len(settings.recipients), w.since,
                json.dumps([s["pmid"] for s in w.new]), json.dumps(w.verdicts),
                json.dumps([s["pmid"] for s in w.retracted]), json.dumps(verdicts),
                json.dumps(sorted(_flagged(db))), int(forced),
            ],
        )
    return int(cursor.lastrowid)


def write_eml(msg: EmailMessage, folder: Path, week: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"weekly-{week}.eml"
    path.write_bytes(bytes(msg))
    return path


def weekly_job(
    db: sqlite_utils.Database,
    settings: SmtpSettings,
    *,
    dry_run: bool = False,
    force: bool = False,
    skip_empty: bool = False,
    outbox: Path,
    when: datetime | None = None,
) -> str:
    """One run of the weekly email, in the `runs` ledger: send this week's digest
    unless it was sent already (or `force`), write it to `outbox` instead with
    `dry_run`. Returns what happened, in words; raises MailError when the server
    did not accept it (the run is then recorded as failed, the ledger untouched)."""
    when = when or datetime.now(timezone.utc)
    week = iso_week(when)
    run_id = start_run(db, command="email", source="dry-run" if dry_run else "smtp", source_detail=f"week {week}")
    counts = Counts()
    sent = already_sent(db, week)
    if sent and not force and not dry_run:
        finish_run(db, run_id, counts)
        return f"The digest for {week} was already sent at {sent['sent_at']}; nothing sent (use --force to send again)."
    weekly = build_weekly(db, when)
    counts.found = counts.new = len(weekly.new)
    if weekly.empty and skip_empty:
        finish_run(db, run_id, counts)
        return f"Nothing new for {week}; skipped as configured (last update: {weekly.health['last_ok'] or 'never'})."
    msg = compose(weekly, settings, when=when)
    if dry_run:
        path = write_eml(msg, outbox, week)
        finish_run(db, run_id, counts)
        return f"Dry run: {msg['Subject']}\nWritten to {path} (not sent, not recorded)."
    try:
        send(msg, settings)
    except MailError as e:
        finish_run(db, run_id, counts, error=str(e))
        raise
    record(db, weekly, msg, settings, forced=force)
    finish_run(db, run_id, counts)
    return f"Sent: {msg['Subject']} to {len(settings.recipients)} recipient(s)."
