"""``maildiag ready``: whether the database, Redis (when configured) and the relay answer
within ``readiness_timeout``, as ``/readyz`` says it; exit 0 when all do, 1 when one does not
(a healthcheck for processes without HTTP, such as ``maildiag worker``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from maildiag.commands.common import Subcommands
from maildiag.services.readiness import readiness
from maildiag.settings import Settings


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("ready", help="check that the database, Redis and relay answer")
    parser.add_argument("--data", type=Path, help="data directory (default ./data)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    from maildiag.db import create_engine

    if args.data is not None:
        settings = settings.model_copy(update={"data_dir": args.data})
    engine = create_engine(settings.database)
    try:
        checks = await readiness(settings, engine)
    finally:
        engine.dispose()
    failed = [c.name for c in checks if not c.ok]
    if args.json:
        body = {
            c.name: {"ok": c.ok, "seconds": round(c.seconds, 4), "error": c.error} for c in checks
        }
        print(
            json.dumps(
                {"status": "not_ready" if failed else "ready", "failed": failed, "checks": body}
            )
        )
    else:
        for c in checks:
            print(f"{c.name}: {'ok' if c.ok else 'FAILED ' + c.error} ({c.seconds * 1000:.0f} ms)")
    return 1 if failed else 0
