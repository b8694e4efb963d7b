"""Crafted mail for the hostile-input tests: a MIME tree nested too deep, an HTML part whose
elements nest hundreds of thousands deep, and a bounce whose diagnostic carries markup."""

from __future__ import annotations

SENDER = "tester@lab-tests.example"
KARI = "kari@kunde-ok.example"


def _head(subject: str, to: str) -> bytes:
    return (
        f"From: Tester <{SENDER}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        "Message-ID: <hostile@lab-tests.example>\r\nMIME-Version: 1.0\r\n"
    ).encode()


def nested_multipart(depth: int = 1000, to: str = KARI) -> bytes:
    """``depth`` multiparts, each the only part of the one around it, a text part inside."""
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="level%d"\r\n\r\n--level%d\r\n' % (i, i)
        for i in range(depth)
    )
    closing = b"".join(b"\r\n--level%d--" % i for i in reversed(range(depth)))
    leaf = b"Content-Type: text/plain\r\n\r\ninnermost text"
    return _head("nested", to) + opening + leaf + closing + b"\r\n"


def deep_html(count: int = 200_000, to: str = KARI) -> bytes:
    """The 2.2 MB ``text/html`` mail of ``<div>`` x ``count`` (issue #10, section 3)."""
    head = _head("divs", to) + b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    opening = b"\r\n".join([b"<div>" * 100] * (count // 100))  # lines within RFC 5321's 1000
    closing = b"\r\n".join([b"</div>" * 100] * (count // 100))
    return head + opening + b"\r\nx\r\n" + closing + b"\r\n"
