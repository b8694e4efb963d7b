"""A captured message: the value the sink stores, and the pure header summary taken from it.

``raw`` is kept exactly as the client sent it (after SMTP dot-unstuffing, RFC 5321 §4.5.2).
The header fields the sink adds as a receiver (Authentication-Results, spam verdict headers)
are kept apart in ``added_headers``; ``delivered_bytes`` is what a mailbox user would see.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from types import MappingProxyType

from diag.authenticate import MAX_HEADER_BYTES, split_header
from smtp_sink.verdicts import HeaderSummary, JsonObject, JsonValue, TlsFacts

FOLDERS = ("inbox", "junk")
MAX_SUMMARY_FIELD = 998  # RFC 5322 §2.1.1 line length limit


@dataclass(frozen=True)
class Mailbox:
    """Where one recipient's copy was filed."""

    address: str
    folder: str = "inbox"


@dataclass(frozen=True)
class CapturedMessage:
    """One accepted message with everything the sink learned about it.

    ``id`` is None until the store has saved it.
    """

    raw: bytes
    mail_from: str
    rcpt_tos: tuple[str, ...]
    mailboxes: tuple[Mailbox, ...]
    peer_ip: str
    peer_port: int | None
    received_at: dt.datetime
    helo: str = ""
    proxied: bool = False
    tls: TlsFacts | None = None
    added_headers: bytes = b""
    authentication_results: str = ""
    verdict: Mapping[str, JsonValue] = field(default_factory=dict)
    summary: HeaderSummary = field(default_factory=HeaderSummary)
    id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "verdict", MappingProxyType(dict(self.verdict)))

    @property
    def size(self) -> int:
        """Size in octets of the message as received."""
        return len(self.raw)

    @property
    def delivered_bytes(self) -> bytes:
        """The message as filed: the receiver's added header fields, then the raw bytes."""
        return self.added_headers + self.raw

    def as_json(self) -> JsonObject:
        """Everything but the message bytes, as plain JSON types (for an API)."""
        tls = self.tls
        return {
            "id": self.id,
            "received_at": self.received_at.isoformat(),
            "envelope": {"mail_from": self.mail_from, "rcpt_tos": list(self.rcpt_tos)},
            "peer": {"ip": self.peer_ip, "port": self.peer_port, "proxied": self.proxied},
            "helo": self.helo,
            "tls": None if tls is None else {"version": tls.version, "cipher": tls.cipher},
            "size": self.size,
            "mailboxes": [{"address": m.address, "folder": m.folder} for m in self.mailboxes],
            "authentication_results": self.authentication_results,
            "verdict": dict(self.verdict),
            "message_id": self.summary.message_id,
            "subject": self.summary.subject,
            "from": self.summary.from_header,
        }

    def folder_for(self, address: str) -> str | None:
        """The folder this message was filed in for ``address``, or None."""
        wanted = address.lower()
        return next((m.folder for m in self.mailboxes if m.address == wanted), None)


def clean_text(value: str) -> str:
    """Text safe for any SQL text column: invalid UTF-8 (surrogate escapes) and NUL replaced."""
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text.replace("\x00", "\ufffd")


def _decoded(value: str) -> str:
    text = value
    if "=?" in value:  # only encoded-words (RFC 2047) change under decode_header
        try:
            text = str(make_header(decode_header(value)))
        except (ValueError, LookupError, UnicodeError):
            text = value
    return clean_text(" ".join(text.split())[:MAX_SUMMARY_FIELD])


def header_block(raw: bytes) -> bytes:
    """The header fields of ``raw`` (up to its first empty line), at most MAX_HEADER_BYTES:
    what a header-only reading needs, whatever the size of the body."""
    return split_header(raw)[0][:MAX_HEADER_BYTES]


# The email package's compat32 reading of a header section (email.feedparser): lines end at
# CRLF, CR or LF; the section is the leading run of lines that look like a field, a
# continuation or a Unix "From " line.
_SECTION = re.compile(r"(?:(?:From |[\x21-\x39\x3b-\x7e]*:|[\t ])[^\r\n]*(?:\r\n|\r|\n|\Z))*")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_SUMMARY_FIELDS = ("message-id", "subject", "from")


def _section_lines(text: str) -> list[str]:
    section = _SECTION.match(text)
    return _LINE.findall(section.group()) if section is not None else []


def _first_fields(text: str) -> dict[str, str]:
    """The first value of each field name (lower-cased) as ``BytesHeaderParser`` reads them.

    A value is the text after the first colon with leading blanks removed, its continuation
    lines appended and trailing line ends removed (compat32). Lines that parser drops (a Unix
    "From " line, one starting with a colon, a continuation with no field before it) make no
    field here either, or one under a name with a blank or none at all, which no caller asks
    for.
    """
    found: dict[str, str] = {}
    name: str | None = None
    parts: list[str] = []
    for line in [*_section_lines(text), ""]:
        if line[:1] in (" ", "\t"):
            parts.append(line)
            continue
        if name is not None:
            found.setdefault(name.lower(), "".join(parts).rstrip("\r\n"))
        name, _, value = line.partition(":")
        parts = [value.lstrip(" \t")]
    return found


def summarize_headers(raw: bytes) -> HeaderSummary:
    """Message-ID, Subject and From of ``raw``, decoded; empty strings where absent.

    Pure and total: garbage in gives empty or best-effort fields, never an exception. The
    fields are those the email package's ``BytesHeaderParser`` (compat32) finds first, read
    without building its message object.
    """
    first = _first_fields(header_block(raw).decode("ascii", "surrogateescape"))

    def get(name: str) -> str:
        value = first.get(name)
        if value is None:
            return ""
        # 8-bit header bytes arrive as surrogate escapes; read them as UTF-8 (RFC 6532 §3).
        text = value.encode("ascii", "surrogateescape").decode("utf-8", "replace")
        return _decoded(text)

    return HeaderSummary(*(get(name) for name in _SUMMARY_FIELDS))
