"""The resolvers: DnsPythonResolver over the wire against the lab DNS server, and MemoryResolver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from diag.errors import DnsError
from diag.resolver import (
    MX,
    TXT,
    Answer,
    DnsPythonResolver,
    MemoryResolver,
    QueryLogEntry,
    Rcode,
    UnexpectedQuery,
    ZoneData,
    normalize_name,
    parse_nameserver,
)
from maildiag.lab.dns import Fault, LabDnsServer, parse_zone_text
from maildiag.lab.zones import build_lab_zone

ZONE = parse_zone_text(
    """
$ORIGIN res.example
@        A      192.0.2.1
@        AAAA   2001:db8::1
@        MX     10 mx
@        MX     20 mx2
@        TXT    "v=spf1 ip4:192.0.2.0/24" " -all"
@        TXT    "hello"
@        SPF    "v=spf1 -all"
@        NS     ns1
@        SOA    ns1 hostmaster 2026 3600 600 86400 120
mx       A      127.0.0.1
mx2      A      127.0.0.2
nullmx   MX     0 .
alias    CNAME  @
alias2   CNAME  alias
away     CNAME  gone
loop1    CNAME  loop2
loop2    CNAME  loop1
deep.x   A      192.0.2.5
slow     A      192.0.2.6
bad      A      192.0.2.7
1.2.0.192.in-addr.arpa. PTR res.example.
"""
)
BIG: ZoneData = {
    "big.res.example": {"TXT": [TXT((f"record {i:02d} ".encode() + b"y" * 80,)) for i in range(30)]}
}
FULL: ZoneData = {**ZONE, **BIG}


class Clock:
    """A settable monotonic clock for the cache."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def server() -> AsyncIterator[LabDnsServer]:
    async with LabDnsServer(FULL, ttl=60) as srv:
        yield srv


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def resolver(server: LabDnsServer, clock: Clock) -> DnsPythonResolver:
    return DnsPythonResolver([server.address], timeout=1.0, clock=clock)


# --- records over the wire -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rdtype", "records"),
    [
        ("res.example", "A", ("192.0.2.1",)),
        ("res.example", "AAAA", ("2001:db8::1",)),
        ("res.example", "NS", ("ns1.res.example",)),
        (
            "res.example",
            "SOA",
            ("ns1.res.example. hostmaster.res.example. 2026 3600 600 86400 120",),
        ),
        ("1.2.0.192.in-addr.arpa", "PTR", ("res.example",)),
        ("alias.res.example", "CNAME", ("res.example",)),
        ("nullmx.res.example", "MX", (MX(0, ""),)),
        ("res.example", "SPF", (TXT((b"v=spf1 -all",)),)),
    ],
)
async def test_records_of_each_type(
    resolver: DnsPythonResolver, name: str, rdtype: str, records: tuple[object, ...]
) -> None:
    answer = await resolver.query(name, rdtype)
    assert answer.rcode is Rcode.NOERROR
    assert answer.records == records
    assert answer.name == name
    assert answer.ttl == 60


async def test_mx_and_txt_values(resolver: DnsPythonResolver) -> None:
    mx = await resolver.query("RES.example.", "mx")
    assert sorted(mx.mx_records, key=lambda r: r.preference) == [
        MX(10, "mx.res.example"),
        MX(20, "mx2.res.example"),
    ]
    txt = await resolver.query("res.example", "TXT")
    assert set(txt.txt_records) == {TXT((b"v=spf1 ip4:192.0.2.0/24", b" -all")), TXT((b"hello",))}
    assert set(txt.texts) == {"v=spf1 ip4:192.0.2.0/24 -all", "hello"}


async def test_cname_is_followed(resolver: DnsPythonResolver) -> None:
    answer = await resolver.query("alias2.res.example", "A")
    assert answer.rcode is Rcode.NOERROR
    assert answer.strings == ("192.0.2.1",)
    assert answer.canonical_name == "res.example"


async def test_cname_to_a_missing_name_is_nxdomain(resolver: DnsPythonResolver) -> None:
    answer = await resolver.query("away.res.example", "A")
    assert answer.rcode is Rcode.NXDOMAIN


async def test_nxdomain_is_data_with_the_soa_ttl(resolver: DnsPythonResolver) -> None:
    answer = await resolver.query("missing.res.example", "TXT")
    assert answer == Answer(
        "missing.res.example", "TXT", Rcode.NXDOMAIN, (), 60, answer.elapsed, answer.canonical_name
    )
    assert not answer.exists


async def test_nodata_is_data(resolver: DnsPythonResolver) -> None:
    answer = await resolver.query("mx.res.example", "TXT")
    assert answer.rcode is Rcode.NODATA
    assert answer.records == ()
    assert answer.exists
    ent = await resolver.query("x.res.example", "A")  # empty non-terminal above deep.x
    assert ent.rcode is Rcode.NODATA


