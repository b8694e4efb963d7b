"""Fixtures for the reset-flow tests: databases (SQLite always, PostgreSQL when configured),
a cheap argon2 hasher, a fixed clock, a composer and a policy."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

import reset

POSTGRES_ENV = "MAILDIAG_TEST_POSTGRES_URL"
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path / 'reset.sqlite'}", connect_args={"timeout": 15})
    reset.metadata.create_all(engine)
    return engine


def postgres_engine() -> Iterator[Engine]:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set; PostgreSQL tests skipped")
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            url = "postgresql+psycopg://" + url.removeprefix(plain)
    schema = f"reset_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(url, execution_options={"schema_translate_map": {None: schema}})
    reset.metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The reset tables on SQLite, and on PostgreSQL in a throw-away schema when configured."""
    if request.param == "sqlite":
        eng = sqlite_engine(tmp_path)
        yield eng
        eng.dispose()
    else:
        yield from postgres_engine()


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    eng = sqlite_engine(tmp_path)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture(scope="session")
def hasher() -> reset.PasswordHasher:
    """argon2id with tiny costs so tests stay fast."""
    return reset.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="session")
def policy() -> reset.PasswordPolicy:
    return reset.PasswordPolicy()


@pytest.fixture
def now() -> dt.datetime:
    return NOW


class Clock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@pytest.fixture
def clock(now: dt.datetime) -> Clock:
    return Clock(now)


@pytest.fixture
def composer() -> reset.MailComposer:
    return reset.MailComposer(
        public_base_url="https://reset.visma.example",
        sender="do.not.reply@platform.visma.com",
        bounce_domain="bounce.visma.example",
    )
