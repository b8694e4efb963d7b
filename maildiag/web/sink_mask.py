"""Reset links in captured mail, masked: what the sink shows every viewer below admin.

A reset link is any URL to ``/reset-password`` with a ``token`` parameter (``reset.MailComposer``
makes them), also percent-encoded inside another URL. Its token becomes ``REDACTED``, the same
mask the outbox keeps. A message is masked part by part after undoing its transfer encoding
(quoted-printable splits links across lines, base64 hides them), header fields after decoding
their encoded words, then written back with the same encodings. Pure; fails closed: a message
whose masked form still shows a link raises ``MaskError``.
"""

from __future__ import annotations

import base64
import dataclasses
import email
import email.header
import email.policy
import io
import quopri
import re
from email.generator import BytesGenerator
from email.message import Message
from typing import Any

import reset
from diag.mime import MimeStructureError, parse_message
from smtp_sink import CapturedMessage, HeaderSummary

MASK = reset.REDACTED
_PATH = re.escape(reset.RESET_PATH.lstrip("/"))
_TOKEN_CHAR = r"(?:%(?!26)[0-9A-Fa-f]{2}|[^\s\"'<>&#;%\\)\]])"  # noqa: S105 - a pattern
RESET_LINK = re.compile(
    rf"(?P<keep>{_PATH}/?(?:\?|%3F)(?:[^\s\"'<>#]*?(?:&amp;|&|;|%26))?token(?:=|%3D))"
    rf"(?P<token>{_TOKEN_CHAR}+)",
    re.IGNORECASE,
)
_WRITE = email.policy.compat32.clone(linesep="\r\n")
_QP_SOFT_BREAK = re.compile(rb"=\r?\n")
NOT_SHOWN = "[maildiag: this part held a password reset link in an encoding it cannot rewrite]"


class MaskError(ValueError):
    """A message whose reset links could not all be masked; it must not be shown."""


def mask_text(text: str) -> tuple[str, int]:
    """``text`` with every reset link's token masked, and how many tokens were masked."""
    count = 0

    def hide(match: re.Match[str]) -> str:
        nonlocal count
        if match["token"] != MASK:
            count += 1
        return match["keep"] + MASK

    return RESET_LINK.sub(hide, text), count


