"""``maildiag worker``: the deployment's background work: the outbox first, the chunks of
queued bulk scans (``maildiag scan --queue``), and the watch on our sender identities every
``watch_interval_seconds`` (0: no watch).

It sends queued mail through the relay. On PostgreSQL it works the job engine's queue
(``maildiag.jobs``): the scan chunks are its ``scan.chunk`` jobs and the watch is its periodic
job ``watch.round``, one round per tick however many workers run. On SQLite (no durable job
queue) it claims the scan chunks from their table and runs the watch in a loop of its own.
Several can run beside the app replicas; they share the outbox through row claims
(``FOR UPDATE SKIP LOCKED``) and the jobs through procrastinate. Stops cleanly on SIGINT or
SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from diag.errors import InputError
from maildiag.commands.common import Subcommands
from maildiag.settings import Settings

if TYPE_CHECKING:
    import sqlalchemy as sa

    from maildiag.jobs import Jobs

SCAN_CONCURRENCY = 50  # DNS lookups in flight per worker for scan jobs
MAX_SCAN_CONCURRENCY = 100


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "worker",
        help="run the background work: send queued mail, scan queued domains, run queued and "
        "periodic jobs",
    )
    parser.add_argument("--data", type=Path, help="data directory (default ./data)")
    parser.add_argument(
        "--scan-concurrency",
        type=int,
        default=SCAN_CONCURRENCY,
        metavar="N",
        help=f"DNS lookups in flight for scan jobs (default {SCAN_CONCURRENCY})",
    )
    parser.add_argument(
        "--scan-lease",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="SQLite: a scan chunk not renewed for this long is taken over (default 60; on "
        "PostgreSQL the job engine hands back the jobs of a worker that stopped)",
    )
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    from maildiag.db import create_engine
    from maildiag.jobs import build_jobs, running_jobs, uses_postgres
    from maildiag.lab.kit import refuse_lab_data
    from maildiag.outbox import OutboxConfigError, build_composer, run_until_signalled

    if args.data is not None:
        settings = settings.model_copy(update={"data_dir": args.data})
    if not 1 <= args.scan_concurrency <= MAX_SCAN_CONCURRENCY:
        raise InputError("usage.concurrency", n=MAX_SCAN_CONCURRENCY)
    if not 0 < args.scan_lease <= 3600:
        raise InputError("usage.detail", detail="--scan-lease must be between 0 and 3600")
    settings.require_production_secrets()
    if not settings.lab and not settings.database_url:
        refuse_lab_data(settings.data_dir)
    try:
        build_composer(settings)
    except (OutboxConfigError, ValueError) as exc:
        raise InputError("usage.detail", detail=str(exc)) from exc
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    durable = uses_postgres(settings)
    queue = "PostgreSQL" if durable else "none (SQLite: jobs run in the app process)"
    print(
        f"maildiag worker: relay {settings.relay.host}:{settings.relay.port}  jobs {queue}",
        flush=True,
    )
    if not durable:
        async with _watching(settings, stop):
            await asyncio.gather(
                run_until_signalled(settings, stop), _scan_jobs(args, settings, stop)
            )
        return 0
    jobs = build_jobs(settings)
    engine = create_engine(settings.database)
    try:
        _register(jobs, args, settings, engine)
        async with running_jobs(jobs):
            await run_until_signalled(settings, stop)
    finally:
        engine.dispose()
    return 0


def _register(jobs: Jobs, args: argparse.Namespace, settings: Settings, engine: sa.Engine) -> None:
    """The worker's jobs on the job engine: the scans' chunks, and the watch when it runs."""
    from maildiag.services import build_services
    from maildiag.services.scans import register_scan_jobs
    from maildiag.services.watch import register_watch

    services = build_services(settings)
    register_scan_jobs(
        jobs,
        engine,
        services.new_resolver,
        owner=_owner(),
        concurrency=args.scan_concurrency,
        allow_private=settings.allow_private_targets,
    )
    if settings.watch_interval_seconds > 0:
        register_watch(jobs, settings, engine, services.new_resolver, services.psl)


@contextlib.asynccontextmanager
async def _watching(settings: Settings, stop: asyncio.Event) -> AsyncIterator[None]:
    """SQLite: the watch's rounds beside the outbox, every ``watch_interval_seconds``, until
    ``stop``."""
    if settings.watch_interval_seconds <= 0:
        yield
        return
    from maildiag.db import create_engine
    from maildiag.services import build_services
    from maildiag.services.watch import watch_forever

    services = build_services(settings)
    engine = create_engine(settings.database)
    task = asyncio.create_task(
        watch_forever(settings, engine, services.new_resolver, services.psl, stop)
    )
    try:
        yield
    finally:
        stop.set()
        await task
        engine.dispose()


def _owner() -> str:
    """This worker's name on the scan chunks it works: host, process id and a nonce."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def _scan_jobs(args: argparse.Namespace, settings: Settings, stop: asyncio.Event) -> None:
    from maildiag.db import create_engine
    from maildiag.services import build_services
    from maildiag.services.scans import scan_jobs_forever

    engine = create_engine(settings.database)
    try:
        await scan_jobs_forever(
            engine,
            build_services(settings).new_resolver,
            stop,
            owner=_owner(),
            concurrency=args.scan_concurrency,
            allow_private=settings.allow_private_targets,
            lease=dt.timedelta(seconds=args.scan_lease),
        )
    finally:
        engine.dispose()
