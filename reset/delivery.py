"""Sending one outbox row over SMTP, the retry schedule, and the delivery log.

Owns the SMTP conversation with the relay (aiosmtplib), the reading of its reply (code,
RFC 3463 enhanced status, text, queue id) and the ``delivery_log`` rows. ``send_one`` never
raises for what the relay or the network does: a refusal or a dead relay is a reply value.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import ipaddress
import logging
import re
import socket
import ssl
from typing import Protocol

import aiosmtplib
from sqlalchemy.orm import Session

from reset.errors import OutboxError
from reset.models import DeliveryLogEntry, OutboxMessage
from reset.outbox import finish_claim
from reset.secret import Secret

log = logging.getLogger(__name__)

# RFC 3463 §2: class "." subject "." detail; class 2, 4 or 5.
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
# Queue ids as common MTAs word them in the 250 reply to DATA (Postfix, Exim, Sendmail, MS).
_QUEUE_ID = (
    re.compile(r"queued as ([A-Za-z0-9][A-Za-z0-9._-]*)", re.IGNORECASE),
    re.compile(r"\bid=([A-Za-z0-9][A-Za-z0-9._-]*)"),
    re.compile(r"^([A-Za-z0-9]{6,}) Message accepted for delivery"),
    re.compile(r"<[^>]+> \[InternalId=(\d+)"),
)
MAX_REPLY_TEXT = 2000  # bound what goes into the log
# Failures of our own configuration, not of the recipient: retried, never "bounced".
_OUR_SIDE_STAGES = ("connect", "auth")
# 530 "must issue STARTTLS first" (RFC 3207 §4), "authentication required" (RFC 4954 §6);
# 535 credentials invalid and 538 encryption required for the mechanism (RFC 4954 §6).
_OUR_SIDE_CODES = (530, 535, 538)


@dataclasses.dataclass(frozen=True)
class SmtpRelay:
    """Where and how to hand mail over. ``password`` is a Secret so reprs stay clean."""

    host: str
    port: int = 25
    starttls: bool = False
    use_tls: bool = False
    username: str | None = None
    password: Secret | None = None
    timeout: float = 30.0
    local_hostname: str | None = None
    tls_context: ssl.SSLContext | None = dataclasses.field(default=None, repr=False)
    # The source address declared in a PROXY v1 header right after connecting: only for a relay
    # that trusts PROXY headers from us (the lab's sink, which then judges the mail as coming
    # from the sender identity's egress address, as a receiver would see it).
    proxy_source: str | None = None

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


@dataclasses.dataclass(frozen=True)
class SmtpReply:
    """The relay's answer. ``code`` is None when no reply came (connection failed, timeout)."""

    code: int | None
    text: str
    enhanced_status: str | None = None
    queue_id: str | None = None
    stage: str = "data"

    @property
    def accepted(self) -> bool:
        return self.code is not None and 200 <= self.code < 300

    @property
    def permanent(self) -> bool:
        return self.code is not None and self.code >= 500


def proxy_v1_line(source_ip: str, port: int) -> bytes:
    """The PROXY protocol v1 header (haproxy proxy-protocol.txt §2.1) naming ``source_ip`` as
    the client and loopback as the destination ``port``. Raises ValueError for a non-IP."""
    family = "TCP6" if ipaddress.ip_address(source_ip).version == 6 else "TCP4"
    dest = "::1" if family == "TCP6" else "127.0.0.1"
    return f"PROXY {family} {source_ip} {dest} {port} 25\r\n".encode("ascii")


