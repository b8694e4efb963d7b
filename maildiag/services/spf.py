"""The SPF query use case: input validation and evaluation, shared by the SPF page and
``GET /api/v1/spf``."""

from __future__ import annotations

from diag.resolver import Resolver
from diag.spf import check_host, lint_spf
from maildiag.services.inputs import parse_address, parse_domain, parse_ip
from reports import SpfView, spf_view


async def run_spf(
    resolver: Resolver, domain: str, ip: str, sender: str, helo: str, *, lint: bool, lang: str
) -> SpfView:
    """Evaluate and (optionally) lint. Raises InputError for invalid input."""
    domain = parse_domain(domain)
    ip = parse_ip(ip)
    sender = parse_address(sender) if sender else f"postmaster@{domain}"
    helo_name = parse_domain(helo) if helo else None
    result = await check_host(ip, domain, sender, helo=helo_name, resolver=resolver)
    linted = await lint_spf(domain, resolver) if lint else None
    return spf_view(result, lang=lang, ip=ip, sender=sender, lint=linted)