async def test_big_answer_falls_back_to_tcp(
    server: LabDnsServer, resolver: DnsPythonResolver
) -> None:
    answer = await resolver.query("big.res.example", "TXT")
    assert len(answer.txt_records) == 30
    assert server.query_count == 2  # truncated over UDP, then whole over TCP


async def test_truncate_fault_is_answered_over_tcp(
    server: LabDnsServer, resolver: DnsPythonResolver
) -> None:
    server.set_fault("res.example", Fault.TRUNCATE)
    answer = await resolver.query("res.example", "A")
    assert answer.strings == ("192.0.2.1",)
    assert server.query_count == 2


# --- cache and log ---------------------------------------------------------------------------


async def test_second_query_is_served_from_the_cache(
    server: LabDnsServer, resolver: DnsPythonResolver, clock: Clock
) -> None:
    first = await resolver.query("res.example", "A")
    clock.now += 59
    second = await resolver.query("Res.Example.", "A")
    assert second == first
    assert server.query_count == 1
    assert [e.cached for e in resolver.log] == [False, True]


async def test_expired_entries_are_queried_again(
    server: LabDnsServer, resolver: DnsPythonResolver, clock: Clock
) -> None:
    await resolver.query("res.example", "A")
    clock.now += 61
    server.set_zone({"res.example": {"A": ["192.0.2.99"]}})
    answer = await resolver.query("res.example", "A")
    assert answer.strings == ("192.0.2.99",)
    assert server.query_count == 2
    assert [e.cached for e in resolver.log] == [False, False]


async def test_negative_answers_are_cached_for_the_soa_minimum(
    server: LabDnsServer, resolver: DnsPythonResolver, clock: Clock
) -> None:
    await resolver.query("missing.res.example", "A")
    await resolver.query("missing.res.example", "A")
    assert server.query_count == 1
    clock.now += 61
    await resolver.query("missing.res.example", "A")
    assert server.query_count == 2


async def test_cache_can_be_turned_off(server: LabDnsServer) -> None:
    resolver = DnsPythonResolver([server.address], timeout=1.0, cache=False)
    await resolver.query("res.example", "A")
    await resolver.query("res.example", "A")
    assert server.query_count == 2


async def test_caches_belong_to_one_instance(server: LabDnsServer) -> None:
    await DnsPythonResolver([server.address]).query("res.example", "A")
    await DnsPythonResolver([server.address]).query("res.example", "A")
    assert server.query_count == 2


async def test_query_log_records_outcomes(resolver: DnsPythonResolver) -> None:
    await resolver.query("res.example", "A")
    await resolver.query("missing.res.example", "A")
    await resolver.query("mx.res.example", "MX")
    await resolver.query("res.example", "A")
    outcomes = [(e.name, e.rdtype, e.outcome, e.cached) for e in resolver.log]
    assert outcomes == [
        ("res.example", "A", "NOERROR", False),
        ("missing.res.example", "A", "NXDOMAIN", False),
        ("mx.res.example", "MX", "NODATA", False),
        ("res.example", "A", "NOERROR", True),
    ]
    assert resolver.log[0].elapsed > 0
    assert resolver.log[3].to_dict() == {
        "name": "res.example",
        "type": "A",
        "outcome": "NOERROR",
        "elapsed_ms": 0.0,
        "cached": True,
    }


async def test_concurrent_identical_queries_are_coalesced(
    server: LabDnsServer, resolver: DnsPythonResolver
) -> None:
    server.latency = 0.1
    answers = await asyncio.gather(*(resolver.query("res.example", "A") for _ in range(5)))
    assert {a.strings for a in answers} == {("192.0.2.1",)}
    assert server.query_count == 1
    assert sorted(e.cached for e in resolver.log) == [False, True, True, True, True]


async def test_coalesced_failure_reaches_every_waiter(
    server: LabDnsServer, resolver: DnsPythonResolver
) -> None:
    server.set_fault("bad.res.example", Fault.SERVFAIL)
    server.latency = 0.05
    results = await asyncio.gather(
        *(resolver.query("bad.res.example", "A") for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, DnsError) and r.reason == "servfail" for r in results)
    assert server.query_count == 1
    assert [e.outcome for e in resolver.log] == ["error:servfail"] * 3


