"""Bounce (non-delivery) messages: RFC 3464 delivery status notifications and the common
non-standard forms (through flufl.bounce), read into the original message, the failed
recipients, the status, and a plain-language reason code. Pure; never raises for the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message

from flufl.bounce import all_failures

from diag.errors import MimeStructureError
from diag.findings import ERROR, INFO, WARNING, Finding
from diag.jsonvalue import JsonObject
from diag.mime import parse_message, walk_parts

MAX_BOUNCE_BYTES = 2_000_000  # a bounce carrying more than this is read only this far
MAX_PARTS = 200  # MIME parts walked; a message with more is not read as a heuristic bounce
MAX_RECIPIENTS = 100  # per-recipient blocks read from one DSN
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"\b([45]\d\d)[ -]")
_VERP = re.compile(r"\bbounce\+([A-Za-z0-9._=-]{1,200})@", re.IGNORECASE)
_ADDRESS_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")

# Reason codes and the statuses behind them (RFC 3463 §3, RFC 7372, IANA enhanced codes).
REASONS = (
    "mailbox_full",
    "unknown_user",
    "sender_blocked",
    "dmarc_rejected",
    "spam_rejected",
    "greylisted",
    "delayed",
    "domain_not_found",
    "message_too_big",
    "other",
)
_BY_STATUS = {
    "5.2.2": "mailbox_full",
    "4.2.2": "mailbox_full",
    "5.1.1": "unknown_user",
    "5.1.10": "unknown_user",
    "5.1.6": "unknown_user",
    "5.7.26": "dmarc_rejected",
    "5.1.2": "domain_not_found",
    "5.4.4": "domain_not_found",
    "4.4.4": "domain_not_found",
    "5.3.4": "message_too_big",
    "5.2.3": "message_too_big",
    "5.7.1": "sender_blocked",
}
_SPAM_WORDS = ("spam", "blocklist", "blacklist", "block list", "reputation", "content rejected")


@dataclass(frozen=True)
class FailedRecipient:
    """One per-recipient block of a DSN (RFC 3464 §2.3), or a recipient found heuristically."""

    address: str
    action: str = ""
    status: str = ""
    diagnostic: str = ""
    remote_mta: str = ""
    reason: str = "other"

    def to_dict(self) -> dict[str, str]:
        return {
            "address": self.address,
            "action": self.action,
            "status": self.status,
            "diagnostic": self.diagnostic,
            "remote_mta": self.remote_mta,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class BounceAnalysis:
    """What a bounce says: which message, which recipients, and why."""

    is_bounce: bool
    standard: bool = False
    original_message_id: str = ""
    verp_token: str = ""
    reporting_mta: str = ""
    recipients: tuple[FailedRecipient, ...] = ()
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def reason(self) -> str:
        """The first failed recipient's reason (``other`` when there is none)."""
        return self.recipients[0].reason if self.recipients else "other"

    @property
    def action(self) -> str:
        return self.recipients[0].action if self.recipients else ""

    @property
    def status(self) -> str:
        return self.recipients[0].status if self.recipients else ""

    def to_dict(self) -> JsonObject:
        return {
            "is_bounce": self.is_bounce,
            "standard": self.standard,
            "original_message_id": self.original_message_id,
            "verp_token": self.verp_token,
            "reporting_mta": self.reporting_mta,
            "action": self.action,
            "status": self.status,
            "reason": self.reason,
            "recipients": [r.to_dict() for r in self.recipients],
            "findings": [f.to_dict() for f in self.findings],
        }


def classify_status(status: str, diagnostic: str = "") -> str:
    """A reason code from an enhanced status (``5.2.2``) and the diagnostic text."""
    text = diagnostic.lower()
    if status in ("5.7.26",) or (status.startswith("5.7.") and "dmarc" in text):
        return "dmarc_rejected"
    if status.startswith("5.7.") and any(word in text for word in _SPAM_WORDS):
        return "spam_rejected"
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status.startswith("4."):
        return "greylisted" if status.startswith("4.7.") or "greylist" in text else "delayed"
    if status.startswith("5.7."):
        return "sender_blocked"
    if any(word in text for word in _SPAM_WORDS):
        return "spam_rejected"
    return "other"


def parse_bounce_message(raw: bytes) -> BounceAnalysis:
    """Read ``raw`` as a bounce. Never raises: garbage gives ``is_bounce=False`` and a finding."""
    try:
        message = parse_message(raw[:MAX_BOUNCE_BYTES])
    except MimeStructureError as exc:
        return _not_a_bounce("bounce.unreadable", f"cannot be read as a message: {exc}")
    except Exception as exc:  # the email package raises assorted errors on hostile input
        return _not_a_bounce("bounce.unreadable", f"cannot be read as a message: {exc}")
    try:
        return _analyze(message)
    except Exception as exc:  # a malformed MIME tree can surprise the email package
        return _not_a_bounce("bounce.unreadable", f"the MIME structure cannot be read: {exc}")


def _not_a_bounce(code: str, summary: str) -> BounceAnalysis:
    return BounceAnalysis(False, findings=(Finding(code, WARNING, summary, {}, rfc="RFC 3464"),))


