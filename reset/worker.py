"""The outbox worker: claim due rows, compose, send through the relay, record the outcome.

Owns the loop only. It runs as a task inside the app (the lab) or as ``maildiag worker``
processes at scale; several workers share the queue through ``claim_batch``. Database work
runs in a thread (``asyncio.to_thread``) with a fresh Session each step, so the event loop
only waits on SMTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy.orm import Session

from reset.delivery import RetryPolicy, SmtpRelay, SmtpReply, record_attempt, record_local, send_one
from reset.flow import NO_ACCOUNT, prepare_reset_mail
from reset.mail import ComposedMail, MailComposer
from reset.models import OutboxMessage
from reset.outbox import DEFAULT_LEASE, OutboxJob, claim_batch
from reset.tokens import DEFAULT_TOKEN_TTL

log = logging.getLogger(__name__)


def utc_now() -> dt.datetime:
    """The default clock."""
    return dt.datetime.now(dt.UTC)


class Worker:
    """Sends due outbox rows. ``session_factory`` is e.g. a ``sessionmaker`` bound to the engine.

    ``clock`` is injectable so tests can step through backoff without sleeping. Sessions are
    used from worker threads: an in-memory SQLite engine needs ``poolclass=StaticPool`` and
    ``connect_args={"check_same_thread": False}`` (file databases work as they are).
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

    async def run_once(self) -> int:
        """Claim one batch and process it; returns how many rows were handled."""
        jobs = await asyncio.to_thread(self._claim)
        for job in jobs:
            try:
                await self._handle(job)
            except Exception as exc:
                # A bug or a database failure for one row must not stop the others.
                log.exception("worker.job_failed outbox_id=%s", job.id)
                await self._record_internal_error(job, exc)
        return len(jobs)

    async def run_forever(self, stop_event: asyncio.Event) -> None:
        """Process batches until ``stop_event`` is set; sleeps ``poll_interval`` when idle."""
        log.info("worker.started relay=%s", self.relay.name)
        while not stop_event.is_set():
            try:
                handled = await self.run_once()
            except Exception:  # the database is unreachable: wait and try again
                log.exception("worker.batch_failed")
                handled = 0
            if handled:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), timeout=self.poll_interval)
        log.info("worker.stopped")

    def _claim(self) -> list[OutboxJob]:
        with self.session_factory() as session, session.begin():
            rows = claim_batch(session, self.batch_size, self.clock(), lease=self.lease)
            return [OutboxJob.from_row(row) for row in rows]

    def _compose(self, job: OutboxJob) -> ComposedMail | None:
        now = self.clock()
        with self.session_factory() as session, session.begin():
            if job.kind == "reset_request":
                mail = prepare_reset_mail(
                    session, job, self.composer, now=now, token_ttl=self.token_ttl
                )
                if mail is None:
                    record_local(session, job.id, outcome="discarded", reason=NO_ACCOUNT, now=now)
                return mail
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
                record_local(session, job.id, outcome="failed", reason="no_message", now=now)
                return None
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
                session, job.id, reply, relay=self.relay.name, now=self.clock(), retry=self.retry
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
        mail = await asyncio.to_thread(self._compose, job)
        if mail is None:
            log.info("worker.skipped outbox_id=%s kind=%s", job.id, job.kind)
            return
        reply = await send_one(job, self.relay, mail_from=mail.mail_from, message=mail.raw)
        status = await asyncio.to_thread(self._record, job, reply)
        log.info("worker.handled outbox_id=%s status=%s code=%s", job.id, status, reply.code)
