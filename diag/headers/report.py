"""The header report: hops, authentication results, spam verdicts and the conclusion for one
pasted header block or whole message. ``parse_headers`` is pure; ``analyze_headers`` adds the
DKIM re-verification that needs DNS. Neither raises for anything in the input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from diag.dkim import verify_message
from diag.findings import ERROR, INFO, OK, WARNING, Finding
from diag.headers.authresults import AuthenticationEntry, parse_authentication_results
from diag.headers.conclusion import Conclusion, conclude
from diag.headers.fields import HeaderBlock, parse_header_block
from diag.headers.model import Verdict
from diag.headers.received import Hop, parse_hops
from diag.headers.verdicts import decode_verdicts
from diag.jsonvalue import JsonObject
from diag.resolver import Resolver

MAX_AUTH_FIELDS = 30  # Authentication-Results fields read; real messages carry a handful
_FAILING = frozenset({"fail", "softfail", "permerror", "temperror", "hardfail"})
_FOLDER_FINDINGS = {
    "inbox": ("headers.inbox", OK),
    "junk": ("headers.junk", WARNING),
    "quarantine": ("headers.quarantined", WARNING),
    "rejected": ("headers.rejected", ERROR),
    "unknown": ("headers.no_verdict", INFO),
}


@dataclass(frozen=True)
class HeaderReport:
    """What the headers say about the message's path, authentication and filing."""

    hops: tuple[Hop, ...]
    total_delay_seconds: float | None
    authentication: tuple[AuthenticationEntry, ...]
    verdicts: tuple[Verdict, ...]
    conclusion: Conclusion
    findings: tuple[Finding, ...]

    def to_dict(self) -> JsonObject:
        """The ``headers`` JSON of DESIGN.md."""
        return {
            "hops": [h.to_dict() for h in self.hops],
            "total_delay_seconds": self.total_delay_seconds,
            "authentication": [a.to_dict() for a in self.authentication],
            "verdicts": [v.to_dict() for v in self.verdicts],
            "conclusion": self.conclusion.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
        }


def parse_headers(raw: bytes | str) -> HeaderReport:
    """Analyze ``raw`` without DNS. Never raises; unreadable parts become findings."""
    block = parse_header_block(raw)
    return _report(block, ())


async def analyze_headers(raw: bytes | str, *, resolver: Resolver | None = None) -> HeaderReport:
    """Like ``parse_headers``; with a ``resolver`` and a whole signed message, DKIM is also
    verified again (diag.dkim.verify_message) and its results added as findings."""
    block = parse_header_block(raw)
    extra: tuple[Finding, ...] = ()
    if resolver is not None and block.body is not None and block.values("DKIM-Signature"):
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
        extra = tuple(_dkim_finding(r.to_dict()) for r in await verify_message(data, resolver))
    return _report(block, extra)


def _report(block: HeaderBlock, extra: tuple[Finding, ...]) -> HeaderReport:
    findings: list[Finding] = list(_block_findings(block))
    hops, total, hop_findings = parse_hops(block.values("Received"))
    findings += hop_findings
    auth = _authentication(block)
    findings += _auth_findings(auth)
    verdicts = decode_verdicts(block, auth)
    conclusion = conclude(verdicts, auth)
    code, severity = _FOLDER_FINDINGS[conclusion.folder]
    findings.append(
        Finding(
            code,
            severity,
            conclusion.summary,
            {
                "folder": conclusion.folder,
                "reason": conclusion.reason,
                "decided_by": conclusion.decided_by,
            },
        )
    )
    findings += extra
    return HeaderReport(hops, total, auth, verdicts, conclusion, tuple(findings))


def _block_findings(block: HeaderBlock) -> list[Finding]:
    findings = []
    if not block.fields:
        findings.append(
            Finding("headers.empty", WARNING, "no header fields found in the input", {})
        )
    if block.malformed_lines:
        findings.append(
            Finding(
                "headers.malformed_lines",
                INFO,
                f"{block.malformed_lines} lines are not header fields and were skipped",
                {"count": block.malformed_lines},
                rfc="RFC 5322 §2.2",
            )
        )
    if block.truncated:
        findings.append(
            Finding("headers.truncated", INFO, "the header block was cut at its size limit", {})
        )
    return findings


def _authentication(block: HeaderBlock) -> tuple[AuthenticationEntry, ...]:
    entries = []
    for name, value in block.fields:
        lowered = name.lower()
        if lowered in ("authentication-results", "arc-authentication-results"):
            arc = lowered.startswith("arc-")
            entries.append(parse_authentication_results(value, arc=arc))
            if len(entries) >= MAX_AUTH_FIELDS:
                break
    return tuple(entries)


def _auth_findings(auth: tuple[AuthenticationEntry, ...]) -> list[Finding]:
    findings = []
    for entry in auth:
        if not entry.parsed:
            findings.append(
                Finding(
                    "headers.authres_unreadable",
                    INFO,
                    f"an {entry.source} field could not be read",
                    {"value": entry.raw[:200]},
                    rfc="RFC 8601 §2.2",
                )
            )
            continue
        if entry.source != "Authentication-Results":
            continue
        for result in entry.results:
            if result.method in ("spf", "dkim", "dmarc", "arc") and result.result in _FAILING:
                findings.append(
                    Finding(
                        "headers.auth_failed",
                        WARNING,
                        f"{entry.receiver} found {result.method}={result.result}",
                        {
                            "receiver": entry.receiver,
                            "method": result.method,
                            "result": result.result,
                            "reason": result.reason,
                        },
                        rfc="RFC 8601 §2.7",
                    )
                )
    return findings


def _dkim_finding(result: Mapping[str, object]) -> Finding:
    evidence = {k: result[k] for k in ("result", "domain", "selector", "reason")}
    if result["result"] == "pass":
        return Finding("headers.dkim_verified", OK, "a DKIM signature verifies", evidence)
    return Finding(
        "headers.dkim_not_verified",
        WARNING,
        f"a DKIM signature does not verify now ({result['result']})",
        evidence,
        rfc="RFC 6376 §6",
    )


__all__ = ["HeaderReport", "analyze_headers", "parse_headers"]
