"""diag.mx against the strict in-memory resolver: ordering, null MX, implicit MX, missing
domains, unresolvable and private hosts, CNAME targets, provider fingerprints, DNS failures."""

from __future__ import annotations

import pytest

from diag.mx import fingerprint_provider, lookup_mx
from diag.resolver import MX, MemoryResolver


def codes(report: object) -> list[str]:
    return [f.code for f in report.findings]  # type: ignore[attr-defined]


async def test_hosts_in_preference_order_with_stable_ties() -> None:
    zone = {
        "example.com": {
            "MX": [MX(20, "c.example.com"), MX(10, "b.example.com"), MX(10, "a.example.com")]
        },
        "a.example.com": {"A": ["8.8.8.1"]},
        "b.example.com": {"A": ["8.8.8.2"], "AAAA": ["2a00:1450::2"]},
        "c.example.com": {"A": ["8.8.8.3"]},
    }
    resolver = MemoryResolver(zone)
    report = await lookup_mx("Example.COM.", resolver)
    assert [h.name for h in report.hosts] == ["a.example.com", "b.example.com", "c.example.com"]
    assert report.hosts[1].addresses == ("8.8.8.2", "2a00:1450::2")
    assert report.can_receive
    assert codes(report) == ["mx.ok"]
    assert report.provider == "generic"
    data = report.to_dict()
    assert data["hosts"][0] == {
        "name": "a.example.com",
        "preference": 10,
        "addresses": ["8.8.8.1"],
        "cname": "",
        "implicit": False,
        "usable": True,
        "error": "",
    }
    assert ("a.example.com", "AAAA") in resolver.queries


async def test_null_mx_is_an_error_and_nothing_else_is_asked() -> None:
    resolver = MemoryResolver({"nomail.example.com": {"MX": [MX(0, "")], "A": ["8.8.8.8"]}})
    report = await lookup_mx("nomail.example.com", resolver)
    assert report.null_mx
    assert codes(report) == ["mx.null_mx"]
    assert report.findings[0].severity == "error"
    assert report.findings[0].rfc.startswith("RFC 7505")
    assert not report.can_receive
    assert resolver.queries == [("nomail.example.com", "MX")]


async def test_null_mx_mixed_with_others_is_flagged() -> None:
    resolver = MemoryResolver({"d.example.com": {"MX": [MX(0, ""), MX(10, "mx.example.com")]}})
    report = await lookup_mx("d.example.com", resolver)
    assert codes(report) == ["mx.null_mx", "mx.null_mx_mixed"]


async def test_implicit_mx_uses_the_address_record() -> None:
    resolver = MemoryResolver({"web.example.com": {"A": ["8.8.4.4"]}})
    report = await lookup_mx("web.example.com", resolver)
    assert report.implicit
    assert codes(report) == ["mx.implicit"]
    assert report.findings[0].severity == "warning"
    assert report.hosts[0].implicit
    assert report.hosts[0].addresses == ("8.8.4.4",)
    assert report.can_receive


async def test_no_mx_and_no_address_means_no_mail_server() -> None:
    resolver = MemoryResolver({"empty.example.com": {"TXT": []}})
    report = await lookup_mx("empty.example.com", resolver)
    assert codes(report) == ["mx.no_mail_server"]
    assert not report.can_receive


async def test_nxdomain() -> None:
    resolver = MemoryResolver({}, nxdomain=["gone.example.com"])
    report = await lookup_mx("gone.example.com", resolver)
    assert codes(report) == ["mx.domain_missing"]
    assert report.has_errors


async def test_dns_failure_is_temperror_not_no_mx() -> None:
    resolver = MemoryResolver({}, errors={("slow.example.com", "MX"): "timeout"})
    report = await lookup_mx("slow.example.com", resolver)
    assert codes(report) == ["mx.dns_temperror"]
    assert report.findings[0].evidence["error"] == "timeout"


