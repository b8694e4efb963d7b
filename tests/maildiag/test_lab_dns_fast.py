"""The lab DNS server's fast path (``dns_wire.fast_reply``) against its general path
(dnspython's parsing and rendering, ``dns_wire.answer``): for every name of the lab's zone and
of a bulk zone, every record type, with and without EDNS, RD and the question's case changed,
a fast reply parses to the same message as the general one. The fast path answers the plain
queries it should, leaves every other query to the general path, and never raises on mutated
or random bytes."""

from __future__ import annotations

import itertools

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diag.resolver import ZoneData
from maildiag.lab import dns_wire
from maildiag.lab.bulk import bulk_zone
from maildiag.lab.kit import prepare_lab

TYPES = ("A", "AAAA", "MX", "TXT", "CNAME", "SOA", "NS", "PTR", "ANY", "SRV", "TLSA")
EDNS = (None, 512, 1232, 4096)


@pytest.fixture(scope="module")
def zone_data(tmp_path_factory: pytest.TempPathFactory) -> ZoneData:
    _, lab = prepare_lab(tmp_path_factory.mktemp("lab"))
    return {**lab, **bulk_zone(60)}


def _general(zone: dns_wire.CompiledZone, data: bytes, tcp_limit: int | None) -> bytes:
    query = dns.message.from_wire(data)
    response = dns_wire.answer(zone, query)
    return dns_wire.to_wire_limited(response, tcp_limit or dns_wire.udp_limit(query))


def _same(fast: bytes, general: bytes) -> None:
    ours, theirs = dns.message.from_wire(fast), dns.message.from_wire(general)
    assert ours.id == theirs.id
    assert ours.flags == theirs.flags
    assert ours.rcode() == theirs.rcode()
    assert (ours.edns, ours.payload, ours.ednsflags) == (
        theirs.edns,
        theirs.payload,
        theirs.ednsflags,
    )
    assert [(q.name.labels, q.rdtype, q.rdclass) for q in ours.question] == [
        (q.name.labels, q.rdtype, q.rdclass) for q in theirs.question
    ]  # the question echoed byte for byte, its case too
    for section in ("answer", "authority", "additional"):
        mine, other = getattr(ours, section), getattr(theirs, section)
        assert len(mine) == len(other), section
        for rrset in mine:
            match = next(r for r in other if r.name == rrset.name and r.rdtype == rrset.rdtype)
            assert rrset == match
            assert rrset.ttl == match.ttl


def _case(name: str, how: int) -> str:
    if how == 0:
        return name
    if how == 1:
        return name.upper()
    return "".join(c.upper() if i % 2 else c for i, c in enumerate(name))  # 0x20 style


def _check(zone: dns_wire.CompiledZone, owner: str, rdtype: str, variant: tuple[int, ...]) -> bool:
    """Ask ``owner``/``rdtype`` in one way (EDNS payload, RD, case, transport); True when the
    fast path answered, and then as the general path does."""
    edns, rd, how, tcp = EDNS[variant[0]], variant[1], variant[2], variant[3]
    query = dns.message.make_query(
        _case(owner, how), rdtype, use_edns=edns is not None, payload=edns or 512
    )
    if not rd:
        query.flags &= ~dns.flags.RD
    query.id = 4711
    data = query.to_wire()
    tcp_limit = 65535 if tcp else None
    fast = dns_wire.fast_reply(zone, data, tcp_limit=tcp_limit)
    if fast is None:
        return False
    assert fast[0] == owner.lower().rstrip(".")
    _same(fast[1], _general(zone, data, tcp_limit))
    return True


VARIANTS = list(itertools.product(range(len(EDNS)), (1, 0), range(3), (0, 1)))


