"""DSN building and bounce intake: RFC 3464 reports, a non-standard bounce, VERP, late bounces."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
from email.message import Message
from email.policy import compat32

import aiosmtplib
import pytest

from smtp_sink import (
    USER_UNKNOWN,
    Action,
    BounceParseError,
    BounceReport,
    Policy,
    PolicyBook,
    SinkServer,
    SinkStore,
    bounce_token,
    build_dsn,
    parse_bounce,
    smtp_deliverer,
)
from tests.smtp_sink.helpers import message


async def send_null(port: int, raw: bytes, rcpt: str) -> None:
    """Send with the null reverse-path (aiosmtplib.send refuses an empty sender)."""
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as client:
        await client.sendmail("", [rcpt], raw)


ORIGINAL = message("Tilbakestill passordet ditt", Message_ID="<reset-42@platform.visma.com>")

QMAIL_BOUNCE = b"""From: MAILER-DAEMON@mx.kunde.example\r
To: bounce+q77@platform.visma.com\r
Subject: failure notice\r
Date: Thu, 26 Nov 2026 10:00:00 +0000\r
\r
Hi. This is the qmail-send program at mx.kunde.example.\r
I'm afraid I wasn't able to deliver your message to the following addresses.\r
This is a permanent error; I've given up. Sorry it didn't work out.\r
\r
<kari@kunde-ukjent.example>:\r
192.0.2.5 does not like recipient.\r
Remote host said: 550 5.1.1 <kari@kunde-ukjent.example>: User unknown\r
Giving up on 192.0.2.5.\r
\r
--- Below this line is a copy of the message.\r
\r
Message-ID: <reset-43@platform.visma.com>\r
Subject: Tilbakestill passordet ditt\r
\r
Hei\r
"""


def test_build_dsn_is_rfc3464() -> None:
    now = dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC)
    dsn = build_dsn(
        ORIGINAL,
        reporting_mta="mx.kunde-sprett.example",
        recipient="kari@kunde-sprett.example",
        envelope_sender="bounce+t1@platform.visma.com",
        arrival=now,
        now=now,
    )
    parsed = email.message_from_bytes(dsn, policy=compat32)
    assert parsed.get_content_type() == "multipart/report"
    assert parsed.get_param("report-type") == "delivery-status"
    assert parsed["To"] == "bounce+t1@platform.visma.com"
    parts = parsed.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    per_message, per_recipient = parts[1].get_payload()
    assert per_message["Reporting-MTA"] == "dns; mx.kunde-sprett.example"
    assert per_recipient["Original-Recipient"] == "rfc822; kari@kunde-sprett.example"
    assert per_recipient["Final-Recipient"] == "rfc822; kari@kunde-sprett.example"
    assert per_recipient["Action"] == "failed"
    assert per_recipient["Status"] == "5.2.2"
    assert per_recipient["Diagnostic-Code"] == "smtp; 552 5.2.2 Mailbox full"
    headers = parts[2].get_payload(decode=True)
    assert b"Message-ID: <reset-42@platform.visma.com>" in headers
    assert b"Hello there." not in headers  # headers only, no body
    assert b"\r\n" in dsn
    assert b"\n\n" not in dsn.replace(b"\r\n", b"")


def test_parse_own_dsn() -> None:
    dsn = build_dsn(
        ORIGINAL,
        reporting_mta="mx.kunde-ukjent.example",
        recipient="kari@kunde-ukjent.example",
        envelope_sender="bounce+t2@platform.visma.com",
        reply=USER_UNKNOWN,
    )
    report = parse_bounce(dsn, verp_token="t2")
    assert report == BounceReport(
        original_message_id="<reset-42@platform.visma.com>",
        verp_token="t2",
        failed_recipients=("kari@kunde-ukjent.example",),
        status="5.1.1",
        action="failed",
        diagnostic="550 5.1.1 User unknown",
        reporting_mta="mx.kunde-ukjent.example",
        kind="rfc3464",
    )


def test_parse_non_standard_bounce() -> None:
    report = parse_bounce(QMAIL_BOUNCE, verp_token="q77")
    assert report is not None
    assert report.kind == "heuristic"
    assert report.failed_recipients == ("kari@kunde-ukjent.example",)
    assert report.status == "5.1.1"
    assert report.action == "failed"
    assert "User unknown" in report.diagnostic
    assert report.original_message_id == "<reset-43@platform.visma.com>"
    assert report.verp_token == "q77"


def test_not_a_bounce() -> None:
    assert parse_bounce(ORIGINAL) is None
    assert parse_bounce(bytes(range(256)) * 8) is None
    with pytest.raises(BounceParseError):
        parse_bounce(b"  \r\n")


def test_bounce_token() -> None:
    patterns = ("bounce+*@platform.visma.com", "bounces@connect.visma.com")
    assert bounce_token("bounce+abc.123@platform.visma.com", patterns) == "abc.123"
    assert bounce_token("BOUNCE+X@Platform.Visma.com", patterns) == "x"
    assert bounce_token("bounces@connect.visma.com", patterns) == ""
    assert bounce_token("kari@platform.visma.com", patterns) is None


async def test_bounce_intake_over_smtp(run_sink, store: SinkStore) -> None:
    reports: list[BounceReport] = []

    async def on_bounce(report: BounceReport) -> None:
        reports.append(report)

    dsn = build_dsn(
        ORIGINAL,
        reporting_mta="mx.other.example",
        recipient="kari@other.example",
        envelope_sender="bounce+v99@platform.visma.com",
    )
    async with run_sink(
        on_bounce=on_bounce, bounce_addresses=("bounce+*@platform.visma.com",)
    ) as sink:
        for raw, rcpt in (
            (dsn, "bounce+v99@platform.visma.com"),
            (QMAIL_BOUNCE, "bounce+q77@platform.visma.com"),
            (ORIGINAL, "kari@kunde-ok.example"),
        ):
            await send_null(sink.port, raw, rcpt)
    assert [(r.verp_token, r.kind, r.failed_recipients) for r in reports] == [
        ("v99", "rfc3464", ("kari@other.example",)),
        ("q77", "heuristic", ("kari@kunde-ukjent.example",)),
    ]
    assert store.count() == 3  # bounces are stored too, in the bounce mailbox
    assert store.list(to="bounce+v99@platform.visma.com")[0].mail_from == ""


async def test_accept_then_bounce_comes_back_into_the_sink(run_sink, store: SinkStore) -> None:
    reports: list[BounceReport] = []
    got = asyncio.Event()
    holder: list[SinkServer] = []

    async def on_bounce(report: BounceReport) -> None:
        reports.append(report)
        got.set()

    async def deliver(dsn: bytes, mail_from: str = "", rcpt: str = "") -> None:
        await smtp_deliverer("127.0.0.1", holder[0].port)(dsn, mail_from=mail_from, rcpt=rcpt)

    book = PolicyBook()
    book.set_domain(
        "kunde-sprett.example", Policy(action=Action.ACCEPT_THEN_BOUNCE, bounce_delay=0.1)
    )
    async with run_sink(
        policies=book,
        deliver=deliver,
        on_bounce=on_bounce,
        bounce_addresses=("bounce+*@platform.visma.com",),
    ) as sink:
        holder.append(sink)
        _, reply = await aiosmtplib.send(
            ORIGINAL,
            sender="bounce+tok42@platform.visma.com",
            recipients=["kari@kunde-sprett.example"],
            hostname="127.0.0.1",
            port=sink.port,
            start_tls=False,
        )
        assert reply.startswith("2.0.0")
        assert reports == []  # accepted first
        await asyncio.wait_for(got.wait(), 5)
    (report,) = reports
    assert report.verp_token == "tok42"
    assert report.status == "5.2.2"
    assert report.failed_recipients == ("kari@kunde-sprett.example",)
    assert report.original_message_id == "<reset-42@platform.visma.com>"
    assert report.reporting_mta == "sink.test"
    accepted = store.list(to="kari@kunde-sprett.example")
    assert len(accepted) == 1
    (bounce,) = store.list(to="bounce+tok42@platform.visma.com")
    assert bounce.mail_from == ""
    assert b"Status: 5.2.2" in bounce.raw


async def test_no_bounce_for_null_sender_and_no_deliver(run_sink, store: SinkStore) -> None:
    delivered: list[bytes] = []

    async def deliver(dsn: bytes, mail_from: str = "", rcpt: str = "") -> None:
        delivered.append(dsn)

    book = PolicyBook(default=Policy(action=Action.ACCEPT_THEN_BOUNCE, bounce_delay=0.0))
    async with run_sink(policies=book, deliver=deliver) as sink:
        await send_null(sink.port, ORIGINAL, "a@b.example")
        await aiosmtplib.send(
            ORIGINAL,
            sender="x@y.example",
            recipients=["a@b.example"],
            hostname="127.0.0.1",
            port=sink.port,
            start_tls=False,
        )
        for _ in range(50):
            if delivered:
                break
            await asyncio.sleep(0.02)
    assert len(delivered) == 1
    parsed: Message = email.message_from_bytes(delivered[0], policy=compat32)
    assert parsed["To"] == "x@y.example"


async def test_failing_callbacks_never_cost_the_message(run_sink, store: SinkStore, caplog) -> None:
    calls: list[str] = []

    async def on_bounce(report: BounceReport) -> None:
        calls.append("on_bounce")
        raise RuntimeError("delivery log is down")

    async def deliver(dsn: bytes, mail_from: str = "", rcpt: str = "") -> None:
        calls.append("deliver")
        raise OSError("relay unreachable")

    book = PolicyBook(default=Policy(action=Action.ACCEPT_THEN_BOUNCE, bounce_delay=0.0))
    async with run_sink(
        policies=book,
        deliver=deliver,
        on_bounce=on_bounce,
        bounce_addresses=("bounce+*@platform.visma.com",),
    ) as sink:
        await send_null(sink.port, QMAIL_BOUNCE, "bounce+q77@platform.visma.com")
        await aiosmtplib.send(
            ORIGINAL,
            sender="x@y.example",
            recipients=["a@b.example"],
            hostname="127.0.0.1",
            port=sink.port,
            start_tls=False,
        )
        for _ in range(50):
            if "deliver" in calls:
                break
            await asyncio.sleep(0.02)
    assert calls == ["on_bounce", "deliver"]
    assert store.count() == 2
    assert "sink.bounce_intake_failed" in caplog.text
    assert "sink.bounce_failed" in caplog.text


async def test_pending_bounce_without_deliver_is_dropped(run_sink, store, caplog) -> None:
    book = PolicyBook(default=Policy(action=Action.ACCEPT_THEN_BOUNCE, bounce_delay=0.0))
    async with run_sink(policies=book) as sink:
        await aiosmtplib.send(
            ORIGINAL,
            sender="x@y.example",
            recipients=["a@b.example"],
            hostname="127.0.0.1",
            port=sink.port,
            start_tls=False,
        )
        for _ in range(50):
            if "sink.bounce_dropped" in caplog.text:
                break
            await asyncio.sleep(0.02)
    assert "sink.bounce_dropped" in caplog.text
    assert store.count() == 1
