"""One pure function per checklist item: ``Evidence`` in, ``ChecklistItem`` out (the reset
request, delivery and link items are in ``diag.checklist.delivery``).

Each function decides the item's status from the evidence its audience may see. The
self-service items never read account or delivery-log data, so their output cannot depend
on whether the address is registered. Findings carry stable ``checklist.*`` codes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from types import MappingProxyType

from diag.checklist.delivery import (
    RFC_ENHANCED,
    delivery_accepted,
    delivery_sent,
    finding,
    link_valid,
    probe_evidence,
    reset_requested,
)
from diag.checklist.facts import (
    ChecklistItem,
    Evidence,
    ItemKey,
    Placement,
    ProbeResult,
    ReceiverReport,
    SmtpReply,
    SpamVerdict,
    Status,
)
from diag.findings import ERROR, OK, WARNING, Finding, has_errors
from diag.testsend import TestSendResult
from diag.transport import TransportReport

# Allowlisting steps per recipient mail provider, as stable step codes the reports word.
ALLOWLIST_STEPS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "microsoft365": (
            "m365.tenant_allow_block_list",
            "m365.transport_rule_scl",
            "check_quarantine",
        ),
        "google": ("google.spam_approved_senders", "google.inbound_gateway", "check_quarantine"),
        "proofpoint": ("proofpoint.safe_senders", "check_quarantine"),
        "mimecast": ("mimecast.permitted_senders", "check_quarantine"),
        "barracuda": ("barracuda.sender_allow", "check_quarantine"),
        "cisco": ("cisco.sender_group_allowed", "check_quarantine"),
        "generic": ("generic.allowlist", "check_quarantine"),
        "unknown": ("generic.allowlist", "check_quarantine"),
    }
)


def allowlist(ev: Evidence) -> dict[str, object]:
    """What a mail administrator does to let our mail through, for the detected provider."""
    provider = ev.provider
    return {
        "provider": provider,
        "senders": list(ev.sender_addresses),
        "steps": list(ALLOWLIST_STEPS.get(provider, ALLOWLIST_STEPS["generic"])),
    }


def is_sender_block(reply: SmtpReply, stage: str) -> bool:
    """A permanent refusal on policy grounds (5.7.x, RFC 3463 §3.8), or any 5xx at MAIL FROM."""
    if reply.code < 500:
        return False
    return reply.enhanced.startswith("5.7.") or stage == "mail"


def is_unknown_mailbox(reply: SmtpReply) -> bool:
    """5.1.1 bad destination mailbox (RFC 3463 §3.2), or a bare 550 at RCPT."""
    return reply.enhanced in ("5.1.1", "5.1.10") or (reply.code == 550 and not reply.enhanced)


def _rcpt_refusals(ev: Evidence) -> list[ProbeResult]:
    return [p for p in ev.probes if p.stage == "rcpt" and p.reply is not None]


def address_registered(ev: Evidence) -> ChecklistItem:
    key: ItemKey = "address.registered"
    unknown = [p for p in _rcpt_refusals(ev) if p.reply and is_unknown_mailbox(p.reply)]
    if unknown:
        first = unknown[0]
        found = finding(
            "checklist.mailbox_unknown",
            ERROR,
            "the receiver has no such mailbox",
            RFC_ENHANCED,
            address=ev.address,
            reply=first.reply.line if first.reply else "",
        )
        evidence: dict[str, object] = {
            "mailbox_unknown": True,
            "outcome": "mailbox_unknown",
            "reply": first.reply.line if first.reply else "",
            "probe": probe_evidence(first),
        }
        if ev.audience == "support" and ev.account is not None:
            evidence["exists"] = ev.account.exists
        return ChecklistItem(key, "problem", evidence, (found,))
    if ev.audience != "support":
        return ChecklistItem(key, "todo", {"advice": "registered_address"})
    if ev.account is None:
        return ChecklistItem(key, "not_checked", {"reason": "no_account_data"})
    if not ev.account.exists:
        found = finding(
            "checklist.no_account", ERROR, "no account uses this address", address=ev.address
        )
        evidence = {"exists": False, "email": ev.address, "outcome": "no_account"}
        return ChecklistItem(key, "problem", evidence, (found,))
    return ChecklistItem(key, "ok", {"exists": True, "email": ev.account.email})


_FILTERED = ("junk", "quarantine")


def spam_folder(ev: Evidence) -> ChecklistItem:
    """Where the mail was filed, from the first-hand evidence there is, most direct first: the
    receiver's own record of our mails to this address (the lab's sink), pasted header fields,
    then test sends to this address. Advice to look in the junk folder only when none exists."""
    key: ItemKey = "spam.folder"
    if ev.spam is not None:
        return _spam_from_headers(ev.spam)
    placed = [p for p in ev.placements if p.to.lower() == ev.address.lower()]
    if placed:
        return _spam_from_placement(max(placed, key=_placed_at))
    tests = [t for t in ev.test_sends if t.to.lower() == ev.address.lower()]
    junked = [t for t in tests if t.folder in _FILTERED]
    if junked:
        found = finding(
            "checklist.junked",
            ERROR,
            "a test mail was filed as junk",
            identity=junked[0].identity,
            reasons=list(junked[0].reasons),
        )
        evidence = {
            "source": "test_send",
            "outcome": "test_send",
            "identity": junked[0].identity,
            "folder": junked[0].folder,
        }
        return ChecklistItem(key, "problem", evidence, (found,))
    if tests and all(t.folder == "inbox" for t in tests):
        evidence = {"source": "test_send", "outcome": "test_send", "folder": "inbox"}
        return ChecklistItem(key, "ok", evidence)
    return ChecklistItem(
        key,
        "todo",
        {"advice": "check_junk", "provider": ev.provider, "senders": list(ev.sender_addresses)},
    )


def _placed_at(placement: Placement) -> dt.datetime:
    return placement.at or dt.datetime.min.replace(tzinfo=dt.UTC)


def _spam_from_headers(spam: SpamVerdict) -> ChecklistItem:
    key: ItemKey = "spam.folder"
    verdict = spam.to_dict()
    if spam.folder in ("junk", "quarantine", "rejected"):
        summary = "the receiver's filter junked the mail"
        found = Finding("checklist.junked", ERROR, summary, MappingProxyType(verdict))
        return ChecklistItem(key, "problem", {"source": "headers", **verdict}, (found,))
    if spam.folder == "inbox":
        return ChecklistItem(key, "ok", {"source": "headers", **verdict})
    return ChecklistItem(
        key,
        "warning",
        {"source": "headers", **verdict},
        (finding("checklist.verdict_unknown", WARNING, "the headers hold no spam verdict"),),
    )


def _spam_from_placement(placement: Placement) -> ChecklistItem:
    key: ItemKey = "spam.folder"
    evidence: dict[str, object] = {
        "source": placement.source,
        "outcome": "placed",
        "folder": placement.folder,
        "received_at": placement.at.isoformat() if placement.at else "",
        "sender": placement.sender,
        "subject": placement.subject,
        "reference": placement.reference,
    }
    if placement.folder in _FILTERED:
        found = finding(
            "checklist.junked",
            ERROR,
            "the receiver filed our mail as junk",
            sender=placement.sender,
            folder=placement.folder,
            reference=placement.reference,
        )
        return ChecklistItem(key, "problem", evidence, (found,))
    return ChecklistItem(key, "ok", evidence)


def recipient_blocks_sender(ev: Evidence) -> ChecklistItem:
    key: ItemKey = "recipient.blocks_sender"
    if ev.mx is not None and ev.mx.null_mx:  # no server to let anything through (RFC 7505)
        return ChecklistItem(key, "not_checked", {"reason": "null_mx", "outcome": "null_mx"})
    steps = allowlist(ev)
    blocked = [
        p
        for p in ev.probes
        if p.reply is not None and p.stage in ("mail", "rcpt") and is_sender_block(p.reply, p.stage)
    ]
    if blocked:
        first = blocked[0]
        evidence = {
            "source": "probe",
            "reply": first.reply.line if first.reply else "",
            "blocked_senders": sorted({p.sender for p in blocked}),
            "probe": probe_evidence(first),
            "allowlist": steps,
        }
        found = finding(
            "checklist.sender_blocked",
            ERROR,
            "the recipient's server refuses our sender",
            RFC_ENHANCED,
            reply=evidence["reply"],
            senders=evidence["blocked_senders"],
        )
        return ChecklistItem(key, "problem", evidence, (found,))
    for source, reply in _other_refusals(ev):
        if reply.enhanced.startswith("5.7."):
            found = finding(
                "checklist.sender_blocked",
                ERROR,
                "the recipient's server refused our sender",
                RFC_ENHANCED,
                reply=reply.line,
                source=source,
            )
            return ChecklistItem(
                key,
                "problem",
                {"source": source, "reply": reply.line, "allowlist": steps},
                (found,),
            )
    asked = [p for p in ev.probes if p.reply is not None]
    if asked and all(p.accepted and p.rcpt_checked for p in asked):
        return ChecklistItem(key, "ok", {"source": "probe", "allowlist": steps})
    return ChecklistItem(key, "todo", {"advice": "allowlist", "allowlist": steps})


def _other_refusals(ev: Evidence) -> list[tuple[str, SmtpReply]]:
    found: list[tuple[str, SmtpReply]] = []
    if ev.bounce is not None:
        reply = ev.bounce.reply or SmtpReply(550, ev.bounce.status, ev.bounce.diagnostic)
        if ev.bounce.status and not reply.enhanced:
            reply = SmtpReply(reply.code, ev.bounce.status, reply.text)
        found.append(("bounce", reply))
    if ev.audience == "support" and ev.account is not None:
        for attempt in ev.account.deliveries:
            if attempt.code is not None:
                found.append(
                    ("log", SmtpReply(attempt.code, attempt.enhanced_status, attempt.text))
                )
    return found


def recipient_can_receive(ev: Evidence) -> ChecklistItem:
    """Whether the recipient's servers take mail at all, and over the TLS they demand: the
    transport findings (MTA-STS, TLS-RPT, DANE, the probe's STARTTLS) are this item's
    evidence, since a demand our senders cannot meet stops the mail at the same place a
    missing server does."""
    return _with_transport(_can_receive(ev), ev.transport)


def _with_transport(item: ChecklistItem, report: TransportReport | None) -> ChecklistItem:
    """``item`` with the transport report as evidence: its errors make a receiving domain a
    problem, its warnings a warning; what is only noted shows among the evidence's codes."""
    if report is None or not report.checked:
        return item
    mta, rpt = report.mta_sts, report.tlsrpt
    evidence = {
        **item.evidence,
        "transport": {
            "mta_sts": mta.record if mta else "",
            "mta_sts_mode": mta.policy.mode if mta and mta.policy else None,
            "tlsrpt": rpt.record if rpt else "",
            "dane": [h.host for h in report.dane if h.records],
            "starttls": None if report.starttls is None else report.starttls.to_dict(),
            "codes": [f.code for f in report.findings],
        },
    }
    errors = tuple(f for f in report.findings if f.severity is ERROR)
    warnings = tuple(f for f in report.findings if f.severity is WARNING)
    status: Status = item.status
    if errors and item.status in ("ok", "warning"):
        status = "problem"
    elif warnings and item.status == "ok":
        status = "warning"
    return ChecklistItem(item.key, status, evidence, (*item.findings, *errors, *warnings))


def _can_receive(ev: Evidence) -> ChecklistItem:
    key: ItemKey = "recipient.can_receive"
    mx = ev.mx
    if mx is None:
        return ChecklistItem(key, "not_checked", {"reason": "not_finished"})
    evidence = mx.to_dict()
    evidence.pop("findings", None)
    codes = {f.code for f in mx.findings}
    if "mx.dns_temperror" in codes:
        return ChecklistItem(
            key,
            "not_checked",
            evidence,
            tuple(f for f in mx.findings if f.code == "mx.dns_temperror"),
        )
    problems = tuple(f for f in mx.findings if f.severity is ERROR)
    if problems or not mx.can_receive:
        return ChecklistItem(key, "problem", evidence, problems)
    warnings = tuple(f for f in mx.findings if f.severity is WARNING)
    if warnings:
        return ChecklistItem(key, "warning", evidence, warnings)
    return ChecklistItem(key, "ok", evidence, tuple(f for f in mx.findings if f.severity is OK))


def sender_authentication(ev: Evidence) -> ChecklistItem:
    key: ItemKey = "sender.authentication"
    identities: list[dict[str, object]] = []
    findings: list[Finding] = []
    worst: Status = "ok"
    for report in ev.senders:
        found = report.findings  # computed (deduplicated) on each read: read once
        errors = [f for f in found if f.severity is ERROR]
        warns = [f for f in found if f.severity is WARNING]
        status: Status = "problem" if errors else "warning" if warns else "ok"
        entry: dict[str, object] = {
            "address": report.subject,
            "status": status,
            "codes": sorted({f.code for f in (*errors, *warns)}),
        }
        spf = report.section("spf")
        lint = spf.checks.get("lint") if spf is not None else None
        if status != "ok" and lint is not None and lint.get("tree"):
            entry["spf_tree"] = lint["tree"]
        identities.append(entry)
        findings += [_with_identity(f, report.subject) for f in (*errors, *warns)]
        worst = _worse(worst, status)
    sends = []
    for send in ev.test_sends:
        sends.append(send.to_dict())
        if _fails_on_our_side(send):
            worst = "problem"
            findings += [
                _with_identity(f, send.identity)
                for f in (*send.findings, *send.content)
                if f.severity is ERROR
            ]
    if not identities and not sends:
        return ChecklistItem(key, "not_checked", {"reason": "no_senders"})
    evidence: dict[str, object] = {"identities": identities, "test_sends": sends}
    if ev.receiver_reports:
        evidence["receiver_reports"] = [r.to_dict() for r in ev.receiver_reports]
        failed = [r for r in ev.receiver_reports if r.ours and r.dmarc_failed]
        if failed:
            worst = _worse(worst, "warning")
            findings += [_receiver_failure(r) for r in failed]
    return ChecklistItem(key, worst, evidence, tuple(findings))


def _receiver_failure(report: ReceiverReport) -> Finding:
    """A receiver's DMARC report of our own mail (from our egress IP) failing DMARC: what
    the recipient saw, whatever our DNS says today."""
    return Finding(
        "checklist.receiver_reported_dmarc_fail",
        WARNING,
        f"{report.reporter} reported {report.messages} messages from {report.source_ip} "
        f"failing DMARC; disposition {report.disposition}",
        MappingProxyType(report.to_dict()),
        "RFC 7489 §7.2",
    )


def _fails_on_our_side(send: TestSendResult) -> bool:
    """Whether a test send shows a fault of ours: its DMARC verdict (SPF or DKIM, aligned) or
    its content. Where the recipient files or refuses an authenticated mail is the recipient's
    doing: the junk and blocking items say so, not this one (the test goes to the address under
    check, whose filter may junk or refuse any sender it has not allowed)."""
    if send.folder == "rejected" and send.dmarc in ("", "none"):
        return False  # refused before any verdict: the recipient's policy, not our records
    authenticated = send.dmarc == "pass" and send.aligned
    return not authenticated or has_errors(send.content)


def _with_identity(finding: Finding, identity: str) -> Finding:
    evidence = {**finding.evidence, "identity": identity}
    return Finding(
        finding.code,
        finding.severity,
        finding.summary,
        MappingProxyType(evidence),
        finding.rfc,
        finding.fix,
    )


def _worse(a: Status, b: Status) -> Status:
    order: tuple[Status, ...] = ("ok", "warning", "problem")
    return a if order.index(a) >= order.index(b) else b


ITEM_FUNCTIONS: Mapping[ItemKey, Callable[[Evidence], ChecklistItem]] = MappingProxyType(
    {
        "address.registered": address_registered,
        "reset.requested": reset_requested,
        "delivery.sent": delivery_sent,
        "delivery.accepted": delivery_accepted,
        "spam.folder": spam_folder,
        "recipient.blocks_sender": recipient_blocks_sender,
        "recipient.can_receive": recipient_can_receive,
        "sender.authentication": sender_authentication,
        "link.valid": link_valid,
    }
)

__all__ = [
    "ALLOWLIST_STEPS",
    "ITEM_FUNCTIONS",
    "allowlist",
    "is_sender_block",
    "is_unknown_mailbox",
]
