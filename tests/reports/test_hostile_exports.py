"""The same hostile text through every report in every export format: each output is inert in
its format. Markdown is rendered by a CommonMark renderer (markdown-it-py, with GFM tables) and
must give no element the text did not ask for; HTML has no element from the text; text output
holds no control character and no line the text started; JSON reads back."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from markdown_it import MarkdownIt

from diag.authenticate import authenticate
from diag.checklist import Evidence, checklist_from_evidence, read_bounce, read_spam_verdict
from diag.findings import ERROR, Finding
from diag.headers import parse_headers
from diag.mx import MxHost, MxReport
from diag.resolver import MemoryResolver
from diag.spf import check_host
from diag.testsend import TestSendResult
from reports import (
    authenticate_view,
    checklist_json,
    checklist_view,
    headers_view,
    recipient_view,
    render_authenticate,
    render_checklist,
    render_headers,
    render_recipient,
    render_sender,
    render_spf,
    render_testsend,
    sender_view,
    spf_view,
)
from reports import (
    testsend_view as make_testsend_view,
)
from tests.reports.test_checklist_report import NOW, SENDERS, _checklist, _legacy_report

EVIL = "https://evil.example/x"
HOSTILE = (
    "<script>alert(1)</script> <img src=x onerror=alert(2)>"
    f" [click]({EVIL}) ![pic]({EVIL}) <{EVIL}> **bold** _it_ `code` a | b | c"
    "\n# injected heading\n- injected item\n1. injected step"
    "\x1b[31mred\x1b]0;title\x07\x00\x08\u202eevil\r"
) + "long" * 2000
HEADERS = (
    f"Received: from {HOSTILE.splitlines()[0]} by mx.kunde.example;"
    " Thu, 26 Nov 2026 11:00:00 +0000\r\n"
    f"X-Spam-Status: Yes, score=9.0 required=5.0 tests={HOSTILE.splitlines()[0]}\r\n"
    f"Authentication-Results: mx.kunde.example; spf=fail smtp.mailfrom={EVIL}\r\n"
    "From: <kari@kunde.example>\r\nSubject: hi\r\n\r\n"
).encode()
BOUNCE = (
    "From: MAILER-DAEMON@mx.kunde.example\r\nTo: bounce@platform.visma.com\r\n"
    "Subject: Undelivered\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n"
    "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
    "Reporting-MTA: dns; mx.kunde.example\r\n\r\n"
    "Final-Recipient: rfc822; kari@kunde.example\r\nAction: failed\r\nStatus: 5.7.1\r\n"
    f"Diagnostic-Code: smtp; 550 5.7.1 {HOSTILE.splitlines()[0]}\r\n--b--\r\n"
).encode()
Render = Callable[[str], str]


def _checklist_with_pastes() -> Render:
    evidence = Evidence(
        "kari@kunde.example",
        "support",
        NOW,
        SENDERS,
        spam=read_spam_verdict(HEADERS),
        bounce=read_bounce(BOUNCE),
    )
    checklist = checklist_from_evidence(evidence)
    return lambda fmt: _checklist_render(checklist, fmt)


def _checklist_render(checklist: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(checklist_json(checklist_view(checklist, lang="en")))
    return render_checklist(checklist_view(checklist, lang="en"), fmt=fmt)


def _checklist_probe() -> Render:
    checklist = _checklist(reply_text=HOSTILE, record=HOSTILE)
    return lambda fmt: _checklist_render(checklist, fmt)


def _headers() -> Render:
    view = headers_view(parse_headers(HEADERS), lang="en", source=HOSTILE)
    return lambda fmt: render_headers(view, fmt=fmt)


async def _authenticate() -> Render:
    raw = HEADERS.replace(b"From: <kari@kunde.example>", f"From: <{HOSTILE}>".encode())
    resolver = MemoryResolver({}, strict=False)
    verdict = await authenticate(
        raw, ip="192.0.2.1", helo=HOSTILE, mail_from=None, resolver=resolver
    )
    view = authenticate_view(verdict, lang="en", ip="192.0.2.1", helo=HOSTILE, mail_from=HOSTILE)
    return lambda fmt: render_authenticate(view, fmt=fmt)


async def _spf() -> Render:
    record = "v=spf1 exp=explain.example.com -all"
    zone = {
        "example.com": {"TXT": [record]},
        "explain.example.com": {"TXT": [HOSTILE.replace("%", "%%")]},
    }
    result = await check_host(
        "192.0.2.7",
        "example.com",
        "postmaster@example.com",
        helo=None,
        resolver=MemoryResolver(zone),
    )
    view = spf_view(result, lang="en", ip="192.0.2.7", sender=HOSTILE)
    return lambda fmt: render_spf(view, fmt=fmt)


def _sender() -> Render:
    names = ("envelope_domain", "dkim_domain", "helo")
    identity = {**dict.fromkeys(names, HOSTILE), "selectors": [HOSTILE], "egress_ips": []}
    report = dataclasses.replace(_legacy_report(HOSTILE), identity=identity)
    view = sender_view([report], lang="en", sections=["spf"])
    return lambda fmt: render_sender(view, fmt=fmt)


def _recipient() -> Render:
    finding = Finding("mx.ok", ERROR, HOSTILE, {"host": HOSTILE})
    host = MxHost(HOSTILE, 10, (HOSTILE,))
    mx = MxReport("kunde.example", (host,), provider="generic", findings=(finding,))
    view = recipient_view(mx, lang="en", address="kari@kunde.example")
    return lambda fmt: render_recipient(view, fmt=fmt)


def _testsend() -> Render:
    finding = Finding("testsend.link_foreign", ERROR, HOSTILE, {"link": HOSTILE})
    result = TestSendResult(
        HOSTILE,
        HOSTILE,
        "fail",
        "fail",
        "fail",
        "reject",
        False,
        "junk",
        (finding,),
        (finding,),
        HOSTILE,
    )
    view = make_testsend_view([result], lang="en")
    return lambda fmt: render_testsend(view, fmt=fmt)


REPORTS: dict[str, tuple[tuple[str, ...], Callable[[], Any]]] = {
    "checklist-pastes": (("text", "markdown", "html", "page", "json"), _checklist_with_pastes),
    "checklist-probe": (("text", "markdown", "html", "page", "json"), _checklist_probe),
    "headers": (("text", "markdown", "html", "json"), _headers),
    "authenticate": (("text", "json"), _authenticate),
    "spf": (("text", "markdown", "html", "json"), _spf),
    "sender": (("text", "markdown", "html", "json"), _sender),
    "recipient": (("text", "markdown", "html", "json"), _recipient),
    "testsend": (("text", "markdown", "html", "json"), _testsend),
}
CASES = [(report, fmt) for report, (formats, _) in REPORTS.items() for fmt in formats]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _html_tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def _assert_html_inert(html: str) -> None:
    tags = _html_tags(html)
    assert not [t for t, _ in tags if t in ("script", "img", "iframe", "object")]
    assert not [a for _, a in tags if "onerror" in a or EVIL in str(a.get("href"))]


def _assert_text_inert(text: str) -> None:
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)
    for line in text.splitlines():
        assert not line.lstrip().startswith(("# injected", "- injected", "1. injected")), line


def _assert_markdown_inert(text: str) -> None:
    _assert_text_inert(text)
    html = MarkdownIt("commonmark").enable("table").render(text)
    _assert_html_inert(html)
    for made in ("<em>it</em>", "<strong>bold</strong>", "<h1>injected", "<li>injected"):
        assert made not in html
    assert "<code>code</code>" not in html
    for table in re.findall(r"<table>.*?</table>", html, re.DOTALL):  # no extra cells: b, c
        header = re.search(r"<thead>.*?</thead>", table, re.DOTALL)
        columns = header[0].count("<th") if header else 0
        for row in re.findall(r"<tr>.*?</tr>", table, re.DOTALL):
            assert row.count("<td") <= columns


@pytest.mark.parametrize(("report", "fmt"), CASES, ids=[f"{r}-{f}" for r, f in CASES])
async def test_hostile_text_is_inert(report: str, fmt: str) -> None:
    _, build = REPORTS[report]
    made = build()
    render = await made if not callable(made) else made
    output = render(fmt)
    assert output.strip()
    if fmt == "json":
        assert json.loads(output)
    elif fmt in ("html", "page"):
        _assert_html_inert(output)
    elif fmt == "markdown":
        _assert_markdown_inert(output)
    else:
        _assert_text_inert(output)
        assert "\x1b" not in output


def test_hostile_text_reaches_the_outputs() -> None:
    """The bounce's diagnostic is in the checklist (so the test above looked at it)."""
    output = _checklist_with_pastes()("markdown")
    assert "\\<script>alert(1)\\</script>" in output
