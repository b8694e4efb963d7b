"""The lab DNS server on its own, driven by dns.asyncquery over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diag.errors import ParseError
from diag.resolver import MX, TXT
from maildiag import lab
from maildiag.lab import Fault, LabDnsServer, lab_dns_in_thread, parse_zone_text

ZONE_TEXT = """
; a small zone for the server tests
$ORIGIN lab.example
@                 A     192.0.2.1
@                 AAAA  2001:db8::1
@                 MX    10 mx
@                 TXT   "v=spf1 ip4:192.0.2.1" " -all"   ; two strings, kept apart
@                 SPF   "v=spf1 -all"
mx                A     127.0.0.1
www               CNAME lab.example.
chain             CNAME www
loop1             CNAME loop2
loop2             CNAME loop1
out               CNAME elsewhere.test.
deep.a.b          A     192.0.2.9
1.2.0.192.in-addr.arpa. PTR lab.example.
nullmx.example.   MX    0 .
"""

BIG = {"big.lab.example": {"TXT": [TXT((f"{i:03d}-".encode() + b"x" * 60,)) for i in range(20)]}}


@pytest.fixture
def zone() -> dict[str, dict[str, list[object]]]:
    data = {
        k: {t: list(v) for t, v in types.items()} for k, types in parse_zone_text(ZONE_TEXT).items()
    }
    data.update({k: {t: list(v) for t, v in types.items()} for k, types in BIG.items()})
    return data  # type: ignore[return-value]


@pytest.fixture
async def server(zone: dict[str, dict[str, list[object]]]) -> AsyncIterator[LabDnsServer]:
    async with LabDnsServer(zone) as srv:  # type: ignore[arg-type]
        yield srv


async def udp(server: LabDnsServer, name: str, rdtype: str, **kw: object) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **kw)  # type: ignore[arg-type]
    return await dns.asyncquery.udp(query, server.host, port=server.port, timeout=2)


async def tcp(server: LabDnsServer, name: str, rdtype: str) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    return await dns.asyncquery.tcp(query, server.host, port=server.port, timeout=2)


def rdata_texts(response: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rrset in response.answer for rd in rrset)


# --- parse_zone_text -------------------------------------------------------------------------


def test_parse_zone_text_types_and_origin() -> None:
    zone = parse_zone_text(ZONE_TEXT)
    assert zone["lab.example"]["TXT"] == [TXT((b"v=spf1 ip4:192.0.2.1", b" -all"))]
    assert zone["lab.example"]["MX"] == [MX(10, "mx.lab.example")]
    assert zone["lab.example"]["AAAA"] == ["2001:db8::1"]
    assert zone["www.lab.example"]["CNAME"] == ["lab.example"]
    assert zone["deep.a.b.lab.example"]["A"] == ["192.0.2.9"]
    assert zone["1.2.0.192.in-addr.arpa"]["PTR"] == ["lab.example"]
    assert zone["nullmx.example"]["MX"] == [MX(0, "")]


def test_parse_zone_text_escapes_class_and_case() -> None:
    zone = parse_zone_text('Name.Example. IN txt "a\\"b" "c\\\\d" "\\065\\;" ; tail\n')
    assert zone == {"name.example": {"TXT": [TXT((b'a"b', b"c\\d", b"A;"))]}}


def test_parse_zone_text_several_records_accumulate() -> None:
    zone = parse_zone_text("a.example MX 10 mx1.example\na.example MX 20 mx2.example\n")
    assert zone["a.example"]["MX"] == [MX(10, "mx1.example"), MX(20, "mx2.example")]


def test_parse_zone_text_passes_other_types_through() -> None:
    zone = parse_zone_text("a.example SOA ns.a.example. h.a.example. 7 1 1 1 60\n")
    assert zone["a.example"]["SOA"] == ["ns.a.example. h.a.example. 7 1 1 1 60"]


def test_parse_zone_text_makes_names_inside_values_absolute() -> None:
    zone = parse_zone_text("$ORIGIN z.example\n@ SOA ns h 1 2 3 4 5\n@ SRV 0 5 25 mx\n")
    assert zone["z.example"]["SOA"] == ["ns.z.example. h.z.example. 1 2 3 4 5"]
    assert zone["z.example"]["SRV"] == ["0 5 25 mx.z.example."]


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("a.example", 9, "record type"),
        ("a.example BOGUS 1", 10, "unknown record type"),
        ("a.example A", 11, "needs a value"),
        ("a.example A 300.1.1.1", 12, "not an IP address"),
        ("a.example A 2001:db8::1", 12, "IPv4"),
        ("a.example AAAA 192.0.2.1", 15, "IPv6"),
        ('a.example TXT "open', 14, "unterminated"),
        ("a.example MX mx.example", 13, "preference"),
        ("a.example MX 70000 mx.example", 13, "preference"),
        ('a.example A "192.0.2.1"', 13, "quoted"),
        ("a.example CNAME b.example c.example", 26, "one name"),
        ('a.example TXT "\\999"', 15, "escape"),
        ("@ A 192.0.2.1", 0, "$ORIGIN"),
        ("a.example SOA nonsense", 14, "bad SOA"),
    ],
)
def test_parse_zone_text_errors_point_at_the_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_zone_text("; first line\n" + text)
    assert info.value.position == column
    assert "line 2" in info.value.message
    assert fragment in info.value.message


def test_lab_package_exports() -> None:
    assert set(lab.__all__) >= {"Fault", "LabDnsServer", "lab_dns_in_thread", "parse_zone_text"}
    for name in lab.__all__:
        assert hasattr(lab, name)


# --- answers ---------------------------------------------------------------------------------


async def test_port_zero_binds_udp_and_tcp_on_one_port(server: LabDnsServer) -> None:
    assert server.port != 0
    assert server.address == f"127.0.0.1:{server.port}"
    assert (await udp(server, "lab.example", "A")).answer
    assert (await tcp(server, "lab.example", "A")).answer


async def test_records_of_each_type_are_authoritative(server: LabDnsServer) -> None:
    expected = {
        ("lab.example", "A"): ["192.0.2.1"],
        ("lab.example", "AAAA"): ["2001:db8::1"],
        ("lab.example", "MX"): ["10 mx.lab.example."],
        ("lab.example", "SPF"): ['"v=spf1 -all"'],
        ("1.2.0.192.in-addr.arpa", "PTR"): ["lab.example."],
        ("www.lab.example", "CNAME"): ["lab.example."],
        ("nullmx.example", "MX"): ["0 ."],
    }
    for (name, rdtype), texts in expected.items():
        response = await udp(server, name, rdtype)
        assert response.rcode() == dns.rcode.NOERROR
        assert response.flags & dns.flags.AA
        assert rdata_texts(response) == texts, (name, rdtype)


async def test_txt_strings_stay_separate(server: LabDnsServer) -> None:
    response = await udp(server, "lab.example", "TXT")
    (rdata,) = response.answer[0]
    assert rdata.strings == (b"v=spf1 ip4:192.0.2.1", b" -all")


async def test_long_txt_string_is_split_into_255_octet_strings() -> None:
    zone = {"k.example": {"TXT": [TXT((b"p=" + b"A" * 600,))]}}
    async with LabDnsServer(zone) as srv:
        response = await tcp(srv, "k.example", "TXT")
    (rdata,) = response.answer[0]
    assert [len(s) for s in rdata.strings] == [255, 255, 92]
    assert b"".join(rdata.strings) == b"p=" + b"A" * 600


async def test_nxdomain_has_aa_and_the_apex_soa(server: LabDnsServer) -> None:
    response = await udp(server, "missing.lab.example", "A")
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.flags & dns.flags.AA
    assert not response.answer
    (soa,) = response.authority
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.name.to_text() == "lab.example."
    assert soa[0].minimum == 300


async def test_nodata_has_aa_and_soa(server: LabDnsServer) -> None:
    response = await udp(server, "mx.lab.example", "TXT")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    assert not response.answer
    assert response.authority[0].rdtype == dns.rdatatype.SOA


async def test_empty_non_terminal_is_nodata(server: LabDnsServer) -> None:
    response = await udp(server, "a.b.lab.example", "A")
    assert response.rcode() == dns.rcode.NOERROR
    assert not response.answer
    assert response.authority[0].name.to_text() == "lab.example."


async def test_unknown_rdtype_is_nodata(server: LabDnsServer) -> None:
    response = await udp(server, "lab.example", "TYPE65280")
    assert response.rcode() == dns.rcode.NOERROR
    assert not response.answer
    assert response.authority


async def test_synthetic_soa_at_the_apex(server: LabDnsServer) -> None:
    response = await udp(server, "lab.example", "SOA")
    assert rdata_texts(response) == ["ns.lab.example. hostmaster.lab.example. 1 3600 600 86400 300"]


async def test_explicit_soa_is_used_for_negative_answers() -> None:
    zone = parse_zone_text(
        "z.example SOA ns.z.example. h.z.example. 9 1 1 1 42\nw.z.example A 192.0.2.2"
    )
    async with LabDnsServer(zone) as srv:
        response = await udp(srv, "nope.w.z.example", "A")
    assert response.authority[0].name.to_text() == "z.example."
    assert response.authority[0][0].serial == 9


async def test_cname_is_followed_within_the_zone(server: LabDnsServer) -> None:
    response = await udp(server, "chain.lab.example", "A")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.resolve_chaining().answer[0].to_text() == "192.0.2.1"
    assert len(response.answer) == 3


async def test_cname_out_of_zone_stops_at_the_cname(server: LabDnsServer) -> None:
    response = await udp(server, "out.lab.example", "A")
    assert response.rcode() == dns.rcode.NXDOMAIN  # the target's rcode (RFC 6604 §2)
    assert [r.rdtype for r in response.answer] == [dns.rdatatype.CNAME]


async def test_cname_loop_does_not_hang_the_server(server: LabDnsServer) -> None:
    response = await udp(server, "loop1.lab.example", "A")
    assert [r.name.to_text() for r in response.answer] == [
        "loop1.lab.example.",
        "loop2.lab.example.",
    ]
    with pytest.raises(dns.message.ChainTooLong):
        response.resolve_chaining()


# --- truncation and TCP ----------------------------------------------------------------------


async def test_big_answer_is_truncated_over_udp_and_whole_over_tcp(server: LabDnsServer) -> None:
    response = await udp(server, "big.lab.example", "TXT")
    assert response.flags & dns.flags.TC
    assert not response.answer
    whole = await tcp(server, "big.lab.example", "TXT")
    assert not whole.flags & dns.flags.TC
    assert len(whole.answer[0]) == 20


async def test_edns_payload_size_raises_the_udp_limit(server: LabDnsServer) -> None:
    response = await udp(server, "big.lab.example", "TXT", use_edns=0, payload=4096)
    assert not response.flags & dns.flags.TC
    assert len(response.answer[0]) == 20
    small = await udp(server, "big.lab.example", "TXT", use_edns=0, payload=512)
    assert small.flags & dns.flags.TC


async def test_several_queries_on_one_tcp_connection(server: LabDnsServer) -> None:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        names = ["lab.example", "mx.lab.example", "missing.lab.example"]
        for i, name in enumerate(names):
            query = dns.message.make_query(name, "A", id=100 + i)
            wire = query.to_wire()
            writer.write(struct.pack("!H", len(wire)) + wire)
        await writer.drain()
        rcodes = []
        for i in range(len(names)):
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            response = dns.message.from_wire(await reader.readexactly(length))
            assert response.id == 100 + i
            rcodes.append(response.rcode())
    finally:
        writer.close()
        await writer.wait_closed()
    assert rcodes == [dns.rcode.NOERROR, dns.rcode.NOERROR, dns.rcode.NXDOMAIN]


# --- faults ----------------------------------------------------------------------------------


async def test_fault_timeout_sends_nothing(server: LabDnsServer) -> None:
    server.set_fault("lab.example", Fault.TIMEOUT)
    with pytest.raises(dns.exception.Timeout):
        await dns.asyncquery.udp(
            dns.message.make_query("lab.example", "A"), server.host, port=server.port, timeout=0.2
        )
    server.set_fault("lab.example", None)
    assert (await udp(server, "lab.example", "A")).answer


@pytest.mark.parametrize(
    ("fault", "rcode"), [("servfail", dns.rcode.SERVFAIL), ("refused", dns.rcode.REFUSED)]
)
async def test_fault_rcodes(server: LabDnsServer, fault: str, rcode: dns.rcode.Rcode) -> None:
    server.set_fault("LAB.example.", fault)
    response = await udp(server, "lab.example", "A")
    assert response.rcode() == rcode
    assert not response.answer
    assert (await udp(server, "mx.lab.example", "A")).answer  # other names unaffected


async def test_fault_truncate_always_sets_tc_over_udp(server: LabDnsServer) -> None:
    server.set_fault("mx.lab.example", Fault.TRUNCATE)
    response = await udp(server, "mx.lab.example", "A")
    assert response.flags & dns.flags.TC
    assert not response.answer
    assert rdata_texts(await tcp(server, "mx.lab.example", "A")) == ["127.0.0.1"]


async def test_fault_garbage_cannot_be_parsed_over_either_transport(server: LabDnsServer) -> None:
    server.set_fault("lab.example", "garbage")
    query = dns.message.make_query("lab.example", "A")
    with pytest.raises(dns.message.Truncated):
        await dns.asyncquery.udp(
            query, server.host, port=server.port, timeout=2, raise_on_truncation=True
        )
    with pytest.raises(dns.exception.FormError):
        await dns.asyncquery.tcp(query, server.host, port=server.port, timeout=2)
    assert (await udp(server, "mx.lab.example", "A")).answer


def test_unknown_fault_is_rejected() -> None:
    with pytest.raises(ValueError, match="explode"):
        LabDnsServer({}, faults={"a.example": "explode"})


def test_bad_zone_record_is_rejected() -> None:
    with pytest.raises(ValueError, match="TXT value"):
        LabDnsServer({"a.example": {"A": [TXT((b"x",))]}})


# --- robustness ------------------------------------------------------------------------------


async def test_malformed_queries_get_formerr_or_nothing_and_the_server_lives(
    server: LabDnsServer,
) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        sock.connect((server.host, server.port))
        header = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0)
        await loop.sock_sendall(sock, header + b"\x05abc")  # question runs off the end
        reply = await asyncio.wait_for(loop.sock_recv(sock, 512), 2)
        assert reply[:2] == b"\xbe\xef"
        assert reply[3] & 0x0F == dns.rcode.FORMERR
        for junk in (b"", b"\x01", b"\xff" * 7):
            await loop.sock_sendall(sock, junk)
    finally:
        sock.close()
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"\x00\x05hello" + b"\x00\x10" + header + b"\xc0\xff\x00\x01")
    await writer.drain()
    (length,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 2))
    reply = await reader.readexactly(length)
    assert reply[:2] == b"\xbe\xef"  # the 5-byte message had no header to answer
    assert reply[3] & 0x0F == dns.rcode.FORMERR
    writer.close()
    await writer.wait_closed()
    assert (await udp(server, "lab.example", "A")).answer
    assert server.query_count >= 6


async def test_latency_delays_without_blocking_other_queries(
    zone: dict[str, dict[str, list[object]]],
) -> None:
    async with LabDnsServer(zone, latency=0.3) as srv:  # type: ignore[arg-type]
        started = time.perf_counter()
        responses = await asyncio.gather(*(udp(srv, "lab.example", "A") for _ in range(5)))
        elapsed = time.perf_counter() - started
    assert all(r.answer for r in responses)
    assert 0.3 <= elapsed < 1.2


BURST = 600  # queries sent before the server reads any (16 checklists at once send ~400)
RMEM_MAX = Path("/proc/sys/net/core/rmem_max")


def _rmem_max() -> int:
    """The largest receive buffer a socket may ask for (Linux; 0 elsewhere)."""
    return int(RMEM_MAX.read_text()) if RMEM_MAX.exists() else 0


async def test_a_burst_of_queries_is_queued_not_dropped(server: LabDnsServer) -> None:
    """All of ``BURST`` queries sent back to back, while the server's loop cannot read, are
    answered: its socket's receive buffer holds them (the default held about 250)."""
    queue_bytes = BURST * 2304  # the kernel's charge for one small datagram, with headroom
    if _rmem_max() * 2 < queue_bytes:  # Linux doubles the size asked for, up to twice this
        pytest.skip("net.core.rmem_max is too small for the burst")
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, queue_bytes)
    client.setblocking(False)
    loop = asyncio.get_running_loop()
    wires = [dns.message.make_query("lab.example", "A", id=i).to_wire() for i in range(BURST)]
    with client:
        for wire in wires:  # no await: the server's loop reads nothing meanwhile
            client.sendto(wire, (server.host, server.port))
        answered: set[int] = set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while len(answered) < BURST:
                    answered.add(dns.message.from_wire(await loop.sock_recv(client, 512)).id)
    assert len(answered) == BURST, f"{BURST - len(answered)} of {BURST} queries were lost"


