"""What receivers report about our mail, kept in the database: importing DMARC aggregate,
failure and SMTP TLS report files (``ingest``), the tables they go to, and the questions the
reports page and the support checklist ask of them (``queries``).

Parsing is ``diag.feedback``'s; this package stores and reads. Blocking SQLAlchemy Core.
"""

from maildiag.feedback.ingest import IngestResult, Source, ingest
from maildiag.feedback.models import metadata
from maildiag.feedback.queries import (
    DayTally,
    DomainTotal,
    Observation,
    Period,
    Receiver,
    RecordRow,
    SourceIp,
    Tally,
    TlsFailureGroup,
    TlsSessions,
    daily,
    enforcing_receivers,
    receiver_observations,
    records,
    sender_domains,
    tls_failures,
    tls_sessions,
    top_source_ips,
)

__all__ = [
    "DayTally",
    "DomainTotal",
    "IngestResult",
    "Observation",
    "Period",
    "Receiver",
    "RecordRow",
    "Source",
    "SourceIp",
    "Tally",
    "TlsFailureGroup",
    "TlsSessions",
    "daily",
    "enforcing_receivers",
    "ingest",
    "metadata",
    "receiver_observations",
    "records",
    "sender_domains",
    "tls_failures",
    "tls_sessions",
    "top_source_ips",
]
