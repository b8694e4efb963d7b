"""diag.resolver.codec against dnspython: the same query bytes, and every reply it reads is read
the way dnspython's resolver reads it; whatever it declines goes to dnspython."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diag.resolver import TXT, DnsPythonResolver, Rcode, ZoneData, codec
from diag.resolver.wire import _negative_ttl, _rdata_to_record
from maildiag.lab.dns import LabDnsServer

IN = dns.rdataclass.IN
TYPES = sorted(codec.TYPE_CODES)


QUERY_FLAGS = dns.flags.RD | dns.flags.AD  # what DnsPythonResolver asks with (RFC 6840 §5.7)


def query_message(msg_id: int, qname: str, rdtype: str) -> dns.message.QueryMessage:
    query = dns.message.make_query(qname + ".", rdtype, use_edns=0, payload=1232, flags=QUERY_FLAGS)
    query.id = msg_id
    return query


def test_the_resolver_asks_with_the_reference_flags() -> None:
    configured = DnsPythonResolver(["127.0.0.1"])._resolver
    assert configured.flags == QUERY_FLAGS
    assert (configured.edns, configured.payload) == (0, 1232)


@pytest.mark.parametrize("rdtype", TYPES)
@pytest.mark.parametrize("qname", ["example", "_dmarc.Mail.Example", "a-b_c.x1.example"])
def test_queries_are_dnspythons_byte_for_byte(qname: str, rdtype: str) -> None:
    wire = codec.encode_name(qname)
    assert wire is not None
    ours = codec.encode_query(0x1234, wire, codec.TYPE_CODES[rdtype])
    assert ours == query_message(0x1234, qname, rdtype).to_wire()


@pytest.mark.parametrize(
    "name",
    ["", "a..b", "x" * 64 + ".example", ".".join(["a" * 63] * 4), "sp ace.example", "bl\u00e5.no"],
)
def test_names_it_cannot_write_plainly_are_left_to_dnspython(name: str) -> None:
    assert codec.encode_name(name) is None


# --- a reference: what DnsPythonResolver makes of a reply through dnspython ------------------


def reference(wire: bytes, query: dns.message.QueryMessage, rdtype: str) -> Any:
    """("ignored",), ("truncated",), ("rcode", n), ("raises",) or the answer's values."""
    try:  # as dns.asyncquery.udp reads a datagram for the resolver
        response = dns.message.from_wire(wire, raise_on_truncation=True)
        assert isinstance(response, dns.message.QueryMessage)
    except dns.message.Truncated as exc:
        partial = exc.message()  # type: ignore[no-untyped-call]
        return ("truncated",) if query.is_response(partial) else ("ignored",)
    except Exception:
        return ("ignored",)
    if not query.is_response(response):
        return ("ignored",)
    if response.flags & dns.flags.TC:
        return ("truncated",)
    qname = query.question[0].name
    rcode = response.rcode()
    try:
        if rcode == dns.rcode.NXDOMAIN:
            dns.resolver.Answer(qname, dns.rdatatype.ANY, IN, response)
            return (Rcode.NXDOMAIN, (), _negative_ttl(response), "")
        if rcode != dns.rcode.NOERROR:
            return ("rcode", int(rcode))
        answer = dns.resolver.Answer(qname, dns.rdatatype.from_text(rdtype), IN, response)
    except Exception:
        return ("raises",)
    canonical = answer.canonical_name.to_text(omit_final_dot=True).lower()
    if answer.rrset is None:
        return (Rcode.NODATA, (), _negative_ttl(response), canonical)
    records = tuple(_rdata_to_record(r, rdtype) for r in answer.rrset)
    return (Rcode.NOERROR, records, answer.rrset.ttl, canonical)


def ours(wire: bytes, msg_id: int, qname: str, rdtype: str) -> Any:
    qname_wire = codec.encode_name(qname)
    assert qname_wire is not None
    try:
        decoded = codec.decode_answer(wire, msg_id, qname_wire, codec.TYPE_CODES[rdtype])
    except codec.Truncated:
        return ("truncated",)
    except codec.ServerFailure as exc:
        return ("rcode", exc.rcode)
    except codec.Declined:
        return ("declined",)
    if decoded is None:
        return ("ignored",)
    return (decoded.rcode, decoded.records, decoded.ttl, decoded.canonical_name)


# --- generated replies ------------------------------------------------------------------------

PLAIN = st.sampled_from([b"a", b"mail", b"_dmarc", b"Example", b"x-1", b"sel_1", b"NO"])
ODD = st.sampled_from([b"sp ace", b"a(b", b"\x00", b"d.t", b"@", b"\xc3\xa5"])
LABEL = st.one_of(PLAIN, PLAIN, PLAIN, ODD)
NAMES = st.lists(LABEL, min_size=1, max_size=4).map(lambda ls: dns.name.Name([*ls, b""]))
QNAMES = st.sampled_from(["mail.example", "_dmarc.example", "a.b.example", "sel_1.example"])
TTLS = st.integers(min_value=0, max_value=2**32 - 1)  # the top bit set means 0 (RFC 2181 §8)


