"""outbox claims: claim owner, lease end and the start of the attempt in flight

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 10:00:00.000000

A row that is ``sending`` when this runs keeps its lease: it used to live in
``next_attempt_at``, and moves to ``lease_until`` (and back on downgrade).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reset.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_outbox = sa.table(
    "outbox",
    sa.column("status", sa.String),
    sa.column("next_attempt_at", reset.models.UtcDateTime),
    sa.column("lease_until", reset.models.UtcDateTime),
)


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("lease_until", reset.models.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("attempt_started_at", reset.models.UtcDateTime(timezone=True), nullable=True)
        )
    op.execute(
        _outbox.update()
        .where(_outbox.c.status == "sending")
        .values(lease_until=_outbox.c.next_attempt_at)
    )


def downgrade() -> None:
    op.execute(
        _outbox.update()
        .where(_outbox.c.status == "sending", _outbox.c.lease_until.is_not(None))
        .values(next_attempt_at=_outbox.c.lease_until)
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("attempt_started_at")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("claim_owner")
