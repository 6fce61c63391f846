"""The weekly email: what is new, what changed, what was retracted; sent once per week.

Never twice: the ledger is kept per recipient. The moment the server answers
250 to DATA, the recipients it accepted are recorded (`email_recipients`, and
the week's `emails_sent` row), before QUIT: an error at QUIT or a dropped
connection after that (a 421, a timeout) is only a warning. A later run in the
same week sends nothing to them (unless forced); it retries only recipients the
server refused for now (4xx on RCPT), with this week's very message, at most
`MAX_DEFERRALS` times; a permanent refusal (5xx on RCPT) is reported and
recorded, and not retried that week. A send that fails before DATA is accepted
records no delivery, and the next run tries again. Addresses are never stored,
only a keyed hash of each (`recipient_key`).

What the email calls things, and why:

- A study is "new in PubMed" only when PubMed entered it (`entrez_date`) on or
  after the day of the last email. A record stored for the first time this week
  but entered years ago (a first full search, a changed query, a file import)
  is listed apart as an older record, with its PubMed dates. The first email has
  nothing to compare with, so its studies are "in the database for the first
  time", each with its PubMed entry date and publication date.
- Verdicts: what the evidence suggests and how certain (GRADE), as one verdict
  ("benefit — low certainty"): one line per claim whose verdict changed since the
  last email (a change of direction or of certainty is a change), or "No verdict
  changed"; the first email lists the current verdicts, each with its plain
  statement ("Dry needling may reduce pain intensity — low certainty"), instead.
- How current the data is comes from `pipeline.freshness`: a feed that has
  never reached live PubMed says so at the top.
- Registered trials (`pipeline.registry`'s change log): trials newly registered
  (first posted on or after the day of the last email), trials the registry
  search holds for the first time but registered earlier (or undated), status
  changes and newly linked publications, each recorded by a registry refresh
  after the last email; or "No registry changes". The registry's first load is
  said to be one, not listed as news; neither are the differences of the bundled
  snapshot loaded after a live load (older data). The section says where the
  trials came from (live API or the bundled snapshot, NOT LIVE) and when.

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

import hashlib
import hmac
import json
import os
import re
import secrets
import smtplib
import ssl
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from urllib.parse import urlsplit

import css_inline
import sqlite_utils

from . import registry
from .cite import vancouver
from .claims import VERDICTS
from .digest import environment
from .freshness import Freshness, freshness
from .store import (
    Counts,
    failed_updates_since_last_ok,
    finish_run,
    last_update,
    now,
    start_run,
)

UNDISCLOSED = "undisclosed-recipients:;"
FIRST_WINDOW_DAYS = 7
FIRST_LATEST = 10
STALE_AFTER = timedelta(days=2)  # a daily feed older than this is flagged
# RFC 2606 reserves .invalid: these can never reach anyone, and say they are placeholders.
PLACEHOLDER_DOMAIN = "example.invalid"
PLACEHOLDER_SENDER = f"evidence-digest@{PLACEHOLDER_DOMAIN}"
PLACEHOLDER_UNSUBSCRIBE = f"mailto:unsubscribe@{PLACEHOLDER_DOMAIN}?subject=unsubscribe"
# A recipient the server refuses for now (4xx on RCPT) is retried by the next
# runs of the same week, this many times in all; then it counts as refused.
MAX_DEFERRALS = 3


class MailError(RuntimeError):
    """The email could not be built or sent. `recorded` is False when nothing was
    recorded (the next run tries again), True when refusals were recorded."""

    def __init__(self, message: str, *, recorded: bool = False):
        super().__init__(message)
        self.recorded = recorded


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
    current: list[dict] = field(default_factory=list)  # every claim now: {"claim", "text", "verdict", "statement"}
    compared: bool = False  # the last email recorded its verdicts, so changes can be told
    on_topic_total: int = 0  # on-topic studies in the database
    fresh: Freshness | None = None  # how current the data is
    digest_path: Path | None = None  # the digest file beside the database
    registry: dict | None = None  # registered trials: see registry_news (None: the registry was never loaded)

    @property
    def registry_changes(self) -> int:
        """Registry changes this email lists (about dry needling for headache)."""
        return self.registry["count"] if self.registry else 0

    @property
    def empty(self) -> bool:
        return not (self.new or self.verdicts or self.retracted or self.registry_changes)

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
    """The latest email of `week` the server accepted (for at least one recipient)."""
    rows = list(db["emails_sent"].rows_where("week = ?", [week], order_by="id desc", limit=1))
    return rows[0] if rows else None


# --- recipients in the ledger: a keyed hash, never the address ----------------


def normal_address(address: str) -> str:
    """The address alone (no display name), lower case: "A <A@Example.org>" and "a@example.org" are one recipient."""
    return (parseaddr(address)[1] or address).strip().lower()


def unique_recipients(addresses: list[str]) -> list[str]:
    """DIGEST_TO without repeats (an address listed twice gets one copy), in its order."""
    seen: set[str] = set()
    out = []
    for address in addresses:
        if normal_address(address) not in seen:
            seen.add(normal_address(address))
            out.append(address)
    return out


def recipient_salt(db: sqlite_utils.Database) -> str:
    """A random salt made once per database (meta `recipient_salt`)."""
    with db.conn:
        db.conn.execute("insert or ignore into meta (key, value) values ('recipient_salt', ?)", [secrets.token_hex(16)])
    return db.execute("select value from meta where key = 'recipient_salt'").fetchone()[0]


def recipient_key(salt: str, address: str) -> str:
    """How the ledger names a recipient: HMAC-SHA256 of the normalised address keyed
    with the database's random salt, truncated to 16 hex digits (64 bits: no two
    addresses of a real list collide). Salted and hashed, not stored: the address
    cannot be read back, the same address gives unrelated keys in two databases,
    and no precomputed table finds it. Whoever holds the database file (and so its
    salt) can still test a guessed address."""
    return hmac.new(salt.encode(), normal_address(address).encode(), hashlib.sha256).hexdigest()[:16]


def _scrub(text: str, recipients: list[str]) -> str:
    """`text` with every address replaced by its place in DIGEST_TO ("recipient 2 of 3"), for the ledger."""
    for i, address in enumerate(recipients, 1):
        for form in {address.strip(), normal_address(address)}:
            if form:
                text = re.sub(re.escape(form), f"recipient {i} of {len(recipients)}", text, flags=re.IGNORECASE)
    return text


def recipient_states(db: sqlite_utils.Database, week: str) -> dict[str, dict]:
    """Recipient key → its row for `week`: accepted, refused or deferred. A row
    belongs to the week of the email it names (or, without one, to its own week)."""
    return {
        r["recipient"]: r
        for r in db.query(
            "select r.* from email_recipients r left join emails_sent e on e.id = r.email_id "
            "where coalesce(e.week, r.week) = ?",
            [week],
        )
    }


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
    # `select *`: a database whose claims predate direction and certainty has no statement column.
    current = {r["id"]: r for r in db.query("select * from claims order by position")}
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
        current=[{"claim": cid, "text": c["text"], "verdict": c["verdict"], "statement": c.get("statement")}
                 for cid, c in current.items()],
        compared=compared,
        on_topic_total=db.execute("select count(*) from studies where on_topic = 1").fetchone()[0],
        fresh=freshness(db),
        digest_path=_digest_path(db),
        registry=registry_news(db, since, when),
    )


def registry_news(db: sqlite_utils.Database, since: str | None, when: datetime) -> dict | None:
    """The registry's changes since the last email (the first email: the last
    FIRST_WINDOW_DAYS days), by kind, for trials about dry needling for headache
    or publications about it; None when no registry was ever loaded."""
    fresh = registry.registry_freshness(db)
    if fresh is None:
        return None
    start = since or (when - timedelta(days=FIRST_WINDOW_DAYS)).isoformat(timespec="seconds")
    rows = registry.changes_since(db, start)
    news = [r for r in rows if r["context"] is None]
    shown = [r for r in news if r["on_topic"] or (r["kind"] == "publication_linked" and r["study_on_topic"])]
    day = start[:10]
    registered = [r for r in shown if r["kind"] == "new_registration"]
    first = [r for r in rows if r["context"] == registry.FIRST_LOAD]
    first_trials = [r for r in first if r["kind"] == "new_registration"]
    fetched = fresh["fetched_at"]
    return {
        **fresh,
        "stale": not fetched or when - datetime.fromisoformat(fetched) > STALE_AFTER,
        "window_day": day,
        "new": [r for r in registered if r["first_posted"] and r["first_posted"] >= day],
        "older": [r for r in registered if not (r["first_posted"] and r["first_posted"] >= day)],
        "status": [r for r in shown if r["kind"] == "status_changed"],
        "linked": [r for r in shown if r["kind"] == "publication_linked"],
        "count": len(shown),
        "other": len(news) - len(shown),
        "first_load": {
            "at": first[0]["seen_at"], "source": first[0]["source"], "trials": len(first_trials),
            "on_topic": sum(1 for r in first_trials if r["on_topic"]),
            "links": sum(1 for r in first if r["kind"] == "publication_linked"),
        } if first else None,
        "older_copy": sum(1 for r in rows if r["context"] == registry.OLDER_COPY),
    }


def _changed_verdicts(current: dict[str, dict], before: dict[str, str]) -> list[dict]:
    """Claims whose verdict (direction and certainty together) moved."""
    return [
        {"claim": cid, "text": c["text"], "before": before.get(cid), "after": c["verdict"], "statement": c.get("statement")}
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
    if w.registry_changes:
        parts.append(_plural(w.registry_changes, "registry change", "registry changes"))
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
        "status_words": registry.status_words,
        "digest": digest_link(w, settings),
        "unsubscribe": settings.unsubscribe_target,
        "placeholder": settings.unsubscribe_target == PLACEHOLDER_UNSUBSCRIBE,
    }
    text = env.get_template("weekly.txt.j2").render(**context)
    html = css_inline.inline(env.get_template("weekly.html.j2").render(**context))
    msg = EmailMessage()
    msg["Subject"] = subject(w)
    msg["From"] = settings.sender or PLACEHOLDER_SENDER
    # Subscribers never see each other's addresses: the recipients go in the
    # SMTP envelope only (send_message's to_addrs), as for a Bcc list.
    msg["To"] = UNDISCLOSED
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=(settings.sender.split("@")[-1] if "@" in settings.sender else "localhost"))
    msg["List-Unsubscribe"] = f"<{context['unsubscribe']}>"
    msg["X-Evidence-Week"] = w.week
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


@dataclass
class Outcome:
    """What the server answered one transaction: who it accepted (DATA got its 250
    for them), who it refused at RCPT, and anything odd after DATA (e.g. at QUIT)."""

    accepted: list[str]
    refused: dict[str, tuple[int, str]]  # address -> (code, reply): 5xx permanent, 4xx for now
    warning: str | None = None


def send(
    msg: EmailMessage,
    settings: SmtpSettings,
    recipients: list[str] | None = None,
    *,
    timeout: float = 30.0,
    on_answer=None,
) -> Outcome:
    """Hand the message to the SMTP server for `recipients` (default: all in `settings`).

    MAIL, RCPT and DATA are one step, QUIT another: as soon as the server has
    answered for the recipients (DATA accepted, or every RCPT refused),
    `on_answer(outcome)` is called, before QUIT, so the caller records the
    delivery even if the connection then breaks. An error at QUIT after DATA was
    accepted is harmless: it becomes `outcome.warning`. Raises MailError when no
    recipient got the message and the server did not refuse them one by one
    (connection, login, MAIL or DATA failed): then nothing was delivered."""
    recipients = list(settings.recipients if recipients is None else recipients)
    if not recipients:
        raise MailError("DIGEST_TO is not set: no one to send to (use --dry-run to write the message to a file)")
    if not settings.sender:
        raise MailError("DIGEST_FROM is not set: the sender address is required")
    if not proper_address(settings.sender):
        raise MailError(f"DIGEST_FROM is not a proper sender address: {settings.sender!r}")
    if PLACEHOLDER_DOMAIN in str(msg["List-Unsubscribe"] or ""):  # a dry run's placeholder never goes out
        raise MailError("List-Unsubscribe is a placeholder: set DIGEST_UNSUBSCRIBE or DIGEST_FROM")
    where = f"SMTP {settings.host}:{settings.port}"
    try:
        if settings.use_ssl:
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
    except (smtplib.SMTPException, OSError) as e:
        raise MailError(f"{where} did not accept the digest: {type(e).__name__}: {e}") from e
    try:
        try:
            if settings.starttls and not settings.use_ssl:
                client.starttls(context=ssl.create_default_context())
            if settings.user:
                client.login(settings.user, settings.password or "")
            refused = client.send_message(msg, from_addr=settings.sender, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as e:
            answers = {a: _answer(code, reply) for a, (code, reply) in e.recipients.items()}
            if any(code == 421 for code, _ in answers.values()):  # the server closed the session midway
                raise MailError(f"{where} did not accept the digest: it closed the session at RCPT "
                                f"({_first_421(answers)})") from e
            outcome = Outcome(accepted=[], refused=answers)  # every recipient refused, one by one
        except (smtplib.SMTPException, OSError) as e:
            raise MailError(f"{where} did not accept the digest: {type(e).__name__}: {e}") from e
        else:  # DATA got its 250: delivered to all but `refused`
            answers = {a: _answer(code, reply) for a, (code, reply) in refused.items()}
            outcome = Outcome(accepted=[a for a in recipients if a not in answers], refused=answers)
        if on_answer is not None:
            on_answer(outcome)  # recorded before QUIT: nothing after this can lose it
        outcome.warning = _quit(client)
        if outcome.warning and not outcome.accepted:
            outcome.warning = None  # nothing was delivered: an odd goodbye changes nothing
        return outcome
    finally:
        client.close()


def _answer(code: int, reply: bytes | str) -> tuple[int, str]:
    return int(code), reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _first_421(answers: dict[str, tuple[int, str]]) -> str:
    return next(f"{code} {reply}" for code, reply in answers.values() if code == 421)


def _quit(client: smtplib.SMTP) -> str | None:
    """Say goodbye; what went wrong, if anything, in words (never raised: the message is already accepted)."""
    try:
        code, reply = client.quit()
    except (smtplib.SMTPException, OSError) as e:
        return f"the connection broke at QUIT after the server accepted the message ({type(e).__name__}: {e})"
    if code != 221:
        reply = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        return f"the server answered QUIT with {code} {reply} after accepting the message"
    return None


def proper_address(address: str) -> bool:
    """A sender a server and a reader can use: local@domain, and not the dry-run placeholder."""
    _, addr = parseaddr(address)
    local, at, domain = addr.rpartition("@")
    return bool(at and local and domain and "@" not in local and not domain.endswith(".invalid"))


def record(
    db: sqlite_utils.Database, w: Weekly, msg: EmailMessage, *, accepted: int, forced: bool
) -> int:
    """Note in the ledger that the server accepted this week's email (for `accepted` recipients).
    Call inside a transaction; returns the `emails_sent` row id."""
    verdicts = {r["id"]: r["verdict"] for r in db.query("select id, verdict from claims")}
    kept = message_from_bytes(bytes(msg), policy=email_policy.default)
    del kept["To"]  # the addresses are never stored
    cursor = db.conn.execute(
        "insert into emails_sent (week, sent_at, subject, message_id, recipients, covered_from, "
        "new_pmids, verdict_changes, retracted_pmids, verdicts, flagged, forced, message) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            w.week, now(), str(msg["Subject"]), str(msg["Message-ID"]), accepted, w.since,
            json.dumps([s["pmid"] for s in w.new]), json.dumps(w.verdicts),
            json.dumps([s["pmid"] for s in w.retracted]), json.dumps(verdicts),
            json.dumps(sorted(_flagged(db))), int(forced), bytes(kept),
        ],
    )
    return int(cursor.lastrowid)


def record_answers(
    db: sqlite_utils.Database,
    week: str,
    outcome: Outcome,
    keys: dict[str, str],
    recipients: list[str],
    *,
    email_id: int | None,
    new_email=None,
) -> int | None:
    """Record, in one transaction, what the server answered for each recipient:
    accepted (with the email), refused for good (5xx, or a 4xx for the
    `MAX_DEFERRALS`th time) or for now (4xx: deferred, retried by the next run).
    `new_email()` inserts this week's `emails_sent` row when the first recipient
    is accepted; returns the email's id (None while no one has it)."""
    stamp = now()
    with db.conn:
        if outcome.accepted:
            if email_id is None:
                email_id = new_email(len(outcome.accepted))
            else:
                db.conn.execute("update emails_sent set recipients = coalesce(recipients, 0) + ? where id = ?",
                                [len(outcome.accepted), email_id])
        previous = recipient_states(db, week)
        rows = []
        for address in outcome.accepted:
            attempts = (previous.get(keys[address]) or {}).get("attempts") or 0
            rows.append((week, keys[address], "accepted", attempts, None, None, email_id, stamp))
        for address, (code, reply) in outcome.refused.items():
            attempts = (previous.get(keys[address]) or {}).get("attempts") or 0
            if 500 <= code < 600:
                status = "refused"
            else:  # 4xx (or an odd answer): for now, a bounded number of times
                attempts += 1
                status = "refused" if attempts >= MAX_DEFERRALS else "deferred"
            rows.append((week, keys[address], status, attempts, code, _scrub(reply, recipients), email_id, stamp))
        db.conn.executemany(
            "insert into email_recipients (week, recipient, status, attempts, code, reply, email_id, updated_at) "
            "values (?, ?, ?, ?, ?, ?, ?, ?) on conflict (week, recipient) do update set status = excluded.status, "
            "attempts = excluded.attempts, code = excluded.code, reply = excluded.reply, "
            "email_id = excluded.email_id, updated_at = excluded.updated_at",
            rows,
        )
        if email_id is not None:  # the message is kept only while someone is still to get it
            db.conn.execute(
                "update emails_sent set message = null where id = ? and not exists "
                "(select 1 from email_recipients where email_id = ? and status = 'deferred')",
                [email_id, email_id],
            )
    return email_id


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
    to the recipients who have not had it (all of them with `force`), write it to
    `outbox` instead with `dry_run`. A recipient refused for now this week gets
    the same message the others got. Returns what happened, in words (with a
    warning line for each refused recipient); raises MailError when no recipient
    got it (the run is then recorded as failed)."""
    when = when or datetime.now(timezone.utc)
    week = iso_week(when)
    run_id = start_run(db, command="email", source="dry-run" if dry_run else "smtp", source_detail=f"week {week}")
    counts = Counts()
    settings = replace(settings, recipients=unique_recipients(settings.recipients))
    recipients = settings.recipients
    if dry_run:
        weekly = build_weekly(db, when)
        counts.found = counts.new = len(weekly.new)
        if weekly.empty and skip_empty:
            finish_run(db, run_id, counts)
            return f"Nothing new for {week}; skipped as configured (last update: {weekly.health['last_ok'] or 'never'})."
        msg = compose(weekly, settings, when=when)
        path = write_eml(msg, outbox, week)
        finish_run(db, run_id, counts)
        return f"Dry run: {msg['Subject']}\nWritten to {path} (not sent, not recorded)."

    salt = recipient_salt(db)
    keys = {address: recipient_key(salt, address) for address in recipients}
    states = recipient_states(db, week)
    sent = already_sent(db, week)

    def state(address: str) -> str | None:
        return (states.get(keys[address]) or {}).get("status")

    if force:
        pending = recipients
    elif sent is None:  # no one has this week's email yet: all but those refused for good
        pending = [a for a in recipients if state(a) not in ("accepted", "refused")]
    else:  # sent: only those refused for now (a week sent before recipients were tracked went to all)
        pending = [a for a in recipients if state(a) == "deferred"]
    def refused_notes(states: dict[str, dict], skip: list[str]) -> list[str]:
        """Recipients refused for good earlier this week (the reply as the ledger keeps it)."""
        return [
            f"{a} was refused this week ({states[keys[a]]['code']} {states[keys[a]]['reply']}); not retried."
            for a in recipients if a not in skip and (states.get(keys[a]) or {}).get("status") == "refused"
        ]

    if not pending and recipients:
        finish_run(db, run_id, counts)
        if sent:
            head = f"The digest for {week} was already sent at {sent['sent_at']}; nothing sent (use --force to send again)."
        else:
            head = f"Nothing sent for {week}: the server refused every recipient this week (use --force to try again)."
        return "\n".join([head, *refused_notes(states, [])])

    retry = sent if sent is not None and not force else None
    if retry is not None and retry["message"]:  # the very message the others got, same Message-ID
        msg = message_from_bytes(retry["message"], policy=email_policy.default)
        msg["To"] = UNDISCLOSED
        weekly = None
    else:
        weekly = build_weekly(db, when)
        counts.found = counts.new = len(weekly.new)
        if weekly.empty and skip_empty and retry is None:
            finish_run(db, run_id, counts)
            return f"Nothing new for {week}; skipped as configured (last update: {weekly.health['last_ok'] or 'never'})."
        msg = compose(weekly, settings, when=when)
    email_id = retry["id"] if retry is not None else None

    def new_email(accepted: int) -> int:
        return record(db, weekly, msg, accepted=accepted, forced=force)

    def on_answer(outcome: Outcome) -> None:
        nonlocal email_id
        email_id = record_answers(db, week, outcome, keys, recipients, email_id=email_id, new_email=new_email)

    try:
        outcome = send(msg, settings, pending, on_answer=on_answer)
    except MailError as e:
        finish_run(db, run_id, counts, error=_scrub(str(e), recipients))
        raise
    after = recipient_states(db, week)
    warnings = []
    for address, (code, reply) in outcome.refused.items():
        row = after[keys[address]]
        if row["status"] == "deferred":
            warnings.append(f"{address} was refused for now ({code} {reply}): the next run tries again "
                            f"(attempt {row['attempts']} of {MAX_DEFERRALS}).")
        elif 500 <= code < 600:
            warnings.append(f"{address} was refused ({code} {reply}): recorded, not retried this week; check DIGEST_TO.")
        else:
            warnings.append(f"{address} was refused for now ({code} {reply}) {row['attempts']} times: "
                            f"gave up for this week.")
    if outcome.warning:
        warnings.append(f"{outcome.warning}; it was delivered and is recorded.")
    counts.problems.extend((None, _scrub(w, recipients)) for w in warnings)
    if not outcome.accepted and email_id is None:  # no one has this week's email
        error = "the server accepted no recipient: " + "; ".join(w.rstrip(".") for w in warnings)
        finish_run(db, run_id, counts, error=_scrub(error, recipients))
        raise MailError(error, recorded=True)
    finish_run(db, run_id, counts)
    had = (db.execute("select recipients from emails_sent where id = ?", [email_id]).fetchone()[0] or 0) - len(outcome.accepted)
    line = f"Sent: {msg['Subject']} to {len(outcome.accepted)} recipient(s)."
    if not outcome.accepted:
        line = f"Nothing sent: this week's email ({msg['Subject']}) went to {had} recipient(s) already; the rest were refused again."
    elif retry is not None:
        line = f"Sent: {msg['Subject']} to {len(outcome.accepted)} recipient(s) (this week's email, retried; {had} had it already)."
    return "\n".join([line, *(f"Warning: {w}" for w in warnings), *refused_notes(after, pending)])
