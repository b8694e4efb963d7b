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
    Placement,
    ProbeResult,
    ResetRequestFact,
    SmtpReply,
    checklist_from_evidence,
    reply_line,
)
from diag.mx import MxHost, MxReport
from diag.testsend import TestSendResult
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


def _placed(folder: str) -> Checklist:
    """kunde-spam in the lab: the sink (the domain's MX) filed our reset mail in ``folder``."""
    host = MxHost("mx.kunde-spam.example", 10, ("127.0.0.1",))
    placement = Placement(
        "sink", SENDERS[0], "kari@kunde-spam.example", folder, REQUESTED, "Tilbakestill", "17"
    )
    evidence = Evidence(
        "kari@kunde-spam.example",
        "support",
        NOW,
        SENDERS,
        mx=MxReport("kunde-spam.example", (host,), provider="generic"),
        placements=(placement,),
    )
    return checklist_from_evidence(evidence)


def test_junk_the_service_saw_is_a_problem_citing_where_it_saw_it() -> None:
    checklist = _placed("junk")
    item = checklist.item("spam.folder")
    assert item is not None
    assert item.status == "problem"
    assert item.evidence["source"] == "sink"
    view = checklist_view(checklist, lang="en")
    step = next(i.next_step for i in view.items if i.key == "spam.folder")
    assert "filed our mail to this address in junk" in step
    assert "2026-11-26 11:50 UTC" in step
    assert view.summary.startswith("Problems: 1.")
    nb = next(i for i in checklist_view(checklist, lang="nb").items if i.key == "spam.folder")
    assert "søppelpost" in nb.next_step


def test_an_inbox_the_service_saw_is_ok_and_the_todo_stays_only_without_evidence() -> None:
    item = _placed("inbox").item("spam.folder")
    assert item is not None
    assert item.status == "ok"
    other = Placement("sink", SENDERS[0], "someone@kunde-spam.example", "junk", REQUESTED)
    evidence = Evidence("kari@kunde-spam.example", "self", NOW, SENDERS, placements=(other,))
    unknown = checklist_from_evidence(evidence).item("spam.folder")
    assert unknown is not None
    assert unknown.status == "todo"  # a placement for another address says nothing about kari


def _test_send(to: str, folder: str) -> TestSendResult:
    return TestSendResult(SENDERS[0], to, "pass", "pass", "pass", "reject", True, folder)


def test_test_sends_count_only_for_the_address_under_check() -> None:
    address = "kari@kunde-spam.example"
    junk = Evidence(address, "self", NOW, SENDERS, test_sends=(_test_send(address, "junk"),))
    item = checklist_from_evidence(junk).item("spam.folder")
    assert item is not None
    assert item.status == "problem"
    elsewhere = Evidence(
        address, "self", NOW, SENDERS, test_sends=(_test_send("kari@kunde-ok.example", "inbox"),)
    )
    item = checklist_from_evidence(elsewhere).item("spam.folder")
    assert item is not None
    assert item.status == "todo"


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_allowlisting_only_where_there_is_something_to_do(lang: str) -> None:
    host = MxHost("mx.kunde.example", 10, ("192.0.2.25",))
    accepted = ProbeResult(
        SENDERS[0], host.name, "192.0.2.25", "done", SmtpReply(250, "2.1.5", "OK"), True, "", ()
    )
    ok = Evidence(
        "kari@kunde.example",
        "admin",
        NOW,
        SENDERS,
        mx=MxReport("kunde.example", (host,), provider="microsoft365"),
        probes=(accepted,),
    )
    null = Evidence(
        "postmaster@kunde-nullmx.example",
        "admin",
        NOW,
        SENDERS,
        mx=MxReport("kunde-nullmx.example", (), null_mx=True, provider="generic"),
    )
    for evidence in (ok, null):
        view = checklist_view(checklist_from_evidence(evidence), lang=lang)
        blocks = next(i for i in view.items if i.key == "recipient.blocks_sender")
        assert blocks.status in ("ok", "not_checked")
        assert blocks.allowlist == ()
        for fmt in FORMATS:
            assert view.labels["allowlist"] not in render_checklist(view, fmt=fmt)


