"""Reverse DNS of a sending IP: its PTR names, forward confirmation (FCrDNS) and HELO consistency.

Receivers commonly refuse or penalize mail from an address without forward-confirmed reverse
DNS (the PTR name's A/AAAA records lead back to the address), and compare the HELO name with
it. Lookups go through the injected Resolver; nothing here raises for what the DNS says.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from diag.errors import DnsError
from diag.findings import ERROR, OK, WARNING, Finding, Severity
from diag.jsonvalue import JsonObject
from diag.resolver import Answer, Resolver, normalize_name

MAX_PTR_NAMES = 10  # names forward-checked per address, as RFC 7208 §5.5 limits ptr processing


@dataclass(frozen=True)
class ForwardLookup:
    """The addresses one name resolves to, or why the lookup failed."""

    name: str
    addresses: tuple[str, ...] = ()
    exists: bool = True
    error: str | None = None


@dataclass(frozen=True)
class ReverseDns:
    """PTR names of ``ip``, which of them resolve back to it, and how the HELO name relates."""

    ip: str
    ptr_names: tuple[str, ...]
    forward: tuple[ForwardLookup, ...]
    ptr_error: str | None
    helo: str | None
    helo_lookup: ForwardLookup | None
    findings: tuple[Finding, ...]

    @property
    def confirmed_names(self) -> tuple[str, ...]:
        """PTR names whose forward lookup contains the address (forward-confirmed)."""
        return tuple(f.name for f in self.forward if self.ip in f.addresses)

    @property
    def fcrdns(self) -> bool:
        return bool(self.confirmed_names)

    def to_dict(self) -> JsonObject:
        helo = self.helo_lookup
        return {
            "ip": self.ip,
            "ptr": list(self.ptr_names),
            "ptr_error": self.ptr_error,
            "fcrdns": self.fcrdns,
            "confirmed_names": list(self.confirmed_names),
            "forward": {f.name: list(f.addresses) for f in self.forward},
            "helo": self.helo,
            "helo_addresses": list(helo.addresses) if helo else [],
            "helo_resolves_to_ip": bool(helo and self.ip in helo.addresses),
            "helo_matches_ptr": bool(self.helo and normalize_name(self.helo) in self.ptr_names),
            "findings": [f.to_dict() for f in self.findings],
        }


def reverse_pointer(ip: str) -> str:
    """The in-addr.arpa / ip6.arpa name (RFC 1035 §3.5, RFC 3596 §2.5). Raises ValueError."""
    return ipaddress.ip_address(ip).reverse_pointer


async def forward_lookup(name: str, resolver: Resolver) -> ForwardLookup:
    """A and AAAA of ``name`` together; a transport failure is kept as ``error``."""
    outcomes = await asyncio.gather(
        resolver.query(name, "A"), resolver.query(name, "AAAA"), return_exceptions=True
    )
    answers: list[Answer] = []
    for outcome in outcomes:
        if isinstance(outcome, DnsError):
            return ForwardLookup(normalize_name(name), error=outcome.reason)
        if isinstance(outcome, BaseException):
            raise outcome
        answers.append(outcome)
    addresses = tuple(_canonical(a) for answer in answers for a in answer.strings)
    return ForwardLookup(normalize_name(name), addresses, exists=answers[0].exists)


async def check_reverse(ip: str, resolver: Resolver, *, helo: str | None = None) -> ReverseDns:
    """PTR and FCrDNS of ``ip``; with ``helo``, whether it resolves to ``ip`` and matches the PTR.

    Raises ValueError only when ``ip`` is not an IP address.
    """
    address = str(ipaddress.ip_address(ip))
    reverse, helo_lookup = await asyncio.gather(
        _reverse(address, resolver), forward_lookup(helo, resolver) if helo else _nothing()
    )
    ptr_names, ptr_error, forward = reverse
    partial = ReverseDns(address, ptr_names, forward, ptr_error, helo, helo_lookup, ())
    findings = (*_ptr_findings(partial), *_helo_findings(partial))
    return ReverseDns(address, ptr_names, forward, ptr_error, helo, helo_lookup, findings)


async def _nothing() -> None:
    return None


async def _reverse(
    address: str, resolver: Resolver
) -> tuple[tuple[str, ...], str | None, tuple[ForwardLookup, ...]]:
    try:
        answer = await resolver.query(reverse_pointer(address), "PTR")
    except DnsError as exc:
        return (), exc.reason, ()
    names = tuple(dict.fromkeys(normalize_name(n) for n in answer.strings))[:MAX_PTR_NAMES]
    forward = await asyncio.gather(*(forward_lookup(name, resolver) for name in names))
    return names, None, tuple(forward)


def _canonical(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def _finding(
    code: str, severity: Severity, summary: str, evidence: Mapping[str, object], rfc: str = ""
) -> Finding:
    return Finding(code, severity, summary, MappingProxyType(dict(evidence)), rfc=rfc)


def _ptr_findings(rev: ReverseDns) -> list[Finding]:
    evidence = {"ip": rev.ip, "ptr": list(rev.ptr_names), "query": reverse_pointer(rev.ip) + " PTR"}
    if rev.ptr_error:
        return [
            _finding(
                "reverse.dns_temperror",
                WARNING,
                "the PTR lookup failed",
                {**evidence, "error": rev.ptr_error},
            )
        ]
    if not rev.ptr_names:
        return [
            _finding(
                "reverse.no_ptr",
                ERROR,
                "the sending IP has no PTR record",
                evidence,
                "RFC 1912 §2.1",
            )
        ]
    failed = [f for f in rev.forward if f.error]
    if not rev.fcrdns and failed:
        errors = {f.name: f.error for f in failed}
        return [
            _finding(
                "reverse.dns_temperror",
                WARNING,
                "a forward lookup failed",
                {**evidence, "errors": errors},
            )
        ]
    if not rev.fcrdns:
        forward = {f.name: list(f.addresses) for f in rev.forward}
        return [
            _finding(
                "reverse.not_confirmed",
                ERROR,
                "no PTR name resolves back to the sending IP",
                {**evidence, "forward": forward},
                "RFC 8601 §3 (iprev)",
            )
        ]
    return [
        _finding(
            "reverse.ok",
            OK,
            "forward-confirmed reverse DNS",
            {**evidence, "confirmed": list(rev.confirmed_names)},
        )
    ]


def _helo_findings(rev: ReverseDns) -> list[Finding]:
    if not rev.helo or rev.helo_lookup is None:
        return []
    lookup = rev.helo_lookup
    evidence = {
        "ip": rev.ip,
        "helo": rev.helo,
        "helo_addresses": list(lookup.addresses),
        "ptr": list(rev.ptr_names),
    }
    if lookup.error:
        return [
            _finding(
                "helo.dns_temperror",
                WARNING,
                "the HELO name lookup failed",
                {**evidence, "error": lookup.error},
            )
        ]
    if rev.ip not in lookup.addresses:
        code = "helo.not_resolving" if not lookup.addresses else "helo.ip_mismatch"
        return [
            _finding(
                code,
                WARNING,
                "the HELO name does not resolve to the sending IP",
                evidence,
                "RFC 5321 §4.1.1.1",
            )
        ]
    if rev.ptr_names and normalize_name(rev.helo) not in rev.ptr_names:
        return [
            _finding("helo.ptr_mismatch", WARNING, "the HELO name is not the PTR name", evidence)
        ]
    return [
        _finding(
            "helo.ok", OK, "the HELO name resolves to the sending IP and matches its PTR", evidence
        )
    ]
