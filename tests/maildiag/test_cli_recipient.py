"""``maildiag recipient`` in process against the lab's DNS server (and, for ``--probe``, a real
aiosmtpd server on loopback port 0): null MX, implicit MX, the healthy domain, the SSRF guard,
probe findings, exit codes, and the human report in both languages."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from maildiag.cli import main
from maildiag.lab.dns import LabDnsServer, lab_dns_in_thread
from maildiag.lab.kit import prepare_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabDnsServer, Path, Path]]:
    data = tmp_path_factory.mktemp("lab")
    _keys, zone = prepare_lab(data)
    allowed = data / "lab.toml"  # as a running lab writes it (maildiag.lab.kit.write_lab_config)
    allowed.write_text("lab = true\nallow_private_targets = true\n", encoding="utf-8")
    strict = data / "strict.toml"
    strict.write_text("allow_private_targets = false\n", encoding="utf-8")
    with lab_dns_in_thread(zone) as server:
        yield server, allowed, strict


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _args(lab: tuple[LabDnsServer, Path, Path], *rest: str, strict: bool = False) -> list[str]:
    server, allowed, strict_config = lab
    config = strict_config if strict else allowed
    return ["--config", str(config), "--nameserver", f"127.0.0.1:{server.port}", *rest]


def codes(data: dict[str, Any]) -> list[str]:
    return [f["code"] for f in data["findings"]]


def test_null_mx_is_an_error(lab: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, *_args(lab, "recipient", "kunde-nullmx.example", "--json"))
    assert code == 1, err
    data = json.loads(out)
    assert codes(data) == ["mx.null_mx"]
    assert data["mx"]["null_mx"] is True
    assert data["domain"] == "kunde-nullmx.example"
    assert data["probe"] is None


def test_implicit_mx(lab: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, *_args(lab, "recipient", "kari@kunde-nomx.example", "--json"))
    assert code == 0
    data = json.loads(out)
    assert codes(data) == ["mx.implicit", "mta_sts.none", "tlsrpt.none", "dane.none"]
    assert data["address"] == "kari@kunde-nomx.example"
    assert data["mx"]["hosts"][0]["addresses"] == ["127.0.0.1"]


def test_healthy_domain(lab: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, *_args(lab, "recipient", "kunde-ok.example", "--json"))
    assert code == 0
    data = json.loads(out)
    assert codes(data) == ["mx.ok", "mta_sts.policy_not_fetched", "tlsrpt.ok", "dane.none"]
    assert data["mx"]["hosts"][0]["name"] == "mx.kunde-ok.example"
    assert data["mx"]["provider"] == "generic"


def test_private_mx_refused_outside_the_lab(lab: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, *_args(lab, "recipient", "kunde-ok.example", "--json", strict=True))
    assert code == 1
    assert "mx.host_private" in codes(json.loads(out))


def test_missing_domain(lab: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, *_args(lab, "recipient", "finnes-ikke.example", "--json"))
    assert code == 1
    assert codes(json.loads(out)) == ["mx.domain_missing"]


@pytest.mark.parametrize("bad", ["not a domain", "kari@", "@kunde-ok.example", "x" * 300])
def test_bad_input_exits_2(lab: Any, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    code, out, err = _run(capsys, *_args(lab, "recipient", bad))
    assert code == 2
    assert out == ""
    assert err.startswith("maildiag: error:")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("lang", "word"), [("nb", "Mottakerrapport"), ("en", "Recipient report")])
def test_human_report(lab: Any, capsys: pytest.CaptureFixture[str], lang: str, word: str) -> None:
    code, out, _ = _run(capsys, *_args(lab, "--lang", lang, "recipient", "kunde-nullmx.example"))
    assert code == 1
    assert word in out
    assert "[mx.null_mx]" in out
    assert "RFC 7505" in out


class _Handler:
    def __init__(self, mail_reply: str = "250 OK") -> None:
        self.mail_reply = mail_reply
        self.seen: list[str] = []

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.seen.append(f"MAIL {address}")
        if self.mail_reply.startswith("250"):
            envelope.mail_from = address
        return self.mail_reply

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.seen.append(f"RCPT {address}")
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def smtp_thread() -> Iterator[Any]:
    """Start aiosmtpd servers on loopback port 0, each on a loop in its own thread."""
    stops: list[Any] = []

    def start(handler: _Handler, host: str = "127.0.0.1") -> int:
        ready = threading.Event()
        holder: dict[str, Any] = {}

        async def serve() -> None:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(
                lambda: SMTP(handler, hostname="mx.lab.test"), host, 0
            )
            holder["port"] = server.sockets[0].getsockname()[1]
            holder["stop"] = stop = asyncio.Event()
            holder["loop"] = loop
            ready.set()
            await stop.wait()
            server.close()
            await server.wait_closed()

        thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        thread.start()
        assert ready.wait(5)
        stops.append((holder, thread))
        return int(holder["port"])

    yield start
    for holder, thread in stops:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(5)


def test_probe_healthy_with_rcpt(
    lab: Any, capsys: pytest.CaptureFixture[str], smtp_thread: Any
) -> None:
    handler = _Handler()
    port = smtp_thread(handler)
    argv = _args(
        lab, "recipient", "kari@kunde-ok.example", "--probe", "--port", str(port), "--json"
    )
    code, out, err = _run(capsys, *argv)
    assert code == 0, err
    data = json.loads(out)
    probe = data["probe"]
    assert probe["connected"]
    assert probe["host"] == "mx.kunde-ok.example"
    assert handler.seen == [
        "MAIL do.not.reply@platform.visma.com",
        "RCPT kari@kunde-ok.example",
        "MAIL do.not.reply@connect.visma.com",
        "RCPT kari@kunde-ok.example",
    ]
    assert "probe.rcpt_accepted" in codes(data)
    assert any(line["line"] == "QUIT" for line in probe["transcript"])


def test_probe_domain_only_sends_no_rcpt(
    lab: Any, capsys: pytest.CaptureFixture[str], smtp_thread: Any
) -> None:
    handler = _Handler()
    port = smtp_thread(handler)
    argv = _args(lab, "recipient", "kunde-ok.example", "--probe", "--port", str(port), "--json")
    code, _, _ = _run(capsys, *argv)
    assert code == 0
    assert not [s for s in handler.seen if s.startswith("RCPT")]


def test_probe_sender_blocked_exits_1(
    lab: Any, capsys: pytest.CaptureFixture[str], smtp_thread: Any
) -> None:
    # The lab's kunde-blokkerer MX has a loopback address of its own (LAB_MX_ADDRESSES).
    port = smtp_thread(_Handler("550 5.7.1 Sender rejected by policy"), "127.0.0.2")
    argv = _args(lab, "recipient", "kari@kunde-blokkerer.example", "--probe", "--port", str(port))
    code, out, _ = _run(capsys, *[*argv, "--json"])
    assert code == 1
    data = json.loads(out)
    blocked = [f for f in data["findings"] if f["code"] == "probe.sender_blocked"]
    assert [f["evidence"]["sender"] for f in blocked] == [
        "do.not.reply@platform.visma.com",
        "do.not.reply@connect.visma.com",
    ]
    code, text, _ = _run(capsys, *_args(lab, "--lang", "en", *argv[4:]))
    assert code == 1
    assert "The server blocks do.not.reply@platform.visma.com" in text
    assert "MAIL FROM:<do.not.reply@platform.visma.com>" in text


def test_probe_closed_port_is_not_the_recipients_fault(
    lab: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = _args(lab, "recipient", "kunde-ok.example", "--probe", "--port", str(port), "--json")
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    assert "probe.could_not_run" in codes(json.loads(out))


def test_probe_guard_outside_the_lab(lab: Any, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _args(lab, "recipient", "kunde-ok.example", "--probe", "--json", strict=True)
    code, out, _ = _run(capsys, *argv)
    data = json.loads(out)
    assert code == 1
    assert data["probe"]["connected"] is False
    assert data["probe"]["transcript"] == []


def test_every_finding_code_has_nb_and_en_wording() -> None:
    import re

    from diag.findings import ERROR, Finding
    from reports.catalog_recipient import CATALOG, finding_text

    root = Path(__file__).resolve().parents[2] / "diag"
    sources = [root / "mx.py", *(root / "probe").glob("*.py"), *(root / "headers").glob("*.py")]
    found = set()
    for source in sources:
        found |= set(re.findall(r'"((?:mx|probe|headers)\.[a-z_]+)"', source.read_text("utf-8")))
    assert len(found) > 40
    missing = sorted(c for c in found if f"finding.{c}" not in CATALOG)
    assert not missing
    for key, (nb, en) in CATALOG.items():
        assert nb.strip(), key
        assert en.strip(), key
    text = finding_text(Finding("mx.null_mx", ERROR, "", {}), "en")
    assert text.startswith("? has a null MX")  # missing evidence shows as "?"


def test_html_report_escapes_the_servers_words() -> None:
    from diag.findings import ERROR, Finding
    from diag.mx import MxHost, MxReport
    from diag.probe import ProbeReport, TranscriptLine
    from reports.recipient import recipient_view, render_recipient

    host = MxHost("mx.kunde-ok.example", 10, ("127.0.0.1",))
    mx = MxReport("kunde-ok.example", (host,), provider="generic")
    blocked = Finding(
        "probe.sender_blocked",
        ERROR,
        "",
        {"sender": "a@b.example", "reply": "550 5.7.1 <b>no</b>"},
    )
    probe = ProbeReport(
        host="mx.kunde-ok.example",
        port=25,
        connected=True,
        banner="220 <script>alert(1)</script>",
        findings=(blocked,),
        transcript=(TranscriptLine(1.0, "S", "220 <script>alert(1)</script>"),),
    )
    address = "kari@kunde-ok.example"
    view = recipient_view(mx, lang="en", probe=probe, address=address)
    html = render_recipient(view, fmt="html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;no&lt;/b&gt;" in html
    nb = recipient_view(mx, lang="nb", probe=probe, address=address)
    markdown = render_recipient(nb, fmt="markdown")
    assert "Mottakerrapport for kari@kunde-ok.example" in markdown
    with pytest.raises(ValueError, match="unknown format"):
        render_recipient(view, fmt="pdf")
