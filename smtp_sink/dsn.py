"""Building RFC 3464 delivery status notifications, and delivering them over SMTP.

``build_dsn`` is pure: it turns an accepted message into the multipart/report (RFC 6522) that a
receiver sends back to the envelope sender when it fails a message after accepting it.
``smtp_deliverer`` makes the ``deliver`` coroutine the sink uses to send one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesHeaderParser
from email.policy import SMTP, compat32
from email.utils import format_datetime, make_msgid

import aiosmtplib

from smtp_sink.capture import header_block
from smtp_sink.policies import MAILBOX_FULL, Reply

Deliver = Callable[..., Awaitable[None]]
"""``async deliver(dsn_bytes, mail_from="", rcpt=envelope_sender)``"""

MAX_HEADER_BYTES = 64 * 1024


def _headers_of(raw: bytes) -> str:
    end = raw.find(b"\r\n\r\n")
    block = raw[: end + 2] if end >= 0 else raw
    block = block[:MAX_HEADER_BYTES]
    return block.decode("utf-8", "replace").replace("\r\n", "\n")


def _fields(pairs: list[tuple[str, str]]) -> Message:
    block = Message(policy=compat32)
    for name, value in pairs:
        block[name] = value
    return block


def build_dsn(
    original: bytes,
    *,
    reporting_mta: str,
    recipient: str,
    envelope_sender: str,
    reply: Reply = MAILBOX_FULL,
    arrival: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> bytes:
    """An RFC 3464 failure report (Action: failed) for ``recipient`` of ``original``.

    The original's header block goes in a text/rfc822-headers part (RFC 6522 §3).
    """
    now = now or dt.datetime.now(dt.UTC)
    original_headers = BytesHeaderParser(policy=compat32).parsebytes(header_block(original))
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = f"Mail Delivery System <MAILER-DAEMON@{reporting_mta}>"
    report["To"] = envelope_sender
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Date"] = format_datetime(now)
    report["Message-ID"] = make_msgid(domain=reporting_mta)
    report["Auto-Submitted"] = "auto-replied"  # RFC 3834 §5
    if original_headers.get("Message-ID"):
        report["In-Reply-To"] = str(original_headers["Message-ID"])
    human = (
        f"This is the mail system at host {reporting_mta}.\n\n"
        f"Your message could not be delivered to {recipient}.\n"
        f"The remote server said: {reply}\n"
    )
    report.attach(MIMEText(human, "plain", "utf-8"))
    per_message = [("Reporting-MTA", f"dns; {reporting_mta}")]
    if arrival is not None:
        per_message.append(("Arrival-Date", format_datetime(arrival)))
    per_recipient = [
        ("Original-Recipient", f"rfc822; {recipient}"),
        ("Final-Recipient", f"rfc822; {recipient}"),
        ("Action", "failed"),
        ("Status", reply.enhanced),
        ("Diagnostic-Code", f"smtp; {reply}"),
        ("Last-Attempt-Date", format_datetime(now)),
    ]
    status = Message(policy=compat32)
    status.set_type("message/delivery-status")
    status.set_payload([_fields(per_message), _fields(per_recipient)])
    report.attach(status)
    headers = MIMEText(_headers_of(original), "rfc822-headers", "utf-8")
    report.attach(headers)
    return report.as_bytes(policy=SMTP)


def smtp_deliverer(host: str, port: int, *, timeout: float = 30.0) -> Deliver:
    """A ``deliver`` coroutine that sends a DSN over SMTP to ``host:port`` (no TLS, no AUTH)."""

    async def deliver(dsn: bytes, mail_from: str = "", rcpt: str = "") -> None:
        # aiosmtplib.send refuses the null sender, so drive the client directly.
        client = aiosmtplib.SMTP(hostname=host, port=port, timeout=timeout, start_tls=False)
        async with client:
            await client.sendmail(mail_from, [rcpt], dsn)

    return deliver
