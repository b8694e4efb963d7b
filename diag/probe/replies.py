"""SMTP replies (RFC 5321 §4.2) and what they mean for a reset mail: the reply parser and the
interpretation of a reply at each stage into findings with stable codes. Pure.

Enhanced status codes follow RFC 3463 and the IANA registry (RFC 5248); Microsoft's 5.7.6xx
block codes follow Microsoft Learn, "Email non-delivery reports in Exchange Online".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from diag.findings import ERROR, OK, WARNING, Finding, Severity
from diag.jsonvalue import JsonObject

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
MS_IP_BLOCK = range(606, 650)  # 5.7.606-5.7.649: Microsoft's IP and tenant block list codes
RFC_REPLY = "RFC 5321 §4.2"
RFC_ENHANCED = "RFC 3463 §3"


@dataclass(frozen=True)
class Reply:
    """One (possibly multi-line) SMTP reply: the code, the enhanced status, and the text lines."""

    code: int
    lines: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    @property
    def enhanced(self) -> str:
        """The RFC 3463 status of the first line (``5.7.1``), or ``""``."""
        match = _ENHANCED.match(self.lines[0]) if self.lines else None
        return ".".join(match.groups()) if match else ""

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 400

    def to_dict(self) -> JsonObject:
        return {"code": self.code, "enhanced": self.enhanced, "text": self.text}

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


def parse_reply_line(line: str) -> tuple[int, bool, str] | None:
    """``250-PIPELINING`` -> ``(250, True, "PIPELINING")`` (True: more lines follow).

    None when the line is not a reply line.
    """
    if len(line) < 3 or not line[:3].isdigit() or line[0] not in "12345":
        return None
    if len(line) > 3 and line[3] not in " -":
        return None
    return int(line[:3]), line[3:4] == "-", line[4:].strip()


def _finding(
    code: str, severity: Severity, summary: str, reply: Reply, **evidence: object
) -> Finding:
    return Finding(
        code,
        severity,
        summary,
        {**evidence, "reply": str(reply), "smtp_code": reply.code, "enhanced": reply.enhanced},
        rfc=RFC_ENHANCED if reply.enhanced else RFC_REPLY,
    )


def interpret(stage: str, reply: Reply, *, sender: str = "", rcpt: str = "") -> Finding | None:
    """The meaning of ``reply`` at ``stage`` (banner, ehlo, mail, rcpt) as one finding.

    None for an ordinary positive reply at the banner or EHLO stage.
    """
    enhanced = reply.enhanced
    parts = enhanced.split(".") if enhanced else []
    subject, detail = (int(parts[1]), int(parts[2])) if parts else (-1, -1)
    evidence = {"stage": stage, "sender": sender, "rcpt": rcpt}
    if reply.code == 421:  # RFC 5321 §3.8: service not available, closing
        return _finding(
            "probe.rate_limited", WARNING, "the server is busy or limiting us", reply, **evidence
        )
    if reply.positive:
        return _positive(stage, reply, evidence)
    if stage == "banner" and reply.code >= 500 and not (subject == 7 and detail in MS_IP_BLOCK):
        return _finding(
            "probe.connection_refused",
            ERROR,
            "the server refuses our connection at the greeting",
            reply,
            **evidence,
        )
    if enhanced == "5.7.26" or (subject == 7 and "dmarc" in reply.text.lower()):
        return _finding(
            "probe.dmarc_rejected", ERROR, "rejected for failing DMARC", reply, **evidence
        )
    if parts and parts[0] == "5" and subject == 7 and detail in MS_IP_BLOCK:
        return _finding(
            "probe.ip_blocklisted_microsoft",
            ERROR,
            "Microsoft 365 blocks the sending IP address",
            reply,
            **evidence,
        )
    if reply.code >= 500 and subject == 2 and detail == 2:
        return _finding("probe.mailbox_full", ERROR, "the mailbox is full", reply, **evidence)
    if reply.code >= 500 and (subject, detail) in ((1, 1), (1, 10), (1, 6)):
        return _finding("probe.unknown_user", ERROR, f"no such mailbox: {rcpt}", reply, **evidence)
    if reply.code >= 500 and subject == 7:
        who = sender or rcpt
        return _finding(
            "probe.sender_blocked", ERROR, f"policy block at {stage} for {who}", reply, **evidence
        )
    if reply.code < 500 and (subject == 7 or "greylist" in reply.text.lower()):
        return _finding(
            "probe.greylisted", WARNING, "greylisted: try again later", reply, **evidence
        )
    if reply.code >= 500 and stage == "rcpt" and reply.code in (550, 551, 553):
        return _finding(
            "probe.rcpt_rejected", ERROR, f"the server refuses {rcpt}", reply, **evidence
        )
    if reply.code >= 500:
        return _finding(
            "probe.rejected", ERROR, f"permanent rejection at {stage}", reply, **evidence
        )
    return _finding(
        "probe.temporary_failure", WARNING, f"temporary failure at {stage}", reply, **evidence
    )


def _positive(stage: str, reply: Reply, evidence: Mapping[str, object]) -> Finding | None:
    if stage == "mail":
        return _finding(
            "probe.sender_accepted", OK, f"{evidence['sender']} is accepted", reply, **evidence
        )
    if stage == "rcpt":
        return _finding(
            "probe.rcpt_accepted", OK, f"{evidence['rcpt']} is accepted", reply, **evidence
        )
    return None


__all__ = ["Reply", "interpret", "parse_reply_line"]
