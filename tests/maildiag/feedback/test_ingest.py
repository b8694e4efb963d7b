"""Importing report files into the database (SQLite, and PostgreSQL when
MAILDIAG_TEST_POSTGRES_URL is set): each report stored once, duplicates counted, refusals kept
with their reason without stopping the batch, and the batch streamed."""

from __future__ import annotations

import datetime as dt
import threading
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from diag.feedback import Limits, parse_report
from maildiag.db import create_engine, migrate
from maildiag.feedback import IngestResult, Source, ingest
from maildiag.feedback import models as m
from tests.diag.feedback_samples import DATA, aggregate_xml, gz, record_xml, sample, zipped

NOW = dt.datetime(2025, 12, 6, 8, 0, tzinfo=dt.UTC)


def run(engine: sa.Engine, *sources: Source | Path, **options: object) -> list[IngestResult]:
    return ingest(engine, list(sources), now=lambda: NOW, **options)  # type: ignore[arg-type]


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_every_sample_is_stored(engine: sa.Engine) -> None:
    files = sorted(DATA.iterdir())
    results = run(engine, *files)
    assert [r.reason for r in results] == [None] * len(files)
    by_name = {Path(r.source).name: r for r in results}
    assert by_name["tlsrpt.eml"].duplicate  # the same report as tlsrpt-rfc8460.json
    assert by_name["google.xml"].duplicate  # aggregate-google.eml came first
    assert count(engine, m.reports) == 7
    assert count(engine, m.records) == 2 + 2 + 1 + 2  # Google, Microsoft, Yahoo, RFC 9990
    assert count(engine, m.tls_policies) == 2
    assert count(engine, m.tls_failures) == 3
    assert count(engine, m.failures) == 1
    assert count(engine, m.rejected) == 0


def test_result_json_is_the_import_contract(engine: sa.Engine) -> None:
    (aggregate,) = run(engine, Source("ms.xml", sample("microsoft.xml")))
    assert aggregate.to_json() == {
        "source": "ms.xml",
        "kind": "aggregate",
        "org_name": "Outlook.com",
        "report_id": "6b3ac2a0e1d94f8e9c1f0a2b3c4d5e6f",
        "begin": "2025-12-05T00:00:00Z",
        "end": "2025-12-06T00:00:00Z",
        "record_count": 2,
        "message_count": 69,
        "dispositions": {"none": 57, "quarantine": 12, "reject": 0},
        "dkim_aligned": 57,
        "spf_aligned": 57,
        "duplicate": False,
    }
    (tls,) = run(engine, Source("tls.json", sample("tlsrpt-rfc8460.json")))
    assert tls.to_json()["total_failure_session_count"] == 303
    assert tls.to_json()["result_types"]["starttls-not-supported"] == 200
    (again,) = run(engine, Source("ms.xml.gz", gz(sample("microsoft.xml"))))
    assert again.to_json()["duplicate"] is True


def test_aggregate_rows_keep_what_the_pages_need(engine: sa.Engine) -> None:
    run(engine, Source("rfc9990.xml", sample("rfc9990.xml")))
    with engine.connect() as connection:
        report = connection.execute(sa.select(m.reports)).mappings().one()
        rows = connection.execute(sa.select(m.records).order_by(m.records.c.id)).mappings().all()
    assert (report["kind"], report["policy_domain"], report["email_domain"]) == (
        "aggregate",
        "visma.com",
        "example-reporter.example",
    )
    assert report["details"]["policy_published"]["discovery_method"] == "treewalk"
    assert report["details"]["errors"] == ["rua: the size limit is ignored"]
    first = rows[0]
    assert (first["day"], first["header_from"], first["source_ip"], first["count"]) == (
        dt.date(2025, 12, 5),
        "platform.visma.com",
        "198.51.100.10",
        123,
    )
    assert (first["disposition"], first["dkim"], first["spf"]) == ("pass", "pass", "fail")
    assert first["auth_results"]["dkim"] == [
        {
            "domain": "platform.visma.com",
            "selector": "reset2026",
            "result": "pass",
            "human_result": "good signature",
        }
    ]
    assert rows[1]["auth_results"]["reasons"] == [{"type": "policy_test_mode", "comment": None}]


def test_a_duplicate_is_counted_once_within_and_across_batches(engine: sa.Engine) -> None:
    xml = aggregate_xml(report_id="dup-1")
    first = run(engine, Source("a.xml", xml), Source("b.xml.gz", gz(xml)))
    assert [r.duplicate for r in first] == [False, True]
    later = run(engine, Source("c.zip", zipped(("r.xml", xml))))
    assert [r.duplicate for r in later] == [True]
    assert later[0].summary is not None
    assert later[0].summary.message_count == 5
    assert count(engine, m.reports) == 1
    assert count(engine, m.records) == 1
    # Another reporter's report with the same id is another report.
    run(engine, Source("d.xml", aggregate_xml(org="other.example", report_id="dup-1")))
    assert count(engine, m.reports) == 2


