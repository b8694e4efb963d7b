"""Findings and check results: the frozen values every check returns.

A finding has a stable ``code`` that tests and templates key on; ``summary`` is a plain
English fallback, and reports render their own wording (nb, en) from the code and evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from diag.jsonvalue import JsonObject, json_object


class Severity(StrEnum):
    """How much a finding matters; ``ERROR`` makes the CLI exit 1."""

    INFO = "info"
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


INFO = Severity.INFO
OK = Severity.OK
WARNING = Severity.WARNING
ERROR = Severity.ERROR


@dataclass(frozen=True)
class Finding:
    """One observation with a stable code, its evidence, and what to do about it."""

    code: str
    severity: Severity
    summary: str
    evidence: Mapping[str, object] = field(default_factory=dict)
    rfc: str = ""
    fix: str = ""

    def to_dict(self) -> JsonObject:
        """The JSON shape every report uses."""
        return {
            "code": self.code,
            "severity": str(self.severity),
            "summary": self.summary,
            "evidence": json_object(self.evidence),
            "rfc": self.rfc,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one named check: its findings and any structured data."""

    name: str
    findings: tuple[Finding, ...] = ()
    data: Mapping[str, object] = field(default_factory=dict)

    @property
    def worst(self) -> Severity:
        """The most severe finding's severity (``OK`` when there are none)."""
        return worst_severity(self.findings)


_ORDER = {INFO: 0, OK: 1, WARNING: 2, ERROR: 3}


def worst_severity(findings: Iterable[Finding]) -> Severity:
    """The most severe severity among ``findings``, ``OK`` for none."""
    worst = OK
    for finding in findings:
        if _ORDER[finding.severity] > _ORDER[worst]:
            worst = finding.severity
    return worst


def has_errors(findings: Iterable[Finding]) -> bool:
    """True when any finding is of error severity."""
    return any(f.severity is ERROR for f in findings)