def test_the_unknown_mailbox_step_names_the_address_and_admins_get_no_payroll_advice() -> None:
    host = MxHost("mx.kunde-ukjent.example", 10, ("127.0.0.1",))
    refused = ProbeResult(
        SENDERS[0],
        host.name,
        "127.0.0.1",
        "rcpt",
        SmtpReply(550, "5.1.1", "No such user"),
        True,
        "refused",
        (),
    )
    mx = MxReport("kunde-ukjent.example", (host,), provider="generic")
    evidence = Evidence(
        "kari@kunde-ukjent.example", "support", NOW, SENDERS, mx=mx, probes=(refused,)
    )
    view = checklist_view(checklist_from_evidence(evidence), lang="en")
    step = next(i.next_step for i in view.items if i.key == "address.registered")
    assert "kari@kunde-ukjent.example" in step
    assert "550 5.1.1 No such user" in step
    admin = Evidence("postmaster@kunde.example", "admin", NOW, SENDERS)
    for lang in ("nb", "en"):
        view = checklist_view(checklist_from_evidence(admin), lang=lang)
        step = next(i.next_step for i in view.items if i.key == "address.registered")
        assert "lønningsansvarlig" not in step


@pytest.mark.parametrize(
    ("placed", "tested", "key", "says"),
    [
        ("junk", "inbox", "spam.folder", "just now landed in the inbox"),
        ("inbox", "junk", "spam.folder", "just now was filed as junk"),
    ],
)
def test_a_test_send_that_disagrees_with_an_item_is_explained(
    placed: str, tested: str, key: str, says: str
) -> None:
    """A result that conflicts with another is explained, never shown beside it bare."""
    to = "kari@kunde-spam.example"
    placement = Placement("sink", SENDERS[0], to, placed, REQUESTED)
    evidence = Evidence(
        to, "support", NOW, SENDERS, placements=(placement,), test_sends=(_test_send(to, tested),)
    )
    checklist = checklist_from_evidence(evidence)
    item = checklist.item(key)
    assert item is not None
    assert item.evidence["conflict"]
    for lang in ("nb", "en"):
        step = next(i.next_step for i in checklist_view(checklist, lang=lang).items if i.key == key)
        if lang == "en":
            assert says in step


def test_a_refused_test_send_explains_an_accepting_probe() -> None:
    to = "kari@kunde.example"
    host = MxHost("mx.kunde.example", 10, ("192.0.2.25",))
    accepted = ProbeResult(
        SENDERS[0], host.name, "192.0.2.25", "done", SmtpReply(250, "2.1.5", "OK"), True, "", ()
    )
    evidence = Evidence(
        to,
        "admin",
        NOW,
        SENDERS,
        mx=MxReport("kunde.example", (host,), provider="generic"),
        probes=(accepted,),
        test_sends=(_test_send(to, "rejected"),),
    )
    view = checklist_view(checklist_from_evidence(evidence), lang="en")
    steps = {i.key: i.next_step for i in view.items}
    assert "just now was refused" in steps["recipient.blocks_sender"]
    assert "just now was refused" in steps["delivery.accepted"]


def test_agreeing_test_sends_add_no_note() -> None:
    to = "kari@kunde-spam.example"
    placement = Placement("sink", SENDERS[0], to, "junk", REQUESTED)
    evidence = Evidence(
        to, "support", NOW, SENDERS, placements=(placement,), test_sends=(_test_send(to, "junk"),)
    )
    for item in checklist_from_evidence(evidence).items:
        assert "conflict" not in item.evidence


def test_a_test_mail_the_sink_took_for_a_domain_without_mail_server_is_explained() -> None:
    to = "kari@kunde-nullmx.example"
    null = MxReport("kunde-nullmx.example", (), null_mx=True, provider="generic")
    evidence = Evidence(to, "admin", NOW, SENDERS, mx=null, test_sends=(_test_send(to, "inbox"),))
    view = checklist_view(checklist_from_evidence(evidence), lang="en")
    step = next(i.next_step for i in view.items if i.key == "recipient.can_receive")
    assert "this domain has none, so real mail to it is never delivered" in step


def test_a_recipients_filter_is_not_blamed_on_our_senders() -> None:
    """An authenticated test mail that the recipient junks or refuses is the recipient's
    doing (the junk and blocking items); only a failed verdict or bad content is ours."""
    to = "kari@kunde-spam.example"
    for folder in ("junk", "rejected"):
        evidence = Evidence(to, "admin", NOW, SENDERS, test_sends=(_test_send(to, folder),))
        item = checklist_from_evidence(evidence).item("sender.authentication")
        assert item is not None
        assert item.status == "ok", folder
    failed = TestSendResult(SENDERS[0], to, "pass", "fail", "fail", "reject", False, "junk")
    evidence = Evidence(to, "admin", NOW, SENDERS, test_sends=(failed,))
    item = checklist_from_evidence(evidence).item("sender.authentication")
    assert item is not None
    assert item.status == "problem"
