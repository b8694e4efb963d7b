"""``maildiag sender [DOMAIN ...]``: the health of our sender identities, or of any domain
named; exit 1 when an error-severity problem is found.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from diag.dmarc import default_psl
from diag.senders import SECTIONS, SenderReport, SenderSpec, check_sender, check_sender_domain
from maildiag.commands.common import make_resolver, parse_domain
from maildiag.settings import SenderIdentity, Settings
from reports import render_sender, sender_view

MAX_KEY_BYTES = 64 * 1024  # a PEM private key is a few KiB
MIN_DEADLINE = 10.0  # seconds per report; a report never waits longer than max(this, 5 timeouts)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("sender", help="sender-domain health (SPF, DKIM, DMARC, rDNS)")
    parser.add_argument(
        "domains", nargs="*", metavar="DOMAIN", help="domains to check (default: our identities)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--markdown", action="store_true", help="print Markdown")
    parser.set_defaults(run=run)


def sender_spec(identity: SenderIdentity) -> SenderSpec:
    """The diag value for a configured identity, its DKIM key read from ``dkim_key_path``."""
    key, error = None, ""
    if identity.dkim_key_path is not None:
        try:
            with identity.dkim_key_path.open("rb") as handle:
                key = handle.read(MAX_KEY_BYTES + 1)
        except OSError as exc:
            error = f"{identity.dkim_key_path}: {exc.strerror or exc}"
        if key is not None and len(key) > MAX_KEY_BYTES:
            key, error = None, f"{identity.dkim_key_path}: larger than {MAX_KEY_BYTES} bytes"
    return SenderSpec(
        address=identity.address,
        envelope_domain=identity.envelope,
        dkim_domain=identity.signing_domain,
        selectors=tuple(identity.dkim_selectors),
        private_key=key,
        algorithm=identity.dkim_algorithm,
        egress_ips=tuple(identity.egress_ips),
        helo=identity.helo,
        key_error=error,
    )


async def sender_reports(
    settings: Settings, domains: list[str], resolver: Any
) -> list[SenderReport]:
    """Reports for ``domains`` (a configured identity's domain gets its full report), or for
    every configured identity when none are named; all run concurrently."""
    deadline = max(MIN_DEADLINE, settings.dns_timeout * 5)
    zones = settings.dnsbl_zones
    psl = default_psl()  # one list for every report (building it costs ~0.15 s of CPU)
    if not domains:
        identities = list(settings.senders)
        jobs = [
            check_sender(sender_spec(i), resolver, dnsbl_zones=zones, deadline=deadline, psl=psl)
            for i in identities
        ]
        return list(await asyncio.gather(*jobs))
    coros = []
    for domain in domains:
        known = [i for i in settings.senders if i.domain == domain]
        coros += [
            check_sender(sender_spec(i), resolver, dnsbl_zones=zones, deadline=deadline, psl=psl)
            for i in known
        ]
        if not known:
            coros.append(check_sender_domain(domain, resolver, deadline=deadline, psl=psl))
    return list(await asyncio.gather(*coros))


async def run(args: argparse.Namespace, settings: Settings) -> int:
    domains = list(dict.fromkeys(parse_domain(d) for d in args.domains))
    resolver = make_resolver(settings)
    reports = await sender_reports(settings, domains, resolver)
    view = sender_view(reports, lang=settings.lang, sections=SECTIONS)
    fmt = "json" if args.json else "markdown" if args.markdown else "text"
    print(render_sender(view, fmt=fmt), end="")
    return 1 if any(r.has_errors for r in reports) else 0
