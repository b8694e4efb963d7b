"""initial schema: reset flow and sink

Revision ID: 0001
Revises:
Create Date: 2026-11-26 15:14:21.545470
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reset.models

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", reset.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created", reset.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", reset.models.UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('reset_request', 'password_changed', 'message')", name=op.f("ck_outbox_kind")
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'deferred', 'bounced', 'failed', 'discarded')",
            name=op.f("ck_outbox_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_key", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("created", reset.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", reset.models.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("language IN ('nb', 'en')", name=op.f("ck_users_language")),
        sa.CheckConstraint("role IN ('user', 'support', 'admin')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email_key", name=op.f("uq_users_email_key")),
    )
    op.create_table(
        "delivery_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("at", reset.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("relay", sa.String(length=255), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("enhanced_status", sa.String(length=16), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("queue_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_delivery_log_outbox_id_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_log")),
    )
    with op.batch_alter_table("delivery_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_log_outbox_id"), ["outbox_id"], unique=False)

    op.create_table(
        "reset_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created", reset.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", reset.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("used_at", reset.models.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_reset_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reset_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_reset_tokens_token_hash")),
    )
    with op.batch_alter_table("reset_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reset_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created", reset.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires", reset.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended", reset.models.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_sessions")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "sink_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mail_from", sa.Text(), nullable=False),
        sa.Column("rcpt_tos", sa.JSON(), nullable=False),
        sa.Column("peer_ip", sa.String(length=64), nullable=False),
        sa.Column("peer_port", sa.Integer(), nullable=True),
        sa.Column("proxied", sa.Boolean(), nullable=False),
        sa.Column("helo", sa.Text(), nullable=False),
        sa.Column("tls_version", sa.String(length=32), nullable=True),
        sa.Column("tls_cipher", sa.String(length=128), nullable=True),
        sa.Column("tls_bits", sa.Integer(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("added_headers", sa.LargeBinary(), nullable=False),
        sa.Column("authentication_results", sa.Text(), nullable=False),
        sa.Column("verdict", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("from_header", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sink_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sink_messages_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "sink_mailboxes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "message_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("folder", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["message_pk"], ["sink_messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sink_mailboxes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sink_mailboxes_address"), ["address"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sink_mailboxes_message_pk"), ["message_pk"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("sink_mailboxes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sink_mailboxes_message_pk"))
        batch_op.drop_index(batch_op.f("ix_sink_mailboxes_address"))

    op.drop_table("sink_mailboxes")
    with op.batch_alter_table("sink_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sink_messages_received_at"))

    op.drop_table("sink_messages")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_user_id"))

    op.drop_table("sessions")
    with op.batch_alter_table("reset_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reset_tokens_user_id"))

    op.drop_table("reset_tokens")
    with op.batch_alter_table("delivery_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_log_outbox_id"))

    op.drop_table("delivery_log")
    op.drop_table("users")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox")
