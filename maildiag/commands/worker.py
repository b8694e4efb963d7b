"""``maildiag worker``: the outbox worker alone, sending queued mail through the relay, and
the watch on our sender identities every ``watch_interval_seconds`` (0: no watch).

Several can run beside the app replicas; they share the queue through row claims
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL). Stops cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path

from diag.errors import InputError
from maildiag.commands.common import Subcommands
from maildiag.settings import Settings


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("worker", help="send queued mail (the outbox worker)")
    parser.add_argument("--data", type=Path, help="data directory (default ./data)")
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    from maildiag.lab.kit import refuse_lab_data
    from maildiag.outbox import OutboxConfigError, build_composer, run_until_signalled

    if args.data is not None:
        settings = settings.model_copy(update={"data_dir": args.data})
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
    print(f"maildiag worker: relay {settings.relay.host}:{settings.relay.port}", flush=True)
    async with _watching(settings, stop):
        await run_until_signalled(settings, stop)
    return 0


@contextlib.asynccontextmanager
async def _watching(settings: Settings, stop: asyncio.Event) -> AsyncIterator[None]:
    """The watch's rounds beside the outbox, every ``watch_interval_seconds``, until ``stop``."""
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
