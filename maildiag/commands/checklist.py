"""``maildiag checklist ADDRESS``: every possible reason a reset mail did not arrive, for the
self-service user, support or a mail administrator; exit 1 when any item is a problem.
With ``--test-send`` the sink's verdicts on our test reset mails (sent into the sink as mail to
the address checked; the sink never relays) feed the sender and junk items.

Only the support audience reads the reset database; self-service output never depends on
whether the address is registered. The support and admin audiences read what the recipient's
receiver reported about our senders (DMARC aggregate reports) when the database exists.
"""

from __future__ import annotations

import argparse
import json

from diag.checklist import AUDIENCES
from diag.errors import InputError
from maildiag.commands.common import Subcommands, read_input
from maildiag.services import Services
from maildiag.services.checklist import check, database_account, probe_options, sink_test_sends
from maildiag.services.feedback import existing_database
from maildiag.services.inputs import parse_address
from reports import checklist_json, checklist_view, render_checklist

FORMATS = ("text", "markdown", "html", "json")


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("checklist", help="why a reset mail did not arrive")
    parser.add_argument("address", metavar="ADDRESS", help="the recipient's e-mail address")
    parser.add_argument("--audience", choices=AUDIENCES, default="support")
    parser.add_argument("--format", choices=FORMATS, default="text", dest="fmt")
    parser.add_argument("--headers", metavar="FILE", help="pasted header fields (or - for stdin)")
    parser.add_argument("--bounce", metavar="FILE", help="a bounce message (or - for stdin)")
    parser.add_argument(
        "--test-send",
        action="store_true",
        help="first send test reset mails into the sink, addressed to ADDRESS",
    )
    parser.set_defaults(run=run, services=True)


async def run(args: argparse.Namespace, services: Services) -> int:
    settings = services.settings
    address = parse_address(args.address)
    limit = settings.max_input_bytes
    headers = read_input(args.headers, limit) if args.headers else None
    bounce = read_input(args.bounce, limit) if args.bounce else None
    if args.headers == "-" and args.bounce == "-":
        raise InputError("usage.stdin_twice")
    sends = await sink_test_sends(settings, address) if args.test_send else []
    reports = existing_database(settings) if args.audience != "self" else None
    try:
        outcome = await check(
            settings,
            services.new_resolver(),
            address,
            audience=args.audience,
            probe=probe_options(settings),
            account=database_account(settings, address) if args.audience == "support" else None,
            headers=headers,
            bounce=bounce,
            test_sends=sends,
            reports=reports,
        )
    finally:
        if reports is not None:
            reports.dispose()
    view = checklist_view(outcome.checklist, lang=settings.lang)
    if args.fmt == "json":
        print(json.dumps(checklist_json(view), ensure_ascii=False, indent=2))
    else:
        print(render_checklist(view, fmt=args.fmt), end="")
    return 1 if outcome.checklist.has_problems else 0
