"""diag.bounces on vendor-shaped DSNs in tests/data/bounces (RFC 3464): the most specific
status code decides (Exim's ``Status: 5.0.0`` beside ``550 5.1.1``; the basic reply code only
without any enhanced code), and Exchange Online's ``550 5.4.1 Recipient address rejected:
Access denied`` is read with Microsoft's documented meaning, not RFC 3463's X.4.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from diag.bounces import (
    EXCHANGE_DBEB_REFERENCE,
    classify,
    most_specific_status,
    parse_bounce_message,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "bounces"

# file -> (status, Status field as written, basic reply code, reason, how it was found)
MOST_SPECIFIC = {
    "exim-5.0.0-unknown-user.eml": ("5.1.1", "5.0.0", 550, "unknown_user", "status"),
    "exim-5.0.0-message-too-big.eml": ("5.3.4", "5.0.0", 552, "message_too_big", "status"),
    "exim-5.0.0-mailbox-full.eml": ("5.2.2", "5.0.0", 552, "mailbox_full", "status"),
    "exim-5.0.0-quota-no-enhanced.eml": ("5.0.0", "5.0.0", 552, "mailbox_full", "reply_code"),
    "exim-5.0.0-ip-in-text.eml": ("5.0.0", "5.0.0", 550, "other", "none"),
    "postfix-5.1.1.eml": ("5.1.1", "5.1.1", 550, "unknown_user", "status"),
    "postfix-5.0.0-550.eml": ("5.0.0", "5.0.0", 550, "other", "none"),
    "gmail-5.1.1-no-such-user.eml": ("5.1.1", "5.1.1", 550, "unknown_user", "status"),
    "gmail-5.0.0-over-quota.eml": ("5.2.2", "5.0.0", 552, "mailbox_full", "status"),
    "exchange-5.1.10-recipient-not-found.eml": (
        "5.1.10",
        "5.1.10",
        550,
        "unknown_user",
        "status",
    ),
}


@pytest.mark.parametrize("name", sorted(MOST_SPECIFIC), ids=lambda n: f"rfc3464[2.3.4]-{n}")
def test_the_most_specific_code_decides(name: str) -> None:
    status, written, reply_code, reason, meaning = MOST_SPECIFIC[name]
    result = parse_bounce_message((DATA / name).read_bytes())
    assert (result.is_bounce, result.standard) == (True, True)
    recipient = result.recipients[0]
    assert (recipient.status, recipient.dsn_status, recipient.reply_code) == (
        status,
        written,
        reply_code,
    )
    assert (result.status, result.reason, recipient.meaning) == (status, reason, meaning)
    assert [f.code for f in result.findings] == [f"bounce.{reason}"]
    assert result.findings[0].evidence["status"] == status
    assert result.original_message_id.startswith("<reset-")


@pytest.mark.parametrize(
    ("status", "diagnostic", "expected"),
    [
        ("5.0.0", "550 5.1.1 User unknown", "5.1.1"),
        ("5.1.0", "550 5.1.1 User unknown", "5.1.1"),
        ("5.1.1", "550 5.0.0 Rejected", "5.1.1"),
        ("5.2.2", "550 5.1.1 User unknown", "5.2.2"),
        ("", "550 5.7.1 Blocked", "5.7.1"),
        ("5.0.0", "451 4.7.1 Try again later", "5.0.0"),
        ("5.0.0", "550 rejected for 192.5.7.1", "5.0.0"),
        ("5.0.0", "550 see RFC 5.7.1.2", "5.0.0"),
        ("4.0.0", "452 4.2.2 Mailbox full, try later", "4.2.2"),
    ],
)
def test_most_specific_status(status: str, diagnostic: str, expected: str) -> None:
    assert most_specific_status(status, diagnostic) == expected


def test_basic_reply_code_only_without_an_enhanced_code() -> None:
    assert classify("5.0.0", "552 Mailbox quota exceeded", reply_code=552).reason == "mailbox_full"
    assert classify("5.3.4", "552 5.3.4 Too big", reply_code=552).reason == "message_too_big"
    assert classify("5.0.0", "550 Go away", reply_code=550).reason == "other"
    assert classify("4.0.0", "552 odd", reply_code=552).reason != "mailbox_full"


# file -> the recipient whose address the tenant does not have
EXCHANGE_DBEB = {
    "postfix-exchange-online-5.4.1.eml": "kari@kundeas.no",
    "exim-5.0.0-exchange-online-5.4.1.eml": "ola@kundeas.no",
    "exchange-online-5.4.1.eml": "per@kundeas.no",
}


@pytest.mark.parametrize("name", sorted(EXCHANGE_DBEB))
def test_exchange_online_5_4_1_is_a_wrong_address(name: str) -> None:
    result = parse_bounce_message((DATA / name).read_bytes())
    recipient = result.recipients[0]
    assert recipient.address == EXCHANGE_DBEB[name]
    assert (result.status, result.reason) == ("5.4.1", "unknown_user")
    assert recipient.meaning == "exchange_online_dbeb"
    finding = result.findings[0]
    assert finding.code == "bounce.unknown_user"
    assert finding.rfc == EXCHANGE_DBEB_REFERENCE
    assert "5.4.1" in finding.rfc
    assert "Exchange Online" in finding.rfc
    assert finding.evidence["meaning"] == "exchange_online_dbeb"


def test_other_5_4_1_keeps_its_rfc_3463_reading() -> None:
    result = parse_bounce_message((DATA / "postfix-5.4.1-relay-access-denied.eml").read_bytes())
    assert result.status == "5.4.1"
    assert result.reason != "unknown_user"
    assert result.recipients[0].meaning != "exchange_online_dbeb"
    assert "5.4.1" not in result.findings[0].rfc
    assert classify("5.4.1", "451 4.4.1 No answer from host").reason == "other"
    assert classify("4.4.1", "451 4.4.1 No answer from host").reason == "delayed"
