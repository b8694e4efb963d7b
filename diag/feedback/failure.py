"""DMARC failure reports (RFC 6591, on the Abuse Reporting Format of RFC 5965): the
``message/feedback-report`` fields and the headers of the message that failed, into a
FailureReport. The message is already parsed (``diag.mime``); this module reads its parts.
Pure.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime

from diag.errors import ReportRefused
from diag.feedback import values as v
from diag.feedback.limits import DEFAULT_LIMITS, Limits
from diag.feedback.model import FailureReport
from diag.mime import parse_message, walk_parts

FEEDBACK_PART = "message/feedback-report"  # RFC 5965 §3
ORIGINAL_PARTS = ("message/rfc822", "text/rfc822-headers")  # RFC 5965 §2 (c)
AUTH_FAILURE = "auth-failure"  # RFC 6591: the Feedback-Type of a failure report
MAX_FIELDS = 200  # feedback fields and original header fields kept


def is_failure_report(message: Message) -> bool:
    return any(part.get_content_type() == FEEDBACK_PART for part in walk_parts(message))


def _headers(part: Message, limits: Limits) -> list[tuple[str, str]]:
    """The header fields a part holds: a parsed message/* part's headers, or its text parsed
    as a header block."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        block = payload[0]
    else:
        raw = part.get_payload(decode=True)
        block = parse_message(raw if isinstance(raw, bytes) else b"")
    fields = []
    for name, value in block.items()[:MAX_FIELDS]:
        text = " ".join(v.safe_text(str(value)).split())[: limits.max_text]
        fields.append((v.safe_text(str(name))[:80], text))
    return fields


def _all(fields: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in fields if key.lower() == name and value]


def _one(fields: list[tuple[str, str]], name: str) -> str | None:
    found = _all(fields, name)
    return found[0] if found else None


def _reporter(message: Message, fields: list[tuple[str, str]]) -> str:
    """The reporter's name: its From domain, else the Reporting-MTA, else its User-Agent."""
    address = parseaddr(v.safe_text(str(message.get("From", ""))))[1]
    if "@" in address:
        return v.domain(address.rsplit("@", 1)[1], "From")
    mta = _one(fields, "reporting-mta")
    if mta:
        return v.domain(mta.split(";", 1)[-1], "Reporting-MTA")
    return v.required_text(_one(fields, "user-agent"), "From")


def _report_id(message: Message, fields: list[tuple[str, str]], original: list[str]) -> str:
    message_id = v.safe_text(str(message.get("Message-ID", ""))).strip().strip("<>").strip()
    if message_id:
        return v.required_text(message_id, "Message-ID")
    digest = hashlib.sha256(repr((fields, original)).encode("utf-8", "replace"))
    return f"sha256:{digest.hexdigest()}"


def _arrival(fields: list[tuple[str, str]], message: Message) -> dt.datetime | None:
    text = _one(fields, "arrival-date") or v.safe_text(str(message.get("Date", "")))
    if not text.strip():
        return None
    try:
        return v.instant(parsedate_to_datetime(text), "Arrival-Date")
    except (TypeError, ValueError, IndexError, OverflowError):
        raise ReportRefused(reason="bad_date", detail=f"Arrival-Date {text[:64]!r}") from None


def parse_failure(message: Message, *, limits: Limits = DEFAULT_LIMITS) -> FailureReport:
    """The failure report in ``message`` (a multipart/report with a feedback-report part).

    Raises ReportRefused: ``no_report`` (no feedback-report part), ``missing_field``,
    ``unsupported_feedback_type`` (an ARF report other than auth-failure), ``bad_value``,
    ``bad_date``.
    """
    parts = walk_parts(message)
    feedback = next((p for p in parts if p.get_content_type() == FEEDBACK_PART), None)
    if feedback is None:
        raise ReportRefused(reason="no_report", detail="no message/feedback-report part")
    fields = _headers(feedback, limits)
    original = next((p for p in parts if p.get_content_type() in ORIGINAL_PARTS), None)
    headers = _headers(original, limits) if original is not None else []
    kind = v.required_text(_one(fields, "feedback-type"), "Feedback-Type").lower()
    if kind != AUTH_FAILURE:
        raise ReportRefused(reason="unsupported_feedback_type", detail=kind[:64])
    incidents = _one(fields, "incidents")
    return FailureReport(
        org_name=_reporter(message, fields),
        report_id=_report_id(message, fields, [f"{k}: {x}" for k, x in headers]),
        feedback_type=kind,
        arrival_date=_arrival(fields, message),
        source_ip=v.optional_ip(_one(fields, "source-ip"), "Source-IP"),
        reported_domain=v.optional_domain(_one(fields, "reported-domain"), "Reported-Domain"),
        auth_failure=tuple(a.lower() for a in _all(fields, "auth-failure")),
        original_mail_from=_one(fields, "original-mail-from"),
        original_rcpt_to=tuple(_all(fields, "original-rcpt-to")),
        delivery_result=_one(fields, "delivery-result"),
        identity_alignment=_one(fields, "identity-alignment"),
        dkim_domain=v.optional_domain(_one(fields, "dkim-domain"), "DKIM-Domain"),
        dkim_selector=_one(fields, "dkim-selector"),
        authentication_results=tuple(_all(fields, "authentication-results")),
        user_agent=_one(fields, "user-agent"),
        incidents=v.count(incidents, "Incidents") if incidents else 1,
        fields=tuple(fields),
        original_headers=tuple(headers),
    )
