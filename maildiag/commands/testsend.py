"""``maildiag test-send [--sender ADDRESS] [--to ADDRESS]``: send the real reset mail from each
sender identity (or the one named) into the sink and report whether it would reach the inbox;
exit 1 when any would not.
"""

from __future__ import annotations

import argparse
import json

from diag.dkim import DkimSignError
from diag.errors import InputError
from maildiag.commands.common import Subcommands
from maildiag.services import Services
from maildiag.services.inputs import parse_address
from maildiag.services.testsend import DEFAULT_TO, TestSendError, run_test_sends
from reports import render_testsend, testsend_json, testsend_view


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("test-send", help="send test reset mails into the sink")
    parser.add_argument("--sender", metavar="ADDRESS", help="one configured sender identity")
    parser.add_argument("--to", metavar="ADDRESS", default=DEFAULT_TO, help="the test recipient")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run, services=True)


async def run(args: argparse.Namespace, services: Services) -> int:
    settings = services.settings
    to = parse_address(args.to)
    identities = list(settings.reset_identities)
    if args.sender:
        chosen = settings.sender(parse_address(args.sender))
        if chosen is None:
            known = ", ".join(s.address for s in settings.senders)
            raise InputError("usage.unknown_sender", sender=args.sender, known=known)
        identities = [chosen]
    if not identities:
        raise InputError("usage.no_senders")
    try:
        results = await run_test_sends(settings, to=to, identities=identities)
    except TestSendError as exc:
        raise InputError("usage.detail", detail=str(exc)) from exc
    except DkimSignError as exc:
        raise InputError("usage.cannot_sign", detail=str(exc)) from exc
    view = testsend_view(results, lang=settings.lang)
    if args.json:
        print(json.dumps(testsend_json(view), ensure_ascii=False, indent=2))
    else:
        print(render_testsend(view, fmt="text"), end="")
    return 0 if all(r.would_reach_inbox for r in results) else 1
