"""``maildiag recipient ADDRESS|DOMAIN [--probe]``: the recipient domain's mail servers (MX,
null MX, implicit MX, provider), its transport security (MTA-STS, TLS-RPT, DANE) and, with
``--probe``, an SMTP probe with our sender addresses (RCPT TO only when an address is given)
whose STARTTLS is judged against what the domain demands.
"""

from __future__ import annotations

import argparse

from diag.mx import lookup_mx
from diag.probe import SMTP_PORT, probe_domain
from diag.transport import check_transport
from maildiag.commands.common import Subcommands
from maildiag.services import Services
from maildiag.services.inputs import parse_address, parse_domain
from maildiag.services.transport import policy_fetcher
from maildiag.settings import Settings
from reports import recipient_view, render_recipient

DEFAULT_PROBE_TIMEOUT = 10.0  # seconds per SMTP step; greeting delays of a few seconds are common


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "recipient", help="a recipient's mail servers (MX) and, with --probe, an SMTP probe"
    )
    parser.add_argument("target", metavar="ADDRESS|DOMAIN", help="an e-mail address or a domain")
    parser.add_argument("--probe", action="store_true", help="talk SMTP with the first MX host")
    parser.add_argument(
        "--port", type=_port, help="SMTP port to probe (default 25; the sink's port in the lab)"
    )
    parser.add_argument(
        "--probe-timeout",
        type=float,
        default=DEFAULT_PROBE_TIMEOUT,
        metavar="SECONDS",
        help="limit for each step of the SMTP probe",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run, services=True)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    return value


def sender_addresses(settings: Settings) -> list[str]:
    """Our envelope senders: each identity's local part at its envelope domain, in order."""
    found = [f"{s.address.rpartition('@')[0]}@{s.envelope}" for s in settings.reset_identities]
    return list(dict.fromkeys(a.lower() for a in found))


def ehlo_name(settings: Settings) -> str:
    """The name the probe greets with: the first identity's HELO name or envelope domain."""
    first = settings.senders[0] if settings.senders else None
    if first is None:
        return "localhost.localdomain"
    return first.helo or first.envelope


async def run(args: argparse.Namespace, services: Services) -> int:
    settings = services.settings
    target = args.target.strip()
    address = parse_address(target) if "@" in target else None
    domain = address.rpartition("@")[2] if address else parse_domain(target)
    resolver = services.new_resolver()
    allow_private = settings.allow_private_targets
    mx = await lookup_mx(domain, resolver, allow_private=allow_private)
    probed = None
    if args.probe:
        port = args.port or (settings.smtp_port if settings.lab else SMTP_PORT)
        probed = await probe_domain(
            domain,
            port=port,
            sender_addresses=sender_addresses(settings),
            rcpt=address,
            ehlo_name=ehlo_name(settings),
            timeout=max(0.1, float(args.probe_timeout)),
            allow_private=allow_private,
            resolver=resolver,
        )
    fetcher = policy_fetcher(settings, resolver)
    transport = await check_transport(mx, resolver, fetcher=fetcher, probe=probed)
    view = recipient_view(
        mx, lang=settings.lang, probe=probed, address=address, transport=transport
    )
    fmt = "json" if args.json else "text"
    print(render_recipient(view, fmt=fmt), end="")
    return 1 if view.errors else 0
