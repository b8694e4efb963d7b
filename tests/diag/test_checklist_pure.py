"""The checklist's pure parts: the header and bounce readers, and items built from evidence
values without any network."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diag.checklist import (
    AUDIENCE_ITEMS,
    ITEM_KEYS,
    AccountFacts,
    ChecklistItem,
    Evidence,
    ProbeOptions,
    ProbeResult,
    SmtpReply,
    build_checklist,
    checklist_from_evidence,
    parse_smtp_reply,
    probe_recipient,
    read_bounce,
    read_spam_verdict,
    split_address,
)
from diag.mx import MxHost, MxReport
from diag.resolver import Answer, MemoryResolver
from diag.testsend import TestSendResult

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
SENDERS = ("do.not.reply@platform.visma.com", "do.not.reply@connect.visma.com")

M365_JUNK = (
    b"Received: from mail.example by outlook.example; Thu, 26 Nov 2026 10:00:00 +0000\r\n"
    b"X-MS-Exchange-Organization-SCL: 5\r\n"
    b"X-Forefront-Antispam-Report: CIP:198.51.100.10;CTRY:NO;LANG:nb;SCL:5;SRV:;\r\n"
    b" IPV:NLI;SFV:SPM;H:mail.example;PTR:;CAT:SPM;SFS:;DIR:INB;\r\n"
    b"From: do.not.reply@platform.visma.com\r\n\r\n"
)
DSN = (
    b"From: MAILER-DAEMON@mx.example\r\n"
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
    b"Reporting-MTA: dns; mx.example\r\n\r\n"
    b"Final-Recipient: rfc822; kari@kunde-sprett.example\r\n"
    b"Action: failed\r\nStatus: 5.2.2\r\n"
    b"Remote-MTA: dns; sink.example\r\n"
    b"Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\r\n--b--\r\n"
)


def mx(domain: str = "kunde-ok.example", provider: str = "generic") -> MxReport:
    host = MxHost(f"mx.{domain}", 10, ("192.0.2.25",))
    return MxReport(domain, (host,), provider=provider)


def evidence(**kwargs: object) -> Evidence:
    values: dict[str, object] = {
        "address": "kari@kunde-ok.example",
        "audience": "support",
        "now": NOW,
        "sender_addresses": SENDERS,
        "mx": mx(),
    }
    values.update(kwargs)
    return Evidence(**values)  # type: ignore[arg-type]


def test_microsoft_junk_verdict() -> None:
    verdict = read_spam_verdict(M365_JUNK)
    assert (verdict.folder, verdict.reason, verdict.system) == ("junk", "spam_filter", "microsoft")
    assert verdict.details["verdicts"][0]["score"] == 5


@pytest.mark.parametrize(
    ("headers", "folder", "system"),
    [
        (
            b"X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=7.1 required=5.0\r\n\r\n",
            "junk",
            "spamassassin",
        ),
        (b"X-Spam-Status: No, score=0.3 required=5.0 tests=none\r\n\r\n", "inbox", "spamassassin"),
        (b"X-Rspamd-Action: add header\r\n\r\n", "junk", "rspamd"),
        (b"X-MS-Exchange-Organization-SCL: -1\r\n\r\n", "inbox", "microsoft"),
        (b"Subject: hello\r\n\r\n", "unknown", ""),
        (b"\xff\xfe garbage without colon\r\n", "unknown", ""),
    ],
)
def test_other_verdicts(headers: bytes, folder: str, system: str) -> None:
    verdict = read_spam_verdict(headers)
    assert (verdict.folder, verdict.system) == (folder, system)


def test_dsn_is_read() -> None:
    facts = read_bounce(DSN)
    assert facts.is_dsn
    assert facts.permanent
    assert (facts.status, facts.action, facts.recipient) == (
        "5.2.2",
        "failed",
        "kari@kunde-sprett.example",
    )
    assert facts.reply == SmtpReply(552, "5.2.2", "Mailbox full")


def test_plain_text_bounce() -> None:
    facts = read_bounce(b"Delivery failed:\n  host mx said: 550 5.7.1 Sender blocked by policy\n")
    assert facts.status == "5.7.1"
    assert not facts.is_dsn
    assert parse_smtp_reply("nothing here") is None


def test_split_address() -> None:
    assert split_address(" Kari@Kunde-OK.example ") == ("Kari", "kunde-ok.example")
    for bad in ("kari", "@x.example", "kari@", "a b@x.example"):
        with pytest.raises(ValueError, match="address"):
            split_address(bad)


def test_audiences_see_their_items_in_order() -> None:
    for audience, keys in AUDIENCE_ITEMS.items():
        result = checklist_from_evidence(evidence(audience=audience))
        assert [i.key for i in result.items] == list(keys)
        assert list(keys) == [k for k in ITEM_KEYS if k in keys]


def test_pasted_junk_headers_make_spam_folder_a_problem() -> None:
    result = checklist_from_evidence(evidence(spam=read_spam_verdict(M365_JUNK)))
    item = result.item("spam.folder")
    assert item is not None
    assert item.status == "problem"
    assert item.evidence["system"] == "microsoft"


def test_no_headers_give_todo_advice_for_the_provider() -> None:
    result = checklist_from_evidence(evidence(mx=mx(provider="microsoft365")))
    item = result.item("spam.folder")
    assert item is not None
    assert item.status == "todo"
    assert item.evidence["provider"] == "microsoft365"
    block = result.item("recipient.blocks_sender")
    assert block is not None
    assert block.evidence["allowlist"]["steps"][0].startswith("m365.")
    assert list(block.evidence["allowlist"]["senders"]) == list(SENDERS)


def test_bounce_5_7_1_is_a_sender_block_and_5_2_2_is_not() -> None:
    blocked = read_bounce(b"Status: 5.7.1\nDiagnostic-Code: smtp; 550 5.7.1 blocked\n")
    result = checklist_from_evidence(evidence(bounce=blocked))
    assert result.item("recipient.blocks_sender").status == "problem"  # type: ignore[union-attr]
    full = checklist_from_evidence(evidence(bounce=read_bounce(DSN)))
    assert full.item("recipient.blocks_sender").status != "problem"  # type: ignore[union-attr]
    assert full.item("delivery.accepted").status == "problem"  # type: ignore[union-attr]


def test_probe_refusal_at_mail_from_is_a_block() -> None:
    probe = ProbeResult(SENDERS[0], "mx", "192.0.2.25", "mail", SmtpReply(554, "", "go away"))
    result = checklist_from_evidence(evidence(audience="self", probes=(probe,)))
    assert result.item("recipient.blocks_sender").status == "problem"  # type: ignore[union-attr]


def test_test_send_to_junk_fails_the_authentication_item() -> None:
    send = TestSendResult(
        "do.not.reply@legacy.visma.example",
        "kari@kunde-ok.example",
        "permerror",
        "fail",
        "fail",
        "quarantine",
        False,
        "junk",
    )
    result = checklist_from_evidence(evidence(test_sends=(send,)))
    assert result.item("sender.authentication").status == "problem"  # type: ignore[union-attr]
    assert result.item("spam.folder").status == "problem"  # type: ignore[union-attr]


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="status"):
        ChecklistItem("spam.folder", "fine")


async def test_bad_audience_and_address_raise() -> None:
    resolver = MemoryResolver({})
    with pytest.raises(ValueError, match="audience"):
        await build_checklist("kari@x.example", audience="boss", resolver=resolver, senders=())
    with pytest.raises(ValueError, match="address"):
        await build_checklist("nope", audience="self", resolver=resolver, senders=())


async def test_a_slow_source_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    class Slow:
        async def query(self, name: str, rdtype: str) -> object:
            await asyncio.sleep(5)
            raise AssertionError("unreachable")

    result = await build_checklist(
        "kari@kunde-ok.example",
        audience="support",
        resolver=Slow(),
        senders=(),  # type: ignore[arg-type]
        account=AccountFacts(True, "kari@kunde-ok.example"),
        deadline=0.2,
    )
    assert result.item("recipient.can_receive").status == "not_checked"  # type: ignore[union-attr]
    assert result.item("address.registered").status == "ok"  # type: ignore[union-attr]


class _Asking:
    """No record anywhere; ``asked`` is set at the first query."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.inner = MemoryResolver({}, strict=False)

    async def query(self, name: str, rdtype: str) -> Answer:
        self.asked.set()
        return await self.inner.query(name, rdtype)