async def _proxied_socket(relay: SmtpRelay, source: str) -> socket.socket:
    """A connected, non-blocking socket to ``relay`` that has sent the PROXY header."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(relay.host, relay.port, type=socket.SOCK_STREAM)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(relay.timeout):
            await loop.sock_connect(sock, address)
            await loop.sock_sendall(sock, proxy_v1_line(source, relay.port))
    except BaseException:
        sock.close()
        raise
    return sock


def parse_reply(code: int | None, text: str, *, stage: str = "data") -> SmtpReply:
    """Read the enhanced status and queue id out of a reply's text; pure."""
    text = text.strip()[:MAX_REPLY_TEXT]
    first = text.splitlines()[0] if text else ""
    match = _ENHANCED.match(first)
    enhanced = ".".join(match.groups()) if match else None
    queue_id = None
    if code is not None and 200 <= code < 300:
        rest = first[match.end() :].strip() if match else first
        for pattern in _QUEUE_ID:
            found = pattern.search(rest)
            if found:
                queue_id = found.group(1)
                break
    return SmtpReply(code=code, text=text, enhanced_status=enhanced, queue_id=queue_id, stage=stage)


class Sendable(Protocol):
    """What ``send_one`` needs of a row: an id, a recipient and (optionally) the stored message."""

    @property
    def id(self) -> int: ...
    @property
    def recipient(self) -> str: ...
    @property
    def raw(self) -> bytes | None: ...


async def send_one(
    row: Sendable, relay: SmtpRelay, *, mail_from: str, message: bytes | None = None
) -> SmtpReply:
    """Send ``message`` (default: ``row.raw``) to ``row.recipient`` through ``relay``.

    Uses STARTTLS and AUTH when the relay is configured for them. Returns the reply to the
    step that ended the conversation; never raises for SMTP or network failures.
    Raises OutboxError(reason="no_message") when there is nothing to send.
    """
    data = message if message is not None else row.raw
    if data is None:
        raise OutboxError(outbox_id=row.id, reason="no_message")
    stage = "connect"
    client = aiosmtplib.SMTP(
        timeout=relay.timeout,
        use_tls=relay.use_tls,
        start_tls=relay.starttls,
        local_hostname=relay.local_hostname,
        tls_context=relay.tls_context,
    )
    try:
        if relay.proxy_source is None:
            await client.connect(hostname=relay.host, port=relay.port)
        else:
            await client.connect(sock=await _proxied_socket(relay, relay.proxy_source))
        if relay.username is not None and relay.password is not None:
            stage = "auth"
            await client.login(relay.username, relay.password.reveal())
        stage = "mail"
        await client.mail(mail_from)
        stage = "rcpt"
        await client.rcpt(row.recipient)
        stage = "data"
        response = await client.data(data)
        reply = parse_reply(response.code, response.message, stage="data")
    except aiosmtplib.SMTPResponseException as exc:
        reply = parse_reply(exc.code, exc.message, stage=stage)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        reply = SmtpReply(
            code=None, text=f"{type(exc).__name__}: {exc}"[:MAX_REPLY_TEXT], stage=stage
        )
    except asyncio.CancelledError:  # shutting down: no polite QUIT to a relay that may hang
        client.close()
        raise
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
    log.info(
        "delivery.attempt outbox_id=%s relay=%s stage=%s code=%s status=%s",
        row.id,
        relay.name,
        reply.stage,
        reply.code,
        reply.enhanced_status,
    )
    return reply


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for 4xx replies and failed connections, up to ``give_up_after``."""

    base_delay: dt.timedelta = dt.timedelta(minutes=1)
    factor: float = 2.0
    max_delay: dt.timedelta = dt.timedelta(hours=1)
    give_up_after: dt.timedelta = dt.timedelta(days=1)

    def delay(self, attempts: int) -> dt.timedelta:
        """The wait after the ``attempts``-th failed attempt (1-based)."""
        seconds = self.base_delay.total_seconds() * self.factor ** max(attempts - 1, 0)
        return min(dt.timedelta(seconds=seconds), self.max_delay)


def record_attempt(
    session: Session,
    outbox_id: int,
    reply: SmtpReply,
    *,
    relay: str,
    now: dt.datetime,
    retry: RetryPolicy,
    owner: str | None = None,
) -> str:
    """Log one attempt and move the row on: sent, deferred, bounced (5xx) or failed; returns it.

    A 4xx, no reply, or a refusal of our TLS/AUTH configuration is retried with backoff until
    ``retry.give_up_after`` from the row's creation has passed; then the row is failed.
    The attempt is counted here unless ``begin_attempt`` counted it already. With ``owner``
    (the claim the attempt was made under) the row moves on only while that claim holds it;
    if another worker holds it now, the attempt is still logged, and an accepted mail still
    marks the row sent, so that worker does not send it again.
    Raises OutboxError(reason="missing") for an unknown row.
    """
    row = session.get(OutboxMessage, outbox_id, populate_existing=True)
    if row is None:
        raise OutboxError(outbox_id=outbox_id, reason="missing")
    attempts = row.attempts + (1 if row.attempt_started_at is None else 0)
    values = _outcome(reply, attempts=attempts, created=row.created, now=now, retry=retry)
    status = str(values["status"])
    if not finish_claim(session, outbox_id, owner, attempts=attempts, **values):
        log.warning("delivery.claim_lost outbox_id=%s status=%s", outbox_id, status)
        if reply.accepted:
            finish_claim(session, outbox_id, None, **values)
    _log_entry(session, outbox_id, now, relay, status, reply)
    session.flush()
    return status


def _outcome(
    reply: SmtpReply, *, attempts: int, created: dt.datetime, now: dt.datetime, retry: RetryPolicy
) -> dict[str, object]:
    """The row's new status and the columns that go with it, after ``reply``."""
    if reply.accepted:
        return {"status": "sent", "sent_at": now, "last_error": None}
    if reply.permanent and not _our_side(reply):
        return {"status": "bounced", "last_error": reply.text}
    retry_at = now + retry.delay(attempts)
    expired = retry_at - created > retry.give_up_after
    status = "failed" if expired else "deferred"
    return {"status": status, "next_attempt_at": retry_at, "last_error": reply.text}


