"""``maildiag migrate``: bring the database schema to the newest (or a given) revision."""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic.util.exc import CommandError

from diag.errors import InputError
from maildiag.commands.common import Subcommands
from maildiag.settings import Settings


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("migrate", help="create or upgrade the database schema")
    parser.add_argument("--revision", default="head", help="target revision (default head)")
    parser.add_argument("--data", type=Path, help="data directory (default ./data)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from maildiag.db import create_engine, migrate

    if args.data is not None:
        settings = settings.model_copy(update={"data_dir": args.data})
    engine = create_engine(settings.database)
    try:
        migrate(engine, args.revision)
    except CommandError as exc:
        raise InputError("usage.cannot_migrate", revision=args.revision, detail=str(exc)) from exc
    finally:
        engine.dispose()
    print(f"maildiag: database at revision {args.revision}", flush=True)
    return 0
