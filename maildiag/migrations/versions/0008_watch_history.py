"""watch history: one row per watch round, one per check of one sender identity

Revision ID: 0008
Revises: 0010
Create Date: 2026-12-07 18:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "watch_runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("elapsed_ms", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_runs")),
    )
    op.create_index(op.f("ix_watch_runs_started_at"), "watch_runs", ["started_at"])
    op.create_table(
        "watch_results",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("identity", sa.String(length=255), nullable=False),
        sa.Column("check", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("codes", sa.JSON(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "status IN ('ok', 'warning', 'problem', 'not_checked')",
            name=op.f("ck_watch_results_status"),
        ),
        sa.CheckConstraint(
            "change IN ('failed', 'recovered')", name=op.f("ck_watch_results_change")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["watch_runs.id"],
            name=op.f("fk_watch_results_run_id_watch_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_results")),
    )
    op.create_index(op.f("ix_watch_results_run_id"), "watch_results", ["run_id"])
    op.create_index(op.f("ix_watch_results_identity"), "watch_results", ["identity"])


def downgrade() -> None:
    op.drop_index(op.f("ix_watch_results_identity"), table_name="watch_results")
    op.drop_index(op.f("ix_watch_results_run_id"), table_name="watch_results")
    op.drop_table("watch_results")
    op.drop_index(op.f("ix_watch_runs_started_at"), table_name="watch_runs")
    op.drop_table("watch_runs")
