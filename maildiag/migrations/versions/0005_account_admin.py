"""account administration: disabled accounts and the audit of operators' changes

Revision ID: 0005
Revises: 0008
Create Date: 2026-12-07 18:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reset.models

revision: str = "0005"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disabled_at", reset.models.UtcDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "account_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", reset.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("detail", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_audit")),
    )
    with op.batch_alter_table("account_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_audit_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("account_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_audit_at"))
    op.drop_table("account_audit")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("disabled_at")
