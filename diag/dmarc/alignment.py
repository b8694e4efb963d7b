"""Identifier Alignment (RFC 9989 §3.2.10, §4.4; RFC 7489 §3.1): pure comparisons of domains.

The Organizational Domains come in as data (from the tree walk or the PSL); nothing here
queries DNS. Comparisons are case-insensitive (RFC 4343) and ignore a trailing dot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

AlignmentMode = Literal["r", "s"]


def _fold(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def identifiers_aligned(
    author_domain: str,
    identifier: str,
    *,
    mode: AlignmentMode,
    org_domains: Mapping[str, str | None],
) -> bool:
    """Strict: the two names are identical. Relaxed: they share an Organizational Domain.

    ``org_domains`` maps lower-case names to their Organizational Domain; a name missing from
    it, or mapped to ``None`` (a public suffix under RFC 7489 §3.1.1 ¶4), can only align by
    being identical.
    """
    author, other = _fold(author_domain), _fold(identifier)
    if not author or not other:
        return False
    if author == other:
        return True
    if mode == "s":
        return False
    author_org = org_domains.get(author)
    return author_org is not None and author_org == org_domains.get(other)


def spf_aligned(
    from_domain: str,
    spf_domain: str,
    *,
    mode: AlignmentMode = "r",
    org_domains: Mapping[str, str | None],
) -> bool:
    """SPF alignment of the MAIL FROM (or HELO) domain with the Author Domain (``aspf``)."""
    return identifiers_aligned(from_domain, spf_domain, mode=mode, org_domains=org_domains)


def dkim_aligned(
    from_domain: str,
    dkim_domain: str,
    *,
    mode: AlignmentMode = "r",
    org_domains: Mapping[str, str | None],
) -> bool:
    """DKIM alignment of a signature's ``d=`` with the Author Domain (``adkim``)."""
    return identifiers_aligned(from_domain, dkim_domain, mode=mode, org_domains=org_domains)
