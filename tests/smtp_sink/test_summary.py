"""summarize_headers reads the fields the email package's BytesHeaderParser (compat32) reads.

The reference below is the email package itself: the same three fields, first occurrence, the
same decoding. Generated header sections mix well-formed fields with what the compat32 parser
treats specially (bare CR and LF line ends, continuations first or after a dropped line, Unix
"From " lines at the start, the end and in between, lines starting with a colon, names with
blanks, 8-bit bytes, encoded-words), and real messages from the header suites are compared too.
"""

from __future__ import annotations

import contextlib
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtp_sink import HeaderSummary, summarize_headers
from smtp_sink.capture import MAX_SUMMARY_FIELD, clean_text
from tests.conftest import CONFORMANCE


def reference(raw: bytes) -> HeaderSummary:
    """The three fields through the email package's parser and header decoding."""
    first: dict[str, str] = {}
    for name, value in BytesHeaderParser(policy=compat32).parsebytes(raw).raw_items():
        first.setdefault(name.lower(), value)

    def get(name: str) -> str:
        value = first.get(name)
        if value is None:
            return ""
        text = value.encode("ascii", "surrogateescape").decode("utf-8", "replace")
        with contextlib.suppress(ValueError, LookupError, UnicodeError):
            text = str(make_header(decode_header(text)))
        return clean_text(" ".join(text.split())[:MAX_SUMMARY_FIELD])

    return HeaderSummary(get("message-id"), get("subject"), get("from"))


NAMES = ["From", "from", "FROM", "Subject", "subject", "Message-ID", "message-id", "To",
         "Sub ject", "Subject ", "X-Other", "From x", "", "Re:x"]  # fmt: skip
VALUES = ["a@b.example", " Kari <kari@example.no>", "", "  two  spaces\t", "=?utf-8?q?R=C3=A9?=",
          "=?bogus?x?y?=", "=?utf-8?b?!!!?=", "\xe5se", "\xff\xfe", "a:b", "x" * 1200]  # fmt: skip
ENDS = ["\r\n", "\n", "\r", ""]


@st.composite
def header_sections(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["field", "field", "field", "cont", "from", "colon", "junk"]))
        end = draw(st.sampled_from(ENDS))
        if kind == "field":
            line = f"{draw(st.sampled_from(NAMES))}:{draw(st.sampled_from(VALUES))}"
        elif kind == "cont":
            line = draw(st.sampled_from([" ", "\t"])) + draw(st.sampled_from(VALUES))
        elif kind == "from":
            line = "From someone@example.org Thu Nov 26 12:00:00 2026"
        elif kind == "colon":
            line = ":no name"
        else:
            line = draw(st.sampled_from(["garbage", "Bad Name: x", "\x00", "\u00e5: x"]))
        lines.append(line + end)
    body = draw(st.sampled_from(["", "\r\n", "\r\nbody\r\n", "\nSubject: in body\n"]))
    return ("".join(lines) + body).encode("utf-8", "surrogateescape")


@settings(max_examples=400, deadline=None)
@given(header_sections())
def test_same_fields_as_the_email_package(raw: bytes) -> None:
    assert summarize_headers(raw) == reference(raw)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_same_fields_on_arbitrary_bytes(raw: bytes) -> None:
    assert summarize_headers(raw) == reference(raw)


def _samples() -> list[Path]:
    """Every message in the header and DKIM suites (none when the suites are absent)."""
    found = [
        path
        for suite in ("headers", "dkim")
        for path in (CONFORMANCE / suite).rglob("*")
        if path.suffix in (".eml", ".mail", ".msg", ".message", ".mbox")
        or path.name.startswith(("dkim-", "sample-headers"))
    ]
    return sorted(found)


@pytest.mark.parametrize("path", _samples(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_same_fields_on_real_messages(path: Path) -> None:
    raw = path.read_bytes()
    assert summarize_headers(raw) == reference(raw)


def test_unix_from_line_first_is_not_a_field() -> None:
    raw = b"From kari@example.no Thu Nov 26 12:00:00 2026\r\nFrom: a@b.example\r\n\r\n"
    assert summarize_headers(raw).from_header == "a@b.example"
