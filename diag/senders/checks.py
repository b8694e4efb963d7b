"""The independent checks a sender report is made of, each one coroutine returning a ``Part``.

Every part does its lookups through the injected Resolver and turns what it finds into
findings; none raises for a problem in the domain under test. ``report`` runs them together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from publicsuffixlist import PublicSuffixList

from diag.dkim import DkimSignError, check_selector, sign_message, verify_message
from diag.dmarc import (
    AlignmentMode,
    InvalidDomainError,
    check_domain,
    discover,
    identifiers_aligned,
    tree_walk,
)
from diag.dnsbl import check_dnsbl, dnsbl_findings
from diag.errors import DnsError
from diag.findings import ERROR, INFO, OK, WARNING, Finding, Severity
from diag.resolver import Rcode, Resolver
from diag.reverse import check_reverse, forward_lookup
from diag.senders.spec import SenderSpec, sample_reset_mail
from diag.spf import check_host, lint_spf


@dataclass(frozen=True)
class Part:
    """One finished check: which section it belongs to, its data and its findings."""

    section: str
    label: str
    data: Mapping[str, object] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()


def finding(
    code: str, severity: Severity, summary: str, rfc: str = "", **evidence: object
) -> Finding:
    """A finding with ``evidence`` given as keywords."""
    return Finding(code, severity, summary, MappingProxyType(evidence), rfc=rfc)


async def spf_lint_part(domain: str, resolver: Resolver) -> Part:
    """The envelope domain's SPF policy as a whole: lookups, syntax, include tree."""
    lint = await lint_spf(domain, resolver)
    return Part("spf", "lint", lint.to_dict(), lint.findings)


async def spf_ip_part(spec: SenderSpec, ip: str, resolver: Resolver) -> Part:
    """check_host for one egress IP with the identity's MAIL FROM and HELO."""
    result = await check_host(
        ip, spec.envelope, spec.mail_from, helo=spec.helo or None, resolver=resolver
    )
    evidence = {
        "ip": ip,
        "domain": spec.envelope,
        "result": result.result,
        "mechanism": result.mechanism,
        "problem": result.problem,
        "lookups": result.lookups,
    }
    if result.result == "pass":
        found = finding(
            "sender.spf_pass", OK, "SPF passes for the egress IP", "RFC 7208 §2.6.3", **evidence
        )
    elif result.result == "temperror":
        found = finding(
            "sender.spf_temperror",
            WARNING,
            "SPF could not be evaluated",
            "RFC 7208 §2.6.6",
            **evidence,
        )
    else:
        found = finding(
            "sender.spf_not_pass",
            ERROR,
            "SPF does not pass for the egress IP",
            "RFC 7208 §2.6",
            **evidence,
        )
    return Part("spf", f"ip:{ip}", result.to_dict(), (found, *result.findings))


async def dkim_selector_part(spec: SenderSpec, selector: str, resolver: Resolver) -> Part:
    """The published key under ``selector``, checked against the configured private key."""
    checked = await check_selector(
        spec.signing_domain, selector, resolver, private_key=spec.private_key
    )
    return Part("dkim", f"selector:{selector}", checked.data, checked.findings)


async def dkim_discovery_part(domain: str, selectors: Sequence[str], resolver: Resolver) -> Part:
    """Common selectors of a domain without a configured identity; only found keys are judged."""
    results = await asyncio.gather(*(check_selector(domain, s, resolver) for s in selectors))
    found: list[Finding] = []
    keys: list[str] = []
    not_checked: list[str] = []
    for selector, result in zip(selectors, results, strict=True):
        codes = {f.code for f in result.findings}
        if codes == {"dkim.key_missing"}:
            continue
        (not_checked if "dkim.dns_temperror" in codes else keys).append(selector)
        found.extend(result.findings)
    data = {"tried": list(selectors), "found": keys, "not_checked": not_checked}
    if not keys:
        found.append(
            finding(
                "sender.dkim_no_common_selector",
                WARNING,
                "no DKIM key under the common selectors (the domain may use another one)",
                "RFC 6376 §3.6.2.1",
                domain=domain,
                tried=list(selectors),
            )
        )
    return Part("dkim", "common", data, tuple(found))


