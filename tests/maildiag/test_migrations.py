"""The Alembic migrations build exactly the schema the models describe, on SQLite and (when
MAILDIAG_TEST_POSTGRES_URL is set) on PostgreSQL, and downgrade cleanly."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from maildiag.db import TARGET_METADATA, alembic_config, create_engine, migrate, ours


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        opts = {"compare_type": True, "include_name": ours}
        context = MigrationContext.configure(connection, opts=opts)
        return list(compare_metadata(context, list(TARGET_METADATA)))  # type: ignore[arg-type]


def test_sqlite_schema_matches_the_models(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    migrate(engine)
    assert _differences(engine) == []
    command.downgrade(alembic_config(engine), "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


@pytest.fixture
def postgres() -> Iterator[sa.Engine]:
    url = os.environ.get("MAILDIAG_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("MAILDIAG_TEST_POSTGRES_URL is not set")
    schema = f"mig_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_postgres_schema_matches_the_models(postgres: sa.Engine) -> None:
    migrate(postgres)
    assert _differences(postgres) == []
    engine_tables = {"procrastinate_jobs", "procrastinate_events", "procrastinate_workers"}
    assert engine_tables <= set(sa.inspect(postgres).get_table_names())  # the job engine's
    command.downgrade(alembic_config(postgres), "base")
    assert set(sa.inspect(postgres).get_table_names()) <= {"alembic_version"}
    with postgres.connect() as connection:
        left = (
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.proname LIKE 'procrastinate%' AND n.nspname = current_schema()"
        )
        assert connection.execute(sa.text(left)).scalar_one() == 0


def _lease_moves(engine: sa.Engine) -> None:
    """A row that is ``sending`` during the claims migration keeps its lease: it moves from
    ``next_attempt_at`` to ``lease_until``, and back on downgrade."""
    from reset.models import UtcDateTime

    lease_end = dt.datetime(2026, 12, 3, 10, 5, tzinfo=dt.UTC)
    created = lease_end - dt.timedelta(minutes=5)
    before = sa.table(
        "outbox",
        *(sa.column(name) for name in ("kind", "recipient", "language", "payload", "status")),
        sa.column("attempts", sa.Integer),
        sa.column("next_attempt_at", UtcDateTime),
        sa.column("created", UtcDateTime),
    )
    migrate(engine, "0001")
    with engine.begin() as connection:
        for status in ("sending", "queued"):
            connection.execute(
                before.insert().values(
                    kind="message",
                    recipient="kari@kunde-ok.example",
                    language="nb",
                    payload="{}",
                    status=status,
                    attempts=0,
                    next_attempt_at=lease_end,
                    created=created,
                )
            )
    migrate(engine)
    after = sa.table("outbox", sa.column("status"), sa.column("lease_until", UtcDateTime))
    with engine.connect() as connection:
        leases = dict(connection.execute(sa.select(after.c.status, after.c.lease_until)).all())
    assert leases == {"sending": lease_end, "queued": None}
    command.downgrade(alembic_config(engine), "0001")
    with engine.connect() as connection:
        due = connection.execute(sa.select(before.c.next_attempt_at)).scalars().all()
    assert due == [lease_end, lease_end]


def test_sqlite_claims_migration_keeps_leases(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    _lease_moves(engine)
    engine.dispose()


def test_postgres_claims_migration_keeps_leases(postgres: sa.Engine) -> None:
    _lease_moves(postgres)