async def test_the_account_is_read_while_the_lookups_are_in_flight() -> None:
    resolver = _Asking()

    async def read() -> AccountFacts:
        await asyncio.wait_for(resolver.asked.wait(), 5)
        return AccountFacts(True, "kari@kunde-ok.example")

    result = await build_checklist(
        "kari@kunde-ok.example",
        audience="support",
        resolver=resolver,
        senders=(),
        account=read,
    )
    assert result.item("address.registered").status == "ok"  # type: ignore[union-attr]


async def test_only_support_reads_the_account_and_its_errors_propagate() -> None:
    calls: list[str] = []

    async def read() -> AccountFacts:
        calls.append("read")
        raise OSError("the database is gone")

    for audience in ("self", "admin"):
        await build_checklist(
            "kari@x.example",
            audience=audience,
            resolver=_Asking(),
            senders=(),
            account=read,
        )
    assert calls == []
    with pytest.raises(OSError, match="database"):
        await build_checklist(
            "kari@x.example",
            audience="support",
            resolver=_Asking(),
            senders=(),
            account=read,
        )


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2048))
def test_readers_never_raise(raw: bytes) -> None:
    verdict = read_spam_verdict(raw)
    assert verdict.folder in ("inbox", "junk", "quarantine", "rejected", "unknown")
    facts = read_bounce(raw)
    assert facts.status == "" or facts.status[0] in "245"


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400))
def test_content_checks_never_raise(text: str) -> None:
    from diag.testsend import check_content

    found = check_content(text.encode("utf-8", "surrogatepass"), base_url="https://x.example")
    assert found


