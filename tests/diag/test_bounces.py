"""diag.bounces: RFC 3464 DSNs (the lab's 5.2.2 bounce, unknown user, DMARC, delays), non-standard
bounces through flufl.bounce, VERP tokens, and garbage that must never raise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diag.bounces import classify_status, parse_bounce_message


def dsn(
    *,
    status: str = "5.2.2",
    action: str = "failed",
    diagnostic: str = "smtp; 552 5.2.2 Mailbox full",
    to: str = "bounce+a1b2c3@platform.visma.com",
    original: str = "text/rfc822-headers",
    recipients: tuple[str, ...] = ("kari@kunde-sprett.example",),
) -> bytes:
    blocks = "".join(
        f"\r\nFinal-Recipient: rfc822; {r}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Remote-MTA: dns; mx.kunde-sprett.example\r\nDiagnostic-Code: {diagnostic}\r\n"
        for r in recipients
    )
    quoted = (
        "From: do.not.reply@platform.visma.com\r\nTo: kari@kunde-sprett.example\r\n"
        "Message-ID: <reset-123@platform.visma.com>\r\nSubject: Tilbakestill passord\r\n"
    )
    if original == "message/rfc822":
        quoted += "\r\nHei Kari\r\n"
    return (
        "From: MAILER-DAEMON@mx.kunde-sprett.example\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.kunde-sprett.example\r\n"
        "Arrival-Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
        f"{blocks}"
        f"\r\n--b1\r\nContent-Type: {original}\r\n\r\n{quoted}"
        "--b1--\r\n"
    ).encode()


def test_rfc3464_mailbox_full() -> None:
    result = parse_bounce_message(dsn())
    assert result.is_bounce
    assert result.standard
    assert result.original_message_id == "<reset-123@platform.visma.com>"
    assert result.verp_token == "a1b2c3"
    assert result.reporting_mta == "mx.kunde-sprett.example"
    assert result.action == "failed"
    assert result.status == "5.2.2"
    assert result.reason == "mailbox_full"
    recipient = result.recipients[0]
    assert recipient.address == "kari@kunde-sprett.example"
    assert recipient.diagnostic == "552 5.2.2 Mailbox full"
    assert recipient.remote_mta == "mx.kunde-sprett.example"
    assert [f.code for f in result.findings] == ["bounce.mailbox_full"]
    assert result.findings[0].severity == "error"
    data = result.to_dict()
    assert data["reason"] == "mailbox_full"
    assert data["recipients"][0]["status"] == "5.2.2"


def test_whole_original_message() -> None:
    result = parse_bounce_message(dsn(original="message/rfc822"))
    assert result.original_message_id == "<reset-123@platform.visma.com>"


@pytest.mark.parametrize(
    ("status", "diagnostic", "reason"),
    [
        ("5.1.1", "smtp; 550 5.1.1 User unknown", "unknown_user"),
        ("5.7.1", "smtp; 550 5.7.1 Sender blocked by policy", "sender_blocked"),
        ("5.7.26", "smtp; 550 5.7.26 Unauthenticated email (DMARC)", "dmarc_rejected"),
        ("5.7.1", "smtp; 550 5.7.1 Message rejected as spam", "spam_rejected"),
        ("5.1.2", "smtp; 550 5.1.2 Host not found", "domain_not_found"),
        ("5.4.4", "X-Postfix; Host or domain name not found", "domain_not_found"),
        ("5.3.4", "smtp; 552 5.3.4 Message size exceeds fixed limit", "message_too_big"),
        ("5.0.0", "smtp; 550 Something else", "other"),
    ],
)
def test_reasons(status: str, diagnostic: str, reason: str) -> None:
    result = parse_bounce_message(dsn(status=status, diagnostic=diagnostic))
    assert result.reason == reason
    assert result.status == status


def test_delayed_dsn_is_a_warning() -> None:
    result = parse_bounce_message(
        dsn(status="4.7.1", action="delayed", diagnostic="smtp; 451 4.7.1 Greylisted")
    )
    assert result.reason == "greylisted"
    assert result.findings[0].severity == "warning"
    delayed = parse_bounce_message(
        dsn(status="4.4.1", action="delayed", diagnostic="smtp; connection timed out")
    )
    assert delayed.reason == "delayed"


def test_several_recipients_and_no_verp() -> None:
    result = parse_bounce_message(
        dsn(to="do.not.reply@platform.visma.com", recipients=("a@x.example", "b@x.example"))
    )
    assert [r.address for r in result.recipients] == ["a@x.example", "b@x.example"]
    assert result.verp_token == ""


EXIM = b"""From: Mail Delivery System <Mailer-Daemon@mail.example.net>
To: bounce+tok-42@connect.visma.com
Subject: Mail delivery failed: returning message to sender
X-Failed-Recipients: kari@kunde-ukjent.example
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  kari@kunde-ukjent.example
    host mx.kunde-ukjent.example [192.0.2.25]
    SMTP error from remote mail server after RCPT TO:<kari@kunde-ukjent.example>:
    550 5.1.1 <kari@kunde-ukjent.example>: Recipient address rejected: User unknown

------ This is a copy of the message, including all the headers. ------

Message-ID: <reset-9@connect.visma.com>
From: do.not.reply@connect.visma.com
"""


def test_non_standard_exim_bounce() -> None:
    result = parse_bounce_message(EXIM)
    assert result.is_bounce
    assert not result.standard
    assert [r.address for r in result.recipients] == ["kari@kunde-ukjent.example"]
    assert result.reason == "unknown_user"
    assert result.status == "5.1.1"
    assert result.verp_token == "tok-42"
    assert "550 5.1.1" in result.recipients[0].diagnostic


def test_ordinary_mail_is_not_a_bounce() -> None:
    result = parse_bounce_message(b"From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n")
    assert not result.is_bounce
    assert [f.code for f in result.findings] == ["bounce.not_a_bounce"]


def test_dsn_without_recipients_falls_back() -> None:
    raw = dsn().replace(b"Final-Recipient", b"X-Nothing")
    result = parse_bounce_message(raw)
    assert not result.standard


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe",
        b'Content-Type: multipart/report; boundary="x"\r\n\r\n--x\r\n',
        b"\r\n\r\n",
    ],
)
def test_garbage(raw: bytes) -> None:
    result = parse_bounce_message(raw)
    assert not result.is_bounce
    assert result.findings


def test_classify_status() -> None:
    assert classify_status("5.2.2") == "mailbox_full"
    assert classify_status("5.7.9", "listed on a blocklist") == "spam_rejected"
    assert classify_status("5.7.9") == "sender_blocked"
    assert classify_status("4.2.0", "greylisted") == "greylisted"
    assert classify_status("", "") == "other"


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    parse_bounce_message(raw).to_dict()


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=1200))
def test_mutated_dsn_never_raises(noise: bytes, at: int) -> None:
    raw = dsn()
    parse_bounce_message(raw[:at] + noise + raw[at:]).to_dict()


def test_recipient_blocks_are_bounded() -> None:
    many = tuple(f"u{i}@kunde.example" for i in range(150))
    result = parse_bounce_message(dsn(recipients=many))
    assert len(result.recipients) == 100
    assert result.recipients[0].address == "u0@kunde.example"


def test_a_message_with_very_many_parts_is_not_read_as_a_bounce() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + b"--b\r\nContent-Type: text/plain\r\n\r\nrcpt to:<a@b.example>\r\n" * 300
        + b"--b--\r\n"
    )
    result = parse_bounce_message(raw)
    assert not result.is_bounce
