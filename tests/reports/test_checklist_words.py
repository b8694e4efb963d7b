"""What the checklist says must read as words and agree with itself (issue classes: internal
words reaching users, summaries that contradict their items, a bounce after acceptance called a
refusal, replies with repeated codes, raw timestamps and English status words in nb)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from diag.checklist import (
    AccountFacts,
    BounceFacts,
    Checklist,
    ChecklistItem,
    DeliveryFact,
    Evidence,
    ResetRequestFact,
    SmtpReply,
    checklist_from_evidence,
    reply_line,
)
from diag.mx import MxHost, MxReport
from reports.checklist import checklist_view, format_time, render_checklist

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
REQUESTED = NOW - dt.timedelta(minutes=10)
SENDERS = ("do.not.reply@platform.visma.com", "do.not.reply@connect.visma.com")
FORMATS = ("text", "markdown", "html", "page")


@pytest.mark.parametrize(
    ("code", "enhanced", "text", "line"),
    [
        (250, "2.0.0", "2.0.0 OK queued as 1", "250 2.0.0 OK queued as 1"),  # RFC 3463 §2 echo
        (None, "5.2.2", "5.2.2 552 5.2.2 Mailbox full", "552 5.2.2 Mailbox full"),  # DSN log
        (552, "5.2.2", "Mailbox full", "552 5.2.2 Mailbox full"),
        (None, "5.0.0", "5.0.0 550 5.1.1 No such user", "550 5.1.1 No such user"),  # Exim
        (
            550,
            "",
            "550-5.1.1 The email account that you tried to reach does not exist",
            "550 5.1.1 The email account that you tried to reach does not exist",
        ),
        (550, "", "Sender blocked", "550 Sender blocked"),
        (None, "", "", ""),
        (250, "", "OK id=1u2v3w-000AbC-9x", "250 OK id=1u2v3w-000AbC-9x"),
    ],
)
def test_reply_line_shows_each_code_once(
    code: int | None, enhanced: str, text: str, line: str
) -> None:
    assert reply_line(code, enhanced, text) == line
    assert reply_line(code, enhanced, text) == reply_line(
        code, enhanced, reply_line(code, enhanced, text)
    )


def _sprett() -> Checklist:
    """kunde-sprett: 250 at DATA, then a DSN (5.2.2 mailbox full) marks the row bounced."""
    accepted = DeliveryFact(
        REQUESTED + dt.timedelta(seconds=2),
        "127.0.0.1:2526",
        250,
        "2.0.0",
        "2.0.0 OK queued as 7",
        outbox_id=3,
    )
    bounced = DeliveryFact(
        REQUESTED + dt.timedelta(seconds=62),
        "sink.maildiag.localhost",
        None,
        "5.2.2",
        "5.2.2 552 5.2.2 Mailbox full",
        outbox_id=3,
        bounced=True,
    )
    request = ResetRequestFact(REQUESTED, 3, "bounced", REQUESTED + dt.timedelta(minutes=30))
    account = AccountFacts(True, "kari@kunde-sprett.example", (request,), (accepted, bounced))
    host = MxHost("mx.kunde-sprett.example", 10, ("127.0.0.1",))
    mx = MxReport("kunde-sprett.example", (host,), provider="generic")
    evidence = Evidence(
        "kari@kunde-sprett.example", "support", NOW, SENDERS, mx=mx, account=account
    )
    return checklist_from_evidence(evidence)


def test_a_bounce_after_acceptance_is_described_as_such_with_its_reply() -> None:
    checklist = _sprett()
    item = checklist.item("delivery.accepted")
    assert item is not None
    assert item.status == "problem"
    assert item.evidence["outcome"] == "bounced_after_accept"
    en = {i.key: i for i in checklist_view(checklist, lang="en").items}
    nb = {i.key: i for i in checklist_view(checklist, lang="nb").items}
    step = en["delivery.accepted"].next_step
    assert "accepted the mail, then returned it" in step
    assert step.endswith(": 552 5.2.2 Mailbox full")
    assert "refused" not in step
    assert "rejected" not in step
    assert nb["delivery.accepted"].next_step.endswith(": 552 5.2.2 Mailbox full")
    assert "tok imot e-posten" in nb["delivery.accepted"].next_step


@pytest.mark.parametrize("fmt", FORMATS)
def test_nb_shows_no_english_status_word_or_raw_timestamp(fmt: str) -> None:
    rendered = render_checklist(checklist_view(_sprett(), lang="nb"), fmt=fmt)
    rendered = CODES.sub("", rendered)  # finding codes are identifiers, not words
    assert "bounced" not in rendered
    assert "kom i retur" in rendered
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", rendered), "a raw ISO 8601 time"
    assert "26.11.2026 kl. 11:50 UTC" in rendered
    assert not re.search(r"\b(\d\.\d\.\d) \1\b|\b(\d{3}) \2\b", rendered), "a repeated code"


def test_times_read_as_people_write_them() -> None:
    assert format_time("2026-12-07T16:01:49.181630+00:00", "nb") == "07.12.2026 kl. 16:01 UTC"
    assert format_time("2026-12-07T17:01:49+01:00", "en") == "2026-12-07 16:01 UTC"
    assert format_time("not a time", "en") == "not a time"


CODES = re.compile(r"\b[a-z]+\.[a-z_]+(?:\.[a-z_]+)*\b")
INTERNAL = re.compile(
    r"\b(null_mx|can_receive|implicit|outbox_id|requested_at|token_expires_at|advice|check_junk"
    r"|generic|True|False|self-service)\b|\b(exists|source|reply|advice):"
)


def _kinds() -> list[Checklist]:
    host = MxHost("mx.kunde.example", 10, ("192.0.2.25",))
    null = MxReport("kunde-nullmx.example", (), null_mx=True, provider="generic")
    bounce = BounceFacts(
        status="5.1.1",
        diagnostic="smtp; 550 5.1.1 user unknown",
        reply=SmtpReply(550, "5.1.1", "user unknown"),
        is_dsn=True,
    )
    return [
        _sprett(),
        checklist_from_evidence(
            Evidence(
                "kari@kunde.example",
                "self",
                NOW,
                SENDERS,
                mx=MxReport("kunde.example", (host,), provider="generic"),
            )
        ),
        checklist_from_evidence(
            Evidence("postmaster@kunde-nullmx.example", "admin", NOW, SENDERS, mx=null)
        ),
        checklist_from_evidence(
            Evidence(
                "kari@kunde.example",
                "support",
                NOW,
                SENDERS,
                mx=MxReport("kunde.example", (host,), provider="generic"),
                bounce=bounce,
            )
        ),
    ]


@pytest.mark.parametrize("lang", ["nb", "en"])
@pytest.mark.parametrize("fmt", ["text", "markdown", "page"])
def test_no_internal_words_reach_the_reader(fmt: str, lang: str) -> None:
    for checklist in _kinds():
        rendered = render_checklist(checklist_view(checklist, lang=lang), fmt=fmt)
        rendered = re.sub(r'(class|data-[a-z]+)="[^"]*"', "", rendered)  # markup, not words
        rendered = CODES.sub("", rendered)
        found = INTERNAL.search(rendered)
        assert found is None, (
            checklist.address,
            found and rendered[found.start() - 80 : found.end() + 40],
        )
        assert "{'" not in rendered, "a raw mapping"


def test_one_name_for_a_provider_we_do_not_know() -> None:
    names = set()
    for lang in ("en",):
        for provider in ("generic", "unknown"):
            checklist = Checklist("a@b.example", "support", (), (), provider)
            names.add(checklist_view(checklist, lang=lang).labels["provider_name"])
    assert names == {"other mail server"}


def _with(*statuses: str) -> Checklist:
    items = tuple(
        ChecklistItem(key, status)
        for key, status in zip(
            ("address.registered", "reset.requested", "delivery.sent", "spam.folder"),
            statuses,
            strict=False,
        )
    )
    return Checklist("kari@kunde.example", "support", items, (), "generic")


@pytest.mark.parametrize(
    ("statuses", "says"),
    [
        (("ok", "ok"), "No problems found."),
        (("ok", "warning"), "No problems, but warnings: 1."),
        (("problem", "warning", "problem"), "Problems: 2. Warnings: 1."),
        (("ok", "todo"), "Check the items marked “Your check”."),
        (("ok", "not_checked"), "1 item(s) were not checked."),
    ],
)
def test_the_summary_counts_what_the_items_say(statuses: tuple[str, ...], says: str) -> None:
    view = checklist_view(_with(*statuses), lang="en")
    assert says in view.summary
    if set(statuses) != {"ok"}:
        assert view.summary != "No problems found."
    for fmt in FORMATS:
        assert view.summary in render_checklist(view, fmt=fmt)