def test_every_fast_reply_is_the_general_reply(zone_data: ZoneData) -> None:
    zone = dns_wire.CompiledZone(zone_data)
    names = [*zone_data, "missing.kunde-ok.example", "c0.scan.example.nowhere", "nowhere.test"]
    fast_answers = 0
    for n, (owner, rdtype) in enumerate(itertools.product(names, TYPES)):
        fast_answers += _check(zone, owner, rdtype, VARIANTS[n % len(VARIANTS)])
    for owner, rdtype, variant in itertools.product(
        ("kunde-ok.example", "c3.scan.example", "missing.kunde-ok.example"), TYPES, VARIANTS
    ):  # every way of asking, on an answer, a NODATA and an NXDOMAIN
        fast_answers += _check(zone, owner, rdtype, variant)
    # the scan's and the judge's questions take the fast path: found, NODATA and NXDOMAIN
    assert fast_answers > len(names) * 4


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("DO bit", lambda q: q.use_edns(0, dns.flags.DO, 1232)),
        ("EDNS version 1", lambda q: q.use_edns(1, 0, 1232)),
        ("an EDNS option", lambda q: q.use_edns(0, 0, 1232, options=[_cookie()])),
        ("a response", lambda q: setattr(q, "flags", q.flags | dns.flags.QR)),
        ("opcode NOTIFY", lambda q: q.set_opcode(4)),
        ("TC set", lambda q: setattr(q, "flags", q.flags | dns.flags.TC)),
        ("class CH", lambda q: setattr(q, "question", [_rrset("CH")])),
        ("ANY", lambda q: setattr(q, "question", [_rrset("IN", "ANY")])),
    ],
)
def test_other_queries_go_to_the_general_path(
    zone_data: ZoneData, what: str, change: object
) -> None:
    zone = dns_wire.CompiledZone(zone_data)
    query = dns.message.make_query("kunde-ok.example", "MX")
    assert dns_wire.fast_reply(zone, query.to_wire()) is not None, "the plain query is fast"
    change(query)  # type: ignore[operator]
    assert dns_wire.fast_reply(zone, query.to_wire()) is None, what


def _cookie() -> object:
    import dns.edns

    return dns.edns.CookieOption(b"01234567", b"")


def _rrset(rdclass: str, rdtype: str = "MX") -> dns.rrset.RRset:
    name = dns.name.from_text("kunde-ok.example.")
    return dns.rrset.RRset(name, dns.rdataclass.from_text(rdclass), dns.rdatatype.from_text(rdtype))


def test_a_reply_over_the_limit_goes_to_the_general_path() -> None:
    long_txt = {"big.example": {"TXT": [c * 200 for c in "wxyz"]}}
    zone = dns_wire.CompiledZone(long_txt)
    query = dns.message.make_query("big.example", "TXT", use_edns=False)
    assert dns_wire.fast_reply(zone, query.to_wire()) is None  # over 512 octets without EDNS
    assert dns_wire.fast_reply(zone, query.to_wire(), tcp_limit=65535) is not None
    with_edns = dns.message.make_query("big.example", "TXT", use_edns=0, payload=1232)
    assert dns_wire.fast_reply(zone, with_edns.to_wire()) is not None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80), st.integers(0, 40), st.binary(min_size=1, max_size=3))
def test_mutated_queries_are_answered_alike_or_left_alone(
    tail: bytes, at: int, patch: bytes
) -> None:
    zone = dns_wire.CompiledZone({"kunde-ok.example": {"MX": ["10 mx.kunde-ok.example"]}})
    base = bytearray(dns.message.make_query("kunde-ok.example", "MX", use_edns=0).to_wire())
    base[at : at + len(patch)] = patch
    for data in (bytes(base), bytes(base) + tail, tail):
        fast = dns_wire.fast_reply(zone, data)
        if fast is None:
            continue
        _same(fast[1], _general(zone, data, None))  # dnspython reads the query too


def test_questions_outside_the_zone_do_not_grow_its_cache() -> None:
    zone = dns_wire.CompiledZone({"kunde-ok.example": {"MX": ["10 mx.kunde-ok.example"]}})
    for n in range(200):
        query = dns.message.make_query(f"x.random{n}.test", "A")
        fast = dns_wire.fast_reply(zone, query.to_wire())
        assert fast is not None  # NXDOMAIN, with a made-up apex's SOA
        assert dns.message.from_wire(fast[1]).rcode() == dns.rcode.NXDOMAIN
    assert len(zone._soa_wires) == 0
    dns_wire.fast_reply(zone, dns.message.make_query("nope.kunde-ok.example", "A").to_wire())
    assert len(zone._soa_wires) == 1  # the zone's own apex is kept
