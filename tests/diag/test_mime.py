"""diag.mime's caps on a message's structure, and every reader of untrusted mail in the
libraries meeting a MIME tree nested a thousand levels deep (it used to raise RecursionError)."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage

import pytest

from diag.authenticate import authenticate
from diag.bounces import parse_bounce_message
from diag.checklist import read_bounce, read_spam_verdict
from diag.headers import parse_headers
from diag.mime import MAX_MIME_DEPTH, MimeStructureError, parse_message, walk_parts
from diag.resolver import MemoryResolver
from diag.testsend import check_content
from smtp_sink import parse_bounce
from tests.hostile_mail import nested_multipart

POLICIES = [email.policy.compat32, email.policy.default]


@pytest.mark.parametrize("policy", POLICIES, ids=["compat32", "default"])
def test_depth_up_to_the_cap_is_read(policy: email.policy.Policy) -> None:
    message = parse_message(nested_multipart(MAX_MIME_DEPTH), policy=policy)
    parts = walk_parts(message)
    assert len(parts) == MAX_MIME_DEPTH + 1
    assert parts[-1].get_payload() == "innermost text"
    assert isinstance(message, EmailMessage) == (policy is email.policy.default)


@pytest.mark.parametrize("policy", POLICIES, ids=["compat32", "default"])
@pytest.mark.parametrize("depth", [MAX_MIME_DEPTH + 1, 1000, 5000])
def test_deeper_is_refused(policy: email.policy.Policy, depth: int) -> None:
    with pytest.raises(MimeStructureError) as caught:
        parse_message(nested_multipart(depth), policy=policy)
    assert (caught.value.reason, caught.value.limit) == ("depth", MAX_MIME_DEPTH)
    assert "nested deeper than 32" in str(caught.value)


def test_nested_messages_count_as_levels() -> None:
    raw = b"Subject: leaf\r\n\r\nbody\r\n"
    for _ in range(200):
        raw = b"Content-Type: message/rfc822\r\n\r\n" + raw
    with pytest.raises(MimeStructureError, match="nested deeper"):
        parse_message(raw)


def test_too_many_parts_are_refused() -> None:
    parts = b"".join(b"--x\r\nContent-Type: text/plain\r\n\r\npart\r\n" for _ in range(30))
    raw = b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n' + parts + b"--x--\r\n"
    assert len(walk_parts(parse_message(raw, max_parts=31))) == 31
    assert len(walk_parts(parse_message(raw), limit=5)) == 5
    with pytest.raises(MimeStructureError) as caught:
        parse_message(raw, max_parts=30)
    assert (caught.value.reason, caught.value.limit) == ("parts", 30)


def test_bounce_readers_refuse_the_structure() -> None:
    raw = nested_multipart(1000)
    analysis = parse_bounce_message(raw)
    assert not analysis.is_bounce
    assert [f.code for f in analysis.findings] == ["bounce.unreadable"]
    assert "nested deeper than 32" in analysis.findings[0].summary
    assert read_bounce(raw).status == ""
    assert parse_bounce(raw) is None  # the sink's bounce intake


def test_header_analysis_reads_only_the_header() -> None:
    report = parse_headers(nested_multipart(1000))
    assert report.conclusion.folder == "unknown"
    assert read_spam_verdict(nested_multipart(1000)).folder == "unknown"


def test_test_send_content_check_refuses_the_structure() -> None:
    findings = check_content(nested_multipart(1000), base_url="https://konto.example.no")
    assert [(f.code, f.evidence) for f in findings] == [
        ("testsend.mime_refused", {"reason": "depth"})
    ]


async def test_the_receivers_verdict_needs_no_mime_tree() -> None:
    verdict = await authenticate(
        nested_multipart(1000),
        ip="192.0.2.1",
        helo="mail.lab-tests.example",
        mail_from="tester@lab-tests.example",
        resolver=MemoryResolver({}, strict=False),
    )
    assert verdict.dkim == ()
    assert verdict.spf.result == "none"
