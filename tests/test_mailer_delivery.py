"""Issue 10, item 6: never two copies of one week's email to a recipient.

A real SMTP server on 127.0.0.1 (aiosmtpd) whose handler refuses a recipient
(550, or 4xx for a while), answers QUIT with 421, or drops the connection;
every copy is counted at the server, per recipient, across re-runs."""

from __future__ import annotations

import email
import email.policy
from collections import Counter

import pytest
import sqlite_utils
from aiosmtpd.controller import Controller

from conftest import closed_port
from test_mailer import send

A, B, C = "a@example.org", "b@example.org", "c@example.org"


class Server:
    """An SMTP handler that counts, per recipient, the copies it accepted and the RCPTs it saw."""

    def __init__(self):
        self.copies: Counter[str] = Counter()
        self.rcpts: Counter[str] = Counter()
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.refuse: dict[str, str] = {}  # address -> RCPT reply, every time
        self.refuse_times: dict[str, tuple[int, str]] = {}  # address -> (how many more times, reply)
        self.drop_at_data = 0  # drop the connection at the next n DATA, before answering (nothing accepted)
        self.quit_reply: str | None = None  # e.g. "421 ...", or "drop" to close without a reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpts[address] += 1
        if address in self.refuse:
            return self.refuse[address]
        times, reply = self.refuse_times.get(address, (0, ""))
        if times:
            self.refuse_times[address] = (times - 1, reply)
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.drop_at_data:
            self.drop_at_data -= 1
            server.transport.abort()  # the message never got its 250: not accepted, not delivered
            return "451 never seen by the client"
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))
        self.copies.update(envelope.rcpt_tos)
        return "250 OK: queued"

    async def handle_QUIT(self, server, session, envelope):
        if self.quit_reply == "drop":
            server.transport.abort()
            return "221 never seen by the client"
        return self.quit_reply or "221 Bye"


@pytest.fixture
def server(monkeypatch):
    handler = Server()
    port = closed_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("DIGEST_FROM", "digest@example.org")
    monkeypatch.setenv("DIGEST_TO", f"{A}, {B}, {C}")
    for var in ("SMTP_USER", "SMTP_PASSWORD", "SMTP_STARTTLS", "SMTP_SSL", "DIGEST_SKIP_EMPTY", "DIGEST_URL",
                "DIGEST_UNSUBSCRIBE"):
        monkeypatch.delenv(var, raising=False)
    yield handler
    controller.stop()


def ledger(db_path):
    return sqlite_utils.Database(db_path)


def statuses(db_path) -> Counter:
    return Counter(r["status"] for r in ledger(db_path)["email_recipients"].rows)


def dump(db_path) -> str:
    return "\n".join(ledger(db_path).conn.iterdump())


@pytest.mark.reliability("email", "550 on one recipient at RCPT, three runs")
def test_one_refused_recipient_the_others_get_exactly_one_copy_and_it_is_not_retried(server, loaded):
    """The others get exactly one copy; the refused address is named in the output,
    recorded as refused (a keyed hash, not the address) and not tried again that week."""
    server.refuse[C] = "550 5.1.1 <c@example.org>: no such user"
    results = [send(loaded) for _ in range(3)]
    assert server.copies == Counter({A: 1, B: 1})
    assert server.rcpts[C] == 1  # a permanent refusal is not tried again this week
    first = results[0]
    assert first.exit_code == 0, first.output
    assert C in first.output and "550" in first.output and "refused" in first.output
    for again in results[1:]:
        assert again.exit_code == 0, again.output
        assert "already sent" in again.output and C in again.output and "refused" in again.output
    db = ledger(loaded)
    (row,) = db["emails_sent"].rows
    assert row["recipients"] == 2
    assert statuses(loaded) == Counter({"accepted": 2, "refused": 1})
    (refused,) = db["email_recipients"].rows_where("status = 'refused'")
    assert refused["code"] == 550 and refused["email_id"] == row["id"] and "no such user" in refused["reply"]
    # the run says what happened; the addresses themselves are never stored
    (run, *_) = db["runs"].rows_where("command = 'email'", order_by="id")
    assert run["status"] == "ok"
    assert [p["reason"] for p in db["run_problems"].rows_where("run_id = ?", [run["id"]])][0].startswith("recipient 3 of 3")
    stored = dump(loaded)
    assert A not in stored and B not in stored and C not in stored


