"""Reading a scan's results in input order while workers still write them
(``results_in_order``), on a SQLite file and on PostgreSQL: a line comes out only when every
domain before it has its result, pages follow on by position, and nothing comes out twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from maildiag.db import create_engine, migrate
from maildiag.scans import Outcome, create_scan, results_in_order, save_outcomes
from tests.maildiag.test_outbox_workers import postgres_schema_url

NOW = dt.datetime(2026, 12, 8, 12, 0, tzinfo=dt.UTC)
DOMAINS = [f"d{n}.example" for n in range(10)]


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path / 'scan.sqlite3'}"])
    else:
        urls = postgres_schema_url(f"scanstore_{uuid.uuid4().hex[:12]}")
    engine = create_engine(next(urls))
    migrate(engine)
    yield engine
    engine.dispose()
    next(urls, None)  # drops the PostgreSQL schema


def _save(engine: sa.Engine, scan_id: int, positions: range) -> None:
    outcomes = [
        Outcome(p, "ok", "own", (), {"domain": DOMAINS[p], "status": "ok"}) for p in positions
    ]
    save_outcomes(engine, scan_id, outcomes, now=NOW)


def _domains(rows: list[tuple[int, dict[str, object]]]) -> list[object]:
    return [row["domain"] for _, row in rows]


def test_lines_come_in_input_order_up_to_the_first_domain_without_a_result(
    engine: sa.Engine,
) -> None:
    scan_id = create_scan(
        engine, DOMAINS, source="test", fingerprint="f", chunk_size=3, queued=True, now=NOW
    )
    assert results_in_order(engine, scan_id) == []
    _save(engine, scan_id, range(5, 10))  # a later chunk first, as a second worker may
    assert results_in_order(engine, scan_id) == []
    _save(engine, scan_id, range(3))
    first = results_in_order(engine, scan_id)
    assert [p for p, _ in first] == [0, 1, 2]
    assert _domains(first) == DOMAINS[:3]
    assert results_in_order(engine, scan_id, after=2) == []  # position 3 has no result yet
    _save(engine, scan_id, range(3, 5))
    page = results_in_order(engine, scan_id, after=2, limit=4)
    assert [p for p, _ in page] == [3, 4, 5, 6]
    rest = results_in_order(engine, scan_id, after=6)
    assert _domains(rest) == DOMAINS[7:]
    assert results_in_order(engine, scan_id, after=9) == []


def test_another_scans_results_are_not_read(engine: sa.Engine) -> None:
    ours = create_scan(
        engine, DOMAINS, source="a", fingerprint="a", chunk_size=5, queued=True, now=NOW
    )
    theirs = create_scan(
        engine, DOMAINS, source="b", fingerprint="b", chunk_size=5, queued=True, now=NOW
    )
    _save(engine, theirs, range(10))
    assert results_in_order(engine, ours) == []
    _save(engine, ours, range(2))
    assert _domains(results_in_order(engine, ours)) == DOMAINS[:2]


def test_a_queued_scans_lines_are_printed_while_workers_still_scan(engine: sa.Engine) -> None:
    from maildiag.commands import scan as command
    from maildiag.commands.progress import CountProgress
    from maildiag.scans import finish_if_done

    scan_id = create_scan(
        engine, DOMAINS, source="test", fingerprint="f", chunk_size=5, queued=True, now=NOW
    )
    out = io.StringIO()
    progress = CountProgress(len(DOMAINS), io.StringIO(), label="scan", unit="domains")

    async def run() -> list[str]:
        waiting = asyncio.create_task(
            command._wait(engine, scan_id, progress, command.Output("jsonl", out, "en"))
        )
        await asyncio.to_thread(_save, engine, scan_id, range(5))  # the first chunk is done
        while len(out.getvalue().splitlines()) < 5:
            assert not waiting.done()
            await asyncio.sleep(0.05)
        early = out.getvalue().splitlines()
        await asyncio.to_thread(_save, engine, scan_id, range(5, 10))
        await asyncio.to_thread(finish_if_done, engine, scan_id, now=NOW)
        await asyncio.wait_for(waiting, 10)
        return early

    early = asyncio.run(run())
    assert [json.loads(line)["domain"] for line in early] == DOMAINS[:5]
    lines = [json.loads(line)["domain"] for line in out.getvalue().splitlines()]
    assert lines == DOMAINS  # each once, in input order
