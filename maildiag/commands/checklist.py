"""``maildiag checklist ADDRESS``: every possible reason a reset mail did not arrive, for the
self-service user, support or a mail administrator; exit 1 when any item is a problem.
With ``--test-send`` the sink's verdicts on our test reset mails (sent to the sink's test
mailbox, never to the address checked) feed the sender item.

Only the support audience reads the reset database; self-service output never depends on
whether the address is registered.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from diag.checklist import AUDIENCES, AccountFacts, Checklist, ProbeOptions, build_checklist
from diag.dkim import DkimSignError
from diag.errors import InputError
from diag.testsend import TestSendResult
from maildiag.commands.common import make_resolver, parse_address, read_input
from maildiag.commands.sender import sender_spec
from maildiag.db import create_engine
from maildiag.facts import FactsError, account_facts
from maildiag.settings import Settings
from maildiag.testsend import DEFAULT_TO, TestSendError, run_test_sends
from reports import checklist_json, checklist_view, render_checklist

FORMATS = ("text", "markdown", "html", "json")
SMTP_PORT = 25  # where recipient mail servers listen (the lab's sink listens on smtp_port)
PROBE_TIMEOUT = 10.0
MIN_DEADLINE = 20.0  # seconds for the whole checklist


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("checklist", help="why a reset mail did not arrive")
    parser.add_argument("address", metavar="ADDRESS", help="the recipient's e-mail address")
    parser.add_argument("--audience", choices=AUDIENCES, default="support")
    parser.add_argument("--format", choices=FORMATS, default="text", dest="fmt")
    parser.add_argument("--headers", metavar="FILE", help="pasted header fields (or - for stdin)")
    parser.add_argument("--bounce", metavar="FILE", help="a bounce message (or - for stdin)")
    parser.add_argument(
        "--test-send",
        action="store_true",
        help=f"first send test reset mails into the sink (to {DEFAULT_TO})",
    )
    parser.set_defaults(run=run)


def probe_options(settings: Settings) -> ProbeOptions:
    """Port 25 on the internet, the sink's port in the lab; private targets only if allowed."""
    return ProbeOptions(
        port=settings.smtp_port if settings.lab else SMTP_PORT,
        allow_private=settings.allow_private_targets,
        timeout=PROBE_TIMEOUT,
    )


def load_account(settings: Settings, address: str) -> AccountFacts:
    """The support audience's account facts. Raises InputError when the DB cannot be read."""
    engine = create_engine(settings.database)
    try:
        return account_facts(engine, address)
    except FactsError as exc:
        raise InputError("usage.detail", detail=str(exc)) from exc
    finally:
        engine.dispose()


async def make_checklist(
    settings: Settings,
    address: str,
    *,
    audience: str,
    headers: bytes | None = None,
    bounce: bytes | None = None,
    test_sends: Sequence[TestSendResult] = (),
) -> Checklist:
    """The checklist with this deployment's resolver, senders and probe settings."""
    account = load_account(settings, address) if audience == "support" else None
    return await build_checklist(
        address,
        audience=audience,
        resolver=make_resolver(settings),
        senders=[sender_spec(identity) for identity in settings.reset_identities],
        account=account,
        headers=headers,
        bounce=bounce,
        probe=probe_options(settings),
        test_sends=test_sends,
        deadline=max(MIN_DEADLINE, settings.dns_timeout * 5),
    )


async def test_sends(settings: Settings) -> list[TestSendResult]:
    """The reset identities' test sends into the sink's test mailbox (``DEFAULT_TO``).

    Raises InputError when there is no identity, the sink cannot be reached or a key cannot sign.
    """
    identities = list(settings.reset_identities)
    if not identities:
        raise InputError("usage.no_senders")
    try:
        return await run_test_sends(settings, to=DEFAULT_TO, identities=identities)
    except TestSendError as exc:
        raise InputError("usage.detail", detail=str(exc)) from exc
    except DkimSignError as exc:
        raise InputError("usage.cannot_sign", detail=str(exc)) from exc


async def run(args: argparse.Namespace, settings: Settings) -> int:
    import json

    address = parse_address(args.address)
    limit = settings.max_input_bytes
    headers = read_input(args.headers, limit) if args.headers else None
    bounce = read_input(args.bounce, limit) if args.bounce else None
    if args.headers == "-" and args.bounce == "-":
        raise InputError("usage.stdin_twice")
    sends = await test_sends(settings) if args.test_send else []
    result = await make_checklist(
        settings, address, audience=args.audience, headers=headers, bounce=bounce, test_sends=sends
    )
    if args.fmt == "json":
        data = checklist_json(checklist_view(result, lang=settings.lang))
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(render_checklist(checklist_view(result, lang=settings.lang), fmt=args.fmt), end="")
    return 1 if result.has_problems else 0
