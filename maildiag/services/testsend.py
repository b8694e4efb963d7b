"""The test send's I/O: compose the real reset mail for each sender identity, DKIM-sign it with
the identity's key, send it into the sink presenting the identity's egress IP through the PROXY
protocol, and read back the verdict the sink stored.

The judging is the sink's; the reading of its verdict and the content checks are
``diag.testsend``'s. Raises ``TestSendError`` when the sink cannot be reached at all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import smtplib
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from diag.dkim import DkimSignError, sign_message
from diag.jsonvalue import JsonObject
from diag.senders import SenderSpec
from diag.testsend import TestSendResult, check_content, interpret_verdict
from maildiag.services.identities import sender_spec
from maildiag.settings import SenderIdentity, Settings
from reset import MailComposer, Secret, proxy_v1_line
from smtp_sink import SinkStore, create_store_engine

log = logging.getLogger(__name__)

DEFAULT_TO = "kari@kunde-ok.example"  # the lab's healthy demo mailbox
TEST_OUTBOX_ID = 0  # the VERP id of a test send: no outbox row stands behind it
SMTP_TIMEOUT = 30.0
RECENT = 50  # messages of the mailbox searched for the test message


class TestSendError(RuntimeError):
    """The sink could not be reached or answered outside SMTP; ``reason`` says how."""

    __test__ = False

    def __init__(self, *, host: str, port: int, reason: str) -> None:
        self.host, self.port, self.reason = host, port, reason
        super().__init__(f"cannot send to {host}:{port}: {reason}")


@dataclass(frozen=True)
class SinkTarget:
    """Where test mail goes: the sink listener that trusts PROXY headers from us."""

    host: str
    port: int
    proxy: bool = True


class _ProxySMTP(smtplib.SMTP):
    """smtplib's client with a PROXY v1 header written right after the TCP connect."""

    def __init__(self, header: bytes | None, *, timeout: float, local_hostname: str | None) -> None:
        self._header = header
        super().__init__(timeout=timeout, local_hostname=local_hostname)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        if self._header:
            sock.sendall(self._header)
        return sock  # type: ignore[no-any-return]


def _send(
    target: SinkTarget, header: bytes | None, helo: str, mail_from: str, to: str, raw: bytes
) -> str:
    """Deliver ``raw``; the refusal reply as ``"code text"``, or ``""`` when accepted."""
    try:
        client = _ProxySMTP(header, timeout=SMTP_TIMEOUT, local_hostname=helo or None)
        client.connect(target.host, target.port)
    except (OSError, smtplib.SMTPException) as exc:
        raise TestSendError(host=target.host, port=target.port, reason=str(exc)) from exc
    try:
        client.ehlo()
        client.sendmail(mail_from, [to], raw)
        return ""
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        return f"{code} {_text(text)}"
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    except smtplib.SMTPResponseException as exc:
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    except (OSError, smtplib.SMTPException) as exc:
        raise TestSendError(host=target.host, port=target.port, reason=str(exc)) from exc
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _signer(spec: SenderSpec) -> Callable[[bytes], bytes] | None:
    if spec.private_key is None or not spec.selectors:
        return None
    key, selector = spec.private_key, spec.selectors[0]

    def sign(raw: bytes) -> bytes:
        return sign_message(
            raw,
            domain=spec.signing_domain,
            selector=selector,
            private_key=key,
            algorithm=spec.algorithm,
        )

    return sign


def _find(store: SinkStore, to: str, message_id: str) -> JsonObject | None:
    for message in store.list(to=to, limit=RECENT):
        data = message.as_json()
        if data.get("message_id") == message_id:
            return data
    return None


async def send_test_mail(
    identity: SenderIdentity,
    *,
    to: str,
    settings: Settings,
    store: SinkStore,
    target: SinkTarget,
    now: dt.datetime | None = None,
) -> TestSendResult:
    """Send one identity's reset mail to ``to`` and read the sink's verdict.

    Raises ``TestSendError`` when the sink is unreachable, ``DkimSignError`` for an unusable
    signing key.
    """
    spec = sender_spec(identity)
    clock = now or dt.datetime.now(dt.UTC)
    composer = MailComposer(
        public_base_url=settings.public_base_url,
        sender=identity.address,
        bounce_domain=spec.envelope,
        sign=_signer(spec),
    )
    mail = composer.reset_mail(
        to=to,
        token=Secret.generate(),
        language=settings.lang,
        outbox_id=TEST_OUTBOX_ID,
        now=clock,
        valid_for=dt.timedelta(minutes=settings.reset_token_minutes),
    )
    content = check_content(
        mail.raw, base_url=settings.public_base_url, require_https=not settings.lab
    )
    egress = spec.egress_ips[0] if spec.egress_ips else None
    header = proxy_v1_line(egress, target.port) if egress and target.proxy else None
    rejection = await asyncio.to_thread(
        _send, target, header, spec.helo, mail.mail_from, to, mail.raw
    )
    stored = None if rejection else await asyncio.to_thread(_find, store, to, mail.message_id)
    if not rejection and stored is None:
        rejection = "250 accepted, but not found in the sink's store"
    log.info("testsend.done identity=%s to=%s rejected=%s", identity.address, to, bool(rejection))
    return interpret_verdict(
        identity.address, to, stored=stored, rejection=rejection, content=content
    )


async def run_test_sends(
    settings: Settings,
    *,
    to: str = DEFAULT_TO,
    identities: Sequence[SenderIdentity] | None = None,
    store: SinkStore | None = None,
    target: SinkTarget | None = None,
) -> list[TestSendResult]:
    """Test sends for ``identities`` (default: every configured one), one after another.

    The default store is the sink's tables in the configured database, and the default target
    the sink's PROXY listener (``sink_proxy_port``, else ``smtp_port``) on ``smtp_host``.
    Raises ``TestSendError`` and ``DkimSignError`` as ``send_test_mail`` does.
    """
    chosen = list(settings.senders if identities is None else identities)
    sink_store = store or SinkStore(create_store_engine(settings.database))
    where = target or SinkTarget(
        _connect_host(settings.smtp_host), settings.sink_proxy_port or settings.smtp_port
    )
    return [
        await send_test_mail(i, to=to, settings=settings, store=sink_store, target=where)
        for i in chosen
    ]


def _connect_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


__all__ = [
    "DEFAULT_TO",
    "DkimSignError",
    "SinkTarget",
    "TestSendError",
    "run_test_sends",
    "send_test_mail",
]
