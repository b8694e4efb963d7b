"""A receiver's verdict on one message: SPF, every DKIM signature, DMARC and the ARC chain,
with the ``Authentication-Results`` header field a receiver would add (RFC 8601, via authres).

SPF, DKIM and ARC run concurrently; DMARC follows, since it judges their results. Whatever
the message holds, the outcome is a ``Verdict`` with reasons, never an exception.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import authres
import authres.arc
import authres.dmarc
from publicsuffixlist import PublicSuffixList

from diag.authenticate.headers import (
    EIGHT_BIT,
    FROM_UNPARSEABLE,
    GARBLED,
    HEADER_LIMIT,
    INVALID_UTF8,
    MULTIPLE_FROM_ADDRESSES,
    MULTIPLE_FROM_FIELDS,
    NO_FROM,
    FromDomains,
    from_domains,
    is_domain,
    parse_header_block,
)
from diag.dkim import ArcResult, DkimResult, verify_arc, verify_message
from diag.dmarc import DmarcResult, evaluate
from diag.findings import ERROR, INFO, OK, WARNING, Finding, Severity
from diag.jsonvalue import JsonObject
from diag.resolver import Resolver
from diag.spf import SpfResult, check_host

# Severity of each method's result as a finding (RFC 8601 §2.7 result names).
RESULT_SEVERITY: Mapping[str, Severity] = MappingProxyType(
    {
        "pass": OK,
        "fail": ERROR,
        "permerror": ERROR,
        "softfail": WARNING,
        "neutral": WARNING,
        "policy": WARNING,
        "temperror": WARNING,
        "none": WARNING,
    }
)
INPUT_PROBLEMS: Mapping[str, tuple[Severity, str, str]] = MappingProxyType(
    {
        HEADER_LIMIT: (ERROR, "the header block exceeds the limits; DKIM and ARC were not run", ""),
        GARBLED: (WARNING, "a header line is neither a field nor a continuation", "RFC 5322 §2.2"),
        EIGHT_BIT: (INFO, "the header block holds 8-bit bytes", "RFC 6532 §3"),
        INVALID_UTF8: (WARNING, "8-bit header bytes are not UTF-8", "RFC 6532 §3.2"),
        NO_FROM: (ERROR, "the message has no From field", "RFC 5322 §3.6"),
        MULTIPLE_FROM_FIELDS: (ERROR, "the message has several From fields", "RFC 5322 §3.6"),
        MULTIPLE_FROM_ADDRESSES: (
            WARNING,
            "the From field holds several addresses",
            "RFC 9989 §5.3.1",
        ),
        FROM_UNPARSEABLE: (ERROR, "a From address has no domain", "RFC 9989 §5.3.1"),
    }
)
_TOKEN = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True)
class SpfVerdict:
    """SPF for the identity used: MAIL FROM, or HELO when the reverse-path is null (§2.4)."""

    result: str
    domain: str
    identity: str  # mailfrom | helo | none
    detail: SpfResult | None = None

    def to_dict(self) -> JsonObject:
        return {"result": self.result, "domain": self.domain}


@dataclass(frozen=True)
class Verdict:
    """The receiver's verdict; ``to_dict()`` gives the ``authenticate`` JSON keys."""

    ip: str
    spf: SpfVerdict
    dkim: tuple[DkimResult, ...]
    dmarc: DmarcResult
    arc: ArcResult | None
    from_header: FromDomains
    authentication_results: str
    findings: tuple[Finding, ...]

    def to_dict(self) -> JsonObject:
        dmarc = self.dmarc
        return {
            "spf": self.spf.to_dict(),
            "dkim": [
                {"result": d.result, "domain": d.domain, "selector": d.selector, "reason": d.reason}
                for d in self.dkim
            ],
            "dmarc": {
                "result": dmarc.result,
                "policy": dmarc.policy,
                "disposition": dmarc.disposition,
                "from_domain": dmarc.from_domain,
                "policy_domain": dmarc.policy_domain,
                "organizational_domain": dmarc.organizational_domain,
                "spf_aligned": dmarc.spf_aligned,
                "dkim_aligned": dmarc.dkim_aligned,
            },
            "arc": _arc_dict(self.arc),
            "authentication_results": self.authentication_results,
            "findings": [f.to_dict() for f in self.findings],
        }


def _arc_dict(arc: ArcResult | None) -> JsonObject:
    if arc is None:
        return {"result": "none", "instances": 0, "reason": "not_checked"}
    return {"result": arc.cv, "instances": arc.instances, "reason": arc.reason}


async def authenticate(
    message: bytes,
    *,
    ip: str,
    helo: str | None,
    mail_from: str | None,
    resolver: Resolver,
    authserv_id: str = "maildiag",
    now: float | None = None,
    psl: PublicSuffixList | None = None,
) -> Verdict:
    """Judge ``message`` as received from ``ip`` with ``helo`` and ``mail_from``.

    ``psl`` is the Public Suffix List DMARC uses (building one costs ~0.15 s of CPU; pass a
    shared one when judging many messages). Raises ValueError only when ``ip`` is not an IP
    address; everything about the message and the DNS becomes part of the verdict.
    """
    block = parse_header_block(message)
    author = from_domains(block)
    spf_task = _spf(ip, helo, mail_from, resolver)
    if block.within_limits:
        spf, dkim, arc = await asyncio.gather(
            spf_task, verify_message(message, resolver, now=now), verify_arc(message, resolver)
        )
    else:
        spf, dkim, arc = await spf_task, (), None
    dmarc = await evaluate(
        from_header_domains=author.domains,
        spf_result=spf.result,
        spf_domain=spf.domain,
        dkim_results=[(d.result, d.domain) for d in dkim],
        resolver=resolver,
        psl=psl,
    )
    header = _authentication_results(authserv_id, ip, spf, dkim, dmarc, arc)
    findings = _findings(block.problems, author, spf, dkim, dmarc, arc)
    return Verdict(ip, spf, tuple(dkim), dmarc, arc, author, header, findings)


