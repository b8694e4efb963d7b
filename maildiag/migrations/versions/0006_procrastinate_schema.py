"""procrastinate's queue on PostgreSQL: the job engine's tables, types, functions and triggers

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-07 19:10:00.000000

The SQL is procrastinate's own ``schema.sql`` of the installed version (pinned in
pyproject.toml); a newer procrastinate needs a revision that applies its migration files. On
SQLite there is nothing to do: the embedded mode keeps its jobs in memory (maildiag.jobs).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DROP_FUNCTIONS = """
DO $$
DECLARE found record;
BEGIN
  FOR found IN
    SELECT p.oid::regprocedure AS signature FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.proname LIKE 'procrastinate\\_%' AND n.nspname = current_schema()
  LOOP
    EXECUTE 'DROP FUNCTION ' || found.signature || ' CASCADE';
  END LOOP;
END $$;
"""
_TABLES = ("procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs")
_TYPES = (
    "procrastinate_job_to_defer_v1",
    "procrastinate_job_event_type",
    "procrastinate_job_status",
)


def _run(sql: str) -> None:
    """Run ``sql`` as it is (no parameters, so its % signs stay), in the migration's
    transaction."""
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        connection.connection.driver_connection.execute(sql)  # type: ignore[union-attr]  # psycopg's Connection


def upgrade() -> None:
    _run(SchemaManager.get_schema())


def downgrade() -> None:
    _run(_DROP_FUNCTIONS)
    for table in (*_TABLES, "procrastinate_workers"):
        _run(f"DROP TABLE IF EXISTS {table} CASCADE")
    for name in _TYPES:
        _run(f"DROP TYPE IF EXISTS {name} CASCADE")