def test_a_bad_file_is_kept_and_the_batch_goes_on(engine: sa.Engine) -> None:
    bad = aggregate_xml(report_id="bad", begin="1764979199", end="1764892800")
    results = run(
        engine,
        Source("good-1.xml", aggregate_xml(report_id="g1")),
        Source("bad.xml", bad),
        Source("bomb.gz", gz(b"\0" * (40 * 1024 * 1024))),
        Source("good-2.xml", aggregate_xml(report_id="g2")),
    )
    assert [(r.source, r.reason) for r in results] == [
        ("good-1.xml", None),
        ("bad.xml", "bad_date"),
        ("bomb.gz", "decompression_bomb"),
        ("good-2.xml", None),
    ]
    assert results[1].to_json() == {
        "source": "bad.xml",
        "where": "",
        "refused": True,
        "reason": "bad_date",
        "detail": "the range ends before it begins",
    }
    with engine.connect() as connection:
        kept = connection.execute(sa.select(m.rejected).order_by(m.rejected.c.id)).mappings()
        rows = list(kept)
    assert [(r["source"], r["reason"]) for r in rows] == [
        ("bad.xml", "bad_date"),
        ("bomb.gz", "decompression_bomb"),
    ]
    assert rows[0]["content"] == bad
    assert rows[0]["received_at"].replace(tzinfo=dt.UTC) == NOW
    assert rows[1]["size"] < 100_000
    assert count(engine, m.reports) == 2


def test_a_refused_part_of_an_archive_keeps_its_place(engine: sa.Engine) -> None:
    archive = zipped(("a.xml", aggregate_xml(report_id="a")), ("b.xml", b"<feedback/>"))
    results = run(engine, Source("two.zip", archive))
    assert [(r.where, r.reason) for r in results] == [
        ("member a.xml", None),
        ("member b.xml", "missing_field"),
    ]


def test_files_that_cannot_be_read(engine: sa.Engine, tmp_path: Path) -> None:
    large = tmp_path / "large.xml"
    large.write_bytes(b"<" + b" " * 2000)
    results = run(engine, tmp_path / "missing.xml", large, limits=Limits(max_input_bytes=1000))
    assert [r.reason for r in results] == ["unreadable", "too_large"]
    with engine.connect() as connection:
        sizes = connection.execute(sa.select(m.rejected.c.sha256, m.rejected.c.content)).all()
    assert sizes == [(None, None), (None, None)]


def test_two_imports_of_the_same_report_at_once_store_it_once(engine: sa.Engine) -> None:
    xml = aggregate_xml(report_id="race", records=record_xml() * 50)
    barrier = threading.Barrier(2)
    results: list[IngestResult] = []

    def one(name: str) -> None:
        def sources() -> Iterator[Source]:
            barrier.wait()
            yield Source(name, xml)

        results.extend(ingest(engine, sources()))

    threads = [threading.Thread(target=one, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.duplicate for r in results) == [False, True]
    assert count(engine, m.records) == 50


def _many(reports: int) -> Iterator[Source]:
    batch = uuid.uuid4().hex[:8]
    for index in range(reports):
        records = "".join(record_xml(ip=f"198.51.100.{i}", count=str(i)) for i in range(1, 31))
        report = aggregate_xml(report_id=f"{batch}-{index}", records=records)
        yield Source(f"r{index}.xml", report)


def _peak(engine: sa.Engine, reports: int) -> int:
    tracemalloc.start()
    try:
        results = ingest(engine, _many(reports), batch_size=20)
        assert not any(r.duplicate or r.refused for r in results)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert len(results) == reports


def _report_size() -> int:
    """The memory one of ``_many``'s reports takes as values."""
    data = next(_many(1)).data
    tracemalloc.start()
    try:
        report = parse_report(data)
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(report.records) == 30
    return size


def test_a_long_batch_does_not_hold_its_reports(tmp_path: Path) -> None:
    """Each report more in a batch may cost its small IngestResult, never the report: the
    peak grows by far less than a tenth of one report per extra report."""
    engine = create_engine(f"sqlite:///{tmp_path / 'stream.sqlite3'}")
    migrate(engine)
    _peak(engine, 5)  # warm the statement caches
    small = _peak(engine, 20)
    large = _peak(engine, 160)
    engine.dispose()
    per_report = (large - small) / 140
    assert per_report < _report_size() / 10, (small, large, _report_size())