def _our_side(reply: SmtpReply) -> bool:
    return reply.stage in _OUR_SIDE_STAGES or reply.code in _OUR_SIDE_CODES


def record_bounce(
    session: Session,
    outbox_id: int,
    status: str,
    diagnostic: str,
    *,
    now: dt.datetime,
    reporter: str = "dsn",
) -> None:
    """Mark a row bounced after a DSN arrived (RFC 3464 Status and Diagnostic-Code).

    Raises OutboxError(reason="missing") when the row does not exist.
    """
    row = session.get(OutboxMessage, outbox_id, populate_existing=True)
    if row is None:
        raise OutboxError(outbox_id=outbox_id, reason="missing")
    row.status = "bounced"
    row.last_error = diagnostic[:MAX_REPLY_TEXT]
    reply = parse_reply(None, f"{status} {diagnostic}", stage="dsn")
    _log_entry(session, outbox_id, now, reporter, "bounced", reply)
    session.flush()
    log.info("delivery.bounced outbox_id=%s status=%s", outbox_id, reply.enhanced_status)


def record_local(
    session: Session,
    outbox_id: int,
    *,
    outcome: str,
    reason: str,
    now: dt.datetime,
    owner: str | None = None,
) -> bool:
    """Log a decision taken without any relay (a discarded request); sets the row's status.

    With ``owner`` it happens only while that claim holds the row; returns False (and logs
    nothing) when it does not. Raises OutboxError(reason="missing") for an unknown row.
    """
    if session.get(OutboxMessage, outbox_id) is None:
        raise OutboxError(outbox_id=outbox_id, reason="missing")
    if not finish_claim(session, outbox_id, owner, status=outcome, last_error=reason):
        return False
    _log_entry(
        session, outbox_id, now, "local", outcome, SmtpReply(code=None, text=reason, stage="local")
    )
    session.flush()
    return True


def _log_entry(
    session: Session, outbox_id: int, now: dt.datetime, relay: str, outcome: str, reply: SmtpReply
) -> None:
    session.add(
        DeliveryLogEntry(
            outbox_id=outbox_id,
            at=now,
            relay=relay,
            outcome=outcome,
            code=reply.code,
            enhanced_status=reply.enhanced_status,
            text=reply.text,
            queue_id=reply.queue_id,
        )
    )