@pytest.mark.parametrize("quit_reply", ["421 4.3.2 shutting down", "drop"])
@pytest.mark.reliability("email", "421 at QUIT, or the connection dropped, after DATA got its 250; three runs")
def test_a_421_or_a_dropped_connection_at_quit_after_data_was_accepted_counts_as_sent(server, loaded, quit_reply):
    """One copy each: the delivery is recorded before QUIT, the run exits 0 with a
    warning, and the next runs say the week was already sent."""
    server.quit_reply = quit_reply
    results = [send(loaded) for _ in range(3)]
    assert server.copies == Counter({A: 1, B: 1, C: 1})
    assert [r.exit_code for r in results] == [0, 0, 0], results[0].output
    assert "Sent:" in results[0].output and "to 3 recipient(s)" in results[0].output
    if quit_reply != "drop":
        assert "421" in results[0].output  # told, as a warning, not as a failure
    assert all("already sent" in r.output for r in results[1:])
    (row,) = ledger(loaded)["emails_sent"].rows
    assert row["recipients"] == 3
    assert statuses(loaded) == Counter({"accepted": 3})


@pytest.mark.reliability("email", "connection dropped at DATA, before the 250")
def test_a_connection_dropped_before_data_was_accepted_records_nothing_and_the_next_run_sends_once(server, loaded):
    """The run exits 1 and records nothing; the next run sends exactly one copy to each."""
    server.drop_at_data = 1
    failed = send(loaded)
    assert failed.exit_code == 1 and "nothing recorded" in failed.output
    assert server.copies == Counter()
    assert ledger(loaded)["emails_sent"].count == 0
    assert [send(loaded).exit_code for _ in range(2)] == [0, 0]
    assert server.copies == Counter({A: 1, B: 1, C: 1})
    assert ledger(loaded)["emails_sent"].count == 1


@pytest.mark.reliability("email", "connection dropped while retrying a recipient refused for now")
def test_a_drop_while_retrying_a_deferred_recipient_resends_to_no_one_else(server, loaded):
    """Only that recipient is retried, once more on the next run; the others never get a second copy."""
    server.refuse_times[B] = (1, "451 4.7.1 greylisted, try again later")
    assert send(loaded).exit_code == 0
    assert server.copies == Counter({A: 1, C: 1})
    server.drop_at_data = 1  # the retry for B dies before its DATA is accepted
    assert send(loaded).exit_code == 1
    assert server.copies == Counter({A: 1, C: 1})
    assert send(loaded).exit_code == 0
    assert send(loaded).exit_code == 0
    assert server.copies == Counter({A: 1, B: 1, C: 1})


@pytest.mark.reliability("email", "451 on one recipient at RCPT, once")
def test_a_temporary_refusal_is_retried_on_the_next_run_and_delivered_once(server, loaded):
    """The next run retries only that recipient, with the very message the others got
    (same Message-ID); one copy each."""
    server.refuse_times[B] = (1, "451 4.7.1 greylisted, try again later")
    first = send(loaded)
    assert first.exit_code == 0, first.output
    assert B in first.output and "451" in first.output and "next run" in first.output
    assert server.copies == Counter({A: 1, C: 1})
    assert statuses(loaded) == Counter({"accepted": 2, "deferred": 1})
    (row,) = ledger(loaded)["emails_sent"].rows  # kept for the retry, without the addresses
    assert row["message"] and not any(a.encode() in row["message"] for a in (A, B, C))
    second = send(loaded)
    assert second.exit_code == 0, second.output
    assert send(loaded).exit_code == 0
    assert server.copies == Counter({A: 1, B: 1, C: 1})
    assert server.rcpts[A] == 1 and server.rcpts[B] == 2
    # B got the same message as the others, not a second week's "nothing new"
    (_, first_msg), (rcpts, retry_msg) = server.messages
    assert rcpts == [B]
    assert retry_msg["Message-ID"] == first_msg["Message-ID"] and retry_msg["Subject"] == first_msg["Subject"]
    assert retry_msg.get_body(("plain",)).get_content() == first_msg.get_body(("plain",)).get_content()
    assert statuses(loaded) == Counter({"accepted": 3})
    (row,) = ledger(loaded)["emails_sent"].rows
    assert row["recipients"] == 3 and row["message"] is None  # no one left to retry: not kept
    assert B not in dump(loaded)


