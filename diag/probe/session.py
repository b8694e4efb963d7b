"""One SMTP conversation over asyncio streams, with every line sent and received recorded
(with its time) as evidence: banner, EHLO, STARTTLS, MAIL FROM/RCPT TO with RSET between,
QUIT. Never DATA: the probe asks, it does not send mail.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from dataclasses import dataclass

from diag.jsonvalue import JsonObject
from diag.probe.replies import Reply, parse_reply_line

log = logging.getLogger(__name__)

MAX_LINE = 2048  # RFC 5321 §4.5.3.1.5 allows 512 octets per reply line; be generous
MAX_REPLY_LINES = 100
MAX_TRANSCRIPT = 500


@dataclass(frozen=True)
class TranscriptLine:
    """One line of the conversation: ``C`` sent, ``S`` received, ``*`` an event."""

    at_ms: float
    direction: str
    line: str

    def to_dict(self) -> JsonObject:
        return {"at_ms": round(self.at_ms, 1), "dir": self.direction, "line": self.line}

    def __str__(self) -> str:
        return f"{self.at_ms:8.1f} ms {self.direction}: {self.line}"


class SessionClosed(Exception):
    """The server closed the connection or stopped answering in time."""

    def __init__(self, *, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class SmtpSession:
    """A client conversation on an open connection; ``transcript`` holds everything said."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, timeout: float
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.started = time.monotonic()
        self.transcript: list[TranscriptLine] = []

    def note(self, direction: str, line: str) -> None:
        if len(self.transcript) < MAX_TRANSCRIPT:
            elapsed = (time.monotonic() - self.started) * 1000
            self.transcript.append(TranscriptLine(elapsed, direction, line[:MAX_LINE]))

    async def read_reply(self) -> Reply:
        """Read one reply, all its lines within ``timeout``. Raises SessionClosed on EOF,
        timeout or a line that is not SMTP."""
        try:
            async with asyncio.timeout(self.timeout):  # one deadline, no task per line
                return await self._read_lines()
        except TimeoutError:
            self.note("*", "timeout waiting for the server")
            raise SessionClosed(reason="timeout") from None

    async def _read_lines(self) -> Reply:
        lines: list[str] = []
        code = 0
        while len(lines) < MAX_REPLY_LINES:
            try:
                raw = await self.reader.readline()
            except (OSError, ValueError, asyncio.LimitOverrunError) as exc:
                self.note("*", f"read failed: {exc}")
                raise SessionClosed(reason="read_failed") from None
            if not raw:
                self.note("*", "connection closed by the server")
                raise SessionClosed(reason="closed")
            text = raw[:MAX_LINE].decode("utf-8", "replace").rstrip("\r\n")
            self.note("S", text)
            parsed = parse_reply_line(text)
            if parsed is None:
                raise SessionClosed(reason="not_smtp")
            code, more, rest = parsed
            lines.append(rest)
            if not more:
                return Reply(code, tuple(lines))
        raise SessionClosed(reason="reply_too_long")

    async def command(self, line: str) -> Reply:
        """Send one command line and read its reply. Raises SessionClosed."""
        self.note("C", line)
        try:
            self.writer.write(line.encode("utf-8") + b"\r\n")
            async with asyncio.timeout(self.timeout):
                await self.writer.drain()
        except (OSError, TimeoutError) as exc:
            self.note("*", f"write failed: {exc or 'timeout'}")
            raise SessionClosed(reason="write_failed") from None
        return await self.read_reply()

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str | None) -> None:
        """Upgrade the connection (after a 220 to STARTTLS). Raises ssl.SSLError, OSError."""
        await asyncio.wait_for(
            self.writer.start_tls(context, server_hostname=server_hostname), self.timeout
        )

    async def close(self) -> None:
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), self.timeout)
        except (OSError, TimeoutError, ssl.SSLError):
            log.debug("smtp_probe.close_failed")


@functools.cache
def tls_context(verify: bool) -> ssl.SSLContext:
    """A client context: verifying (CA store, host name) or only recording what it sees.

    Built once per kind and shared by every probe (loading the CA store per probe cost more
    than its handshake); a context holds configuration only, so sharing it is safe."""
    if verify:
        return ssl.create_default_context()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the probe reports the certificate; it does not trust it
    return context


def parse_ehlo(reply: Reply) -> dict[str, str]:
    """EHLO extension keywords (upper-case) and their parameters (RFC 5321 §4.1.1.1)."""
    extensions: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            extensions[keyword.upper()] = params
    return extensions


__all__ = ["SessionClosed", "SmtpSession", "TranscriptLine", "parse_ehlo", "tls_context"]
