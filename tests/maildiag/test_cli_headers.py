"""``maildiag headers`` in process: files and stdin, JSON keys, exit codes, the human report in
both languages, and garbage that still gets a report."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from maildiag.cli import main


@pytest.fixture(scope="module")
def samples(conformance_dir: Path) -> Path:
    folder = conformance_dir / "headers"
    if not folder.is_dir():
        pytest.skip("shared conformance headers (../shared/conformance/headers) are absent")
    return folder


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_spam_003(samples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = samples / "spamassassin" / "spam-003.eml"
    code, out, err = _run(capsys, "headers", "--offline", str(path), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == {
        "hops",
        "total_delay_seconds",
        "authentication",
        "verdicts",
        "conclusion",
        "findings",
    }
    assert data["conclusion"]["folder"] == "junk"
    assert data["conclusion"]["reason"] == "spam_filter"
    assert data["verdicts"][0]["score"] == 15.0


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    text = b"X-Forefront-Antispam-Report: SCL:9;SFV:SPM;CAT:PHSH;DIR:INB;\n\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text)))
    code, out, _ = _run(capsys, "headers", "-", "--json", "--offline")
    assert code == 0
    assert json.loads(out)["conclusion"]["folder"] == "quarantine"


@pytest.mark.parametrize(
    ("lang", "words"),
    [("nb", ("Søppelpost-mappen", "spamfilteret")), ("en", ("The junk folder", "the spam filter"))],
)
def test_human_report(
    samples: Path, capsys: pytest.CaptureFixture[str], lang: str, words: tuple[str, str]
) -> None:
    path = samples / "spamassassin" / "spam-003.eml"
    code, out, _ = _run(capsys, "--lang", lang, "headers", "--offline", str(path))
    assert code == 0
    for word in words:
        assert word in out
    assert "[headers.junk]" in out


def test_microsoft_details_in_text(samples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = samples / "decode-spam-headers" / "sample-headers.txt"
    code, out, _ = _run(capsys, "--lang", "en", "headers", "--offline", str(path))
    assert code == 0
    assert "SFV=SKI: internal to the organization" in out
    assert "Total time in transit: 60 s" in out


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "headers", str(tmp_path / "nope.eml"))
    assert code == 2
    assert out == ""
    assert err.startswith("maildiag: error: cannot read")


def test_empty_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"  \n")
    code, _, err = _run(capsys, "headers", str(empty))
    assert code == 2
    assert "empty" in err


def test_too_large_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.eml"
    big.write_bytes(b"Subject: x\n\n" + b"a" * 1_000_100)
    code, _, err = _run(capsys, "headers", str(big))
    assert code == 2
    assert "limit" in err


def test_garbage_still_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\xff\xfe garbage (((( ;;; \n\t\t\n")
    code, out, _ = _run(capsys, "headers", "--offline", str(junk), "--json")
    assert code == 0
    assert json.loads(out)["conclusion"]["folder"] == "unknown"


def test_html_report_escapes_header_values() -> None:
    from diag.headers import parse_headers
    from reports.headers import headers_view, render_headers

    raw = (
        "Received: from <script>x</script> by mx.<b>evil</b>.example with ESMTP;"
        " Thu, 26 Nov 2026 10:00:00 +0000\n"
        'Authentication-Results: <img src=x onerror="y">; spf=pass smtp.mailfrom=a.example\n'
        "X-Spam-Status: Yes, score=9 required=5\n\n"
    )
    report = parse_headers(raw)
    for lang in ("nb", "en"):
        html = render_headers(headers_view(report, lang=lang, source="<paste>"), fmt="html")
        assert "<script>" not in html
        assert "<b>evil" not in html
        assert "<img" not in html
        assert "&lt;script&gt;" in html
    markdown = render_headers(headers_view(report, lang="en", source="<paste>"), fmt="markdown")
    assert "The junk folder" in markdown
    with pytest.raises(ValueError, match="unknown language"):
        headers_view(report, lang="de", source="<paste>")
