"""The command line: global options, exit codes, one-line reasons, and the spf command
against the lab DNS server over the wire."""

from __future__ import annotations

import json
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from diag.resolver import TXT
from maildiag.cli import main
from maildiag.lab.dns import LabDnsServer, lab_dns_in_thread

ZONE = {
    "example.test": {
        "TXT": [TXT((b"v=spf1 include:_spf.example.test -all",))],
        "A": ["192.0.2.10"],
    },
    "_spf.example.test": {"TXT": [TXT((b"v=spf1 ip4:198.51.100.0/24 ~all",))]},
    "exp.example.test": {
        "TXT": [TXT((b"v=spf1 -all exp=why.exp.example.test",))],
    },
    "why.exp.example.test": {"TXT": [TXT((b"%{i} is not one of our servers",))]},
}


@pytest.fixture(scope="module")
def lab() -> Iterator[LabDnsServer]:
    with lab_dns_in_thread(ZONE) as server:
        yield server


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse exits for usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        ((), "required"),
        (("spf", "example.test"), "--ip"),
        (("spf", "example.test", "--ip", "300.1.1.1"), "not an IP address"),
        (("spf", "exa mple..test", "--ip", "192.0.2.1"), "not a domain name"),
        (
            ("spf", "example.test", "--ip", "192.0.2.1", "--sender", "nobody"),
            "not an e-mail address",
        ),
        (("--timeout", "-1", "spf", "example.test", "--ip", "192.0.2.1"), "--timeout"),
        (("--lang", "de", "spf", "example.test", "--ip", "192.0.2.1"), "--lang"),
        (("frobnicate",), "invalid choice"),
        (("--nameserver", "999.9.9.9", "spf", "example.test", "--ip", "192.0.2.1"), "999.9.9.9"),
        (
            ("--nameserver", "127.0.0.1:99999", "spf", "example.test", "--ip", "192.0.2.1"),
            "not a port 1-65535",
        ),
        (("--nameserver", "foo bar", "spf", "example.test", "--ip", "192.0.2.1"), "foo bar"),
        (("--nameserver", "[::1", "spf", "example.test", "--ip", "192.0.2.1"), "--nameserver"),
    ],
)
def test_bad_usage_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], reason: str
) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert reason in err


def test_spf_pass_over_the_wire(capsys: pytest.CaptureFixture[str], lab: LabDnsServer) -> None:
    code, out, _ = _run(
        capsys,
        "--nameserver",
        lab.address,
        "--lang",
        "en",
        "spf",
        "example.test",
        "--ip",
        "198.51.100.7",
    )
    assert code == 0
    assert "Result: PASS" in out
    assert "ip4:198.51.100.0/24" in out


