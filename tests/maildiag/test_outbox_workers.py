"""Two real ``maildiag worker`` processes share one outbox (a SQLite file, and PostgreSQL when
MAILDIAG_TEST_POSTGRES_URL is set) and send reset mails through a slow relay on loopback that
counts what it accepts: exactly one mail per row, each with a working link. One worker is then
killed with SIGKILL in the middle of a batch: no row is lost, none is sent twice while a claim
on it is alive, and the killed attempt shows as ``interrupted`` in the delivery log.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import email
import email.policy
import os
import re
import secrets
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope
from sqlalchemy.orm import Session, sessionmaker

import reset
from maildiag.db import create_engine, migrate

REPO = Path(__file__).resolve().parents[2]
HASHER = reset.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
DEADLINE = 90.0  # seconds; each run takes a few
# Short, so that a claim nobody renews runs out within the run; long enough that a heartbeat
# (every third of it) gets through on a loaded machine.
LEASE = 3.0
_TOKEN = re.compile(r"reset-password\?token=([A-Za-z0-9_-]+)")


@dataclasses.dataclass(frozen=True)
class Delivery:
    outbox_id: int
    recipient: str
    started: float  # wall-clock time of MAIL FROM
    raw: bytes


class SlowRelay:
    """An SMTP relay on 127.0.0.1, port 0, that takes ``delay`` seconds per message before its
    250 and records every message it accepted, with the outbox id from the VERP return path."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.accepted: list[Delivery] = []
        self.in_flight: set[int] = set()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Envelope, address: str, options: Any
    ) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        session.started = time.time()
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        # Like a real MTA, the relay has the mail once the data is in; the 250 comes later.
        outbox_id = reset.parse_verp_address(str(envelope.mail_from))
        raw = envelope.original_content or b""
        self.accepted.append(Delivery(outbox_id, envelope.rcpt_tos[0], session.started, raw))
        self.in_flight.add(outbox_id)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight.discard(outbox_id)
        return f"250 2.0.0 Ok: queued as Q{len(self.accepted)}"

    def per_row(self) -> collections.Counter[int]:
        return collections.Counter(d.outbox_id for d in self.accepted)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(self, hostname="slow-relay.test"), "127.0.0.1", 0
        )
        self._server = server
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@dataclasses.dataclass
class Outbox:
    """The shared database: its URL for the workers and a session factory for the test."""

    url: str
    engine: sa.Engine

    def sessions(self) -> Session:
        return sessionmaker(self.engine, expire_on_commit=False)()

    def rows(self) -> list[reset.OutboxMessage]:
        with self.sessions() as session:
            query = sa.select(reset.OutboxMessage).order_by(reset.OutboxMessage.id)
            return list(session.scalars(query))

    def log(self) -> list[reset.DeliveryLogEntry]:
        with self.sessions() as session:
            query = sa.select(reset.DeliveryLogEntry).order_by(reset.DeliveryLogEntry.id)
            return list(session.scalars(query))


def postgres_schema_url(schema: str) -> Iterator[str]:
    """A URL on a new PostgreSQL schema ``schema`` (skips without the test database); the
    schema is dropped when the generator is resumed."""
    base = os.environ.get("MAILDIAG_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("MAILDIAG_TEST_POSTGRES_URL is not set")
    admin = sa.create_engine(base)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outbox]:
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path / 'outbox.sqlite3'}"])
    else:
        urls = postgres_schema_url(f"outbox_{uuid.uuid4().hex[:12]}")
    url = next(urls)
    engine = create_engine(url)
    migrate(engine)
    try:
        yield Outbox(url, engine)
    finally:
        engine.dispose()
        next(urls, None)  # drops the PostgreSQL schema


def queue_resets(outbox: Outbox, count: int) -> list[str]:
    """``count`` accounts, each with one reset request in the outbox."""
    now = dt.datetime.now(dt.UTC)
    addresses = [f"kari{i}@kunde-ok.example" for i in range(count)]
    with outbox.sessions() as session, session.begin():
        for address in addresses:
            reset.create_user(session, address, "Demo#2026pass", hasher=HASHER, now=now)
            reset.request_reset(session, address, now=now)
    return addresses


