"""``maildiag authenticate`` in process against the lab's DNS server: lab-signed messages, a wrong
IP, a tampered body, unreadable input and third-party conformance messages."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diag.dkim import sign_message
from maildiag.cli import main
from maildiag.lab.dns import LabDnsServer, lab_dns_in_thread
from maildiag.lab.kit import LabKey, prepare_lab
from maildiag.lab.zones import LAB_EGRESS

DOMAIN = "platform.visma.com"
MESSAGE = (
    b"From: Visma <do.not.reply@platform.visma.com>\r\n"
    b"To: kari@kunde-ok.example\r\n"
    b"Subject: Tilbakestill passordet ditt\r\n"
    b"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <reset.1@platform.visma.com>\r\n"
    b"\r\n"
    b"Folg lenken for aa velge et nytt passord.\r\n"
)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabDnsServer, Path]]:
    data = tmp_path_factory.mktemp("lab")
    keys, zone = prepare_lab(data)
    key: LabKey = next(k for k in keys if k.domain == DOMAIN)
    signed = sign_message(
        MESSAGE, domain=key.domain, selector=key.selector, private_key=key.private_path.read_bytes()
    )
    (data / "signed.eml").write_bytes(signed)
    (data / "tampered.eml").write_bytes(signed.replace(b"nytt passord", b"nytt PASSORD"))
    with lab_dns_in_thread(zone) as server:
        yield server, data


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _auth(
    capsys: pytest.CaptureFixture[str], lab: Any, path: str, *argv: str
) -> tuple[int, str, str]:
    server, _ = lab
    return _run(capsys, "--nameserver", server.address, "authenticate", path, *argv)


def _envelope(ip: str = LAB_EGRESS[DOMAIN]) -> tuple[str, ...]:
    return ("--ip", ip, "--helo", f"mail-out.{DOMAIN}", "--mail-from", f"do.not.reply@{DOMAIN}")


def test_lab_signed_message_passes(capsys: pytest.CaptureFixture[str], lab: Any) -> None:
    code, out, err = _auth(capsys, lab, str(lab[1] / "signed.eml"), *_envelope(), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= {"spf", "dkim", "dmarc", "authentication_results", "findings"}
    assert data["spf"] == {"result": "pass", "domain": DOMAIN}
    assert data["dkim"] == [
        {"result": "pass", "domain": DOMAIN, "selector": "lab2026", "reason": ""}
    ]
    assert data["dmarc"]["result"] == "pass"
    assert data["dmarc"]["policy"] == "reject"
    assert data["dmarc"]["from_domain"] == DOMAIN
    assert data["authentication_results"].startswith(
        "maildiag; spf=pass smtp.mailfrom=platform.visma.com"
    )


def test_wrong_ip_fails_spf(capsys: pytest.CaptureFixture[str], lab: Any) -> None:
    code, out, _ = _auth(
        capsys, lab, str(lab[1] / "signed.eml"), *_envelope("192.0.2.77"), "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["spf"]["result"] == "fail"
    assert data["dmarc"]["spf_aligned"] is False
    assert data["dmarc"]["result"] == "pass"  # the aligned DKIM signature still carries it


def test_tampered_body_fails_dkim(capsys: pytest.CaptureFixture[str], lab: Any) -> None:
    code, out, _ = _auth(
        capsys, lab, str(lab[1] / "tampered.eml"), *_envelope("192.0.2.77"), "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["dkim"][0]["result"] == "fail"
    assert data["dkim"][0]["reason"] == "body_hash_mismatch"
    assert data["dmarc"]["result"] == "fail"
    assert data["dmarc"]["disposition"] == "reject"


def test_human_verdict(capsys: pytest.CaptureFixture[str], lab: Any) -> None:
    code, out, _ = _auth(capsys, lab, str(lab[1] / "signed.eml"), *_envelope())
    assert code == 0
    assert "✔ SPF: pass (platform.visma.com)" in out
    assert "✔ DKIM: pass d=platform.visma.com s=lab2026" in out
    assert "Authentication-Results: maildiag; spf=pass" in out


def test_stdin(
    capsys: pytest.CaptureFixture[str], lab: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO((lab[1] / "signed.eml").read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, _ = _auth(capsys, lab, "-", *_envelope(), "--json")
    assert code == 0
    assert json.loads(out)["dkim"][0]["result"] == "pass"


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (("/nonexistent/message.eml", "--ip", "192.0.2.1"), "cannot read"),
        (("MESSAGE", "--ip", "192.0.2.300"), "not an IP address"),
        (("MESSAGE", "--ip", "192.0.2.1", "--mail-from", "nobody"), "not an e-mail address"),
        (("EMPTY", "--ip", "192.0.2.1"), "is empty"),
    ],
)
def test_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], lab: Any, argv: tuple[str, ...], reason: str
) -> None:
    empty = lab[1] / "empty.eml"
    empty.write_bytes(b"")
    paths = {"MESSAGE": str(lab[1] / "signed.eml"), "EMPTY": str(empty)}
    code, out, err = _auth(capsys, lab, *(paths.get(a, a) for a in argv))
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert reason in err


def _conformance(conformance_dir: Path) -> list[Path]:
    folders = [conformance_dir / "dmarc" / "authheaders-0.16.3", conformance_dir / "headers"]
    return sorted(
        p
        for folder in folders
        for p in folder.rglob("*")
        if p.is_file()
        and "cache" not in p.parts
        and not p.name.startswith(("COPYING", "LICENSE", "NOTICE"))
    )


def test_conformance_messages(
    capsys: pytest.CaptureFixture[str], lab: Any, conformance_dir: Path
) -> None:
    messages = _conformance(conformance_dir)
    assert len(messages) > 20
    for path in messages:
        code, out, err = _auth(
            capsys, lab, str(path), "--ip", "192.0.2.1", "--mail-from", "a@example.org", "--json"
        )
        assert code == 0, (path, err)
        data = json.loads(out)
        assert data["dmarc"]["result"] in ("pass", "fail", "none", "temperror", "permerror"), path
