"""The tables that keep what receivers reported: one row per report (any kind), its aggregate
records, its TLS policies and their failures, the details of a failure report, and every
upload or part that was refused, with its reason.

SQLAlchemy Core tables on their own MetaData (the migrations include it), the same on SQLite
and PostgreSQL. Records and TLS policies carry copies of what the pages filter on (the
reporter, the day, the sender domain) so those queries read one table.
"""

from __future__ import annotations

import sqlalchemy as sa

from maildiag.tables import ID, NAMING_CONVENTION

MAX_NAME = 255  # domains (RFC 1035 §2.3.4), reporter names, report ids
MAX_TEXT = 2048  # free text kept from a report, already cut by diag.feedback's limits

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def _report_fk() -> sa.Column[int]:
    return sa.Column(
        "report_id",
        ID,
        sa.ForeignKey("feedback_reports.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


reports = sa.Table(
    "feedback_reports",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("org_name", sa.String(MAX_NAME), nullable=False),
    sa.Column("report_id", sa.String(MAX_NAME), nullable=False),
    sa.Column("email_domain", sa.String(MAX_NAME), nullable=True, index=True),
    sa.Column("policy_domain", sa.String(MAX_NAME), nullable=True, index=True),
    sa.Column("begin", sa.DateTime(timezone=True), nullable=True),
    sa.Column("end", sa.DateTime(timezone=True), nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.String(MAX_NAME), nullable=False),
    sa.Column("record_count", sa.Integer, nullable=False),
    sa.Column("message_count", sa.BigInteger, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),  # metadata, policy published, errors
    sa.UniqueConstraint("kind", "org_name", "report_id", name="identity"),
    sa.CheckConstraint("kind IN ('aggregate', 'failure', 'tls')", name="kind"),
)
"""One row per report. ``(kind, org_name, report_id)`` is a report's identity: a report
imported again is counted once."""

records = sa.Table(
    "feedback_records",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    _report_fk(),
    sa.Column("org_name", sa.String(MAX_NAME), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("header_from", sa.String(MAX_NAME), nullable=False),
    sa.Column("source_ip", sa.String(45), nullable=False, index=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("disposition", sa.String(16), nullable=False),
    sa.Column("dkim", sa.String(16), nullable=False),
    sa.Column("spf", sa.String(16), nullable=False),
    sa.Column("envelope_from", sa.String(MAX_NAME), nullable=True),
    sa.Column("envelope_to", sa.String(MAX_NAME), nullable=True, index=True),
    sa.Column("auth_results", sa.JSON, nullable=False),  # dkim and spf results, reasons
    sa.Index("ix_feedback_records_header_from_day", "header_from", "day"),
)
"""One row per aggregate record; ``day`` is the UTC day of the middle of the report's range
and ``dkim``/``spf`` are the DMARC-aligned results."""

tls_policies = sa.Table(
    "feedback_tls_policies",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    _report_fk(),
    sa.Column("org_name", sa.String(MAX_NAME), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("policy_type", sa.String(32), nullable=False),
    sa.Column("policy_domain", sa.String(MAX_NAME), nullable=False),
    sa.Column("successful", sa.BigInteger, nullable=False),
    sa.Column("failed", sa.BigInteger, nullable=False),
    sa.Column("policy", sa.JSON, nullable=False),  # policy strings and MX patterns
    sa.Index("ix_feedback_tls_policies_policy_domain_day", "policy_domain", "day"),
)

tls_failures = sa.Table(
    "feedback_tls_failures",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column(
        "policy_id",
        ID,
        sa.ForeignKey("feedback_tls_policies.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("result_type", sa.String(64), nullable=False),
    sa.Column("failed_session_count", sa.BigInteger, nullable=False),
    sa.Column("sending_mta_ip", sa.String(45), nullable=True),
    sa.Column("receiving_mx_hostname", sa.String(MAX_NAME), nullable=True),
    sa.Column("receiving_ip", sa.String(45), nullable=True),
    sa.Column("details", sa.JSON, nullable=False),  # HELO, additional information, reason code
)

failures = sa.Table(
    "feedback_failures",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    _report_fk(),
    sa.Column("arrival_date", sa.DateTime(timezone=True), nullable=True),
    sa.Column("source_ip", sa.String(45), nullable=True, index=True),
    sa.Column("reported_domain", sa.String(MAX_NAME), nullable=True),
    sa.Column("auth_failure", sa.String(64), nullable=True),
    sa.Column("delivery_result", sa.String(64), nullable=True),
    sa.Column("fields", sa.JSON, nullable=False),  # every feedback-report field, in order
    sa.Column("original_headers", sa.JSON, nullable=False),
)
"""The ARF part of a failure report (RFC 6591) and the failed message's headers."""

rejected = sa.Table(
    "feedback_rejected",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("source", sa.String(MAX_NAME), nullable=False),
    sa.Column("location", sa.String(MAX_NAME), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("detail", sa.String(MAX_TEXT), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=True),  # null: the file was not read
    sa.Column("content", sa.LargeBinary, nullable=True),
)
"""An upload, or a part of one, that was refused: why, where in the file, and the file's
bytes when they are small enough to keep (``content`` is null for larger ones)."""
