"""The outbox worker: claim due rows, compose, send through the relay, record the outcome.

Owns the loop only. It runs as a task inside the app (the lab) or as ``maildiag worker``
processes at scale; several workers share the queue through the claim protocol of
``reset.outbox`` (claim, renew, attempt, finish). It claims only as many rows as it can send
within one lease at its slowest recent send (one at a time while the relay is slow), renews
the lease with a heartbeat while it works, checks that each row is still its own just before
sending it, and hands back what it did not attempt when it stops. Database work runs in a
thread (``asyncio.to_thread``) with a fresh Session each step, so the event loop only waits on
SMTP.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from reset.delivery import RetryPolicy, SmtpRelay, SmtpReply, record_attempt, record_local, send_one
from reset.flow import NO_ACCOUNT, prepare_reset_mail
from reset.mail import ComposedMail, MailComposer
from reset.models import OutboxMessage
from reset.outbox import (
    DEFAULT_LEASE,
    OutboxJob,
    begin_attempt,
    claim_batch,
    new_owner,
    release_claims,
    renew_claims,
)
from reset.tokens import DEFAULT_TOKEN_TTL

log = logging.getLogger(__name__)


HEARTBEATS_PER_LEASE = 3  # a heartbeat may fail twice before a live claim runs out
SEND_WINDOW = 16  # recent sends whose slowest sizes the next claim
MIN_SEND_SECONDS = 0.001


def utc_now() -> dt.datetime:
    """The default clock."""
    return dt.datetime.now(dt.UTC)


def default_name() -> str:
    """This process as the logs and claim tokens name it: ``host:pid``."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


class _ClaimLost(Exception):
    """Rolls back the composing transaction of a row that is no longer ours."""


