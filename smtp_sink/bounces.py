"""Bounce intake: reading delivery status notifications that come back to bounce addresses.

``parse_bounce`` is pure. It reads RFC 3464 reports with the stdlib email package and falls back
to flufl.bounce for the common non-standard forms. ``bounce_token`` matches a recipient against
the configured bounce address patterns and takes the VERP token (the part after ``+``).
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from email.message import Message

from flufl.bounce import all_failures

from diag.mime import MimeStructureError, parse_message
from smtp_sink.errors import BounceParseError

log = logging.getLogger(__name__)

_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_MESSAGE_ID = re.compile(r"^Message-ID:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)
_DIAGNOSTIC = re.compile(r"^.*\b[45]\d\d[ -][45]\.\d{1,3}\.\d{1,3}\b.*$", re.MULTILINE)
_READ_ERRORS = (LookupError, ValueError, TypeError, AttributeError, UnicodeError)
MAX_TEXT = 998  # RFC 5322 §2.1.1


@dataclass(frozen=True)
class BounceReport:
    """One bounce, ready for the delivery log.

    ``kind`` is ``rfc3464`` for a standard report, ``heuristic`` for one read by flufl.bounce.
    """

    original_message_id: str
    verp_token: str
    failed_recipients: tuple[str, ...]
    status: str
    action: str
    diagnostic: str
    reporting_mta: str
    kind: str = "rfc3464"


OnBounce = Callable[[BounceReport], Awaitable[None]]


def bounce_token(recipient: str, patterns: Iterable[str]) -> str | None:
    """The VERP token of ``recipient`` when it matches a bounce pattern ('' for no token).

    None when the address is not a bounce address.
    """
    address = recipient.lower()
    for pattern in patterns:
        if fnmatch.fnmatchcase(address, pattern.lower()):
            local = address.rpartition("@")[0]
            return local.partition("+")[2]
    return None


def _value(block: Message, name: str) -> str:
    raw = block.get(name)
    if raw is None:
        return ""
    text = " ".join(str(raw).split())
    return text[:MAX_TEXT]


def _address(value: str) -> str:
    """``rfc822; user@example.com`` -> ``user@example.com`` (RFC 3464 §2.3.2)."""
    return value.partition(";")[2].strip() if ";" in value else value.strip()


def _original_message_id(message: Message) -> str:
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
            found = _MESSAGE_ID.search(text)
            if found:
                return found.group(1)
        elif ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return _value(inner[0], "Message-ID")
    return ""


def _from_delivery_status(message: Message, token: str) -> BounceReport | None:
    status_part = next(
        (p for p in message.walk() if p.get_content_type() == "message/delivery-status"), None
    )
    if status_part is None:
        return None
    payload = status_part.get_payload()
    blocks = [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
    if not blocks:
        return None
    per_message, recipients = blocks[0], blocks[1:]
    failed = [b for b in recipients if _value(b, "Action").lower() == "failed"]
    chosen = failed or recipients
    first = chosen[0] if chosen else per_message
    return BounceReport(
        original_message_id=_original_message_id(message),
        verp_token=token,
        failed_recipients=tuple(_address(_value(b, "Final-Recipient")) for b in failed),
        status=_value(first, "Status"),
        action=_value(first, "Action").lower(),
        diagnostic=_address(_value(first, "Diagnostic-Code")),
        reporting_mta=_address(_value(per_message, "Reporting-MTA")),
    )


def _body_text(message: Message) -> str:
    chunks: list[str] = []
    for part in message.walk():
        if part.get_content_maintype() in ("text", "message") and not part.is_multipart():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                chunks.append(payload.decode("utf-8", "replace"))
    return "\n".join(chunks)


def _heuristic(message: Message, token: str) -> BounceReport | None:
    temporary, permanent = all_failures(message)
    if not temporary and not permanent:
        return None
    addresses = sorted(a.decode("utf-8", "replace") for a in (permanent or temporary))
    text = _body_text(message)
    status_match = _STATUS.search(text)
    diagnostic = _DIAGNOSTIC.search(text)
    default_status = "5.0.0" if permanent else "4.0.0"
    return BounceReport(
        original_message_id=_original_message_id(message) or _search_id(text),
        verp_token=token,
        failed_recipients=tuple(addresses),
        status=status_match.group(1) if status_match else default_status,
        action="failed" if permanent else "delayed",
        diagnostic=diagnostic.group(0).strip()[:MAX_TEXT] if diagnostic else "",
        reporting_mta="",
        kind="heuristic",
    )


def _search_id(text: str) -> str:
    found = _MESSAGE_ID.search(text)
    return found.group(1) if found else ""


def parse_bounce(raw: bytes, *, verp_token: str = "") -> BounceReport | None:
    """A ``BounceReport`` for ``raw``, or None when it does not look like a bounce.

    Total on any non-empty input: a damaged report falls back to the heuristic reading, and
    what neither can read gives None. Raises ``BounceParseError`` only for empty input.
    """
    if not raw.strip():
        raise BounceParseError("empty message")
    try:
        message = parse_message(raw)
    except MimeStructureError as error:
        log.info("sink.bounce_unreadable reader=parse error=%s", error)
        return None
    for reader in (_from_delivery_status, _heuristic):
        try:
            report = reader(message, verp_token)
        except _READ_ERRORS as error:
            log.info("sink.bounce_unreadable reader=%s error=%r", reader.__name__, error)
            continue
        if report is not None:
            return report
    return None
