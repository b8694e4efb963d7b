"""How this deployment checks a recipient's transport security: the MTA-STS policy is
fetched over HTTPS through the SSRF guard, as the SMTP probe is guarded, and never in the
lab (its domains have no HTTPS hosts, and the lab stays offline).
"""

from __future__ import annotations

from diag.resolver import Resolver
from diag.transport import HttpsPolicyFetcher, PolicyFetcher
from maildiag.settings import Settings

POLICY_TIMEOUT = 15.0  # seconds for the whole MTA-STS policy fetch of one check


def policy_fetcher(settings: Settings, resolver: Resolver) -> PolicyFetcher | None:
    """The MTA-STS policy fetcher: None in the lab, else HTTPS through the SSRF guard."""
    if settings.lab:
        return None
    return HttpsPolicyFetcher(
        resolver, allow_private=settings.allow_private_targets, timeout=POLICY_TIMEOUT
    )
