"""The lab zones hold what they promise, looked up through the strict in-memory resolver."""

from __future__ import annotations

import ipaddress

import pytest

from diag.resolver import MX, MemoryResolver, Rcode, ZoneData
from diag.spf import check_host
from maildiag.lab.policies import LAB_MX_ADDRESSES
from maildiag.lab.zones import (
    BROKEN_SENDER,
    DEMO_DOMAINS,
    HEALTHY_DOMAIN,
    HEALTHY_SENDERS,
    LAB_EGRESS,
    LEGACY_SPF_LOOKUPS,
    build_lab_zone,
    reverse_name,
    txt,
)

SELECTOR = "lab2026"
KEY = "v=DKIM1; k=rsa; p=" + "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" * 9
WRONG_KEY = "v=DKIM1; k=rsa; p=" + "QUJD" * 90
KEYS = {
    "platform.visma.com": (SELECTOR, KEY),
    "connect.visma.com": (SELECTOR, KEY),
    BROKEN_SENDER: (SELECTOR, WRONG_KEY),
}
DNS_TERMS = ("include:", "a:", "mx:", "ptr", "exists:", "redirect=")


@pytest.fixture(scope="module")
def zone() -> ZoneData:
    return build_lab_zone(KEYS)


@pytest.fixture
def resolver(zone: ZoneData) -> MemoryResolver:
    return MemoryResolver(zone, strict=False)


async def spf_record(resolver: MemoryResolver, domain: str) -> str:
    answer = await resolver.query(domain, "TXT")
    (record,) = [t for t in answer.texts if t.startswith("v=spf1 ")]
    return record


async def count_spf_lookups(resolver: MemoryResolver, domain: str) -> int:
    """The DNS-querying terms of ``domain``'s whole include tree (RFC 7208 §4.6.4)."""
    total = 0
    for term in (await spf_record(resolver, domain)).split()[1:]:
        term = term.lstrip("+-~?")
        if term in ("a", "mx") or term.startswith(DNS_TERMS):
            total += 1
        if term.startswith("include:"):
            total += await count_spf_lookups(resolver, term.partition(":")[2])
    return total


def test_zone_is_the_labs_own() -> None:
    import maildiag.lab.zones as zones

    assert "NOT the live DNS" in (zones.__doc__ or "")
    for ip in LAB_EGRESS.values():
        assert ipaddress.ip_address(ip).is_private  # documentation ranges (RFC 5737)


def test_lab_egress_constant() -> None:
    assert dict(LAB_EGRESS) == {
        "platform.visma.com": "198.51.100.10",
        "connect.visma.com": "198.51.100.20",
        "legacy.visma.example": "203.0.113.30",
    }
    with pytest.raises(TypeError):
        LAB_EGRESS["x"] = "1"  # type: ignore[index]


def test_demo_domains_cover_the_design_table() -> None:
    assert set(DEMO_DOMAINS) == {
        f"kunde-{n}.example"
        for n in ("ok", "nullmx", "nomx", "blokkerer", "greylist", "ukjent", "spam", "sprett")
    }
    assert len(set(DEMO_DOMAINS.values())) == len(DEMO_DOMAINS)
    assert DEMO_DOMAINS[HEALTHY_DOMAIN] == "accept"


def test_txt_splits_into_255_octet_strings() -> None:
    record = txt("x" * 600)
    assert [len(s) for s in record.strings] == [255, 255, 90]
    assert record.text == "x" * 600


def test_reverse_name() -> None:
    assert reverse_name("198.51.100.10") == "10.100.51.198.in-addr.arpa"


@pytest.mark.parametrize("domain", HEALTHY_SENDERS)
async def test_healthy_sender_spf(resolver: MemoryResolver, domain: str) -> None:
    record = await spf_record(resolver, domain)
    assert record.startswith(f"v=spf1 ip4:{LAB_EGRESS[domain]} include:")
    assert record.endswith(" -all")
    assert await count_spf_lookups(resolver, domain) == 1


@pytest.mark.parametrize("domain", HEALTHY_SENDERS)
async def test_healthy_sender_passes_spf_for_its_egress(
    resolver: MemoryResolver, domain: str
) -> None:
    helo = f"mail-out.{domain}"
    result = await check_host(
        LAB_EGRESS[domain], domain, f"do.not.reply@{domain}", helo=helo, resolver=resolver
    )
    assert result.result == "pass"
    helo_result = await check_host(LAB_EGRESS[domain], helo, helo, helo=helo, resolver=resolver)
    assert helo_result.result == "pass"
    other = await check_host("192.0.2.99", domain, f"x@{domain}", helo=helo, resolver=resolver)
    assert other.result == "fail"


@pytest.mark.parametrize("domain", [*HEALTHY_SENDERS, BROKEN_SENDER])
async def test_sender_dkim_key_is_published_in_255_octet_strings(
    resolver: MemoryResolver, domain: str
) -> None:
    answer = await resolver.query(f"{SELECTOR}._domainkey.{domain}", "TXT")
    (record,) = answer.txt_records
    assert all(len(s) <= 255 for s in record.strings)
    assert len(record.strings) > 1
    assert record.text == KEYS[domain][1]


async def test_broken_sender_publishes_the_key_it_was_given(resolver: MemoryResolver) -> None:
    answer = await resolver.query(f"{SELECTOR}._domainkey.{BROKEN_SENDER}", "TXT")
    assert answer.texts == (WRONG_KEY,)
    assert answer.texts != (KEY,)


async def test_sender_without_a_key_publishes_none() -> None:
    resolver = MemoryResolver(build_lab_zone({}), strict=False)
    answer = await resolver.query(f"{SELECTOR}._domainkey.platform.visma.com", "TXT")
    assert answer.rcode is Rcode.NXDOMAIN


