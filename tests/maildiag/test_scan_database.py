"""Bulk scans kept in the database, with real processes against the lab DNS server (20 ms a
reply) on a SQLite file and on PostgreSQL (when MAILDIAG_TEST_POSTGRES_URL is set):

- a ``maildiag scan --resume`` killed midway resumes where it stopped: the second run scans
  exactly the domains without a stored result, and no domain gets two;
- ``maildiag scan --queue`` is done by two ``maildiag worker`` processes, one of them killed
  while it holds a chunk: the other takes the chunk over, and every domain lands once (on
  PostgreSQL the chunks are jobs of the job engine, handed back by its stalled-job retry;
  on SQLite the workers claim them with a lease);
- ``--from-accounts`` scans the domains of the registered users, each once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

import reset
from maildiag.cli import main
from maildiag.db import create_engine, migrate
from maildiag.jobs import build_jobs
from maildiag.lab.bulk import bulk_expected, bulk_name, bulk_zone
from maildiag.lab.dns import LabDnsServer, lab_dns_in_thread
from maildiag.scans.models import scan_chunks, scan_domains
from maildiag.settings import Settings
from tests.maildiag.test_outbox_workers import postgres_schema_url  # the throw-away schema

REPO = Path(__file__).resolve().parents[2]
COUNT = 600
HASHER = reset.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="module")
def dns() -> Iterator[LabDnsServer]:
    with lab_dns_in_thread(bulk_zone(COUNT), latency=0.02) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scan.sqlite3'}"
        return
    yield from postgres_schema_url(f"scan_{uuid.uuid4().hex[:12]}")


def _env(url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDIAG_")}
    env.update(
        PYTHONWARNINGS="ignore",
        MAILDIAG_DATA_DIR=str(tmp_path),
        MAILDIAG_DATABASE_URL=url,
        MAILDIAG_ALLOW_PRIVATE_TARGETS="true",
        MAILDIAG_LANG="en",
    )
    return env


def _scan(dns: LabDnsServer, *argv: str) -> list[str]:
    return [sys.executable, "-m", "maildiag", "--nameserver", dns.address, "scan", *argv]


def _domain_lines(text: str) -> list[str]:
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [line["domain"] for line in lines if "domain" in line]


def _summary(text: str) -> dict[str, object]:
    summary: dict[str, object] = json.loads(text.splitlines()[-1])["summary"]
    return summary


def _scanned(engine: sa.Engine) -> set[str]:
    with engine.connect() as db:
        query = sa.select(scan_domains.c.domain).where(scan_domains.c.scanned_at.is_not(None))
        return set(db.execute(query).scalars())


def _list(tmp_path: Path) -> Path:
    path = tmp_path / "customers.txt"
    lines = [bulk_name(n) for n in range(COUNT)]
    lines += [f"kari@{bulk_name(3)}", bulk_name(0).upper()]  # named again: counted once
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _check_summary(summary: dict[str, object]) -> None:
    expected = bulk_expected(COUNT)
    assert summary["domains"] == COUNT
    assert summary["entries"] == COUNT + 2
    assert summary["statuses"] == {k: expected["statuses"][k] for k in ("ok", "warning", "problem")}
    assert summary["providers"] == dict(expected["providers"])


def test_a_killed_scan_resumes_where_it_stopped(
    dns: LabDnsServer, database: str, tmp_path: Path
) -> None:
    source = _list(tmp_path)
    argv = _scan(dns, str(source), "--resume", "--format", "jsonl", "--concurrency", "4")
    env = _env(database, tmp_path)
    first = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    assert first.stdout is not None
    printed = []
    while len(printed) < 150:
        line = first.stdout.readline()
        assert line, "the scan ended before it was killed"
        printed.append(json.loads(line)["domain"])
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    first.stdout.close()
    engine = create_engine(database)
    try:
        saved = _scanned(engine)
        assert set(printed) <= saved
        assert 150 <= len(saved) < COUNT

        second = subprocess.run(
            argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 1, second.stderr  # the null MX domains
        assert f"resuming: {len(saved)} of {COUNT} domains done" in second.stderr
        rest = _domain_lines(second.stdout)
        assert len(rest) == len(set(rest))
        assert set(rest) == {bulk_name(n) for n in range(COUNT)} - saved  # no domain twice
        assert len(_scanned(engine)) == COUNT
        _check_summary(_summary(second.stdout))
    finally:
        engine.dispose()


def _worker(dns: LabDnsServer, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "maildiag",
        "--nameserver",
        dns.address,
        "worker",
        "--scan-concurrency",
        "10",
        "--scan-lease",
        "2",
    ]
    with log.open("wb") as errors:
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=errors)


def _holds_a_chunk(engine: sa.Engine, pid: int) -> bool:
    with engine.connect() as db:
        owners = db.execute(
            sa.select(scan_chunks.c.owner).where(scan_chunks.c.state == "claimed")
        ).scalars()
        return any(f":{pid}:" in (owner or "") for owner in owners)


def _retry_stalled_now(engine: sa.Engine, pid: int, settings: Settings) -> None:
    """What the job engine does a minute after the worker ``pid`` stopped, now: its heartbeat
    is made an hour old and the periodic check for stalled jobs is run."""
    with engine.begin() as db:
        chunks = db.execute(
            sa.select(scan_chunks.c.scan_id, scan_chunks.c.chunk).where(
                scan_chunks.c.state == "claimed", scan_chunks.c.owner.contains(f":{pid}:")
            )
        ).all()
        assert chunks
        held = sa.text(
            "SELECT worker_id FROM procrastinate_jobs WHERE task_name = 'scan.chunk'"
            " AND status = 'doing' AND (args->>'scan_id')::int = :s AND (args->>'chunk')::int = :c"
        )
        workers = {db.execute(held, {"s": s, "c": c}).scalar_one() for s, c in chunks}
        stale = sa.text(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
            " WHERE id = ANY(:ids)"
        )
        db.execute(stale, {"ids": list(workers)})

    async def check() -> None:
        async with build_jobs(settings).opened() as jobs:
            await jobs.enqueue("jobs.retry_stalled", timestamp=0)

    asyncio.run(check())


def test_a_queued_scan_is_done_by_workers_and_survives_one_killed(
    dns: LabDnsServer, database: str, tmp_path: Path
) -> None:
    env = _env(database, tmp_path)
    engine = create_engine(database)
    migrate(engine)
    worker_env = dict(
        env,
        MAILDIAG_SECRET_KEY=secrets.token_urlsafe(32),
        MAILDIAG_PUBLIC_BASE_URL="https://konto.visma.example",
        MAILDIAG_RELAY__HOST="127.0.0.1",
        MAILDIAG_RELAY__PORT="9",
    )
    victim = _worker(dns, worker_env, tmp_path / "victim.err")
    survivor = _worker(dns, worker_env, tmp_path / "survivor.err")
    argv = _scan(dns, str(_list(tmp_path)), "--queue", "--chunk-size", "40", "--format", "jsonl")
    scan = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not _holds_a_chunk(engine, victim.pid):
            assert time.monotonic() < deadline, (tmp_path / "victim.err").read_text()
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        if engine.dialect.name == "postgresql":
            _retry_stalled_now(
                engine, victim.pid, Settings(data_dir=tmp_path, database_url=database)
            )
        out, err = scan.communicate(timeout=120)
        assert scan.returncode == 1, err
        assert b"queued: 0 of 600 domains done; /scans/" in err
        domains = _domain_lines(out.decode())
        assert domains == [bulk_name(n) for n in range(COUNT)]  # each once, in input order
        _check_summary(_summary(out.decode()))
        with engine.connect() as db:
            states = db.execute(sa.select(scan_chunks.c.state, scan_chunks.c.owner)).all()
        assert {state for state, _ in states} == {"done"}
        assert len(states) == 15
        assert any(f":{survivor.pid}:" in owner for _, owner in states)
        if engine.dialect.name == "postgresql":  # a job of the engine per chunk, each done once
            with engine.connect() as db:
                query = "SELECT status FROM procrastinate_jobs WHERE task_name = 'scan.chunk'"
                assert list(db.execute(sa.text(query)).scalars()) == ["succeeded"] * 15
    finally:
        for process in (victim, survivor, scan):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (victim, survivor, scan):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        engine.dispose()


def test_from_accounts_scans_each_users_domain_once(
    dns: LabDnsServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'maildiag.sqlite3'}")
    migrate(engine)
    now = dt.datetime.now(dt.UTC)
    with sessionmaker(engine)() as session, session.begin():
        for address in (f"kari@{bulk_name(2)}", f"ola@{bulk_name(2)}", f"per@{bulk_name(10)}"):
            reset.create_user(session, address, "Demo#2026pass", hasher=HASHER, now=now)
    engine.dispose()
    config = tmp_path / "maildiag.toml"
    config.write_text("allow_private_targets = true\n", encoding="utf-8")
    argv = ["--nameserver", dns.address, "--config", str(config), "scan", "--from-accounts"]
    code = main([*argv, "--format", "jsonl", "--data", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1  # c10 has a null MX
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["domain"], r["entries"]) for r in rows[:-1]] == [
        (bulk_name(2), 2),
        (bulk_name(10), 1),
    ]
    assert rows[-1]["summary"]["providers"] == {"microsoft365": 1, "unknown": 1}
