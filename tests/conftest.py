"""Shared fixtures: the loopback-only network guard and the paths to shared conformance data."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from publicsuffixlist import PublicSuffixList

from diag.dmarc import default_psl

REPO = Path(__file__).resolve().parent.parent
CONFORMANCE = REPO.parent / "shared" / "conformance"

# In CI the property and differential tests draw the same examples every run, so a gate
# never fails on a case no one has seen; a developer's runs keep exploring new ones, and
# what they find becomes a named test.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


def _is_loopback(address: Any) -> bool:
    if isinstance(address, str):  # AF_UNIX paths are local
        return True
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


class OutsideNetworkError(AssertionError):
    """A test tried to connect somewhere other than loopback."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps an event loop running on the
    main thread while a browser is open, which asyncio tests cannot share."""
    items.sort(key=lambda item: "tests/browser/" in item.nodeid.replace("\\", "/"))


@pytest.fixture(autouse=True)
def _own_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Run every test in an empty directory of its own: what a developer's demo left in the
    checkout (``data/lab.toml``, ``maildiag.toml``) must never change a test's settings."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that connects, or sends a datagram, outside loopback."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_sendto = socket.socket.sendto

    def guard(address: Any) -> None:
        if not _is_loopback(address):
            raise OutsideNetworkError(f"test tried to reach {address!r}; only loopback is allowed")

    def connect(self: socket.socket, address: Any) -> None:
        guard(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        guard(address)
        return real_connect_ex(self, address)

    def sendto(self: socket.socket, data: bytes, *args: Any) -> int:
        guard(args[-1])
        return real_sendto(self, data, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", sendto)


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """The shared conformance suites; tests that need them skip when the folder is absent."""
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance data not found at {CONFORMANCE}")
    return CONFORMANCE


@pytest.fixture
def psl_builds(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every Public Suffix List built during the test, once the process's own one
    (``diag.dmarc.default_psl``, about 60 ms of CPU to build) exists."""
    default_psl()
    built: list[object] = []
    original = PublicSuffixList.__init__

    def counted(self: PublicSuffixList, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(PublicSuffixList, "__init__", counted)
    return built
