"""Benchmark of the outbox worker's claim size (not a test): run ``python -m bench.outbox``.

Reset mails per second through ``reset.Worker`` into an SMTP relay on loopback (aiosmtpd, in
the same process) that answers at once or after a fixed delay, on a fresh SQLite file (WAL,
``synchronous=FULL``) per run, and on PostgreSQL with ``--postgres URL``. Each run sends the
same rows with claims of one row at a time and with batches of up to 20 (what the worker claims
when sends are fast); the two are interleaved round by round, and the one-row figure is stated
as a ratio of the batch figure from the same round. Every run checks its own answer: every row
``sent`` and the relay holding exactly one mail per row.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope
from sqlalchemy.orm import sessionmaker

import reset
from maildiag.db import create_engine

ROWS = 60
ROUNDS = 5
CLAIMS = {"batches of 20": 20, "one row": 1}
HASHER = reset.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Relay:
    """Accepts every mail after ``delay`` seconds and counts them per outbox row."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.per_row: collections.Counter[int] = collections.Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        self.per_row[reset.parse_verp_address(str(envelope.mail_from))] += 1
        return "250 2.0.0 Ok"


def _databases(postgres: str | None, directory: Path) -> Iterator[tuple[str, str]]:
    yield "SQLite", str(directory)
    if postgres:
        yield "PostgreSQL", postgres


def _fresh(url: str) -> tuple[sa.Engine, str | None]:
    """An engine on empty reset tables: a new SQLite file in the directory ``url`` names, or a
    new schema on the PostgreSQL server ``url`` names."""
    if not url.startswith("postgresql"):
        engine = create_engine(f"sqlite:///{Path(url) / f'{uuid.uuid4().hex}.sqlite3'}")
        reset.metadata.create_all(engine)
        return engine, None
    schema = f"bench_outbox_{uuid.uuid4().hex[:10]}"
    with sa.create_engine(url).begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(url, execution_options={"schema_translate_map": {None: schema}})
    reset.metadata.create_all(engine)
    return engine, schema


def _drop(url: str, engine: sa.Engine, schema: str | None) -> None:
    engine.dispose()
    if schema is not None:
        admin = sa.create_engine(url)
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


async def one_run(url: str, delay: float, claim: int, rows: int) -> float:
    """Send ``rows`` reset mails with claims of up to ``claim`` rows; returns mails per second."""
    engine, schema = await asyncio.to_thread(_fresh, url)
    factory = sessionmaker(engine, expire_on_commit=False)
    now = dt.datetime.now(dt.UTC)
    with factory() as session, session.begin():
        for i in range(rows):
            address = f"kari{i}@kunde-ok.example"
            reset.create_user(session, address, "Demo#2026bench", hasher=HASHER, now=now)
            reset.request_reset(session, address, now=now)
    relay = Relay(delay)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(relay, hostname="relay.bench"), "127.0.0.1", 0
    )
    composer = reset.MailComposer(
        public_base_url="https://konto.visma.example",
        sender="do.not.reply@platform.visma.com",
        bounce_domain="platform.visma.com",
    )
    smtp = reset.SmtpRelay(host="127.0.0.1", port=server.sockets[0].getsockname()[1], timeout=30)
    worker = reset.Worker(factory, smtp, composer, batch_size=claim, lease=dt.timedelta(minutes=5))
    try:
        started = time.perf_counter()
        while await worker.run_once():
            pass
        elapsed = time.perf_counter() - started
    finally:
        server.close()
        await server.wait_closed()
    with factory() as session:
        statuses = set(session.scalars(sa.select(reset.OutboxMessage.status)))
    await asyncio.to_thread(_drop, url, engine, schema)
    assert statuses == {"sent"}, statuses
    assert len(relay.per_row) == rows, relay.per_row
    assert set(relay.per_row.values()) == {1}, relay.per_row
    return rows / elapsed


async def measure(
    postgres: str | None, delays: list[float], rows: int, rounds: int
) -> dict[tuple[str, float, str], list[float]]:
    results: dict[tuple[str, float, str], list[float]] = collections.defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as directory:
        for _round in range(rounds):
            for database, url in _databases(postgres, Path(directory)):
                for delay in delays:
                    for name, claim in CLAIMS.items():
                        rate = await one_run(url, delay, claim, rows)
                        results[(database, delay, name)].append(rate)
    return results


def report(results: dict[tuple[str, float, str], list[float]], rows: int, rounds: int) -> str:
    lines = [
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; {rows} reset mails per run, {rounds} rounds "
        "interleaved; medians",
        "",
        "| database | relay delay | batches of 20 | one row per claim | one row / batches |",
        "|---|---|---|---|---|",
    ]
    for database, delay in sorted({(d, r) for d, r, _ in results}):
        batch = results[(database, delay, "batches of 20")]
        single = results[(database, delay, "one row")]
        ratios = [s / b for s, b in zip(single, batch, strict=True)]
        lines.append(
            f"| {database} | {delay * 1000:.0f} ms | {statistics.median(batch):.1f} mails/s "
            f"| {statistics.median(single):.1f} mails/s | **{statistics.median(ratios):.2f}** "
            f"({min(ratios):.2f}–{max(ratios):.2f}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument(
        "--delay", type=float, action="append", help="relay delay in seconds (repeatable)"
    )
    parser.add_argument("--postgres", metavar="URL", help="also measure on this PostgreSQL")
    args = parser.parse_args()
    delays = args.delay or [0.0, 0.05]
    results = asyncio.run(measure(args.postgres, delays, args.rows, args.rounds))
    print(report(results, args.rows, args.rounds))


if __name__ == "__main__":
    main()
