"""The outbox's claim protocol (claim, renew, attempt, finish, release) on SQLite and, when
configured, PostgreSQL; and the worker that follows it against a relay on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiosmtpd.smtp import Envelope
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import reset
from tests.reset.conftest import Clock
from tests.reset.test_delivery import OK, Relay, log_entries, make_worker, rows

LEASE = dt.timedelta(minutes=1)
Hook = Callable[[int], Awaitable[None]]


class HookedRelay(Relay):
    """The scripted relay, running ``hook(message number)`` while it holds each DATA."""

    def __init__(self) -> None:
        super().__init__()
        self.hook: Hook | None = None
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.received += 1
        if self.hook is not None:
            await self.hook(self.received)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
async def hooked() -> AsyncIterator[HookedRelay]:
    relay = HookedRelay()
    await relay.start()
    yield relay
    await relay.stop()


def queue(factory: sessionmaker[Session], now: dt.datetime, count: int) -> list[int]:
    """``count`` plain messages (no secret in them), due at ``now``."""
    with factory() as session, session.begin():
        return [
            reset.enqueue(
                session,
                kind="message",
                recipient=f"u{i}@kunde-ok.example",
                now=now,
                raw=b"Subject: hei\r\n\r\nhei\r\n",
            ).id
            for i in range(count)
        ]


def claim(factory: sessionmaker[Session], now: dt.datetime, owner: str, n: int = 10) -> list[int]:
    with factory() as session, session.begin():
        return [r.id for r in reset.claim_batch(session, n, now, lease=LEASE, owner=owner)]


def in_session(factory: sessionmaker[Session], work: Callable[[Session], Any]) -> Any:
    with factory() as session, session.begin():
        return work(session)


def test_an_attempt_begins_only_under_a_live_claim_of_its_own(
    session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    [row_id] = queue(session_factory, now, 1)
    assert claim(session_factory, now, "a/1") == [row_id]

    def begin(owner: str, at: dt.datetime) -> bool:
        return bool(
            in_session(
                session_factory,
                lambda s: reset.begin_attempt(s, row_id, owner, now=at, lease=LEASE),
            )
        )

    assert not begin("b/2", now)  # not the owner
    assert not begin("a/1", now + LEASE)  # the lease has run out
    assert begin("a/1", now + dt.timedelta(seconds=30))
    assert not begin("a/1", now + dt.timedelta(seconds=31))  # one attempt at a time
    [row] = rows(session_factory)
    assert (row.attempts, row.attempt_started_at) == (1, now + dt.timedelta(seconds=30))
    assert row.lease_until == now + dt.timedelta(seconds=30) + LEASE  # renewed by the start


def test_the_heartbeat_renews_only_live_claims(
    session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    queue(session_factory, now, 2)
    claim(session_factory, now, "a/1", n=1)
    claim(session_factory, now, "b/2", n=1)
    later = now + dt.timedelta(seconds=50)
    assert (
        in_session(session_factory, lambda s: reset.renew_claims(s, "a/1", now=later, lease=LEASE))
        == 1
    )
    gone = now + LEASE + dt.timedelta(seconds=1)
    assert (
        in_session(session_factory, lambda s: reset.renew_claims(s, "b/2", now=gone, lease=LEASE))
        == 0
    )
    a, b = rows(session_factory)
    assert (a.lease_until, b.lease_until) == (later + LEASE, now + LEASE)
    assert claim(session_factory, gone, "c/3") == [b.id]  # a's claim lives on


def test_released_rows_are_due_again_at_once(
    session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    ids = queue(session_factory, now, 3)
    with session_factory() as session, session.begin():
        retried = session.get(reset.OutboxMessage, ids[2])
        assert retried is not None
        retried.attempts, retried.status = 1, "deferred"
    claim(session_factory, now, "a/1")
    in_session(
        session_factory, lambda s: reset.begin_attempt(s, ids[0], "a/1", now=now, lease=LEASE)
    )
    assert in_session(session_factory, lambda s: reset.release_claims(s, "a/1")) == 2
    states = [(r.status, r.claim_owner, r.next_attempt_at) for r in rows(session_factory)]
    assert states == [("sending", "a/1", now), ("queued", None, now), ("deferred", None, now)]
    assert claim(session_factory, now, "b/2") == ids[1:]  # the attempt in flight stays a's


def test_a_reclaimed_attempt_that_never_finished_is_logged_once(
    session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    [row_id] = queue(session_factory, now, 1)
    claim(session_factory, now, "host:41/aa")
    in_session(
        session_factory,
        lambda s: reset.begin_attempt(s, row_id, "host:41/aa", now=now, lease=LEASE),
    )
    later = now + LEASE + dt.timedelta(seconds=1)
    assert claim(session_factory, later, "host:42/bb") == [row_id]
    [entry] = log_entries(session_factory, row_id)
    assert (entry.outcome, entry.code, entry.at) == ("interrupted", None, later)
    assert "host:41/aa" in entry.text
    assert "at-least-once" in entry.text
    [row] = rows(session_factory)
    assert (row.attempt_started_at, row.attempts, row.claim_owner) == (None, 1, "host:42/bb")
    assert claim(session_factory, later + LEASE + LEASE, "host:43/cc") == [row_id]
    assert len(log_entries(session_factory, row_id)) == 1  # no attempt began under 42


def test_an_outcome_after_the_claim_was_lost(
    session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    first, second = queue(session_factory, now, 2)
    claim(session_factory, now, "a/1")
    for row_id in (first, second):
        in_session(
            session_factory,
            lambda s, i=row_id: reset.begin_attempt(s, i, "a/1", now=now, lease=LEASE),
        )
    later = now + LEASE + dt.timedelta(seconds=1)
    claim(session_factory, later, "b/2")  # a's lease ran out while it waited on the relay

    def finish(row_id: int, reply: reset.SmtpReply) -> str:
        return str(
            in_session(
                session_factory,
                lambda s: reset.record_attempt(
                    s, row_id, reply, relay="r", now=later, retry=reset.RetryPolicy(), owner="a/1"
                ),
            )
        )

    assert finish(first, reset.parse_reply(250, OK[4:])) == "sent"
    assert finish(second, reset.parse_reply(451, "4.7.1 try later")) == "deferred"
    sent, held = rows(session_factory)
    # the mail is out, so b must not send it again; b keeps the other row for its own try
    assert (sent.status, sent.claim_owner, sent.sent_at) == ("sent", None, later)
    assert (held.status, held.claim_owner, held.attempts) == ("sending", "b/2", 1)
    assert [e.outcome for e in log_entries(session_factory, second)] == ["interrupted", "deferred"]
    assert not in_session(
        session_factory, lambda s: reset.begin_attempt(s, first, "b/2", now=later, lease=LEASE)
    )


async def test_a_slow_send_keeps_its_claim_alive(
    session_factory: sessionmaker[Session],
    hooked: HookedRelay,
    composer: reset.MailComposer,
) -> None:
    now = dt.datetime.now(dt.UTC)
    queue(session_factory, now, 1)
    others: list[list[int]] = []

    async def slow(_n: int) -> None:
        await asyncio.sleep(2.2)  # more than two leases
        later = dt.datetime.now(dt.UTC)
        others.append(await asyncio.to_thread(claim, session_factory, later, "b/2"))

    hooked.hook = slow
    smtp = reset.SmtpRelay(host="127.0.0.1", port=hooked.port, timeout=5)
    worker = reset.Worker(
        session_factory, smtp, composer, lease=dt.timedelta(seconds=1), batch_size=1
    )
    assert await worker.run_once() == 1
    assert others == [[]]  # the heartbeat kept the claim while the relay took its time
    [row] = rows(session_factory)
    assert (row.status, row.attempts, row.claim_owner) == ("sent", 1, None)
    assert len(hooked.accepted) == 1


async def test_a_row_taken_over_mid_batch_is_not_sent(
    session_factory: sessionmaker[Session],
    hooked: HookedRelay,
    composer: reset.MailComposer,
    clock: Clock,
) -> None:
    first, second = queue(session_factory, clock.now, 2)
    with session_factory() as session, session.begin():  # a request nobody is to be mailed for
        reset.request_reset(session, "nobody@kunde-ok.example", now=clock.now)

    async def lease_runs_out(n: int) -> None:
        if n == 1:  # as if no heartbeat got through: another worker takes the rows
            clock.advance(minutes=10)
            await asyncio.to_thread(claim, session_factory, clock.now, "b/2")

    hooked.hook = lease_runs_out
    worker = make_worker(session_factory, hooked, composer, clock, lease=LEASE)
    assert await worker.run_once() == 3
    assert hooked.received == 1  # the second row was b's by the time a got to it
    sent, *taken = rows(session_factory)
    assert sent.status == "sent"
    # nor did a decide anything for the third: b will, under its own claim
    assert [(r.status, r.claim_owner) for r in taken] == [("sending", "b/2")] * 2
    assert [e.outcome for e in log_entries(session_factory, first)] == ["interrupted", "sent"]
    assert log_entries(session_factory, second) == []
    assert log_entries(session_factory, taken[1].id) == []


async def test_stopping_hands_back_the_rows_not_yet_attempted(
    session_factory: sessionmaker[Session],
    hooked: HookedRelay,
    composer: reset.MailComposer,
    clock: Clock,
) -> None:
    queue(session_factory, clock.now, 3)
    stop = asyncio.Event()

    async def stop_now(_n: int) -> None:
        stop.set()

    hooked.hook = stop_now
    worker = make_worker(session_factory, hooked, composer, clock)
    assert await worker.run_once(stop) == 1
    states = [(r.status, r.claim_owner) for r in rows(session_factory)]
    assert states == [("sent", None), ("queued", None), ("queued", None)]
    assert len(claim(session_factory, clock.now, "b/2")) == 2


async def test_a_cancelled_send_is_interrupted_and_the_rest_released(
    session_factory: sessionmaker[Session],
    hooked: HookedRelay,
    composer: reset.MailComposer,
    clock: Clock,
) -> None:
    first, *rest = queue(session_factory, clock.now, 3)
    entered = asyncio.Event()

    async def hang(_n: int) -> None:
        entered.set()
        await asyncio.sleep(30)

    hooked.hook = hang
    worker = make_worker(session_factory, hooked, composer, clock, lease=LEASE)
    task = asyncio.create_task(worker.run_once())
    await asyncio.wait_for(entered.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    clock.advance(seconds=30)
    assert claim(session_factory, clock.now, "b/2") == rest  # released, not left to the lease
    clock.advance(seconds=31)
    assert claim(session_factory, clock.now, "c/3") == [first]  # once its lease has run out
    assert [e.outcome for e in log_entries(session_factory, first)] == ["interrupted"]


async def test_claims_shrink_to_what_fits_in_the_lease(
    sqlite: Engine, hooked: HookedRelay, composer: reset.MailComposer
) -> None:
    factory = sessionmaker(sqlite, expire_on_commit=False)
    queue(factory, dt.datetime.now(dt.UTC), 6)

    async def slow(_n: int) -> None:
        await asyncio.sleep(0.4)

    hooked.hook = slow
    smtp = reset.SmtpRelay(host="127.0.0.1", port=hooked.port, timeout=5)
    worker = reset.Worker(factory, smtp, composer, lease=dt.timedelta(seconds=1), batch_size=20)
    assert worker.claim_size() == 1  # 5 s timeout, 1 s lease: one row until sends are timed
    assert await worker.run_once() == 1
    size = worker.claim_size()
    assert 1 <= size <= 2  # a send takes 0.4 s or more: at most 2 fit in 1 s
    assert await worker.run_once() == size
    hooked.hook = None
    assert worker.claim_size() == size  # the slowest recent send still counts
    while await worker.run_once():
        pass
    assert {r.status for r in rows(factory)} == {"sent"}
    fast = reset.Worker(factory, smtp, composer, lease=dt.timedelta(minutes=5), batch_size=20)
    assert fast.claim_size() == 20  # 300 s / 5 s would be 60: capped at batch_size
