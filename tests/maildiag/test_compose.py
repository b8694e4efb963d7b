"""compose.yaml cannot run here (no container engine), so this checks it against the code:
the services and their replicas, that every maildiag command exists, that settings variables
are real and their values pass the settings model, that every healthcheck runs a real command
or route on the port the service binds, and that required secrets fail loudly when unset."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
import yaml
from fastapi.routing import APIRoute
from pydantic import SecretStr

from maildiag.cli import build_parser
from maildiag.settings import Settings
from maildiag.web.app import create_app, create_sink_app

if TYPE_CHECKING:
    from maildiag.sink.service import SinkHandle

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


def _compose_value(text: str) -> str:
    """A value as compose would give it: ``${VAR:-default}`` its default, ``${VAR:?msg}`` a
    stand-in a deployment would set (a URL, a host, a long random key)."""
    stand_ins = {
        "POSTGRES_PASSWORD": "pg-secret",
        "MAILDIAG_SECRET_KEY": "Yq7dW3nR0sKx_8LmB2vTz-5hJcP4gNf9aUeE6iO1rQw",
        "MAILDIAG_PUBLIC_BASE_URL": "https://konto.example.no",
        "MAILDIAG_RELAY_HOST": "relay.example.no",
    }
    text = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), text)
    return re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: stand_ins[m.group(1)], text)


def test_environment_values_pass_the_settings_model(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, service in compose["services"].items():
        if service.get("build") != ".":
            continue
        for key in [k for k in os.environ if k.startswith("MAILDIAG_")]:
            monkeypatch.delenv(key)
        for key, value in service["environment"].items():
            monkeypatch.setenv(key, _compose_value(str(value)))
        settings = Settings()  # raises for a value the model refuses
        assert settings.log_format == "json", name
        settings.require_production_secrets()


def test_the_scaled_services_and_their_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["worker"]["deploy"]["replicas"] >= 2
    for name, service in services.items():
        if name != "migrate":  # a one-shot job: done is its health
            assert "healthcheck" in service, name
    assert services["postgres"]["healthcheck"]["test"][1].startswith("pg_isready")
    assert services["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]


def _app_paths(service: str) -> set[str]:
    settings = Settings(secret_key=SecretStr("Yq7dW3nR0sKx_8LmB2vTz-5hJcP4gNf9aUeE6iO1rQw"))
    if service == "sink":
        app = create_sink_app(settings, cast("SinkHandle", None))
    else:
        app = create_app(settings)
    return {route.path for route in app.routes if isinstance(route, APIRoute)}


def test_every_healthcheck_runs_a_real_command_or_route(compose: dict[str, Any]) -> None:
    """A healthcheck runs ``maildiag`` with arguments the CLI takes, or fetches a route the
    service's app has, on the port its command binds."""
    parser = build_parser()
    for name, service in compose["services"].items():
        if service.get("build") != "." or "healthcheck" not in service:
            continue
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD", name
        if test[1] == "maildiag":
            assert callable(parser.parse_args(test[2:]).run), name
            continue
        assert test[1:3] == ["python", "-c"], name
        url = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", test[3])
        assert url is not None, name
        command = parser.parse_args(service["command"])
        bound = getattr(command, "port", None) or getattr(command, "http_port", None)
        assert int(url.group(1)) == bound, name
        assert url.group(2) in _app_paths(name), name
    app_check = compose["services"]["app"]["healthcheck"]["test"][3]
    assert "/readyz" in app_check
