"""``maildiag authenticate FILE --ip IP``: judge a message as a receiver would (SPF, DKIM,
DMARC, ARC) and print the verdict with its Authentication-Results value.
"""

from __future__ import annotations

import argparse

from diag.authenticate import authenticate
from diag.errors import InputError
from maildiag.commands.common import Subcommands, read_input
from maildiag.services import Services
from maildiag.services.inputs import parse_address, parse_domain, parse_ip
from reports import authenticate_view, render_authenticate


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("authenticate", help="a receiver's verdict on a message")
    parser.add_argument("file", help="the message (RFC 5322), or - for stdin")
    parser.add_argument("--ip", required=True, help="the connecting client's IP address")
    parser.add_argument("--helo", help="the HELO/EHLO name")
    parser.add_argument(
        "--mail-from", help="the MAIL FROM address; empty or <> for a null reverse-path"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run, services=True)


def _helo(text: str | None) -> str | None:
    if text is None:
        return None
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):  # address literal, RFC 5321 §4.1.3
        return f"[{parse_ip(stripped[1:-1].removeprefix('IPv6:'))}]"
    return parse_domain(stripped)


def _mail_from(text: str | None) -> str | None:
    if text is None or text.strip() in ("", "<>"):
        return None
    return parse_address(text.strip().removeprefix("<").removesuffix(">"))


async def run(args: argparse.Namespace, services: Services) -> int:
    settings = services.settings
    ip = parse_ip(args.ip)
    helo = _helo(args.helo)
    mail_from = _mail_from(args.mail_from)
    message = read_input(args.file, settings.max_input_bytes)
    if not message.strip():
        raise InputError("usage.empty_file", path=args.file)
    resolver = services.new_resolver()
    verdict = await authenticate(message, ip=ip, helo=helo, mail_from=mail_from, resolver=resolver)
    view = authenticate_view(verdict, lang=settings.lang, ip=ip, helo=helo, mail_from=mail_from)
    print(render_authenticate(view, fmt="json" if args.json else "text"), end="")
    return 0