@contextlib.asynccontextmanager
async def workers(
    outbox: Outbox, relay: SlowRelay, tmp_path: Path, count: int, *, lease: float
) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """``count`` ``maildiag worker`` processes on ``outbox``; SIGTERM (then SIGKILL) at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDIAG_")}
    env.update(
        PYTHONWARNINGS="ignore",
        MAILDIAG_DATA_DIR=str(tmp_path),
        MAILDIAG_DATABASE_URL=outbox.url,
        MAILDIAG_SECRET_KEY=secrets.token_urlsafe(32),
        MAILDIAG_PUBLIC_BASE_URL="https://konto.visma.example",
        MAILDIAG_RELAY__HOST="127.0.0.1",
        MAILDIAG_RELAY__PORT=str(relay.port),
        MAILDIAG_RELAY__TIMEOUT="10",
        MAILDIAG_OUTBOX_LEASE_SECONDS=str(lease),
        MAILDIAG_OUTBOX_BATCH_SIZE="20",
    )
    processes = []
    try:
        for n in range(count):
            errors = (tmp_path / f"worker{n}.err").open("wb")
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "maildiag",
                "worker",
                cwd=REPO,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
            )
            errors.close()
            processes.append(process)
        for process in processes:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line.startswith(b"maildiag worker: relay"), line
        yield processes
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


async def until(condition: Any, what: str) -> None:
    """Wait (polling the database in a thread) until ``condition()`` is true."""
    deadline = time.monotonic() + DEADLINE
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def diagnosis(outbox: Outbox, tmp_path: Path) -> str:
    """The delivery log and the workers' stderr, for an assertion's message."""
    entries = [f"{e.outbox_id} {e.outcome} {e.code} {e.text}" for e in outbox.log()]
    errors = [p.read_text(errors="replace")[-3000:] for p in sorted(tmp_path.glob("*.err"))]
    return "\n".join([*entries, *errors])


def all_sent(outbox: Outbox) -> bool:
    return all(row.status == "sent" for row in outbox.rows())


def check_links(outbox: Outbox, relay: SlowRelay, addresses: list[str]) -> None:
    """Every account got its mail, and the last mail each got carries a working link."""
    latest = {d.recipient: d for d in sorted(relay.accepted, key=lambda d: d.started)}
    assert sorted(latest) == sorted(addresses)
    now = dt.datetime.now(dt.UTC)
    with outbox.sessions() as session:
        for delivery in latest.values():
            message = email.message_from_bytes(delivery.raw, policy=email.policy.default)
            body = message.get_body(("plain",))  # type: ignore[attr-defined]  # EmailMessage under policy.default
            assert body is not None
            found = _TOKEN.search(body.get_content())
            assert found is not None
            assert reset.peek_token(session, found.group(1), now=now) is not None


@pytest.fixture
async def relay() -> AsyncIterator[SlowRelay]:
    server = SlowRelay(delay=0.2)
    await server.start()
    yield server
    await server.stop()


@pytest.mark.slow
async def test_two_workers_and_a_slow_relay_send_each_row_once(
    outbox: Outbox, relay: SlowRelay, tmp_path: Path
) -> None:
    addresses = queue_resets(outbox, 24)
    # 24 rows at 0.2 s are more than one lease of work: a batch of 20 outlives a claim of 3 s
    # that nobody renews.
    async with workers(outbox, relay, tmp_path, 2, lease=LEASE):
        await until(lambda: all_sent(outbox), "every row to be sent")
        await asyncio.sleep(LEASE + 0.5)  # past a lease: a late second claim would show now
    story = diagnosis(outbox, tmp_path)
    assert relay.per_row() == {row.id: 1 for row in outbox.rows()}, story
    check_links(outbox, relay, addresses)
    assert [e.outcome for e in outbox.log()] == ["sent"] * len(addresses), story


def _held_by(outbox: Outbox, pid: int) -> list[reset.OutboxMessage]:
    return [
        row
        for row in outbox.rows()
        if row.status == "sending" and (row.claim_owner or "").partition("/")[0].endswith(f":{pid}")
    ]


@pytest.mark.slow
async def test_a_worker_killed_mid_batch_loses_nothing_and_logs_the_interrupted_attempt(
    outbox: Outbox, relay: SlowRelay, tmp_path: Path
) -> None:
    relay.delay = 0.3
    addresses = queue_resets(outbox, 20)
    async with workers(outbox, relay, tmp_path, 2, lease=LEASE) as (victim, survivor):
        held: list[reset.OutboxMessage] = []

        def mid_batch() -> bool:
            held[:] = _held_by(outbox, victim.pid)
            attempting = [r for r in held if r.attempt_started_at is not None]
            return len(held) >= 2 and any(r.id in relay.in_flight for r in attempting)

        await until(mid_batch, "the victim to be mid-batch")
        victim.kill()
        await victim.wait()
        at_kill = {row.id: row for row in _held_by(outbox, victim.pid)}
        await until(lambda: all_sent(outbox), "every row to be sent")
        assert survivor.returncode is None
    [interrupted] = [row for row in at_kill.values() if row.attempt_started_at is not None]
    unattempted = set(at_kill) - {interrupted.id}
    assert unattempted  # the kill came mid-batch
    per_row, story = relay.per_row(), diagnosis(outbox, tmp_path)
    assert set(per_row) == {row.id for row in outbox.rows()}, story  # no row lost
    twice = {outbox_id for outbox_id, n in per_row.items() if n > 1}
    assert twice <= {interrupted.id}, story  # only the attempt the kill cut off can repeat
    assert interrupted.lease_until is not None
    starts = sorted(d.started for d in relay.accepted if d.outbox_id == interrupted.id)
    # the killed attempt reached the relay; a second send began only once its claim had run out
    assert starts[0] < interrupted.lease_until.timestamp()
    assert all(start >= interrupted.lease_until.timestamp() for start in starts[1:])
    cut_off = [e.outbox_id for e in outbox.log() if e.outcome == "interrupted"]
    assert cut_off == [interrupted.id], story
    log = [e for e in outbox.log() if e.outbox_id == interrupted.id]
    assert [e.outcome for e in log] == ["interrupted", "sent"], story
    assert "at-least-once" in log[0].text
    check_links(outbox, relay, addresses)
