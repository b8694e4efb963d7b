"""``maildiag test-send`` in process: the real reset mail from each lab identity, DKIM-signed and
sent over the sink's PROXY listener (run_sink in a thread), judged with the lab DNS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from maildiag.cli import main
from maildiag.lab.dns import lab_dns_in_thread
from maildiag.lab.kit import lab_senders, prepare_lab
from maildiag.settings import Settings
from tests.maildiag.test_cli_checklist import sink_in_thread, write_config

HEALTHY = ("do.not.reply@platform.visma.com", "do.not.reply@connect.visma.com")
LEGACY = "do.not.reply@legacy.visma.example"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("lab")
    keys, zone = prepare_lab(data)
    senders = lab_senders(keys)
    with lab_dns_in_thread(zone) as dns:
        settings = Settings(
            lab=True,
            data_dir=data,
            smtp_port=0,
            sink_proxy_port=0,
            nameservers=[dns.address],
            senders=senders,
            allow_private_targets=True,
        )
        with sink_in_thread(settings, dns.address) as handle:
            live = settings.model_copy(
                update={"smtp_port": handle.port, "sink_proxy_port": handle.proxy_port}
            )
            healthy = [s for s in senders if s.address in HEALTHY]
            yield {
                "dns": dns,
                "handle": handle,
                "healthy": write_config(data / "healthy.toml", live, healthy),
                "all": write_config(data / "all.toml", live, senders),
            }


def run(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any], *argv: str, config: str = "all"
) -> tuple[int, str, str]:
    try:
        code = main(["--nameserver", lab["dns"].address, "--config", str(lab[config]), *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_both_healthy_identities_pass(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any]
) -> None:
    code, out, err = run(capsys, lab, "test-send", "--json", config="healthy")
    assert code == 0, err
    data = json.loads(out)
    assert data["would_reach_inbox"] is True
    assert [r["identity"] for r in data["results"]] == list(HEALTHY)
    for result in data["results"]:
        assert (result["spf"], result["dkim"], result["dmarc"], result["folder"]) == (
            "pass",
            "pass",
            "pass",
            "inbox",
        )
        assert result["to"] == "kari@kunde-ok.example"


def test_the_legacy_identity_fails_with_its_reasons(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any]
) -> None:
    code, out, _ = run(capsys, lab, "test-send", "--sender", LEGACY, "--json")
    assert code == 1
    (result,) = json.loads(out)["results"]
    assert (result["spf"], result["dkim"], result["dmarc"], result["dmarc_policy"]) == (
        "permerror",
        "fail",
        "fail",
        "quarantine",
    )
    assert result["folder"] == "junk"
    assert {"testsend.dkim_fail", "testsend.spf_permerror", "testsend.junk"} <= set(
        result["reasons"]
    )


def test_text_report_in_both_languages(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any]
) -> None:
    code, out, _ = run(capsys, lab, "--lang", "nb", "test-send", "--sender", HEALTHY[1])
    assert code == 0
    assert "innboksen" in out
    assert HEALTHY[1] in out
    code, out, _ = run(
        capsys, lab, "--lang", "en", "test-send", "--sender", LEGACY, "--to", "per@kunde-ok.example"
    )
    assert code == 1
    assert "does NOT reach the inbox" in out
    assert "per@kunde-ok.example" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["test-send", "--sender", "nobody@example.com"],
        ["test-send", "--to", "not an address"],
        ["test-send", "--bogus"],
    ],
)
def test_bad_usage_exits_2(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any], argv: list[str]
) -> None:
    code, out, err = run(capsys, lab, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
