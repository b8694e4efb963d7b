"""sessions: when each login session was last used (for the account page's session list)

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-07 18:30:00.000000

Existing sessions get ``last_seen`` = ``created``: the closest truth there is.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reset.models

revision: str = "0010"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_sessions = sa.table(
    "sessions",
    sa.column("created", reset.models.UtcDateTime),
    sa.column("last_seen", reset.models.UtcDateTime),
)


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_seen", reset.models.UtcDateTime(timezone=True), nullable=True)
        )
    op.execute(_sessions.update().values(last_seen=_sessions.c.created))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("last_seen")
