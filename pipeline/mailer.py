"""The weekly email: what is new, what changed, what was retracted; sent once per week.

The `emails_sent` ledger gets a row only after the SMTP server accepted the
message, so a failed send leaves nothing behind and the next run tries again,
and a second run in the same week sends nothing (unless forced).

What the email calls things, and why:

- A study is "new in PubMed" only when PubMed entered it (`entrez_date`) on or
  after the day of the last email. A record stored for the first time this week
  but entered years ago (a first full search, a changed query, a file import)
  is listed apart as an older record, with its PubMed dates. The first email has
  nothing to compare with, so its studies are "in the database for the first
  time", each with its PubMed entry date and publication date.
- Verdicts: one line per claim whose verdict changed since the last email, or
  "No verdict changed"; the first email lists the current verdicts instead.
- How current the data is comes from `pipeline.freshness`: a feed that has
  never reached live PubMed says so at the top.

Settings, from the environment (besides `SMTP_*`, `DIGEST_TO`, `DIGEST_SKIP_EMPTY`):

- `DIGEST_URL`: the public http(s) address of the article digest; every email
  links to it. Unset, the email names the digest file beside the database
  (e.g. "open db/digest.html") and links nothing: a file path is no link for a
  reader on another machine, and a made-up URL would be a broken one.
- `DIGEST_FROM`: the sender. A real send refuses to go without a proper
  address; a `--dry-run` uses a placeholder on the reserved `.invalid` domain.
- `DIGEST_UNSUBSCRIBE`: the `List-Unsubscribe` target (URL or mailto). Default:
  mailto the sender, or, in a dry run without a sender, a `.invalid`
  placeholder, marked as such, so the header and the line are always there.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from urllib.parse import urlsplit

import css_inline
import sqlite_utils

from .cite import vancouver
from .claims import VERDICTS
from .digest import environment
from .freshness import Freshness, freshness
from .store import Counts, failed_updates_since_last_ok, finish_run, last_update, now, start_run

FIRST_WINDOW_DAYS = 7
FIRST_LATEST = 10
STALE_AFTER = timedelta(days=2)  # a daily feed older than this is flagged
# RFC 2606 reserves .invalid: these can never reach anyone, and say they are placeholders.
PLACEHOLDER_DOMAIN = "example.invalid"
PLACEHOLDER_SENDER = f"evidence-digest@{PLACEHOLDER_DOMAIN}"
PLACEHOLDER_UNSUBSCRIBE = f"mailto:unsubscribe@{PLACEHOLDER_DOMAIN}?subject=unsubscribe"


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
    digest_url: str | None = None  # the digest's public address (DIGEST_URL)

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
            digest_url=_web_address(env.get("DIGEST_URL") or None),
        )

    @property
    def unsubscribe_target(self) -> str:
        """Where `List-Unsubscribe` points: always something, a placeholder only without a sender."""
        if self.unsubscribe:
            return self.unsubscribe
        return f"mailto:{self.sender}?subject=unsubscribe" if self.sender else PLACEHOLDER_UNSUBSCRIBE

    def __repr__(self) -> str:  # never show the password
        return f"SmtpSettings(host={self.host!r}, port={self.port}, user={self.user!r}, starttls={self.starttls}, ssl={self.use_ssl})"


def _web_address(url: str | None) -> str | None:
    """DIGEST_URL as given, if it is an http(s) address; a bare host or a path would be a broken link."""
    if url is None:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MailError(f"DIGEST_URL must be the digest's public http(s) address, not {url!r}")
    return url.strip()


@dataclass
class Weekly:
    """What one weekly email says."""

    week: str  # ISO week, e.g. 2026-W48
    since: str | None  # when the previous email was sent (None the first time)
    new: list[dict]  # on-topic studies first stored since then (the first time: the latest ones)
    other_new: int  # off-topic records found in the same window
    verdicts: list[dict]  # changed since the last email: {"claim", "text", "before", "after"}
    retracted: list[dict]  # studies newly retracted or with a new notice
    health: dict
    first: bool = False
    current: list[dict] = field(default_factory=list)  # every claim now: {"claim", "text", "verdict"}
    compared: bool = False  # the last email recorded its verdicts, so changes can be told
    on_topic_total: int = 0  # on-topic studies in the database
    fresh: Freshness | None = None  # how current the data is
    digest_path: Path | None = None  # the digest file beside the database

    @property
    def empty(self) -> bool:
        return not (self.new or self.verdicts or self.retracted)

    @property
    def new_in_pubmed(self) -> list[dict]:
        """Studies PubMed entered since the last email: the only ones called new."""
        if self.first:
            return []
        return [s for s in self.new if entered_since(s, self.since)]

    @property
    def older(self) -> list[dict]:
        """Studies stored since the last email but entered into PubMed before it (or undated)."""
        if self.first:
            return []
        return [s for s in self.new if not entered_since(s, self.since)]


def entered_since(study: dict, since: str | None) -> bool:
    """Whether PubMed entered the study on or after the day `since` (an ISO timestamp)."""
    return bool(since and study.get("entrez_date") and study["entrez_date"] >= since[:10])


def pubmed_dates(study: dict) -> str:
    """"entered PubMed 2022-06-04, published 2022 Nov-Dec": how old a record really is."""
    entered = f"entered PubMed {study['entrez_date']}" if study.get("entrez_date") else "PubMed entry date unknown"
    published = study.get("pub_date") or study.get("year")
    return f"{entered}, published {published}" if published else entered


def claim_text(text: str) -> str:
    """A claim as the head of "claim: verdict" (its closing full stop would read "headaches.: limited")."""
    return text.rstrip(". ")


def _utc(stamp: str | None) -> str:
    """An ISO timestamp as a reader reads it: 2026-12-02 06:39 UTC."""
    return f"{stamp[:16].replace('T', ' ')} UTC" if stamp else ""


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


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
    current = {r["id"]: r for r in db.query("select id, text, verdict from claims order by position")}
    # An email sent before verdicts were recorded leaves nothing to compare with:
    # saying "No verdict changed" then would be a guess.
    compared = bool(previous and previous["verdicts"])
    verdicts = _changed_verdicts(current, json.loads(previous["verdicts"])) if compared else []
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
        current=[{"claim": cid, "text": c["text"], "verdict": c["verdict"]} for cid, c in current.items()],
        compared=compared,
        on_topic_total=db.execute("select count(*) from studies where on_topic = 1").fetchone()[0],
        fresh=freshness(db),
        digest_path=_digest_path(db),
    )


def _changed_verdicts(current: dict[str, dict], before: dict[str, str]) -> list[dict]:
    return [
        {"claim": cid, "text": c["text"], "before": before.get(cid), "after": c["verdict"]}
        for cid, c in current.items()
        if before.get(cid) != c["verdict"]
    ]


def _digest_path(db: sqlite_utils.Database) -> Path | None:
    """digest.html beside the database file (where `run` and `digest` write it by default)."""
    files = [row[2] for row in db.execute("pragma database_list") if row[1] == "main"]
    return Path(files[0]).parent / "digest.html" if files and files[0] else None


def shown_path(path: Path) -> str:
    """A path as an operator would type it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def digest_link(w: Weekly, settings: SmtpSettings) -> dict:
    """Where the email sends readers for the whole digest: {"url"} or, with no
    public address configured, {"path", "exists"} to name without a link."""
    if settings.digest_url:
        return {"url": settings.digest_url}
    if w.digest_path is None:
        return {"path": None, "exists": False}
    return {"path": shown_path(w.digest_path), "exists": w.digest_path.exists()}


