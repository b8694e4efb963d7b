"""The sink takes in report mail: a real SMTP conversation delivers a DMARC aggregate report to
the lab's rua mailbox, a TLS report to its TLS-RPT mailbox and a report to an address a
deployment configured, and each lands in the receivers' reports; other mail does not; a bad
report is kept as a rejected upload while the message is stored as usual."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
import sqlalchemy as sa

from maildiag.db import create_engine
from maildiag.feedback import models
from maildiag.lab.kit import LabKey, prepare_lab
from tests.diag.feedback_samples import aggregate_xml, gz, mail, sample
from tests.maildiag.sink_lab import Lab, lab_sink

SENDER = "reports@receiver.example"
WAIT = 200  # polls of the database, 50 ms apart: the intake reads in its own thread


@pytest.fixture(scope="module")
def lab_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[LabKey], Any]:
    data = tmp_path_factory.mktemp("intake-lab")
    keys, zone = prepare_lab(data)
    return data, keys, zone


@pytest.fixture
async def lab(lab_data: tuple[Path, list[LabKey], Any], tmp_path: Path) -> AsyncIterator[Lab]:
    data, keys, zone = lab_data
    async with lab_sink(
        data, keys, zone, tmp_path, sink_judge=False, sink_report_addresses=["rua@*.visma.example"]
    ) as running:
        yield running


@pytest.fixture
async def lab_defaults(
    lab_data: tuple[Path, list[LabKey], Any], tmp_path: Path
) -> AsyncIterator[Lab]:
    data, keys, zone = lab_data
    async with lab_sink(data, keys, zone, tmp_path, sink_judge=False) as running:
        yield running


async def _send(lab: Lab, to: str, message: bytes) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=lab.sink.port, start_tls=False) as c:
        await c.sendmail(SENDER, [to], message)


def _rows(lab: Lab, table: sa.Table, *columns: str) -> list[tuple[Any, ...]]:
    engine = create_engine(lab.settings.database)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(sa.select(*(table.c[c] for c in columns)))]
    finally:
        engine.dispose()


async def _eventually(lab: Lab, table: sa.Table, count: int, *columns: str) -> list[Any]:
    for _ in range(WAIT):
        rows = await asyncio.to_thread(_rows, lab, table, *columns)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.05)
    return rows


async def test_reports_to_the_labs_mailboxes_are_imported(lab_defaults: Lab) -> None:
    aggregate = mail(("application/gzip", "r.xml.gz", gz(aggregate_xml(report_id="smtp-1"))))
    await _send(lab_defaults, "dmarc-reports@visma.example", aggregate)
    tls = mail(("application/tlsrpt+json", "t.json", sample("tlsrpt-rfc8460.json")))
    await _send(lab_defaults, "TLS-Reports@visma.example", tls)
    rows = await _eventually(lab_defaults, models.reports, 2, "kind", "report_id", "source")
    assert sorted(r[:2] for r in rows) == [
        ("aggregate", "smtp-1"),
        ("tls", "5065427c-23d3-47ca-b6e0-946ea0e8c4be"),
    ]
    assert all(r[2].startswith("sink:") for r in rows)
    stored = await asyncio.to_thread(lab_defaults.sink.store.list, to="dmarc-reports@visma.example")
    assert len(stored) == 1  # the mail itself is kept too


async def test_a_configured_address_replaces_the_labs_and_other_mail_is_left_alone(
    lab: Lab,
) -> None:
    def report(report_id: str) -> bytes:
        return mail(("text/xml", "r.xml", aggregate_xml(report_id=report_id)))

    await _send(lab, "kari@kunde-ok.example", report("smtp-2"))  # not a report address
    await _send(lab, "dmarc-reports@visma.example", report("smtp-3"))  # the lab's, replaced
    await _send(lab, "rua@platform.visma.example", report("smtp-4"))
    # one intake thread reads in the order mail was stored: once smtp-4 is in, a wrong
    # import of the two before it would be too
    rows = await _eventually(lab, models.reports, 1, "report_id")
    assert rows == [("smtp-4",)]


async def test_a_bad_report_is_kept_as_rejected_and_the_mail_stored(lab: Lab) -> None:
    bad = mail(("text/xml", "r.xml", b"<!DOCTYPE x [<!ENTITY a 'b'>]><feedback>&a;</feedback>"))
    await _send(lab, "rua@connect.visma.example", bad)
    rows = await _eventually(lab, models.rejected, 1, "source", "reason")
    assert len(rows) == 1
    assert rows[0][0].startswith("sink:")
    assert rows[0][1] == "xml_dtd"
    stored = await asyncio.to_thread(lab.sink.store.list, to="rua@connect.visma.example")
    assert len(stored) == 1
