"""The outbox worker composed from Settings: relay, DKIM-signing composer, bounce intake.

``reset.Worker`` does the work; this module only decides what it is given. The reset mail is
signed with the sender identity's key (``diag.dkim.sign_message``) and sent through the
configured relay (in the lab: the lab sink). ``bounce_recorder`` turns the sink's parsed DSNs
into delivery-log entries. ``running_worker`` runs the loop as a task in the app process (the
lab); ``maildiag worker`` runs it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import reset
from diag.dkim import sign_message
from maildiag.db import create_engine
from maildiag.settings import SenderIdentity, Settings
from smtp_sink import BounceReport, OnBounce

log = logging.getLogger(__name__)

LAB_POLL_INTERVAL = 0.25  # seconds; the lab's mails should show up at once
POLL_INTERVAL = 2.0
LAB_RETRY = reset.RetryPolicy(
    base_delay=dt.timedelta(seconds=5), max_delay=dt.timedelta(minutes=1)
)  # the lab's greylisting demo delivers on the second try within seconds


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OutboxConfigError(ValueError):
    """The reset sender has no usable identity or key; the message names the setting."""


def make_signer(identity: SenderIdentity) -> reset.Signer | None:
    """A DKIM signer for ``identity`` (None when it has no key configured).

    The key is read once, here. Raises OutboxConfigError for an unreadable key file or a
    key without a selector.
    """
    if identity.dkim_key_path is None:
        return None
    if not identity.dkim_selectors:
        raise OutboxConfigError(f"sender {identity.address}: dkim_key_path needs a selector")
    try:
        key = identity.dkim_key_path.read_bytes()
    except OSError as exc:
        raise OutboxConfigError(f"sender {identity.address}: cannot read DKIM key: {exc}") from exc
    domain, selector = identity.signing_domain, identity.dkim_selectors[0]
    algorithm = identity.dkim_algorithm

    def sign(message: bytes) -> bytes:
        return sign_message(
            message, domain=domain, selector=selector, private_key=key, algorithm=algorithm
        )

    return sign


def build_composer(settings: Settings) -> reset.MailComposer:
    """The composer for ``settings.reset_sender``: links from ``public_base_url``, VERP on the
    identity's envelope domain, DKIM with its key. Raises OutboxConfigError."""
    identity = settings.sender(settings.reset_sender)
    if identity is None:
        raise OutboxConfigError(f"reset_sender {settings.reset_sender} is not among senders")
    return reset.MailComposer(
        public_base_url=settings.public_base_url,
        sender=identity.address,
        bounce_domain=identity.envelope,
        sign=make_signer(identity),
    )


def build_relay(settings: Settings) -> reset.SmtpRelay:
    """The relay from ``settings.relay``."""
    relay = settings.relay
    password = relay.password.get_secret_value()
    return reset.SmtpRelay(
        host=relay.host,
        port=relay.port,
        starttls=relay.starttls,
        username=relay.username or None,
        password=reset.Secret(password) if password else None,
        timeout=relay.timeout,
        local_hostname=relay.helo or None,
        proxy_source=str(relay.proxy_source) if relay.proxy_source is not None else None,
    )


def retry_policy(settings: Settings) -> reset.RetryPolicy:
    """The backoff of ``settings`` (``outbox_retry_base_seconds``, ``outbox_retry_max_seconds``)."""
    return reset.RetryPolicy(
        base_delay=dt.timedelta(seconds=settings.outbox_retry_base_seconds),
        max_delay=dt.timedelta(seconds=settings.outbox_retry_max_seconds),
    )


def build_worker(
    settings: Settings,
    session_factory: Callable[[], Session],
    *,
    clock: Callable[[], dt.datetime] = utc_now,
) -> reset.Worker:
    """The outbox worker for ``settings``. Raises OutboxConfigError."""
    return reset.Worker(
        session_factory,
        build_relay(settings),
        build_composer(settings),
        retry=LAB_RETRY if settings.lab else retry_policy(settings),
        batch_size=settings.outbox_batch_size,
        lease=dt.timedelta(seconds=settings.outbox_lease_seconds),
        poll_interval=LAB_POLL_INTERVAL if settings.lab else POLL_INTERVAL,
        token_ttl=dt.timedelta(minutes=settings.reset_token_minutes),
        clock=clock,
    )


def bounce_recorder(
    session_factory: Callable[[], Session], *, clock: Callable[[], dt.datetime] = utc_now
) -> OnBounce:
    """The sink's ``on_bounce``: a DSN for ``bounce+<outbox id>@…`` marks that row bounced
    with the DSN's status and diagnostic in the delivery log. Others are logged and dropped.
    """

    def record(report: BounceReport) -> None:
        if not report.verp_token.isdigit() or len(report.verp_token) > 18:
            log.info("outbox.bounce_ignored token_length=%s", len(report.verp_token))
            return
        outbox_id = int(report.verp_token)
        with session_factory() as session, session.begin():
            try:
                reset.record_bounce(
                    session,
                    outbox_id,
                    report.status,
                    report.diagnostic,
                    now=clock(),
                    reporter=(report.reporting_mta or "dsn")[:255],
                )
            except reset.OutboxError as exc:
                log.info("outbox.bounce_unmatched outbox_id=%s reason=%s", outbox_id, exc.reason)

    async def on_bounce(report: BounceReport) -> None:
        await asyncio.to_thread(record, report)

    return on_bounce


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, engine: sa.Engine | None = None
) -> AsyncIterator[reset.Worker]:
    """Run the outbox worker as a task until the block ends (the app process in the lab)."""
    own = engine is None
    engine = engine or create_engine(settings.database)
    worker = build_worker(settings, sessionmaker(engine, expire_on_commit=False))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop), name="outbox-worker")
    try:
        yield worker
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if own:
            engine.dispose()


async def run_until_signalled(settings: Settings, stop: asyncio.Event) -> None:
    """``maildiag worker``: run the loop until ``stop`` is set."""
    engine = create_engine(settings.database)
    try:
        worker = build_worker(settings, sessionmaker(engine, expire_on_commit=False))
        await worker.run_forever(stop)
    finally:
        engine.dispose()
