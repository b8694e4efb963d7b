"""Reverse DNS (PTR, FCrDNS, HELO) and DNS blocklist lookups, with a strict in-memory resolver."""

from __future__ import annotations

import pytest

from diag.dnsbl import (
    LISTED,
    NOT_CHECKED,
    NOT_LISTED,
    check_dnsbl,
    dnsbl_findings,
    dnsbl_query_name,
)
from diag.findings import ERROR, OK, WARNING
from diag.resolver import TXT, MemoryResolver
from diag.reverse import check_reverse, reverse_pointer

IP = "192.0.2.25"
PTR = "25.2.0.192.in-addr.arpa"


def _codes(findings: tuple[object, ...] | list[object]) -> list[str]:
    return [f.code for f in findings]  # type: ignore[attr-defined]


def test_reverse_pointer_and_dnsbl_names() -> None:
    assert reverse_pointer(IP) == PTR
    assert dnsbl_query_name(IP, "Zen.Example.") == "25.2.0.192.zen.example"
    assert dnsbl_query_name("2001:db8::1", "bl.example").endswith(".8.b.d.0.1.0.0.2.bl.example")
    assert dnsbl_query_name("2001:db8::1", "bl.example").count(".") == 33
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        dnsbl_query_name("not-an-ip", "bl.example")


async def test_fcrdns_and_helo_ok() -> None:
    resolver = MemoryResolver(
        {
            PTR: {"PTR": ["mail-out.example.test"]},
            "mail-out.example.test": {"A": [IP]},
        }
    )
    result = await check_reverse(IP, resolver, helo="MAIL-OUT.example.test.")
    assert result.fcrdns
    assert result.confirmed_names == ("mail-out.example.test",)
    assert _codes(result.findings) == ["reverse.ok", "helo.ok"]
    assert {f.severity for f in result.findings} == {OK}
    # PTR, then A/AAAA of the PTR name; the HELO name's A/AAAA beside them
    assert sorted(resolver.queries) == sorted(
        [
            (PTR, "PTR"),
            ("mail-out.example.test", "A"),
            ("mail-out.example.test", "AAAA"),
            ("mail-out.example.test", "A"),
            ("mail-out.example.test", "AAAA"),
        ]
    )
    data = result.to_dict()
    assert data["helo_resolves_to_ip"]
    assert data["helo_matches_ptr"]


async def test_no_ptr_is_an_error() -> None:
    resolver = MemoryResolver({}, nxdomain=[PTR])
    result = await check_reverse(IP, resolver)
    assert _codes(result.findings) == ["reverse.no_ptr"]
    assert result.findings[0].severity is ERROR
    assert result.findings[0].evidence["query"] == f"{PTR} PTR"


async def test_ptr_not_confirmed_and_helo_mismatch() -> None:
    resolver = MemoryResolver(
        {
            PTR: {"PTR": ["static.isp.example"]},
            "static.isp.example": {"A": ["198.51.100.1"]},
            "mail.example.test": {"A": ["198.51.100.2"]},
        }
    )
    result = await check_reverse(IP, resolver, helo="mail.example.test")
    assert _codes(result.findings) == ["reverse.not_confirmed", "helo.ip_mismatch"]
    assert result.findings[0].evidence["forward"] == {"static.isp.example": ["198.51.100.1"]}


async def test_helo_resolving_but_not_ptr_name() -> None:
    resolver = MemoryResolver(
        {
            PTR: {"PTR": ["out.example.test"]},
            "out.example.test": {"A": [IP]},
            "helo.example.test": {"A": [IP]},
        }
    )
    result = await check_reverse(IP, resolver, helo="helo.example.test")
    assert _codes(result.findings) == ["reverse.ok", "helo.ptr_mismatch"]


async def test_ptr_timeout_is_not_a_verdict() -> None:
    resolver = MemoryResolver({}, errors={(PTR, "PTR"): "timeout"})
    result = await check_reverse(IP, resolver)
    assert _codes(result.findings) == ["reverse.dns_temperror"]
    assert result.findings[0].severity is WARNING
    assert result.ptr_error == "timeout"


async def test_ipv6_reverse() -> None:
    ip = "2001:db8::25"
    name = reverse_pointer(ip)
    resolver = MemoryResolver(
        {name: {"PTR": ["v6.example.test"]}, "v6.example.test": {"AAAA": ["2001:DB8:0::25"]}}
    )
    result = await check_reverse(ip, resolver)
    assert result.fcrdns


async def test_dnsbl_listed_with_reason() -> None:
    name = dnsbl_query_name(IP, "bl.example")
    resolver = MemoryResolver({name: {"A": ["127.0.0.2"], "TXT": [TXT((b"listed for spam",))]}})
    result = await check_dnsbl(IP, "bl.example", resolver)
    assert result.status == LISTED
    assert result.codes == ("127.0.0.2",)
    assert result.reason == "listed for spam"
    assert resolver.queries == [(name, "A"), (name, "TXT")]
    findings = dnsbl_findings([result])
    assert _codes(findings) == ["dnsbl.listed"]
    assert findings[0].evidence["zone"] == "bl.example"


async def test_dnsbl_not_listed_and_not_checked() -> None:
    clean = dnsbl_query_name(IP, "clean.example")
    broken = dnsbl_query_name(IP, "broken.example")
    refused = dnsbl_query_name(IP, "refusing.example")
    resolver = MemoryResolver(
        {refused: {"A": ["127.255.255.254"]}},
        nxdomain=[clean],
        errors={(broken, "A"): "servfail"},
    )
    results = [
        await check_dnsbl(IP, z, resolver)
        for z in ("clean.example", "broken.example", "refusing.example")
    ]
    assert [r.status for r in results] == [NOT_LISTED, NOT_CHECKED, NOT_CHECKED]
    assert results[1].error == "servfail"
    assert results[2].error == "unexpected_answer"
    assert _codes(dnsbl_findings(results)) == ["dnsbl.not_checked", "dnsbl.not_checked"]
    assert _codes(dnsbl_findings(results[:1])) == ["dnsbl.clean"]
