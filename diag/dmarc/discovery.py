"""DMARC policy discovery: the RFC 9989 §4.10 DNS tree walk and, beside it, the RFC 7489 PSL view.

Owns the ``_dmarc`` TXT queries, the Organizational Domain (§4.10.2) and the policy record
(§4.10.1). Every name a walk may query follows from the labels, so all are asked at once and the
walk's rules are applied to the answers in order. It never judges a message. DNS transport
failures become ``error`` (temperror), never "no record". The Public Suffix List is the one
shipped with ``publicsuffixlist`` unless an instance is injected.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Literal

from publicsuffixlist import PublicSuffixList

from diag.errors import DnsError, ParseError
from diag.findings import ERROR, INFO, WARNING, Finding
from diag.names import MAX_NAME_LENGTH
from diag.resolver import QueryFailure, Resolver, normalize_name

from .parse import DmarcRecord, NotDmarcRecord, parse_dmarc_cached

log = logging.getLogger(__name__)

MAX_TREE_WALK_QUERIES = 8  # RFC 9989 §4.10: at most eight queries per tree walk
_JUMP_TO_LABELS = MAX_TREE_WALK_QUERIES - 1  # RFC 9989 §4.10 step 4: "until 7 labels remain"
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")

StepOutcome = Literal["record", "no_record", "multiple", "error"]


class InvalidDomainError(ParseError):
    """A name that cannot be a DNS domain (empty label, bad character, over 253 octets)."""


def normalize_domain(domain: str) -> str:
    """Lower-case A-label form without the trailing dot (RFC 9989 §5.3.1).

    Raises:
        InvalidDomainError: the text is not a usable domain name.
    """
    name = normalize_name(domain)
    if not name or len(name) > MAX_NAME_LENGTH or not name.isascii():
        raise InvalidDomainError("not a domain name", text=domain, position=0)
    position = 0
    for label in name.split("."):
        if not _LABEL.fullmatch(label):
            raise InvalidDomainError("invalid label", text=name, position=position)
        position += len(label) + 1
    return name


def walk_targets(domain: str) -> tuple[str, ...]:
    """The names a full tree walk from ``domain`` queries, in order (RFC 9989 §4.10 steps 3-7)."""
    labels = domain.split(".")
    keep = min(len(labels) - 1, _JUMP_TO_LABELS)
    return (domain, *(".".join(labels[-n:]) for n in range(keep, 0, -1)))


@dataclass(frozen=True)
class WalkStep:
    """The DMARC records found at ``_dmarc.<domain>``: one record, none, several, or an error."""

    domain: str
    outcome: StepOutcome
    texts: tuple[str, ...] = ()
    record: DmarcRecord | None = None
    failure: QueryFailure | None = None

    @property
    def qname(self) -> str:
        return f"_dmarc.{self.domain}"

    def to_dict(self) -> dict[str, object]:
        return {
            "qname": self.qname,
            "outcome": self.outcome,
            "texts": list(self.texts),
            "record": self.record.text if self.record else None,
        }


class WalkCache:
    """Shares ``_dmarc`` lookups between the walks of one evaluation; not shared between calls.

    A lookup starts once per name and every walk that needs the name awaits the same answer,
    so concurrent walks over overlapping names never ask twice.
    """

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self._steps: dict[str, asyncio.Future[WalkStep]] = {}

    def prefetch(self, domain: str) -> asyncio.Future[WalkStep]:
        """Start the ``_dmarc.<domain>`` lookup now unless it has started; needs a running loop."""
        pending = self._steps.get(domain)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(domain))
            pending.add_done_callback(_retrieve)
            self._steps[domain] = pending
        return pending

    async def step(self, domain: str) -> WalkStep:
        """Query ``_dmarc.<domain>`` TXT and keep the DMARC records (RFC 9989 §4.10 step 2)."""
        return await asyncio.shield(self.prefetch(domain))

    async def _lookup(self, domain: str) -> WalkStep:
        try:
            answer = await self.resolver.query(f"_dmarc.{domain}", "TXT")
        except DnsError as exc:
            log.debug("dmarc.walk_error qname=%s reason=%s", exc.qname, exc.reason)
            failure = QueryFailure.of(exc)
            return WalkStep(domain, "error", failure=failure)
        records: list[DmarcRecord] = []
        for text in answer.texts:
            try:
                records.append(parse_dmarc_cached(text))
            except NotDmarcRecord:
                continue
        if len(records) > 1:
            return WalkStep(domain, "multiple", answer.texts)
        if records:
            return WalkStep(domain, "record", answer.texts, records[0])
        return WalkStep(domain, "no_record", answer.texts)


@dataclass(frozen=True)
class TreeWalk:
    """One DNS tree walk (RFC 9989 §4.10) and the Organizational Domain it selects (§4.10.2)."""

    start: str
    steps: tuple[WalkStep, ...]

    @property
    def failure(self) -> QueryFailure | None:
        return next((s.failure for s in self.steps if s.failure), None)

    @property
    def found(self) -> tuple[WalkStep, ...]:
        """The steps holding exactly one DMARC record, longest name first."""
        return tuple(s for s in self.steps if s.record is not None)

    @property
    def organizational_domain(self) -> str:
        """RFC 9989 §4.10.2 selection rules 1-3; the start when no record was found."""
        found = self.found
        for step in found:
            assert step.record is not None
            if step.record.psd == "n":
                return step.domain
            if step.record.psd == "y" and step.domain != self.start:
                depth = step.domain.count(".") + 2
                return ".".join(self.start.split(".")[-depth:])
        return found[-1].domain if found else self.start

    @property
    def psd_step(self) -> WalkStep | None:
        """The step whose record says ``psd=y`` (it ends the walk), if any."""
        last = self.steps[-1] if self.steps else None
        if last is not None and last.record is not None and last.record.psd == "y":
            return last
        return None


def _retrieve(future: asyncio.Future[WalkStep]) -> None:
    """Mark an outcome as seen: a speculative lookup the walk did not need may fail unheard."""
    if not future.cancelled():
        future.exception()


def ends_walk(step: WalkStep) -> bool:
    """RFC 9989 §4.10 steps 5-7: a ``psd=y``/``psd=n`` record or a failed lookup ends the walk."""
    if step.outcome == "error":
        return True
    return step.record is not None and step.record.psd in ("y", "n")


async def tree_walk(domain: str, resolver: Resolver, *, cache: WalkCache | None = None) -> TreeWalk:
    """Walk from ``domain`` up to its top-level label, stopping at a ``psd=y``/``psd=n`` record.

    All of ``walk_targets(domain)`` (at most eight names, RFC 9989 §4.10) are queried at once;
    the answers are then taken in the walk's order until one ends the walk, so the result is
    the sequential walk's and no answer past the end is waited for (those lookups finish in
    the background, kept in ``cache``). Several DMARC records at one name are all discarded and
    the walk goes on (§4.10 step 6). A DNS failure ends the walk; the walk then carries it in
    ``failure``.

    Raises:
        InvalidDomainError: ``domain`` is not a domain name.
    """
    domain = normalize_domain(domain)
    cache = cache or WalkCache(resolver)
    pending = [cache.prefetch(target) for target in walk_targets(domain)]
    steps: list[WalkStep] = []
    for answer in pending:
        step = await asyncio.shield(answer)
        steps.append(step)
        if ends_walk(step):
            break
    return TreeWalk(domain, tuple(steps))


@dataclass(frozen=True)
class Rfc7489View:
    """RFC 7489 §6.6.3 discovery: the Author Domain, then its PSL Organizational Domain."""

    organizational_domain: str | None
    record: DmarcRecord | None
    policy_domain: str | None
    outcome: StepOutcome

    def to_dict(self) -> dict[str, object]:
        return {
            "organizational_domain": self.organizational_domain,
            "policy_domain": self.policy_domain,
            "record": self.record.text if self.record else None,
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class Discovery:
    """Where the DMARC policy for ``domain`` comes from, under RFC 9989 and under RFC 7489."""

    domain: str
    walk: TreeWalk
    record: DmarcRecord | None
    policy_domain: str | None
    organizational_domain: str
    psd_domain: str | None
    rfc7489: Rfc7489View
    queries: tuple[str, ...]
    failure: QueryFailure | None
    findings: tuple[Finding, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "policy_domain": self.policy_domain,
            "organizational_domain": self.organizational_domain,
            "psd_domain": self.psd_domain,
            "record": self.record.to_dict() if self.record else None,
            "rfc7489": self.rfc7489.to_dict(),
            "walk": [s.to_dict() for s in self.walk.steps],
            "queries": list(self.queries),
            "error": self.failure.to_dict() if self.failure else None,
        }


@cache
def default_psl() -> PublicSuffixList:
    """The Public Suffix List the ``publicsuffixlist`` package ships, built once per process
    (building it costs ~0.15 s of CPU). It is only read after construction."""
    return PublicSuffixList()


def psl_organizational_domain(domain: str, psl: PublicSuffixList) -> str | None:
    """RFC 7489 §3.2: the public suffix plus one label; ``None`` for a public suffix itself."""
    result = psl.privatesuffix(domain)
    return result if isinstance(result, str) else None


async def discover(
    domain: str,
    resolver: Resolver,
    *,
    psl: PublicSuffixList | None = None,
    cache: WalkCache | None = None,
) -> Discovery:
    """Find the policy record for an Author Domain (RFC 9989 §4.10.1) and both Org Domains.

    Raises:
        InvalidDomainError: ``domain`` is not a domain name.
    """
    domain = normalize_domain(domain)
    cache = cache or WalkCache(resolver)
    psl = psl or default_psl()
    walk = await tree_walk(domain, resolver, cache=cache)
    queries = [s.qname for s in walk.steps]
    failure = walk.failure
    org = walk.organizational_domain
    record, policy_domain, psd_domain = _policy_record(walk)
    psl_org = psl_organizational_domain(domain, psl)
    legacy = Rfc7489View(psl_org, None, None, "error")
    if failure is None:
        legacy, extra = await _rfc7489_view(walk, psl_org, cache)
        queries += [s.qname for s in extra]
        failure = next((s.failure for s in extra if s.failure), None)
    findings = _findings(walk, org, psl_org, failure)
    return Discovery(
        domain=domain,
        walk=walk,
        record=record,
        policy_domain=policy_domain,
        organizational_domain=org,
        psd_domain=psd_domain,
        rfc7489=legacy,
        queries=tuple(queries),
        failure=failure,
        findings=findings,
    )


def _policy_record(walk: TreeWalk) -> tuple[DmarcRecord | None, str | None, str | None]:
    """RFC 9989 §4.10.1: the record of the Author Domain, else its Org Domain, else its PSD."""
    first = walk.steps[0]
    if walk.failure is not None:
        return None, None, None
    if first.record is not None:
        return first.record, first.domain, None
    org = walk.organizational_domain
    for step in walk.found:
        if step.domain == org:
            return step.record, step.domain, None
    psd = walk.psd_step
    if psd is not None:
        return psd.record, psd.domain, psd.domain
    return None, None, None


async def _rfc7489_view(
    walk: TreeWalk, psl_org: str | None, cache: WalkCache
) -> tuple[Rfc7489View, list[WalkStep]]:
    """RFC 7489 §6.6.3 steps 1-5: several records at a name end discovery with no policy."""
    step = walk.steps[0]
    extra: list[WalkStep] = []
    if step.outcome == "no_record" and psl_org is not None and psl_org != walk.start:
        known = {s.domain: s for s in walk.steps}
        step = known.get(psl_org) or await cache.step(psl_org)
        if psl_org not in known:
            extra.append(step)
    if step.outcome == "record":
        return Rfc7489View(psl_org, step.record, step.domain, "record"), extra
    return Rfc7489View(psl_org, None, None, step.outcome), extra


def _findings(
    walk: TreeWalk, org: str, psl_org: str | None, failure: QueryFailure | None
) -> tuple[Finding, ...]:
    findings: list[Finding] = []
    if failure is not None:
        findings.append(
            Finding(
                code="dmarc.temperror",
                severity=WARNING,
                summary="a DMARC lookup did not complete",
                evidence=MappingProxyType(failure.to_dict()),
                rfc="RFC 9989 §4.10.1",
            )
        )
    for step in walk.steps:
        if step.outcome == "multiple":
            findings.append(
                Finding(
                    code="dmarc.multiple_records",
                    severity=ERROR if step.domain == walk.start else WARNING,
                    summary="several DMARC records at one name; all are discarded",
                    evidence=MappingProxyType({"qname": step.qname, "records": list(step.texts)}),
                    rfc="RFC 9989 §4.10 step 2; RFC 7489 §6.6.3 step 5",
                )
            )
    if failure is None and psl_org is not None and psl_org != org:
        findings.append(
            Finding(
                code="dmarc.org_domain_disagrees",
                severity=INFO,
                summary="the DNS tree walk and the Public Suffix List give different Org Domains",
                evidence=MappingProxyType(
                    {"domain": walk.start, "tree_walk": org, "public_suffix_list": psl_org}
                ),
                rfc="RFC 9989 §4.10.2; RFC 7489 §3.2",
            )
        )
    return tuple(findings)
