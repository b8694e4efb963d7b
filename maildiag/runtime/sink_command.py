"""``maildiag sink``: the SMTP sink alone, with its pages and JSON API on HTTP.

Port 0 works for both listeners; the startup line names the ports actually bound.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from maildiag.commands.common import Subcommands
from maildiag.runtime.serving import serve_sink, with_options
from maildiag.settings import Settings


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("sink", help="run the SMTP sink alone, with its pages and API")
    parser.add_argument("--host", help="listen address for SMTP and HTTP (default 127.0.0.1)")
    parser.add_argument("--smtp-port", type=int, help="SMTP port (default 2525; 0 picks one)")
    parser.add_argument("--http-port", type=int, help="HTTP port (default 8000; 0 picks one)")
    parser.add_argument("--data", type=Path, help="data directory (default ./data)")
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    settings = with_options(
        settings,
        smtp_host=args.host,
        http_host=args.host,
        smtp_port=args.smtp_port,
        http_port=args.http_port,
        data_dir=args.data,
    )
    return await serve_sink(settings)
