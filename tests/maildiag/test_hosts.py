"""The Host allowlist: derived from public_base_url and the bound address, or set; anything
else gets 400 (DNS rebinding), on the app and on the sink-only app."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from maildiag.settings import Settings
from maildiag.web import create_app
from maildiag.web.hosts import allowed_hosts

LOOPBACK = ["127.0.0.1", "localhost", "[::1]"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, LOOPBACK),
        ({"http_host": "localhost"}, LOOPBACK),
        ({"http_host": "::1"}, LOOPBACK),
        (
            {"public_base_url": "https://Konto.Example.no/app", "http_host": "0.0.0.0"},
            ["konto.example.no", *LOOPBACK],
        ),
        (
            {"public_base_url": "https://konto.example.no", "http_host": "192.0.2.5"},
            ["konto.example.no", "192.0.2.5"],
        ),
        ({"http_host": "2001:db8::1"}, ["127.0.0.1", "[2001:db8::1]"]),
        ({"public_base_url": "http://[::1]:8000"}, ["[::1]", "127.0.0.1", "localhost"]),
        (
            {"allowed_hosts": ["*.Example.no", "::1", "10.0.0.7"]},
            ["*.example.no", "[::1]", "10.0.0.7"],
        ),
        ({"allowed_hosts": ["*"]}, ["*"]),
    ],
)
def test_allowed_hosts(values: dict[str, Any], expected: list[str]) -> None:
    assert allowed_hosts(Settings(**values)) == expected


@pytest.mark.parametrize(
    "entry", ["konto.example.no:443", "https://konto.example.no", "a b", "", "*example.no", "x/y"]
)
def test_an_entry_that_is_not_a_host_is_a_settings_error(entry: str) -> None:
    with pytest.raises(ValidationError, match="allowed_hosts"):
        Settings(allowed_hosts=[entry])


async def _status(settings: Settings, host: str, path: str = "/healthz") -> int:
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        response = await client.get(path, headers={"Host": host})
    return response.status_code


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:8000", 200),
        ("localhost:8000", 200),
        ("LOCALHOST", 200),
        ("[::1]:8000", 200),
        ("konto.example.no", 200),
        ("rebind.attacker.example", 400),
        ("rebind.attacker.example:8000", 400),
        ("127.0.0.1.attacker.example", 400),
        ("konto.example.no.attacker.example", 400),
        ("", 400),
    ],
)
async def test_a_host_outside_the_list_is_400(host: str, status: int) -> None:
    settings = Settings(public_base_url="https://konto.example.no")
    assert await _status(settings, host) == status
    if status == 400:
        assert await _status(settings, host, "/api/v1/sink/messages") == 400


async def test_a_wildcard_entry_and_any_host() -> None:
    some = Settings(allowed_hosts=["*.example.no"])
    assert await _status(some, "konto.example.no") == 200
    assert await _status(some, "example.no") == 400
    assert await _status(Settings(allowed_hosts=["*"]), "rebind.attacker.example") == 200
