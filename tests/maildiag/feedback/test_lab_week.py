"""The lab's week of demo reports on SQLite and PostgreSQL: imported once (a reseed stores
nothing twice) and read back by the reports page's queries."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from maildiag.feedback import Period, records, tls_failures
from maildiag.lab.feedback import (
    SPOOFER,
    keep_lab_reports_current,
    lab_week,
    next_top_up,
    seed_lab_reports,
    week_files,
)

TODAY = dt.date(2026, 12, 7)
WEEK = Period.last_days(7, TODAY)


def test_reseeding_stores_nothing_twice(engine: sa.Engine) -> None:
    first = seed_lab_reports(engine, TODAY)
    again = seed_lab_reports(engine, TODAY)
    assert not any(r.refused or r.duplicate for r in first)
    assert all(r.duplicate for r in again)
    assert len(again) == len(first)
    spoofed = records(engine, WEEK, source_ip=SPOOFER)
    assert sum(r.count for r in spoofed) > 0
    assert tls_failures(engine, WEEK, "connect.visma.com")[0].org_name == "kunde-greylist.example"


def _at(day: dt.date, hour: int, minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), dt.UTC)


def _week(today: dt.date) -> set[dt.date]:
    return {today - dt.timedelta(days=n) for n in range(7)}


def _receiver_days(engine: sa.Engine, today: dt.date) -> set[dt.date]:
    rows = records(engine, Period.last_days(7, today), receiver="kunde-spam.example")
    return {r.day for r in rows}


def test_tomorrows_reports_come_five_minutes_before_midnight() -> None:
    before = {s.name for s in lab_week(_at(TODAY, 23, 54, 59))}
    after = {s.name for s in lab_week(_at(TODAY, 23, 55))}
    assert before == {s.name for s in week_files(TODAY)}
    tomorrow = {s.name for s in week_files(TODAY + dt.timedelta(days=1), days=1)}
    assert after == before | tomorrow
    assert tomorrow
    assert not tomorrow & before
    assert next_top_up(_at(TODAY, 12, 0)) == _at(TODAY, 23, 55)
    assert next_top_up(_at(TODAY, 0, 0)) == _at(TODAY, 23, 55)
    assert next_top_up(_at(TODAY, 23, 55)) == _at(TODAY + dt.timedelta(days=1), 23, 55)
    assert next_top_up(_at(TODAY, 23, 59)) == _at(TODAY + dt.timedelta(days=1), 23, 55)


def test_a_lab_left_running_over_midnight_still_shows_a_full_week(engine: sa.Engine) -> None:
    tomorrow = TODAY + dt.timedelta(days=1)
    started = _at(TODAY, 23, 50)
    seed_lab_reports(engine, now=started)
    assert _receiver_days(engine, TODAY) == _week(TODAY)
    assert len(_receiver_days(engine, tomorrow)) == 6  # what the lab showed without a top-up

    clock = [started]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        if slept:
            raise asyncio.CancelledError  # the lab stops before the following night
        slept.append(seconds)
        clock[0] += dt.timedelta(seconds=seconds)

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(keep_lab_reports_current(engine, clock=lambda: clock[0], sleep=sleep))
    assert slept == [300.0]  # woke at 23:55, imported tomorrow's reports
    assert _receiver_days(engine, tomorrow) == _week(tomorrow)
    assert _receiver_days(engine, TODAY) == _week(TODAY)
