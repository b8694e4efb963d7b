"""STARTTLS as our senders meet it at the probed MX host: the TLS version and cipher, the
certificate's names and expiry, whether it names the host and chains to a trusted CA, and
the problems a policy that demands authenticated TLS (MTA-STS enforce, DANE) would refuse.

Pure: judges a finished ``diag.probe.ProbeReport``; never connects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography.x509.verification import Store

from diag.findings import INFO, OK, WARNING, Finding, Severity
from diag.jsonvalue import JsonObject
from diag.probe import ProbeReport
from diag.transport.trust import chain_problem

EXPIRY_WARNING_DAYS = 14  # a certificate this close to its end is renewed late
OLD_VERSIONS = frozenset({"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"})  # RFC 8996 deprecates 1.0/1.1
RFC_STARTTLS = "RFC 3207 §4"
RFC_CERTIFICATE = "RFC 8461 §4.2"  # what MTA-STS asks of an MX host's certificate
RFC_VERSION = "RFC 8461 §7.2"  # MTA-STS needs TLS 1.2 or newer
# The problems a sender that demands authenticated TLS refuses (RFC 8461 §4.2, §5).
PROBLEMS = ("no_starttls", "tls_failed", "expired", "name_mismatch", "untrusted", "old_version")


@dataclass(frozen=True)
class StartTls:
    """STARTTLS at one MX host; ``problems`` lists, in ``PROBLEMS`` order, what failed."""

    host: str
    offered: bool = False
    established: bool = False
    version: str = ""
    cipher: str = ""
    names: tuple[str, ...] = ()
    not_after: str = ""
    days_left: int | None = None
    problems: tuple[str, ...] = ()
    trust_error: str = ""
    chain: tuple[bytes, ...] = ()

    def to_dict(self) -> JsonObject:
        return {
            "host": self.host,
            "offered": self.offered,
            "established": self.established,
            "version": self.version,
            "cipher": self.cipher,
            "names": list(self.names),
            "not_after": self.not_after,
            "days_left": self.days_left,
            "problems": list(self.problems),
            "trust_error": self.trust_error,
        }


def judge_starttls(probe: ProbeReport, *, now: datetime, trust: Store) -> StartTls | None:
    """What STARTTLS looked like in ``probe``; None when the probe reached no server, or
    ended before it could learn whether the server offers STARTTLS."""
    if not probe.connected:
        return None
    tls = probe.tls
    host = probe.host
    if any(f.code == "probe.no_starttls" for f in probe.findings):
        return StartTls(host, problems=("no_starttls",))
    if not tls.offered:
        return None
    cert = tls.certificate
    problems = {"tls_failed"} if not tls.established else set()
    if tls.version in OLD_VERSIONS:
        problems.add("old_version")
    trust_error = ""
    if cert is not None:
        if cert.expired:
            problems.add("expired")
        if not cert.name_matches:
            problems.add("name_mismatch")
        if not problems & {"expired", "name_mismatch"}:
            trust_error = chain_problem(tls.chain, host, trust, now) or ""
            if trust_error:
                problems.add("untrusted")
    return StartTls(
        host,
        offered=True,
        established=tls.established,
        version=tls.version,
        cipher=tls.cipher,
        names=cert.dns_names if cert else (),
        not_after=cert.not_after if cert else "",
        days_left=_days_left(cert.not_after, now) if cert else None,
        problems=tuple(p for p in PROBLEMS if p in problems),
        trust_error=trust_error,
        chain=tls.chain,
    )


def _days_left(not_after: str, now: datetime) -> int | None:
    try:
        end = datetime.fromisoformat(not_after)
    except ValueError:
        return None
    return (end - now).days


def starttls_findings(tls: StartTls) -> list[Finding]:
    """``tls.*`` findings for STARTTLS as such. What a policy makes of them is judged with
    the policy (``mta_sts.tls_unmet``, ``dane.*``): without one, senders use TLS
    opportunistically and check neither names nor CAs (RFC 7435 §1.3)."""
    evidence: dict[str, object] = {
        "host": tls.host,
        "version": tls.version,
        "cipher": tls.cipher,
        "names": list(tls.names),
        "not_after": tls.not_after,
        "days_left": tls.days_left,
    }
    if "no_starttls" in tls.problems:
        return [_finding("tls.no_starttls", WARNING, "no STARTTLS", evidence, RFC_STARTTLS)]
    found = [_finding(c, s, m, {**evidence, **extra}, rfc) for c, s, m, extra, rfc in _checks(tls)]
    if not found and tls.established:
        found.append(_finding("tls.ok", OK, "STARTTLS works", evidence, RFC_CERTIFICATE))
    return found


def _checks(tls: StartTls) -> list[tuple[str, Severity, str, Mapping[str, object], str]]:
    checks: list[tuple[str, Severity, str, Mapping[str, object], str]] = []
    if "expired" in tls.problems:
        checks.append(("tls.cert_expired", WARNING, "expired", {}, RFC_CERTIFICATE))
    elif tls.days_left is not None and tls.days_left <= EXPIRY_WARNING_DAYS:
        checks.append(("tls.cert_expiring", WARNING, "expires soon", {}, RFC_CERTIFICATE))
    if "name_mismatch" in tls.problems:
        checks.append(("tls.name_mismatch", INFO, "names another host", {}, RFC_CERTIFICATE))
    if "untrusted" in tls.problems:
        extra = {"error": tls.trust_error}
        checks.append(("tls.untrusted", INFO, "no trusted chain", extra, RFC_CERTIFICATE))
    if "old_version" in tls.problems:
        checks.append(("tls.old_version", WARNING, "old TLS version", {}, RFC_VERSION))
    return checks


def _finding(
    code: str, severity: Severity, what: str, evidence: Mapping[str, object], rfc: str
) -> Finding:
    return Finding(code, severity, f"{evidence['host']}: {what}", evidence, rfc=rfc)


__all__ = ["EXPIRY_WARNING_DAYS", "PROBLEMS", "StartTls", "judge_starttls", "starttls_findings"]
