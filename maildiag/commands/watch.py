"""``maildiag watch [--once]``: re-check our sender identities and keep the history; each
change from pass to fail or back is an event (log, ``/metrics``, the webhook). Without
``--once``, a round every ``watch_interval_seconds`` until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from pathlib import Path

import sqlalchemy as sa

from diag.errors import InputError
from maildiag.commands.common import Subcommands
from maildiag.services import Services
from maildiag.services.watch import round_json, watch_forever, watch_round
from maildiag.services.wording import text
from maildiag.watch import Round


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("watch", help="re-check our sender identities on a schedule")
    parser.add_argument("--once", action="store_true", help="run one round and stop")
    parser.add_argument("--json", action="store_true", help="print each round as JSON")
    parser.add_argument("--data", type=Path, help="data directory (default ./data)")
    parser.set_defaults(run=run, services=True)


async def run(args: argparse.Namespace, services: Services) -> int:
    from maildiag.db import create_engine

    settings = services.settings
    if not args.once and settings.watch_interval_seconds <= 0:
        raise InputError("watch.no_interval")
    engine = create_engine(settings.database)

    def show(stored: Round) -> None:
        if args.json:
            print(json.dumps(round_json(stored), ensure_ascii=False), flush=True)
        else:
            print(render_round(stored, settings.lang), end="", flush=True)

    try:
        if args.once:
            stored = await watch_round(settings, engine, services.new_resolver(), services.psl)
            show(stored)
            return 1 if any(c.status == "problem" for c in stored.checks) else 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await watch_forever(
            settings, engine, services.new_resolver, services.psl, stop, on_round=show
        )
        return 0
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
        raise InputError("watch.no_history", detail=str(exc.orig)) from exc
    finally:
        engine.dispose()


def render_round(stored: Round, lang: str) -> str:
    """One round as text: each identity's checks, the changes, then the round's number and
    time (last, so each round of a running watch ends with it)."""
    lines = []
    identity = None
    for check in stored.checks:
        if check.identity != identity:
            identity = check.identity
            lines.append(identity)
        codes = f"  {', '.join(check.codes)}" if check.codes else ""
        name, status = text(f"watch.check.{check.check}", lang), text(f"watch.{check.status}", lang)
        lines.append(f"  {name:<22} {status}{codes}")
    lines.append(text("watch.events", lang, count=len(stored.events)))
    lines += [
        f"  {e.identity} {text(f'watch.check.{e.check}', lang)}: {text(f'watch.{e.change}', lang)}"
        for e in stored.events
    ]
    at = stored.started_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    lines.append(text("watch.round", lang, id=stored.id, at=at))
    return "\n".join(lines) + "\n"