class Worker:
    """Sends due outbox rows. ``session_factory`` is e.g. a ``sessionmaker`` bound to the engine.

    ``clock`` is injectable so tests can step through backoff without sleeping. Sessions are
    used from threads, the heartbeat's beside the sender's: use a database file or server (an
    in-memory SQLite engine would share one connection between them). ``lease`` is how long a
    claim lives without a heartbeat; ``batch_size`` caps the rows one claim takes.
    """

    def __init__(
        self,
        session_factory: Callable[[], Session],
        relay: SmtpRelay,
        composer: MailComposer,
        *,
        retry: RetryPolicy | None = None,
        batch_size: int = 20,
        poll_interval: float = 2.0,
        lease: dt.timedelta = DEFAULT_LEASE,
        token_ttl: dt.timedelta = DEFAULT_TOKEN_TTL,
        clock: Callable[[], dt.datetime] = utc_now,
        name: str | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.relay = relay
        self.composer = composer
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.lease = lease
        self.token_ttl = token_ttl
        self.clock = clock
        self.name = name or default_name()
        self._send_seconds: collections.deque[float] = collections.deque(maxlen=SEND_WINDOW)

    def claim_size(self) -> int:
        """How many rows the next claim takes: as many as can be sent within one lease at the
        slowest of the recent sends (at the relay's timeout before any), 1 to ``batch_size``.

        A slow relay thus gets one row per claim, so no row waits in a claim behind it.
        """
        slowest = max(self._send_seconds, default=self.relay.timeout)
        fits = int(self.lease.total_seconds() // max(slowest, MIN_SEND_SECONDS))
        return max(1, min(self.batch_size, fits))

    async def run_once(self, stop: asyncio.Event | None = None) -> int:
        """Claim one batch and process it; returns how many rows were handled.

        The claim is renewed while the batch runs. When ``stop`` is set (or the task is
        cancelled) the rows not yet attempted go back to the queue at once.
        """
        owner = new_owner(self.name)
        jobs = await asyncio.to_thread(self._claim, owner)
        if not jobs:
            return 0
        handled = 0
        async with self._renewing(owner):
            try:
                for job in jobs:
                    if stop is not None and stop.is_set():
                        break
                    try:
                        await self._handle(job)
                    except Exception as exc:
                        # A bug or a database failure for one row must not stop the others.
                        log.exception("worker.job_failed outbox_id=%s", job.id)
                        await self._record_internal_error(job, exc)
                    handled += 1
            finally:
                if handled < len(jobs):  # stopped or cancelled: the rest goes back at once
                    await self._release(owner)
        return handled

    async def run_forever(self, stop_event: asyncio.Event) -> None:
        """Process batches until ``stop_event`` is set; sleeps ``poll_interval`` when idle."""
        log.info("worker.started relay=%s name=%s", self.relay.name, self.name)
        while not stop_event.is_set():
            try:
                handled = await self.run_once(stop_event)
            except Exception:  # the database is unreachable: wait and try again
                log.exception("worker.batch_failed")
                handled = 0
            if handled:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), timeout=self.poll_interval)
        log.info("worker.stopped")

    @contextlib.asynccontextmanager
    async def _renewing(self, owner: str) -> AsyncIterator[None]:
        """Renew ``owner``'s claim with a heartbeat while the block runs."""
        heartbeat = asyncio.create_task(self._heartbeat(owner), name="outbox-heartbeat")
        try:
            yield
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _release(self, owner: str) -> None:
        try:
            released = await asyncio.to_thread(self._release_now, owner)
        except SQLAlchemyError:  # the rows come back when their lease ends
            log.exception("worker.release_failed owner=%s", owner)
            return
        log.info("worker.released owner=%s count=%s", owner, released)

    async def _heartbeat(self, owner: str) -> None:
        interval = self.lease.total_seconds() / HEARTBEATS_PER_LEASE
        while True:
            await asyncio.sleep(interval)
            try:
                renewed = await asyncio.to_thread(self._renew, owner)
            except SQLAlchemyError:
                log.exception("worker.heartbeat_failed owner=%s", owner)
                continue
            log.debug("worker.heartbeat owner=%s renewed=%s", owner, renewed)

    def _claim(self, owner: str) -> list[OutboxJob]:
        with self.session_factory() as session, session.begin():
            rows = claim_batch(
                session, self.claim_size(), self.clock(), lease=self.lease, owner=owner
            )
            return [OutboxJob.from_row(row) for row in rows]

    def _renew(self, owner: str) -> int:
        with self.session_factory() as session, session.begin():
            return renew_claims(session, owner, now=self.clock(), lease=self.lease)

    def _release_now(self, owner: str) -> int:
        with self.session_factory() as session, session.begin():
            return release_claims(session, owner)

    def _begin(self, job: OutboxJob) -> ComposedMail | None:
        """Compose ``job`` and mark it attempting, in one transaction; None: do not send.

        The mark is the last step, so a row that is no longer ours leaves nothing behind: no
        token issued, no outcome logged.
        """
        now = self.clock()
        try:
            with self.session_factory() as session, session.begin():
                composed = self._compose(session, job, now)
                if isinstance(composed, ComposedMail):
                    if begin_attempt(session, job.id, job.owner, now=now, lease=self.lease):
                        return composed
                    raise _ClaimLost
                outcome, reason = composed
                if not record_local(
                    session, job.id, outcome=outcome, reason=reason, now=now, owner=job.owner
                ):
                    raise _ClaimLost
        except _ClaimLost:
            log.warning("worker.claim_lost outbox_id=%s owner=%s", job.id, job.owner)
            return None
        log.info("worker.skipped outbox_id=%s kind=%s outcome=%s", job.id, job.kind, outcome)
        return None

    def _compose(
        self, session: Session, job: OutboxJob, now: dt.datetime
    ) -> ComposedMail | tuple[str, str]:
        """The mail for ``job``, or the local outcome and reason when there is none to send."""
        if job.kind == "reset_request":
            mail = prepare_reset_mail(
                session, job, self.composer, now=now, token_ttl=self.token_ttl
            )
            return ("discarded", NO_ACCOUNT) if mail is None else mail
        if job.kind == "password_changed":
            changed = dt.datetime.fromisoformat(job.payload.get("changed_at", now.isoformat()))
            mail = self.composer.password_changed_mail(
                to=job.recipient,
                language=job.language,
                outbox_id=job.id,
                now=now,
                changed_at=changed,
            )
            row = session.get(OutboxMessage, job.id)
            if row is not None:
                row.raw, row.message_id = mail.redacted, mail.message_id
            return mail
        if job.raw is None:
            return ("failed", "no_message")
        return ComposedMail(
            raw=job.raw,
            redacted=job.raw,
            message_id="",
            mail_from=self.composer.bounce_address(job.id),
            recipient=job.recipient,
        )

    def _record(self, job: OutboxJob, reply: SmtpReply) -> str:
        with self.session_factory() as session, session.begin():
            return record_attempt(
                session,
                job.id,
                reply,
                relay=self.relay.name,
                now=self.clock(),
                retry=self.retry,
                owner=job.owner,
            )

    async def _record_internal_error(self, job: OutboxJob, exc: Exception) -> None:
        """Count the failure as an attempt, so a broken row backs off and finally fails.

        If even that cannot be written (the database is down), the row stays ``sending``
        and is claimed again when its lease ends.
        """
        reply = SmtpReply(code=None, text=f"internal error: {type(exc).__name__}", stage="local")
        try:
            await asyncio.to_thread(self._record, job, reply)
        except Exception:
            log.exception("worker.record_failed outbox_id=%s", job.id)

    async def _handle(self, job: OutboxJob) -> None:
        mail = await asyncio.to_thread(self._begin, job)
        if mail is None:
            return
        started = time.monotonic()
        reply = await send_one(job, self.relay, mail_from=mail.mail_from, message=mail.raw)
        self._send_seconds.append(time.monotonic() - started)
        status = await asyncio.to_thread(self._record, job, reply)
        log.info("worker.handled outbox_id=%s status=%s code=%s", job.id, status, reply.code)
