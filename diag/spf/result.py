"""The values check_host() returns: the result, its trace steps and its findings (RFC 7208 §2.6).

Frozen and JSON-ready; nothing here does I/O or evaluates anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from diag.findings import ERROR, INFO, WARNING, Finding, Severity
from diag.jsonvalue import JsonObject, json_object

RESULTS = ("pass", "fail", "softfail", "neutral", "none", "permerror", "temperror")
QUALIFIER_RESULTS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}  # RFC 7208 §4.6.2
_EMPTY: Mapping[str, object] = MappingProxyType({})

PROBLEM_SUMMARIES = {
    "spf.too_many_lookups": "more than 10 DNS-querying terms were evaluated",
    "spf.void_lookup_limit": "more than 2 lookups returned no answer",
    "spf.too_many_mx": "an mx mechanism found more than 10 MX names",
    "spf.syntax": "the SPF record does not follow the RFC 7208 grammar",
    "spf.multiple_records": "the domain publishes more than one SPF record",
    "spf.include_none": "an include points at a domain with no SPF record",
    "spf.redirect_none": "a redirect points at a domain with no SPF record",
    "spf.dns_temperror": "a DNS query failed (timeout or server failure)",
    "spf.no_record": "the domain publishes no SPF record",
    "spf.invalid_domain": "the domain is not a valid fully qualified domain name",
}
PROBLEM_RFC = {
    "spf.too_many_lookups": "RFC 7208 §4.6.4",
    "spf.void_lookup_limit": "RFC 7208 §4.6.4",
    "spf.too_many_mx": "RFC 7208 §4.6.4",
    "spf.syntax": "RFC 7208 §4.6",
    "spf.multiple_records": "RFC 7208 §4.5",
    "spf.include_none": "RFC 7208 §5.2",
    "spf.redirect_none": "RFC 7208 §6.1",
    "spf.dns_temperror": "RFC 7208 §4.4",
    "spf.no_record": "RFC 7208 §4.5",
    "spf.invalid_domain": "RFC 7208 §4.3",
}


@dataclass(frozen=True)
class TraceStep:
    """One step of an evaluation: a record fetched, a lookup made, a term evaluated."""

    kind: str
    depth: int
    domain: str
    text: str
    outcome: str
    detail: Mapping[str, object] = field(default_factory=lambda: _EMPTY)

    def to_dict(self) -> JsonObject:
        return {
            "kind": self.kind,
            "depth": self.depth,
            "domain": self.domain,
            "text": self.text,
            "outcome": self.outcome,
            "detail": json_object(self.detail),
        }


@dataclass(frozen=True)
class SpfResult:
    """The outcome of check_host(): the result, why, and every step that led to it.

    ``problem`` is a stable code when the result is permerror, temperror or none.
    """

    result: str
    explanation: str | None
    mechanism: str | None
    domain: str
    lookups: int
    void_lookups: int
    trace: tuple[TraceStep, ...]
    problem: str | None
    findings: tuple[Finding, ...]

    def to_dict(self) -> JsonObject:
        return {
            "result": self.result,
            "explanation": self.explanation,
            "mechanism": self.mechanism,
            "domain": self.domain,
            "lookups": self.lookups,
            "void_lookups": self.void_lookups,
            "problem": self.problem,
            "trace": [step.to_dict() for step in self.trace],
            "findings": [finding.to_dict() for finding in self.findings],
        }


def problem_finding(result: str, problem: str, evidence: Mapping[str, object]) -> Finding:
    """The finding that explains a permerror, temperror or none result."""
    return Finding(
        code=problem,
        severity=_severity(result),
        summary=PROBLEM_SUMMARIES.get(problem, problem),
        evidence=MappingProxyType(dict(evidence)),
        rfc=PROBLEM_RFC.get(problem, "RFC 7208"),
    )


def _severity(result: str) -> Severity:
    return {"permerror": ERROR, "temperror": WARNING}.get(result, INFO)
