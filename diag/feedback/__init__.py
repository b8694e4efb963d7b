"""What receivers report about our mail: DMARC aggregate reports (RFC 7489 Appendix C, RFC
9990), DMARC failure reports (RFC 6591) and SMTP TLS reports (RFC 8460), read from the files
and mails they come in (XML, JSON, gzip, zip, a message, an mbox) into frozen values.

A pure library: bytes in, values out, no I/O. Input is hostile by assumption: XML only through
defusedxml, every decompression bounded (``Limits``), MIME through ``diag.mime``'s caps, and
every refusal a ReportRefused with a reason code from ``REASONS``.
"""

from diag.errors import ReportRefused
from diag.feedback.aggregate import RFC9990_NAMESPACE, parse_aggregate
from diag.feedback.extract import Extracted, extract, parse_report
from diag.feedback.failure import parse_failure
from diag.feedback.limits import DEFAULT_LIMITS, REASONS, Limits
from diag.feedback.model import (
    DISPOSITIONS,
    AggregateReport,
    DkimResult,
    FailureReport,
    OverrideReason,
    PolicyPublished,
    Record,
    Report,
    SpfResult,
    Summary,
    TlsFailure,
    TlsPolicy,
    TlsReport,
)
from diag.feedback.tlsrpt import parse_tls

__all__ = [
    "DEFAULT_LIMITS",
    "DISPOSITIONS",
    "REASONS",
    "RFC9990_NAMESPACE",
    "AggregateReport",
    "DkimResult",
    "Extracted",
    "FailureReport",
    "Limits",
    "OverrideReason",
    "PolicyPublished",
    "Record",
    "Report",
    "ReportRefused",
    "SpfResult",
    "Summary",
    "TlsFailure",
    "TlsPolicy",
    "TlsReport",
    "extract",
    "parse_aggregate",
    "parse_failure",
    "parse_report",
    "parse_tls",
]
