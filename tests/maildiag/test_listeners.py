"""Nagle's algorithm is off on every connection our TCP listeners accept.

Each server runs as its command runs it (``maildiag.runtime.serve`` for ``maildiag serve`` and
``serve --lab``, ``maildiag.runtime.sink_command.run`` for ``maildiag sink``), in this process on
port 0, so the test can read ``TCP_NODELAY`` on the server's own end of a real connection. The
symptom itself (the 40 ms delayed-ACK floor on kept-alive connections) is tested against the
real processes in test_keepalive.py. Cancelling a command closes its listeners.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import re
import secrets
import socket
import struct
import time
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import dns.message
import pytest
import pytest_asyncio
from pydantic import SecretStr

from maildiag.lab.dns import LabDnsServer
from maildiag.listeners import bind_tcp
from maildiag.runtime import serve, sink_command
from maildiag.settings import Settings
from tests.maildiag.sink_lab import proxy_v1

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd (Linux)"),
]

START_TIMEOUT = 60.0  # seconds for a server to print its startup line
SERVE_LINE = re.compile(r"maildiag: http://(?P<host>[\d.]+):(?P<http>\d+)")
LAB_LINE = re.compile(
    r"maildiag lab: http://(?P<host>[\d.]+):(?P<http>\d+)\s+DNS 127\.0\.0\.1:(?P<dns>\d+).*"
    r"SMTP [\d.]+:(?P<smtp>\d+)\s+PROXY-SMTP [\d.]+:(?P<proxy>\d+)"
)
SINK_LINE = re.compile(
    r"maildiag sink: smtp [\d.]+:(?P<smtp>\d+) http http://(?P<host>[\d.]+):(?P<http>\d+)"
    r"\s+proxy-smtp [\d.]+:(?P<proxy>\d+)"
)


def server_end(client: socket.socket) -> socket.socket | None:
    """The socket in this process at the other end of ``client`` (a duplicate: close it)."""
    wanted = (client.getpeername(), client.getsockname())
    for name in os.listdir("/proc/self/fd"):
        try:
            fd = os.dup(int(name))
        except OSError:
            continue  # the directory's own descriptor, already closed
        try:
            candidate = socket.socket(fileno=fd)
        except OSError:
            os.close(fd)
            continue
        try:
            if (candidate.getsockname(), candidate.getpeername()) == wanted:
                return candidate
        except OSError:
            pass  # not connected (a listener, a datagram socket)
        candidate.close()
    return None


async def nodelay(port: int, host: str = "127.0.0.1", *, send: bytes = b"") -> int:
    """TCP_NODELAY on the server's end of a new connection, once the server has answered."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        if send:
            writer.write(send)
        assert await asyncio.wait_for(reader.read(1), 10), "the server sent nothing"
        client = writer.get_extra_info("socket")
        peer = await asyncio.to_thread(server_end, client)
        assert peer is not None, "the accepted socket is not in this process"
        with peer:
            return peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def http_get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def dns_query_tcp() -> bytes:
    wire = dns.message.make_query("kunde-ok.example", "MX").to_wire()
    return struct.pack("!H", len(wire)) + wire


