"""``maildiag reports import`` in process on a SQLite data dir: every file format, refused files
kept with their reason while the batch goes on, duplicates counted once, the summary in nb and
en, ``--json``, and exit 2 for arguments that are no files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from maildiag.cli import main
from maildiag.db import create_engine, migrate
from maildiag.feedback import models
from maildiag.lab.feedback import SPOOFER, seed_lab_reports
from tests.diag.feedback_samples import aggregate_xml, gz, mail, mbox, sample, zipped
from tests.maildiag import test_cli_checklist as cli_checklist
from tests.maildiag.test_cli_checklist import items, run

lab = cli_checklist.lab  # the lab of the checklist's CLI tests: DNS and a sink on loopback
BOMB = gz(b"<feedback>" + b" " * (33 * 1024 * 1024) + b"</feedback>")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {
        "plain.xml": aggregate_xml(report_id="plain"),
        "packed.xml.gz": gz(aggregate_xml(report_id="packed")),
        "archive.zip": zipped(("a.xml", aggregate_xml(report_id="zipped"))),
        "tls.json": sample("tlsrpt-rfc8460.json"),
        "tls.json.gz": gz(sample("tlsrpt-google.json")),
        "report.eml": mail(("application/gzip", "r.xml.gz", gz(aggregate_xml(report_id="mail")))),
        "reports.mbox": mbox(
            mail(("text/xml", "m1.xml", aggregate_xml(report_id="mbox-1"))),
            mail(("text/xml", "m2.xml", aggregate_xml(report_id="mbox-2"))),
        ),
        "again.xml": aggregate_xml(report_id="plain"),
        "broken.xml": b"<feedback><report_metadata>",
        "bomb.xml.gz": BOMB,
    }
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in made}


def _run(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--lang", "en", "reports", "import", "--data", str(data), *args])
    out, err = capsys.readouterr()
    return code, out, err


def _stored(data: Path) -> tuple[list[str], list[tuple[str, str]]]:
    engine = create_engine(f"sqlite:///{data.resolve() / 'maildiag.sqlite3'}")
    with engine.connect() as connection:
        ids = connection.execute(sa.select(models.reports.c.report_id)).scalars().all()
        refused = connection.execute(
            sa.select(models.rejected.c.source, models.rejected.c.reason)
        ).all()
    engine.dispose()
    return sorted(ids), [(Path(s).name, r) for s, r in refused]


def test_every_format_is_imported_and_bad_files_do_not_stop_the_batch(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    order = [
        "broken.xml",
        "plain.xml",
        "bomb.xml.gz",
        *(n for n in files if n not in ("broken.xml", "plain.xml", "bomb.xml.gz")),
    ]
    data = tmp_path / "data"
    code, out, err = _run(capsys, data, *(str(files[n]) for n in order))
    assert code == 2
    refused = "2 file(s) or parts refused (xml_malformed, decompression_bomb)"
    assert err == f"maildiag: error: {refused}\n"
    assert out.splitlines()[-1] == "8 accepted, 1 duplicate(s), 2 rejected"
    again, bomb = files["again.xml"], files["bomb.xml.gz"]
    assert f"duplicate {again}: DMARC aggregate report from receiver.example, report plain" in out
    assert f"rejected  {bomb}: inflates past the size limits (decompression bomb)" in out
    ids, refused = _stored(data)
    assert {"plain", "packed", "zipped", "mail", "mbox-1", "mbox-2"} <= set(ids)
    assert len(ids) == 8  # the two TLS reports too, and "plain" once
    assert sorted(refused) == [
        ("bomb.xml.gz", "decompression_bomb"),
        ("broken.xml", "xml_malformed"),
    ]


def test_a_second_import_counts_duplicates_and_exits_0(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert _run(capsys, data, str(files["plain.xml"]))[0] == 0
    code, out, err = _run(capsys, data, str(files["plain.xml"]), str(files["again.xml"]))
    assert code == 0
    assert err == ""
    assert out.splitlines()[-1] == "0 accepted, 2 duplicate(s), 0 rejected"


def test_json_lists_each_report_and_the_counts(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys, tmp_path / "data", "--json", str(files["tls.json"]), str(files["broken.xml"])
    )
    assert code == 2
    summary = json.loads(out)
    assert summary["accepted"] == 1
    assert summary["rejected"] == 1
    assert summary["reasons"] == {"xml_malformed": 1}
    tls, broken = summary["reports"]
    assert tls["kind"] == "tls"
    assert tls["duplicate"] is False
    assert tls["total_failure_session_count"] == 303
    assert broken["refused"] is True
    assert broken["reason"] == "xml_malformed"


def test_the_summary_in_norwegian(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--lang",
            "nb",
            "reports",
            "import",
            "--data",
            str(tmp_path / "d"),
            str(files["plain.xml"]),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "godtatt   " in out
    assert "DMARC-samlerapport fra receiver.example" in out
    assert out.splitlines()[-1] == "1 godtatt, 0 duplikat(er), 0 avvist"


@pytest.mark.parametrize("given", ["missing.xml", "."])
def test_arguments_that_are_no_files_exit_2_before_anything_is_imported(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    data = tmp_path / "data"
    code, out, err = _run(capsys, data, str(files["plain.xml"]), given)
    assert code == 2
    assert out == ""
    assert err == f"maildiag: error: {given} is not a readable file\n"
    assert not (data / "maildiag.sqlite3").exists()


def test_no_file_at_all_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["reports", "import"])
    assert raised.value.code == 2
    assert "required: FILE" in capsys.readouterr().err


def test_the_admin_checklist_cites_what_the_receiver_reported(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any]
) -> None:
    engine = create_engine(lab["settings"].database)
    migrate(engine)
    seed_lab_reports(engine)
    engine.dispose()
    argv = ("checklist", "kari@kunde-ok.example", "--audience", "admin", "--format", "json")
    code, out, err = run(capsys, lab, *argv)
    assert code == 0, err
    item = items(out)["sender.authentication"]
    spoofed = [r for r in item["evidence"]["receiver_reports"] if r["source_ip"] == SPOOFER]
    assert spoofed
    assert {(r["ours"], r["disposition"]) for r in spoofed} == {(False, "reject")}
    self_out = run(
        capsys, lab, "checklist", "kari@kunde-ok.example", "--audience", "self", "--format", "json"
    )[1]
    assert "receiver_reports" not in items(self_out)["sender.authentication"]["evidence"]
