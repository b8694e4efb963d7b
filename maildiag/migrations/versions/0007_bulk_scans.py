"""bulk scans: scans, their domains and results, their chunks as jobs

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-07 18:20:53.006594
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scans",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.CheckConstraint("state IN ('running', 'queued', 'done')", name=op.f("ck_scans_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scans_fingerprint"), ["fingerprint"], unique=False)

    op.create_table(
        "scan_chunks",
        sa.Column("scan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chunk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'claimed', 'done')", name=op.f("ck_scan_chunks_state")
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"], ["scans.id"], name=op.f("fk_scan_chunks_scan_id_scans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("scan_id", "chunk", name=op.f("pk_scan_chunks")),
    )
    with op.batch_alter_table("scan_chunks", schema=None) as batch_op:
        batch_op.create_index("ix_scan_chunks_state", ["state"], unique=False)

    op.create_table(
        "scan_domains",
        sa.Column("scan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("codes", sa.String(length=1024), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
            name=op.f("fk_scan_domains_scan_id_scans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scan_id", "position", name=op.f("pk_scan_domains")),
    )
    with op.batch_alter_table("scan_domains", schema=None) as batch_op:
        batch_op.create_index("ix_scan_domains_scan_id_chunk", ["scan_id", "chunk"], unique=False)
        batch_op.create_index("ix_scan_domains_scan_id_domain", ["scan_id", "domain"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("scan_domains", schema=None) as batch_op:
        batch_op.drop_index("ix_scan_domains_scan_id_domain")
        batch_op.drop_index("ix_scan_domains_scan_id_chunk")

    op.drop_table("scan_domains")
    with op.batch_alter_table("scan_chunks", schema=None) as batch_op:
        batch_op.drop_index("ix_scan_chunks_state")

    op.drop_table("scan_chunks")
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scans_fingerprint"))

    op.drop_table("scans")
