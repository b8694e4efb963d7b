"""``maildiag headers FILE|-``: read pasted headers or a whole message and show the path it
took, the receivers' authentication results and spam verdicts, and where it landed.
"""

from __future__ import annotations

import argparse

from diag.errors import InputError
from diag.headers import analyze_headers
from maildiag.commands.common import Subcommands, read_input
from maildiag.services import Services
from reports import headers_view, render_headers


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "headers", help="analyze pasted headers or a message: hops, authentication, spam verdicts"
    )
    parser.add_argument("file", help="the headers or the whole message (.eml), or - for stdin")
    parser.add_argument(
        "--offline", action="store_true", help="do not look up DKIM keys to verify signatures"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run, services=True)


async def run(args: argparse.Namespace, services: Services) -> int:
    settings = services.settings
    data = read_input(args.file, settings.max_input_bytes)
    if not data.strip():
        raise InputError("usage.empty_file", path=args.file)
    resolver = None if args.offline else services.new_resolver()
    report = await analyze_headers(data, resolver=resolver)
    view = headers_view(report, lang=settings.lang, source=args.file)
    fmt = "json" if args.json else "text"
    print(render_headers(view, fmt=fmt), end="")
    return 0
