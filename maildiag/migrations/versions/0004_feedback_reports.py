"""feedback reports: aggregate records, TLS policies and failures, failure reports, rejected uploads

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 14:08:01.961909
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "feedback_rejected",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("location", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=2048), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_rejected")),
    )
    with op.batch_alter_table("feedback_rejected", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feedback_rejected_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "feedback_reports",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("org_name", sa.String(length=255), nullable=False),
        sa.Column("report_id", sa.String(length=255), nullable=False),
        sa.Column("email_domain", sa.String(length=255), nullable=True),
        sa.Column("policy_domain", sa.String(length=255), nullable=True),
        sa.Column("begin", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("message_count", sa.BigInteger(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('aggregate', 'failure', 'tls')", name=op.f("ck_feedback_reports_kind")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_reports")),
        sa.UniqueConstraint(
            "kind", "org_name", "report_id", name=op.f("uq_feedback_reports_identity")
        ),
    )
    with op.batch_alter_table("feedback_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feedback_reports_email_domain"), ["email_domain"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_feedback_reports_policy_domain"), ["policy_domain"], unique=False
        )

    op.create_table(
        "feedback_failures",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("report_id", _ID, nullable=False),
        sa.Column("arrival_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_ip", sa.String(length=45), nullable=True),
        sa.Column("reported_domain", sa.String(length=255), nullable=True),
        sa.Column("auth_failure", sa.String(length=64), nullable=True),
        sa.Column("delivery_result", sa.String(length=64), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("original_headers", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["feedback_reports.id"],
            name=op.f("fk_feedback_failures_report_id_feedback_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_failures")),
    )
    with op.batch_alter_table("feedback_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feedback_failures_report_id"), ["report_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_feedback_failures_source_ip"), ["source_ip"], unique=False
        )

    op.create_table(
        "feedback_records",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("report_id", _ID, nullable=False),
        sa.Column("org_name", sa.String(length=255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("header_from", sa.String(length=255), nullable=False),
        sa.Column("source_ip", sa.String(length=45), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("disposition", sa.String(length=16), nullable=False),
        sa.Column("dkim", sa.String(length=16), nullable=False),
        sa.Column("spf", sa.String(length=16), nullable=False),
        sa.Column("envelope_from", sa.String(length=255), nullable=True),
        sa.Column("envelope_to", sa.String(length=255), nullable=True),
        sa.Column("auth_results", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["feedback_reports.id"],
            name=op.f("fk_feedback_records_report_id_feedback_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_records")),
    )
    with op.batch_alter_table("feedback_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feedback_records_header_from_day", ["header_from", "day"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_feedback_records_envelope_to"), ["envelope_to"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_feedback_records_report_id"), ["report_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_feedback_records_source_ip"), ["source_ip"], unique=False
        )

    op.create_table(
        "feedback_tls_policies",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("report_id", _ID, nullable=False),
        sa.Column("org_name", sa.String(length=255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("policy_type", sa.String(length=32), nullable=False),
        sa.Column("policy_domain", sa.String(length=255), nullable=False),
        sa.Column("successful", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["feedback_reports.id"],
            name=op.f("fk_feedback_tls_policies_report_id_feedback_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_tls_policies")),
    )
    with op.batch_alter_table("feedback_tls_policies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feedback_tls_policies_policy_domain_day", ["policy_domain", "day"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_feedback_tls_policies_report_id"), ["report_id"], unique=False
        )

    op.create_table(
        "feedback_tls_failures",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("policy_id", _ID, nullable=False),
        sa.Column("result_type", sa.String(length=64), nullable=False),
        sa.Column("failed_session_count", sa.BigInteger(), nullable=False),
        sa.Column("sending_mta_ip", sa.String(length=45), nullable=True),
        sa.Column("receiving_mx_hostname", sa.String(length=255), nullable=True),
        sa.Column("receiving_ip", sa.String(length=45), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["feedback_tls_policies.id"],
            name=op.f("fk_feedback_tls_failures_policy_id_feedback_tls_policies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_tls_failures")),
    )
    with op.batch_alter_table("feedback_tls_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feedback_tls_failures_policy_id"), ["policy_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("feedback_tls_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_tls_failures_policy_id"))

    op.drop_table("feedback_tls_failures")
    with op.batch_alter_table("feedback_tls_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_tls_policies_report_id"))
        batch_op.drop_index("ix_feedback_tls_policies_policy_domain_day")

    op.drop_table("feedback_tls_policies")
    with op.batch_alter_table("feedback_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_records_source_ip"))
        batch_op.drop_index(batch_op.f("ix_feedback_records_report_id"))
        batch_op.drop_index(batch_op.f("ix_feedback_records_envelope_to"))
        batch_op.drop_index("ix_feedback_records_header_from_day")

    op.drop_table("feedback_records")
    with op.batch_alter_table("feedback_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_failures_source_ip"))
        batch_op.drop_index(batch_op.f("ix_feedback_failures_report_id"))

    op.drop_table("feedback_failures")
    with op.batch_alter_table("feedback_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_reports_policy_domain"))
        batch_op.drop_index(batch_op.f("ix_feedback_reports_email_domain"))

    op.drop_table("feedback_reports")
    with op.batch_alter_table("feedback_rejected", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_rejected_received_at"))

    op.drop_table("feedback_rejected")
