"""The SMTP probe of a recipient's mail server: which of our sender addresses it accepts, and
(for support and admins) whether it knows the recipient. The SSRF guard is asked before every
connection; a connection that cannot be made is a note about this network, never a fault of
the recipient.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from diag.errors import DnsError
from diag.findings import ERROR, INFO, OK, WARNING, Finding, has_errors
from diag.mx import lookup_mx
from diag.netguard import ForbiddenTarget, check_target
from diag.probe.replies import Reply, interpret
from diag.probe.session import SessionClosed, SmtpSession, TranscriptLine, parse_ehlo, tls_context
from diag.probe.tlsinfo import TlsSession, certificate_facts
from diag.resolver import Resolver

log = logging.getLogger(__name__)

SMTP_PORT = 25  # RFC 5321 §4.5.4.2 ... and IANA: the port receivers listen on


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
    mail_from: tuple[dict[str, Any], ...] = ()
    rcpt: tuple[dict[str, Any], ...] = ()
    transcript: tuple[TranscriptLine, ...] = ()
    findings: tuple[Finding, ...] = ()
    attempts: tuple[dict[str, Any], ...] = ()
    elapsed: float = 0.0

    @property
    def has_errors(self) -> bool:
        return has_errors(self.findings)

    def to_dict(self) -> dict[str, Any]:
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


@dataclass
class _State:
    """What the conversation has learned so far (private, per probe)."""

    banner: str = ""
    extensions: dict[str, str] = field(default_factory=dict)
    tls: TlsSession = field(default_factory=TlsSession)
    mail_from: list[dict[str, Any]] = field(default_factory=list)
    rcpt: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


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
) -> ProbeReport:
    """Talk SMTP with ``host_or_ip`` up to RCPT TO, never DATA. Never raises for the server's
    behaviour: every outcome is a finding, and the transcript is in the report."""
    started = time.monotonic()
    host = host_or_ip.strip().rstrip(".").lower()
    addresses, findings = await _addresses(host, resolver, allow_private)
    attempts: list[dict[str, Any]] = []
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
        state = _State()
        try:
            await _converse(session, state, host, sender_addresses, rcpt, ehlo_name, tls_verify)
        finally:
            await session.close()
        return ProbeReport(
            host,
            port,
            address,
            True,
            state.banner,
            state.extensions,
            state.tls,
            tuple(state.mail_from),
            tuple(state.rcpt),
            tuple(session.transcript),
            (*findings, *state.findings),
            tuple(attempts),
            time.monotonic() - started,
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
    host: str, resolver: Resolver, allow_private: bool
) -> tuple[list[str], list[Finding]]:
    """The addresses to try (guard-approved), and findings for the ones refused."""
    try:
        candidates = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
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
    try:
        a, aaaa = await asyncio.gather(resolver.query(host, "A"), resolver.query(host, "AAAA"))
    except DnsError as exc:
        return [], Finding(
            "probe.dns_temperror",
            WARNING,
            f"{host} could not be looked up ({exc.reason})",
            {"host": host, "error": exc.reason},
        )
    found = list(dict.fromkeys((*a.strings, *aaaa.strings)))
    if not found:
        return [], Finding(
            "probe.host_unresolvable", ERROR, f"{host} has no address", {"host": host}
        )
    return found, None


async def _converse(
    session: SmtpSession,
    state: _State,
    host: str,
    senders: Sequence[str],
    rcpt: str | None,
    ehlo_name: str,
    tls_verify: bool,
) -> None:
    try:
        banner = await session.read_reply()
        state.banner = str(banner)
        if not _stage_ok(state, "banner", banner, expected=220):
            await _quit(session)
            return
        if not await _ehlo(session, state, ehlo_name):
            await _quit(session)
            return
        if "STARTTLS" in state.extensions and not await _starttls(
            session, state, host, ehlo_name, tls_verify
        ):
            return
        for sender in senders:
            await _envelope(session, state, sender, rcpt)
        await _quit(session)
    except SessionClosed as closed:
        state.findings.append(
            Finding(
                "probe.connection_lost",
                WARNING,
                f"the conversation with {host} ended early ({closed.reason})",
                {"host": host, "reason": closed.reason},
            )
        )


def _stage_ok(state: _State, stage: str, reply: Reply, *, expected: int) -> bool:
    if reply.code == expected:
        return True
    finding = interpret(stage, reply)
    if finding is not None:
        state.findings.append(finding)
    return False


async def _ehlo(session: SmtpSession, state: _State, ehlo_name: str) -> bool:
    reply = await session.command(f"EHLO {ehlo_name}")
    if reply.code == 250:
        state.extensions = parse_ehlo(reply)
        return True
    if reply.code >= 500:  # RFC 5321 §3.2: fall back to HELO
        reply = await session.command(f"HELO {ehlo_name}")
        if reply.code == 250:
            state.extensions = {}
            return True
    return _stage_ok(state, "ehlo", reply, expected=250)


async def _starttls(
    session: SmtpSession, state: _State, host: str, ehlo_name: str, verify: bool
) -> bool:
    """STARTTLS (RFC 3207); False when the conversation cannot go on."""
    reply = await session.command("STARTTLS")
    if reply.code != 220:
        state.tls = TlsSession(offered=True, error=str(reply))
        state.findings.append(
            Finding(
                "probe.starttls_refused",
                WARNING,
                "STARTTLS was offered but refused",
                {"reply": str(reply)},
                rfc="RFC 3207 §4",
            )
        )
        return True
    server_name = None if _is_ip(host) else host
    try:
        await session.start_tls(tls_context(verify), server_name if verify else None)
    except (ssl.SSLError, ssl.CertificateError, OSError, TimeoutError) as exc:
        session.note("*", f"TLS handshake failed: {exc}")
        state.tls = TlsSession(offered=True, error=str(exc) or "timeout", verified=False)
        state.findings.append(
            Finding(
                "probe.tls_failed",
                WARNING,
                "the TLS handshake failed",
                {"host": host, "error": str(exc)},
                rfc="RFC 3207 §4.1",
            )
        )
        return False
    state.tls = _tls_facts(session, host, verify)
    session.note("*", f"TLS established: {state.tls.version} {state.tls.cipher}")
    state.findings.extend(_tls_findings(state.tls, host))
    return await _ehlo(session, state, ehlo_name)  # RFC 3207 §4.2: start over after TLS


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _tls_facts(session: SmtpSession, host: str, verify: bool) -> TlsSession:
    ssl_object = session.writer.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject):
        return TlsSession(offered=True, established=True)
    cipher = ssl_object.cipher()
    der = ssl_object.getpeercert(binary_form=True)
    return TlsSession(
        offered=True,
        established=True,
        version=ssl_object.version() or "",
        cipher=cipher[0] if cipher else "",
        verified=True if verify else None,
        certificate=certificate_facts(der, host.strip("[]")) if der else None,
    )


def _tls_findings(tls: TlsSession, host: str) -> list[Finding]:
    cert = tls.certificate
    evidence: dict[str, Any] = {"host": host, "version": tls.version, "cipher": tls.cipher}
    if cert is None:
        return [Finding("probe.tls_ok", OK, "STARTTLS works (no certificate seen)", evidence)]
    evidence |= {"subject": cert.subject, "issuer": cert.issuer, "not_after": cert.not_after}
    problems = [
        name
        for name, bad in (
            ("name_mismatch", not cert.name_matches),
            ("expired", cert.expired),
            ("self_signed", cert.self_signed),
        )
        if bad
    ]
    if problems:
        return [
            Finding(
                "probe.tls_certificate_invalid",
                INFO,
                "STARTTLS works, but the certificate would not pass strict checking",
                evidence | {"problems": problems},
                rfc="RFC 7672 §3.2",
            )
        ]
    return [Finding("probe.tls_ok", OK, "STARTTLS works with a matching certificate", evidence)]


async def _envelope(session: SmtpSession, state: _State, sender: str, rcpt: str | None) -> None:
    reply = await session.command(f"MAIL FROM:<{sender}>")
    state.mail_from.append({"address": sender, **reply.to_dict()})
    finding = interpret("mail", reply, sender=sender)
    if finding is not None:
        state.findings.append(finding)
    if reply.code == 421:  # the server is closing the connection
        raise SessionClosed(reason="service_not_available")
    if reply.positive and rcpt:
        answer = await session.command(f"RCPT TO:<{rcpt}>")
        state.rcpt.append({"address": rcpt, "sender": sender, **answer.to_dict()})
        found = interpret("rcpt", answer, sender=sender, rcpt=rcpt)
        if found is not None:
            state.findings.append(found)
        if answer.code == 421:
            raise SessionClosed(reason="service_not_available")
    await session.command("RSET")


async def _quit(session: SmtpSession) -> None:
    try:
        await session.command("QUIT")
    except SessionClosed:
        return


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
    tried: list[dict[str, Any]] = []
    report: ProbeReport | None = None
    for host in hosts:
        report = await probe(
            host.name,
            port=port,
            sender_addresses=sender_addresses,
            rcpt=rcpt,
            ehlo_name=ehlo_name,
            timeout=timeout,
            allow_private=allow_private,
            resolver=resolver,
            tls_verify=tls_verify,
        )
        if report.connected:
            break
        tried.append({"host": host.name, "findings": [f.code for f in report.findings]})
    assert report is not None  # hosts is not empty
    if tried and report.connected:
        return ProbeReport(
            report.host,
            report.port,
            report.address,
            report.connected,
            report.banner,
            report.extensions,
            report.tls,
            report.mail_from,
            report.rcpt,
            report.transcript,
            report.findings,
            (*tried, *report.attempts),
            report.elapsed,
        )
    return report


__all__ = ["SMTP_PORT", "ProbeReport", "probe", "probe_domain"]
