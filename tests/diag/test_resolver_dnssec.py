"""The AD bit reaches ``Answer.authenticated``: DnsPythonResolver asks with AD (RFC 6840 §5.7)
and reads it back on every path (its own UDP reader, dnspython for other types, TCP after a
truncated reply), against a stand-in for a validating resolver on loopback port 0 that sets
AD, as validating resolvers do, only when the query asked for it. The MemoryResolver marks the
names it is told are signed."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Iterable

import dns.flags
import dns.message
import dns.rdatatype
import pytest

from diag.resolver import TXT, Answer, DnsPythonResolver, MemoryResolver, Rcode, ZoneData
from maildiag.lab import dns_wire

TLSA = "3 1 1 " + "ab" * 32
SIGNED = frozenset(
    {
        "signed.example",
        "_25._tcp.mx.signed.example",
        "_25._tcp.big.signed.example",
        "gone.signed.example",
    }
)
ZONE: ZoneData = {
    "signed.example": {"A": ["192.0.2.1"], "TXT": [TXT((b"v=spf1 -all",))]},
    "_25._tcp.mx.signed.example": {"TLSA": [TLSA]},
    "_25._tcp.big.signed.example": {"TLSA": [f"3 0 2 {i:02x}" + "cd" * 63 for i in range(30)]},
    "plain.example": {"A": ["192.0.2.2"], "TLSA": [TLSA]},
}


class Validating:
    """Answers from ``ZONE``; sets AD for the names in ``signed`` when the query has AD or DO."""

    def __init__(self, signed: Iterable[str]) -> None:
        self.zone = dns_wire.CompiledZone(ZONE)
        self.signed = {dns_wire.to_name(n) for n in signed}
        self.asked_with_ad: list[bool] = []

    def reply(self, data: bytes, limit: int | None) -> bytes:
        query = dns.message.from_wire(data)
        self.asked_with_ad.append(bool(query.flags & dns.flags.AD))
        response = dns_wire.answer(self.zone, query)
        name = query.question[0].name.canonicalize()
        wants = bool(query.flags & dns.flags.AD) or bool(query.ednsflags & dns.flags.DO)
        if wants and name in self.signed:
            response.flags |= dns.flags.AD
        if limit is None:
            return bytes(response.to_wire(max_size=65535))
        return dns_wire.to_wire_limited(response, limit)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: Validating) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.server.reply(data, 1232), addr)


@pytest.fixture
async def validating() -> AsyncIterator[tuple[Validating, str]]:
    server = Validating(SIGNED)
    loop = asyncio.get_running_loop()

    async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        answer = server.reply(await reader.readexactly(length), None)
        writer.write(struct.pack("!H", len(answer)) + answer)
        await writer.drain()
        writer.close()

    stream = await asyncio.start_server(tcp, "127.0.0.1", 0)
    port = stream.sockets[0].getsockname()[1]
    udp, _ = await loop.create_datagram_endpoint(
        lambda: _Udp(server), local_addr=("127.0.0.1", port)
    )
    yield server, f"127.0.0.1:{port}"
    udp.close()
    stream.close()
    await stream.wait_closed()


async def _ask(address: str, name: str, rdtype: str) -> Answer:
    return await DnsPythonResolver([address], timeout=2.0, cache=False).query(name, rdtype)


@pytest.mark.parametrize("rdtype", ["A", "TXT"])  # the resolver's own UDP reader
async def test_fast_path_reads_the_ad_bit(validating: tuple[Validating, str], rdtype: str) -> None:
    server, address = validating
    assert (await _ask(address, "signed.example", rdtype)).authenticated
    assert not (await _ask(address, "plain.example", "A")).authenticated
    assert server.asked_with_ad
    assert all(server.asked_with_ad)


async def test_tlsa_through_dnspython_carries_the_ad_bit(
    validating: tuple[Validating, str],
) -> None:
    _, address = validating
    answer = await _ask(address, "_25._tcp.mx.signed.example", "TLSA")
    assert answer.rcode is Rcode.NOERROR
    assert answer.records == (TLSA,)
    assert answer.authenticated
    unsigned = await _ask(address, "plain.example", "TLSA")
    assert unsigned.records == (TLSA,)
    assert not unsigned.authenticated


async def test_truncated_answer_over_tcp_keeps_the_ad_bit(
    validating: tuple[Validating, str],
) -> None:
    _, address = validating
    answer = await _ask(address, "_25._tcp.big.signed.example", "TLSA")
    assert len(answer.records) == 30
    assert answer.authenticated


async def test_authenticated_denial(validating: tuple[Validating, str]) -> None:
    _, address = validating
    nxdomain = await _ask(address, "gone.signed.example", "TLSA")
    assert (nxdomain.rcode, nxdomain.authenticated) == (Rcode.NXDOMAIN, True)
    nodata = await _ask(address, "signed.example", "TLSA")
    assert (nodata.rcode, nodata.authenticated) == (Rcode.NODATA, True)
    assert not (await _ask(address, "nothing.example", "A")).authenticated


async def test_memory_resolver_marks_the_signed_names() -> None:
    zone: ZoneData = {
        "mx.signed.example": {"CNAME": ["host.signed.example"]},
        "host.signed.example": {"A": ["192.0.2.9"]},
        "mx.half.example": {"CNAME": ["host.unsigned.example"]},
        "host.unsigned.example": {"A": ["192.0.2.10"]},
    }
    signed = ["mx.signed.example", "host.signed.example", "mx.half.example", "gone.example"]
    resolver = MemoryResolver(zone, authenticated=signed, nxdomain=["gone.example"])
    assert (await resolver.query("mx.signed.example", "A")).authenticated
    assert not (await resolver.query("mx.half.example", "A")).authenticated
    assert not (await resolver.query("host.unsigned.example", "A")).authenticated
    assert (await resolver.query("gone.example", "TLSA")).authenticated
    assert dns.rdatatype.from_text("TLSA") == dns.rdatatype.TLSA
