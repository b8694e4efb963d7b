"""The Alembic migrations build exactly the schema the models describe, on SQLite and (when
MAILDIAG_TEST_POSTGRES_URL is set) on PostgreSQL, and downgrade cleanly."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from maildiag.db import TARGET_METADATA, alembic_config, create_engine, migrate


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
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
    command.downgrade(alembic_config(postgres), "base")
