"""The sender-domain report: every check of one identity (or one bare domain) run concurrently
through one Resolver under one deadline.

What did not finish by the deadline, or could not be asked, is reported as not checked with a
``sender.not_checked`` finding, never as a failure of the domain. Nothing here raises for a
problem in the domain under test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType

from publicsuffixlist import PublicSuffixList

from diag.deadline import gather_within
from diag.dmarc import default_psl
from diag.errors import DnsError
from diag.findings import ERROR, INFO, WARNING, Finding, has_errors, worst_severity
from diag.jsonvalue import JsonObject, json_key, json_object
from diag.resolver import Resolver, normalize_name
from diag.senders.checks import (
    Part,
    alignment_part,
    bounce_mx_part,
    dkim_discovery_part,
    dkim_selector_part,
    dmarc_part,
    dnsbl_part,
    finding,
    reverse_part,
    sign_sample,
    spf_ip_part,
    spf_lint_part,
    verify_sample,
)
from diag.senders.spec import COMMON_SELECTORS, SenderSpec
from diag.senders.waves import WAVES, Check, Job, Pacing, Sample

log = logging.getLogger(__name__)

SECTIONS = ("spf", "dkim", "dmarc", "alignment", "reverse", "dnsbl", "bounce_mx", "sample")
DEFAULT_DEADLINE = 15.0  # seconds for a whole report
STATUSES = ("ok", "warning", "problem", "not_checked")


@dataclass(frozen=True)
class Section:
    """One area of the report (SPF, DKIM, ...): its checks' data by label and their findings."""

    key: str
    checks: Mapping[str, Mapping[str, object]]
    findings: tuple[Finding, ...]
    not_checked: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """``problem`` (an error), ``warning``, ``not_checked`` (nothing finished) or ``ok``."""
        if has_errors(self.findings):
            return "problem"
        if not self.checks and self.not_checked:
            return "not_checked"
        if self.not_checked or worst_severity(self.findings) is WARNING:
            return "warning"
        return "ok"

    def to_dict(self) -> JsonObject:
        return {
            "status": self.status,
            "checks": {label: json_object(data) for label, data in self.checks.items()},
            "not_checked": list(self.not_checked),
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(frozen=True)
class SenderReport:
    """The report on one sender identity (``kind="identity"``) or one bare domain (``"domain"``)."""

    subject: str
    kind: str
    domain: str
    identity: Mapping[str, object]
    sections: tuple[Section, ...]
    elapsed: float = 0.0
    extra_findings: tuple[Finding, ...] = field(default=())

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every finding once, section by section."""
        return _dedupe([*self.extra_findings, *(f for s in self.sections for f in s.findings)])

    @property
    def has_errors(self) -> bool:
        return has_errors(self.findings)

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)

    def to_dict(self) -> JsonObject:
        data: JsonObject = {
            "subject": self.subject,
            "kind": self.kind,
            "domain": self.domain,
            "identity": json_object(self.identity),
            "status": "problem" if self.has_errors else "ok",
            "elapsed_ms": round(self.elapsed * 1000, 1),
        }
        data["general"] = [f.to_dict() for f in self.extra_findings]
        data.update({s.key: s.to_dict() for s in self.sections})
        data["findings"] = [f.to_dict() for f in self.findings]
        return data


async def check_sender(
    spec: SenderSpec,
    resolver: Resolver,
    *,
    dnsbl_zones: Sequence[str] = (),
    deadline: float = DEFAULT_DEADLINE,
    now: float | None = None,
    psl: PublicSuffixList | None = None,
    pacing: Pacing = WAVES,
) -> SenderReport:
    """The full report on one configured identity. ``now`` dates the sample mail (epoch seconds).
    ``pacing`` orders the lookups (``diag.senders.waves``); it never changes a result.

    ``psl`` is the Public Suffix List to use; building one costs ~0.15 s of CPU, so callers
    that run several reports should build it once and pass it.
    """
    started = time.perf_counter()
    clock = time.time() if now is None else now
    checks, extra = _identity_checks(
        spec, dnsbl_zones, clock, psl if psl is not None else default_psl()
    )
    parts, missing = await run_jobs(pacing.jobs(checks, resolver), deadline)
    identity = {
        "address": spec.address,
        "from_domain": spec.domain,
        "envelope_domain": spec.envelope,
        "dkim_domain": spec.signing_domain,
        "selectors": list(spec.selectors),
        "algorithm": spec.algorithm,
        "egress_ips": list(spec.egress_ips),
        "helo": spec.helo,
    }
    sections = _sections(parts, missing, deadline)
    elapsed = time.perf_counter() - started
    return SenderReport(
        spec.address, "identity", spec.domain, identity, sections, elapsed, tuple(extra)
    )


async def check_sender_domain(
    domain: str,
    resolver: Resolver,
    *,
    deadline: float = DEFAULT_DEADLINE,
    selectors: Sequence[str] = COMMON_SELECTORS,
    psl: PublicSuffixList | None = None,
) -> SenderReport:
    """What the DNS alone says about ``domain`` as a sender: SPF lint, DMARC, bounce MX, DKIM
    under common selectors. SPF evaluation and reverse DNS need egress IPs, so they are absent.
    """
    started = time.perf_counter()
    domain = normalize_name(domain)
    jobs: list[Job] = [
        ("dmarc", "record", dmarc_part(domain, resolver, psl)),
        ("spf", "lint", spf_lint_part(domain, resolver)),
        ("dkim", "common", dkim_discovery_part(domain, selectors, resolver)),
        ("bounce_mx", "mx", bounce_mx_part(domain, resolver)),
    ]
    parts, missing = await run_jobs(jobs, deadline)
    sections = _sections(parts, missing, deadline)
    identity = {"domain": domain, "selectors_tried": list(selectors)}
    return SenderReport(domain, "domain", domain, identity, sections, time.perf_counter() - started)


def _identity_checks(
    spec: SenderSpec, zones: Sequence[str], now: float, psl: PublicSuffixList
) -> tuple[list[Check | Sample], list[Finding]]:
    """Every check of one identity, chained ones first, and the findings about what cannot be
    checked at all."""
    ips, helo = spec.egress_ips, spec.helo or None
    checks: list[Check | Sample] = [
        Check("dmarc", "record", partial(dmarc_part, spec.domain, psl=psl), chained=True),
        Check("spf", "lint", partial(spf_lint_part, spec.envelope), chained=True),
        *(Check("spf", f"ip:{ip}", partial(spf_ip_part, spec, ip), chained=True) for ip in ips),
        *(Check("reverse", ip, partial(reverse_part, ip, helo), chained=True) for ip in ips),
        Check("alignment", "alignment", partial(alignment_part, spec, psl=psl), chained=True),
        *(
            Check("dkim", f"selector:{s}", partial(dkim_selector_part, spec, s))
            for s in spec.selectors
        ),
    ]
    if not spec.selectors:
        discovery = partial(dkim_discovery_part, spec.signing_domain, COMMON_SELECTORS)
        checks.append(Check("dkim", "common", discovery))
    checks += [Check("dnsbl", ip, partial(dnsbl_part, ip, zones)) for ip in ips if zones]
    checks.append(Check("bounce_mx", "mx", partial(bounce_mx_part, spec.envelope)))
    if spec.private_key is not None and not spec.key_error:
        checks += [_sample(spec, s, now) for s in spec.selectors]
    return checks, _unchecked(spec)


def _sample(spec: SenderSpec, selector: str, now: float) -> Sample:
    label = f"selector:{selector}"
    sign = partial(sign_sample, spec, selector, now=now)
    verify = partial(verify_sample, spec, selector)
    return Sample("sample", label, sign, verify, after=("dkim", label))


def _unchecked(spec: SenderSpec) -> list[Finding]:
    """What the identity's configuration leaves out: a DKIM selector, a readable private key,
    a private key at all, egress IPs."""
    found = []
    if not spec.selectors:
        found.append(
            finding(
                "sender.dkim_no_selector",
                WARNING,
                "no DKIM selector is configured",
                address=spec.address,
            )
        )
    if spec.key_error:
        found.append(
            finding(
                "sender.key_unreadable",
                ERROR,
                "the DKIM private key cannot be read",
                address=spec.address,
                error=spec.key_error,
            )
        )
    elif spec.private_key is None:
        found.append(
            finding(
                "sender.no_private_key",
                INFO,
                "no DKIM key configured: no sample signed",
                address=spec.address,
            )
        )
    if not spec.egress_ips:
        found.append(
            finding(
                "sender.no_egress_ips",
                INFO,
                "no egress IPs: SPF evaluation and reverse DNS skipped",
                address=spec.address,
            )
        )
    return found


async def run_jobs(
    jobs: Iterable[Job], deadline: float
) -> tuple[list[Part], list[tuple[str, str, str]]]:
    """Run every job concurrently under one deadline: the parts that finished, and what did not
    (section, label, reason) — ``deadline``, a DNS error reason, or an unexpected error type.
    """
    listed = list(jobs)
    gathered = await gather_within({i: job for i, (_, _, job) in enumerate(listed)}, deadline)
    missing = [
        (section, label, _why(section, label, gathered.errors.get(i)))
        for i, (section, label, _) in enumerate(listed)
        if i not in gathered.results
    ]
    return list(gathered.results.values()), missing


def _why(section: str, label: str, error: BaseException | None) -> str:
    """Why a check is missing: ``deadline`` (no error), a DNS error reason, or the error type."""
    if error is None:
        return "deadline"
    if isinstance(error, DnsError):
        return error.reason
    log.warning("sender.check_error section=%s label=%s error=%r", section, label, error)
    return f"error:{type(error).__name__}"


def _sections(
    parts: list[Part], missing: list[tuple[str, str, str]], deadline: float
) -> tuple[Section, ...]:
    sections = []
    for key in SECTIONS:
        mine = [p for p in parts if p.section == key]
        lost = [(label, reason) for section, label, reason in missing if section == key]
        if not mine and not lost:
            continue
        findings = [f for p in mine for f in p.findings]
        findings += [
            finding(
                "sender.not_checked",
                WARNING,
                "this check did not finish",
                section=key,
                check=label,
                reason=reason,
                deadline=deadline,
            )
            for label, reason in lost
        ]
        checks = MappingProxyType({p.label: p.data for p in mine})
        sections.append(Section(key, checks, _dedupe(findings), tuple(label for label, _ in lost)))
    return tuple(sections)


def _by_name(entry: tuple[str, object]) -> str:
    return str(entry[0])


def _dedupe(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """``findings`` without repeats: the same code with the same evidence as JSON, in any
    order of its names."""
    seen: set[tuple[str, Hashable]] = set()
    kept = []
    for item in findings:
        key = (item.code, json_key(dict(sorted(item.evidence.items(), key=_by_name))))
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return tuple(kept)
