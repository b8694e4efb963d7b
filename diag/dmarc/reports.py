"""Report destinations of a DMARC record: URI syntax and external-destination authorization.

RFC 7489 §7.1 and draft-ietf-dmarc-aggregate-reporting §3 (cited by RFC 9989 §11.6): a
``mailto:`` destination outside the record's Organizational Domain counts only when
``<domain>._report._dmarc.<destination host>`` has a TXT record starting ``v=DMARC1``.
Organizational Domains here come from the RFC 9989 tree walk. Never raises for DNS trouble.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

from diag.errors import DnsError
from diag.findings import INFO, OK, WARNING, Finding, Severity
from diag.resolver import Resolver

from .discovery import DnsFailure, InvalidDomainError, WalkCache, tree_walk
from .parse import DmarcRecord, ReportUri

_RFC_URI = "RFC 9989 §4.7 rua/ruf; §4.8"
_RFC_EXTERNAL = "RFC 7489 §7.1; RFC 9989 §11.6"
_AUTHORIZING = re.compile(r"v[ \t]*=[ \t]*DMARC1(?:[ \t]*;|[ \t]*$)", re.IGNORECASE)


def _finding(code: str, severity: Severity, rfc: str, **evidence: Any) -> Finding:
    return Finding(
        code=code,
        severity=severity,
        summary=code.removeprefix("dmarc.").replace("_", " "),
        evidence=MappingProxyType(evidence),
        rfc=rfc,
    )


async def check_report_uris(
    domain: str, record: DmarcRecord, resolver: Resolver
) -> tuple[Finding, ...]:
    """Judge every ``rua`` and ``ruf`` URI of ``record``, published for ``domain``.

    Codes: ``dmarc.{rua,ruf}_invalid``, ``_unsupported_scheme``, ``_size_limit`` (obsolete
    ``!size``), ``_unauthorized``, ``_authorized`` (an external destination that agreed),
    ``_temperror``.
    """
    domain = domain.strip().rstrip(".").lower()
    checker = _Checker(domain, resolver)
    findings: list[Finding] = []
    for tag, uris in (("rua", record.rua), ("ruf", record.ruf)):
        for uri in uris:
            findings += await checker.check(tag, uri)
    return tuple(findings)


class _Checker:
    """Per-call memo of Organizational Domains and authorization answers."""

    def __init__(self, domain: str, resolver: Resolver) -> None:
        self.domain = domain
        self.resolver = resolver
        self.cache = WalkCache(resolver)
        self.orgs: dict[str, str | DnsFailure] = {}
        self.authorized: dict[str, bool | DnsFailure] = {}

    async def check(self, tag: str, uri: ReportUri) -> list[Finding]:
        evidence = {"tag": tag, "uri": uri.uri, "position": uri.position}
        if not uri.valid:
            return [
                _finding(f"dmarc.{tag}_invalid", WARNING, _RFC_URI, problem=uri.problem, **evidence)
            ]
        findings: list[Finding] = []
        if uri.size_limit is not None:
            findings.append(
                _finding(
                    f"dmarc.{tag}_size_limit",
                    INFO,
                    "RFC 9989 §4.8 obs-dmarc-report-size",
                    size_limit=uri.size_limit,
                    **evidence,
                )
            )
        if uri.scheme != "mailto":
            findings.append(
                _finding(
                    f"dmarc.{tag}_unsupported_scheme",
                    WARNING,
                    _RFC_URI,
                    scheme=uri.scheme,
                    **evidence,
                )
            )
            return findings
        findings += await self._external(tag, uri, evidence)
        return findings

    async def _external(self, tag: str, uri: ReportUri, evidence: dict[str, Any]) -> list[Finding]:
        own, theirs = await self._org(self.domain), await self._org(uri.host)
        for org in (own, theirs):
            if isinstance(org, DnsFailure):
                return [_temperror(tag, org, evidence)]
        if own == theirs:
            return []
        qname = f"{self.domain}._report._dmarc.{uri.host}"
        answer = self.authorized.get(uri.host)
        if answer is None:
            answer = await self._authorization(qname)
            self.authorized[uri.host] = answer
        if isinstance(answer, DnsFailure):
            return [_temperror(tag, answer, evidence)]
        code, severity = (
            (f"dmarc.{tag}_authorized", OK) if answer else (f"dmarc.{tag}_unauthorized", WARNING)
        )
        return [_finding(code, severity, _RFC_EXTERNAL, qname=qname, host=uri.host, **evidence)]

    async def _org(self, name: str) -> str | DnsFailure:
        org = self.orgs.get(name)
        if org is None:
            try:
                walk = await tree_walk(name, self.resolver, cache=self.cache)
            except InvalidDomainError:
                return name  # only its own Org Domain; parse_report_uri vets hosts already
            org = walk.failure or walk.organizational_domain
            self.orgs[name] = org
        return org

    async def _authorization(self, qname: str) -> bool | DnsFailure:
        try:
            answer = await self.resolver.query(qname, "TXT")
        except DnsError as exc:
            return DnsFailure(exc.qname, exc.rdtype, exc.reason)
        return any(_AUTHORIZING.match(text) for text in answer.texts)


def _temperror(tag: str, error: DnsFailure, evidence: dict[str, Any]) -> Finding:
    return _finding(
        f"dmarc.{tag}_temperror",
        WARNING,
        _RFC_EXTERNAL,
        qname=error.qname,
        reason=error.reason,
        **evidence,
    )
