"""The feedback tests' database: a migrated SQLite file, and a throw-away PostgreSQL schema
when MAILDIAG_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from maildiag.db import create_engine, migrate


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated database: a SQLite file, or a throw-away PostgreSQL schema."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    url = os.environ.get("MAILDIAG_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("MAILDIAG_TEST_POSTGRES_URL is not set")
    schema = f"feedback_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
