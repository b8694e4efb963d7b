"""The checklist items about one reset mail's life: the request, the send, the receiver's
acceptance and the link. Pure functions of ``Evidence``; the request, send and link items read
account data, which only the support audience's evidence carries.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

from diag.checklist.facts import (
    ChecklistItem,
    DeliveryFact,
    Evidence,
    ItemKey,
    ProbeResult,
    Status,
    reply_line,
)
from diag.findings import ERROR, WARNING, Finding, Severity

RFC_ENHANCED = "RFC 3463 §3"


def finding(
    code: str, severity: Severity, summary: str, rfc: str = "", **evidence: object
) -> Finding:
    """A checklist finding with ``evidence`` given as keywords."""
    return Finding(code, severity, summary, MappingProxyType(evidence), rfc=rfc)


def probe_evidence(probe: ProbeResult) -> dict[str, object]:
    """What an item shows of one probe: sender, host, stage, reply and transcript."""
    return {
        "sender": probe.sender,
        "host": probe.host,
        "stage": probe.stage,
        "reply": probe.reply.line if probe.reply else "",
        "transcript": list(probe.transcript),
    }


def reset_requested(ev: Evidence) -> ChecklistItem:
    key: ItemKey = "reset.requested"
    if ev.account is None or not ev.account.exists:
        return ChecklistItem(key, "not_checked", {"reason": "no_account"})
    latest = ev.account.latest_reset
    if latest is None:
        found = finding(
            "checklist.no_reset_request", WARNING, "no reset was requested", address=ev.address
        )
        return ChecklistItem(key, "warning", {"count": 0}, (found,))
    evidence = {"count": len(ev.account.resets), **latest.to_dict()}
    return ChecklistItem(key, "ok", evidence)


def _last_attempt(attempts: Iterable[DeliveryFact]) -> DeliveryFact | None:
    ordered = list(attempts)
    return ordered[-1] if ordered else None


def delivery_sent(ev: Evidence) -> ChecklistItem:
    key: ItemKey = "delivery.sent"
    latest = ev.account.latest_reset if ev.account is not None else None
    if ev.account is None or latest is None:
        return ChecklistItem(key, "not_checked", {"reason": "no_reset"})
    attempts = ev.account.deliveries_for(latest.outbox_id)
    last = _last_attempt(attempts)
    evidence: dict[str, object] = {
        "outbox_id": latest.outbox_id,
        "status": latest.status,
        "attempts": [a.to_dict() for a in attempts],
        "reply": _reply_line(last),
    }
    if latest.status in ("failed", "discarded"):
        found = finding(
            "checklist.send_failed",
            ERROR,
            "the reset mail could not be sent",
            status=latest.status,
            reply=evidence["reply"],
        )
        return ChecklistItem(key, "problem", evidence, (found,))
    if latest.status in ("queued", "sending", "deferred"):
        found = finding(
            "checklist.send_pending",
            WARNING,
            "the reset mail is not sent yet",
            status=latest.status,
            reply=evidence["reply"],
        )
        return ChecklistItem(key, "warning", evidence, (found,))
    return ChecklistItem(key, "ok", evidence)


def _reply_line(attempt: DeliveryFact | None) -> str:
    return attempt.line if attempt is not None else ""


def delivery_accepted(ev: Evidence) -> ChecklistItem:
    key: ItemKey = "delivery.accepted"
    if ev.bounce is not None and (ev.bounce.permanent or ev.bounce.status.startswith("4")):
        status: Status = "problem" if ev.bounce.permanent else "warning"
        severity = ERROR if ev.bounce.permanent else WARNING
        found = finding(
            "checklist.bounced",
            severity,
            "the mail came back as a bounce",
            "RFC 3464 §2.3",
            **ev.bounce.to_dict(),
        )
        evidence = {"source": "bounce", "bounce": ev.bounce.to_dict(), "reply": _bounce_line(ev)}
        return ChecklistItem(key, status, evidence, (found,))
    if ev.audience == "support" and ev.account is not None:
        item = _accepted_from_log(ev)
        if item is not None:
            return item
    return _accepted_from_probe(ev)


def _accepted_from_log(ev: Evidence) -> ChecklistItem | None:
    assert ev.account is not None
    latest = ev.account.latest_reset
    last = _last_attempt(ev.account.deliveries_for(latest.outbox_id if latest else None))
    if last is None:
        return None
    evidence: dict[str, object] = {
        "source": "log",
        "attempt": last.to_dict(),
        "reply": _reply_line(last),
    }
    attempts = ev.account.deliveries_for(latest.outbox_id if latest else None)
    if last.bounced and any(a.code is not None and 200 <= a.code < 300 for a in attempts):
        # accepted at the end of DATA, then returned in a DSN (RFC 3464): not a refusal
        evidence["outcome"] = "bounced_after_accept"
        found = finding(
            "checklist.bounced",
            ERROR,
            "the receiver accepted the mail, then returned it as undeliverable",
            "RFC 3464 §2.3",
            reply=evidence["reply"],
            bounce_reason=last.bounce_reason,
        )
        return ChecklistItem("delivery.accepted", "problem", evidence, (found,))
    if last.bounced or (last.code is not None and last.code >= 500):
        found = finding(
            "checklist.rejected",
            ERROR,
            "the receiver refused or bounced the mail",
            reply=evidence["reply"],
            bounce_reason=last.bounce_reason,
        )
        return ChecklistItem("delivery.accepted", "problem", evidence, (found,))
    if last.code is not None and last.code >= 400:
        found = finding(
            "checklist.deferred", WARNING, "the receiver deferred the mail", reply=evidence["reply"]
        )
        return ChecklistItem("delivery.accepted", "warning", evidence, (found,))
    return ChecklistItem("delivery.accepted", "ok", evidence) if last.code else None


def _bounce_line(ev: Evidence) -> str:
    assert ev.bounce is not None
    reply = ev.bounce.reply
    if reply is not None:
        return reply_line(reply.code, reply.enhanced or ev.bounce.status, reply.text)
    return reply_line(None, ev.bounce.status, ev.bounce.diagnostic)


def _accepted_from_probe(ev: Evidence) -> ChecklistItem:
    key: ItemKey = "delivery.accepted"
    asked = [p for p in ev.probes if p.reply is not None]
    if not asked:
        reason = ev.probes[0].error if ev.probes else "not_probed"
        return ChecklistItem(key, "not_checked", {"source": "probe", "reason": reason})
    refused = [p for p in asked if p.reply and p.reply.code >= 500]
    deferred = [p for p in asked if p.reply and 400 <= p.reply.code < 500]
    evidence: dict[str, object] = {"source": "probe", "probes": [probe_evidence(p) for p in asked]}
    if refused:
        first = refused[0]
        found = finding(
            "checklist.rejected",
            ERROR,
            "the receiver refuses the mail",
            RFC_ENHANCED,
            reply=first.reply.line if first.reply else "",
            stage=first.stage,
            sender=first.sender,
        )
        return ChecklistItem(key, "problem", evidence, (found,))
    if deferred:
        first = deferred[0]
        found = finding(
            "checklist.deferred",
            WARNING,
            "the receiver defers the mail (greylisting or a temporary failure)",
            "RFC 5321 §4.2.1",
            reply=first.reply.line if first.reply else "",
            stage=first.stage,
            sender=first.sender,
        )
        return ChecklistItem(key, "warning", evidence, (found,))
    evidence["rcpt_checked"] = all(p.rcpt_checked for p in asked)
    return ChecklistItem(key, "ok", evidence)


def link_valid(ev: Evidence) -> ChecklistItem:
    key: ItemKey = "link.valid"
    latest = ev.account.latest_reset if ev.account is not None else None
    if latest is None:
        return ChecklistItem(key, "not_checked", {"reason": "no_reset"})
    evidence = latest.to_dict()
    if latest.token_used_at is not None:
        found = finding(
            "checklist.link_used",
            ERROR,
            "the reset link was already used",
            used_at=latest.token_used_at.isoformat(),
        )
        return ChecklistItem(key, "problem", {**evidence, "state": "used"}, (found,))
    if latest.token_expires_at is not None and latest.token_expires_at <= ev.now:
        found = finding(
            "checklist.link_expired",
            ERROR,
            "the reset link has expired",
            expired_at=latest.token_expires_at.isoformat(),
        )
        return ChecklistItem(key, "problem", {**evidence, "state": "expired"}, (found,))
    if latest.token_expires_at is None:
        return ChecklistItem(key, "not_checked", {**evidence, "state": "unknown"})
    return ChecklistItem(key, "ok", {**evidence, "state": "valid"})


__all__ = [
    "RFC_ENHANCED",
    "delivery_accepted",
    "delivery_sent",
    "finding",
    "link_valid",
    "probe_evidence",
    "reset_requested",
]
