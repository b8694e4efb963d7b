"""The lab's week of demo reports on SQLite and PostgreSQL: imported once (a reseed stores
nothing twice) and read back by the reports page's queries."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from maildiag.feedback import Period, records, tls_failures
from maildiag.lab.feedback import SPOOFER, seed_lab_reports

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
