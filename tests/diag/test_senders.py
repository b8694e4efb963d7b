"""The sender report against a strict in-memory resolver: codes, evidence and the queries made."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest

from diag.dkim import KeyPair, generate_keypair
from diag.findings import ERROR
from diag.resolver import MX, TXT, Answer, MemoryResolver, Record
from diag.senders import (
    COMMON_SELECTORS,
    TOGETHER,
    SenderReport,
    SenderSpec,
    check_sender,
    check_sender_domain,
)

DOMAIN = "sender.test"
IP = "192.0.2.10"
PTR = "10.2.0.192.in-addr.arpa"
HELO = "mail-out.sender.test"
BL = "10.2.0.192.bl.test"

Zone = dict[str, dict[str, Sequence[Record]]]


@pytest.fixture(scope="module")
def keys() -> tuple[KeyPair, KeyPair]:
    return generate_keypair("rsa-sha256", 2048), generate_keypair("rsa-sha256", 2048)


def _txt(text: str) -> list[Record]:
    return [TXT((text.encode(),))]


def _zone(published: KeyPair, *, spf: str = f"v=spf1 ip4:{IP} -all") -> Zone:
    return {
        DOMAIN: {"TXT": _txt(spf), "MX": [MX(10, f"mx.{DOMAIN}")]},
        f"mx.{DOMAIN}": {"A": ["192.0.2.99"]},
        f"_dmarc.{DOMAIN}": {"TXT": _txt(f"v=DMARC1; p=reject; rua=mailto:dmarc@{DOMAIN}")},
        f"s1._domainkey.{DOMAIN}": {"TXT": _txt(published.public_txt)},
        PTR: {"PTR": [HELO]},
        HELO: {"A": [IP]},
    }


def _spec(key: KeyPair, **changes: Any) -> SenderSpec:
    values: dict[str, Any] = {
        "address": f"do.not.reply@{DOMAIN}",
        "selectors": ("s1",),
        "private_key": key.private_pem_or_seed,
        "egress_ips": (IP,),
        "helo": HELO,
    }
    values.update(changes)
    return SenderSpec(**values)


def _codes(report: SenderReport) -> set[str]:
    return {f.code for f in report.findings}


def _finding(report: SenderReport, code: str) -> dict[str, Any]:
    return next(f.to_dict()["evidence"] for f in report.findings if f.code == code)


async def test_healthy_identity(keys: tuple[KeyPair, KeyPair]) -> None:
    resolver = MemoryResolver(_zone(keys[0]), nxdomain=["_dmarc.test", BL])
    report = await check_sender(_spec(keys[0]), resolver, dnsbl_zones=["bl.test"])
    errors = [f.code for f in report.findings if f.severity is ERROR]
    assert errors == []
    assert {
        "sender.spf_pass",
        "spf.ok",
        "dkim.key_ok",
        "dmarc.policy_ok",
        "sender.aligned",
        "reverse.ok",
        "helo.ok",
        "dnsbl.clean",
        "sender.bounce_mx_ok",
        "sender.sample_dkim_pass",
    } <= _codes(report)
    assert [s.key for s in report.sections] == [
        "spf",
        "dkim",
        "dmarc",
        "alignment",
        "reverse",
        "dnsbl",
        "bounce_mx",
        "sample",
    ]
    assert {s.status for s in report.sections} == {"ok"}
    assert set(resolver.queries) == {
        (DOMAIN, "TXT"),
        (DOMAIN, "MX"),
        (f"_dmarc.{DOMAIN}", "TXT"),
        ("_dmarc.test", "TXT"),
        (f"s1._domainkey.{DOMAIN}", "TXT"),
        (PTR, "PTR"),
        (HELO, "A"),
        (HELO, "AAAA"),
        (BL, "A"),
    }
    data = report.to_dict()
    assert data["spf"]["checks"][f"ip:{IP}"]["result"] == "pass"
    assert data["spf"]["checks"][f"ip:{IP}"]["trace"]
    assert data["findings"]
    assert data["status"] == "ok"


@pytest.mark.parametrize("days", [-3, 3])
async def test_a_report_dated_another_day_still_verifies_its_sample(
    keys: tuple[KeyPair, KeyPair], days: int
) -> None:
    # ``now`` dates the sample mail; the signature's t= comes from the system clock
    resolver = MemoryResolver(_zone(keys[0]), nxdomain=["_dmarc.test"])
    now = time.time() + days * 86400
    report = await check_sender(_spec(keys[0]), resolver, now=now)
    assert "sender.sample_dkim_pass" in _codes(report)


async def test_key_mismatch_fails_the_sample(keys: tuple[KeyPair, KeyPair]) -> None:
    resolver = MemoryResolver(_zone(keys[1]), nxdomain=["_dmarc.test"])
    report = await check_sender(_spec(keys[0]), resolver)
    assert {"dkim.key_mismatch", "sender.sample_dkim_fail"} <= _codes(report)
    sample = _finding(report, "sender.sample_dkim_fail")
    assert sample["result"] == "fail"
    assert sample["reason"] == "signature_mismatch"
    assert sample["selector"] == "s1"
    assert report.has_errors
    assert report.section("dkim").status == "problem"  # type: ignore[union-attr]


async def test_spf_with_too_many_lookups(keys: tuple[KeyPair, KeyPair]) -> None:
    zone = _zone(
        keys[0], spf="v=spf1 " + " ".join(f"a:h{i}.{DOMAIN}" for i in range(11)) + f" ip4:{IP} -all"
    )
    for i in range(11):
        zone[f"h{i}.{DOMAIN}"] = {"A": ["192.0.2.200"]}
    resolver = MemoryResolver(zone, nxdomain=["_dmarc.test"])
    report = await check_sender(_spec(keys[0]), resolver)
    assert {"spf.too_many_lookups", "sender.spf_not_pass"} <= _codes(report)
    evidence = _finding(report, "sender.spf_not_pass")
    assert evidence["result"] == "permerror"
    assert evidence["problem"] == "spf.too_many_lookups"


async def test_dns_failures_are_not_checked_not_failures(keys: tuple[KeyPair, KeyPair]) -> None:
    errors = {(DOMAIN, "MX"): "timeout", (PTR, "PTR"): "servfail", (BL, "A"): "refused"}
    resolver = MemoryResolver(_zone(keys[0]), nxdomain=["_dmarc.test"], errors=errors)
    report = await check_sender(_spec(keys[0]), resolver, dnsbl_zones=["bl.test"])
    assert {"sender.bounce_mx_temperror", "reverse.dns_temperror", "dnsbl.not_checked"} <= _codes(
        report
    )
    assert not report.has_errors


class _Stalling:
    """Answers from ``inner`` except for one name, which never answers."""

    def __init__(self, inner: MemoryResolver, stall: str) -> None:
        self.inner = inner
        self.stall = stall

    async def query(self, name: str, rdtype: str) -> Answer:
        if name == self.stall:
            await asyncio.sleep(30)
        return await self.inner.query(name, rdtype)


async def test_deadline_reports_not_checked(keys: tuple[KeyPair, KeyPair]) -> None:
    inner = MemoryResolver(_zone(keys[0]), nxdomain=["_dmarc.test"])
    report = await check_sender(_spec(keys[0]), _Stalling(inner, PTR), deadline=0.5)
    reverse = report.section("reverse")
    assert reverse is not None
    assert reverse.status == "not_checked"
    assert reverse.not_checked == (IP,)
    evidence = _finding(report, "sender.not_checked")
    assert evidence == {"section": "reverse", "check": IP, "reason": "deadline", "deadline": 0.5}
    assert not report.has_errors
    assert "sender.spf_pass" in _codes(report)
    assert report.elapsed < 5


async def test_unreadable_key_and_no_egress(keys: tuple[KeyPair, KeyPair]) -> None:
    resolver = MemoryResolver(_zone(keys[0]), nxdomain=["_dmarc.test"])
    spec = _spec(keys[0], private_key=None, key_error="permission denied", egress_ips=())
    report = await check_sender(spec, resolver)
    assert {"sender.key_unreadable", "sender.no_egress_ips"} <= _codes(report)
    assert report.section("sample") is None
    assert report.section("reverse") is None
    assert (PTR, "PTR") not in resolver.queries


async def test_relaxed_alignment_through_the_org_domain(keys: tuple[KeyPair, KeyPair]) -> None:
    zone = _zone(keys[0])
    bounces = f"bounces.{DOMAIN}"
    zone[bounces] = {"TXT": _txt(f"v=spf1 ip4:{IP} -all"), "MX": [MX(0, "")]}
    resolver = MemoryResolver(zone, nxdomain=["_dmarc.test", f"_dmarc.{bounces}"])
    report = await check_sender(_spec(keys[0], envelope_domain=bounces), resolver)
    aligned = _finding(report, "sender.aligned")
    assert aligned["org_domains"] == {DOMAIN: DOMAIN, bounces: DOMAIN}
    assert "sender.bounce_null_mx" in _codes(report)
    assert (bounces, "MX") in resolver.queries


async def test_unaligned_signing_domain(keys: tuple[KeyPair, KeyPair]) -> None:
    zone = _zone(keys[0])
    zone["esp.example"] = {"A": ["192.0.2.1"]}
    zone["s1._domainkey.esp.example"] = {"TXT": _txt(keys[0].public_txt)}
    resolver = MemoryResolver(
        zone, nxdomain=["_dmarc.test", "_dmarc.esp.example", "_dmarc.example"]
    )
    report = await check_sender(_spec(keys[0], dkim_domain="esp.example"), resolver)
    assert "sender.dkim_not_aligned" in _codes(report)
    assert "sender.sample_dkim_pass" in _codes(report)


async def test_bare_domain_with_common_selectors(keys: tuple[KeyPair, KeyPair]) -> None:
    zone = _zone(keys[0])
    zone[f"selector1._domainkey.{DOMAIN}"] = zone.pop(f"s1._domainkey.{DOMAIN}")
    missing = [f"{s}._domainkey.{DOMAIN}" for s in COMMON_SELECTORS if s != "selector1"]
    resolver = MemoryResolver(zone, nxdomain=["_dmarc.test", *missing])
    report = await check_sender_domain(DOMAIN, resolver)
    assert report.kind == "domain"
    assert [s.key for s in report.sections] == ["spf", "dkim", "dmarc", "bounce_mx"]
    dkim = report.section("dkim")
    assert dkim is not None
    assert dkim.checks["common"]["found"] == ["selector1"]
    assert "dkim.key_ok" in _codes(report)
    assert not report.has_errors
    assert (PTR, "PTR") not in resolver.queries


async def test_bare_domain_without_any_common_selector(keys: tuple[KeyPair, KeyPair]) -> None:
    zone = _zone(keys[0])
    del zone[f"s1._domainkey.{DOMAIN}"]  # "s1" is one of the common selectors
    missing = [f"{s}._domainkey.{DOMAIN}" for s in COMMON_SELECTORS]
    resolver = MemoryResolver(zone, nxdomain=["_dmarc.test", *missing])
    report = await check_sender_domain(DOMAIN, resolver)
    assert "sender.dkim_no_common_selector" in _codes(report)
    assert not report.has_errors


@pytest.mark.parametrize("published", [0, 1], ids=["matching-key", "other-key"])
async def test_the_pacing_orders_lookups_never_results(
    keys: tuple[KeyPair, KeyPair], published: int
) -> None:
    def report_dict(report: SenderReport) -> dict[str, Any]:
        return {k: v for k, v in report.to_dict().items() if k != "elapsed_ms"}

    reports = [
        await check_sender(
            _spec(keys[0]),
            MemoryResolver(_zone(keys[published]), nxdomain=["_dmarc.test", BL]),
            dnsbl_zones=["bl.test"],
            now=1_700_000_000,
            **pacing,
        )
        for pacing in ({}, {"pacing": TOGETHER})
    ]
    assert report_dict(reports[0]) == report_dict(reports[1])
    assert ("sample" in reports[0].to_dict()) is True


def test_public_surface() -> None:
    import diag.senders

    assert len(set(diag.senders.__all__)) == len(diag.senders.__all__)
    assert not any(name.startswith("_") for name in diag.senders.__all__)
    for name in diag.senders.__all__:
        assert getattr(diag.senders, name) is not None