async def test_cancelled_caller_does_not_strand_the_others(
    server: LabDnsServer, resolver: DnsPythonResolver
) -> None:
    server.latency = 0.2
    first = asyncio.ensure_future(resolver.query("slow.res.example", "A"))
    await asyncio.sleep(0.02)
    second = asyncio.ensure_future(resolver.query("slow.res.example", "A"))
    await asyncio.sleep(0.02)
    first.cancel()
    answer = await asyncio.wait_for(second, 2)
    assert answer.strings == ("192.0.2.6",)
    assert first.cancelled()


async def test_errors_are_not_cached(server: LabDnsServer, resolver: DnsPythonResolver) -> None:
    server.set_fault("bad.res.example", Fault.SERVFAIL)
    with pytest.raises(DnsError):
        await resolver.query("bad.res.example", "A")
    server.set_fault("bad.res.example", None)
    assert (await resolver.query("bad.res.example", "A")).strings == ("192.0.2.7",)


# --- transport failures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.SERVFAIL, "servfail"),
        (Fault.REFUSED, "refused"),
        (Fault.GARBAGE, "malformed"),
    ],
)
async def test_faults_raise_dns_error_with_reason(
    server: LabDnsServer, resolver: DnsPythonResolver, fault: Fault, reason: str
) -> None:
    server.set_fault("bad.res.example", fault)
    with pytest.raises(DnsError) as info:
        await resolver.query("bad.res.example", "TXT")
    assert (info.value.reason, info.value.qname, info.value.rdtype) == (
        reason,
        "bad.res.example",
        "TXT",
    )
    assert resolver.log[-1].outcome == f"error:{reason}"
    assert (await resolver.query("res.example", "A")).rcode is Rcode.NOERROR


async def test_timeout_is_an_error_never_a_negative_answer(server: LabDnsServer) -> None:
    resolver = DnsPythonResolver([server.address], timeout=0.2)
    server.set_fault("bad.res.example", Fault.TIMEOUT)
    with pytest.raises(DnsError) as info:
        await resolver.query("bad.res.example", "TXT")
    assert info.value.reason == "timeout"
    assert info.value.qname == "bad.res.example"
    assert "bad.res.example" in str(info.value)
    assert resolver.log[-1].outcome == "error:timeout"


async def test_cname_loop_is_an_error(resolver: DnsPythonResolver) -> None:
    with pytest.raises(DnsError) as info:
        await resolver.query("loop1.res.example", "A")
    assert info.value.reason == "cname_loop"
    assert info.value.qname == "loop1.res.example"


async def test_nothing_listening_is_an_error() -> None:
    probe = LabDnsServer({})
    await probe.start()
    address = probe.address
    await probe.stop()
    resolver = DnsPythonResolver([address], timeout=0.3)
    with pytest.raises(DnsError) as info:
        await resolver.query("res.example", "A")
    assert info.value.reason in ("timeout", "unreachable")


# --- the wire and memory agree ---------------------------------------------------------------


async def test_wire_and_memory_agree_on_the_lab_zone() -> None:
    zone = build_lab_zone({"platform.visma.com": ("s1", "v=DKIM1; k=rsa; p=" + "Q" * 392)})
    memory = MemoryResolver(zone, strict=False)
    questions = [(name, rdtype) for name, types in zone.items() for rdtype in types]
    questions += [
        ("platform.visma.com", "AAAA"),
        ("nothing.platform.visma.com", "TXT"),
        ("_report._dmarc.visma.example", "TXT"),
        ("kunde-nomx.example", "MX"),
    ]
    async with LabDnsServer(zone) as srv:
        wire = DnsPythonResolver([srv.address], timeout=1.0)
        for name, rdtype in questions:
            over_wire = await wire.query(name, rdtype)
            in_memory = await memory.query(name, rdtype)
            assert over_wire.rcode is in_memory.rcode, (name, rdtype)
            assert sorted(map(str, over_wire.records)) == sorted(map(str, in_memory.records))


# --- MemoryResolver --------------------------------------------------------------------------


async def test_memory_strict_mode_raises_on_unexpected_queries() -> None:
    resolver = MemoryResolver({"a.example": {"A": ["192.0.2.1"]}}, nxdomain=["gone.example."])
    with pytest.raises(UnexpectedQuery, match=r"surprise\.example TXT"):
        await resolver.query("surprise.example", "TXT")
    assert (await resolver.query("GONE.example", "a")).rcode is Rcode.NXDOMAIN
    assert (await resolver.query("a.example", "TXT")).rcode is Rcode.NODATA


async def test_memory_lenient_mode_says_nxdomain() -> None:
    resolver = MemoryResolver({}, strict=False)
    assert (await resolver.query("anything.example", "A")).rcode is Rcode.NXDOMAIN


