"""Reports that arrive as mail: splitting an mbox into messages, and finding the parts of a
message that may hold a report (RFC 7489 §7.2.1.1 and RFC 9990 "Email": application/gzip
or text/xml; RFC 8460 §5.3: application/tlsrpt+gzip or +json; zip, as Google sends). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message

from diag.errors import MimeStructureError, ReportRefused
from diag.feedback.values import safe_text
from diag.mime import parse_message, walk_parts

REPORT_TYPES = frozenset(
    {
        "application/gzip",
        "application/x-gzip",
        "application/zip",
        "application/x-zip",
        "application/x-zip-compressed",
        "application/xml",
        "text/xml",
        "application/json",
        "application/tlsrpt+gzip",
        "application/tlsrpt+json",
    }
)
REPORT_SUFFIXES = (".xml", ".gz", ".zip", ".json")
_FROM_LINE = re.compile(rb"^From ", re.MULTILINE)
_QUOTED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)  # mboxrd quoting
_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")  # a field name and its colon (RFC 5322)


def is_mbox(data: bytes) -> bool:
    return data.startswith(b"From ")


def is_mail(data: bytes) -> bool:
    return _HEADER_LINE.match(data) is not None


def split_mbox(data: bytes) -> Iterator[bytes]:
    """The messages of an mbox file, each without its ``From `` separator line."""
    starts = [m.start() for m in _FROM_LINE.finditer(data)]
    for begin, end in zip(starts, [*starts[1:], len(data)], strict=True):
        message = data[begin:end]
        newline = message.find(b"\n")
        body = b"" if newline < 0 else message[newline + 1 :]
        yield _QUOTED_FROM.sub(rb"\1", body)


def read_message(data: bytes) -> Message:
    """``data`` parsed within diag.mime's bounds; ``mime_structure`` when they are passed."""
    try:
        return parse_message(data)
    except MimeStructureError as error:
        raise ReportRefused(reason="mime_structure", detail=str(error)) from None


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except (LookupError, ValueError):  # an RFC 2231 name in an unknown charset
        name = ""
    return safe_text(str(name))[:120]


def report_parts(message: Message) -> Iterator[tuple[str, bytes]]:
    """Each leaf part that may hold a report, by media type or file name: where it is
    (``part 3 (a.xml.gz)``) and its decoded bytes."""
    for index, part in enumerate(walk_parts(message)):
        if part.is_multipart() or part.get_content_maintype() == "message":
            continue
        name = _filename(part)
        wanted = part.get_content_type() in REPORT_TYPES or name.lower().endswith(REPORT_SUFFIXES)
        if not wanted:
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            yield f"part {index + 1}" + (f" ({name})" if name else ""), payload