def rdata_for(rdtype: str) -> st.SearchStrategy[dns.rdata.Rdata]:
    t = dns.rdatatype.from_text(rdtype)

    def make(*args: Any) -> dns.rdata.Rdata:
        cls = dns.rdata.get_rdata_class(IN, t)  # type: ignore[no-untyped-call]
        return cls(IN, t, *args)  # type: ignore[no-any-return]

    if rdtype == "A":
        return st.ip_addresses(v=4).map(lambda a: make(str(a)))
    if rdtype == "AAAA":
        return st.ip_addresses(v=6).map(lambda a: make(str(a)))
    if rdtype in ("TXT", "SPF"):
        strings = st.lists(st.binary(max_size=12), min_size=1, max_size=3)
        return strings.map(lambda s: make(s))
    if rdtype == "MX":
        root = st.just(dns.name.root)
        return st.tuples(st.integers(0, 65535), st.one_of(NAMES, root)).map(lambda a: make(*a))
    return NAMES.map(lambda n: make(n))


@st.composite
def replies(draw: st.DrawFn) -> tuple[bytes, int, str, str, dns.message.QueryMessage]:
    qname = draw(QNAMES)
    rdtype = draw(st.sampled_from(TYPES))
    msg_id = draw(st.integers(0, 65535))
    query = query_message(msg_id, qname, rdtype)
    response = dns.message.make_response(query)
    owner = dns.name.from_text(qname)
    for _ in range(draw(st.integers(0, 3))):  # a CNAME chain, perhaps back to the start
        target = draw(st.one_of(NAMES, st.just(dns.name.from_text(qname))))
        chain = dns.rrset.RRset(owner, IN, dns.rdatatype.CNAME)
        chain.add(dns.rdata.from_text(IN, dns.rdatatype.CNAME, target.to_text()), draw(TTLS))
        response.answer.append(chain)
        owner = target
    answer_type = draw(st.sampled_from([rdtype, rdtype, draw(st.sampled_from(TYPES))]))
    rdatas = draw(st.lists(rdata_for(answer_type), max_size=4))
    if rdatas:
        rrset = dns.rrset.RRset(owner, IN, dns.rdatatype.from_text(answer_type))
        for rdata in rdatas:
            rrset.add(rdata, draw(TTLS))
        response.answer.append(rrset)
    if draw(st.booleans()):
        soa = dns.rrset.RRset(dns.name.from_text("example"), IN, dns.rdatatype.SOA)
        text = f"ns.example. host.example. 1 2 3 4 {draw(TTLS)}"
        soa.add(dns.rdata.from_text(IN, dns.rdatatype.SOA, text), draw(TTLS))
        response.authority.append(soa)
    rcodes = [dns.rcode.NOERROR] * 4 + [dns.rcode.NXDOMAIN] * 2 + [dns.rcode.SERVFAIL]
    response.set_rcode(draw(st.sampled_from([*rcodes, dns.rcode.REFUSED, dns.rcode.YXDOMAIN])))
    if draw(st.integers(0, 9)) == 0:
        response.flags |= dns.flags.TC
    wire = bytearray(response.to_wire(want_shuffle=False))  # hypothesis owns the randomness
    mutation = draw(st.integers(0, 5))
    if mutation == 1 and len(wire) > 12:  # one byte changed anywhere
        wire[draw(st.integers(0, len(wire) - 1))] = draw(st.integers(0, 255))
    elif mutation == 2:  # cut short
        del wire[draw(st.integers(0, len(wire))) :]
    elif mutation == 3:  # trailing bytes
        wire += draw(st.binary(min_size=1, max_size=4))
    elif mutation == 4 and len(wire) > 12:  # one byte of the header or the question changed
        wire[draw(st.integers(2, min(len(wire), 40) - 1))] = draw(st.integers(0, 255))
    return bytes(wire), msg_id, qname, rdtype, query


# derandomized: the same 1500 replies on every run, so that the suite cannot turn red by chance;
# a longer random run (max_examples in the tens of thousands) is how new cases are looked for.
@settings(
    max_examples=1500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(replies())
def test_every_reply_it_reads_is_read_as_dnspython_reads_it(
    reply: tuple[bytes, int, str, str, dns.message.QueryMessage],
) -> None:
    wire, msg_id, qname, rdtype, query = reply
    theirs = reference(wire, query, rdtype)
    mine = ours(wire, msg_id, qname, rdtype)
    if mine == ("declined",):
        return  # the resolver asks again through dnspython
    if mine == ("ignored",):  # not our reply: dnspython ignores it too, or cannot read it
        assert theirs == ("ignored",)
        return
    assert mine == theirs


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 65535))
def test_arbitrary_bytes_are_ignored_or_declined(data: bytes, msg_id: int) -> None:
    qname_wire = codec.encode_name("mail.example")
    assert qname_wire is not None
    with contextlib.suppress(codec.Declined):
        assert codec.decode_answer(data, msg_id, qname_wire, codec.TYPE_CODES["TXT"]) is None


