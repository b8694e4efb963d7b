"""The test send's pure parts: content checks on real reset mails and hand-made messages, and
the reading of a sink verdict into a TestSendResult."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from diag.findings import ERROR, WARNING
from diag.testsend import URL_SHORTENERS, check_content, extract_links, interpret_verdict
from reset import MailComposer, Secret

BASE = "https://login.example.com"
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def reset_mail(base: str = BASE) -> bytes:
    composer = MailComposer(
        public_base_url=base,
        sender="do.not.reply@platform.visma.com",
        bounce_domain="platform.visma.com",
    )
    mail = composer.reset_mail(
        to="kari@kunde-ok.example",
        token=Secret("tok"),
        language="nb",
        outbox_id=1,
        now=NOW,
        valid_for=dt.timedelta(minutes=30),
    )
    return mail.raw


def message(body: str, *, html: str | None = None, headers: str | None = None) -> bytes:
    head = (
        headers
        if headers is not None
        else (
            "From: a@platform.visma.com\r\nTo: kari@kunde-ok.example\r\nSubject: x\r\n"
            "Date: Thu, 26 Nov 2026 12:00:00 +0000\r\nMessage-ID: <1@platform.visma.com>\r\n"
        )
    )
    if html is None:
        return (head + "Content-Type: text/plain\r\n\r\n" + body + "\r\n").encode()
    return (
        head + 'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain\r\n\r\n{body}\r\n"
        f"--b\r\nContent-Type: text/html\r\n\r\n{html}\r\n--b--\r\n"
    ).encode()


def codes(findings: Any) -> set[str]:
    return {f.code for f in findings}


def test_the_real_reset_mail_passes() -> None:
    found = check_content(reset_mail(), base_url=BASE)
    assert codes(found) == {"testsend.content_ok"}


def test_lab_http_base_url_is_a_warning_only_when_configured() -> None:
    raw = reset_mail("http://127.0.0.1:8000")
    lab = check_content(raw, base_url="http://127.0.0.1:8000", require_https=False)
    assert {f.severity for f in lab if f.code == "testsend.link_not_https"} == {WARNING}
    strict = check_content(raw, base_url="http://127.0.0.1:8000", require_https=True)
    assert {f.severity for f in strict if f.code == "testsend.link_not_https"} == {ERROR}


def test_links_in_both_parts_are_found() -> None:
    html = (
        '<p><a href="https://login.example.com/a">x</a> <img src="https://cdn.example/i.png"></p>'
    )
    links = extract_links("see https://login.example.com/b.", html)
    assert links == (
        "https://login.example.com/b",
        "https://login.example.com/a",
        "https://cdn.example/i.png",
    )


def test_foreign_links_and_shorteners_are_errors() -> None:
    assert "bit.ly" in URL_SHORTENERS
    raw = message(
        "https://bit.ly/x https://evil.example/reset",
        html='<a href="https://login.example.com/ok">ok</a>',
    )
    found = check_content(raw, base_url=BASE)
    assert {"testsend.url_shortener", "testsend.link_foreign"} <= codes(found)


def test_missing_headers_parts_and_links() -> None:
    found = check_content(message("no link", headers="From: a@b.example\r\n"), base_url=BASE)
    assert {
        "testsend.no_message_id",
        "testsend.no_date",
        "testsend.missing_part",
        "testsend.no_link",
    } <= codes(found)


def test_garbage_never_raises() -> None:
    for raw in (b"", b"\xff\xfe\x00", b"Content-Type: multipart/mixed\r\n\r\n--", b"x" * 200_000):
        check_content(raw, base_url=BASE)


def stored(folder: str, spf: str, dkim: str, dmarc: str, policy: str) -> dict[str, Any]:
    return {
        "message_id": "<1@x>",
        "mailboxes": [{"address": "kari@kunde-ok.example", "folder": folder}],
        "verdict": {
            "dmarc_result": dmarc,
            "dmarc_policy": policy,
            "data": {
                "spf": {"result": spf, "domain": "x"},
                "dkim": [{"result": dkim, "domain": "x", "selector": "s", "reason": "r"}],
                "dmarc": {
                    "result": dmarc,
                    "policy": policy,
                    "spf_aligned": spf == "pass",
                    "dkim_aligned": dkim == "pass",
                },
            },
        },
    }


def test_a_healthy_verdict_reaches_the_inbox() -> None:
    result = interpret_verdict(
        "a@x", "kari@kunde-ok.example", stored=stored("inbox", "pass", "pass", "pass", "reject")
    )
    assert result.would_reach_inbox
    assert result.aligned
    assert result.reasons == ()


def test_a_junked_verdict_names_its_reasons() -> None:
    result = interpret_verdict(
        "a@x",
        "kari@kunde-ok.example",
        stored=stored("junk", "permerror", "fail", "fail", "quarantine"),
    )
    assert not result.would_reach_inbox
    assert result.folder == "junk"
    assert {
        "testsend.spf_permerror",
        "testsend.dkim_fail",
        "testsend.dmarc_fail",
        "testsend.junk",
    } <= set(result.reasons)


def test_a_rejection() -> None:
    result = interpret_verdict(
        "a@x", "kari@kunde-ok.example", stored=None, rejection="550 5.7.1 blocked"
    )
    assert result.folder == "rejected"
    assert result.reasons == ("testsend.rejected",)
    assert result.to_dict()["reply"] == "550 5.7.1 blocked"


@pytest.mark.parametrize("content_error", [True, False])
def test_content_errors_keep_mail_from_the_inbox(content_error: bool) -> None:
    raw = message("https://bit.ly/x" if content_error else "https://login.example.com/x")
    result = interpret_verdict(
        "a@x",
        "kari@kunde-ok.example",
        stored=stored("inbox", "pass", "pass", "pass", "reject"),
        content=check_content(raw, base_url=BASE),
    )
    assert result.would_reach_inbox is not content_error
