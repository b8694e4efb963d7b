"""The conversation the probe holds once connected: banner, EHLO (HELO fallback), STARTTLS
with the certificate's facts, MAIL FROM per sender with RCPT TO when asked, RSET, QUIT.
Every reply is interpreted into a finding; the server's behaviour never raises out of here.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from diag.findings import INFO, OK, WARNING, Finding
from diag.jsonvalue import JsonObject
from diag.probe.replies import Reply, interpret
from diag.probe.session import SessionClosed, SmtpSession, parse_ehlo, tls_context
from diag.probe.tlsinfo import TlsSession, certificate_facts


@dataclass
class ConversationState:
    """What the conversation has learned so far (one per connection)."""

    banner: str = ""
    extensions: dict[str, str] = field(default_factory=dict)
    tls: TlsSession = field(default_factory=TlsSession)
    mail_from: list[JsonObject] = field(default_factory=list)
    rcpt: list[JsonObject] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


async def converse(
    session: SmtpSession,
    state: ConversationState,
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
        if "STARTTLS" not in state.extensions:
            state.findings.append(
                Finding(
                    "probe.no_starttls",
                    INFO,
                    f"{host} does not offer STARTTLS",
                    {"host": host},
                    rfc="RFC 3207 §4",
                )
            )
        elif not await _starttls(session, state, host, ehlo_name, tls_verify):
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


def _stage_ok(state: ConversationState, stage: str, reply: Reply, *, expected: int) -> bool:
    if reply.code == expected:
        return True
    finding = interpret(stage, reply)
    if finding is not None:
        state.findings.append(finding)
    return False


async def _ehlo(session: SmtpSession, state: ConversationState, ehlo_name: str) -> bool:
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
    session: SmtpSession, state: ConversationState, host: str, ehlo_name: str, verify: bool
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
        await session.start_tls(tls_context(verify), server_name)
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
        chain=_peer_chain(ssl_object) or ((der,) if der else ()),
    )


def _peer_chain(ssl_object: ssl.SSLObject) -> tuple[bytes, ...]:
    """The certificates the server sent, DER, its own first; empty when not available.

    Python 3.13 has ``SSLObject.get_unverified_chain()``; before it the same method exists
    only on the object underneath (``_sslobj``), returning ``_ssl.Certificate`` values.
    """
    getter = getattr(ssl_object, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if getter is None:
        return ()
    try:
        certificates = getter() or []
    except (ssl.SSLError, ValueError):
        return ()
    return tuple(_der(c) for c in certificates)


def _der(certificate: Any) -> bytes:
    if isinstance(certificate, bytes):
        return certificate
    return bytes(certificate.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]  # _ssl.Certificate before 3.13


def _tls_findings(tls: TlsSession, host: str) -> list[Finding]:
    cert = tls.certificate
    evidence: dict[str, object] = {"host": host, "version": tls.version, "cipher": tls.cipher}
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


async def _envelope(
    session: SmtpSession, state: ConversationState, sender: str, rcpt: str | None
) -> None:
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
            if found.code == "probe.sender_blocked" and finding is not None:
                state.findings.remove(finding)  # accepted at MAIL, refused at RCPT: not accepted
            state.findings.append(found)
        if answer.code == 421:
            raise SessionClosed(reason="service_not_available")
    await session.command("RSET")


async def _quit(session: SmtpSession) -> None:
    try:
        await session.command("QUIT")
    except SessionClosed:
        return


__all__ = ["ConversationState", "converse"]
