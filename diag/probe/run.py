"""The SMTP probe of a recipient's mail server: which of our sender addresses it accepts, and
(for support and admins) whether it knows the recipient. The SSRF guard is asked before every
connection; a connection that cannot be made is a note about this network, never a fault of
the recipient.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from diag.errors import DnsError
from diag.findings import ERROR, INFO, WARNING, Finding, has_errors
from diag.jsonvalue import JsonObject
from diag.mx import lookup_mx
from diag.netguard import ForbiddenTarget, check_target
from diag.probe.conversation import ConversationState, converse
from diag.probe.session import SmtpSession, TranscriptLine
from diag.probe.tlsinfo import TlsSession
from diag.resolver import Answer, Resolver

log = logging.getLogger(__name__)

SMTP_PORT = 25  # RFC 5321 §4.5.4.2: "the SMTP port (specified by IANA as port 25)"


@dataclass(frozen=True)
class ProbeReport:
    """What one mail server said, with the whole conversation as evidence."""

    host: str
    port: int
    address: str = ""
    connected: bool = False
    banner: str = ""
    extensions: dict[str, str] = field(default_factory=dict)
    tls: TlsSession = field(default_factory=TlsSession)
    mail_from: tuple[JsonObject, ...] = ()
    rcpt: tuple[JsonObject, ...] = ()
    transcript: tuple[TranscriptLine, ...] = ()
    findings: tuple[Finding, ...] = ()
    attempts: tuple[JsonObject, ...] = ()
    elapsed: float = 0.0

    @property
    def has_errors(self) -> bool:
        return has_errors(self.findings)

    def to_dict(self) -> JsonObject:
        return {
            "host": self.host,
            "port": self.port,
            "address": self.address,
            "connected": self.connected,
            "banner": self.banner,
            "extensions": dict(self.extensions),
            "tls": self.tls.to_dict(),
            "mail_from": list(self.mail_from),
            "rcpt": list(self.rcpt),
            "transcript": [t.to_dict() for t in self.transcript],
            "attempts": list(self.attempts),
            "elapsed_ms": round(self.elapsed * 1000, 1),
            "findings": [f.to_dict() for f in self.findings],
        }


async def probe(
    host_or_ip: str,
    *,
    port: int = SMTP_PORT,
    sender_addresses: Sequence[str],
    rcpt: str | None,
    ehlo_name: str,
    timeout: float,  # noqa: ASYNC109 - a per-step limit (connect, each reply), not one deadline
    allow_private: bool,
    resolver: Resolver,
    tls_verify: bool = False,
    known: Sequence[str] = (),
) -> ProbeReport:
    """Talk SMTP with ``host_or_ip`` up to RCPT TO, never DATA. Never raises for the server's
    behaviour: every outcome is a finding, and the transcript is in the report. ``known``: the
    host's addresses when the caller has just looked them up (an MX report's), tried in that
    order without asking the resolver again; the guard still decides on each."""
    started = time.monotonic()
    host = host_or_ip.strip().rstrip(".").lower()
    addresses, findings = await _addresses(host, resolver, allow_private, known)
    attempts: list[JsonObject] = []
    for address in addresses:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
        except (OSError, TimeoutError) as exc:
            reason = "timeout" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            attempts.append({"address": address, "error": reason})
            log.info(
                "smtp_probe.connect_failed host=%s address=%s reason=%s", host, address, reason
            )
            continue
        session = SmtpSession(reader, writer, timeout=timeout)
        session.note("*", f"connected to {address} port {port}")
        state = ConversationState()
        try:
            await converse(session, state, host, sender_addresses, rcpt, ehlo_name, tls_verify)
        finally:
            await session.close()
        return ProbeReport(
            host,
            port,
            address=address,
            connected=True,
            banner=state.banner,
            extensions=state.extensions,
            tls=state.tls,
            mail_from=tuple(state.mail_from),
            rcpt=tuple(state.rcpt),
            transcript=tuple(session.transcript),
            findings=(*findings, *state.findings),
            attempts=tuple(attempts),
            elapsed=time.monotonic() - started,
        )
    if addresses:
        findings.append(
            Finding(
                "probe.could_not_run",
                WARNING,
                f"could not connect to {host} port {port} from here",
                {"host": host, "port": port, "attempts": attempts},
                fix="Port 25 may be blocked from this network; this is not a fault of the "
                "recipient. Run the probe from a network that allows outbound SMTP.",
            )
        )
    return ProbeReport(
        host,
        port,
        findings=tuple(findings),
        attempts=tuple(attempts),
        elapsed=time.monotonic() - started,
    )


async def _addresses(
    host: str, resolver: Resolver, allow_private: bool, known: Sequence[str] = ()
) -> tuple[list[str], list[Finding]]:
    """The addresses to try (guard-approved), and findings for the ones refused."""
    try:
        candidates = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        candidates, failure = list(known), None
        if not candidates:
            candidates, failure = await _resolve(host, resolver)
        if failure is not None:
            return [], [failure]
    allowed: list[str] = []
    findings: list[Finding] = []
    for address in candidates:
        try:
            check_target(address, allow_private=allow_private)
        except ForbiddenTarget as exc:
            findings.append(
                Finding(
                    "probe.target_forbidden",
                    WARNING,
                    f"not connecting to {address}: {exc.category} address",
                    {"host": host, "address": address, "category": exc.category},
                    fix="The probe does not connect to private or reserved networks.",
                )
            )
            continue
        allowed.append(address)
    return allowed, findings


async def _resolve(host: str, resolver: Resolver) -> tuple[list[str], Finding | None]:
    results = await asyncio.gather(
        resolver.query(host, "A"), resolver.query(host, "AAAA"), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, DnsError):
            raise result
    found = list(dict.fromkeys(s for r in results if isinstance(r, Answer) for s in r.strings))
    errors = [r for r in results if isinstance(r, DnsError)]
    if not found and errors:
        return [], Finding(
            "probe.dns_temperror",
            WARNING,
            f"{host} could not be looked up ({errors[0].reason})",
            {"host": host, "error": errors[0].reason},
        )
    if not found:
        return [], Finding(
            "probe.host_unresolvable", ERROR, f"{host} has no address", {"host": host}
        )
    return found, None


async def probe_domain(
    domain: str,
    *,
    port: int = SMTP_PORT,
    sender_addresses: Sequence[str],
    rcpt: str | None,
    ehlo_name: str,
    timeout: float,  # noqa: ASYNC109 - a per-step limit (connect, each reply), not one deadline
    allow_private: bool,
    resolver: Resolver,
    tls_verify: bool = False,
) -> ProbeReport:
    """Probe the most preferred MX host of ``domain`` that accepts a connection.

    Hosts are tried in MX order (RFC 5321 §5.1); a domain without a usable MX gives a report
    with ``probe.no_target`` and no connection.
    """
    mx = await lookup_mx(domain, resolver, allow_private=allow_private)
    hosts = [h for h in mx.hosts if h.addresses]
    if mx.null_mx or not hosts:
        finding = Finding(
            "probe.no_target",
            INFO,
            f"{domain} has no mail server to probe",
            {"domain": domain, "mx_findings": [f.code for f in mx.findings]},
        )
        return ProbeReport(domain, port, findings=(finding,))
    attempt = functools.partial(
        probe,
        port=port,
        sender_addresses=sender_addresses,
        rcpt=rcpt,
        ehlo_name=ehlo_name,
        timeout=timeout,
        allow_private=allow_private,
        resolver=resolver,
        tls_verify=tls_verify,
    )
    tried: list[JsonObject] = []
    for host in hosts[:-1]:
        report = await attempt(host.name)
        if report.connected:
            return replace(report, attempts=(*tried, *report.attempts))
        tried.append({"host": host.name, "findings": [f.code for f in report.findings]})
    last = await attempt(hosts[-1].name)
    return replace(last, attempts=(*tried, *last.attempts))


__all__ = ["SMTP_PORT", "ProbeReport", "probe", "probe_domain"]
