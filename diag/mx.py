"""A recipient domain's mail servers: MX hosts in preference order, null MX (RFC 7505), the
implicit MX (RFC 5321 §5.1), each host's addresses, and the mail provider behind them.

Lookups go through the injected Resolver; NXDOMAIN and NODATA are data, and a DNS transport
failure becomes ``mx.dns_temperror``, never "no MX". Nothing here connects to a mail server.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from diag.errors import DnsError
from diag.findings import ERROR, INFO, OK, WARNING, Finding, has_errors
from diag.jsonvalue import JsonObject
from diag.netguard import ForbiddenTarget, check_target
from diag.resolver import Answer, Rcode, Resolver, normalize_name

RFC_IMPLICIT_MX = "RFC 5321 §5.1"
RFC_NULL_MX = "RFC 7505 §3"
RFC_MX_CNAME = "RFC 5321 §5.1"  # "the domain name ... MUST NOT be an alias" (also RFC 2181 §10.3)

# Provider fingerprints over MX host names: (provider, patterns), first match wins.
PROVIDERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("microsoft365", ("*.mail.protection.outlook.com", "*.mail.eo.outlook.com")),
    (
        "google",
        ("aspmx.l.google.com", "*.aspmx.l.google.com", "*.googlemail.com", "smtp.google.com"),
    ),
    ("proofpoint", ("*.pphosted.com", "*.ppe-hosted.com")),
    ("mimecast", ("*.mimecast.com",)),
    ("barracuda", ("*.barracudanetworks.com",)),
    ("cisco", ("*.iphmx.com",)),
)


@dataclass(frozen=True)
class MxHost:
    """One mail server: its name, preference, addresses, and what the checks found about it."""

    name: str
    preference: int
    addresses: tuple[str, ...] = ()
    cname: str = ""
    implicit: bool = False
    usable: bool = True
    error: str = ""

    def to_dict(self) -> JsonObject:
        return {
            "name": self.name,
            "preference": self.preference,
            "addresses": list(self.addresses),
            "cname": self.cname,
            "implicit": self.implicit,
            "usable": self.usable,
            "error": self.error,
        }


@dataclass(frozen=True)
class MxReport:
    """The domain's mail servers in the order a sender tries them, and the findings.

    ``authenticated``: the MX answer (or its denial, for an implicit MX) carried the AD bit,
    so DANE may apply to these hosts (RFC 7672 §2.2.1).
    """

    domain: str
    hosts: tuple[MxHost, ...] = ()
    null_mx: bool = False
    implicit: bool = False
    provider: str = "generic"
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    authenticated: bool = False

    @property
    def can_receive(self) -> bool:
        """True when at least one host has a usable address and nothing rules mail out."""
        return not self.null_mx and any(h.usable and h.addresses for h in self.hosts)

    @property
    def has_errors(self) -> bool:
        return has_errors(self.findings)

    def to_dict(self) -> JsonObject:
        return {
            "domain": self.domain,
            "null_mx": self.null_mx,
            "implicit": self.implicit,
            "provider": self.provider,
            "can_receive": self.can_receive,
            "hosts": [h.to_dict() for h in self.hosts],
            "findings": [f.to_dict() for f in self.findings],
        }


def fingerprint_provider(names: Sequence[str]) -> str:
    """The mail provider the MX names point at (``generic`` when none is recognized)."""
    for provider, patterns in PROVIDERS:
        for name in names:
            lowered = name.lower().rstrip(".")
            if any(fnmatch.fnmatchcase(lowered, p) for p in patterns):
                return provider
    return "generic"


async def lookup_mx(domain: str, resolver: Resolver, *, allow_private: bool = False) -> MxReport:
    """The MX report for ``domain``. Never raises for the domain's problems: findings instead.

    ``allow_private`` accepts hosts on private and loopback addresses (the lab).
    """
    domain = normalize_name(domain)
    try:
        answer = await resolver.query(domain, "MX")
    except DnsError as exc:
        return MxReport(domain, findings=(_temperror(domain, exc),))
    if answer.rcode is Rcode.NXDOMAIN:
        finding = Finding(
            "mx.domain_missing",
            ERROR,
            f"{domain} does not exist in DNS",
            {"domain": domain},
            rfc=RFC_IMPLICIT_MX,
            fix="Check the spelling of the address's domain.",
        )
        return MxReport(domain, findings=(finding,))
    records = answer.mx_records
    if any(r.exchange == "" for r in records):
        return _null_mx(domain, answer)
    if not records:
        implicit = await _implicit(domain, resolver, allow_private)
        return replace(implicit, authenticated=answer.authenticated)
    ordered = sorted(records, key=lambda r: (r.preference, r.exchange))
    unique = list(dict.fromkeys((r.preference, r.exchange) for r in ordered))
    hosts = await asyncio.gather(
        *(_host(name, pref, resolver, allow_private) for pref, name in unique)
    )
    findings = [f for _, host_findings in hosts for f in host_findings]
    resolved = tuple(h for h, _ in hosts)
    provider = fingerprint_provider([h.name for h in resolved])
    if not any(h.usable and h.addresses for h in resolved) and not any(
        f.code == "mx.dns_temperror" for f in findings
    ):
        findings.append(
            Finding(
                "mx.no_mail_server",
                ERROR,
                f"none of {domain}'s MX hosts has a usable address",
                {"domain": domain, "hosts": [h.name for h in resolved]},
                rfc="RFC 5321 §5.1",
            )
        )
    elif any(h.usable and h.addresses for h in resolved):
        findings.insert(
            0,
            Finding(
                "mx.ok",
                OK,
                f"{domain} has {len(resolved)} MX host(s)",
                {"domain": domain, "hosts": [str(h.name) for h in resolved], "provider": provider},
            ),
        )
    if provider != "generic":
        findings.append(
            Finding(
                "mx.provider",
                INFO,
                f"{domain}'s mail is handled by {provider}",
                {"domain": domain, "provider": provider},
            )
        )
    return MxReport(
        domain,
        resolved,
        provider=provider,
        findings=tuple(findings),
        authenticated=answer.authenticated,
    )


def _temperror(domain: str, exc: DnsError) -> Finding:
    return Finding(
        "mx.dns_temperror",
        ERROR,
        f"the DNS lookup {exc.qname} {exc.rdtype} failed ({exc.reason})",
        {"domain": domain, "qname": exc.qname, "rdtype": exc.rdtype, "error": exc.reason},
        fix="Try again later; the domain's name servers did not answer.",
    )


def _null_mx(domain: str, answer: Answer) -> MxReport:
    records = [str(r) for r in answer.mx_records]
    finding = Finding(
        "mx.null_mx",
        ERROR,
        f"{domain} publishes a null MX: it accepts no mail",
        {"domain": domain, "records": records},
        rfc=RFC_NULL_MX,
        fix="The domain's owner has declared it receives no mail; use another address.",
    )
    findings = [finding]
    if len(records) > 1:
        findings.append(
            Finding(
                "mx.null_mx_mixed",
                WARNING,
                f"{domain}'s null MX is mixed with other MX records",
                {"domain": domain, "records": records},
                rfc=RFC_NULL_MX,
            )
        )
    return MxReport(domain, null_mx=True, findings=tuple(findings))


async def _implicit(domain: str, resolver: Resolver, allow_private: bool) -> MxReport:
    host, host_findings = await _host(domain, 0, resolver, allow_private, implicit=True)
    findings = [f for f in host_findings if f.code != "mx.host_unresolvable"]
    if any(f.code == "mx.dns_temperror" for f in findings):
        return MxReport(domain, (host,), implicit=True, findings=tuple(findings))
    if not host.addresses:
        findings.append(
            Finding(
                "mx.no_mail_server",
                ERROR,
                f"{domain} has no MX and no address record: no mail server",
                {"domain": domain},
                rfc=RFC_IMPLICIT_MX,
                fix="Publish an MX record for the domain.",
            )
        )
        return MxReport(domain, (host,), implicit=True, findings=tuple(findings))
    findings.insert(
        0,
        Finding(
            "mx.implicit",
            WARNING,
            f"{domain} has no MX; mail goes to its address record",
            {"domain": domain, "addresses": list(host.addresses)},
            rfc=RFC_IMPLICIT_MX,
            fix="Publish an explicit MX record; some senders do not use the implicit MX.",
        ),
    )
    return MxReport(domain, (host,), implicit=True, findings=tuple(findings))


async def _addresses(name: str, resolver: Resolver) -> tuple[list[Answer], list[DnsError]]:
    """A and AAAA concurrently; the answers that came back and the lookups that failed."""
    results = await asyncio.gather(
        resolver.query(name, "A"), resolver.query(name, "AAAA"), return_exceptions=True
    )
    answers = [r for r in results if isinstance(r, Answer)]
    errors = [r for r in results if isinstance(r, DnsError)]
    unexpected = [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, DnsError)
    ]
    if unexpected:
        raise unexpected[0]
    return answers, errors


async def _host(
    name: str, preference: int, resolver: Resolver, allow_private: bool, *, implicit: bool = False
) -> tuple[MxHost, list[Finding]]:
    answers, errors = await _addresses(name, resolver)
    addresses = tuple(dict.fromkeys(s for answer in answers for s in answer.strings))
    if errors and not addresses:
        host = MxHost(name, preference, implicit=implicit, usable=False, error=errors[0].reason)
        return host, [_temperror(name, errors[0])]
    findings: list[Finding] = []
    if errors:
        exc = errors[0]
        findings.append(
            Finding(
                "mx.host_lookup_partial",
                WARNING,
                f"the lookup {exc.qname} {exc.rdtype} failed ({exc.reason}); other addresses used",
                {"host": name, "qname": exc.qname, "rdtype": exc.rdtype, "error": exc.reason},
            )
        )
    rcode = answers[0].rcode.value if answers else ""
    cname = next((a.canonical_name for a in answers if a.canonical_name not in ("", name)), "")
    if cname and not implicit:
        findings.append(
            Finding(
                "mx.cname",
                WARNING,
                f"MX host {name} is an alias (CNAME) of {cname}",
                {"host": name, "target": cname},
                rfc=RFC_MX_CNAME,
                fix="Point the MX at the canonical name.",
            )
        )
    if not addresses:
        findings.append(
            Finding(
                "mx.host_unresolvable",
                ERROR if not implicit else WARNING,
                f"MX host {name} has no address record",
                {"host": name, "rcode": rcode},
                rfc="RFC 5321 §5.1",
            )
        )
        return MxHost(name, preference, (), cname, implicit, usable=False), findings
    refused = _forbidden(addresses, allow_private)
    if refused:
        findings.append(
            Finding(
                "mx.host_private",
                ERROR,
                f"MX host {name} resolves to non-public addresses",
                {"host": name, "addresses": refused},
                fix="An MX must point at addresses reachable from the internet.",
            )
        )
    usable = len(refused) < len(addresses)
    return MxHost(name, preference, addresses, cname, implicit, usable=usable), findings


def _forbidden(addresses: Sequence[str], allow_private: bool) -> list[str]:
    refused = []
    for address in addresses:
        try:
            check_target(address, allow_private=allow_private)
        except ForbiddenTarget as exc:
            refused.append(f"{address} ({exc.category})")
    return refused


__all__ = ["PROVIDERS", "MxHost", "MxReport", "fingerprint_provider", "lookup_mx"]
