"""The checklist's SMTP question to the recipient's server: would it take mail from our sender
(MAIL FROM) and, for the support and admin audiences, for this mailbox (RCPT TO)?

It never sends DATA, so no message is delivered. Every connection passes the SSRF guard first.
The outcome is a ``ProbeResult`` with the full transcript; this never raises for the server's
behaviour (refusals, timeouts, garbage are data).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from diag.checklist.facts import ProbeOptions, ProbeResult, SmtpReply
from diag.mx import MxReport
from diag.netguard import ForbiddenTarget, check_target

log = logging.getLogger(__name__)

MAX_REPLY_LINES = 100  # more continuation lines than any real greeting or EHLO carries
MAX_LINE = 2048  # RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets; be lenient


class _Session:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float):
        self.reader, self.writer, self.timeout = reader, writer, timeout
        self.transcript: list[str] = []

    async def reply(self) -> SmtpReply:
        """One (possibly multi-line, RFC 5321 §4.2.1) reply. Raises ValueError for garbage."""
        texts: list[str] = []
        for _ in range(MAX_REPLY_LINES):
            raw = await asyncio.wait_for(self.reader.readline(), self.timeout)
            if not raw:
                raise ValueError("connection closed")
            line = raw[:MAX_LINE].decode("utf-8", "replace").rstrip("\r\n")
            self.transcript.append(f"S: {line}")
            if len(line) < 3 or not line[:3].isdigit():
                raise ValueError(f"not an SMTP reply: {line[:80]!r}")
            texts.append(line[4:])
            if line[3:4] != "-":
                code = int(line[:3])
                first = texts[-1] if len(texts) == 1 else texts[0]
                enhanced, _, rest = first.partition(" ")
                if enhanced[:1] in "245" and enhanced.count(".") == 2:
                    return SmtpReply(code, enhanced, rest.strip())
                return SmtpReply(code, "", first.strip())
        raise ValueError("reply too long")

    async def command(self, text: str) -> SmtpReply:
        self.transcript.append(f"C: {text}")
        self.writer.write(text.encode("ascii", "replace") + b"\r\n")
        await self.writer.drain()
        return await self.reply()


def _target(mx: MxReport) -> tuple[str, str] | None:
    for host in mx.hosts:
        if host.usable and host.addresses:
            return host.name, host.addresses[0]
    return None


async def probe_recipient(
    address: str, sender: str, mx: MxReport, options: ProbeOptions, *, rcpt: bool
) -> ProbeResult:
    """Ask the first usable MX host of ``address``'s domain about ``sender`` (and ``address``
    when ``rcpt``). Never raises for the server's answers or for network failures."""
    target = _target(mx)
    if target is None:
        return ProbeResult(sender, "", "", "connect", error="no_mail_server")
    host, ip = target
    try:
        check_target(ip, allow_private=options.allow_private)
    except ForbiddenTarget as exc:
        return ProbeResult(sender, host, ip, "connect", error=f"forbidden:{exc.category}")
    log.debug("checklist.probe connect host=%s ip=%s port=%d", host, ip, options.port)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(ip, options.port), options.timeout
        )
    except (OSError, TimeoutError) as exc:
        return ProbeResult(sender, host, ip, "connect", error=f"connect:{type(exc).__name__}")
    session = _Session(reader, writer, options.timeout)
    try:
        return await _converse(session, address, sender, host, ip, options, rcpt)
    except (OSError, TimeoutError, ValueError) as exc:
        return ProbeResult(
            sender,
            host,
            ip,
            "greeting",
            error=f"protocol:{exc}"[:200],
            transcript=tuple(session.transcript),
        )
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


async def _converse(
    session: _Session,
    address: str,
    sender: str,
    host: str,
    ip: str,
    options: ProbeOptions,
    rcpt: bool,
) -> ProbeResult:
    def result(stage: str, reply: SmtpReply | None, error: str = "") -> ProbeResult:
        return ProbeResult(sender, host, ip, stage, reply, rcpt, error, tuple(session.transcript))

    greeting = await session.reply()
    if greeting.code != 220:
        return result("greeting", greeting, "refused")
    ehlo = await session.command(f"EHLO {options.helo}")
    if ehlo.code != 250:
        return result("ehlo", ehlo, "refused")
    mail = await session.command(f"MAIL FROM:<{sender}>")
    if mail.code >= 400:
        await _quit(session)
        return result("mail", mail, "refused")
    if not rcpt:
        await _quit(session)
        return result("done", mail)
    answer = await session.command(f"RCPT TO:<{address}>")
    await _quit(session)
    if answer.code >= 400:
        return result("rcpt", answer, "refused")
    return result("done", answer)


async def _quit(session: _Session) -> None:
    with contextlib.suppress(OSError, TimeoutError, ValueError):
        await session.command("RSET")
        await session.command("QUIT")


__all__ = ["probe_recipient"]
