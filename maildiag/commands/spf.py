"""``maildiag spf DOMAIN --ip IP``: evaluate SPF as a receiver would, and explain it."""

from __future__ import annotations

import argparse

from diag.spf import check_host, lint_spf
from maildiag.commands.common import Subcommands
from maildiag.services import Services
from maildiag.services.inputs import parse_address, parse_domain, parse_ip
from reports import render_spf, spf_view


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("spf", help="evaluate SPF for a domain and client IP")
    parser.add_argument("domain", help="the domain whose SPF record is evaluated")
    parser.add_argument("--ip", required=True, help="the connecting client's IP address")
    parser.add_argument("--sender", help="the MAIL FROM address (default postmaster@DOMAIN)")
    parser.add_argument("--helo", help="the HELO/EHLO name")
    parser.add_argument("--lint", action="store_true", help="add the include tree and findings")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run, services=True)


async def run(args: argparse.Namespace, services: Services) -> int:
    settings = services.settings
    domain = parse_domain(args.domain)
    ip = parse_ip(args.ip)
    sender = parse_address(args.sender) if args.sender else f"postmaster@{domain}"
    helo = parse_domain(args.helo) if args.helo else None
    resolver = services.new_resolver()
    result = await check_host(ip, domain, sender, helo=helo, resolver=resolver)
    lint = await lint_spf(domain, resolver) if args.lint else None
    view = spf_view(result, lang=settings.lang, ip=ip, sender=sender, lint=lint)
    print(render_spf(view, fmt="json" if args.json else "text"), end="")
    return 0