def _analyze(message: Message) -> BounceAnalysis:
    parts = walk_parts(message, MAX_PARTS)
    status_part = next(
        (p for p in parts if p.get_content_type() == "message/delivery-status"), None
    )
    original = _original_headers(parts)
    message_id = (original.get("Message-ID") or "").strip() if original else ""
    token = _verp_token(message, original)
    if status_part is not None:
        reporting, recipients = _dsn_fields(status_part)
        if recipients:
            return _result(True, message_id, token, reporting, recipients)
    if len(parts) >= MAX_PARTS:
        return _not_a_bounce("bounce.not_a_bounce", "too many MIME parts for a bounce")
    recipients = _heuristic(message)
    if not recipients:
        return _not_a_bounce("bounce.not_a_bounce", "no failed recipient found in the message")
    return _result(False, message_id, token, "", recipients)


def _original_headers(parts: list[Message]) -> Message | None:
    for part in parts:
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if kind == "text/rfc822-headers":
            text = part.get_payload(decode=True)
            if isinstance(text, bytes):
                return parse_message(text)
    return None


def _verp_token(message: Message, original: Message | None) -> str:
    candidates = [str(message.get(name, "")) for name in _ADDRESS_HEADERS]
    if original is not None:
        candidates.append(str(original.get("Return-Path", "")))
    for value in candidates:
        match = _VERP.search(value)
        if match:
            return match[1]
    return ""


def _dsn_fields(part: Message) -> tuple[str, list[FailedRecipient]]:
    """The per-message and per-recipient fields (RFC 3464 §2.2, §2.3)."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return "", []
    blocks = [b for b in payload if isinstance(b, Message)]
    if not blocks:
        return "", []
    reporting = _after_type(str(blocks[0].get("Reporting-MTA", "")))
    recipients = []
    for block in (blocks[1:] if len(blocks) > 1 else blocks)[:MAX_RECIPIENTS]:
        address = _after_type(
            str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
        )
        if not address:
            continue
        status = _STATUS.search(str(block.get("Status", "")))
        diagnostic = " ".join(_after_type(str(block.get("Diagnostic-Code", ""))).split())
        code = ".".join(status.groups()) if status else ""
        recipients.append(
            FailedRecipient(
                address=address.strip("<>"),
                action=str(block.get("Action", "")).strip().lower(),
                status=code,
                diagnostic=diagnostic,
                remote_mta=_after_type(str(block.get("Remote-MTA", ""))),
                reason=classify_status(code, diagnostic),
            )
        )
    return reporting, recipients


def _after_type(value: str) -> str:
    """``rfc822; kari@example`` -> ``kari@example`` (the address-type prefix, RFC 3464 §2.1.2)."""
    head, sep, rest = value.partition(";")
    return (rest if sep else head).strip()


def _heuristic(message: Message) -> list[FailedRecipient]:
    """Non-standard bounces: flufl.bounce finds the recipients; the text gives the status."""
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # flufl.bounce's detectors are heuristics over arbitrary input
        return []
    text = _plain_text(message)
    status = _STATUS.search(text)
    code = ".".join(status.groups()) if status else ""
    smtp = _SMTP_CODE.search(text)
    diagnostic = _diagnostic_line(text, code or (smtp[1] if smtp else ""))
    found = []
    for addresses, action in ((permanent, "failed"), (temporary, "delayed")):
        for address in sorted(addresses):
            value = (
                address.decode("utf-8", "replace") if isinstance(address, bytes) else str(address)
            )
            if not code and action == "delayed":
                reason = "delayed"
            else:
                reason = classify_status(code, diagnostic)
            found.append(FailedRecipient(value, action, code, diagnostic, "", reason))
    return found


def _plain_text(message: Message) -> str:
    chunks = []
    for part in walk_parts(message, MAX_PARTS):
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                chunks.append(payload.decode("utf-8", "replace"))
    return "\n".join(chunks)[:100_000]


def _diagnostic_line(text: str, needle: str) -> str:
    if not needle:
        return ""
    for line in text.splitlines():
        if needle in line:
            return " ".join(line.split())[:500]
    return ""


def _result(
    standard: bool, message_id: str, token: str, reporting: str, recipients: list[FailedRecipient]
) -> BounceAnalysis:
    findings = [
        Finding(
            f"bounce.{r.reason}",
            WARNING if r.action in ("delayed", "relayed", "delivered", "expanded") else ERROR,
            f"{r.address}: {r.action or 'failed'} ({r.status or 'no status'})",
            {
                "recipient": r.address,
                "action": r.action,
                "status": r.status,
                "diagnostic": r.diagnostic,
                "reporting_mta": reporting,
            },
            rfc="RFC 3464 §2.3",
        )
        for r in recipients
    ]
    if not message_id:
        findings.append(
            Finding(
                "bounce.no_original",
                INFO,
                "the bounce does not quote the original message's Message-ID",
                {},
                rfc="RFC 3462 §2",
            )
        )
    return BounceAnalysis(
        True, standard, message_id, token, reporting, tuple(recipients), tuple(findings)
    )


__all__ = [
    "MAX_BOUNCE_BYTES",
    "REASONS",
    "BounceAnalysis",
    "FailedRecipient",
    "classify_status",
    "parse_bounce_message",
]
