"""SPF lint through a strict in-memory resolver: finding codes, evidence and exact query counts."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections import Counter
from collections.abc import Mapping, Sequence

import pytest

from diag.findings import ERROR, OK, WARNING, Finding
from diag.resolver import MX, TXT, Answer, DnsPythonResolver, MemoryResolver, Record
from diag.spf.lint import SpfLint, lint_spf
from maildiag.lab.dns import Fault, LabDnsServer


def spf(*strings: str) -> dict[str, list[Record]]:
    return {"TXT": [TXT(tuple(s.encode() for s in strings))]}


def codes(result: SpfLint) -> list[str]:
    return [f.code for f in result.findings]


def only(result: SpfLint, code: str) -> Finding:
    found = [f for f in result.findings if f.code == code]
    assert len(found) == 1, codes(result)
    return found[0]


def steps(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"domain": d, "term": t} for d, t in pairs]


async def lint(
    zone: Mapping[str, Mapping[str, Sequence[Record]]],
    domain: str = "example.com",
    **kwargs: object,
) -> tuple[SpfLint, MemoryResolver]:
    resolver = MemoryResolver(zone, **kwargs)  # type: ignore[arg-type]
    result = await lint_spf(domain, resolver)
    assert all(f.rfc.startswith("RFC ") and f.fix for f in result.findings)
    return result, resolver


async def test_healthy_record_is_ok_and_flattened() -> None:
    zone = {
        "example.com": {
            **spf("v=spf1 ip4:192.0.2.0/24 a mx:mail.example.com/28 include:_spf.example.net -all"),
            "A": ["192.0.2.10", "198.51.100.7"],
            "AAAA": ["2001:db8::25"],
        },
        "mail.example.com": {"MX": [MX(10, "mx1.example.com"), MX(20, "mx2.example.com")]},
        "mx1.example.com": {"A": ["203.0.113.5"]},
        "mx2.example.com": {"A": ["203.0.113.40"], "AAAA": ["2001:db8:1::1"]},
        "_spf.example.net": spf("v=spf1 ip6:2001:db8:2::/48 ip4:192.0.2.128/25 ~all"),
    }
    result, resolver = await lint(zone)
    assert codes(result) == ["spf.ok"]
    assert result.findings[0].severity is OK
    assert all(f.rfc and f.fix for f in result.findings)
    assert result.lookups == 3
    assert result.void_lookups == 0  # an exchange without AAAA is not a void mx lookup
    assert [str(n) for n in result.networks] == [
        "192.0.2.0/24",
        "198.51.100.7/32",
        "203.0.113.0/28",
        "203.0.113.32/28",
        "2001:db8::25/128",
        "2001:db8:1::1/128",
        "2001:db8:2::/48",
    ]
    assert Counter(resolver.queries) == Counter(
        {
            ("example.com", "TXT"): 1,
            ("example.com", "A"): 1,
            ("example.com", "AAAA"): 1,
            ("mail.example.com", "MX"): 1,
            ("mx1.example.com", "A"): 1,
            ("mx1.example.com", "AAAA"): 1,
            ("mx2.example.com", "A"): 1,
            ("mx2.example.com", "AAAA"): 1,
            ("_spf.example.net", "TXT"): 1,
        }
    )
    tree = result.tree
    assert tree.lookups == 3
    assert [c.domain for c in tree.children] == ["_spf.example.net"]
    assert tree.children[0].via == "include"
    json.dumps(result.to_dict())  # the whole result is JSON-ready


async def test_no_record_asks_txt_then_type99() -> None:
    result, resolver = await lint({}, nxdomain=["example.com"])
    assert codes(result) == ["spf.no_record"]
    finding = result.findings[0]
    assert finding.severity is ERROR
    assert finding.evidence["reason"] == "no_record"
    assert finding.rfc == "RFC 7208 §4.5"
    assert finding.fix
    assert resolver.queries == [("example.com", "TXT"), ("example.com", "SPF")]
    assert result.lookups == 0
    assert result.networks == ()


async def test_txt_without_spf_is_no_record() -> None:
    zone = {"example.com": {"TXT": [TXT((b"google-site-verification=abc",))]}}
    result, resolver = await lint(zone)
    assert codes(result) == ["spf.no_record"]
    assert len(resolver.queries) == 2


async def test_type99_failure_is_not_a_temperror() -> None:
    result, resolver = await lint(
        {}, nxdomain=["example.com"], errors={("example.com", "SPF"): "timeout"}
    )
    assert codes(result) == ["spf.no_record"]
    assert resolver.queries == [("example.com", "TXT"), ("example.com", "SPF")]


async def test_type99_only() -> None:
    zone = {"example.com": {"SPF": [TXT((b"v=spf1 -all",))]}}
    result, resolver = await lint(zone)
    assert codes(result) == ["spf.no_record", "spf.type99_only"]
    assert only(result, "spf.type99_only").evidence["records"] == ["v=spf1 -all"]
    assert resolver.queries == [("example.com", "TXT"), ("example.com", "SPF")]


async def test_multiple_records() -> None:
    zone = {
        "example.com": {
            "TXT": [TXT((b"v=spf1 -all",)), TXT((b"v=spf1 mx ~all",)), TXT((b"v=spf10",))]
        }
    }
    result, resolver = await lint(zone)
    assert codes(result) == ["spf.multiple_records"]
    assert only(result, "spf.multiple_records").evidence["records"] == [
        "v=spf1 -all",
        "v=spf1 mx ~all",
    ]
    assert resolver.queries == [("example.com", "TXT")]


async def test_syntax_error_carries_position() -> None:
    record = "v=spf1 ip4:192.0.2.1 ip4:192.0.2.300 -all"
    result, resolver = await lint({"example.com": spf(record)})
    finding = only(result, "spf.syntax")
    assert finding.evidence["record"] == record
    assert record[finding.evidence["position"] :].startswith("192.0.2.300")
    assert finding.rfc.startswith("RFC 7208")
    assert resolver.queries == [("example.com", "TXT")]


async def test_syntax_error_in_include_names_the_path() -> None:
    zone = {
        "example.com": spf("v=spf1 include:bad.example -all"),
        "bad.example": spf("v=spf1 foo:bar -all"),
    }
    result, _ = await lint(zone)
    finding = only(result, "spf.syntax")
    assert finding.evidence["domain"] == "bad.example"
    assert finding.evidence["position"] == 7
    assert finding.evidence["path"] == steps(("example.com", "include:bad.example"))


def _chain_zone() -> dict[str, dict[str, list[Record]]]:
    """example.com -> l1 (4 a terms) -> l2 (4 a terms): 1 + 4 + 1 + 4 + mx = 11 lookups."""
    zone: dict[str, dict[str, list[Record]]] = {
        "example.com": spf("v=spf1 include:l1.example mx -all"),
        "l1.example": spf(
            "v=spf1 a:h1.example a:h2.example include:l2.example a:h3.example a:h4.example ~all"
        ),
        "l2.example": spf("v=spf1 a:h5.example a:h6.example a:h7.example a:h8.example ~all"),
    }
    for i in range(1, 9):
        zone[f"h{i}.example"] = {"A": [f"192.0.2.{i}"], "AAAA": [f"2001:db8::{i}"]}
    zone["example.com"]["MX"] = [MX(0, "h1.example")]
    return zone


async def test_too_many_lookups_names_the_path_to_the_eleventh() -> None:
    result, resolver = await lint(_chain_zone())
    assert codes(result) == ["spf.too_many_lookups"]
    assert result.lookups == 11
    finding = result.findings[0]
    assert finding.severity is ERROR
    assert finding.rfc == "RFC 7208 §4.6.4"
    # in evaluation order: include:l1(1) a:h1(2) a:h2(3) include:l2(4) a:h5..h8(5-8)
    # a:h3(9) a:h4(10), back at the top: mx(11)
    assert finding.evidence["lookups"] == 11
    assert finding.evidence["limit"] == 10
    assert finding.evidence["domain"] == "example.com"
    assert finding.evidence["term"] == "mx"
    assert finding.evidence["path"] == steps(("example.com", "mx"))
    assert [n.lookups for n in result.tree.walk()] == [2, 5, 4]
    # every (name, type) asked once: 3 TXT, 8 hosts x (A, AAAA), 1 MX (h1 shared with a:h1)
    assert len(resolver.queries) == 3 + 16 + 1
    assert len(set(resolver.queries)) == len(resolver.queries)


async def test_eleventh_lookup_deep_in_the_tree() -> None:
    zone = _chain_zone()
    zone["example.com"] = {
        **spf("v=spf1 mx include:l1.example -all"),
        "MX": [MX(0, "h1.example")],
    }
    zone["l2.example"] = spf(
        "v=spf1 a:h5.example a:h6.example a:h7.example a:h8.example exists:h1.example ~all"
    )
    result, _ = await lint(zone)
    finding = only(result, "spf.too_many_lookups")
    # mx(1) include:l1(2) a:h1(3) a:h2(4) include:l2(5) a:h5..h8(6-9) exists(10) a:h3(11)
    assert finding.evidence["path"] == steps(
        ("example.com", "include:l1.example"),
        ("l1.example", "a:h3.example"),
    )
    zone["l1.example"] = spf("v=spf1 include:l2.example ~all")
    zone["l2.example"] = spf(
        "v=spf1 a:h1.example a:h2.example a:h3.example a:h4.example a:h5.example"
        " a:h6.example a:h7.example a:h8.example ~all"
    )
    result, _ = await lint(zone)
    finding = only(result, "spf.too_many_lookups")
    # mx(1) include:l1(2) include:l2(3) a:h1..h8(4-11)
    assert finding.evidence["path"] == steps(
        ("example.com", "include:l1.example"),
        ("l1.example", "include:l2.example"),
        ("l2.example", "a:h8.example"),
    )


async def test_ten_lookups_are_allowed() -> None:
    zone = _chain_zone()
    zone["example.com"] = spf("v=spf1 include:l1.example -all")
    result, _ = await lint(zone)
    assert result.lookups == 10
    assert codes(result) == ["spf.ok"]


async def test_too_many_void_lookups_names_the_third() -> None:
    zone = {
        "example.com": spf(
            "v=spf1 a:gone1.example ip4:192.0.2.1 mx:nomx.example exists:gone2.example"
            " a:gone3.example -all"
        ),
        "nomx.example": {"A": ["192.0.2.9"]},
    }
    result, resolver = await lint(
        zone, nxdomain=["gone1.example", "gone2.example", "gone3.example"]
    )
    assert codes(result) == ["spf.too_many_void_lookups"]
    assert result.void_lookups == 4
    finding = result.findings[0]
    assert finding.severity is ERROR
    assert finding.evidence["void_lookups"] == 4
    assert finding.evidence["limit"] == 2
    assert finding.evidence["term"] == "exists:gone2.example"
    assert finding.evidence["domain"] == "example.com"
    assert finding.evidence["family"] == "ipv4"
    assert finding.rfc == "RFC 7208 §4.6.4"
    assert Counter(resolver.queries) == Counter(
        [
            ("example.com", "TXT"),
            ("gone1.example", "A"),
            ("gone1.example", "AAAA"),
            ("nomx.example", "MX"),
            ("gone2.example", "A"),
            ("gone3.example", "A"),
            ("gone3.example", "AAAA"),
        ]
    )


async def test_void_counted_per_client_family() -> None:
    zone = {
        "example.com": spf("v=spf1 a:v4.example a:v6.example a:v6b.example -all"),
        "v4.example": {"A": ["192.0.2.1"]},
        "v6.example": {"AAAA": ["2001:db8::1"]},
        "v6b.example": {"AAAA": ["2001:db8::2"]},
    }
    result, _ = await lint(zone)
    # an IPv4 client meets two void A lookups, an IPv6 client one void AAAA lookup
    assert result.void_lookups == 2
    assert [t.void4 for t in result.tree.terms[:3]] == [False, True, True]
    assert codes(result) == ["spf.ok"]


async def test_void_limit_met_only_by_ipv6_clients_is_a_warning() -> None:
    zone = {
        "example.com": spf("v=spf1 a:r1.example a:r2.example a:r3.example -all"),
        "r1.example": {"A": ["192.0.2.1"]},
        "r2.example": {"A": ["192.0.2.2"]},
        "r3.example": {"A": ["192.0.2.3"]},
    }
    result, _ = await lint(zone)
    finding = only(result, "spf.too_many_void_lookups")
    assert finding.severity is WARNING
    assert finding.evidence["family"] == "ipv6"
    assert finding.evidence["term"] == "a:r3.example"
    assert result.void_lookups == 3


@pytest.mark.parametrize(
    ("record", "code", "severity", "term"),
    [
        ("v=spf1 mx +all", "spf.permissive_all", ERROR, "+all"),
        ("v=spf1 mx all", "spf.permissive_all", ERROR, "all"),
        ("v=spf1 mx ?all", "spf.neutral_all", WARNING, "?all"),
    ],
)
async def test_all_qualifiers(record: str, code: str, severity: object, term: str) -> None:
    zone = {"example.com": {**spf(record), "MX": [MX(10, "mx.example.com")]}}
    zone["mx.example.com"] = {"A": ["192.0.2.1"], "AAAA": ["2001:db8::1"]}
    result, _ = await lint(zone)
    assert codes(result) == [code]
    assert result.findings[0].severity is severity
    assert result.findings[0].evidence["term"] == term
    assert result.findings[0].rfc.startswith("RFC 7208 §5.1")


async def test_plus_all_authorizes_everything() -> None:
    result, _ = await lint({"example.com": spf("v=spf1 ip4:192.0.2.1 +all")})
    assert [str(n) for n in result.networks] == ["0.0.0.0/0", "::/0"]


async def test_permissive_all_in_an_include() -> None:
    zone = {
        "example.com": spf("v=spf1 include:lazy.example -all"),
        "lazy.example": spf("v=spf1 +all"),
    }
    result, _ = await lint(zone)
    finding = only(result, "spf.permissive_all")
    assert finding.evidence["path"] == steps(
        ("example.com", "include:lazy.example"), ("lazy.example", "+all")
    )


async def test_neutral_all_in_an_include_does_not_decide() -> None:
    zone = {
        "example.com": spf("v=spf1 include:inc.example -all"),
        "inc.example": spf("v=spf1 ip4:192.0.2.0/24 ?all"),
    }
    result, _ = await lint(zone)
    assert codes(result) == ["spf.ok"]


async def test_no_all_and_no_redirect() -> None:
    result, _ = await lint({"example.com": spf("v=spf1 ip4:192.0.2.1")})
    assert codes(result) == ["spf.no_all"]
    assert result.findings[0].severity is WARNING
    assert result.findings[0].rfc == "RFC 7208 §4.7"


async def test_redirect_chain_end_decides() -> None:
    zone = {
        "example.com": spf("v=spf1 redirect=_spf.example.com"),
        "_spf.example.com": spf("v=spf1 ip4:192.0.2.1 ?all"),
    }
    result, resolver = await lint(zone)
    assert codes(result) == ["spf.neutral_all"]
    finding = result.findings[0]
    assert finding.evidence["domain"] == "_spf.example.com"
    assert finding.evidence["path"] == steps(("example.com", "redirect=_spf.example.com"))
    assert result.lookups == 1
    assert [str(n) for n in result.networks] == ["192.0.2.1/32"]
    assert resolver.queries == [("example.com", "TXT"), ("_spf.example.com", "TXT")]
    assert result.tree.children[0].via == "redirect"


async def test_redirect_is_ignored_next_to_all() -> None:
    # RFC 7208 §6.1: the strict resolver fails the test if the redirect target is queried
    result, resolver = await lint({"example.com": spf("v=spf1 -all redirect=other.example")})
    assert codes(result) == ["spf.ok"]
    assert result.lookups == 0
    assert resolver.queries == [("example.com", "TXT")]


async def test_ptr_used() -> None:
    result, resolver = await lint({"example.com": spf("v=spf1 ptr:example.com -all")})
    assert codes(result) == ["spf.ptr_used"]
    assert result.findings[0].rfc == "RFC 7208 §5.5"
    assert result.lookups == 1
    assert result.unresolved == ("example.com: ptr:example.com",)
    assert resolver.queries == [("example.com", "TXT")]


async def test_string_over_255_characters() -> None:
    long = "v=spf1 " + " ".join(f"ip4:192.0.2.{i}" for i in range(1, 25)) + " -all"
    assert 255 < len(long) <= 450
    result, _ = await lint({"example.com": spf(long)})
    assert codes(result) == ["spf.string_too_long"]
    assert result.findings[0].evidence == {
        "domain": "example.com",
        "string": 0,
        "length": len(long),
    }
    split = spf(long[:200], long[200:])
    result, _ = await lint({"example.com": split})
    assert codes(result) == ["spf.ok"]


async def test_record_over_450_bytes() -> None:
    terms = " ".join(f"ip4:198.51.100.{i}" for i in range(1, 30))
    text = f"v=spf1 {terms} -all"
    parts = [text[i : i + 250] for i in range(0, len(text), 250)]
    result, _ = await lint({"example.com": spf(*parts)})
    assert codes(result) == ["spf.record_too_long"]
    finding = result.findings[0]
    assert finding.severity is WARNING
    assert finding.evidence["length"] == len(text)
    assert finding.rfc == "RFC 7208 §3.4"


async def test_include_without_record() -> None:
    zone = {
        "example.com": spf("v=spf1 include:gone.example include:empty.example -all"),
        "empty.example": {"TXT": [TXT((b"hello",))]},
    }
    result, resolver = await lint(zone, nxdomain=["gone.example"])
    found = [f for f in result.findings if f.code == "spf.include_no_record"]
    assert [f.evidence["domain"] for f in found] == ["gone.example", "empty.example"]
    assert found[0].rfc == "RFC 7208 §5.2"
    # evaluation ends in permerror at the include; its TXT lookup is not counted as void
    assert result.void_lookups == 0
    assert Counter(resolver.queries) == Counter(
        [
            ("example.com", "TXT"),
            ("gone.example", "TXT"),
            ("gone.example", "SPF"),
            ("empty.example", "TXT"),
            ("empty.example", "SPF"),
        ]
    )


async def test_redirect_without_record() -> None:
    result, _ = await lint(
        {"example.com": spf("v=spf1 redirect=gone.example")}, nxdomain=["gone.example"]
    )
    assert codes(result) == ["spf.redirect_no_record"]
    assert result.findings[0].rfc == "RFC 7208 §6.1"


async def test_include_loop() -> None:
    zone = {
        "example.com": spf("v=spf1 include:a.example -all"),
        "a.example": spf("v=spf1 include:b.example ~all"),
        "b.example": spf("v=spf1 include:example.com ~all"),
    }
    result, resolver = await lint(zone)
    assert codes(result) == ["spf.loop"]
    finding = result.findings[0]
    assert finding.evidence["domain"] == "example.com"
    assert finding.evidence["via"] == "include"
    assert finding.evidence["path"] == steps(
        ("example.com", "include:a.example"),
        ("a.example", "include:b.example"),
        ("b.example", "include:example.com"),
    )
    assert resolver.queries == [("example.com", "TXT"), ("a.example", "TXT"), ("b.example", "TXT")]


async def test_redirect_loop() -> None:
    zone = {
        "example.com": spf("v=spf1 redirect=a.example"),
        "a.example": spf("v=spf1 redirect=example.com"),
    }
    result, _ = await lint(zone)
    assert codes(result) == ["spf.loop"]
    assert result.findings[0].evidence["via"] == "redirect"


async def test_duplicate_include() -> None:
    zone = {
        "example.com": spf("v=spf1 include:a.example include:shared.example -all"),
        "a.example": spf("v=spf1 include:shared.example ~all"),
        "shared.example": spf("v=spf1 ip4:192.0.2.0/24 ~all"),
    }
    result, resolver = await lint(zone)
    assert codes(result) == ["spf.duplicate_include"]
    finding = result.findings[0]
    assert finding.evidence["target"] == "shared.example"
    assert finding.evidence["count"] == 2
    assert result.lookups == 3  # evaluation counts the repeated include again
    assert resolver.queries.count(("shared.example", "TXT")) == 1


async def test_dns_temperror_names_the_query_and_lint_goes_on() -> None:
    zone = {
        "example.com": spf("v=spf1 include:slow.example a:host.example -all"),
        "host.example": {"A": ["192.0.2.1"], "AAAA": ["2001:db8::1"]},
    }
    result, _ = await lint(zone, errors={("slow.example", "TXT"): "timeout"})
    assert codes(result) == ["spf.dns_temperror"]
    finding = result.findings[0]
    assert finding.evidence["query"] == {
        "qname": "slow.example",
        "rdtype": "TXT",
        "reason": "timeout",
    }
    assert finding.rfc == "RFC 7208 §2.6.6"
    assert [str(n) for n in result.networks] == ["192.0.2.1/32", "2001:db8::1/128"]


async def test_temperror_on_the_top_record() -> None:
    result, _ = await lint({}, errors={("example.com", "TXT"): "servfail"})
    assert codes(result) == ["spf.dns_temperror"]
    assert result.findings[0].evidence["query"]["reason"] == "servfail"


async def test_temperror_on_an_a_term() -> None:
    zone = {"example.com": spf("v=spf1 a:host.example -all")}
    result, _ = await lint(zone, errors={("host.example", "*"): "refused"})
    assert codes(result) == ["spf.dns_temperror", "spf.dns_temperror"]
    assert [f.evidence["query"]["rdtype"] for f in result.findings] == ["A", "AAAA"]
    assert {f.evidence["term"] for f in result.findings} == {"a:host.example"}


async def test_macros_are_not_resolved() -> None:
    """Macro terms stay unresolved; exists: is only asked for its void lookups (one unlisted
    client per family, RFC 7208 §4.6.4), include: not at all."""
    record = "v=spf1 exists:%{i}._spf.example.com include:%{d2}.example.net -all"
    result, resolver = await lint(
        {"example.com": spf(record)},
        nxdomain=[
            "192.0.2.1._spf.example.com",
            "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1._spf.example.com",
        ],
    )
    assert result.lookups == 2
    assert result.unresolved == (
        "example.com: exists:%{i}._spf.example.com",
        "example.com: include:%{d2}.example.net",
    )
    assert resolver.queries[0] == ("example.com", "TXT")
    assert {name for name, _ in resolver.queries[1:]} == {
        "192.0.2.1._spf.example.com",
        "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1._spf.example.com",
    }
    assert {rdtype for _, rdtype in resolver.queries[1:]} == {"A"}


async def test_more_than_ten_mx_records() -> None:
    exchanges = [MX(i, f"mx{i}.example.com") for i in range(11)]
    zone: dict[str, dict[str, list[Record]]] = {
        "example.com": {**spf("v=spf1 mx -all"), "MX": list(exchanges)}
    }
    for mx in exchanges:
        zone[mx.exchange] = {"A": ["192.0.2.1"], "AAAA": ["2001:db8::1"]}
    result, resolver = await lint(zone)
    assert codes(result) == ["spf.too_many_mx"]
    assert result.findings[0].evidence["mx_records"] == 11
    assert ("mx10.example.com", "A") not in resolver.queries  # only the first ten are looked up


async def test_invalid_top_domain_is_not_queried() -> None:
    result, resolver = await lint({}, domain="bad..example")
    assert codes(result) == ["spf.no_record"]
    assert result.findings[0].evidence["reason"] == "invalid_domain"
    assert resolver.queries == []


class _Concurrency:
    """A resolver that takes 10 ms per query and records how many were in flight at once."""

    def __init__(self, inner: MemoryResolver) -> None:
        self.inner = inner
        self.in_flight = 0
        self.peak = 0

    async def query(self, name: str, rdtype: str) -> Answer:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            return await self.inner.query(name, rdtype)
        finally:
            self.in_flight -= 1


async def test_independent_names_are_queried_concurrently() -> None:
    zone = {
        "example.com": spf("v=spf1 include:a.example include:b.example a:h.example -all"),
        "a.example": spf("v=spf1 ip4:192.0.2.1 ~all"),
        "b.example": spf("v=spf1 ip4:192.0.2.2 ~all"),
        "h.example": {"A": ["192.0.2.3"]},
    }
    resolver = _Concurrency(MemoryResolver(zone))
    result = await lint_spf("example.com", resolver)
    assert resolver.peak == 4  # a, b TXT and h A/AAAA at once
    assert len(result.networks) == 3


async def test_a_term_networks_use_both_cidrs() -> None:
    zone = {
        "example.com": {
            **spf("v=spf1 a/24//64 -all"),
            "A": ["192.0.2.77"],
            "AAAA": ["2001:db8:1:2::7"],
        }
    }
    result, _ = await lint(zone)
    assert result.networks == (
        ipaddress.ip_network("192.0.2.0/24"),
        ipaddress.ip_network("2001:db8:1:2::/64"),
    )


async def test_exceptions_other_than_dns_errors_are_not_swallowed() -> None:
    with pytest.raises(AssertionError):  # the strict resolver's UnexpectedQuery
        await lint({"example.com": spf("v=spf1 include:unknown.example -all")})


async def test_over_the_wire_with_the_lab_server() -> None:
    zone = {
        "example.com": spf("v=spf1 include:a.example include:broken.example mx -all"),
        "a.example": spf("v=spf1 ip4:192.0.2.0/25 ~all"),
        "broken.example": spf("v=spf1 -all"),
    }
    zone["example.com"]["MX"] = [MX(10, "mx.a.example")]
    zone["mx.a.example"] = {"A": ["192.0.2.200"]}
    async with LabDnsServer(zone, faults={"broken.example": Fault.SERVFAIL}) as server:
        resolver = DnsPythonResolver([server.address], timeout=1.0, cache=False)
        result = await lint_spf("example.com", resolver)
        # TXT for example.com, a.example, broken.example; MX; A and AAAA for mx.a.example
        assert server.query_count == 6
    assert codes(result) == ["spf.dns_temperror"]
    assert result.findings[0].evidence["query"] == {
        "qname": "broken.example",
        "rdtype": "TXT",
        "reason": "servfail",
    }
    assert [str(n) for n in result.networks] == ["192.0.2.0/25", "192.0.2.200/32"]
    assert result.void_lookups == 0  # an exchange without AAAA is not a void mx lookup
