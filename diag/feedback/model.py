"""The reports receivers send about our mail, as frozen values: DMARC aggregate reports (RFC 7489
Appendix C, RFC 9990), DMARC failure reports (RFC 6591 on ARF, RFC 5965) and SMTP TLS reports
(RFC 8460), and the counts that sum each one up. Pure data; the parsers build these.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from diag.jsonvalue import JsonObject

DISPOSITIONS = ("none", "quarantine", "reject")
# RFC 9990's ActionDispositionType adds "pass" (no action, DMARC passed under an enforcing
# policy): no action was taken, so it counts with "none".
_COUNTED_AS = {"pass": "none"}


class _Identified:
    """A report's identity: what makes two reports the same report (RFC 9990,
    "Definition of Report-ID": unique among one reporter's reports)."""

    org_name: str
    report_id: str

    @property
    def identity(self) -> tuple[str, str]:
        return (self.org_name, self.report_id)


@dataclass(frozen=True)
class DkimResult:
    """One DKIM signature's result, uninterpreted with respect to DMARC (``auth_results``)."""

    domain: str
    selector: str | None
    result: str
    human_result: str | None = None


@dataclass(frozen=True)
class SpfResult:
    """The SPF result for one identity (``auth_results``); ``scope`` is mfrom or helo."""

    domain: str
    scope: str | None
    result: str
    human_result: str | None = None


@dataclass(frozen=True)
class OverrideReason:
    """Why the disposition differs from the published policy (``policy_evaluated/reason``)."""

    type: str
    comment: str | None = None


@dataclass(frozen=True)
class Record:
    """One row of an aggregate report: ``count`` messages from ``source_ip`` that were judged
    alike. ``dkim`` and ``spf`` are the DMARC-aligned results (pass or fail)."""

    source_ip: str
    count: int
    disposition: str  # none, pass (RFC 9990), quarantine or reject
    dkim: str
    spf: str
    header_from: str
    envelope_from: str | None = None
    envelope_to: str | None = None
    reasons: tuple[OverrideReason, ...] = ()
    dkim_results: tuple[DkimResult, ...] = ()
    spf_results: tuple[SpfResult, ...] = ()

    @property
    def counted_disposition(self) -> str:
        """The disposition among ``DISPOSITIONS`` that this record's messages count under."""
        return _COUNTED_AS.get(self.disposition, self.disposition)


@dataclass(frozen=True)
class PolicyPublished:
    """The DMARC policy the receiver found (``policy_published``); absent tags are None."""

    domain: str
    p: str
    sp: str | None = None
    np: str | None = None
    adkim: str | None = None
    aspf: str | None = None
    pct: int | None = None
    fo: str | None = None
    testing: str | None = None
    discovery_method: str | None = None


@dataclass(frozen=True)
class AggregateReport(_Identified):
    """A DMARC aggregate report. ``schema`` is ``rfc9990`` when the report is in RFC 9990's
    namespace, else ``rfc7489``."""

    org_name: str
    email: str
    report_id: str
    begin: dt.datetime
    end: dt.datetime
    policy: PolicyPublished
    records: tuple[Record, ...]
    extra_contact_info: str | None = None
    errors: tuple[str, ...] = ()
    generator: str | None = None
    version: str | None = None
    schema: str = "rfc7489"
    kind: str = field(default="aggregate", init=False)

    def summary(self) -> Summary:
        dispositions: Counter[str] = Counter(dict.fromkeys(DISPOSITIONS, 0))
        for record in self.records:
            dispositions[record.counted_disposition] += record.count
        return Summary(
            kind=self.kind,
            org_name=self.org_name,
            report_id=self.report_id,
            begin=self.begin,
            end=self.end,
            record_count=len(self.records),
            message_count=sum(r.count for r in self.records),
            dispositions=dict(dispositions),
            dkim_aligned=sum(r.count for r in self.records if r.dkim == "pass"),
            spf_aligned=sum(r.count for r in self.records if r.spf == "pass"),
        )


@dataclass(frozen=True)
class TlsFailure:
    """One kind of failed TLS session to one MX (RFC 8460 §4.4, ``failure-details``)."""

    result_type: str
    failed_session_count: int
    sending_mta_ip: str | None = None
    receiving_mx_hostname: str | None = None
    receiving_mx_helo: str | None = None
    receiving_ip: str | None = None
    additional_information: str | None = None
    failure_reason_code: str | None = None