async def test_memory_empty_non_terminals_are_nodata() -> None:
    resolver = MemoryResolver({"s1._domainkey.a.example": {"TXT": [TXT((b"v=DKIM1; p=",))]}})
    for name in ("_domainkey.a.example", "a.example", "example"):
        assert (await resolver.query(name, "TXT")).rcode is Rcode.NODATA
    with pytest.raises(UnexpectedQuery):
        await resolver.query("s2._domainkey.a.example", "TXT")


async def test_memory_errors_mapping() -> None:
    resolver = MemoryResolver(
        {"a.example": {"A": ["192.0.2.1"]}},
        errors={("a.example", "TXT"): "timeout", ("B.example.", "*"): "servfail"},
    )
    with pytest.raises(DnsError) as info:
        await resolver.query("a.example", "txt")
    assert (info.value.reason, info.value.qname, info.value.rdtype) == (
        "timeout",
        "a.example",
        "TXT",
    )
    with pytest.raises(DnsError, match="servfail"):
        await resolver.query("b.example", "MX")
    assert (await resolver.query("a.example", "A")).strings == ("192.0.2.1",)
    assert [e.outcome for e in resolver.log] == ["error:timeout", "error:servfail", "NOERROR"]
    assert resolver.queries == [("a.example", "TXT"), ("b.example", "MX"), ("a.example", "A")]


async def test_memory_follows_cnames() -> None:
    resolver = MemoryResolver(
        {
            "www.example": {"CNAME": ["edge.example"]},
            "edge.example": {"CNAME": ["host.example."]},
            "host.example": {"A": ["192.0.2.8"]},
            "dangling.example": {"CNAME": ["nowhere.example"]},
        },
        nxdomain=["nowhere.example"],
    )
    answer = await resolver.query("www.example", "A")
    assert answer.strings == ("192.0.2.8",)
    assert answer.canonical_name == "host.example"
    assert (await resolver.query("www.example", "CNAME")).strings == ("edge.example",)
    assert (await resolver.query("dangling.example", "A")).rcode is Rcode.NXDOMAIN
    assert (await resolver.query("host.example", "MX")).rcode is Rcode.NODATA


async def test_memory_cname_loop_is_an_error_for_the_asked_name() -> None:
    resolver = MemoryResolver(
        {"a.example": {"CNAME": ["b.example"]}, "b.example": {"CNAME": ["a.example"]}}
    )
    with pytest.raises(DnsError) as info:
        await resolver.query("a.example", "TXT")
    assert (info.value.reason, info.value.qname) == ("cname_loop", "a.example")
    assert resolver.log == [QueryLogEntry("a.example", "TXT", "error:cname_loop", 0.0)]


def test_normalize_name() -> None:
    assert normalize_name(" Example.COM. ") == "example.com"
    assert normalize_name("bücher.example") == "xn--bcher-kva.example"


def test_answer_views() -> None:
    answer = Answer(
        "a.example",
        "ANY",
        Rcode.NOERROR,
        ("192.0.2.1", MX(10, "mx.a.example"), TXT((b"a", b"b"))),
    )
    assert answer.strings == ("192.0.2.1",)
    assert answer.mx_records == (MX(10, "mx.a.example"),)
    assert answer.texts == ("ab",)
    assert str(MX(0, "")) == "0 ."
    assert TXT((b"\xff",)).text == "\ufffd"


async def test_nameserver_forms(server: LabDnsServer) -> None:
    by_port = DnsPythonResolver([server.host], port=server.port, timeout=1.0)
    assert (await by_port.query("res.example", "A")).strings == ("192.0.2.1",)
    try:
        v6 = LabDnsServer(FULL, host="::1")
        await v6.start()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        for spec in (v6.address, "::1"):
            resolver = DnsPythonResolver([spec], port=v6.port, timeout=1.0)
            assert (await resolver.query("res.example", "AAAA")).strings == ("2001:db8::1",)
    finally:
        await v6.stop()


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5300", ("127.0.0.1", 5300)),
        ("::1", ("::1", 53)),
        ("[::1]:5300", ("::1", 5300)),
        ("[2001:db8::1]", ("2001:db8::1", 53)),
        (" 192.0.2.53 ", ("192.0.2.53", 53)),
    ],
)
def test_a_nameserver_is_an_address_and_a_port(spec: str, parsed: tuple[str, int]) -> None:
    assert parse_nameserver(spec) == parsed


@pytest.mark.parametrize(
    "spec",
    [
        "999.9.9.9",
        "127.0.0.1:99999",
        "127.0.0.1:0",
        "127.0.0.1:x",
        "foo bar",
        "dns.example",
        "[::1",
        "[::1]x",
        "",
    ],
)
def test_anything_else_is_refused_with_a_reason(spec: str) -> None:
    with pytest.raises(ValueError, match="not "):
        parse_nameserver(spec)
