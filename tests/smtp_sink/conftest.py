"""Fixtures for the sink tests: a SQLite store, a recording fake judge, a running sink."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from smtp_sink import SinkConfig, SinkServer, SinkStore, create_store_engine
from tests.smtp_sink.helpers import FakeJudge


@pytest.fixture
def store(tmp_path: Path) -> SinkStore:
    engine = create_store_engine(tmp_path / "sink.db")
    sink_store = SinkStore(engine)
    sink_store.create_schema()
    yield sink_store
    engine.dispose()


@pytest.fixture
def judge() -> FakeJudge:
    return FakeJudge()


SinkFactory = Callable[..., AbstractAsyncContextManager[SinkServer]]


@pytest.fixture
def run_sink(store: SinkStore, judge: FakeJudge, tmp_path: Path) -> SinkFactory:
    """``async with run_sink(config_overrides..., policies=..., ...) as sink``."""

    @asynccontextmanager
    async def factory(**kwargs: Any) -> AsyncIterator[SinkServer]:
        server_args = {
            k: kwargs.pop(k)
            for k in ("policies", "deliver", "on_bounce", "rng", "greylist", "judge", "host")
            if k in kwargs
        }
        server_args.setdefault("judge", judge)
        config = SinkConfig(hostname="sink.test", tls_dir=tmp_path / "tls", **kwargs)
        async with SinkServer(store, config=config, **server_args) as sink:
            yield sink

    return factory
