"""Background jobs beside the outbox: named jobs and periodic jobs on procrastinate.

Owns the wiring of the job engine and its one small interface (``Jobs``). At scale
(PostgreSQL) the queue is procrastinate's tables, which ``maildiag migrate`` applies
(revision 0006), and ``maildiag worker`` works it beside the outbox; in the embedded mode
(SQLite, one process) the same interface runs on procrastinate's in-memory connector inside
the process that enqueues. The reset mail never goes through here: it is written to the
outbox in the transaction of its token (see docs/architecture.md, "Background work").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import procrastinate
import sqlalchemy as sa
from procrastinate.testing import InMemoryConnector

from maildiag.settings import Settings

log = logging.getLogger(__name__)

JobFunction = TypeVar("JobFunction", bound=Callable[..., Awaitable[None]])
PeriodicFunction = Callable[[int], Awaitable[None]]  # gets the tick's Unix timestamp

DEFAULT_ATTEMPTS = 5  # a failing job is tried this often in all
RETRY_WAIT = 10  # seconds before the first retry, doubled for each next one
STALLED_SECONDS = 60.0  # a job whose worker sent no heartbeat for this long is retried
STALLED_CRON = "* * * * *"  # the check for stalled jobs, every minute
POLL_SECONDS = 5.0  # between queue polls when no notification arrives
CONCURRENCY = 4  # jobs a worker runs at once (a long scan chunk does not hold up the rest)


class Jobs:
    """The deployment's background jobs behind one small interface.

    - ``job(name)`` registers a coroutine function as the named job (retried with
      exponential backoff when it raises);
    - ``periodic(name, cron=...)`` registers one that the worker defers on a schedule, once
      per tick however many workers run (procrastinate's periodic defers);
    - ``enqueue(name, **kwargs)`` queues a run (the arguments must be JSON values);
    - ``run(stop)`` works the queue until ``stop`` is set.

    Every process that enqueues or works a job must register it first (``build_jobs`` does
    for the deployment's jobs). ``durable`` says whether the queue outlives the process.
    """

    def __init__(self, connector: procrastinate.BaseConnector, *, durable: bool) -> None:
        self.app = procrastinate.App(connector=connector)
        self.durable = durable
        self.periodic("jobs.retry_stalled", cron=STALLED_CRON)(self._retry_stalled)

    def job(
        self, name: str, *, attempts: int = DEFAULT_ATTEMPTS
    ) -> Callable[[JobFunction], JobFunction]:
        """Register the decorated coroutine function as the job ``name``."""
        retry = procrastinate.RetryStrategy(max_attempts=attempts, exponential_wait=RETRY_WAIT)

        def register(function: JobFunction) -> JobFunction:
            self.app.task(name=name, retry=retry)(function)
            return function

        return register

    def periodic(self, name: str, *, cron: str) -> Callable[[PeriodicFunction], PeriodicFunction]:
        """Register the decorated coroutine function as the job ``name``, deferred at every
        tick of ``cron`` (five fields, or six with seconds first). It gets the tick's Unix
        timestamp."""

        def register(function: PeriodicFunction) -> PeriodicFunction:
            task = self.app.task(name=name)(_periodic_call(function))
            self.app.periodic(cron=cron)(task)
            return function

        return register

    async def enqueue(self, name: str, **kwargs: Any) -> int:
        """Queue one run of the job ``name``; returns its id. Needs ``opened``."""
        job_id = await self.app.configure_task(name).defer_async(**kwargs)
        log.info("jobs.enqueued name=%s id=%s", name, job_id)
        return job_id

    async def enqueue_once(self, name: str, lock: str, **kwargs: Any) -> int | None:
        """Like ``enqueue``, unless a job queued with the same ``lock`` still waits to be
        run: then nothing is queued and None is returned (procrastinate's queueing lock)."""
        try:
            job_id = await self.app.configure_task(name, queueing_lock=lock).defer_async(**kwargs)
        except procrastinate.exceptions.AlreadyEnqueued:
            log.info("jobs.already_queued name=%s lock=%s", name, lock)
            return None
        log.info("jobs.enqueued name=%s id=%s", name, job_id)
        return job_id

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[Jobs]:
        """Connect to the queue for the block."""
        async with self.app.open_async():
            yield self

    async def run(self, stop: asyncio.Event) -> None:
        """Work the queue (and defer the periodic jobs) until ``stop`` is set. Needs
        ``opened``. A job in progress is let finish."""
        worker = asyncio.create_task(
            self.app.run_worker_async(
                install_signal_handlers=False,
                concurrency=CONCURRENCY,
                fetch_job_polling_interval=POLL_SECONDS,
                listen_notify=self.durable,
            ),
            name="jobs-worker",
        )
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not worker.done():
            worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker

    async def _retry_stalled(self, timestamp: int) -> None:
        """Hand the jobs of a worker that died back to the queue (at-least-once)."""
        manager = self.app.job_manager
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_SECONDS):
            log.warning("jobs.stalled_retried id=%s name=%s", job.id, job.task_name)
            await manager.retry_job(job)


def _periodic_call(function: PeriodicFunction) -> Callable[[int], Awaitable[None]]:
    async def call(timestamp: int) -> None:
        await function(timestamp)

    call.__name__ = getattr(function, "__name__", "periodic")
    return call


def libpq_url(database_url: str) -> str:
    """``database_url`` (a SQLAlchemy URL) as the libpq URL procrastinate's connector takes."""
    url = sa.make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def uses_postgres(settings: Settings) -> bool:
    return sa.make_url(settings.database).get_backend_name() == "postgresql"


def build_jobs(settings: Settings) -> Jobs:
    """The jobs of ``settings``' deployment: on PostgreSQL the durable queue that every
    ``maildiag worker`` shares, else an in-memory one for this process alone."""
    if uses_postgres(settings):
        connector = procrastinate.PsycopgConnector(conninfo=libpq_url(settings.database))
        return Jobs(connector, durable=True)
    return Jobs(InMemoryConnector(), durable=False)


@contextlib.asynccontextmanager
async def running_jobs(jobs: Jobs) -> AsyncIterator[Jobs]:
    """Open ``jobs`` and work them in a task until the block ends (the embedded mode, and
    ``maildiag worker``)."""
    stop = asyncio.Event()
    async with jobs.opened():
        task = asyncio.create_task(jobs.run(stop), name="jobs")
        try:
            yield jobs
        finally:
            stop.set()
            await task
