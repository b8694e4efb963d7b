"""compose.yaml cannot run here (no container engine), so this checks it against the code:
the services, that every maildiag command exists, that settings variables are real, and that
required secrets fail loudly when unset."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from maildiag.cli import build_parser
from maildiag.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def test_the_services_of_the_design(compose: dict[str, Any]) -> None:
    assert {"app", "worker", "sink", "postgres", "redis"} <= set(compose["services"])
    assert compose["services"]["app"]["deploy"]["replicas"] >= 2


def test_every_maildiag_command_parses(compose: dict[str, Any]) -> None:
    parser = build_parser()
    for name, service in compose["services"].items():
        if service.get("build") != ".":
            continue
        args = parser.parse_args(service["command"])
        assert callable(args.run), name


def test_environment_names_are_settings(compose: dict[str, Any]) -> None:
    fields = set(Settings.model_fields)
    for name, service in compose["services"].items():
        for key in service.get("environment", {}):
            if not key.startswith("MAILDIAG_"):
                continue
            field = key.removeprefix("MAILDIAG_").lower().split("__")[0]
            assert field in fields, f"{name}: {key} is not a setting"


def test_required_secrets_fail_loudly() -> None:
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    for secret in ("MAILDIAG_SECRET_KEY", "POSTGRES_PASSWORD"):
        assert re.search(r"\$\{" + secret + r":\?[^}]+\}", text), secret
    assert "change-me" not in text


def test_dockerfile_installs_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for package in ("diag", "smtp_sink", "reports", "reset", "maildiag"):
        assert f"COPY {package} ./{package}" in dockerfile


def test_the_relay_is_required_and_never_the_sink_by_default() -> None:
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    assert re.search(r"MAILDIAG_RELAY__HOST: \$\{MAILDIAG_RELAY_HOST:\?[^}]+\}", text)
    relay = re.search(r"MAILDIAG_RELAY__HOST: (.*)", text)
    assert relay is not None
    assert ":-" not in relay.group(1)  # no default, so never the sink unless asked for


def test_the_sink_publishes_no_port_unless_asked(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name != "app":
            assert "ports" not in service, name
    override = yaml.safe_load((ROOT / "compose.sink-ports.yaml").read_text(encoding="utf-8"))
    assert set(override["services"]) == {"sink"}
    published = override["services"]["sink"]["ports"]
    assert published
    assert all(port.startswith("127.0.0.1:") for port in published)
    command = build_parser().parse_args(compose["services"]["sink"]["command"])
    assert {f"127.0.0.1:{command.smtp_port}:{command.smtp_port}"} <= set(published)
    assert {f"127.0.0.1:{command.http_port}:{command.http_port}"} <= set(published)
