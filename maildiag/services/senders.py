"""The sender report use case: the health of our configured identities, or of any domain
named (checked as far as the DNS allows), all reports side by side under one deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence

from publicsuffixlist import PublicSuffixList

from diag.resolver import Resolver
from diag.senders import SenderReport, check_sender, check_sender_domain
from maildiag.services.identities import sender_spec
from maildiag.settings import SenderIdentity, Settings

MIN_DEADLINE = 10.0  # seconds per report; a report never waits longer than max(this, 5 timeouts)


async def sender_reports(
    settings: Settings, domains: Sequence[str], resolver: Resolver, psl: PublicSuffixList
) -> list[SenderReport]:
    """Reports for ``domains`` (a configured identity's domain gets its full report), or for
    every configured identity when none are named; all run concurrently."""
    deadline = max(MIN_DEADLINE, settings.dns_timeout * 5)
    zones = settings.dnsbl_zones

    def identity(i: SenderIdentity) -> Awaitable[SenderReport]:
        spec = sender_spec(i)
        return check_sender(spec, resolver, dnsbl_zones=zones, deadline=deadline, psl=psl)

    if not domains:
        return list(await asyncio.gather(*(identity(i) for i in settings.senders)))
    jobs: list[Awaitable[SenderReport]] = []
    for domain in domains:
        known = [i for i in settings.senders if i.domain == domain]
        jobs += [identity(i) for i in known]
        if not known:
            jobs.append(check_sender_domain(domain, resolver, deadline=deadline, psl=psl))
    return list(await asyncio.gather(*jobs))
