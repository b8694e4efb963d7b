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
# An RFC 3463 status, not part of a dotted number such as an IP address or a version.
_STATUS = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?!\w|\.\d)")
_SMTP_CODE = re.compile(r"\b([45]\d\d)[ -]")
_REPLY_CODE = re.compile(r"^\s*([245]\d\d)(?:[ -]|$)")  # RFC 5321 §4.2: the reply opens with it
_VERP = re.compile(r"\bbounce\+([A-Za-z0-9._=-]{1,200})@", re.IGNORECASE)
_ADDRESS_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
RFC_DSN = "RFC 3464 §2.3"
RFC_STATUS = "RFC 3463 §3"
RFC_REPLY = "RFC 5321 §4.2.3"
# Microsoft's documented meaning of 550 5.4.1 in Exchange Online (RFC 3463's X.4.1 is "no
# answer from host"): directory-based edge blocking refused a recipient the tenant lacks.
EXCHANGE_DBEB_REFERENCE = (
    "Microsoft Learn, Exchange Online: Fix NDR error code 550 5.4.1 "
    "(directory-based edge blocking: the recipient address is not in the organization)"
)
_DBEB_MARKERS = ("recipient address rejected: access denied", "as(201806281)")

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
# How a reason was found: a vendor's documented meaning, the enhanced status, the basic reply
# code, the words, or nothing.
MEANINGS = ("exchange_online_dbeb", "status", "reply_code", "text", "none")
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
# Basic reply codes with one meaning (RFC 5321 §4.2.2-4.2.3), read only without an enhanced
# code: 552 "exceeded storage allocation", 551 "user not local".
_BY_REPLY = {552: "mailbox_full", 551: "unknown_user"}
_SPAM_WORDS = ("spam", "blocklist", "blacklist", "block list", "reputation", "content rejected")


@dataclass(frozen=True)
class Classification:
    """A bounce's reason code, how it was found (one of ``MEANINGS``) and the document that
    gives that meaning."""

    reason: str
    meaning: str = "none"
    reference: str = ""


@dataclass(frozen=True)
class FailedRecipient:
    """One per-recipient block of a DSN (RFC 3464 §2.3), or a recipient found heuristically."""

    address: str
    action: str = ""
    status: str = ""
    diagnostic: str = ""
    remote_mta: str = ""
    reason: str = "other"
    dsn_status: str = ""  # the Status field as written; ``status`` is the most specific code
    reply_code: int | None = None
    meaning: str = "none"
    reference: str = ""

    def to_dict(self) -> JsonObject:
        return {
            "address": self.address,
            "action": self.action,
            "status": self.status,
            "diagnostic": self.diagnostic,
            "remote_mta": self.remote_mta,
            "reason": self.reason,
            "dsn_status": self.dsn_status,
            "reply_code": self.reply_code,
            "meaning": self.meaning,
            "reference": self.reference,
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
    return classify(status, diagnostic).reason


def classify(status: str, diagnostic: str = "", *, reply_code: int | None = None) -> Classification:
    """The reason for a failed delivery from its most specific code: a vendor's documented
    meaning where its markers match, else the enhanced ``status``, else the basic
    ``reply_code`` (when the status is missing or a generic X.0.0), else the words."""
    text = diagnostic.lower()
    if status == "5.4.1" and any(marker in text for marker in _DBEB_MARKERS):
        return Classification("unknown_user", "exchange_online_dbeb", EXCHANGE_DBEB_REFERENCE)
    reason = _by_status(status, text)
    if reason != "other":
        return Classification(reason, "status", RFC_STATUS)
    if reply_code in _BY_REPLY and _generic(status) and str(reply_code)[0] == (status or "5")[0]:
        return Classification(_BY_REPLY[reply_code], "reply_code", RFC_REPLY)
    if any(word in text for word in _SPAM_WORDS):
        return Classification("spam_rejected", "text")
    return Classification("other")


def _by_status(status: str, text: str) -> str:
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
    return "other"


def _generic(status: str) -> bool:
    """True for no status or a class-only one (X.0.0), which says nothing more than 4xx/5xx."""
    return not status or status.endswith(".0.0")


def most_specific_status(status: str, diagnostic: str) -> str:
    """The DSN's Status, or the enhanced code in its Diagnostic-Code when that is more specific
    in the same class (Exim writes ``Status: 5.0.0`` beside ``550 5.1.1``; RFC 3464 §2.3.4,
    §2.3.6). The Status wins a tie."""
    found = _STATUS.search(diagnostic)
    if found is None:
        return status
    code = ".".join(found.groups())
    if status and (code[0] != status[0] or _specificity(code) <= _specificity(status)):
        return status
    return code


def _specificity(code: str) -> int:
    _, subject, detail = code.split(".")
    return (subject != "0") + (detail != "0")


def reply_code_of(diagnostic: str) -> int | None:
    """The basic SMTP reply code that opens a diagnostic (``550 5.1.1 ...``), or None."""
    match = _REPLY_CODE.match(diagnostic)
    return int(match[1]) if match else None


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
        written = _STATUS.search(str(block.get("Status", "")))
        dsn_status = ".".join(written.groups()) if written else ""
        diagnostic = " ".join(_after_type(str(block.get("Diagnostic-Code", ""))).split())
        code = most_specific_status(dsn_status, diagnostic)
        reply_code = reply_code_of(diagnostic)
        found = classify(code, diagnostic, reply_code=reply_code)
        recipients.append(
            FailedRecipient(
                address=address.strip("<>"),
                action=str(block.get("Action", "")).strip().lower(),
                status=code,
                diagnostic=diagnostic,
                remote_mta=_after_type(str(block.get("Remote-MTA", ""))),
                reason=found.reason,
                dsn_status=dsn_status,
                reply_code=reply_code,
                meaning=found.meaning,
                reference=found.reference,
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
    reply_code = int(smtp[1]) if smtp else None
    diagnostic = _diagnostic_line(text, code or (smtp[1] if smtp else ""))
    found = []
    for addresses, action in ((permanent, "failed"), (temporary, "delayed")):
        for address in sorted(addresses):
            value = (
                address.decode("utf-8", "replace") if isinstance(address, bytes) else str(address)
            )
            if not code and action == "delayed":
                meaning = Classification("delayed")
            else:
                meaning = classify(code, diagnostic, reply_code=reply_code)
            found.append(
                FailedRecipient(
                    value,
                    action,
                    code,
                    diagnostic,
                    "",
                    meaning.reason,
                    code,
                    reply_code,
                    meaning.meaning,
                    meaning.reference,
                )
            )
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
                "dsn_status": r.dsn_status,
                "reply_code": r.reply_code,
                "diagnostic": r.diagnostic,
                "reporting_mta": reporting,
                "meaning": r.meaning,
            },
            rfc=r.reference or RFC_DSN,
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
    "EXCHANGE_DBEB_REFERENCE",
    "MAX_BOUNCE_BYTES",
    "MEANINGS",
    "REASONS",
    "BounceAnalysis",
    "Classification",
    "FailedRecipient",
    "classify",
    "classify_status",
    "most_specific_status",
    "parse_bounce_message",
    "reply_code_of",
]
