"""The MTA-STS policy fetch (RFC 8461 §3.3) against a real HTTPS server on loopback port 0,
whose certificates come from a CA made in the test: the policy read, SNI and Host for
mta-sts.<domain>, no redirects followed, the size cap, the deadline, certificates that do not
validate, and the SSRF guard, which refuses loopback unless told otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from diag.errors import PolicyFetchError
from diag.mx import lookup_mx
from diag.resolver import MX, TXT, MemoryResolver
from diag.transport import MAX_POLICY_BYTES, HttpsPolicyFetcher, check_transport
from tests.diag.certs import NOW, Issued, client_context, make_ca, make_server, server_context

DOMAIN = "kunde.example"
HOST = f"mta-sts.{DOMAIN}"
POLICY = b"version: STSv1\r\nmode: enforce\r\nmx: mx.kunde.example\r\nmax_age: 604800\r\n"
CA = make_ca()


@dataclass
class PolicyServer:
    """Answers every request the same way; records what it was asked and the SNI it saw."""

    status: str = "200 OK"
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("Content-Type", "text/plain")])
    body: bytes = POLICY
    raw: bytes | None = None
    delay: float = 0.0
    requests: list[bytes] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.requests.append(await reader.readuntil(b"\r\n\r\n"))
            await asyncio.sleep(self.delay)
            writer.write(self.raw if self.raw is not None else self.response())
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    def response(self) -> bytes:
        lines = [f"HTTP/1.1 {self.status}", *(f"{k}: {v}" for k, v in self.headers)]
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


async def serve(server: PolicyServer, cert: Issued, tmp_path: Path) -> asyncio.Server:
    context = server_context(cert, CA, tmp_path)

    def seen(_obj: Any, name: str | None, _context: Any) -> None:
        server.sni.append(name)

    context.sni_callback = seen
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=context)
    server.port = listener.sockets[0].getsockname()[1]
    return listener


@pytest.fixture
async def policy_server(tmp_path: Path) -> AsyncIterator[PolicyServer]:
    server = PolicyServer()
    listener = await serve(server, make_server(CA, [HOST]), tmp_path)
    yield server
    listener.close()
    await listener.wait_closed()


def fetcher(
    port: int, *, loopback: bool = True, timeout: float = 3.0, **zone: Any
) -> HttpsPolicyFetcher:
    records = zone or {HOST: {"A": ["127.0.0.1"], "AAAA": []}}
    return HttpsPolicyFetcher(
        MemoryResolver(records),
        allow_loopback=loopback,
        timeout=timeout,
        ssl_context=client_context(CA),
        port=port,
    )


async def failure(fetch: HttpsPolicyFetcher) -> PolicyFetchError:
    with pytest.raises(PolicyFetchError) as caught:
        await fetch.fetch(DOMAIN)
    return caught.value


async def test_the_policy_is_fetched_for_the_policy_host(policy_server: PolicyServer) -> None:
    body = await fetcher(policy_server.port).fetch(DOMAIN)
    assert body == POLICY
    assert policy_server.sni == [HOST]
    request = policy_server.requests[0].decode()
    assert request.startswith("GET /.well-known/mta-sts.txt HTTP/1.1\r\n")
    assert f"Host: {HOST}:{policy_server.port}\r\n" in request


async def test_check_transport_reads_the_fetched_policy(policy_server: PolicyServer) -> None:
    zone = {
        DOMAIN: {"MX": [MX(10, "mx.kunde.example")]},
        "mx.kunde.example": {"A": ["127.0.0.1"], "AAAA": []},
        f"_mta-sts.{DOMAIN}": {"TXT": [TXT((b"v=STSv1; id=1",))]},
        HOST: {"A": ["127.0.0.1"], "AAAA": []},
    }
    names = [f"_smtp._tls.{DOMAIN}", "_25._tcp.mx.kunde.example"]
    dns = MemoryResolver(zone, nxdomain=names)
    mx = await lookup_mx(DOMAIN, dns, allow_private=True)
    fetch = HttpsPolicyFetcher(
        dns, allow_loopback=True, ssl_context=client_context(CA), port=policy_server.port
    )
    report = await check_transport(mx, dns, fetcher=fetch)
    assert [f.code for f in report.findings] == ["mta_sts.enforce", "tlsrpt.none", "dane.none"]
    assert (HOST, "A") in dns.queries


@pytest.mark.parametrize(
    ("status", "headers", "body", "reason", "detail"),
    [
        (
            "301 Moved",
            [("Location", "https://evil.example/p")],
            b"",
            "redirect",
            "301 to https://evil.example/p",
        ),
        ("404 Not Found", [("Content-Type", "text/plain")], b"no", "http_status", "404"),
        (
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8")],
            POLICY,
            "content_type",
            "text/html",
        ),
        ("200 OK", [], POLICY, "content_type", "none"),
        (
            "200 OK",
            [("Content-Type", "text/plain"), ("Content-Length", str(MAX_POLICY_BYTES + 1))],
            b"",
            "too_large",
            f"{MAX_POLICY_BYTES + 1} bytes",
        ),
        (
            "200 OK",
            [("Content-Type", "text/plain")],
            b"x" * (MAX_POLICY_BYTES + 5000),
            "too_large",
            None,
        ),
    ],
    ids=["redirect", "404", "html", "no-type", "announced-large", "large"],
)
async def test_responses_that_are_refused(
    policy_server: PolicyServer,
    status: str,
    headers: list[tuple[str, str]],
    body: bytes,
    reason: str,
    detail: str | None,
) -> None:
    policy_server.status, policy_server.headers, policy_server.body = status, headers, body
    error = await failure(fetcher(policy_server.port))
    assert error.reason == reason
    if detail is not None:
        assert error.detail == detail
    assert len(policy_server.requests) == 1  # a redirect is not followed
    assert error.url == f"https://{HOST}:{policy_server.port}/.well-known/mta-sts.txt"


async def test_charset_parameter_is_accepted(policy_server: PolicyServer) -> None:
    policy_server.headers = [("Content-Type", "Text/Plain; charset=utf-8")]
    assert await fetcher(policy_server.port).fetch(DOMAIN) == POLICY


@pytest.mark.parametrize(
    "cert",
    [
        make_server(CA, ["mta-sts.other.example"]),
        make_server(make_ca("not trusted"), [HOST]),
        make_server(CA, [HOST], not_after=NOW - datetime.timedelta(days=1)),
    ],
    ids=["wrong-name", "unknown-ca", "expired"],
)
async def test_certificates_that_do_not_validate(cert: Issued, tmp_path: Path) -> None:
    server = PolicyServer()
    listener = await serve(server, cert, tmp_path)
    try:
        error = await failure(fetcher(server.port))
    finally:
        listener.close()
        await listener.wait_closed()
    assert error.reason == "tls_certificate"
    assert error.detail
    assert server.requests == []


async def test_one_deadline_for_the_whole_fetch(policy_server: PolicyServer) -> None:
    policy_server.delay = 2.0
    error = await failure(fetcher(policy_server.port, timeout=0.3))
    assert (error.reason, error.detail) == ("timeout", "no policy within 0.3 s")


async def test_not_http(policy_server: PolicyServer) -> None:
    policy_server.raw = b"SSH-2.0-OpenSSH\r\n\r\n"
    assert (await failure(fetcher(policy_server.port))).reason == "protocol"


async def test_the_guard_refuses_loopback_unless_allowed(policy_server: PolicyServer) -> None:
    error = await failure(fetcher(policy_server.port, loopback=False))
    assert (error.reason, error.detail) == ("forbidden_target", "127.0.0.1 (loopback)")
    assert policy_server.requests == []
    assert policy_server.sni == []


async def test_metadata_address_is_refused_even_when_private_is_allowed() -> None:
    fetch = HttpsPolicyFetcher(
        MemoryResolver({HOST: {"A": ["169.254.169.254"], "AAAA": []}}), allow_private=True
    )
    error = await failure(fetch)
    assert error.reason == "forbidden_target"
    assert "metadata" in error.detail


async def test_no_address_and_dns_failure() -> None:
    missing = HttpsPolicyFetcher(MemoryResolver({}, nxdomain=[HOST]), allow_loopback=True)
    assert (await failure(missing)).reason == "no_address"
    broken = HttpsPolicyFetcher(
        MemoryResolver({}, errors={(HOST, "*"): "timeout"}), allow_loopback=True
    )
    error = await failure(broken)
    assert error.reason == "dns"
    assert "timeout" in error.detail


async def test_nothing_listening() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert (await failure(fetcher(port))).reason == "connect"
