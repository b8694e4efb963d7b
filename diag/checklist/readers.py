"""What the checklist takes from a paste: the receiver's filing of the mail (through the header
analysis of ``diag.headers``) and the status and reply in a bounce (through ``diag.bounces``,
with a plain-text fallback for bounces that carry no DSN).

Pure: bytes in, frozen values out; never raises for bad input (the worst is "unknown").
"""

from __future__ import annotations

import re

from diag.bounces import parse_bounce_message
from diag.checklist.facts import BounceFacts, SmtpReply, SpamVerdict
from diag.headers import parse_headers

MAX_PASTE = 1024 * 1024  # bytes read from a paste; the rest is ignored
_REPLY = re.compile(r"\b([245][0-9][0-9])[ -]((?:[245])\.[0-9]{1,3}\.[0-9]{1,3})?\s*(.*)")
_STATUS = re.compile(r"^[245]\.[0-9]{1,3}\.[0-9]{1,3}$")  # RFC 3463 §2


def read_spam_verdict(raw: bytes) -> SpamVerdict:
    """The folder the receiver's filter chose, with the verdicts behind that conclusion."""
    report = parse_headers(raw[:MAX_PASTE])
    conclusion = report.conclusion
    deciding = [v for v in report.verdicts if conclusion.decided_by.endswith(v.receiver)]
    system = next(iter(deciding or report.verdicts), None)
    details = {
        "summary": conclusion.summary,
        "decided_by": conclusion.decided_by,
        "verdicts": [v.to_dict() for v in report.verdicts],
        "hops": [h.to_dict() for h in report.hops],
        "total_delay_seconds": report.total_delay_seconds,
    }
    return SpamVerdict(
        conclusion.folder, conclusion.reason, system.system if system is not None else "", details
    )


def parse_smtp_reply(text: str) -> SmtpReply | None:
    """The first ``NNN [X.Y.Z] text`` reply in ``text``, or None. Pure."""
    match = _REPLY.search(text)
    if match is None:
        return None
    return SmtpReply(int(match[1]), match[2] or "", match[3].strip()[:500])


def read_bounce(raw: bytes) -> BounceFacts:
    """Status, action, recipient, remote MTA and the SMTP reply in a bounce. Never raises."""
    analysis = parse_bounce_message(raw[:MAX_PASTE])
    first = analysis.recipients[0] if analysis.recipients else None
    if first is not None and first.status:
        diagnostic = first.diagnostic.partition(";")[2].strip() or first.diagnostic
        return BounceFacts(
            status=first.status,
            action=first.action.lower(),
            recipient=first.address,
            remote_mta=first.remote_mta,
            diagnostic=diagnostic[:500],
            reply=parse_smtp_reply(diagnostic),
            is_dsn=analysis.standard,
        )
    text = raw[:MAX_PASTE].decode("utf-8", "replace")
    reply = parse_smtp_reply(text)
    status = reply.enhanced if reply is not None and _STATUS.match(reply.enhanced) else ""
    return BounceFacts(
        status=status,
        diagnostic=reply.line if reply else "",
        reply=reply,
        recipient=first.address if first is not None else "",
    )


__all__ = ["parse_smtp_reply", "read_bounce", "read_spam_verdict"]
