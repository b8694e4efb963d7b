"""The app in process through httpx.ASGITransport: the SPF page and GET /api/v1/spf."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from diag.resolver import TXT, MemoryResolver
from maildiag.settings import load_settings
from maildiag.web import create_app

ZONE = {
    "example.test": {"TXT": [TXT((b"v=spf1 ip4:198.51.100.0/24 -all",))]},
    "evil.test": {"TXT": [TXT((b"v=spf1 <script>alert(1)</script> -all",))]},
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    resolver = MemoryResolver(ZONE, strict=False)
    settings = load_settings()
    app = create_app(settings, resolver=resolver)
    transport = httpx.ASGITransport(app=app)
    base = settings.public_base_url
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        yield client


async def test_api_spf_pass(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/spf", params={"domain": "example.test", "ip": "198.51.100.1"}
    )
    assert response.status_code == 200
    data = response.json()
    assert data["result"] == "pass"
    assert data["mechanism"] == "ip4:198.51.100.0/24"
    assert {"explanation", "lookups", "void_lookups", "trace", "findings"} <= set(data)


@pytest.mark.parametrize(
    ("params", "status", "reason"),
    [
        ({"domain": "example.test", "ip": "1.2.3"}, 400, "not an IP address"),
        ({"domain": "-bad-.test", "ip": "192.0.2.1"}, 400, "not a domain name"),
        ({"domain": "example.test"}, 422, "ip"),
        ({"domain": "x" * 300, "ip": "192.0.2.1"}, 422, "domain"),
    ],
)
async def test_api_spf_bad_input_is_4xx_with_reason(
    client: httpx.AsyncClient, params: dict[str, str], status: int, reason: str
) -> None:
    response = await client.get("/api/v1/spf", params=params)
    assert response.status_code == status
    assert reason in response.text


async def test_spf_page_renders_and_escapes(client: httpx.AsyncClient) -> None:
    response = await client.get("/spf", params={"domain": "evil.test", "ip": "192.0.2.1"})
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_spf_page_bad_input_is_400_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/spf", params={"domain": "example.test", "ip": "x"})
    assert response.status_code == 400
    assert "not an IP address" in response.text


async def test_language_switch(client: httpx.AsyncClient) -> None:
    nb = await client.get("/spf")
    assert 'lang="nb"' in nb.text
    assert "SPF-sjekk" in nb.text
    en = await client.get("/spf", params={"lang": "en"})
    assert 'lang="en"' in en.text
    assert "SPF check" in en.text
    assert en.cookies.get("lang") == "en"


async def test_docs_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/openapi.json")).json()["paths"]["/api/v1/spf"]
    assert (await client.get("/docs")).status_code == 200
    await client.get("/healthz")
    metrics = await client.get("/metrics")
    assert "maildiag_http_requests_total" in metrics.text


async def test_unknown_page_is_404_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert "<html" in response.text
    api = await client.get("/api/v1/nothing")
    assert api.status_code == 404
    assert api.json()["error"] == "http_error"


async def test_language_switch_keeps_the_query(client: httpx.AsyncClient) -> None:
    response = await client.get("/spf", params={"domain": "example.test", "ip": "198.51.100.1"})
    assert 'href="?domain=example.test&amp;ip=198.51.100.1&amp;lang=en"' in response.text