def mask_json(value: Any) -> tuple[Any, int]:
    """``value`` (JSON types) with every string masked, and the number of tokens masked."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        pairs = {key: mask_json(item) for key, item in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, sum(n for _, n in pairs.values())
    if isinstance(value, list):
        items = [mask_json(item) for item in value]
        return [v for v, _ in items], sum(n for _, n in items)
    return value, 0


def _decoded_header(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def _mask_headers(part: Message) -> int:
    items = part.items()
    masked = [(name, *mask_text(_decoded_header(str(value)))) for name, value in items]
    count = sum(n for _, _, n in masked)
    if count:
        for name in dict.fromkeys(name for name, _ in items):
            del part[name]
        for (name, original), (_, text, n) in zip(items, masked, strict=True):
            if n:
                text = text if text.isascii() else email.header.Header(text, "utf-8").encode()
            part[name] = text if n else original
    return count


def _codec(part: Message) -> str:
    if part.get_content_maintype() != "text":
        return "latin-1"  # byte for byte: a token in ASCII is found in any binary part
    charset = part.get_content_charset() or "utf-8"
    try:
        "".encode(charset)
    except LookupError:
        return "latin-1"
    return charset


def _encoded(data: bytes, cte: str) -> str | None:
    if cte == "base64":
        return base64.encodebytes(data).decode("ascii")
    if cte == "quoted-printable":
        return quopri.encodestring(data).decode("ascii")
    if cte in ("", "7bit", "8bit", "binary"):
        return data.decode("ascii", "surrogateescape")
    return None  # x-uuencode and the like: not written back


def _mask_body(part: Message) -> int:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return 0
    codec = _codec(part)
    text, count = mask_text(data.decode(codec, "surrogateescape"))
    if not count:
        return 0
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    try:
        payload = _encoded(text.encode(codec, "surrogateescape"), cte)
    except UnicodeError:
        payload = None
    if payload is None:
        del part["Content-Transfer-Encoding"]
        part["Content-Transfer-Encoding"] = "7bit"
        payload = NOT_SHOWN
    part.set_payload(payload)
    return count


def _leaks(data: bytes) -> bool:
    """True when ``data``, read as plainly as possible, still shows an unmasked token."""
    text = _QP_SOFT_BREAK.sub(b"", data).replace(b"=3D", b"=").replace(b"=3d", b"=")
    return mask_text(text.decode("latin-1"))[1] > 0


def _masked(raw: bytes) -> tuple[bytes, int]:
    message = parse_message(raw)  # within diag.mime's depth and part caps
    count = 0
    for part in message.walk():
        count += _mask_headers(part)
        if not part.is_multipart():
            count += _mask_body(part)
    if not count:
        return raw, 0
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_WRITE).flatten(message)
    return out.getvalue(), count


def mask_message_bytes(raw: bytes) -> tuple[bytes, int]:
    """``raw`` with every reset link masked, and how many were. Unchanged bytes when there
    was none. Raises MaskError when the masked message would still show one."""
    try:
        masked, count = _masked(raw)
    except MimeStructureError as exc:  # nested too deep or too wide to read part by part
        raise MaskError(f"the message's structure was not read: {exc}") from None
    except (ValueError, TypeError, LookupError, IndexError) as exc:  # a message too broken
        raise MaskError(f"the message cannot be read part by part: {exc!r}") from None
    if _leaks(masked):
        raise MaskError("a reset link the masking could not reach")
    return masked, count


def mask_message(message: CapturedMessage) -> tuple[CapturedMessage, int]:
    """The captured message as a viewer below admin sees it, and how many tokens were masked:
    its bytes, its receiver's header fields and its indexed subject and From masked alike.
    Raises MaskError when that is not possible."""
    summary = message.summary
    result = masked_view(message.raw, message.added_headers, summary.subject, summary.from_header)
    masked = result.applied_to(message)
    if masked is None:
        raise MaskError("the message's reset links cannot all be masked")
    return masked, result.links


@dataclasses.dataclass(frozen=True)
class Masked:
    """What a viewer below admin sees of a captured message's bytes, receiver's header fields,
    subject and From (``raw`` None when it cannot be masked), and how many reset links it holds
    (at least 1 when the masking could not reach one). Plain values, for a worker process."""

    raw: bytes | None
    added_headers: bytes = b""
    subject: str = ""
    from_header: str = ""
    links: int = 1

    def applied_to(self, message: CapturedMessage) -> CapturedMessage | None:
        """``message`` with these masked values; None when it cannot be masked."""
        if self.raw is None:
            return None
        summary = HeaderSummary(message.summary.message_id, self.subject, self.from_header)
        return dataclasses.replace(
            message, raw=self.raw, added_headers=self.added_headers, summary=summary
        )


def masked_view(raw: bytes, added_headers: bytes, subject: str, from_header: str) -> Masked:
    """The masked values of one message (as ``mask_message``); never raises MaskError."""
    try:
        masked_raw, in_body = mask_message_bytes(raw)
    except MaskError:
        return Masked(None)
    added, in_added = mask_text(added_headers.decode("latin-1"))
    masked_subject, in_subject = mask_text(subject)
    sender, in_from = mask_text(from_header)
    links = in_body + in_added + in_subject + in_from
    return Masked(masked_raw, added.encode("latin-1"), masked_subject, sender, links)


def mask_summary(message: CapturedMessage) -> tuple[CapturedMessage, int]:
    """The message with only its subject and From masked (for lists, which show no more)."""
    subject, in_subject = mask_text(message.summary.subject)
    sender, in_from = mask_text(message.summary.from_header)
    summary = HeaderSummary(message.summary.message_id, subject, sender)
    return dataclasses.replace(message, summary=summary), in_subject + in_from


__all__ = [
    "MASK",
    "RESET_LINK",
    "MaskError",
    "Masked",
    "mask_json",
    "mask_message",
    "mask_message_bytes",
    "mask_summary",
    "mask_text",
    "masked_view",
]
