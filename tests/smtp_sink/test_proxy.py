"""PROXY protocol v1 and v2: a trusted peer's header gives the client IP the judge sees."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct

import aiosmtplib
import pytest

from smtp_sink import SinkStore
from smtp_sink.proxy import is_trusted, parse_networks
from tests.smtp_sink.helpers import FakeJudge, client_tls, message

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"  # PROXY protocol v2 §2.2


def proxy_v1(client_ip: str, client_port: int = 40000) -> bytes:
    family = "TCP6" if ":" in client_ip else "TCP4"
    dst = "::1" if family == "TCP6" else "127.0.0.1"
    return f"PROXY {family} {client_ip} {dst} {client_port} 25\r\n".encode()


def proxy_v2(client_ip: str, client_port: int = 40000) -> bytes:
    src = ipaddress.ip_address(client_ip)
    if src.version == 4:
        dst, family = ipaddress.ip_address("127.0.0.1"), 0x11  # AF_INET, STREAM
    else:
        dst, family = ipaddress.ip_address("::1"), 0x21  # AF_INET6, STREAM
    body = src.packed + dst.packed + struct.pack("!HH", client_port, 25)
    return V2_SIGNATURE + bytes([0x21, family]) + struct.pack("!H", len(body)) + body


def connected_socket(port: int, header: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(header)
    sock.setblocking(False)
    return sock


@pytest.mark.parametrize(
    ("builder", "client_ip"),
    [
        (proxy_v1, "203.0.113.7"),
        (proxy_v2, "198.51.100.23"),
        (proxy_v1, "2001:db8::25"),
        (proxy_v2, "2001:db8::26"),
    ],
    ids=["v1-ipv4", "v2-ipv4", "v1-ipv6", "v2-ipv6"],
)
async def test_trusted_proxy_header_sets_client_ip(
    run_sink, store: SinkStore, judge: FakeJudge, builder, client_ip: str
) -> None:
    async with run_sink(proxy_trusted=("127.0.0.0/8",)) as sink:
        sock = connected_socket(sink.port, builder(client_ip, 41234))
        async with aiosmtplib.SMTP(sock=sock, start_tls=False) as client:
            await client.sendmail("a@x.example", ["kari@kunde-ok.example"], message())
    assert judge.seen[0][1].client_ip == client_ip
    stored = store.list()[0]
    assert (stored.peer_ip, stored.peer_port, stored.proxied) == (client_ip, 41234, True)


async def test_client_ip_survives_starttls(run_sink, store: SinkStore, judge: FakeJudge) -> None:
    async with run_sink(proxy_trusted=("127.0.0.1",)) as sink:
        sock = connected_socket(sink.port, proxy_v2("192.0.2.44"))
        async with aiosmtplib.SMTP(
            sock=sock, start_tls=True, tls_context=client_tls(), hostname="127.0.0.1"
        ) as client:
            await client.sendmail("a@x.example", ["kari@kunde-ok.example"], message())
    assert judge.seen[0][1].client_ip == "192.0.2.44"
    assert judge.seen[0][1].tls is not None
    assert store.list()[0].tls is not None


async def test_trusted_peer_without_header_is_dropped(run_sink, judge: FakeJudge) -> None:
    async with run_sink(proxy_trusted=("127.0.0.1",), proxy_timeout=3.0) as sink:
        reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
        writer.write(b"EHLO spoof.example\r\n")
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    assert judge.seen == []


@pytest.mark.parametrize("builder", [proxy_v1, proxy_v2], ids=["v1", "v2"])
async def test_untrusted_peer_proxy_header_refused(
    run_sink, store: SinkStore, judge: FakeJudge, builder
) -> None:
    async with run_sink(proxy_trusted=("192.0.2.0/24",)) as sink:
        reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
        assert (await reader.readline()).startswith(b"220 ")
        writer.write(builder("203.0.113.9") + b"EHLO x\r\nMAIL FROM:<a@x.example>\r\n")
        rest = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        # the header is refused and the connection ends: no session with a spoofed client
        assert b"250 2.1.0" not in rest
        if builder is proxy_v1:
            assert rest.startswith(b"554 5.7.0")
        # a plain client from that peer is still served, with its real address
        await aiosmtplib.send(
            message(),
            sender="a@x.example",
            recipients=["k@kunde-ok.example"],
            hostname="127.0.0.1",
            port=sink.port,
            start_tls=False,
        )
    assert [facts.client_ip for _, facts in judge.seen] == ["127.0.0.1"]
    assert store.list()[0].proxied is False


def test_trust_helpers() -> None:
    nets = parse_networks(["10.0.0.0/8", "::1"])
    assert is_trusted("10.1.2.3", nets)
    assert is_trusted("::ffff:10.1.2.3", nets)
    assert is_trusted("::1", nets)
    assert not is_trusted("11.0.0.1", nets)
    assert not is_trusted("garbage", nets)