def test_spf_json_keys(capsys: pytest.CaptureFixture[str], lab: LabDnsServer) -> None:
    code, out, _ = _run(
        capsys,
        "--nameserver",
        lab.address,
        "spf",
        "exp.example.test",
        "--ip",
        "192.0.2.99",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["result"] == "fail"
    assert data["explanation"] == "192.0.2.99 is not one of our servers"
    assert isinstance(data["lookups"], int)
    assert isinstance(data["void_lookups"], int)
    assert data["trace"], "the trace explains the result"


def test_spf_lint_adds_the_tree(capsys: pytest.CaptureFixture[str], lab: LabDnsServer) -> None:
    code, out, _ = _run(
        capsys,
        "--nameserver",
        lab.address,
        "spf",
        "example.test",
        "--ip",
        "192.0.2.1",
        "--lint",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert "lint" in data
    assert data["result"] == "fail"  # the include's ~all is no match; the top -all decides


def test_timeout_is_temperror_not_none(
    capsys: pytest.CaptureFixture[str], lab: LabDnsServer
) -> None:
    lab.set_fault("example.test", "timeout")
    try:
        code, out, _ = _run(
            capsys,
            "--nameserver",
            lab.address,
            "--timeout",
            "0.3",
            "spf",
            "example.test",
            "--ip",
            "198.51.100.7",
            "--json",
        )
    finally:
        lab.set_fault("example.test", None)
    assert code == 0
    assert json.loads(out)["result"] == "temperror"


def test_python_dash_m_runs_the_same_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "maildiag", "spf", "example.test", "--ip", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "maildiag: error: not an IP address: 'nope'"


def test_serve_refuses_lab_data_without_lab(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maildiag.lab.kit import prepare_lab

    prepare_lab(tmp_path / "data")
    monkeypatch.setenv("MAILDIAG_SECRET_KEY", secrets.token_urlsafe(32))
    code, _, err = _run(capsys, "serve", "--data", str(tmp_path / "data"), "--port", "0")
    assert code == 2
    assert "lab" in err
    assert len(err.strip().splitlines()) == 1


def test_serve_names_lab_data_before_the_secret_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Without a key of its own, serve on a lab's data says the data is the lab's, not that
    the key is the placeholder."""
    from maildiag.lab.kit import prepare_lab

    prepare_lab(tmp_path / "data")
    code, _, err = _run(capsys, "serve", "--data", str(tmp_path / "data"), "--port", "0")
    assert code == 2
    assert "holds the lab's demo data" in err
    assert "secret_key" not in err


def test_the_data_dir_given_is_where_a_running_lab_is_read(tmp_path: Path) -> None:
    """Commands run beside a lab read its lab.toml from their --data; serve, which writes
    it, never reads a stale one (a new lab on other ports must not take the old base URL)."""
    from maildiag.cli import build_parser, settings_for

    stale = tmp_path / "elsewhere"
    stale.mkdir()
    (stale / "LAB-DATA").write_text("lab\n")
    (stale / "lab.toml").write_text('lab = true\npublic_base_url = "http://127.0.0.1:41927"\n')
    parser = build_parser()
    worker = settings_for(parser.parse_args(["worker", "--data", str(stale)]))
    assert worker.public_base_url == "http://127.0.0.1:41927"
    serve = settings_for(parser.parse_args(["serve", "--lab", "--data", str(stale)]))
    assert serve.public_base_url == "http://127.0.0.1:8000"
    assert settings_for(parser.parse_args(["sender"])).public_base_url == "http://127.0.0.1:8000"


def test_serve_reports_a_taken_port(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.setenv("MAILDIAG_SECRET_KEY", secrets.token_urlsafe(32))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = _run(capsys, "serve", "--data", str(tmp_path), "--port", str(port))
    assert code == 2
    assert err.startswith("maildiag: error: cannot start")


def test_sink_reports_a_taken_port(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.setenv("MAILDIAG_SECRET_KEY", secrets.token_urlsafe(32))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = _run(
            capsys, "sink", "--smtp-port", str(port), "--http-port", "0", "--data", str(tmp_path)
        )
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "in use" in err


@pytest.mark.parametrize(
    ("command", "key"),
    [
        (("serve", "--port", "0"), "a"),
        (("worker",), "x" * 64),
        (("sink", "--smtp-port", "0", "--http-port", "0"), "0123456789abcdef" * 4),
    ],
)
def test_services_refuse_a_weak_secret_key_outside_the_lab(
    tmp_path: Path, command: tuple[str, ...], key: str
) -> None:
    """In a process of its own, so a service that wrongly starts is stopped by the timeout."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDIAG_")}
    env["MAILDIAG_SECRET_KEY"] = key
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "maildiag", *command, "--data", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=20,
            env=env,
            cwd=tmp_path,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"maildiag {command[0]} started with secret_key {key!r}")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("maildiag: error: secret_key")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "secrets.token_urlsafe(32)" in proc.stderr


def test_the_lab_makes_its_own_secret_key(tmp_path: Path) -> None:
    from pydantic import SecretStr

    from maildiag.lab.kit import LAB_SECRET, lab_settings, prepare_lab
    from maildiag.settings import Settings, secret_key_problem

    keys, _zone = prepare_lab(tmp_path)
    first = lab_settings(Settings(data_dir=tmp_path), keys).secret_key.get_secret_value()
    assert secret_key_problem(first) is None
    path = tmp_path / LAB_SECRET
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = lab_settings(Settings(data_dir=tmp_path), keys).secret_key.get_secret_value()
    assert again == first  # kept: a restarted lab keeps its sessions
    own = secrets.token_urlsafe(32)
    configured = Settings(data_dir=tmp_path, secret_key=SecretStr(own))
    assert lab_settings(configured, keys).secret_key.get_secret_value() == own