@dataclass(frozen=True)
class TlsPolicy:
    """One policy the sender applied and its sessions (RFC 8460 §4.4, ``policies``)."""

    policy_type: str  # sts, tlsa or no-policy-found
    policy_domain: str
    successful: int
    failed: int
    policy_strings: tuple[str, ...] = ()
    mx_hosts: tuple[str, ...] = ()
    failures: tuple[TlsFailure, ...] = ()


@dataclass(frozen=True)
class TlsReport(_Identified):
    """An SMTP TLS report (RFC 8460 §4)."""

    org_name: str
    report_id: str
    begin: dt.datetime
    end: dt.datetime
    policies: tuple[TlsPolicy, ...]
    contact_info: str | None = None
    kind: str = field(default="tls", init=False)

    def summary(self) -> Summary:
        result_types: Counter[str] = Counter()
        for policy in self.policies:
            for failure in policy.failures:
                result_types[failure.result_type] += failure.failed_session_count
        return Summary(
            kind=self.kind,
            org_name=self.org_name,
            report_id=self.report_id,
            begin=self.begin,
            end=self.end,
            record_count=len(self.policies),
            total_successful_session_count=sum(p.successful for p in self.policies),
            total_failure_session_count=sum(p.failed for p in self.policies),
            result_types=dict(sorted(result_types.items())),
        )


@dataclass(frozen=True)
class FailureReport(_Identified):
    """A DMARC failure report (RFC 6591): the ARF ``message/feedback-report`` fields and the
    headers of the message that failed. ``org_name`` is the reporter's domain (the report
    mail's From) and ``report_id`` its Message-ID, or a digest of the report when it has none.
    """

    org_name: str
    report_id: str
    feedback_type: str
    arrival_date: dt.datetime | None
    source_ip: str | None
    reported_domain: str | None
    auth_failure: tuple[str, ...] = ()
    original_mail_from: str | None = None
    original_rcpt_to: tuple[str, ...] = ()
    delivery_result: str | None = None
    identity_alignment: str | None = None
    dkim_domain: str | None = None
    dkim_selector: str | None = None
    authentication_results: tuple[str, ...] = ()
    user_agent: str | None = None
    incidents: int = 1
    fields: tuple[tuple[str, str], ...] = ()  # every feedback-report field, in order
    original_headers: tuple[tuple[str, str], ...] = ()
    kind: str = field(default="failure", init=False)

    @property
    def begin(self) -> dt.datetime | None:
        return self.arrival_date

    @property
    def end(self) -> dt.datetime | None:
        return self.arrival_date

    def summary(self) -> Summary:
        return Summary(
            kind=self.kind,
            org_name=self.org_name,
            report_id=self.report_id,
            begin=self.arrival_date,
            end=self.arrival_date,
            record_count=1,
            message_count=self.incidents,
            source_ip=self.source_ip,
            auth_failure=self.auth_failure,
            reported_domain=self.reported_domain,
        )


Report = AggregateReport | TlsReport | FailureReport


def _instant(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Summary:
    """A report's counts, the same for every kind: what an import prints per report."""

    kind: str
    org_name: str
    report_id: str
    begin: dt.datetime | None
    end: dt.datetime | None
    record_count: int
    message_count: int = 0
    dispositions: dict[str, int] = field(default_factory=dict)
    dkim_aligned: int = 0
    spf_aligned: int = 0
    total_successful_session_count: int = 0
    total_failure_session_count: int = 0
    result_types: dict[str, int] = field(default_factory=dict)
    source_ip: str | None = None
    auth_failure: tuple[str, ...] = ()
    reported_domain: str | None = None

    def to_json(self) -> JsonObject:
        """The keys DESIGN.md gives for ``reports import --json``, by kind."""
        out: JsonObject = {
            "kind": self.kind,
            "org_name": self.org_name,
            "report_id": self.report_id,
            "begin": _instant(self.begin),
            "end": _instant(self.end),
            "record_count": self.record_count,
        }
        if self.kind == "aggregate":
            out["message_count"] = self.message_count
            out["dispositions"] = dict(self.dispositions)
            out["dkim_aligned"] = self.dkim_aligned
            out["spf_aligned"] = self.spf_aligned
        elif self.kind == "tls":
            out["total_successful_session_count"] = self.total_successful_session_count
            out["total_failure_session_count"] = self.total_failure_session_count
            out["result_types"] = dict(self.result_types)
        else:
            out["message_count"] = self.message_count
            out["source_ip"] = self.source_ip
            out["auth_failure"] = list(self.auth_failure)
            out["reported_domain"] = self.reported_domain
        return out
