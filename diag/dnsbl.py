"""DNS blocklist lookups of a sending IP (RFC 5782): listed, not listed, or not checked.

``<reversed-ip>.<zone>`` A in 127.0.0.0/8 means listed (the TXT record gives the reason);
NXDOMAIN means not listed; a transport failure, or an answer outside 127/8, means the zone
could not be asked and says nothing about the IP. Never raises for what a zone answers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from diag.errors import DnsError
from diag.findings import ERROR, OK, WARNING, Finding
from diag.jsonvalue import JsonObject
from diag.resolver import Rcode, Resolver, normalize_name

LISTED_NETWORK = ipaddress.ip_network("127.0.0.0/8")  # RFC 5782 §2.1
TEST_LISTED = "127.0.0.2"  # RFC 5782 §5: every list must list 127.0.0.2
# Answers some lists give to refused or over-quota queriers, which are not listings
# (e.g. Spamhaus's 127.255.255.252-255 "query refused / typing error" codes).
REFUSAL_NETWORK = ipaddress.ip_network("127.255.255.0/24")

LISTED, NOT_LISTED, NOT_CHECKED = "listed", "not_listed", "not_checked"


@dataclass(frozen=True)
class DnsblResult:
    """One IP against one zone."""

    ip: str
    zone: str
    status: str  # listed | not_listed | not_checked
    codes: tuple[str, ...] = ()
    reason: str | None = None
    error: str | None = None

    @property
    def query(self) -> str:
        return dnsbl_query_name(self.ip, self.zone)

    def to_dict(self) -> JsonObject:
        return {
            "ip": self.ip,
            "zone": self.zone,
            "status": self.status,
            "codes": list(self.codes),
            "reason": self.reason,
            "error": self.error,
            "query": self.query,
        }


def dnsbl_query_name(ip: str, zone: str) -> str:
    """``1.2.0.192.zone`` for 192.0.2.1; nibbles for IPv6 (RFC 5782 §2.1, §2.4).

    Raises ValueError for a bad ``ip``.
    """
    pointer = ipaddress.ip_address(ip).reverse_pointer
    reversed_part = pointer.rsplit(".", 2)[0]  # drop in-addr.arpa / ip6.arpa
    return f"{reversed_part}.{normalize_name(zone)}"


async def check_dnsbl(ip: str, zone: str, resolver: Resolver) -> DnsblResult:
    """Ask ``zone`` about ``ip``. Raises ValueError only when ``ip`` is not an IP address."""
    address = str(ipaddress.ip_address(ip))
    zone = normalize_name(zone)
    name = dnsbl_query_name(address, zone)
    try:
        answer = await resolver.query(name, "A")
    except DnsError as exc:
        return DnsblResult(address, zone, NOT_CHECKED, error=exc.reason)
    if answer.rcode is not Rcode.NOERROR:
        return DnsblResult(address, zone, NOT_LISTED)
    codes = tuple(answer.strings)
    if not all(_is_listing(code) for code in codes):
        return DnsblResult(address, zone, NOT_CHECKED, codes, error="unexpected_answer")
    try:
        texts = (await resolver.query(name, "TXT")).texts
    except DnsError:
        texts = ()
    return DnsblResult(address, zone, LISTED, codes, " ".join(texts) or None)


def _is_listing(code: str) -> bool:
    try:
        value = ipaddress.ip_address(code)
    except ValueError:
        return False
    return value in LISTED_NETWORK and value not in REFUSAL_NETWORK


def dnsbl_findings(results: list[DnsblResult] | tuple[DnsblResult, ...]) -> tuple[Finding, ...]:
    """One finding per listing or unchecked zone; a single ``dnsbl.clean`` when none."""
    findings = []
    for result in results:
        evidence: Mapping[str, object] = MappingProxyType(result.to_dict())
        if result.status == LISTED:
            findings.append(
                Finding(
                    "dnsbl.listed", ERROR, "the IP is on a DNS blocklist", evidence, "RFC 5782 §2.1"
                )
            )
        elif result.status == NOT_CHECKED:
            findings.append(
                Finding("dnsbl.not_checked", WARNING, "a blocklist could not be asked", evidence)
            )
    if results and not findings:
        clean = {"ips": sorted({r.ip for r in results}), "zones": sorted({r.zone for r in results})}
        findings.append(
            Finding(
                "dnsbl.clean", OK, "not listed on any configured blocklist", MappingProxyType(clean)
            )
        )
    return tuple(findings)
