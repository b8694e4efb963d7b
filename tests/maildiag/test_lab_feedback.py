"""The lab's week of demo reports: every file parses, the planted cases are there (legacy's
DKIM failures, the forwarder breaking SPF, the spoofer, kunde-spam's quarantines, a TLS
failure), reseeding stores nothing twice, and a fresh lab database has them."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from diag.feedback import AggregateReport, TlsReport, extract
from maildiag.db import create_engine
from maildiag.feedback import Period
from maildiag.lab.feedback import FORWARDER, SPOOFER, lab_week, week_files
from maildiag.lab.seed import prepare_lab_database
from maildiag.settings import Settings

TODAY = dt.date(2026, 12, 7)
WEEK = Period.last_days(7, TODAY)


def _reports() -> list[AggregateReport | TlsReport]:
    found = []
    for source in week_files(TODAY):
        for item in extract(source.data):
            assert item.error is None, (source.name, item.error)
            assert isinstance(item.report, AggregateReport | TlsReport)
            found.append(item.report)
    return found


def test_every_file_parses_and_covers_the_week_up_to_today() -> None:
    reports = _reports()
    days = {r.begin.date() for r in reports}
    assert days == {WEEK.start + dt.timedelta(days=n) for n in range(7)}
    kinds = Counter(type(r).__name__ for r in reports)
    assert kinds == {"AggregateReport": 5 * 3 * 7, "TlsReport": 2 * 2 * 7}


def test_the_planted_cases_are_in_the_reports() -> None:
    rows = [
        (r.org_name, rec) for r in _reports() if isinstance(r, AggregateReport) for rec in r.records
    ]
    legacy = [rec for _, rec in rows if rec.header_from == "legacy.visma.example"]
    assert legacy
    assert {(rec.dkim, rec.spf, rec.disposition) for rec in legacy} == {
        ("fail", "fail", "quarantine")
    }
    forwarded = [rec for _, rec in rows if rec.source_ip == FORWARDER]
    assert forwarded
    assert {(rec.dkim, rec.spf, rec.disposition) for rec in forwarded} == {("pass", "fail", "none")}
    spoofed = [(org, rec) for org, rec in rows if rec.source_ip == SPOOFER]
    assert {org for org, _ in spoofed} == {"kunde-ok.example", "kunde-greylist.example"}
    assert {(rec.dkim, rec.spf, rec.disposition) for _, rec in spoofed} == {
        ("fail", "fail", "reject")
    }
    spam = [rec for org, rec in rows if org == "kunde-spam.example"]
    healthy = [rec for rec in spam if rec.header_from != "legacy.visma.example"]
    assert {(rec.dkim, rec.spf, rec.disposition) for rec in healthy} == {
        ("pass", "pass", "quarantine")
    }
    tls = [r for r in _reports() if isinstance(r, TlsReport)]
    failures = {f.result_type for r in tls for p in r.policies for f in p.failures}
    assert failures == {"certificate-host-mismatch"}


def test_a_fresh_lab_database_has_the_week(tmp_path: Path) -> None:
    settings = Settings(lab=True, data_dir=tmp_path)
    before = dt.datetime.now(dt.UTC)
    prepare_lab_database(settings)
    after = dt.datetime.now(dt.UTC)
    engine = create_engine(settings.database)
    with engine.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM feedback_reports")).scalar_one()
    engine.dispose()
    # the week up to today, and tomorrow's reports too from five minutes before midnight
    held = {_counted(before), _counted(after)}
    assert count in held
    assert min(held) == 5 * 3 * 7 + 2 * 2 * 7


def _counted(now: dt.datetime) -> int:
    return sum(len(list(extract(s.data))) for s in lab_week(now))