def subject(w: Weekly) -> str:
    if w.empty:
        return f"Dry needling & headache evidence, {w.week}: nothing new"
    parts = _study_counts(w)
    if w.verdicts:
        parts.append(f"{len(w.verdicts)} verdict{'s' if len(w.verdicts) != 1 else ''} changed")
    if w.retracted:
        parts.append(f"{len(w.retracted)} retracted or corrected")
    return f"Dry needling & headache evidence, {w.week}: " + ", ".join(parts)


def _study_counts(w: Weekly) -> list[str]:
    """The studies, counted by what they are: only records PubMed entered since the last email are "new"."""
    if w.first:
        return [f"first email, {_plural(len(w.new), 'study', 'studies')} in the database for the first time"]
    parts = []
    if w.new_in_pubmed:
        parts.append(f"{len(w.new_in_pubmed)} new in PubMed")
    if w.older:
        parts.append(f"{_plural(len(w.older), 'older study', 'older studies')} stored for the first time")
    return parts


def compose(w: Weekly, settings: SmtpSettings, *, when: datetime | None = None) -> EmailMessage:
    """A multipart (plain text + HTML with inline CSS) message for the week."""
    when = when or datetime.now(timezone.utc)
    env = environment()
    env.filters["claim"] = claim_text
    env.filters["utc"] = _utc
    context = {
        "w": w,
        "verdicts": VERDICTS,
        "cite": vancouver,
        "dates": pubmed_dates,
        "plural": _plural,
        "digest": digest_link(w, settings),
        "unsubscribe": settings.unsubscribe_target,
        "placeholder": settings.unsubscribe_target == PLACEHOLDER_UNSUBSCRIBE,
    }
    text = env.get_template("weekly.txt.j2").render(**context)
    html = css_inline.inline(env.get_template("weekly.html.j2").render(**context))
    msg = EmailMessage()
    msg["Subject"] = subject(w)
    msg["From"] = settings.sender or PLACEHOLDER_SENDER
    msg["To"] = ", ".join(settings.recipients) or "undisclosed-recipients:;"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=(settings.sender.split("@")[-1] if "@" in settings.sender else "localhost"))
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
    if not proper_address(settings.sender):
        raise MailError(f"DIGEST_FROM is not a proper sender address: {settings.sender!r}")
    if PLACEHOLDER_DOMAIN in str(msg["List-Unsubscribe"] or ""):  # a dry run's placeholder never goes out
        raise MailError("List-Unsubscribe is a placeholder: set DIGEST_UNSUBSCRIBE or DIGEST_FROM")
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


def proper_address(address: str) -> bool:
    """A sender a server and a reader can use: local@domain, and not the dry-run placeholder."""
    _, addr = parseaddr(address)
    local, at, domain = addr.rpartition("@")
    return bool(at and local and domain and "@" not in local and not domain.endswith(".invalid"))


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
