"""The sender-domain view of DMARC: is a policy published, is it usable and strong enough.

Runs discovery, the record's own warnings, the policy choice that the message verdict shares
(``policy.applicable_policy``: ``np`` for a domain that does not exist) and the
report-destination checks; returns a ``CheckResult`` named ``dmarc`` whose ``data`` holds the
discovery facts. Never raises for problems in the domain under test.
"""

from __future__ import annotations

from types import MappingProxyType

from publicsuffixlist import PublicSuffixList

from diag.findings import ERROR, INFO, OK, WARNING, CheckResult, Finding
from diag.resolver import Resolver

from .discovery import InvalidDomainError, WalkCache, discover, normalize_domain
from .parse import DmarcRecord
from .parse import dmarc_finding as _finding
from .policy import applicable_policy
from .reports import check_report_uris

CHECK_NAME = "dmarc"


async def check_domain(
    domain: str, resolver: Resolver, *, psl: PublicSuffixList | None = None
) -> CheckResult:
    """Check the DMARC policy that covers mail with ``domain`` as its Author Domain.

    Codes: ``dmarc.no_record`` (error), ``dmarc.policy_invalid`` (error), ``dmarc.policy_none``
    (warning), ``dmarc.policy_ok``, ``dmarc.testing``, ``dmarc.inherited``, ``dmarc.no_rua``,
    the record's parse warnings (``dmarc.removed_tag`` …), the report-URI findings, and
    discovery's ``dmarc.multiple_records``, ``dmarc.org_domain_disagrees``, ``dmarc.temperror``.
    """
    try:
        domain = normalize_domain(domain)
    except InvalidDomainError as exc:
        finding = _finding("dmarc.invalid_domain", ERROR, "RFC 9989 §5.3.1", error=str(exc))
        return CheckResult(CHECK_NAME, (finding,), MappingProxyType({"domain": domain}))
    cache = WalkCache(resolver)
    discovery = await discover(domain, resolver, psl=psl, cache=cache)
    data: dict[str, object] = discovery.to_dict()
    findings = list(discovery.findings)
    record, policy_domain = discovery.record, discovery.policy_domain
    if discovery.failure is None and (record is None or policy_domain is None):
        findings.append(
            _finding(
                "dmarc.no_record",
                ERROR,
                "RFC 9989 §4.10.1",
                domain=domain,
                queries=list(discovery.queries),
            )
        )
    if discovery.failure is not None or record is None or policy_domain is None:
        return CheckResult(CHECK_NAME, tuple(findings), MappingProxyType(data))
    findings += record.warnings
    if policy_domain != domain:
        findings.append(
            _finding(
                "dmarc.inherited",
                INFO,
                "RFC 9989 §4.10.1",
                policy_domain=policy_domain,
                public_suffix_domain=discovery.psd_domain is not None,
            )
        )
    findings += await _policy_findings(
        domain, discovery.organizational_domain, policy_domain, record, data, resolver
    )
    if not record.rua:
        findings.append(_finding("dmarc.no_rua", WARNING, "RFC 9989 §4.7 rua"))
    findings += await check_report_uris(policy_domain, record, resolver, cache=cache)
    return CheckResult(CHECK_NAME, tuple(findings), MappingProxyType(data))


async def _policy_findings(
    domain: str,
    org: str,
    policy_domain: str,
    record: DmarcRecord,
    data: dict[str, object],
    resolver: Resolver,
) -> list[Finding]:
    """Policy strength for the domain as the message verdict picks it: p, sp, or np for a
    domain that does not exist (RFC 9989 §4.10.1, through ``applicable_policy``)."""
    if not record.applies:
        data["policy"] = None
        return [_finding("dmarc.policy_invalid", ERROR, "RFC 9989 §4.10.1", record=record.text)]
    policy, exists, failure = await applicable_policy(
        domain,
        policy_domain=policy_domain,
        organizational_domain=org,
        record=record,
        resolver=resolver,
    )
    data["policy"] = policy
    data["domain_exists"] = exists
    findings: list[Finding] = []
    if failure is not None:
        findings.append(
            _finding("dmarc.temperror", WARNING, "RFC 9989 §4.7 np", **failure.to_dict())
        )
    if policy == "none":
        findings.append(_finding("dmarc.policy_none", WARNING, "RFC 9989 §3.2.12", policy=policy))
    else:
        findings.append(_finding("dmarc.policy_ok", OK, "RFC 9989 §3.2.9", policy=policy))
        if record.t:
            findings.append(_finding("dmarc.testing", WARNING, "RFC 9989 §4.7 t", policy=policy))
    return findings