@pytest.mark.parametrize(
    ("reply", "line"),
    [
        (SmtpReply(550, "5.7.1", "5.7.1 Sender blocked"), "550 5.7.1 Sender blocked"),
        (SmtpReply(550, "5.7.1", "Sender blocked"), "550 5.7.1 Sender blocked"),
        (SmtpReply(554, "", "go away"), "554 go away"),
        (SmtpReply(550, "5.1.1", "5.1.10 odd text"), "550 5.1.1 5.1.10 odd text"),
    ],
)
def test_reply_line_names_the_enhanced_status_once(reply: SmtpReply, line: str) -> None:
    assert reply.line == line


def test_a_test_send_content_error_is_a_finding_of_the_authentication_item() -> None:
    from diag.findings import ERROR, Finding

    broken = Finding("testsend.no_link", ERROR, "the mail has no reset link")
    send = TestSendResult(
        "do.not.reply@platform.visma.com",
        "kari@kunde-ok.example",
        "pass",
        "pass",
        "pass",
        "reject",
        True,
        "inbox",
        content=(broken,),
    )
    item = checklist_from_evidence(evidence(test_sends=(send,))).item("sender.authentication")
    assert item is not None
    assert item.status == "problem"
    assert "testsend.no_link" in [f.code for f in item.findings]


async def test_a_probe_gate_that_says_no_stops_the_probe_before_connecting() -> None:
    """The gate hears the MX host and its addresses; its reason becomes every result's error,
    and nothing connects (the resolver is strict and empty: a lookup would fail the test)."""
    asked: list[tuple[str, tuple[str, ...]]] = []

    async def gate(host: str, addresses: tuple[str, ...]) -> str | None:
        asked.append((host, addresses))
        return "rate_limited"

    mx = MxReport("kunde.example", (MxHost("mx.kunde.example", 10, ("192.0.2.25",)),))
    options = ProbeOptions(port=1, allow_private=True, timeout=0.5, gate=gate)
    results, conversation = await probe_recipient(
        "kari@kunde.example",
        ("a@x.example", "b@x.example"),
        mx,
        options,
        MemoryResolver({}),
        rcpt=True,
    )
    assert asked == [("mx.kunde.example", ("192.0.2.25",))]
    assert conversation is None  # held back: no server was talked to
    assert [(r.sender, r.host, r.stage, r.error) for r in results] == [
        ("a@x.example", "mx.kunde.example", "connect", "rate_limited"),
        ("b@x.example", "mx.kunde.example", "connect", "rate_limited"),
    ]