@contextlib.asynccontextmanager
async def running(
    command: Coroutine[Any, Any, int], line: re.Pattern[str]
) -> AsyncIterator[re.Match[str]]:
    """Run a serving coroutine until its startup line appears; cancel it at the end."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        task = asyncio.create_task(command)
        deadline = time.monotonic() + START_TIMEOUT
        while not (match := line.search(out.getvalue())):
            if task.done() or time.monotonic() > deadline:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                pytest.fail(f"the server did not start: {out.getvalue()!r}")
            await asyncio.sleep(0.05)
    try:
        yield match
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def serve_settings(data: Path) -> Settings:
    return Settings(data_dir=data, http_port=0, secret_key=SecretStr(secrets.token_urlsafe(32)))


def sink_run(data: Path) -> Coroutine[Any, Any, int]:
    """``maildiag sink --smtp-port 0 --http-port 0 --data DATA`` (without a judge)."""
    args = argparse.Namespace(host=None, smtp_port=0, http_port=0, data=data)
    key = SecretStr(secrets.token_urlsafe(32))  # outside the lab: a real key
    return sink_command.run(args, Settings(data_dir=data, sink_judge=False, secret_key=key))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[re.Match[str]]:
    """``maildiag serve`` (not the lab)."""
    async with running(
        serve(serve_settings(tmp_path_factory.mktemp("serve"))), SERVE_LINE
    ) as match:
        yield match


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def lab(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[re.Match[str]]:
    """``maildiag serve --lab``: HTTP, the lab DNS server, the SMTP sink's listeners."""
    settings = Settings(
        lab=True,
        data_dir=tmp_path_factory.mktemp("lab"),
        http_port=0,
        dns_port=0,
        smtp_port=0,
        sink_judge_processes=0,
    )
    async with running(serve(settings), LAB_LINE) as match:
        yield match


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sink(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[re.Match[str]]:
    """``maildiag sink``."""
    async with running(sink_run(tmp_path_factory.mktemp("sink")), SINK_LINE) as match:
        yield match


# --- the listening sockets themselves ---------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_bind_tcp_names_tcp_so_asyncio_turns_nagle_off(host: str) -> None:
    if host == "::1" and not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        listener = bind_tcp(host, 0)
    except OSError as exc:
        pytest.skip(f"cannot bind {host}: {exc}")
    assert listener.proto == socket.IPPROTO_TCP
    closed = asyncio.Event()

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"+")
        await reader.read()  # until the client hangs up
        writer.close()
        await writer.wait_closed()
        closed.set()

    async with await asyncio.start_server(greet, sock=listener):
        assert await nodelay(listener.getsockname()[1], host) == 1
        await asyncio.wait_for(closed.wait(), 10)


async def test_lab_dns_server_tcp_turns_nagle_off() -> None:
    async with LabDnsServer({"kunde-ok.example": {"MX": ["10 mx.kunde-ok.example"]}}) as server:
        assert await nodelay(server.port, send=dns_query_tcp()) == 1


# --- every listener of the commands, at the socket -------------------------------------------


async def test_serve_http_turns_nagle_off(served: re.Match[str]) -> None:
    assert await nodelay(int(served["http"]), send=http_get("/healthz")) == 1


async def test_serve_lab_turns_nagle_off_on_every_listener(lab: re.Match[str]) -> None:
    assert await nodelay(int(lab["http"]), send=http_get("/healthz")) == 1
    assert await nodelay(int(lab["dns"]), send=dns_query_tcp()) == 1
    assert await nodelay(int(lab["smtp"])) == 1  # the banner
    assert await nodelay(int(lab["proxy"]), send=proxy_v1("198.51.100.10")) == 1
    assert await nodelay(int(lab["smtp"]), "127.0.0.2") == 1  # a demo domain's MX address


async def test_sink_turns_nagle_off_on_every_listener(sink: re.Match[str]) -> None:
    assert await nodelay(int(sink["http"]), send=http_get("/healthz")) == 1
    assert await nodelay(int(sink["smtp"])) == 1
    assert await nodelay(int(sink["proxy"]), send=proxy_v1("198.51.100.10")) == 1


# --- stopping ---------------------------------------------------------------------------------


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_cancelled_serve_closes_its_listener(tmp_path: Path) -> None:
    async with running(serve(serve_settings(tmp_path)), SERVE_LINE) as match:
        assert not refused(int(match["http"]))
    assert refused(int(match["http"]))


async def test_cancelled_sink_closes_its_listeners(tmp_path: Path) -> None:
    async with running(sink_run(tmp_path), SINK_LINE) as match:
        assert not refused(int(match["http"]))
    assert refused(int(match["http"]))
    assert refused(int(match["smtp"]))


async def test_a_taken_port_is_named_in_the_error() -> None:
    with bind_tcp("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"\(127\.0\.0\.1:{port}\)$") as refused:
            bind_tcp("127.0.0.1", port).close()
    assert refused.value.errno is not None