async def _spf(ip: str, helo: str | None, mail_from: str | None, resolver: Resolver) -> SpfVerdict:
    path = (mail_from or "").strip().strip("<>").strip()
    if path:
        domain = path.rpartition("@")[2].lower().rstrip(".")
        sender, identity = (path if "@" in path else f"postmaster@{path}"), "mailfrom"
    elif helo and helo.strip():
        domain = helo.strip().lower().rstrip(".")
        sender, identity = f"postmaster@{domain}", "helo"  # RFC 7208 §2.3, §2.4
    else:
        return SpfVerdict("none", "", "none")
    if not domain:
        return SpfVerdict("none", "", identity)
    result = await check_host(ip, domain, sender, helo=helo, resolver=resolver)
    return SpfVerdict(result.result, domain, identity, result)


def _token(value: str | None) -> str | None:
    """A value safe to put in the header field, or None."""
    return value if value and _TOKEN.match(value) else None


def _authentication_results(
    authserv_id: str,
    ip: str,
    spf: SpfVerdict,
    dkim: tuple[DkimResult, ...] | list[DkimResult],
    dmarc: DmarcResult,
    arc: ArcResult | None,
) -> str:
    results: list[Any] = []
    spf_result = authres.SPFAuthenticationResult(result=spf.result)
    domain = spf.domain if is_domain(spf.domain) else None
    if domain and spf.identity == "helo":
        spf_result.smtp_helo = domain
    elif domain:
        spf_result.smtp_mailfrom = domain
    results.append(spf_result)
    for item in dkim or ():
        results.append(
            authres.DKIMAuthenticationResult(
                result=item.result,
                reason=item.reason or None,
                header_d=_token(item.domain),
                header_s=_token(item.selector),
                header_i=_token(item.header_i),
                header_a=_token(item.algorithm),
            )
        )
    if not dkim:
        results.append(authres.DKIMAuthenticationResult(result="none"))
    results.append(
        authres.dmarc.DMARCAuthenticationResult(
            result=dmarc.result,
            result_comment=f"p={dmarc.policy} dis={dmarc.disposition}",
            header_from=dmarc.from_domain if is_domain(dmarc.from_domain) else None,
        )
    )
    if arc is not None and arc.instances:
        results.append(authres.arc.ARCAuthenticationResult(result=arc.cv, smtp_remote_ip=ip))
    header = authres.AuthenticationResultsHeader(authserv_id=authserv_id, results=results)
    return str(header.header_value())


def _finding(
    code: str, severity: Severity, summary: str, rfc: str = "", **evidence: object
) -> Finding:
    return Finding(code, severity, summary, MappingProxyType(evidence), rfc=rfc)


def _findings(
    problems: tuple[str, ...],
    author: FromDomains,
    spf: SpfVerdict,
    dkim: tuple[DkimResult, ...] | list[DkimResult],
    dmarc: DmarcResult,
    arc: ArcResult | None,
) -> tuple[Finding, ...]:
    found: list[Finding] = []
    for problem in (*problems, *author.problems):
        severity, summary, rfc = INPUT_PROBLEMS[problem]
        found.append(
            _finding(
                f"auth.{problem}", severity, summary, rfc, from_addresses=list(author.addresses)
            )
        )
    found.append(
        _finding(
            f"auth.spf_{spf.result}",
            RESULT_SEVERITY.get(spf.result, WARNING),
            f"SPF {spf.result}",
            "RFC 7208 §2.6",
            domain=spf.domain,
            identity=spf.identity,
            mechanism=spf.detail.mechanism if spf.detail else None,
            problem=spf.detail.problem if spf.detail else None,
        )
    )
    if spf.detail is not None:
        found.extend(spf.detail.findings)
    for item in dkim or ():
        found.append(
            _finding(
                f"auth.dkim_{item.result}",
                RESULT_SEVERITY.get(item.result, WARNING),
                f"DKIM {item.result}",
                "RFC 6376 §6.1",
                domain=item.domain,
                selector=item.selector,
                reason=item.reason,
                detail=item.detail,
            )
        )
    if not dkim:
        found.append(
            _finding("auth.dkim_none", WARNING, "the message is not DKIM signed", "RFC 6376 §6.1")
        )
    found.append(
        _finding(
            f"auth.dmarc_{dmarc.result}",
            RESULT_SEVERITY.get(dmarc.result, WARNING),
            f"DMARC {dmarc.result}",
            "RFC 9989 §5.3",
            from_domain=dmarc.from_domain,
            policy=dmarc.policy,
            disposition=dmarc.disposition,
            spf_aligned=dmarc.spf_aligned,
            dkim_aligned=dmarc.dkim_aligned,
        )
    )
    found.extend(dmarc.findings)
    if arc is not None and arc.instances:
        found.append(
            _finding(
                f"auth.arc_{arc.cv}",
                RESULT_SEVERITY.get(arc.cv, WARNING),
                f"ARC chain {arc.cv}",
                "RFC 8617 §5.2",
                instances=arc.instances,
                reason=arc.reason,
            )
        )
    return tuple(found)