@pytest.mark.parametrize(
    ("domain", "policy"),
    [
        ("platform.visma.com", "reject"),
        ("connect.visma.com", "reject"),
        (BROKEN_SENDER, "quarantine"),
    ],
)
async def test_sender_dmarc(resolver: MemoryResolver, domain: str, policy: str) -> None:
    answer = await resolver.query(f"_dmarc.{domain}", "TXT")
    assert answer.texts == (f"v=DMARC1; p={policy}; rua=mailto:dmarc-reports@visma.example",)


@pytest.mark.parametrize("domain", HEALTHY_SENDERS)
async def test_external_report_destination_is_authorized(
    resolver: MemoryResolver, domain: str
) -> None:
    # RFC 7489 §7.1: visma.example must accept reports about another organization's domain
    answer = await resolver.query(f"{domain}._report._dmarc.visma.example", "TXT")
    assert answer.texts == ("v=DMARC1",)


@pytest.mark.parametrize("domain", [*HEALTHY_SENDERS, BROKEN_SENDER])
async def test_sender_bounce_mx_reaches_the_sink(resolver: MemoryResolver, domain: str) -> None:
    (mx,) = (await resolver.query(domain, "MX")).mx_records
    assert (await resolver.query(mx.exchange, "A")).strings == ("127.0.0.1",)


@pytest.mark.parametrize("domain", [*HEALTHY_SENDERS, BROKEN_SENDER])
async def test_sender_reverse_dns_is_forward_confirmed(
    resolver: MemoryResolver, domain: str
) -> None:
    egress = LAB_EGRESS[domain]
    ptr = await resolver.query(reverse_name(egress), "PTR")
    assert ptr.strings == (f"mail-out.{domain}",)
    assert (await resolver.query(ptr.strings[0], "A")).strings == (egress,)


async def test_broken_sender_spf_needs_eleven_lookups(resolver: MemoryResolver) -> None:
    assert LEGACY_SPF_LOOKUPS == 11
    assert await count_spf_lookups(resolver, BROKEN_SENDER) == LEGACY_SPF_LOOKUPS


async def test_broken_sender_spf_fails_with_permerror_at_its_egress(
    resolver: MemoryResolver,
) -> None:
    result = await check_host(
        LAB_EGRESS[BROKEN_SENDER],
        BROKEN_SENDER,
        f"do.not.reply@{BROKEN_SENDER}",
        helo=f"mail-out.{BROKEN_SENDER}",
        resolver=resolver,
    )
    assert result.result == "permerror"
    assert result.lookups > 10


async def test_broken_sender_spf_names_all_resolve(resolver: MemoryResolver) -> None:
    for number in range(1, 5):
        answer = await resolver.query(f"relay{number}.{BROKEN_SENDER}", "A")
        assert answer.rcode is Rcode.NOERROR  # no void lookups: the only fault is the count


async def test_staff_domain_mx_to_the_sink(resolver: MemoryResolver) -> None:
    assert (await resolver.query("visma.example", "MX")).mx_records == (MX(10, "mx.visma.example"),)
    assert (await resolver.query("mx.visma.example", "A")).strings == ("127.0.0.1",)
    assert (await resolver.query("_dmarc.visma.example", "TXT")).texts[0].startswith("v=DMARC1;")


async def test_null_mx_domain(resolver: MemoryResolver) -> None:
    answer = await resolver.query("kunde-nullmx.example", "MX")
    assert answer.mx_records == (MX(0, ""),)
    assert str(answer.mx_records[0]) == "0 ."


async def test_implicit_mx_domain(resolver: MemoryResolver) -> None:
    assert (await resolver.query("kunde-nomx.example", "MX")).rcode is Rcode.NODATA
    assert (await resolver.query("kunde-nomx.example", "A")).strings == ("127.0.0.1",)


@pytest.mark.parametrize(
    "domain",
    [d for d, b in DEMO_DOMAINS.items() if b not in ("null_mx", "implicit_mx")],
)
async def test_demo_mx_points_at_the_sink(resolver: MemoryResolver, domain: str) -> None:
    assert (await resolver.query(domain, "MX")).mx_records == (MX(10, f"mx.{domain}"),)
    expected = LAB_MX_ADDRESSES.get(domain, "127.0.0.1")  # a MAIL FROM policy needs its own
    assert (await resolver.query(f"mx.{domain}", "A")).strings == (expected,)


@pytest.mark.parametrize("domain", list(DEMO_DOMAINS))
async def test_demo_domains_have_their_own_spf_and_dmarc(
    resolver: MemoryResolver, domain: str
) -> None:
    record = await spf_record(resolver, domain)
    assert record.endswith(" -all")
    (dmarc,) = (await resolver.query(f"_dmarc.{domain}", "TXT")).texts
    assert dmarc.startswith("v=DMARC1; p=")
    assert f"rua=mailto:dmarc@{domain}" in dmarc


async def test_healthy_recipient_is_all_ok(resolver: MemoryResolver) -> None:
    (dmarc,) = (await resolver.query(f"_dmarc.{HEALTHY_DOMAIN}", "TXT")).texts
    assert "p=quarantine" in dmarc
    result = await check_host(
        "127.0.0.1", HEALTHY_DOMAIN, f"kari@{HEALTHY_DOMAIN}", helo="mx", resolver=resolver
    )
    assert result.result == "pass"
    assert result.void_lookups == 0


async def test_strict_resolver_walks_the_whole_zone_without_surprises(zone: ZoneData) -> None:
    strict = MemoryResolver(zone)
    for name, types in zone.items():
        for rdtype in types:
            assert (await strict.query(name, rdtype)).rcode is Rcode.NOERROR
    assert len(strict.log) == sum(len(types) for types in zone.values())
