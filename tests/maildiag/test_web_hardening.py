"""Headers and /metrics: HSTS when the public URL is https, and /metrics only for the
addresses in ``metrics_allow``."""

from __future__ import annotations

from pathlib import Path

import pytest

from maildiag.settings import SettingsError, load_settings
from tests.maildiag.test_reset_support import reset_env

HTTPS = "https://konto.example"


@pytest.mark.parametrize("path", ["/login", "/healthz", "/api/v1/nothing", "/check"])
async def test_hsts_when_the_public_url_is_https(tmp_path: Path, path: str) -> None:
    async with reset_env(tmp_path, public_base_url=HTTPS) as env:
        response = await env.client.get(path)
        assert response.headers["strict-transport-security"] == (
            "max-age=31536000; includeSubDomains"
        )
    async with reset_env(tmp_path / "http") as env:
        assert "strict-transport-security" not in (await env.client.get(path)).headers


@pytest.mark.parametrize(
    ("client", "allow", "status"),
    [
        ("127.0.0.1", None, 200),
        ("::1", None, 200),
        ("::ffff:127.0.0.1", None, 200),
        ("203.0.113.7", None, 404),
        ("203.0.113.7", ["203.0.113.0/24"], 200),
        ("127.0.0.1", ["203.0.113.0/24"], 404),
        ("203.0.113.7", [], 404),
    ],
)
async def test_metrics_only_for_metrics_allow(
    tmp_path: Path, client: str, allow: list[str] | None, status: int
) -> None:
    overrides = {} if allow is None else {"metrics_allow": allow}
    async with reset_env(tmp_path, **overrides) as env, env.new_client(client) as other:
        response = await other.get("/metrics")
        assert response.status_code == status
        assert ("maildiag_http_requests_total" in response.text) is (status == 200)


async def test_metrics_behind_a_trusted_proxy_count_the_forwarded_client(tmp_path: Path) -> None:
    async with reset_env(tmp_path, trusted_proxies=["203.0.113.0/24"]) as env:
        outside = await env.client.get("/metrics", headers={"x-forwarded-for": "192.0.2.1"})
        assert outside.status_code == 404
        inside = await env.client.get("/metrics", headers={"x-forwarded-for": "127.0.0.1"})
        assert inside.status_code == 200


def test_metrics_allow_must_be_networks(tmp_path: Path) -> None:
    config = tmp_path / "m.toml"
    config.write_text('metrics_allow = ["127.0.0.1", "monitoring.example"]\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"monitoring\.example.*is not an IP address"):
        load_settings(config)
