"""The tables that keep the watch's history: one row per round, and one row per check of one
sender identity in that round (its status, its finding codes, and whether it changed from
pass to fail or back since the identity's previous round).

SQLAlchemy Core tables on their own MetaData (the migrations include it), the same on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

from maildiag.tables import ID, NAMING_CONVENTION

MAX_NAME = 255  # addresses and check keys (RFC 5321 §4.5.3.1.3 caps a path at 256 octets)

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

runs = sa.Table(
    "watch_runs",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("elapsed_ms", sa.Integer, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
)
"""One row per watch round."""

results = sa.Table(
    "watch_results",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id",
        ID,
        sa.ForeignKey("watch_runs.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("identity", sa.String(MAX_NAME), nullable=False, index=True),
    sa.Column("check", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("codes", sa.JSON, nullable=False),  # the check's problem and warning codes
    sa.Column("change", sa.String(16), nullable=True),  # failed | recovered | None
    sa.CheckConstraint("status IN ('ok', 'warning', 'problem', 'not_checked')", name="status"),
    sa.CheckConstraint("change IN ('failed', 'recovered')", name="change"),
)
"""One row per check of one identity in one round. ``change`` marks an event: the check
went from pass to fail (``failed``) or back (``recovered``) since its last judged round."""
