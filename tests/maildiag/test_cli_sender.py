"""``maildiag sender`` in process against the lab's DNS server: the lab identities, bare domains,
exit codes and the human report in both languages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildiag.cli import main
from maildiag.lab.dns import LabDnsServer, lab_dns_in_thread
from maildiag.lab.kit import lab_senders, prepare_lab
from maildiag.settings import SenderIdentity

LEGACY = "do.not.reply@legacy.visma.example"
HEALTHY = ("do.not.reply@platform.visma.com", "do.not.reply@connect.visma.com")


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def write_config(path: Path, senders: list[SenderIdentity], zones: list[str]) -> Path:
    lines = [f"dnsbl_zones = {_toml_list(zones)}"]
    for s in senders:
        lines += [
            "[[senders]]",
            f"address = {json.dumps(s.address)}",
            f"dkim_selectors = {_toml_list(s.dkim_selectors)}",
            f"egress_ips = {_toml_list(s.egress_ips)}",
            f"helo = {json.dumps(s.helo)}",
        ]
        if s.dkim_key_path is not None:
            lines.append(f"dkim_key_path = {json.dumps(str(s.dkim_key_path))}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LabDnsServer, Path, list[SenderIdentity]]]:
    data = tmp_path_factory.mktemp("lab")
    keys, zone = prepare_lab(data)
    senders = lab_senders(keys)
    config = write_config(data / "maildiag.toml", senders, ["bl.lab.example"])
    with lab_dns_in_thread(zone) as server:
        yield server, config, senders


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _sender(
    capsys: pytest.CaptureFixture[str], lab: Any, *argv: str, config: Path | None = None
) -> tuple[int, str, str]:
    server, default_config, _ = lab
    return _run(
        capsys, "--nameserver", server.address, "--config", str(config or default_config), *argv
    )


def _codes(report: dict[str, Any]) -> set[str]:
    return {f["code"] for f in report["findings"]}


def test_lab_identities(capsys: pytest.CaptureFixture[str], lab: Any) -> None:
    code, out, err = _sender(capsys, lab, "sender", "--json")
    assert code == 1, err
    data = json.loads(out)
    assert data["findings"]
    reports = {r["subject"]: r for r in data["identities"]}
    assert set(reports) == {*HEALTHY, LEGACY}
    for address in HEALTHY:
        healthy = reports[address]
        assert [f["code"] for f in healthy["findings"] if f["severity"] == "error"] == []
        assert {
            "sender.spf_pass",
            "dkim.key_ok",
            "sender.sample_dkim_pass",
            "reverse.ok",
            "dnsbl.clean",
        } <= _codes(healthy)
        assert healthy["status"] == "ok"
    legacy = reports[LEGACY]
    assert {"dkim.key_mismatch", "spf.too_many_lookups", "sender.sample_dkim_fail"} <= _codes(
        legacy
    )
    sample = next(f for f in legacy["findings"] if f["code"] == "sender.sample_dkim_fail")
    assert sample["evidence"]["reason"] == "signature_mismatch"
    spf = next(f for f in legacy["findings"] if f["code"] == "sender.spf_not_pass")
    assert spf["evidence"]["problem"] == "spf.too_many_lookups"
    assert legacy["dkim"]["status"] == "problem"
    assert legacy["status"] == "problem"


def test_human_report_marks_in_both_languages(capsys: pytest.CaptureFixture[str], lab: Any) -> None:
    code, out, _ = _sender(capsys, lab, "--lang", "en", "sender")
    assert code == 1
    assert "✔ Sender do.not.reply@platform.visma.com" in out
    assert "✘ Sender do.not.reply@legacy.visma.example" in out
    assert "[dkim.key_mismatch]" in out
    code, out, _ = _sender(capsys, lab, "--lang", "nb", "sender")
    assert code == 1
    assert out.startswith("Avsenderrapport")
    assert "✘ DKIM-nøkler: FEIL" in out


def test_configured_domain_gets_the_identity_report(
    capsys: pytest.CaptureFixture[str], lab: Any
) -> None:
    code, out, _ = _sender(capsys, lab, "sender", "platform.visma.com", "--json")
    assert code == 0
    (report,) = json.loads(out)["identities"]
    assert report["kind"] == "identity"
    assert report["subject"] == HEALTHY[0]


def test_bare_domains(capsys: pytest.CaptureFixture[str], lab: Any) -> None:
    code, out, _ = _sender(capsys, lab, "sender", "kunde-ok.example", "--json")
    assert code == 0
    (report,) = json.loads(out)["identities"]
    assert report["kind"] == "domain"
    assert {"spf", "dkim", "dmarc", "bounce_mx"} <= set(report)
    assert "reverse" not in report
    assert "sender.dkim_no_common_selector" in _codes(report)
    code, out, _ = _sender(capsys, lab, "sender", "kunde-nullmx.example", "--json")
    assert code == 1
    assert "sender.bounce_null_mx" in _codes(json.loads(out)["identities"][0])


def test_unreadable_key_is_a_finding(
    capsys: pytest.CaptureFixture[str], lab: Any, tmp_path: Path
) -> None:
    _, _, senders = lab
    broken = senders[0].model_copy(update={"dkim_key_path": tmp_path / "missing.pem"})
    config = write_config(tmp_path / "broken.toml", [broken], [])
    code, out, err = _sender(capsys, lab, "sender", "--json", config=config)
    assert code == 1, err
    (report,) = json.loads(out)["identities"]
    unreadable = next(f for f in report["findings"] if f["code"] == "sender.key_unreadable")
    assert "missing.pem" in unreadable["evidence"]["error"]


def test_bad_domain_is_usage(capsys: pytest.CaptureFixture[str], lab: Any) -> None:
    code, out, err = _sender(capsys, lab, "sender", "not a domain")
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "not a domain name" in err


def test_catalog_has_both_languages_for_every_sender_code(
    capsys: pytest.CaptureFixture[str], lab: Any
) -> None:
    from diag.findings import Finding, Severity
    from reports.catalog_auth import CATALOG, finding_text

    assert all(nb.strip() and en.strip() for nb, en in CATALOG.values())
    _, out, _ = _sender(capsys, lab, "sender", "--json")
    for data in json.loads(out)["findings"]:
        finding = Finding(
            data["code"], Severity(data["severity"]), data["summary"], data["evidence"]
        )
        if finding.code.split(".")[0] in ("sender", "reverse", "helo", "dnsbl"):
            assert f"finding.{finding.code}" in CATALOG, finding.code
            assert "?" not in finding_text(finding, "nb"), finding
            assert "?" not in finding_text(finding, "en"), finding