async def test_host_lookup_failure_is_temperror() -> None:
    zone = {"t.example.com": {"MX": [MX(10, "mx.t.example.com")]}, "mx.t.example.com": {}}
    resolver = MemoryResolver(zone, errors={("mx.t.example.com", "A"): "servfail"})
    report = await lookup_mx("t.example.com", resolver)
    assert codes(report) == ["mx.dns_temperror"]
    assert report.hosts[0].error == "servfail"


async def test_unresolvable_host() -> None:
    zone = {
        "u.example.com": {"MX": [MX(10, "gone.u.example.com"), MX(20, "ok.u.example.com")]},
        "ok.u.example.com": {"A": ["8.8.8.8"]},
    }
    resolver = MemoryResolver(zone, nxdomain=["gone.u.example.com"])
    report = await lookup_mx("u.example.com", resolver)
    assert "mx.host_unresolvable" in codes(report)
    assert report.can_receive
    only_bad = MemoryResolver(
        {"v.example.com": {"MX": [MX(10, "gone.v.example.com")]}}, nxdomain=["gone.v.example.com"]
    )
    bad = await lookup_mx("v.example.com", only_bad)
    assert codes(bad) == ["mx.host_unresolvable", "mx.no_mail_server"]


async def test_private_hosts_refused_unless_allowed() -> None:
    zone = {
        "p.example.com": {"MX": [MX(10, "mx.p.example.com")]},
        "mx.p.example.com": {"A": ["10.0.0.5"]},
    }
    report = await lookup_mx("p.example.com", MemoryResolver(zone))
    assert codes(report) == ["mx.host_private", "mx.no_mail_server"]
    assert report.findings[0].evidence["addresses"] == ["10.0.0.5 (private)"]
    allowed = await lookup_mx("p.example.com", MemoryResolver(zone), allow_private=True)
    assert codes(allowed) == ["mx.ok"]


async def test_cname_target_is_a_warning() -> None:
    zone = {
        "c.example.com": {"MX": [MX(10, "alias.c.example.com")]},
        "alias.c.example.com": {"CNAME": ["real.c.example.com"]},
        "real.c.example.com": {"A": ["8.8.8.8"]},
    }
    report = await lookup_mx("c.example.com", MemoryResolver(zone))
    assert "mx.cname" in codes(report)
    assert report.hosts[0].cname == "real.c.example.com"


@pytest.mark.parametrize(
    ("names", "provider"),
    [
        (["contoso-com.mail.protection.outlook.com"], "microsoft365"),
        (["aspmx.l.google.com", "alt1.aspmx.l.google.com"], "google"),
        (["smtp.google.com"], "google"),
        (["aspmx2.googlemail.com"], "google"),
        (["mx0a-001.pphosted.com"], "proofpoint"),
        (["mx1.eu1.ppe-hosted.com"], "proofpoint"),
        (["eu-smtp-inbound-1.mimecast.com"], "mimecast"),
        (["d123.ess.barracudanetworks.com"], "barracuda"),
        (["mx1.hc123-45.iphmx.com"], "cisco"),
        (["mx.example.com"], "generic"),
        (["outlook.com.evil.example"], "generic"),
    ],
)
def test_provider_fingerprint(names: list[str], provider: str) -> None:
    assert fingerprint_provider(names) == provider


async def test_provider_in_report() -> None:
    zone = {
        "m.example.com": {"MX": [MX(0, "m-example-com.mail.protection.outlook.com")]},
        "m-example-com.mail.protection.outlook.com": {"A": ["52.101.1.1"]},
    }
    report = await lookup_mx("m.example.com", MemoryResolver(zone))
    assert report.provider == "microsoft365"
    assert codes(report) == ["mx.ok", "mx.provider"]


async def test_one_address_family_failing_still_leaves_the_host_usable() -> None:
    zone = {
        "h.example.com": {"MX": [MX(10, "mx.h.example.com")]},
        "mx.h.example.com": {"A": ["8.8.8.8"]},
    }
    resolver = MemoryResolver(zone, errors={("mx.h.example.com", "AAAA"): "servfail"})
    report = await lookup_mx("h.example.com", resolver)
    assert codes(report) == ["mx.ok", "mx.host_lookup_partial"]
    assert report.findings[1].evidence["rdtype"] == "AAAA"
    assert report.can_receive