async def dmarc_part(domain: str, resolver: Resolver, psl: PublicSuffixList | None = None) -> Part:
    """The From domain's DMARC record and policy."""
    checked = await check_domain(domain, resolver, psl=psl)
    return Part("dmarc", "record", checked.data, checked.findings)


async def alignment_part(
    spec: SenderSpec, resolver: Resolver, psl: PublicSuffixList | None = None
) -> Part:
    """Whether the envelope (SPF) and d= (DKIM) domains align with the From domain (DMARC)."""
    author, envelope, signing = spec.domain, spec.envelope, spec.signing_domain
    data: dict[str, object] = {
        "from_domain": author,
        "envelope_domain": envelope,
        "dkim_domain": signing,
    }
    aspf: AlignmentMode = "r"
    adkim: AlignmentMode = "r"
    org_domains: dict[str, str | None] = {}
    if len({author, envelope, signing}) > 1:
        others = sorted({envelope, signing} - {author})
        try:
            discovery, walks = await asyncio.gather(
                discover(author, resolver, psl=psl),
                asyncio.gather(*(tree_walk(d, resolver) for d in others)),
            )
        except DnsError as exc:
            return Part("alignment", "alignment", data, (_alignment_unknown(data, exc.reason),))
        except InvalidDomainError:
            return Part(
                "alignment", "alignment", data, (_alignment_unknown(data, "invalid_domain"),)
            )
        if discovery.failure is not None or any(w.failure is not None for w in walks):
            return Part("alignment", "alignment", data, (_alignment_unknown(data, "dns"),))
        if discovery.record is not None:
            aspf, adkim = discovery.record.aspf, discovery.record.adkim
        org_domains[author] = discovery.organizational_domain
        org_domains.update({w.start: w.organizational_domain for w in walks})
    spf_ok = identifiers_aligned(author, envelope, mode=aspf, org_domains=org_domains)
    dkim_ok = identifiers_aligned(author, signing, mode=adkim, org_domains=org_domains)
    data.update(
        aspf=aspf, adkim=adkim, org_domains=org_domains, spf_aligned=spf_ok, dkim_aligned=dkim_ok
    )
    return Part("alignment", "alignment", data, tuple(_alignment_findings(data, spf_ok, dkim_ok)))


def _alignment_unknown(data: Mapping[str, object], reason: str) -> Finding:
    return finding(
        "sender.alignment_not_checked",
        WARNING,
        "the Organizational Domains could not be looked up",
        "RFC 9989 §4.10.2",
        error=reason,
        **data,
    )


def _alignment_findings(data: Mapping[str, object], spf_ok: bool, dkim_ok: bool) -> list[Finding]:
    rfc = "RFC 9989 §4.4"
    if spf_ok and dkim_ok:
        return [
            finding(
                "sender.aligned",
                OK,
                "SPF and DKIM identifiers align with the From domain",
                rfc,
                **data,
            )
        ]
    if not spf_ok and not dkim_ok:
        return [
            finding(
                "sender.not_aligned", ERROR, "neither SPF nor DKIM aligns: DMARC fails", rfc, **data
            )
        ]
    if not dkim_ok:
        return [
            finding(
                "sender.dkim_not_aligned",
                WARNING,
                "only SPF aligns; forwarding will break DMARC",
                rfc,
                **data,
            )
        ]
    return [
        finding(
            "sender.spf_not_aligned", INFO, "only DKIM aligns with the From domain", rfc, **data
        )
    ]


async def reverse_part(ip: str, helo: str | None, resolver: Resolver) -> Part:
    """PTR, forward-confirmed reverse DNS and HELO consistency for one egress IP."""
    result = await check_reverse(ip, resolver, helo=helo)
    return Part("reverse", ip, result.to_dict(), result.findings)


async def dnsbl_part(ip: str, zones: Sequence[str], resolver: Resolver) -> Part:
    """One egress IP against every configured blocklist zone."""
    results = await asyncio.gather(*(check_dnsbl(ip, zone, resolver) for zone in zones))
    data = {"ip": ip, "lookups": [r.to_dict() for r in results]}
    return Part("dnsbl", ip, data, dnsbl_findings(results))