async def test_queries_waiting_together_are_read_at_one_turn_of_the_loop(
    server: LabDnsServer,
) -> None:
    """Queries that reached the socket while the loop was busy are all read when it next
    looks, so each reply leaves ``latency`` after the same read (one datagram per turn of
    the loop, they were read, and answered, later and later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        for i in range(20):  # no await: the loop is busy with this test meanwhile
            query = dns.message.make_query(f"q{i}.lab.example", "A")
            client.sendto(query.to_wire(), (server.host, server.port))
        for _ in range(3):  # the read, then the answers' tasks start
            await asyncio.sleep(0)
    assert server.query_count == 20


async def test_set_zone_replaces_the_records(server: LabDnsServer) -> None:
    server.set_zone({"lab.example": {"A": ["192.0.2.77"]}})
    assert rdata_texts(await udp(server, "lab.example", "A")) == ["192.0.2.77"]
    assert (await udp(server, "mx.lab.example", "A")).rcode() == dns.rcode.NXDOMAIN


async def test_repeated_questions_get_the_same_reply_under_their_own_id(
    server: LabDnsServer,
) -> None:
    first = await udp(server, "lab.example", "TXT", id=1)
    second = await udp(server, "LAB.example", "TXT", id=2)
    third = await udp(server, "lab.example", "TXT", id=3)
    assert (first.id, second.id, third.id) == (1, 2, 3)
    assert first.to_wire()[2:] == third.to_wire()[2:]
    assert str(second.question[0].name) == "LAB.example."  # the question as asked, not cached
    assert rdata_texts(first) == rdata_texts(second) == rdata_texts(third)


async def test_zone_and_fault_changes_reach_repeated_questions(server: LabDnsServer) -> None:
    assert rdata_texts(await udp(server, "lab.example", "A")) == ["192.0.2.1"]
    server.set_zone({"lab.example": {"A": ["192.0.2.77"]}})
    assert rdata_texts(await udp(server, "lab.example", "A")) == ["192.0.2.77"]
    server.set_fault("lab.example", Fault.SERVFAIL)
    assert (await udp(server, "lab.example", "A")).rcode() == dns.rcode.SERVFAIL
    server.set_fault("lab.example", None)
    assert rdata_texts(await udp(server, "lab.example", "A")) == ["192.0.2.77"]


async def test_stop_closes_open_tcp_connections(zone: dict[str, dict[str, list[object]]]) -> None:
    srv = LabDnsServer(zone)  # type: ignore[arg-type]
    await srv.start()
    reader, writer = await asyncio.open_connection(srv.host, srv.port)
    await asyncio.wait_for(srv.stop(), 2)
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    await writer.wait_closed()


async def test_ipv6_loopback() -> None:
    try:
        srv = LabDnsServer({"v6.example": {"A": ["192.0.2.6"]}}, host="::1")
        await srv.start()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        assert srv.address == f"[::1]:{srv.port}"
        response = await dns.asyncquery.udp(
            dns.message.make_query("v6.example", "A"), "::1", port=srv.port, timeout=2
        )
        assert rdata_texts(response) == ["192.0.2.6"]
    finally:
        await srv.stop()


def test_in_thread_serves_synchronous_callers(zone: dict[str, dict[str, list[object]]]) -> None:
    with lab_dns_in_thread(zone, latency=0.0) as srv:  # type: ignore[arg-type]
        response = dns.query.udp(
            dns.message.make_query("lab.example", "MX"), srv.host, port=srv.port, timeout=2
        )
        assert rdata_texts(response) == ["10 mx.lab.example."]
        srv.set_fault("lab.example", Fault.SERVFAIL)
        response = dns.query.tcp(
            dns.message.make_query("lab.example", "MX"), srv.host, port=srv.port, timeout=2
        )
        assert response.rcode() == dns.rcode.SERVFAIL
    with pytest.raises(ConnectionRefusedError):
        dns.query.tcp(
            dns.message.make_query("lab.example", "MX"), srv.host, port=srv.port, timeout=2
        )


def test_in_thread_reports_a_busy_port() -> None:
    with (
        lab_dns_in_thread({}) as first,
        pytest.raises(OSError, match="in use"),
        lab_dns_in_thread({}, port=first.port),
    ):
        pass


# --- untrusted input -------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parse_zone_text_raises_only_parse_error(text: str) -> None:
    try:
        zone = parse_zone_text(text)
    except ParseError:
        return
    LabDnsServer(zone)  # whatever parses also compiles


def _mutations(seed: int, count: int) -> list[bytes]:
    """Valid queries with bytes flipped, cut short or extended, plus plain random datagrams."""
    rng = random.Random(seed)
    base = [
        dns.message.make_query(name, rdtype, use_edns=rng.choice([None, 0])).to_wire()
        for name, rdtype in [("lab.example", "A"), ("big.lab.example", "TXT"), ("x.test", "MX")]
    ]
    out = []
    for _ in range(count):
        wire = bytearray(rng.choice(base))
        for _ in range(rng.randint(1, 4)):
            wire[rng.randrange(len(wire))] = rng.randrange(256)
        shape = rng.randrange(4)
        if shape == 1:
            wire = wire[: rng.randrange(len(wire))]
        elif shape == 2:
            wire += rng.randbytes(rng.randrange(40))
        elif shape == 3:
            wire = bytearray(rng.randbytes(rng.randrange(80)))
        out.append(bytes(wire))
    return out


async def test_mutated_queries_never_break_the_server(
    server: LabDnsServer, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.connect((server.host, server.port))
    try:
        for datagram in _mutations(seed=2026, count=400):
            await loop.sock_sendall(sock, datagram)
    finally:
        sock.close()
    _, writer = await asyncio.open_connection(server.host, server.port)
    for message in _mutations(seed=7, count=100):
        writer.write(struct.pack("!H", len(message)) + message)
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    for _ in range(50):  # let the server drain what it received
        if server.query_count >= 480:
            break
        await asyncio.sleep(0.02)
    assert (await udp(server, "lab.example", "A")).answer
    assert (await tcp(server, "lab.example", "A")).answer
    assert "labdns.answer_failed" not in caplog.text


async def test_a_failing_answer_costs_one_servfail_not_the_server(
    server: LabDnsServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("maildiag.lab.dns_wire.fast_reply", broken)
    assert (await udp(server, "lab.example", "A")).answer  # the general path answers
    assert "labdns.fast_path_failed" in caplog.text
    monkeypatch.setattr("maildiag.lab.dns_wire.answer", broken)
    assert (await udp(server, "lab.example", "MX")).rcode() == dns.rcode.SERVFAIL
    assert (await tcp(server, "lab.example", "A")).rcode() == dns.rcode.SERVFAIL
    assert "labdns.answer_failed qname=lab.example" in caplog.text
    monkeypatch.undo()
    assert (await udp(server, "lab.example", "A")).answer


# --- TCP limits: idle timeout, per-client and total caps (RFC 7766 §6.2.3) ------------------


async def _connect(
    server: LabDnsServer, source: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(server.host, server.port, local_addr=(source, 0))


async def _closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    """True when the server closes the connection (EOF or reset) within ``within`` seconds."""
    try:
        return await asyncio.wait_for(reader.read(), within) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


async def _answered(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    wire = dns.message.make_query("lab.example", "A").to_wire()
    writer.write(struct.pack("!H", len(wire)) + wire)
    await writer.drain()
    length = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 2))[0]
    reply = dns.message.from_wire(await asyncio.wait_for(reader.readexactly(length), 2))
    return reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)


async def _close(*writers: asyncio.StreamWriter) -> None:
    for writer in writers:
        writer.close()
    for writer in writers:
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_tcp_idle_connection_is_closed(zone: dict[str, dict[str, list[object]]]) -> None:
    async with LabDnsServer(zone, tcp_idle_timeout=0.3) as srv:  # type: ignore[arg-type]
        reader, writer = await _connect(srv)
        assert await _answered(reader, writer)  # a query resets the idle clock
        started = time.monotonic()
        assert await _closed_by_server(reader, 3)
        assert 0.25 < time.monotonic() - started < 2.5
        await _close(writer)
        assert srv.tcp_connections == 0


@pytest.mark.parametrize("sent", [b"\x01", b"\xff\xff" + b"x" * 10])
async def test_tcp_half_sent_message_is_dropped_at_the_timeout(
    zone: dict[str, dict[str, list[object]]], sent: bytes
) -> None:
    """One byte of the length prefix, or a 65,535-byte prefix with 10 bytes after it."""
    async with LabDnsServer(zone, tcp_idle_timeout=0.3) as srv:  # type: ignore[arg-type]
        reader, writer = await _connect(srv)
        writer.write(sent)
        await writer.drain()
        assert await _closed_by_server(reader, 3)
        await _close(writer)
        assert srv.tcp_connections == 0
        assert srv.query_count == 0


async def test_tcp_per_client_cap_leaves_room_for_other_clients(
    zone: dict[str, dict[str, list[object]]],
) -> None:
    async with LabDnsServer(
        zone,  # type: ignore[arg-type]
        tcp_idle_timeout=30.0,
        tcp_max_per_client=3,
    ) as srv:
        held = [await _connect(srv) for _ in range(3)]
        for reader, writer in held[:1]:
            assert await _answered(reader, writer)
        over_reader, over_writer = await _connect(srv)
        assert await _closed_by_server(over_reader, 2)  # at once, not after 30 s
        other_reader, other_writer = await _connect(srv, "127.0.0.2")
        assert await _answered(other_reader, other_writer)
        assert srv.tcp_connections == 4
        await _close(held[0][1])
        for _ in range(50):  # the server sees the close
            if srv.tcp_connections == 3:
                break
            await asyncio.sleep(0.02)
        again_reader, again_writer = await _connect(srv)
        assert await _answered(again_reader, again_writer)
        await _close(over_writer, other_writer, again_writer, *(w for _, w in held[1:]))


async def test_tcp_total_cap(zone: dict[str, dict[str, list[object]]]) -> None:
    async with LabDnsServer(
        zone,  # type: ignore[arg-type]
        tcp_idle_timeout=30.0,
        tcp_max_per_client=10,
        tcp_max_connections=4,
    ) as srv:
        held = [await _connect(srv, f"127.0.0.{1 + n % 2}") for n in range(4)]
        reader, writer = await _connect(srv, "127.0.0.3")
        assert await _closed_by_server(reader, 2)
        assert srv.tcp_connections == 4
        await _close(writer, *(w for _, w in held))


async def test_tcp_many_one_byte_connections_do_not_stay_open(
    zone: dict[str, dict[str, list[object]]],
) -> None:
    async with LabDnsServer(
        zone,  # type: ignore[arg-type]
        tcp_idle_timeout=0.5,
        tcp_max_per_client=5,
    ) as srv:
        opened = [await _connect(srv) for _ in range(40)]
        for _, writer in opened:
            writer.write(b"\x00")
        await asyncio.sleep(0.1)
        assert srv.tcp_connections <= 5
        closed = await asyncio.gather(*(_closed_by_server(r, 5) for r, _ in opened))
        assert all(closed)
        assert srv.tcp_connections == 0
        await _close(*(w for _, w in opened))