def plain_reply(records: list[str], rdtype: str = "TXT", *, soa: bool = False) -> bytes:
    query = query_message(7, "mail.example", rdtype)
    response = dns.message.make_response(query)
    if records:
        response.answer.append(dns.rrset.from_text("mail.example.", 300, "IN", rdtype, *records))
    if soa:
        text = "ns.example. host.example. 1 2 3 4 60"
        response.authority.append(dns.rrset.from_text("example.", 900, "IN", "SOA", text))
    return bytes(response.to_wire())


@pytest.mark.parametrize(
    ("rdtype", "records", "expected"),
    [
        ("TXT", ['"v=spf1" " -all"'], (TXT((b"v=spf1", b" -all")),)),
        ("A", ["192.0.2.1", "192.0.2.2"], ("192.0.2.1", "192.0.2.2")),
        ("AAAA", ["2001:db8::1"], ("2001:db8::1",)),
        ("PTR", ["Mail-Out.Example."], ("mail-out.example",)),
        ("NS", ["ns1.example."], ("ns1.example",)),
    ],
)
def test_common_replies_are_read_not_declined(
    rdtype: str, records: list[str], expected: tuple[object, ...]
) -> None:
    rcode, values, ttl, canonical = ours(plain_reply(records, rdtype), 7, "mail.example", rdtype)
    assert (rcode, ttl, canonical) == (Rcode.NOERROR, 300, "mail.example")
    assert sorted(map(str, values)) == sorted(map(str, expected))  # dnspython shuffles rrsets


def test_null_mx_and_negative_answers() -> None:
    assert ours(plain_reply(["0 ."], "MX"), 7, "mail.example", "MX")[1][0].exchange == ""
    assert ours(plain_reply([], soa=True), 7, "mail.example", "TXT") == (
        Rcode.NODATA,
        (),
        60,
        "mail.example",
    )
    nx = bytearray(plain_reply([], soa=True))
    nx[3] = (nx[3] & 0xF0) | dns.rcode.NXDOMAIN
    assert ours(bytes(nx), 7, "mail.example", "TXT") == (Rcode.NXDOMAIN, (), 60, "")


def test_another_id_or_question_is_not_our_reply() -> None:
    wire = plain_reply(["192.0.2.1"], "A")
    assert ours(wire, 8, "mail.example", "A") == ("ignored",)
    assert ours(wire, 7, "mail.example", "AAAA") == ("ignored",)
    assert ours(wire, 7, "other.example", "A") == ("ignored",)
    assert ours(wire, 7, "MAIL.example", "A")[0] is Rcode.NOERROR  # names match case-blind


def test_error_rcodes_and_truncation_are_reported() -> None:
    wire = bytearray(plain_reply([]))
    wire[3] = (wire[3] & 0xF0) | dns.rcode.SERVFAIL
    assert ours(bytes(wire), 7, "mail.example", "TXT") == ("rcode", dns.rcode.SERVFAIL)
    wire[2] |= dns.flags.TC >> 8
    assert ours(bytes(wire), 7, "mail.example", "TXT") == ("truncated",)


def test_forward_and_looping_pointers_are_declined() -> None:
    header = struct.pack("!HHHHHH", 7, 0x8180, 1, 1, 0, 0)
    question = b"\x04mail\x07example\x00" + struct.pack("!HH", 1, 1)
    looping = b"\xc0" + bytes([12 + len(question)]) + struct.pack("!HHIH", 1, 1, 60, 4) + bytes(4)
    assert ours(header + question + looping, 7, "mail.example", "A") == ("declined",)
    forward = b"\xc0\xff" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes(4)
    assert ours(header + question + forward, 7, "mail.example", "A") == ("declined",)


# --- in the resolver --------------------------------------------------------------------------

ZONE: ZoneData = {
    "fast.example": {"TXT": [TXT((b"v=spf1 -all",))], "A": ["192.0.2.1"]},
    "alias.fast.example": {"CNAME": ["fast.example"]},
}


async def test_common_queries_never_reach_dnspython(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("asked through dnspython")

    async with LabDnsServer(ZONE) as server:
        resolver = DnsPythonResolver([server.address], cache=False)
        monkeypatch.setattr(resolver._resolver, "resolve", refuse)
        assert (await resolver.query("fast.example", "TXT")).texts == ("v=spf1 -all",)
        answer = await resolver.query("alias.fast.example", "A")
        assert (answer.records, answer.canonical_name) == (("192.0.2.1",), "fast.example")
        assert (await resolver.query("none.fast.example", "A")).rcode is Rcode.NXDOMAIN
        assert server.query_count == 3


async def test_a_type_it_does_not_read_goes_through_dnspython() -> None:
    async with LabDnsServer(ZONE) as server:
        resolver = DnsPythonResolver([server.address], cache=False)
        answer = await resolver.query("alias.fast.example", "CNAME")
        assert answer.records == ("fast.example",)
        assert server.query_count == 1
