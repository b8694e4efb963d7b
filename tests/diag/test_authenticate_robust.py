"""authenticate() on whatever arrives: arbitrary bytes, header-shaped garbage and third-party
conformance messages give a verdict, never an exception."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diag.authenticate import Verdict, authenticate
from diag.resolver import MemoryResolver

FRAGMENTS = [
    b"From: a@example.test\r\n",
    b'From: "x" <b@other.test>, c@example.test\r\n',
    b"From: <>\r\n",
    b"From:\r\n",
    b"DKIM-Signature: v=1; a=rsa-sha256; d=example.test; s=s; h=from; bh=AAAA; b=AAAA\r\n",
    b"DKIM-Signature: v=1; v=1; d=example.test; d=x\r\n",
    b"DKIM-Signature: \xff\xfe\r\n",
    b"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=example.test; s=s; b=AAAA\r\n",
    b"ARC-Message-Signature: i=1; a=rsa-sha256; d=example.test; s=s; h=from; bh=AA; b=AA\r\n",
    b"ARC-Authentication-Results: i=1; example.test; spf=pass\r\n",
    b"Subject: \xc3\xa5 \xe5\r\n",
    b" folded continuation\r\n",
    b"not a header line\r\n",
    b"\r\n",
    b"\n",
    b"body text\r\n",
]


def _check(verdict: Verdict) -> None:
    data = verdict.to_dict()
    assert set(data) == {"spf", "dkim", "dmarc", "arc", "authentication_results", "findings"}
    assert data["dmarc"]["result"] in ("pass", "fail", "none", "temperror", "permerror")
    assert data["authentication_results"].startswith("maildiag")


def _run(message: bytes) -> Verdict:
    resolver = MemoryResolver({}, strict=False)
    return asyncio.run(
        authenticate(
            message,
            ip="192.0.2.1",
            helo="mail.example.test",
            mail_from="x@example.test",
            resolver=resolver,
        )
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(message: bytes) -> None:
    _check(_run(message))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12), st.binary(max_size=40))
def test_header_shaped_garbage_never_raises(parts: list[bytes], tail: bytes) -> None:
    _check(_run(b"".join(parts) + tail))


def _conformance_messages(conformance_dir: Path) -> list[Path]:
    folders = [conformance_dir / "dmarc" / "authheaders-0.16.3", conformance_dir / "headers"]
    return sorted(
        p
        for folder in folders
        for p in folder.rglob("*")
        if p.is_file()
        and "cache" not in p.parts
        and not p.name.startswith(("COPYING", "LICENSE", "NOTICE"))
    )


def test_conformance_messages_give_verdicts(conformance_dir: Path) -> None:
    messages = _conformance_messages(conformance_dir)
    if not messages:
        pytest.skip(f"no conformance messages under {conformance_dir}")
    for path in messages:
        verdict = _run(path.read_bytes()[:1_000_000])
        _check(verdict)
