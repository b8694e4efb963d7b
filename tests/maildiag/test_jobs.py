"""``maildiag.jobs``: named and periodic jobs behind one interface, in memory for the embedded
mode (SQLite) and on procrastinate's tables in PostgreSQL (applied by ``maildiag migrate``),
where a job queued by one process is run by another's worker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from maildiag.db import create_engine, migrate
from maildiag.jobs import Jobs, build_jobs, libpq_url, running_jobs
from maildiag.settings import Settings
from tests.maildiag.test_outbox_workers import postgres_schema_url

REPO = Path(__file__).resolve().parents[2]


async def _until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    async with asyncio.timeout(seconds):
        # a list another task fills, or a row in the database: nothing to wait on but polling
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def _counting(jobs: Jobs, done: list[str]) -> None:
    @jobs.job("test.note")
    async def note(text: str) -> None:
        done.append(text)


def test_the_embedded_mode_queues_in_memory(tmp_path: Path) -> None:
    jobs = build_jobs(Settings(data_dir=tmp_path))
    assert jobs.durable is False


async def test_a_named_job_runs_in_the_embedded_mode(tmp_path: Path) -> None:
    done: list[str] = []
    jobs = build_jobs(Settings(data_dir=tmp_path))
    _counting(jobs, done)
    async with running_jobs(jobs):
        await jobs.enqueue("test.note", text="first")
        await jobs.enqueue("test.note", text="second")
        await _until(lambda: len(done) == 2)
    assert sorted(done) == ["first", "second"]


async def test_a_periodic_job_runs_at_its_ticks(tmp_path: Path) -> None:
    ticks: list[int] = []
    jobs = build_jobs(Settings(data_dir=tmp_path))

    @jobs.periodic("test.tick", cron="* * * * * *")  # every second
    async def tick(timestamp: int) -> None:
        ticks.append(timestamp)

    async with running_jobs(jobs):
        await _until(lambda: len(ticks) >= 2)
    assert ticks[1] > ticks[0]


def test_the_libpq_url_keeps_the_schema_option() -> None:
    url = "postgresql+psycopg://u:p@db:5432/app?options=-csearch_path%3Dx"
    assert libpq_url(url) == "postgresql://u:p@db:5432/app?options=-csearch_path%3Dx"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    urls = postgres_schema_url(f"jobs_{uuid.uuid4().hex[:12]}")
    url = next(urls)
    yield url
    next(urls, None)


def _procrastinate_tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return {t for t in sa.inspect(engine).get_table_names() if t.startswith("procrastinate_")}
    finally:
        engine.dispose()


async def test_migrate_applies_the_queue_and_workers_share_it(
    postgres_url: str, tmp_path: Path
) -> None:
    env = {"MAILDIAG_DATABASE_URL": postgres_url, "MAILDIAG_DATA_DIR": str(tmp_path)}
    migrate = await asyncio.to_thread(
        subprocess.run,  # our own CLI
        [sys.executable, "-m", "maildiag", "migrate"],
        cwd=REPO,
        env={**_inherited(), **env},
        capture_output=True,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert {"procrastinate_jobs", "procrastinate_periodic_defers"} <= _procrastinate_tables(
        postgres_url
    )
    settings = Settings(data_dir=tmp_path, database_url=postgres_url)
    queueing, working = build_jobs(settings), build_jobs(settings)
    assert queueing.durable
    assert working.durable
    done: list[str] = []
    _counting(queueing, [])  # registered in both processes, as in the app and the worker
    _counting(working, done)
    async with queueing.opened():
        job_id = await queueing.enqueue("test.note", text="through PostgreSQL")
    assert _status(postgres_url, job_id) == "todo"  # queued: nothing works the queue yet
    async with running_jobs(working):
        await _until(lambda: _status(postgres_url, job_id) == "succeeded")
    assert done == ["through PostgreSQL"]


def _status(url: str, job_id: int) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            query = sa.text("SELECT status FROM procrastinate_jobs WHERE id = :id")
            return str(connection.execute(query, {"id": job_id}).scalar_one())
    finally:
        engine.dispose()


def _inherited() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MAILDIAG_")}


async def test_a_job_whose_worker_died_is_run_again(postgres_url: str, tmp_path: Path) -> None:
    engine = create_engine(postgres_url)
    migrate(engine)
    settings = Settings(data_dir=tmp_path, database_url=postgres_url)
    dead, working = build_jobs(settings), build_jobs(settings)
    done: list[str] = []
    _counting(dead, [])
    _counting(working, done)
    async with dead.opened():
        manager = dead.app.job_manager
        worker_id = await manager.register_worker()
        job_id = await dead.enqueue("test.note", text="again")
        taken = await manager.fetch_job(None, worker_id)
        assert taken is not None
        assert taken.id == job_id
    with engine.begin() as connection:  # the worker died: its heartbeat stopped an hour ago
        stale = "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
        connection.execute(sa.text(stale))
    engine.dispose()
    assert _status(postgres_url, job_id) == "doing"
    async with running_jobs(working):
        await working.enqueue("jobs.retry_stalled", timestamp=0)  # the periodic check, now
        await _until(lambda: _status(postgres_url, job_id) == "succeeded")
    assert done == ["again"]
