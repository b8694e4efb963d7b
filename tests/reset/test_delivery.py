"""Outbox delivery through a fake relay on 127.0.0.1: retries, bounces, the delivery log."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email
import ipaddress
import logging
import re
import ssl
import threading
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import reset
from tests.reset.conftest import Clock

OK = "250 2.0.0 Ok: queued as 4F3A2B1C0D"


class Relay:
    """A scripted relay: answers DATA with the queued replies, then with OK."""

    def __init__(self) -> None:
        self.data_replies: list[str] = []
        self.rcpt_replies: dict[str, str] = {}
        self.accepted: list[tuple[str, list[str], bytes]] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.credentials: tuple[str, str] | None = None
        self.tls_context: ssl.SSLContext | None = None
        self.tls_sessions: list[bool] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Envelope, address: str, options: Any
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        reply = self.data_replies.pop(0) if self.data_replies else OK
        self.tls_sessions.append(session.ssl is not None)
        if reply.startswith("250"):
            content = envelope.original_content or b""
            self.accepted.append((str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return reply

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self.credentials == (
            data.login.decode(),
            data.password.decode(),
        )
        return AuthResult(success=ok, handled=False)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        auth = self.credentials is not None

        def factory() -> SMTP:
            return SMTP(
                self,
                hostname="relay.test",
                authenticator=self.authenticate if auth else None,
                auth_require_tls=False,
                auth_required=False,
                tls_context=self.tls_context,
                require_starttls=self.tls_context is not None,
            )

        self.server = await loop.create_server(factory, "127.0.0.1", self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    relay = Relay()
    await relay.start()
    yield relay
    await relay.stop()


def make_worker(
    factory: sessionmaker[Session],
    relay: Relay,
    composer: reset.MailComposer,
    clock: Clock,
    **kwargs: Any,
) -> reset.Worker:
    smtp = reset.SmtpRelay(host="127.0.0.1", port=relay.port, timeout=5)
    if "smtp" in kwargs:
        smtp = kwargs.pop("smtp")
    return reset.Worker(factory, smtp, composer, clock=clock, **kwargs)


def add_users(
    factory: sessionmaker[Session], hasher: reset.PasswordHasher, now: dt.datetime, *names: str
) -> None:
    with factory() as session, session.begin():
        for name in names:
            reset.create_user(session, f"{name}@kunde-ok.example", "pw", hasher=hasher, now=now)


def request(factory: sessionmaker[Session], now: dt.datetime, *addresses: str) -> None:
    with factory() as session, session.begin():
        for address in addresses:
            reset.request_reset(session, address, now=now)


def rows(factory: sessionmaker[Session]) -> list[reset.OutboxMessage]:
    with factory() as session:
        return list(session.scalars(select(reset.OutboxMessage).order_by(reset.OutboxMessage.id)))


def log_entries(factory: sessionmaker[Session], outbox_id: int) -> list[reset.DeliveryLogEntry]:
    with factory() as session:
        query = (
            select(reset.DeliveryLogEntry)
            .where(reset.DeliveryLogEntry.outbox_id == outbox_id)
            .order_by(reset.DeliveryLogEntry.id)
        )
        return list(session.scalars(query))


def token_in(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"token=([A-Za-z0-9_-]+)", body.get_content())
    assert found is not None
    return found.group(1)


async def test_relay_down_then_back_sends_each_mail_once(
    session_factory: sessionmaker[Session],
    relay: Relay,
    composer: reset.MailComposer,
    clock: Clock,
    hasher: reset.PasswordHasher,
) -> None:
    add_users(session_factory, hasher, clock.now, "kari", "ola")
    request(
        session_factory,
        clock.now,
        "kari@kunde-ok.example",
        "nobody@kunde-ok.example",
        "OLA@kunde-ok.example",
    )
    worker = make_worker(session_factory, relay, composer, clock)
    await relay.stop()

    assert await worker.run_once() == 3
    states = [(r.recipient, r.status, r.attempts) for r in rows(session_factory)]
    assert states == [
        ("kari@kunde-ok.example", "deferred", 1),
        ("nobody@kunde-ok.example", "discarded", 0),
        ("OLA@kunde-ok.example", "deferred", 1),
    ]
    first = log_entries(session_factory, rows(session_factory)[0].id)
    assert [(e.outcome, e.code) for e in first] == [("deferred", None)]
    assert first[0].relay == f"127.0.0.1:{relay.port}"
    assert [
        (e.outcome, e.text) for e in log_entries(session_factory, rows(session_factory)[1].id)
    ] == [("discarded", reset.NO_ACCOUNT)]

    assert await worker.run_once() == 0  # not due yet: backoff
    await relay.start()
    clock.advance(minutes=2)
    assert await worker.run_once() == 2
    sent_at = clock.now
    clock.advance(hours=2)
    assert await worker.run_once() == 0
    assert [r.status for r in rows(session_factory)] == ["sent", "discarded", "sent"]
    assert sorted(rcpts[0] for _f, rcpts, _c in relay.accepted) == [
        "OLA@kunde-ok.example",
        "kari@kunde-ok.example",
    ]
    # the strange address got nothing; the mails carry working links; the outbox keeps none
    with session_factory() as session:
        for mail_from, rcpts, content in relay.accepted:
            row_id = reset.parse_verp_address(mail_from)
            row = session.get(reset.OutboxMessage, row_id)
            assert row is not None
            assert row.recipient == rcpts[0]
            assert row.raw is not None
            assert b"REDACTED" in row.raw
            assert token_in(content).encode() not in row.raw
            assert reset.peek_token(session, token_in(content), now=sent_at) is not None
    second = log_entries(session_factory, rows(session_factory)[0].id)
    assert [(e.outcome, e.code, e.enhanced_status, e.queue_id) for e in second] == [
        ("deferred", None, None, None),
        ("sent", 250, "2.0.0", "4F3A2B1C0D"),
    ]


async def test_greylisting_4xx_then_2xx(
    session_factory: sessionmaker[Session],
    relay: Relay,
    composer: reset.MailComposer,
    clock: Clock,
    hasher: reset.PasswordHasher,
) -> None:
    add_users(session_factory, hasher, clock.now, "kari")
    request(session_factory, clock.now, "kari@kunde-ok.example")
    relay.data_replies = ["451 4.7.1 Greylisted, please try again later"]
    worker = make_worker(session_factory, relay, composer, clock)
    assert await worker.run_once() == 1
    (row,) = rows(session_factory)
    assert (row.status, row.last_error) == ("deferred", "4.7.1 Greylisted, please try again later")
    assert row.next_attempt_at == clock.now + dt.timedelta(minutes=1)
    clock.advance(seconds=61)
    assert await worker.run_once() == 1
    (row,) = rows(session_factory)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 2, clock.now)
    log = log_entries(session_factory, row.id)
    assert [(e.code, e.enhanced_status, e.outcome) for e in log] == [
        (451, "4.7.1", "deferred"),
        (250, "2.0.0", "sent"),
    ]
    assert len(relay.accepted) == 1


async def test_5xx_is_bounced_with_the_reply_logged(
    session_factory: sessionmaker[Session],
    relay: Relay,
    composer: reset.MailComposer,
    clock: Clock,
    hasher: reset.PasswordHasher,
) -> None:
    add_users(session_factory, hasher, clock.now, "kari", "ola")
    request(session_factory, clock.now, "kari@kunde-ok.example", "ola@kunde-ok.example")
    relay.data_replies = ["550 5.7.1 Message rejected: sender not allowed"]
    relay.rcpt_replies = {"ola@kunde-ok.example": "550 5.1.1 <ola@kunde-ok.example>: user unknown"}
    worker = make_worker(session_factory, relay, composer, clock)
    assert await worker.run_once() == 2
    kari, ola = rows(session_factory)
    assert (kari.status, kari.last_error) == (
        "bounced",
        "5.7.1 Message rejected: sender not allowed",
    )
    assert (ola.status, ola.attempts) == ("bounced", 1)
    (entry,) = log_entries(session_factory, kari.id)
    assert (entry.code, entry.enhanced_status, entry.outcome) == (550, "5.7.1", "bounced")
    (entry,) = log_entries(session_factory, ola.id)
    assert (entry.code, entry.enhanced_status) == (550, "5.1.1")
    clock.advance(days=1)
    assert await worker.run_once() == 0


async def test_retries_end_in_failed(
    session_factory: sessionmaker[Session],
    relay: Relay,
    composer: reset.MailComposer,
    clock: Clock,
    hasher: reset.PasswordHasher,
) -> None:
    add_users(session_factory, hasher, clock.now, "kari")
    request(session_factory, clock.now, "kari@kunde-ok.example")
    relay.data_replies = ["421 4.3.2 Service shutting down"] * 10
    retry = reset.RetryPolicy(
        base_delay=dt.timedelta(minutes=1), give_up_after=dt.timedelta(minutes=5)
    )
    worker = make_worker(session_factory, relay, composer, clock, retry=retry)
    statuses = []
    for _ in range(5):
        await worker.run_once()
        statuses.append(rows(session_factory)[0].status)
        clock.advance(minutes=2)
    assert statuses[:3] == ["deferred", "deferred", "failed"]
    assert statuses[3:] == ["failed", "failed"]
    assert len(log_entries(session_factory, rows(session_factory)[0].id)) == 3


def test_backoff_is_exponential_and_capped() -> None:
    retry = reset.RetryPolicy(
        base_delay=dt.timedelta(seconds=30), max_delay=dt.timedelta(minutes=5)
    )
    assert [retry.delay(n).total_seconds() for n in range(1, 7)] == [30, 60, 120, 240, 300, 300]


async def test_record_bounce_after_delivery(
    session_factory: sessionmaker[Session],
    relay: Relay,
    composer: reset.MailComposer,
    clock: Clock,
    hasher: reset.PasswordHasher,
) -> None:
    add_users(session_factory, hasher, clock.now, "kari")
    request(session_factory, clock.now, "kari@kunde-ok.example")
    await make_worker(session_factory, relay, composer, clock).run_once()
    mail_from = relay.accepted[0][0]
    with session_factory() as session, session.begin():
        reset.record_bounce(
            session,
            reset.parse_verp_address(mail_from),
            "5.2.2",
            "smtp; 552 5.2.2 Mailbox full",
            now=clock.now + dt.timedelta(minutes=1),
        )
    (row,) = rows(session_factory)
    assert (row.status, row.last_error) == ("bounced", "smtp; 552 5.2.2 Mailbox full")
    entry = log_entries(session_factory, row.id)[-1]
    assert (entry.relay, entry.outcome, entry.enhanced_status) == ("dsn", "bounced", "5.2.2")
    with session_factory() as session, pytest.raises(reset.OutboxError) as info:
        reset.record_bounce(session, 99999, "5.0.0", "x", now=clock.now)
    assert (info.value.outbox_id, info.value.reason) == (99999, "missing")


async def test_password_changed_notice_is_sent_and_kept(
    session_factory: sessionmaker[Session],
    relay: Relay,
    composer: reset.MailComposer,
    clock: Clock,
    hasher: reset.PasswordHasher,
    policy: reset.PasswordPolicy,
) -> None:
    add_users(session_factory, hasher, clock.now, "kari")
    with session_factory() as session, session.begin():
        user = reset.find_user(session, "kari@kunde-ok.example")
        assert user is not None
        token = reset.issue_token(session, user.id, now=clock.now).secret
        reset.complete_reset(
            session, token, "Kx7#vQ2!mZ", "Kx7#vQ2!mZ", now=clock.now, policy=policy, hasher=hasher
        )
    await make_worker(session_factory, relay, composer, clock).run_once()
    (row,) = rows(session_factory)
    assert (row.kind, row.status) == ("password_changed", "sent")
    assert row.raw is not None
    assert row.message_id is not None
    assert row.message_id.encode() in relay.accepted[0][2]
    assert (
        b"Passordet ditt er endret" in relay.accepted[0][2] or b"Subject:" in relay.accepted[0][2]
    )


async def test_run_forever_until_stopped(
    session_factory: sessionmaker[Session],
    relay: Relay,
    composer: reset.MailComposer,
    hasher: reset.PasswordHasher,
) -> None:
    now = dt.datetime.now(dt.UTC)
    add_users(session_factory, hasher, now, "kari")
    worker = reset.Worker(
        session_factory,
        reset.SmtpRelay(host="127.0.0.1", port=relay.port, timeout=5),
        composer,
        poll_interval=0.05,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop))
    request(session_factory, now, "kari@kunde-ok.example")
    for _ in range(200):
        if relay.accepted:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert len(relay.accepted) == 1
    assert rows(session_factory)[0].status == "sent"


async def test_auth_is_used_when_configured(
    session_factory: sessionmaker[Session],
    composer: reset.MailComposer,
    clock: Clock,
    hasher: reset.PasswordHasher,
) -> None:
    relay = Relay()
    relay.credentials = ("mailer", "s3cret")
    await relay.start()
    try:
        add_users(session_factory, hasher, clock.now, "kari", "ola")
        request(session_factory, clock.now, "kari@kunde-ok.example")
        good = reset.SmtpRelay(
            host="127.0.0.1", port=relay.port, username="mailer", password=reset.Secret("s3cret")
        )
        assert "s3cret" not in repr(good)
        await make_worker(session_factory, relay, composer, clock, smtp=good).run_once()
        assert (rows(session_factory)[0].status, rows(session_factory)[0].last_error) == (
            "sent",
            None,
        )
        request(session_factory, clock.now, "ola@kunde-ok.example")
        bad = dataclasses.replace(good, password=reset.Secret("wrong"))
        await make_worker(session_factory, relay, composer, clock, smtp=bad).run_once()
        ola = rows(session_factory)[1]
        assert ola.status == "deferred"  # our configuration is wrong: retry, never "bounced"
        (entry,) = log_entries(session_factory, ola.id)
        assert (entry.code, entry.enhanced_status) == (535, "5.7.8")
        assert "s3cret" not in (entry.text or "")
    finally:
        await relay.stop()


@pytest.mark.parametrize(
    ("code", "text", "status", "queue_id"),
    [
        (250, "2.0.0 Ok: queued as 4F3A2B1C0D", "2.0.0", "4F3A2B1C0D"),
        (250, "OK id=1vXyZa-000Abc-2Q", None, "1vXyZa-000Abc-2Q"),
        (250, "2.0.0 OK  1700000000 a1-20020a.123 - gsmtp", "2.0.0", None),
        (
            250,
            "2.6.0 <abc@x> [InternalId=12345, Hostname=X] Queued mail for delivery",
            "2.6.0",
            "12345",
        ),
        (451, "4.7.1 Greylisted", "4.7.1", None),
        (550, "5.7.1 queued as NOPE", "5.7.1", None),
        (554, "Transaction failed", None, None),
        (250, "", None, None),
        (None, "ConnectionRefusedError: nope", None, None),
        (550, "5.1.10 Recipient not found", "5.1.10", None),
        (550, "5.1.1000 not an enhanced code", None, None),
    ],
)
def test_parse_reply(code: int | None, text: str, status: str | None, queue_id: str | None) -> None:
    reply = reset.parse_reply(code, text)
    assert (reply.enhanced_status, reply.queue_id) == (status, queue_id)


def test_claims_are_disjoint_and_leases_expire(engine: Engine, now: dt.datetime) -> None:
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        for i in range(6):
            reset.enqueue(session, kind="message", recipient=f"u{i}@x.example", now=now, raw=b"x")
    results: list[list[int]] = []
    barrier = threading.Barrier(2)
    lock = threading.Lock()

    def claim() -> None:
        with factory() as session:
            barrier.wait()
            with session.begin():
                claimed = [r.id for r in reset.claim_batch(session, 4, now)]
        with lock:
            results.append(claimed)

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    ids = results[0] + results[1]
    assert len(ids) == len(set(ids))
    assert len(ids) == 6
    with factory() as session, session.begin():
        assert reset.claim_batch(session, 10, now + dt.timedelta(minutes=4)) == []
        again = reset.claim_batch(session, 10, now + dt.timedelta(minutes=6))
        assert sorted(r.id for r in again) == sorted(ids)
        assert all(r.status == "sending" for r in again)


def test_unknown_kind_is_refused(db: Session, now: dt.datetime) -> None:
    with pytest.raises(ValueError, match="kind"):
        reset.enqueue(db, kind="spam", recipient="a@b.example", now=now)


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and a client
    context that trusts only that certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.test")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "relay.crt", tmp_path / "relay.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def test_starttls_when_configured(
    sqlite: Engine,
    composer: reset.MailComposer,
    clock: Clock,
    hasher: reset.PasswordHasher,
    tmp_path: Path,
) -> None:
    factory = sessionmaker(sqlite, expire_on_commit=False)
    server_ctx, client_ctx = self_signed(tmp_path)
    relay = Relay()
    relay.tls_context = server_ctx
    await relay.start()
    try:
        add_users(factory, hasher, clock.now, "kari", "ola")
        request(factory, clock.now, "kari@kunde-ok.example")
        plain = reset.SmtpRelay(host="127.0.0.1", port=relay.port, timeout=5)
        await make_worker(factory, relay, composer, clock, smtp=plain).run_once()
        (row,) = rows(factory)
        (entry,) = log_entries(factory, row.id)
        assert (row.status, entry.code) == ("deferred", 530)  # our configuration: retried
        tls = dataclasses.replace(plain, starttls=True, tls_context=client_ctx)
        clock.advance(minutes=2)
        await make_worker(factory, relay, composer, clock, smtp=tls).run_once()
        assert rows(factory)[0].status == "sent"
        assert relay.tls_sessions == [True]
    finally:
        await relay.stop()


async def test_no_token_in_our_logs_while_sending(
    sqlite: Engine,
    relay: Relay,
    composer: reset.MailComposer,
    clock: Clock,
    hasher: reset.PasswordHasher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    factory = sessionmaker(sqlite, expire_on_commit=False)
    add_users(factory, hasher, clock.now, "kari")
    request(factory, clock.now, "kari@kunde-ok.example")
    await make_worker(factory, relay, composer, clock).run_once()
    token = token_in(relay.accepted[0][2])
    ours = [r for r in caplog.records if r.name.startswith("reset")]
    assert any(r.name == "reset.worker" for r in ours)
    assert all(token not in r.getMessage() for r in ours)


async def test_a_broken_row_does_not_stop_the_batch(
    sqlite: Engine,
    relay: Relay,
    composer: reset.MailComposer,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    factory = sessionmaker(sqlite, expire_on_commit=False)
    with factory() as session, session.begin():
        bad = reset.enqueue(
            session, kind="password_changed", recipient="a@b.example", now=clock.now
        )
        bad.payload = '{"changed_at": "not a date"}'
        reset.enqueue(
            session,
            kind="message",
            recipient="c@d.example",
            now=clock.now,
            raw=b"Subject: x\r\n\r\nhi\r\n",
        )
    assert await make_worker(factory, relay, composer, clock).run_once() == 2
    broken, fine = rows(factory)
    assert (broken.status, broken.attempts, broken.last_error) == (
        "deferred",
        1,
        "internal error: ValueError",
    )
    assert fine.status == "sent"
    assert "worker.job_failed" in caplog.text
    assert relay.accepted[0][0] == f"bounce+{rows(factory)[1].id}@bounce.visma.example"
