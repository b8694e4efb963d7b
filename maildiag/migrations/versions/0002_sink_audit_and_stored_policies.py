"""sink audit trail and stored policies

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 12:40:24.686068
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sink_audit",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=336), nullable=False),
        sa.Column("message_id", _ID, nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sink_audit")),
    )
    with op.batch_alter_table("sink_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sink_audit_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sink_audit_message_id"), ["message_id"], unique=False)

    op.create_table(
        "sink_policies",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=320), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=254), nullable=False),
        sa.CheckConstraint(
            "kind IN ('default', 'domains', 'addresses')", name=op.f("ck_sink_policies_kind")
        ),
        sa.PrimaryKeyConstraint("kind", "name", name=op.f("pk_sink_policies")),
    )


def downgrade() -> None:
    op.drop_table("sink_policies")
    with op.batch_alter_table("sink_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sink_audit_message_id"))
        batch_op.drop_index(batch_op.f("ix_sink_audit_at"))
    op.drop_table("sink_audit")
