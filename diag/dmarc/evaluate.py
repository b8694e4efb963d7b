"""The DMARC verdict on one message (RFC 9989 §5.3; RFC 7489 §6.6 as the ``rfc7489`` version).

Takes the already-computed SPF and DKIM results and the From domains; does the policy
discovery, the alignment walks and the policy choice. It does not parse messages and does
not run SPF or DKIM itself.

Decisions where the texts leave room (each has a test):
- D-10: a record without a valid ``p`` is handled by RFC 9989 §4.10.1 (the processing rule
  that §4.7 "p" itself points to): ``p=none`` when ``rua`` holds a valid URI, else no DMARC
  processing (``none``), as RFC 7489 §6.6.3 step 6 did.
- D-11: ``sp``/``np`` are about subdomains *of the Organizational Domain* (§4.7 "sp", "np").
  When the record comes from a PSD (``psd=y``) and the Author Domain is itself the
  Organizational Domain, ``p`` applies if it exists and ``np`` if it does not.
- A record whose tag-list cannot be split into tags (``v=DMARC1; p=none; reject``) is an
  "improperly formatted DMARC Policy Record": ``permerror`` (§9.2; RFC 7489 §11.2). A tag
  with a bad value is not: its default is used (§4.8).
- Several From domains: each is evaluated; a failing one with the strictest disposition
  decides (RFC 9989 §11.5, RFC 7489 §6.6.1); none at all is a ``permerror``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

from publicsuffixlist import PublicSuffixList

from diag.findings import ERROR, INFO, WARNING, Finding
from diag.jsonvalue import JsonObject
from diag.resolver import QueryFailure, Resolver, normalize_name

from .alignment import dkim_aligned, spf_aligned
from .discovery import (
    InvalidDomainError,
    WalkCache,
    default_psl,
    discover,
    normalize_domain,
    psl_organizational_domain,
    tree_walk,
)
from .parse import DmarcRecord, Policy
from .parse import dmarc_finding as _finding
from .policy import applicable_policy

DmarcOutcome = Literal["pass", "fail", "none", "temperror", "permerror"]
DmarcVersion = Literal["rfc9989", "rfc7489"]
_STRICTNESS: Mapping[str, int] = MappingProxyType({"none": 0, "quarantine": 1, "reject": 2})
_ONE_STEP_DOWN: Mapping[Policy, Policy] = MappingProxyType(
    {"reject": "quarantine", "quarantine": "none", "none": "none"}
)  # RFC 9989 §4.7 "t"; RFC 7489 §6.6.4
_DECIDING = frozenset({"pass", "temperror"})


@dataclass(frozen=True)
class DmarcResult:
    """The DMARC outcome for a message. ``spf_aligned``/``dkim_aligned`` mean an aligned *pass*.

    ``policy`` is the Domain Owner Assessment Policy that applies to the Author Domain;
    ``disposition`` is what a receiver following it does with this message (``none`` unless
    the result is ``fail``; one step down under ``t=y`` or an unsampled ``pct``).
    """

    result: DmarcOutcome
    from_domain: str = ""
    policy: Policy = "none"
    disposition: Policy = "none"
    policy_domain: str | None = None
    organizational_domain: str | None = None
    spf_aligned: bool = False
    dkim_aligned: bool = False
    testing: bool = False
    version: DmarcVersion = "rfc9989"
    record: DmarcRecord | None = None
    findings: tuple[Finding, ...] = ()
    domains: tuple[DmarcResult, ...] = ()

    def to_dict(self) -> JsonObject:
        data: JsonObject = {
            "result": self.result,
            "policy": self.policy,
            "disposition": self.disposition,
            "from_domain": self.from_domain,
            "policy_domain": self.policy_domain,
            "organizational_domain": self.organizational_domain,
            "spf_aligned": self.spf_aligned,
            "dkim_aligned": self.dkim_aligned,
            "testing": self.testing,
            "version": self.version,
            "record": self.record.text if self.record else None,
            "findings": [f.to_dict() for f in self.findings],
        }
        if self.domains:
            data["domains"] = [d.to_dict() for d in self.domains]
        return data


@dataclass
class _Inputs:
    """What one evaluation shares between its From domains (per call, never global)."""

    spf_result: str
    spf_domain: str
    dkim_results: tuple[tuple[str, str], ...]
    resolver: Resolver
    exists: bool | None
    version: DmarcVersion
    psl: PublicSuffixList
    rng: random.Random | None
    cache: WalkCache


async def evaluate(
    *,
    from_header_domains: Sequence[str],
    spf_result: str,
    spf_domain: str,
    dkim_results: Sequence[tuple[str, str]],
    resolver: Resolver,
    from_domain_exists: bool | None = None,
    version: DmarcVersion = "rfc9989",
    psl: PublicSuffixList | None = None,
    rng: random.Random | None = None,
) -> DmarcResult:
    """Evaluate DMARC for a message whose From field holds ``from_header_domains``.

    ``dkim_results`` are ``(result, d=)`` pairs; ``spf_domain`` is the MAIL FROM domain (or
    the HELO domain for a null path, RFC 7208 §2.4). ``from_domain_exists`` skips the
    existence queries used for ``np`` (it applies only when there is one From domain).
    ``rng`` draws the RFC 7489 ``pct`` sample. DNS failures become ``temperror``; this never
    raises for problems in the message or the DNS.
    """
    unique: dict[str, str] = {}
    for raw in from_header_domains:
        if raw.strip():
            unique.setdefault(normalize_name(raw), raw.strip())
    domains = list(unique.values())
    if not domains:
        finding = _finding("dmarc.no_from_domain", ERROR, "RFC 9989 §5.3.1")
        return DmarcResult("permerror", version=version, findings=(finding,))
    inputs = _Inputs(
        spf_result=(spf_result or "none").strip().lower(),
        spf_domain=(spf_domain or "").rpartition("@")[2],
        dkim_results=tuple((r.strip().lower(), d) for r, d in dkim_results),
        resolver=resolver,
        exists=from_domain_exists if len(domains) == 1 else None,
        version=version,
        psl=psl or default_psl(),
        rng=rng,
        cache=WalkCache(resolver),
    )
    results = [await _evaluate_domain(domain, inputs) for domain in domains]
    if len(results) == 1:
        return results[0]
    return _combine(results)


def _combine(results: list[DmarcResult]) -> DmarcResult:
    """Several Author Domains: the strictest failing policy decides (RFC 9989 §11.5)."""
    failing = [r for r in results if r.result == "fail"]
    if failing:
        chosen = max(failing, key=lambda r: (_STRICTNESS[r.disposition], _STRICTNESS[r.policy]))
    else:
        order = ("temperror", "permerror", "pass", "none")
        chosen = min(results, key=lambda r: order.index(r.result))
    note = _finding(
        "dmarc.multiple_from_domains",
        INFO,
        "RFC 9989 §11.5",
        domains=[r.from_domain for r in results],
        deciding=chosen.from_domain,
    )
    return replace(chosen, domains=tuple(results), findings=(*chosen.findings, note))


async def _evaluate_domain(raw_domain: str, inputs: _Inputs) -> DmarcResult:
    version = inputs.version
    try:
        domain = normalize_domain(raw_domain)
    except InvalidDomainError as exc:
        finding = _finding(
            "dmarc.invalid_from_domain", ERROR, "RFC 9989 §5.3.1", domain=raw_domain, error=str(exc)
        )
        return DmarcResult(
            "permerror", from_domain=raw_domain, version=version, findings=(finding,)
        )
    discovery = await discover(domain, inputs.resolver, psl=inputs.psl, cache=inputs.cache)
    base = DmarcResult("none", from_domain=domain, version=version, findings=discovery.findings)
    if discovery.failure is not None:
        return replace(base, result="temperror")
    if version == "rfc7489":
        view = discovery.rfc7489
        record, policy_domain, org = view.record, view.policy_domain, view.organizational_domain
    else:
        record, policy_domain = discovery.record, discovery.policy_domain
        org = discovery.organizational_domain
    base = replace(base, policy_domain=policy_domain, organizational_domain=org, record=record)
    if record is None:
        return base
    if record.malformed:
        return replace(base, result="permerror", findings=(*base.findings, *record.warnings))
    if not record.applies:
        finding = _finding("dmarc.policy_invalid", WARNING, "RFC 9989 §4.10.1", record=record.text)
        return replace(base, findings=(*base.findings, finding))
    return await _judge(base, domain, record, inputs)


async def _judge(
    base: DmarcResult, domain: str, record: DmarcRecord, inputs: _Inputs
) -> DmarcResult:
    """Alignment, pass/fail/temperror, the applicable policy and the disposition."""
    aligned = await _alignment(domain, base.organizational_domain, record, inputs)
    spf_ok, dkim_ok, failures = aligned.spf, aligned.dkim, aligned.failures
    outcome: DmarcOutcome = "pass" if spf_ok or dkim_ok else "fail"
    if outcome == "fail" and (failures or aligned.undecided):
        outcome = "temperror"  # RFC 7489 §6.6.2; RFC 9989 §5.3.6
    policy, _, exists_failure = await applicable_policy(
        domain,
        policy_domain=base.policy_domain,
        organizational_domain=base.organizational_domain,
        record=record,
        resolver=inputs.resolver,
        exists=inputs.exists,
    )
    if exists_failure is not None:
        failures.append(exists_failure)
        outcome = "temperror" if outcome == "fail" else outcome
    findings = list(base.findings)
    findings += [
        _finding("dmarc.temperror", WARNING, "RFC 9989 §5.3.6", **f.to_dict()) for f in failures
    ]
    testing = inputs.version == "rfc9989" and record.t
    disposition: Policy = "none"
    if outcome == "fail":
        disposition = policy
        if testing or not _sampled(record, inputs):
            disposition = _ONE_STEP_DOWN[policy]
    return replace(
        base,
        result=outcome,
        policy=policy,
        disposition=disposition,
        spf_aligned=spf_ok,
        dkim_aligned=dkim_ok,
        testing=testing,
        findings=tuple(findings),
    )


def _sampled(record: DmarcRecord, inputs: _Inputs) -> bool:
    """RFC 7489 §6.6.4 ``pct``; RFC 9989 removed it (Appendix A.6), so it always applies there."""
    if inputs.version == "rfc9989" or record.pct >= 100:
        return True
    if record.pct <= 0:
        return False
    rng = inputs.rng or random.Random()
    return rng.randrange(100) < record.pct


@dataclass
class _Alignment:
    """Aligned passes, and whether an aligned identifier ended in temperror (R-25)."""

    spf: bool = False
    dkim: bool = False
    undecided: bool = False
    failures: list[QueryFailure] = field(default_factory=list)


async def _alignment(
    domain: str, author_org: str | None, record: DmarcRecord, inputs: _Inputs
) -> _Alignment:
    """Whether SPF and any DKIM signature give an aligned pass (RFC 9989 §4.10.2, §5.3.4).

    A temperror counts only for an identifier that aligns: had it passed, it would decide.
    """
    state = _Alignment()
    orgs: dict[str, str | None] = {domain: author_org}

    async def aligned(identifier: str, mode: Literal["r", "s"], spf: bool) -> bool:
        try:
            identifier = normalize_domain(identifier)
        except InvalidDomainError:
            return False
        if mode == "r" and identifier not in orgs:
            orgs[identifier] = await _org_domain(identifier, inputs, state.failures)
        check = spf_aligned if spf else dkim_aligned
        return check(domain, identifier, mode=mode, org_domains=orgs)

    spf_counts = inputs.spf_result in _DECIDING and bool(inputs.spf_domain)
    if spf_counts and await aligned(inputs.spf_domain, record.aspf, spf=True):
        state.spf = inputs.spf_result == "pass"
        state.undecided = inputs.spf_result == "temperror"
    for result, signing_domain in inputs.dkim_results:
        if result in _DECIDING and await aligned(signing_domain, record.adkim, spf=False):
            state.dkim = state.dkim or result == "pass"
            state.undecided = state.undecided or result == "temperror"
        if state.dkim:
            break
    return state


async def _org_domain(identifier: str, inputs: _Inputs, failures: list[QueryFailure]) -> str | None:
    if inputs.version == "rfc7489":
        return psl_organizational_domain(identifier, inputs.psl)
    walk = await tree_walk(identifier, inputs.resolver, cache=inputs.cache)
    if walk.failure is not None:
        failures.append(walk.failure)
        return None
    return walk.organizational_domain
