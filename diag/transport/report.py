"""The transport-security report of a recipient domain: what was found for MTA-STS, TLS-RPT,
DANE and STARTTLS, and the findings. Frozen values; ``to_dict`` is the JSON shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from diag.findings import Finding, has_errors
from diag.jsonvalue import JsonObject
from diag.transport.dane import Tlsa
from diag.transport.mtasts import MtaStsPolicy, MtaStsRecord
from diag.transport.starttls import StartTls
from diag.transport.tlsrpt import TlsRptRecord


@dataclass(frozen=True)
class MtaSts:
    """The ``_mta-sts`` record as published and the policy, when it was fetched and read.

    ``fetch_error`` is a ``PolicyFetchError`` reason, ``not_fetched`` when no fetcher was
    given (the lab), or ``""``.
    """

    url: str
    record: str = ""
    parsed: MtaStsRecord | None = None
    policy: MtaStsPolicy | None = None
    fetch_error: str = ""

    def to_dict(self) -> JsonObject:
        policy = self.policy
        return {
            "record": self.record,
            "id": self.parsed.id if self.parsed else None,
            "url": self.url,
            "fetched": policy is not None,
            "fetch_error": self.fetch_error,
            "policy": None
            if policy is None
            else {"mode": policy.mode, "max_age": policy.max_age, "mx": list(policy.mx)},
        }


@dataclass(frozen=True)
class TlsRpt:
    """The ``_smtp._tls`` record as published and where it asks for reports."""

    record: str = ""
    parsed: TlsRptRecord | None = None

    def to_dict(self) -> JsonObject:
        return {"record": self.record, "rua": list(self.parsed.rua) if self.parsed else []}


@dataclass(frozen=True)
class DaneHost:
    """One MX host's TLSA records: as published, whether DNSSEC vouched for them, the ones an
    SMTP client may use, those it may not (with the reason) and those that do not parse.
    ``matched`` says whether a usable record matched the probed certificate (None: not
    compared)."""

    host: str
    records: tuple[str, ...] = ()
    authenticated: bool = False
    usable: tuple[Tlsa, ...] = ()
    unusable: tuple[tuple[str, str], ...] = ()
    malformed: tuple[tuple[str, str], ...] = ()
    matched: bool | None = None

    def to_dict(self) -> JsonObject:
        return {
            "host": self.host,
            "records": list(self.records),
            "authenticated": self.authenticated,
            "usable": [{"record": str(r), "label": r.label} for r in self.usable],
            "unusable": [{"record": r, "reason": why} for r, why in self.unusable],
            "malformed": [{"record": r, "error": why} for r, why in self.malformed],
            "matched": self.matched,
        }


@dataclass(frozen=True)
class TransportReport:
    """MTA-STS, TLS-RPT, DANE and STARTTLS for one recipient domain.

    ``checked`` is False when the domain has no mail server to check (null MX, no MX host,
    a failed MX lookup): then there is nothing else.
    """

    domain: str
    checked: bool = False
    mta_sts: MtaSts | None = None
    tlsrpt: TlsRpt | None = None
    dane: tuple[DaneHost, ...] = ()
    starttls: StartTls | None = None
    findings: tuple[Finding, ...] = ()

    @property
    def has_errors(self) -> bool:
        return has_errors(self.findings)

    def to_dict(self) -> JsonObject:
        return {
            "domain": self.domain,
            "checked": self.checked,
            "mta_sts": self.mta_sts.to_dict() if self.mta_sts else None,
            "tlsrpt": self.tlsrpt.to_dict() if self.tlsrpt else None,
            "dane": [host.to_dict() for host in self.dane],
            "starttls": self.starttls.to_dict() if self.starttls else None,
            "findings": [f.to_dict() for f in self.findings],
        }


__all__ = ["DaneHost", "MtaSts", "TlsRpt", "TransportReport"]