async def bounce_mx_part(domain: str, resolver: Resolver) -> Part:
    """Whether mail to the envelope domain (bounces) has somewhere to go (RFC 5321 §5.1)."""
    try:
        answer = await resolver.query(domain, "MX")
    except DnsError as exc:
        return Part("bounce_mx", "mx", {"domain": domain}, (_mx_temperror(domain, exc.reason),))
    exchanges = [str(mx) for mx in answer.mx_records]
    data: dict[str, object] = {"domain": domain, "mx": exchanges, "rcode": answer.rcode.value}
    if answer.rcode is Rcode.NXDOMAIN:
        code, severity, summary = (
            "sender.bounce_domain_missing",
            ERROR,
            "the envelope domain does not exist",
        )
    elif any(not mx.exchange for mx in answer.mx_records):
        code, severity, summary = (
            "sender.bounce_null_mx",
            ERROR,
            "the envelope domain refuses mail (null MX)",
        )
    elif exchanges:
        code, severity, summary = (
            "sender.bounce_mx_ok",
            OK,
            "bounces can come back to the envelope domain",
        )
    else:
        return await _implicit_mx(domain, data, resolver)
    rfc = "RFC 7505 §3" if code == "sender.bounce_null_mx" else "RFC 5321 §5.1"
    return Part("bounce_mx", "mx", data, (finding(code, severity, summary, rfc, **data),))


async def _implicit_mx(domain: str, data: dict[str, object], resolver: Resolver) -> Part:
    forward = await forward_lookup(domain, resolver)
    data["addresses"] = list(forward.addresses)
    if forward.error:
        return Part("bounce_mx", "mx", data, (_mx_temperror(domain, forward.error),))
    if forward.addresses:
        found = finding(
            "sender.bounce_implicit_mx",
            WARNING,
            "no MX: bounces rely on the implicit MX",
            "RFC 5321 §5.1",
            **data,
        )
    else:
        found = finding(
            "sender.bounce_no_mail_server",
            ERROR,
            "bounces have nowhere to go",
            "RFC 5321 §5.1",
            **data,
        )
    return Part("bounce_mx", "mx", data, (found,))


def _mx_temperror(domain: str, reason: str) -> Finding:
    return finding(
        "sender.bounce_mx_temperror",
        WARNING,
        "the MX lookup failed",
        "RFC 5321 §5.1",
        domain=domain,
        error=reason,
    )


def sign_sample(spec: SenderSpec, selector: str, *, now: float) -> bytes | Part:
    """A sample reset mail signed with the configured key, or the part saying it cannot sign.

    Needs no DNS: the report signs while its first questions are in flight.
    """
    base = {"domain": spec.signing_domain, "selector": selector, "algorithm": spec.algorithm}
    assert spec.private_key is not None
    message = sample_reset_mail(spec, now=now)
    try:
        return sign_message(
            message,
            domain=spec.signing_domain,
            selector=selector,
            private_key=spec.private_key,
            algorithm=spec.algorithm,
        )
    except DkimSignError as exc:
        found = finding(
            "sender.sample_sign_failed",
            ERROR,
            "the configured key cannot sign",
            "RFC 6376 §5",
            reason=exc.reason,
            **base,
        )
        return Part("sample", f"selector:{selector}", base, (found,))


async def verify_sample(spec: SenderSpec, selector: str, signed: bytes, resolver: Resolver) -> Part:
    """Verify the signed sample through the DNS, as a receiver would, at the system clock's
    time: dkimpy writes t= from that clock, whatever ``now`` dated the mail with."""
    base = {"domain": spec.signing_domain, "selector": selector, "algorithm": spec.algorithm}
    results = await verify_message(signed, resolver)
    verdict = results[0].to_dict() if results else {"result": "none", "reason": "not_signed"}
    data = {**base, "verdict": verdict}
    evidence = {**base, "result": verdict["result"], "reason": verdict["reason"]}
    if verdict["result"] == "pass":
        found = finding(
            "sender.sample_dkim_pass",
            OK,
            "a sample mail signed with our key verifies",
            "RFC 6376 §6",
            **evidence,
        )
    elif verdict["result"] == "temperror":
        found = finding(
            "sender.sample_dkim_temperror",
            WARNING,
            "the sample mail could not be verified",
            "RFC 6376 §6",
            **evidence,
        )
    else:
        found = finding(
            "sender.sample_dkim_fail",
            ERROR,
            "a sample mail signed with our key fails DKIM",
            "RFC 6376 §6",
            **evidence,
        )
    return Part("sample", f"selector:{selector}", data, (found,))
