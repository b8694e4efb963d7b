"""Which of a DMARC record's policies applies to an Author Domain: ``p`` at the policy domain
and at the Organizational Domain, ``sp`` for an existing subdomain, ``np`` for one that does
not exist (RFC 9989 §4.7 "sp", "np", §4.10.1; decision D-11 in ``evaluate``).

The one policy choice that the message verdict (``evaluate``) and the sender-domain check
(``check_domain``) both use. It does the existence lookups (A, AAAA, MX) only when ``np``
would change the answer; it never raises for the domain under test.
"""

from __future__ import annotations

from diag.errors import DnsError
from diag.resolver import QueryFailure, Rcode, Resolver

from .parse import DmarcRecord, Policy

EXISTENCE_TYPES = ("A", "AAAA", "MX")  # RFC 9989 Appendix A.4; RFC 5321 "resolvable"


def policy_choices(
    domain: str,
    *,
    policy_domain: str | None,
    organizational_domain: str | None,
    record: DmarcRecord,
) -> tuple[Policy, Policy]:
    """The policy for ``domain`` if it exists and if it does not. Pure."""
    if policy_domain == domain:
        return record.effective_p, record.effective_p
    if_exists = record.effective_p if domain == organizational_domain else record.effective_sp
    return if_exists, record.effective_np


async def applicable_policy(
    domain: str,
    *,
    policy_domain: str | None,
    organizational_domain: str | None,
    record: DmarcRecord,
    resolver: Resolver,
    exists: bool | None = None,
) -> tuple[Policy, bool | None, QueryFailure | None]:
    """The policy that applies to ``domain``, whether it exists (None when that was not
    needed), and the DNS failure that left existence unknown (the policy for an existing
    domain is then returned). ``exists`` skips the lookups when the caller knows."""
    if_exists, if_missing = policy_choices(
        domain,
        policy_domain=policy_domain,
        organizational_domain=organizational_domain,
        record=record,
    )
    if if_exists == if_missing:
        return if_exists, exists, None
    found: bool | QueryFailure = (
        exists if exists is not None else await domain_exists(domain, resolver)
    )
    if isinstance(found, QueryFailure):
        return if_exists, None, found
    return (if_exists if found else if_missing), found, None


async def domain_exists(domain: str, resolver: Resolver) -> bool | QueryFailure:
    """False only when A, AAAA and MX all answer NXDOMAIN (RFC 9989 §3.2.13, Appendix A.4)."""
    for rdtype in EXISTENCE_TYPES:
        try:
            answer = await resolver.query(domain, rdtype)
        except DnsError as exc:
            return QueryFailure.of(exc)
        if answer.rcode is not Rcode.NXDOMAIN:
            return True
    return False


__all__ = ["EXISTENCE_TYPES", "applicable_policy", "domain_exists", "policy_choices"]
