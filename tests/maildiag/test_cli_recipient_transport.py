"""``maildiag recipient`` shows the recipient's transport security (issue #16 §3) against the
lab's DNS server: in the lab the MTA-STS policy is never fetched and the report says so;
outside it the fetch is tried (through DNS and the guard); with ``--probe`` against a real
STARTTLS server on loopback the certificate is judged; nb and en wording for every code."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from maildiag.cli import main
from maildiag.lab.dns import lab_dns_in_thread
from maildiag.lab.kit import prepare_lab
from tests.diag.certs import make_ca, make_server, server_context


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path, Path]]:
    data = tmp_path_factory.mktemp("lab")
    _keys, zone = prepare_lab(data)
    in_lab = data / "lab.toml"
    in_lab.write_text("lab = true\nallow_private_targets = true\n", encoding="utf-8")
    outside = data / "outside.toml"
    outside.write_text("allow_private_targets = true\n", encoding="utf-8")
    with lab_dns_in_thread(zone) as server:
        yield server.port, in_lab, outside


def run(capsys: pytest.CaptureFixture[str], lab: Any, *argv: str, outside: bool = False) -> Any:
    port, in_lab, outside_config = lab
    config = outside_config if outside else in_lab
    try:
        code = main(["--config", str(config), "--nameserver", f"127.0.0.1:{port}", *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def codes(data: dict[str, Any]) -> list[str]:
    return [f["code"] for f in data["transport"]["findings"]]


def test_in_the_lab_the_policy_is_never_fetched(lab: Any, capsys: Any) -> None:
    code, out, _ = run(capsys, lab, "recipient", "kunde-ok.example", "--json")
    assert code == 0
    data = json.loads(out)
    transport = data["transport"]
    assert codes(data) == ["mta_sts.policy_not_fetched", "tlsrpt.ok", "dane.none"]
    assert transport["mta_sts"]["record"] == "v=STSv1; id=20260101T000000"
    assert transport["mta_sts"]["fetch_error"] == "not_fetched"
    assert transport["mta_sts"]["policy"] is None
    assert transport["tlsrpt"]["rua"] == ["mailto:tls-reports@kunde-ok.example"]
    assert transport["dane"][0]["host"] == "mx.kunde-ok.example"
    assert transport["dane"][0]["records"] == []


def test_outside_the_lab_the_fetch_is_tried(lab: Any, capsys: Any) -> None:
    code, out, _ = run(capsys, lab, "recipient", "kunde-ok.example", "--json", outside=True)
    assert code == 0  # a policy that cannot be fetched is ignored by senders: a warning
    data = json.loads(out)
    unreachable = data["transport"]["findings"][0]
    assert unreachable["code"] == "mta_sts.policy_unreachable"
    assert unreachable["severity"] == "warning"
    assert unreachable["evidence"]["reason"] == "no_address"  # mta-sts.kunde-ok.example


def test_no_transport_check_without_a_mail_server(lab: Any, capsys: Any) -> None:
    _, out, _ = run(capsys, lab, "recipient", "kunde-nullmx.example", "--json")
    data = json.loads(out)
    assert data["transport"]["checked"] is False
    assert data["transport"]["findings"] == []


@pytest.mark.parametrize(
    ("lang", "heading", "sentence"),
    [
        ("nb", "Transportsikkerhet (MTA-STS, TLS-RPT, DANE, STARTTLS):", "ble ikke hentet her"),
        ("en", "Transport security (MTA-STS, TLS-RPT, DANE, STARTTLS):", "was not fetched here"),
    ],
)
def test_the_text_report_words_it(
    lab: Any, capsys: Any, lang: str, heading: str, sentence: str
) -> None:
    code, out, _ = run(capsys, lab, "--lang", lang, "recipient", "kunde-ok.example")
    assert code == 0
    assert heading in out
    assert sentence in out
    assert "[mta_sts.policy_not_fetched]" in out
    assert "mailto:tls-reports@kunde-ok.example [tlsrpt.ok]" in out


class _Accept:
    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return "250 OK"


@pytest.fixture
def starttls_server(tmp_path: Path) -> Iterator[int]:
    """aiosmtpd with STARTTLS for mx.kunde-ok.example, from a CA of this test's own."""
    ca = make_ca()
    context = server_context(make_server(ca, ["mx.kunde-ok.example"]), ca, tmp_path)
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve(tls: ssl.SSLContext) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(_Accept(), hostname="mx.kunde-ok.example", tls_context=tls),
            "127.0.0.1",
            0,
        )
        holder.update(port=server.sockets[0].getsockname()[1], loop=loop, stop=asyncio.Event())
        ready.set()
        await holder["stop"].wait()
        server.close()
        await server.wait_closed()

    thread = threading.Thread(target=asyncio.run, args=(serve(context),), daemon=True)
    thread.start()
    assert ready.wait(5)
    yield int(holder["port"])
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(5)


def test_probe_judges_starttls(lab: Any, capsys: Any, starttls_server: int) -> None:
    argv = ["recipient", "kunde-ok.example", "--probe", "--port", str(starttls_server), "--json"]
    code, out, err = run(capsys, lab, *argv)
    assert code == 0, err
    data = json.loads(out)
    starttls = data["transport"]["starttls"]
    assert starttls["names"] == ["mx.kunde-ok.example"]
    assert starttls["problems"] == ["untrusted"]  # the test's CA is not a public one
    assert codes(data)[-1] == "tls.untrusted"
    assert data["probe"]["tls"]["chain_length"] == 2


def test_every_transport_code_has_nb_and_en_wording() -> None:
    from diag.findings import Finding, Severity
    from reports.catalog_recipient import CATALOG, finding_text

    root = Path(__file__).resolve().parents[2] / "diag" / "transport"
    found = {"mta_sts.dns_temperror", "tlsrpt.dns_temperror", "dane.dns_temperror"}
    for source in root.glob("*.py"):
        text = source.read_text("utf-8")
        found |= set(re.findall(r'"((?:mta_sts|tlsrpt|dane|tls)\.[a-z_]+)"', text))
    assert len(found) > 30
    assert sorted(c for c in found if f"finding.{c}" not in CATALOG) == []
    for lang in ("nb", "en"):
        text = finding_text(
            Finding(
                "mta_sts.tls_unmet",
                Severity.ERROR,
                "",
                {"mode": "enforce", "host": "mx.a", "problems": ["no_starttls"]},
            ),
            lang,
        )
        assert ("ingen STARTTLS" if lang == "nb" else "no STARTTLS") in text
        assert "no_starttls" not in text