@pytest.mark.reliability("email", "452 on one recipient at RCPT, every time")
def test_a_temporary_refusal_is_retried_a_bounded_number_of_times(server, loaded):
    """Tried on MAX_DEFERRALS runs, then recorded as refused and reported; never retried forever."""
    from pipeline.mailer import MAX_DEFERRALS

    server.refuse[B] = "452 4.2.2 mailbox full"
    results = [send(loaded) for _ in range(MAX_DEFERRALS + 2)]
    assert server.rcpts[B] == MAX_DEFERRALS
    assert server.copies == Counter({A: 1, C: 1})
    assert all(r.exit_code == 0 for r in results), [r.output for r in results]
    assert "gave up" in results[MAX_DEFERRALS - 1].output and B in results[MAX_DEFERRALS - 1].output
    assert statuses(loaded) == Counter({"accepted": 2, "refused": 1})


@pytest.mark.reliability("email", "every recipient refused at RCPT (550, 550, 451)")
def test_every_recipient_refused_fails_the_run_and_permanent_refusals_are_not_retried(server, loaded):
    """The run exits 1 naming each; the 550s are not retried that week, the 451 is, and gets one copy."""
    server.refuse = {A: "550 no", B: "550 no", C: "451 later"}
    failed = send(loaded)
    assert failed.exit_code == 1
    assert A in failed.output and "550" in failed.output and "451" in failed.output
    assert ledger(loaded)["emails_sent"].count == 0
    server.refuse = {}
    assert send(loaded).exit_code == 0
    assert server.copies == Counter({C: 1})
    assert server.rcpts == Counter({A: 1, B: 1, C: 2})


def test_an_address_listed_twice_gets_one_copy(server, loaded, monkeypatch):
    monkeypatch.setenv("DIGEST_TO", f"{A}, {B}, A@Example.org ")
    assert send(loaded).exit_code == 0
    assert sum(server.copies.values()) == 2 and server.rcpts[A] + server.rcpts["A@Example.org"] == 1


def test_a_week_sent_before_recipients_were_tracked_is_still_sent(server, loaded):
    """A database whose ledger has only the old per-week row: that week went to everyone."""
    from datetime import datetime, timezone

    from pipeline.mailer import iso_week

    db = ledger(loaded)
    db["emails_sent"].insert({"week": iso_week(datetime.now(timezone.utc)), "sent_at": "2026-01-01T00:00:00+00:00",
                              "subject": "old", "recipients": 3, "forced": 0})
    result = send(loaded)
    assert result.exit_code == 0 and "already sent" in result.output
    assert server.copies == Counter()


def test_force_sends_again_to_everyone_once(server, loaded):
    server.refuse_times[B] = (1, "451 later")
    assert send(loaded).exit_code == 0
    assert send(loaded, "--force").exit_code == 0
    assert server.copies == Counter({A: 2, B: 1, C: 2})
    assert send(loaded).exit_code == 0
    assert server.copies == Counter({A: 2, B: 1, C: 2})
    assert [r["forced"] for r in ledger(loaded)["emails_sent"].rows] == [0, 1]
