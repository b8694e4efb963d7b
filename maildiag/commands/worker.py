"""``maildiag worker``: the outbox worker alone, sending queued mail through the relay.

Several can run beside the app replicas; they share the queue through row claims
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL). Stops cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
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
    await run_until_signalled(settings, stop)
    return 0
