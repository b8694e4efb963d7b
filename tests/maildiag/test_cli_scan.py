"""``maildiag scan`` in process against the lab DNS server: per-domain MX / null MX / provider
summary, comments and addresses in the file, the progress bar only on a terminal, exit codes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diag.errors import InputError
from maildiag.cli import main
from maildiag.commands.progress import CountProgress
from maildiag.commands.scan import parse_scan_file
from maildiag.lab.dns import LabDnsServer, lab_dns_in_thread
from maildiag.lab.kit import prepare_lab

SCAN = """# demo customers
kunde-ok.example
kari@kunde-nullmx.example   # an address counts for its domain
per@kunde-ok.example
KUNDE-NOMX.example

kunde-blokkerer.example
"""


@pytest.fixture(scope="module")
def dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabDnsServer]:
    _, zone = prepare_lab(tmp_path_factory.mktemp("lab"))
    with lab_dns_in_thread(zone) as server:
        yield server


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "maildiag.toml"
    path.write_text("allow_private_targets = true\n", encoding="utf-8")
    return path


def run(
    capsys: pytest.CaptureFixture[str], dns: LabDnsServer, config: Path, *argv: str
) -> tuple[int, str, str]:
    try:
        code = main(["--nameserver", dns.address, "--config", str(config), *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_parse_scan_file() -> None:
    assert parse_scan_file(SCAN) == {
        "kunde-ok.example": 2,
        "kunde-nullmx.example": 1,
        "kunde-nomx.example": 1,
        "kunde-blokkerer.example": 1,
    }
    with pytest.raises(InputError, match="line 2"):
        parse_scan_file("ok.example\nnot a domain\n")


def test_scan_json(
    capsys: pytest.CaptureFixture[str], dns: LabDnsServer, config: Path, tmp_path: Path
) -> None:
    source = tmp_path / "domains.txt"
    source.write_text(SCAN, encoding="utf-8")
    code, out, err = run(capsys, dns, config, "scan", str(source), "--json", "--concurrency", "2")
    assert code == 1  # the null MX is an error-severity finding
    assert err == ""  # no progress bar when stderr is not a terminal
    data = json.loads(out)
    rows: dict[str, Any] = {r["domain"]: r for r in data["domains"]}
    assert list(rows) == [
        "kunde-ok.example",
        "kunde-nullmx.example",
        "kunde-nomx.example",
        "kunde-blokkerer.example",
    ]
    assert rows["kunde-nullmx.example"]["null_mx"] is True
    assert rows["kunde-nullmx.example"]["status"] == "problem"
    assert rows["kunde-nomx.example"]["implicit_mx"] is True
    assert rows["kunde-nomx.example"]["status"] == "warning"
    assert rows["kunde-ok.example"]["status"] == "ok"
    assert rows["kunde-ok.example"]["entries"] == 2
    assert data["summary"]["null_mx"] == 1
    assert data["summary"]["entries"] == 5
    assert {f["code"] for f in data["findings"]} >= {"mx.null_mx", "mx.implicit"}


def test_scan_text_healthy_only(
    capsys: pytest.CaptureFixture[str], dns: LabDnsServer, config: Path, tmp_path: Path
) -> None:
    source = tmp_path / "ok.txt"
    source.write_text("kunde-ok.example\nkunde-greylist.example\n", encoding="utf-8")
    code, out, _ = run(capsys, dns, config, "--lang", "en", "scan", str(source))
    assert code == 0
    assert "kunde-greylist.example" in out
    assert "2 domains (2 entries)" in out


@pytest.mark.parametrize(("lang", "name"), [("en", "no mail server"), ("nb", "ingen e-postserver")])
def test_scan_lines_name_the_provider_in_the_language(
    capsys: pytest.CaptureFixture[str],
    dns: LabDnsServer,
    config: Path,
    tmp_path: Path,
    lang: str,
    name: str,
) -> None:
    source = tmp_path / "null.txt"
    source.write_text("kunde-nullmx.example\n", encoding="utf-8")
    _, out, _ = run(capsys, dns, config, "--lang", lang, "scan", str(source))
    line = next(row for row in out.splitlines() if row.startswith("kunde-nullmx.example"))
    assert name in line
    assert "unknown" not in line


def test_progress_bar_on_a_terminal_with_rate_and_eta() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    bar = CountProgress(2, tty, label="scan", unit="domains")
    bar.advance()
    bar.advance()
    bar.close()
    shown = tty.getvalue()
    assert "\x1b[" in shown  # drawn by rich for a terminal
    assert "2/2" in shown
    assert "domains/s" in shown
    assert "0:00:00" in shown  # the time left


def test_progress_off_a_terminal_is_a_plain_line_every_ten_seconds() -> None:
    now = [0.0]
    plain = io.StringIO()
    bar = CountProgress(1000, plain, label="scan", unit="domains", clock=lambda: now[0])
    now[0] = 5.0
    bar.update(100)
    assert plain.getvalue() == ""  # a short scan says nothing
    now[0] = 10.0
    bar.update(200)
    bar.close()
    assert plain.getvalue() == "scan 200/1000 domains, 20 domains/s, ETA 0:40\n"


@pytest.mark.parametrize(
    ("content", "argv"),
    [
        ("not a domain\n", []),
        ("# only a comment\n", []),
        ("kunde-ok.example\n", ["--concurrency", "0"]),
        ("kunde-ok.example\n", ["--json", "--resume"]),
        ("kunde-ok.example\n", ["--from-accounts"]),  # a file and the accounts
        ("kunde-ok.example\n", ["--queue", "--chunk-size", "0"]),
        ("x" * 2000 + ".example\n", []),
        (b"\xff\xfe".decode("latin-1"), []),
    ],
)
def test_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str],
    dns: LabDnsServer,
    config: Path,
    tmp_path: Path,
    content: str,
    argv: list[str],
) -> None:
    source = tmp_path / "bad.txt"
    source.write_text(content, encoding="latin-1")
    code, out, err = run(capsys, dns, config, "scan", str(source), *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1


def test_no_input_exits_2(
    capsys: pytest.CaptureFixture[str], dns: LabDnsServer, config: Path
) -> None:
    code, out, err = run(capsys, dns, config, "scan")
    assert (code, out) == (2, "")
    assert err == "maildiag: error: name one of FILE and --from-accounts\n"


def test_missing_file_exits_2(
    capsys: pytest.CaptureFixture[str], dns: LabDnsServer, config: Path
) -> None:
    code, _, err = run(capsys, dns, config, "scan", "/nonexistent/list.txt")
    assert code == 2
    assert "cannot read" in err
