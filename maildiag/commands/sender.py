"""``maildiag sender [DOMAIN ...]``: the health of our sender identities, or of any domain
named; exit 1 when an error-severity problem is found.
"""

from __future__ import annotations

import argparse

from diag.senders import SECTIONS
from maildiag.commands.common import Subcommands
from maildiag.services import Services
from maildiag.services.inputs import parse_domain
from maildiag.services.senders import sender_reports
from reports import render_sender, sender_view


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("sender", help="sender-domain health (SPF, DKIM, DMARC, rDNS)")
    parser.add_argument(
        "domains", nargs="*", metavar="DOMAIN", help="domains to check (default: our identities)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--markdown", action="store_true", help="print Markdown")
    parser.set_defaults(run=run, services=True)


async def run(args: argparse.Namespace, services: Services) -> int:
    domains = list(dict.fromkeys(parse_domain(d) for d in args.domains))
    settings = services.settings
    reports = await sender_reports(settings, domains, services.new_resolver(), services.psl)
    view = sender_view(reports, lang=settings.lang, sections=SECTIONS)
    fmt = "json" if args.json else "markdown" if args.markdown else "text"
    print(render_sender(view, fmt=fmt), end="")
    return 1 if any(r.has_errors for r in reports) else 0
