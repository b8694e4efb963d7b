"""``maildiag serve [--lab]``: the web app; with ``--lab`` also the lab DNS server (and sink)."""

from __future__ import annotations

import argparse
from pathlib import Path

from diag.errors import InputError
from maildiag.commands.common import Subcommands
from maildiag.runtime.serving import serve, with_options
from maildiag.settings import Settings


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("serve", help="run the web app (with --lab: the offline demo)")
    parser.add_argument("--lab", action="store_true", help="run the offline lab demo")
    parser.add_argument("--host", help="HTTP listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default 8000)")
    parser.add_argument("--smtp-port", type=int, help="sink SMTP port in the lab (default 2525)")
    parser.add_argument("--dns-port", type=int, help="lab DNS port (default 5300)")
    parser.add_argument("--data", type=Path, help="data directory (default ./data)")
    # serve --lab writes the data dir's lab.toml; a stale one must not steer a new lab
    parser.set_defaults(run=run, reads_running_lab=False)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    settings = with_options(
        settings,
        # Only --lab starts the lab (a lab's lab.toml beside it says lab = true for the
        # other commands; serving its data without --lab is refused below).
        lab=args.lab,
        http_host=args.host,
        http_port=args.port,
        smtp_port=args.smtp_port,
        dns_port=args.dns_port,
        data_dir=args.data,
    )
    try:
        return await serve(settings)
    except OSError as exc:  # a port that is taken, a data dir that can't be written
        raise InputError("usage.cannot_start", detail=str(exc.strerror or exc)) from exc
