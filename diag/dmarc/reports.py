"""Report destinations of a DMARC record: URI syntax and external-destination authorization.

RFC 7489 §7.1 and draft-ietf-dmarc-aggregate-reporting §3 (cited by RFC 9989 §11.6): a
``mailto:`` destination outside the record's Organizational Domain counts only when
``<domain>._report._dmarc.<destination host>`` has a TXT record starting ``v=DMARC1``.
Organizational Domains here come from the RFC 9989 tree walk. The walks and the authorization
query for a destination that looks external are started together; the answer is used only if the
walks show the destination is external. Never raises for DNS trouble.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Mapping
from typing import TypeVar

from diag.errors import DnsError
from diag.findings import INFO, OK, WARNING, Finding
from diag.resolver import QueryFailure, Resolver

from .discovery import InvalidDomainError, WalkCache, tree_walk
from .parse import DmarcRecord, ReportUri
from .parse import dmarc_finding as _finding

_RFC_URI = "RFC 9989 §4.7 rua/ruf; §4.8"
_RFC_EXTERNAL = "RFC 7489 §7.1; RFC 9989 §11.6"
_AUTHORIZING = re.compile(r"v[ \t]*=[ \t]*DMARC1(?:[ \t]*;|[ \t]*$)", re.IGNORECASE)
_T = TypeVar("_T")


async def check_report_uris(
    domain: str, record: DmarcRecord, resolver: Resolver, *, cache: WalkCache | None = None
) -> tuple[Finding, ...]:
    """Judge every ``rua`` and ``ruf`` URI of ``record``, published for ``domain``.

    All URIs are judged concurrently; the findings keep the record's order. ``cache`` lets the
    walks reuse the ``_dmarc`` answers of a discovery that ran before (same resolver).

    Codes: ``dmarc.{rua,ruf}_invalid``, ``_unsupported_scheme``, ``_size_limit`` (obsolete
    ``!size``), ``_unauthorized``, ``_authorized`` (an external destination that agreed),
    ``_temperror``.
    """
    domain = domain.strip().rstrip(".").lower()
    checker = _Checker(domain, resolver, cache or WalkCache(resolver))
    uris = [
        (tag, uri) for tag, found in (("rua", record.rua), ("ruf", record.ruf)) for uri in found
    ]
    results = await asyncio.gather(*(checker.check(tag, uri) for tag, uri in uris))
    return tuple(finding for findings in results for finding in findings)


def _likely_external(domain: str, host: str) -> bool:
    """Whether to ask for ``host``'s authorization before its Org Domain is known.

    A guess only (the tree walks decide): the same name, a subdomain or a parent of ``domain``
    usually shares its Organizational Domain, anything else usually does not.
    """
    return not (host == domain or host.endswith(f".{domain}") or domain.endswith(f".{host}"))


class _Checker:
    """Per-call memo of Organizational Domains and authorization answers, shared by all URIs."""

    def __init__(self, domain: str, resolver: Resolver, cache: WalkCache) -> None:
        self.domain = domain
        self.resolver = resolver
        self.cache = cache
        self.orgs: dict[str, asyncio.Future[str | QueryFailure]] = {}
        self.authorized: dict[str, asyncio.Future[bool | QueryFailure]] = {}

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

    async def _external(
        self, tag: str, uri: ReportUri, evidence: Mapping[str, object]
    ) -> list[Finding]:
        qname = f"{self.domain}._report._dmarc.{uri.host}"
        own, theirs = self._org(self.domain), self._org(uri.host)
        if _likely_external(self.domain, uri.host):
            self._authorization(uri.host, qname)  # speculative: used only if external
        for org in (await asyncio.shield(own), await asyncio.shield(theirs)):
            if isinstance(org, QueryFailure):
                return [_temperror(tag, org, evidence)]
        if own.result() == theirs.result():
            return []
        answer = await asyncio.shield(self._authorization(uri.host, qname))
        if isinstance(answer, QueryFailure):
            return [_temperror(tag, answer, evidence)]
        code, severity = (
            (f"dmarc.{tag}_authorized", OK) if answer else (f"dmarc.{tag}_unauthorized", WARNING)
        )
        return [_finding(code, severity, _RFC_EXTERNAL, qname=qname, host=uri.host, **evidence)]

    def _org(self, name: str) -> asyncio.Future[str | QueryFailure]:
        return _shared(self.orgs, name, lambda: self._walk_org(name))

    def _authorization(self, host: str, qname: str) -> asyncio.Future[bool | QueryFailure]:
        return _shared(self.authorized, host, lambda: self._query_authorization(qname))

    async def _walk_org(self, name: str) -> str | QueryFailure:
        try:
            walk = await tree_walk(name, self.resolver, cache=self.cache)
        except InvalidDomainError:
            return name  # only its own Org Domain; parse_report_uri vets hosts already
        return walk.failure or walk.organizational_domain

    async def _query_authorization(self, qname: str) -> bool | QueryFailure:
        try:
            answer = await self.resolver.query(qname, "TXT")
        except DnsError as exc:
            return QueryFailure.of(exc)
        return any(_AUTHORIZING.match(text) for text in answer.texts)


def _shared(
    memo: dict[str, asyncio.Future[_T]],
    key: str,
    start: Callable[[], Coroutine[object, object, _T]],
) -> asyncio.Future[_T]:
    """The lookup for ``key`` in ``memo``, started now if it has not started yet."""
    pending = memo.get(key)
    if pending is None:
        pending = asyncio.ensure_future(start())
        pending.add_done_callback(_retrieve)
        memo[key] = pending
    return pending


def _retrieve(future: asyncio.Future[_T]) -> None:
    """Mark an outcome as seen: a speculative lookup that was not needed may fail unheard."""
    if not future.cancelled():
        future.exception()


def _temperror(tag: str, error: QueryFailure, evidence: Mapping[str, object]) -> Finding:
    return _finding(
        f"dmarc.{tag}_temperror",
        WARNING,
        _RFC_EXTERNAL,
        qname=error.qname,
        reason=error.reason,
        **evidence,
    )
