"""check_host edge cases beyond the openspf suite: limits, trace, findings, DNS errors.

Uses the strict MemoryResolver, so every query is expected and lookup counts can be asserted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from diag.resolver import MX, TXT, MemoryResolver, Record
from diag.spf import SpfResult, check_host

IP = "192.0.2.10"
Zone = dict[str, dict[str, Sequence[Record]]]


def spf(text: str) -> dict[str, Sequence[Record]]:
    return {"TXT": [TXT((text.encode(),))]}


async def run(
    zone: Zone,
    *,
    ip: str = IP,
    domain: str = "example.com",
    sender: str = "user@example.com",
    errors: Mapping[tuple[str, str], str] | None = None,
    nxdomain: Sequence[str] = (),
    **kwargs: str,
) -> tuple[SpfResult, MemoryResolver]:
    resolver = MemoryResolver(zone, nxdomain=nxdomain, errors=dict(errors or {}))
    result = await check_host(ip, domain, sender, resolver=resolver, **kwargs)
    return result, resolver


def lookup_names(count: int) -> Zone:
    """``count`` ``a:`` terms, each of a name with an address that does not match."""
    zone: Zone = {f"h{n}.example.com": {"A": ["198.51.100.1"]} for n in range(count)}
    terms = " ".join(f"a:h{n}.example.com" for n in range(count))
    zone["example.com"] = spf(f"v=spf1 {terms} ip4:{IP} -all")
    return zone


async def test_ten_lookups_pass() -> None:
    result, _ = await run(lookup_names(10))
    assert (result.result, result.lookups, result.mechanism) == ("pass", 10, f"ip4:{IP}")


async def test_eleventh_lookup_term_is_a_permerror_with_evidence() -> None:
    result, resolver = await run(lookup_names(11))
    assert (result.result, result.problem, result.lookups) == (
        "permerror",
        "spf.too_many_lookups",
        11,
    )
    (finding,) = result.findings
    assert finding.code == "spf.too_many_lookups"
    assert finding.evidence["term"] == "a:h10.example.com"
    assert finding.evidence["path"] == ["example.com"]
    assert ("h10.example.com", "A") not in resolver.queries  # stopped before the query


async def test_lookup_terms_after_a_match_are_never_counted() -> None:
    zone = lookup_names(11)
    zone["example.com"] = spf(
        f"v=spf1 ip4:{IP} " + " ".join(f"a:h{n}.example.com" for n in range(11))
    )
    result, resolver = await run(zone)
    assert (result.result, result.lookups) == ("pass", 0)
    assert resolver.queries == [("example.com", "TXT")]


async def test_include_and_redirect_count_across_records() -> None:
    zone: Zone = {
        "example.com": spf("v=spf1 include:a.example.com redirect=b.example.com"),
        "a.example.com": spf("v=spf1 a mx -all"),
        "b.example.com": spf("v=spf1 exists:x.example.com ~all"),
    }
    result, _ = await run(zone, nxdomain=["x.example.com"])
    # include, a, mx, redirect, exists; a and mx are NODATA, the exists NXDOMAIN: 3 voids
    assert (result.result, result.problem) == ("permerror", "spf.void_lookup_limit")
    assert result.lookups == 5
    assert result.void_lookups == 3
    assert result.findings[0].evidence["path"] == ["example.com", "b.example.com"]


async def test_two_void_lookups_are_allowed() -> None:
    zone: Zone = {"example.com": spf("v=spf1 a:n1.example.com a:n2.example.com -all")}
    result, _ = await run(zone, nxdomain=["n1.example.com", "n2.example.com"])
    assert (result.result, result.void_lookups) == ("fail", 2)


async def test_more_than_ten_mx_names_is_a_permerror() -> None:
    zone: Zone = {
        "example.com": {
            **spf("v=spf1 mx -all"),
            "MX": [MX(n, f"mx{n}.example.com") for n in range(11)],
        }
    }
    result, resolver = await run(zone)
    assert (result.result, result.problem) == ("permerror", "spf.too_many_mx")
    assert result.findings[0].evidence["mx_names"] == 11
    assert not [q for q in resolver.queries if q[0].startswith("mx")]


async def test_mx_matches_with_cidr_and_skips_null_mx() -> None:
    zone: Zone = {
        "example.com": {**spf("v=spf1 mx/24 -all"), "MX": [MX(0, ""), MX(10, "mx.example.com")]},
        "mx.example.com": {"A": ["192.0.2.200"]},
    }
    result, resolver = await run(zone)
    assert (result.result, result.mechanism) == ("pass", "mx/24")
    assert ("", "A") not in resolver.queries


async def test_ptr_considers_only_the_first_ten_names() -> None:
    names = [f"h{n}.example.com" for n in range(11)]
    zone: Zone = {
        "example.com": spf("v=spf1 ptr -all"),
        "10.2.0.192.in-addr.arpa": {"PTR": names},
        **{name: {"A": ["198.51.100.1"]} for name in names[:10]},
        names[10]: {"A": [IP]},
    }
    result, resolver = await run(zone)
    assert result.result == "fail"
    assert (names[10], "A") not in resolver.queries


async def test_ptr_skips_a_name_whose_lookup_fails() -> None:
    zone: Zone = {
        "example.com": spf("v=spf1 ptr -all"),
        "10.2.0.192.in-addr.arpa": {"PTR": ["bad.example.com", "good.example.com"]},
        "good.example.com": {"A": [IP]},
    }
    result, _ = await run(zone, errors={("bad.example.com", "A"): "timeout"})
    assert (result.result, result.mechanism) == ("pass", "ptr")


async def test_ptr_lookup_error_is_no_match_not_temperror() -> None:
    zone: Zone = {"example.com": spf("v=spf1 ptr ~all")}
    result, _ = await run(zone, errors={("10.2.0.192.in-addr.arpa", "PTR"): "servfail"})
    assert result.result == "softfail"


@pytest.mark.parametrize(
    ("record", "failing"),
    [
        ("v=spf1 a -all", ("example.com", "A")),
        ("v=spf1 mx -all", ("example.com", "MX")),
        ("v=spf1 exists:x.example.com -all", ("x.example.com", "A")),
        ("v=spf1 include:x.example.com -all", ("x.example.com", "TXT")),
        ("v=spf1 redirect=x.example.com", ("x.example.com", "TXT")),
    ],
)
async def test_dns_errors_are_temperror_never_permerror(
    record: str, failing: tuple[str, str]
) -> None:
    result, _ = await run({"example.com": spf(record)}, errors={failing: "timeout"})
    assert (result.result, result.problem) == ("temperror", "spf.dns_temperror")
    assert result.findings[0].evidence["query"] == f"{failing[0]} {failing[1]}"
    assert result.trace[-2].outcome == "error:timeout"


async def test_record_fetch_timeout_is_temperror() -> None:
    result, _ = await run({}, errors={("example.com", "TXT"): "timeout"})
    assert (result.result, result.problem) == ("temperror", "spf.dns_temperror")


async def test_ipv4_mapped_ipv6_is_treated_as_ipv4() -> None:
    zone: Zone = {"example.com": {**spf("v=spf1 a/24 -all"), "A": ["192.0.2.1"]}}
    result, resolver = await run(zone, ip=f"::ffff:{IP}")
    assert (result.result, result.mechanism) == ("pass", "a/24")
    assert ("example.com", "AAAA") not in resolver.queries


async def test_ipv6_client_uses_aaaa_and_ip6_cidr() -> None:
    zone: Zone = {
        "example.com": {**spf("v=spf1 ip4:0.0.0.0/0 a//64 -all"), "AAAA": ["2001:db8::1"]}
    }
    result, _ = await run(zone, ip="2001:db8::abcd")
    assert (result.result, result.mechanism) == ("pass", "a//64")


async def test_selection_ignores_type_99_and_non_spf_text() -> None:
    zone: Zone = {"example.com": {"SPF": [TXT((b"v=spf1 -all",))], "TXT": [TXT((b"hello",))]}}
    result, resolver = await run(zone)
    assert (result.result, result.problem) == ("none", "spf.no_record")
    assert resolver.queries == [("example.com", "TXT")]


async def test_several_spf_records_are_a_permerror() -> None:
    zone: Zone = {"example.com": {"TXT": [TXT((b"v=spf1 -all",)), TXT((b"v=spf1 +all",))]}}
    result, _ = await run(zone)
    assert (result.result, result.problem) == ("permerror", "spf.multiple_records")


async def test_nxdomain_is_none() -> None:
    result, _ = await run({}, nxdomain=["example.com"])
    assert (result.result, result.mechanism, result.lookups) == ("none", None, 0)


@pytest.mark.parametrize(
    "domain", ["com", "a..example.com", "[192.0.2.1]", "x" * 64 + ".example.com", ""]
)
async def test_invalid_domains_are_none_without_a_query(domain: str) -> None:
    result, resolver = await run({}, domain=domain, sender=f"user@{domain}")
    assert (result.result, result.problem) == ("none", "spf.invalid_domain")
    assert resolver.queries == []


async def test_syntax_error_anywhere_is_a_permerror_with_its_position() -> None:
    record = f"v=spf1 ip4:{IP} a/33"
    result, _ = await run({"example.com": spf(record)})
    assert (result.result, result.problem, result.mechanism) == ("permerror", "spf.syntax", None)
    assert result.findings[0].evidence["position"] == record.index("33")


async def test_include_of_a_domain_without_spf_is_a_permerror() -> None:
    zone: Zone = {"example.com": spf("v=spf1 include:none.example.com -all")}
    result, _ = await run(zone, nxdomain=["none.example.com"])
    assert (result.result, result.problem) == ("permerror", "spf.include_none")
    assert result.findings[0].evidence["target"] == "none.example.com"


async def test_redirect_is_ignored_when_all_is_present() -> None:
    zone: Zone = {"example.com": spf("v=spf1 ?all redirect=other.example.com")}
    result, resolver = await run(zone)
    assert result.result == "neutral"
    assert resolver.queries == [("example.com", "TXT")]


async def test_redirect_is_applied_after_all_mechanisms() -> None:
    zone: Zone = {
        "example.com": spf("v=spf1 redirect=other.example.com ip4:198.51.100.0/24"),
        "other.example.com": spf(f"v=spf1 ip4:{IP} -all"),
    }
    result, _ = await run(zone)
    assert (result.result, result.mechanism, result.lookups) == ("pass", f"ip4:{IP}", 1)


async def test_redirect_to_no_record_is_a_permerror() -> None:
    zone: Zone = {"example.com": spf("v=spf1 redirect=other.example.com")}
    result, _ = await run(zone, nxdomain=["other.example.com"])
    assert (result.result, result.problem) == ("permerror", "spf.redirect_none")


async def test_explanation_uses_the_exp_text_and_macros() -> None:
    zone: Zone = {
        "example.com": spf("v=spf1 -all exp=why.%{d}"),
        "why.example.com": spf("%{i} may not send for %{o}; ask %{l}"),
    }
    result, _ = await run(zone, sender="@example.com")
    assert result.explanation == f"{IP} may not send for example.com; ask postmaster"


@pytest.mark.parametrize(
    ("exp_zone", "errors"),
    [
        ({}, {}),  # NXDOMAIN
        ({"why.example.com": {"TXT": [TXT((b"one",)), TXT((b"two",))]}}, {}),
        ({"why.example.com": spf("bad %{z} macro")}, {}),
        ({}, {("why.example.com", "TXT"): "timeout"}),
    ],
)
async def test_exp_failures_give_the_default_and_never_change_the_result(
    exp_zone: Zone, errors: dict[tuple[str, str], str]
) -> None:
    zone: Zone = {"example.com": spf("v=spf1 -all exp=why.example.com"), **exp_zone}
    resolver = MemoryResolver(zone, nxdomain=["why.example.com"], errors=errors)
    result = await check_host(
        IP, "example.com", "u@example.com", resolver=resolver, default_explanation="see %{d}"
    )
    assert (result.result, result.problem, result.explanation) == ("fail", None, "see example.com")


async def test_no_explanation_unless_fail() -> None:
    zone: Zone = {"example.com": spf("v=spf1 ~all exp=why.example.com")}
    result, resolver = await run(zone, default_explanation="DEFAULT")
    assert (result.result, result.explanation) == ("softfail", None)
    assert resolver.queries == [("example.com", "TXT")]


async def test_included_exp_is_not_used() -> None:
    zone: Zone = {
        "example.com": spf("v=spf1 -include:inc.example.com"),
        "inc.example.com": spf(f"v=spf1 ip4:{IP} exp=why.example.com"),
    }
    result, resolver = await run(zone)
    assert (result.result, result.explanation) == ("fail", None)
    assert ("why.example.com", "TXT") not in resolver.queries


async def test_helo_identity_from_a_bare_domain() -> None:
    zone: Zone = {
        "mail.example.com": spf("v=spf1 exists:%{l}.%{h}.%{o}.ok.example.com -all"),
        "postmaster.mail.example.com.mail.example.com.ok.example.com": {"A": ["127.0.0.2"]},
    }
    result, _ = await run(zone, domain="mail.example.com", sender="mail.example.com")
    assert result.result == "pass"


async def test_p_macro_is_the_validated_name_or_unknown() -> None:
    zone: Zone = {
        "example.com": spf("v=spf1 exists:%{p}.ok.example.com -all"),
        "10.2.0.192.in-addr.arpa": {"PTR": ["other.example.net", "mail.example.com"]},
        "other.example.net": {"A": [IP]},
        "mail.example.com": {"A": [IP]},
        "mail.example.com.ok.example.com": {"A": ["127.0.0.2"]},
    }
    result, _ = await run(zone)
    assert result.result == "pass"  # the name under <domain> is preferred (§7.3)
    del zone["10.2.0.192.in-addr.arpa"]
    zone["unknown.ok.example.com"] = {"A": ["127.0.0.2"]}
    result, _ = await run(zone, nxdomain=["10.2.0.192.in-addr.arpa"])
    assert result.result == "pass"


async def test_trace_says_why() -> None:
    zone: Zone = {
        "example.com": spf("v=spf1 include:inc.example.com -all"),
        "inc.example.com": {**spf("v=spf1 a ~all"), "A": ["198.51.100.1"]},
    }
    result, _ = await run(zone)
    steps = [(s.kind, s.depth, s.domain, s.text, s.outcome) for s in result.trace]
    assert steps == [
        ("lookup", 0, "example.com", "example.com TXT", "NOERROR"),
        ("record", 0, "example.com", "v=spf1 include:inc.example.com -all", "found"),
        ("lookup", 1, "inc.example.com", "inc.example.com TXT", "NOERROR"),
        ("record", 1, "inc.example.com", "v=spf1 a ~all", "found"),
        ("lookup", 1, "inc.example.com", "inc.example.com A", "NOERROR"),
        ("term", 1, "inc.example.com", "a", "no-match"),
        ("term", 1, "inc.example.com", "~all", "match"),
        ("result", 1, "inc.example.com", "~all", "softfail"),
        ("include", 0, "example.com", "include:inc.example.com", "softfail"),
        ("term", 0, "example.com", "include:inc.example.com", "no-match"),
        ("term", 0, "example.com", "-all", "match"),
        ("result", 0, "example.com", "-all", "fail"),
    ]


async def test_to_dict_has_the_report_keys() -> None:
    result, _ = await run({"example.com": spf("v=spf1 -all")})
    data = result.to_dict()
    assert set(data) == {
        "result",
        "explanation",
        "mechanism",
        "domain",
        "lookups",
        "void_lookups",
        "problem",
        "trace",
        "findings",
    }
    assert data["trace"][0] == {
        "kind": "lookup",
        "depth": 0,
        "domain": "example.com",
        "text": "example.com TXT",
        "outcome": "NOERROR",
        "detail": {"records": ["v=spf1 -all"]},
    }


async def test_bad_client_ip_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        await check_host("not-an-ip", "example.com", "u@example.com", resolver=MemoryResolver({}))


LONG_LOCAL = "x" * 64


async def test_include_of_an_impossible_name_is_a_permerror_without_a_query() -> None:
    zone: Zone = {"example.com": spf("v=spf1 include:%{l}.example.com -all")}
    result, resolver = await run(zone, sender=f"{LONG_LOCAL}@example.com")
    assert (result.result, result.problem) == ("permerror", "spf.include_none")
    assert resolver.queries == [("example.com", "TXT")]


@pytest.mark.parametrize("term", ["a:%{l}.example.com", "mx:%{l}.example.com", "exists:%{l}.x.com"])
async def test_impossible_target_names_are_void_non_matches(term: str) -> None:
    zone: Zone = {"example.com": spf(f"v=spf1 {term} -all")}
    result, resolver = await run(zone, sender=f"{LONG_LOCAL}@example.com")
    assert (result.result, result.void_lookups) == ("fail", 1)
    assert resolver.queries == [("example.com", "TXT")]
    assert ("lookup", "invalid-name") in [(s.kind, s.outcome) for s in result.trace]


async def test_expanded_names_are_truncated_from_the_left_to_253() -> None:
    local = ".".join(["abcdefghij"] * 30)  # 329 characters
    truncated = ".".join(["abcdefghij"] * 22 + ["example", "com"])  # whole labels dropped
    assert len(truncated) == 253
    zone: Zone = {
        "example.com": spf("v=spf1 exists:%{l}.example.com -all"),
        truncated: {"A": ["127.0.0.2"]},
    }
    result, resolver = await run(zone, sender=f"{local}@example.com")
    assert result.result == "pass"
    assert resolver.queries[-1] == (truncated, "A")


async def test_p_macro_prefers_the_domain_itself_then_any_validated_name() -> None:
    zone: Zone = {
        "example.com": {**spf("v=spf1 exists:%{p}.ok.example.net -all"), "A": [IP]},
        "10.2.0.192.in-addr.arpa": {"PTR": ["other.example.org", "example.com"]},
        "other.example.org": {"A": [IP]},
        "example.com.ok.example.net": {"A": ["127.0.0.2"]},
    }
    result, _ = await run(zone)
    assert result.result == "pass"
    zone["10.2.0.192.in-addr.arpa"] = {"PTR": ["other.example.org"]}
    zone["other.example.org.ok.example.net"] = {"A": ["127.0.0.2"]}
    result, _ = await run(zone)
    assert result.result == "pass"


async def test_unparseable_addresses_are_skipped() -> None:
    zone: Zone = {"example.com": {**spf("v=spf1 a -all"), "A": ["not-an-address", IP]}}
    result, _ = await run(zone)
    assert (result.result, result.mechanism) == ("pass", "a")
