"""check_transport against the strict in-memory resolver (every lookup asserted): MTA-STS
records and policies against the real MX hosts, TLS-RPT records, TLSA records with and
without DNSSEC, and the probe's STARTTLS judged against what the domain demands. The policy
fetcher here is a test double returning bodies (the real HTTPS fetch is tested on loopback
in test_transport_fetch.py)."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from diag.errors import PolicyFetchError
from diag.findings import ERROR, INFO, OK, WARNING, Finding
from diag.mx import lookup_mx
from diag.probe import ProbeReport, TlsSession, certificate_facts
from diag.probe.session import TranscriptLine
from diag.resolver import MX, TXT, MemoryResolver, Record
from diag.transport import TransportReport, check_transport, trust_store
from tests.diag.certs import NOW, Issued, make_ca, make_server

DOMAIN = "kunde.example"
MX1, MX2 = "mx1.kunde.example", "mx2.kunde.example"
STS = "v=STSv1; id=2026"
ENFORCE = f"version: STSv1\nmode: enforce\nmx: *.{DOMAIN}\nmax_age: 604800\n"
CA = make_ca()
TRUST = trust_store(CA.pem)


def txt(text: str) -> TXT:
    return TXT((text.encode(),))


def zone(**extra: Mapping[str, Sequence[Record]]) -> dict[str, dict[str, list[Record]]]:
    base: dict[str, dict[str, list[Record]]] = {
        DOMAIN: {"MX": [MX(10, MX1), MX(20, MX2)]},
        MX1: {"A": ["192.0.2.1"]},
        MX2: {"A": ["192.0.2.2"]},
    }
    for name, records in extra.items():
        base.setdefault(name, {}).update({k: list(v) for k, v in records.items()})
    return base


def resolver(records: dict[str, dict[str, list[Record]]], **options: Any) -> MemoryResolver:
    names = [f"_mta-sts.{DOMAIN}", f"_smtp._tls.{DOMAIN}", f"_25._tcp.{MX1}", f"_25._tcp.{MX2}"]
    for host in (MX1, MX2):
        records.setdefault(host, {}).setdefault("AAAA", [])
    return MemoryResolver(records, nxdomain=names, **options)


class Bodies:
    """A policy fetcher that hands out a fixed body, or fails as told."""

    def __init__(self, body: str | None = None, reason: str = "") -> None:
        self.body = body
        self.reason = reason
        self.asked: list[str] = []

    async def fetch(self, domain: str) -> bytes:
        self.asked.append(domain)
        if self.body is None:
            url = f"https://mta-sts.{domain}/.well-known/mta-sts.txt"
            raise PolicyFetchError(url=url, reason=self.reason, detail="refused")
        return self.body.encode()


async def run(
    records: dict[str, dict[str, list[Record]]],
    *,
    fetcher: Bodies | None = None,
    probe: ProbeReport | None = None,
    **options: Any,
) -> tuple[TransportReport, MemoryResolver]:
    dns = resolver(records, **options)
    mx = await lookup_mx(DOMAIN, dns, allow_private=True)  # 192.0.2.0/24 is documentation
    dns.log.clear()
    report = await check_transport(mx, dns, fetcher=fetcher, probe=probe, trust=TRUST)
    return report, dns


def codes(report: TransportReport) -> list[tuple[str, str]]:
    return [(f.code, str(f.severity)) for f in report.findings]


def evidence(report: TransportReport, code: str) -> Mapping[str, Any]:
    return next(f.evidence for f in report.findings if f.code == code)


# --- lookups and what is absent ----------------------------------------------------------------


async def test_nothing_published_and_exactly_these_lookups() -> None:
    report, dns = await run(zone())
    assert codes(report) == [
        ("mta_sts.none", "info"),
        ("tlsrpt.none", "info"),
        ("dane.none", "info"),
    ]
    assert sorted(dns.queries) == sorted(
        [
            (f"_mta-sts.{DOMAIN}", "TXT"),
            (f"_smtp._tls.{DOMAIN}", "TXT"),
            (f"_25._tcp.{MX1}", "TLSA"),
            (f"_25._tcp.{MX2}", "TLSA"),
        ]
    )
    assert report.checked
    assert not report.has_errors
    assert report.to_dict()["mta_sts"]["record"] == ""


async def test_a_domain_without_mail_servers_is_not_looked_at() -> None:
    dns = MemoryResolver({DOMAIN: {"MX": [MX(0, "")]}})
    mx = await lookup_mx(DOMAIN, dns)
    dns.log.clear()
    report = await check_transport(mx, dns, fetcher=Bodies(ENFORCE))
    assert (report.checked, report.findings, dns.queries) == (False, (), [])
    assert report.to_dict()["mta_sts"] is None


async def test_record_found_but_no_fetcher_says_not_fetched() -> None:
    records = zone(**{f"_mta-sts.{DOMAIN}": {"TXT": [txt(STS), txt("v=spf1 -all")]}})
    report, dns = await run(records)
    assert codes(report)[0] == ("mta_sts.policy_not_fetched", "info")
    assert evidence(report, "mta_sts.policy_not_fetched") == {
        "url": f"https://mta-sts.{DOMAIN}/.well-known/mta-sts.txt",
        "id": "2026",
    }
    assert report.to_dict()["mta_sts"]["fetch_error"] == "not_fetched"
    assert len(dns.queries) == 4  # no lookup of the policy host without a fetcher


# --- MTA-STS -----------------------------------------------------------------------------------


def sts(policy: str) -> tuple[dict[str, dict[str, list[Record]]], Bodies]:
    return zone(**{f"_mta-sts.{DOMAIN}": {"TXT": [txt(STS)]}}), Bodies(policy)


async def test_enforce_matching_every_mx_is_ok() -> None:
    records, fetcher = sts(ENFORCE)
    report, _ = await run(records, fetcher=fetcher)
    assert codes(report)[0] == ("mta_sts.enforce", "ok")
    assert fetcher.asked == [DOMAIN]
    data = report.to_dict()["mta_sts"]
    assert data["policy"] == {"mode": "enforce", "max_age": 604800, "mx": [f"*.{DOMAIN}"]}
    assert data["id"] == "2026"


@pytest.mark.parametrize(
    ("mode", "patterns", "expected"),
    [
        ("enforce", [f"mx9.{DOMAIN}"], [("mta_sts.mx_mismatch", ERROR)]),  # no MX left
        ("enforce", [MX1], [("mta_sts.mx_mismatch", WARNING)]),  # mx2 skipped, mx1 works
        (
            "testing",
            ["*.other.example"],
            [("mta_sts.testing", INFO), ("mta_sts.mx_mismatch", WARNING)],
        ),
        ("testing", [f"*.{DOMAIN}"], [("mta_sts.testing", INFO)]),
        ("none", [], [("mta_sts.mode_none", INFO)]),
    ],
)
async def test_policy_modes_against_the_real_mx(
    mode: str, patterns: list[str], expected: list[tuple[str, Any]]
) -> None:
    lines = "".join(f"mx: {p}\n" for p in patterns)
    records, fetcher = sts(f"version: STSv1\nmode: {mode}\n{lines}max_age: 86400\n")
    report, _ = await run(records, fetcher=fetcher)
    found = [(f.code, f.severity) for f in report.findings if f.code.startswith("mta_sts.")]
    assert found == expected
    if expected[-1][0] == "mta_sts.mx_mismatch":
        unmatched = evidence(report, "mta_sts.mx_mismatch")["hosts"]
        assert unmatched == ([MX2] if patterns == [MX1] else [MX1, MX2])


async def test_policy_unreachable_and_invalid() -> None:
    records, _ = sts(ENFORCE)
    report, _ = await run(records, fetcher=Bodies(None, reason="tls_certificate"))
    assert codes(report)[0] == ("mta_sts.policy_unreachable", "warning")
    assert evidence(report, "mta_sts.policy_unreachable")["reason"] == "tls_certificate"
    report, _ = await run(records, fetcher=Bodies("version: STSv1\nmode: strict\nmax_age: 1\n"))
    assert codes(report)[0] == ("mta_sts.policy_invalid", "warning")
    assert evidence(report, "mta_sts.policy_invalid")["position"] == 21


@pytest.mark.parametrize(
    ("texts", "code", "position"),
    [
        (["v=STSv1; id=20-26"], "mta_sts.record_invalid", 14),
        (["v=STSv1; id=1", "v=STSv1; id=2"], "mta_sts.record_multiple", None),
    ],
)
async def test_bad_records_are_warnings_and_nothing_is_fetched(
    texts: list[str], code: str, position: int | None
) -> None:
    records = zone(**{f"_mta-sts.{DOMAIN}": {"TXT": [txt(t) for t in texts]}})
    fetcher = Bodies(ENFORCE)
    report, _ = await run(records, fetcher=fetcher)
    assert codes(report)[0] == (code, "warning")
    assert fetcher.asked == []
    if position is not None:
        assert evidence(report, code)["position"] == position


async def test_dns_failures_are_temperrors_never_absence() -> None:
    errors = {(f"_mta-sts.{DOMAIN}", "TXT"): "timeout", (f"_smtp._tls.{DOMAIN}", "TXT"): "servfail"}
    errors[(f"_25._tcp.{MX1}", "TLSA")] = "timeout"
    report, _ = await run(zone(), errors=errors)
    assert codes(report) == [
        ("mta_sts.dns_temperror", "warning"),
        ("tlsrpt.dns_temperror", "warning"),
        ("dane.dns_temperror", "warning"),
    ]
    assert evidence(report, "tlsrpt.dns_temperror")["error"] == "servfail"


# --- TLS-RPT -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["v=TLSRPTv1; rua=mailto:tls@kunde.example"], ("tlsrpt.ok", "ok")),
        (
            ["v=TLSRPTv1; rua=mailto:tls@kunde.example", "v=TLSRPTv1; rua=https://r.example"],
            ("tlsrpt.multiple", "warning"),
        ),
        (["v=TLSRPTv1; rua=tls@kunde.example"], ("tlsrpt.invalid", "warning")),
        (["v=TLSRPTv1; rua=ftp://r.example/x"], ("tlsrpt.rua_unsupported", "warning")),
        (["something else"], ("tlsrpt.none", "info")),
    ],
)
async def test_tlsrpt_records(texts: list[str], expected: tuple[str, str]) -> None:
    records = zone(**{f"_smtp._tls.{DOMAIN}": {"TXT": [txt(t) for t in texts]}})
    report, _ = await run(records)
    assert codes(report)[1] == expected


# --- DANE --------------------------------------------------------------------------------------

SERVER = make_server(CA, [MX1])


def spki_tlsa(server: Issued, usage: int = 3) -> str:
    if usage == 2:
        return f"2 0 1 {hashlib.sha256(CA.der).hexdigest()}"
    spki = server.cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return f"3 1 1 {hashlib.sha256(spki).hexdigest()}"


def single_mx(records: dict[str, dict[str, list[Record]]]) -> dict[str, dict[str, list[Record]]]:
    """``records`` with ``MX1`` as the domain's only MX host."""
    records[DOMAIN]["MX"] = [MX(10, MX1)]
    del records[MX2]
    return records


def tlsa_zone(*texts: str) -> dict[str, dict[str, list[Record]]]:
    return zone(**{f"_25._tcp.{MX1}": {"TLSA": list(texts)}})


SIGNED = [DOMAIN, f"_25._tcp.{MX1}"]


async def test_tlsa_without_dnssec_is_ignored_by_senders() -> None:
    report, _ = await run(tlsa_zone(spki_tlsa(SERVER)))
    assert ("dane.not_authenticated", "info") in codes(report)
    assert report.dane[0].authenticated is False


async def test_signed_usable_tlsa_without_a_probe() -> None:
    report, _ = await run(tlsa_zone(spki_tlsa(SERVER)), authenticated=SIGNED)
    assert ("dane.ok", "ok") in codes(report)
    host = report.to_dict()["dane"][0]
    assert host["usable"][0]["label"] == "DANE-EE(3) SPKI(1) SHA2-256(1)"
    assert host["matched"] is None


async def test_signed_tlsa_under_an_unsigned_mx() -> None:
    report, _ = await run(tlsa_zone(spki_tlsa(SERVER)), authenticated=[f"_25._tcp.{MX1}"])
    assert [c for c in codes(report) if c[0].startswith("dane.")] == [
        ("dane.mx_not_authenticated", "info"),
        ("dane.ok", "ok"),
    ]


async def test_unusable_and_malformed_records() -> None:
    pkix = "1 1 1 " + "00" * 32
    short = "3 1 1 " + "00" * 31
    report, _ = await run(tlsa_zone(pkix, short, "3 1 1 xyz"), authenticated=SIGNED)
    dane = [c for c in codes(report) if c[0].startswith("dane.")]
    assert dane == [("dane.malformed", "warning"), ("dane.unusable", "warning")]
    unusable = evidence(report, "dane.unusable")
    assert unusable["none_usable"] is True
    assert unusable["reasons"] == ["pkix_usage", "digest_length"]
    assert unusable["records"] == [pkix, short]
    assert evidence(report, "dane.malformed")["records"] == ["3 1 1 xyz"]


# --- STARTTLS judged, alone and against MTA-STS and DANE -----------------------------------------


def probed(
    server: Issued | None, *, host: str = MX1, version: str = "TLSv1.3", offered: bool = True
) -> ProbeReport:
    """A finished probe of ``host``: STARTTLS with ``server``'s chain, or none at all."""
    transcript = (TranscriptLine(0.0, "S", "220 ready"),)
    if server is None:
        finding = _no_starttls(host)
        return ProbeReport(host, 25, "192.0.2.1", True, transcript=transcript, findings=(finding,))
    tls = TlsSession(
        offered=offered,
        established=True,
        version=version,
        cipher="TLS_AES_128_GCM_SHA256",
        certificate=certificate_facts(server.der, host),
        chain=(server.der, CA.der),
    )
    return ProbeReport(host, 25, "192.0.2.1", True, tls=tls, transcript=transcript)


def _no_starttls(host: str) -> Finding:
    return Finding("probe.no_starttls", INFO, "no STARTTLS", {"host": host})


async def test_starttls_that_meets_everything() -> None:
    report, _ = await run(zone(), probe=probed(SERVER))
    assert codes(report)[-1] == ("tls.ok", "ok")
    ok = evidence(report, "tls.ok")
    assert ok["names"] == [MX1]
    assert ok["version"] == "TLSv1.3"
    assert 88 <= ok["days_left"] <= 90
    assert report.starttls is not None
    assert report.starttls.problems == ()


@pytest.mark.parametrize(
    ("server", "version", "expected"),
    [
        (None, "TLSv1.3", [("tls.no_starttls", WARNING)]),
        (make_server(CA, ["mx.elsewhere.example"]), "TLSv1.3", [("tls.name_mismatch", INFO)]),
        (
            make_server(CA, [MX1], not_after=NOW - datetime.timedelta(days=1)),
            "TLSv1.3",
            [("tls.cert_expired", WARNING)],
        ),
        (
            make_server(CA, [MX1], not_after=NOW + datetime.timedelta(days=5)),
            "TLSv1.3",
            [("tls.cert_expiring", WARNING)],
        ),
        (make_server(make_ca("someone else"), [MX1]), "TLSv1.3", [("tls.untrusted", INFO)]),
        (SERVER, "TLSv1.1", [("tls.old_version", WARNING)]),
    ],
    ids=["no-starttls", "name", "expired", "expiring", "untrusted", "old-version"],
)
async def test_starttls_problems(
    server: Issued | None, version: str, expected: list[tuple[str, Any]]
) -> None:
    report, _ = await run(zone(), probe=probed(server, version=version))
    assert [(f.code, f.severity) for f in report.findings if f.code.startswith("tls.")] == expected


@pytest.mark.parametrize(
    ("mode", "severity"), [("enforce", ERROR), ("testing", WARNING)], ids=["enforce", "testing"]
)
async def test_mta_sts_policy_that_the_certificate_fails(mode: str, severity: Any) -> None:
    records, fetcher = sts(ENFORCE.replace("enforce", mode))
    bad = make_server(CA, ["mx.elsewhere.example"])
    report, _ = await run(single_mx(records), fetcher=fetcher, probe=probed(bad))
    unmet = next(f for f in report.findings if f.code == "mta_sts.tls_unmet")
    assert unmet.severity == severity
    assert unmet.evidence["problems"] == ["name_mismatch"]
    assert unmet.evidence["host"] == MX1
    assert unmet.evidence["other_hosts"] == []
    assert report.has_errors is (mode == "enforce")


async def test_mta_sts_enforce_without_starttls_is_an_error() -> None:
    records, fetcher = sts(ENFORCE)
    report, _ = await run(single_mx(records), fetcher=fetcher, probe=probed(None))
    unmet = next(f for f in report.findings if f.code == "mta_sts.tls_unmet")
    assert (unmet.severity, unmet.evidence["problems"]) == (ERROR, ["no_starttls"])


async def test_another_mx_host_the_policy_allows_makes_it_a_warning() -> None:
    records, fetcher = sts(ENFORCE)
    report, _ = await run(records, fetcher=fetcher, probe=probed(None))
    unmet = next(f for f in report.findings if f.code == "mta_sts.tls_unmet")
    assert (unmet.severity, unmet.evidence["other_hosts"]) == (WARNING, [MX2])
    assert not report.has_errors


async def test_mta_sts_enforce_with_a_good_certificate_names_the_probed_host() -> None:
    records, fetcher = sts(ENFORCE)
    report, _ = await run(records, fetcher=fetcher, probe=probed(SERVER))
    assert evidence(report, "mta_sts.enforce")["probed"] == MX1
    assert not report.has_errors


@pytest.mark.parametrize(
    ("record", "server", "expected"),
    [
        (spki_tlsa(SERVER), SERVER, ("dane.tlsa_match", OK)),
        (spki_tlsa(SERVER, usage=2), SERVER, ("dane.tlsa_match", OK)),
        (spki_tlsa(make_server(CA, [MX1])), SERVER, ("dane.tlsa_no_match", ERROR)),
        # DANE-TA also needs the name; DANE-EE does not (RFC 7672 §3.1.1, §3.2.2)
        (
            spki_tlsa(SERVER, usage=2),
            make_server(CA, ["other.example"]),
            ("dane.tlsa_no_match", ERROR),
        ),
        (None, None, ("dane.starttls_missing", ERROR)),
    ],
    ids=["ee", "ta", "ee-other-key", "ta-name", "no-starttls"],
)
async def test_signed_tlsa_against_the_probed_certificate(
    record: str | None, server: Issued | None, expected: tuple[str, Any]
) -> None:
    text = record or spki_tlsa(SERVER)
    records = single_mx(tlsa_zone(text))
    report, _ = await run(records, authenticated=SIGNED, probe=probed(server))
    dane = [(f.code, f.severity) for f in report.findings if f.code.startswith("dane.")]
    assert dane == [expected]
    matched = report.dane[0].matched
    assert matched is (None if server is None else expected[0] == "dane.tlsa_match")
    if expected[1] is ERROR:  # with a second MX host, a DANE sender goes on to it
        report, _ = await run(tlsa_zone(text), authenticated=SIGNED, probe=probed(server))
        dane = [(f.code, f.severity) for f in report.findings if f.code.startswith("dane.")]
        assert dane == [(expected[0], WARNING)]


async def test_ee_record_matches_whatever_the_name() -> None:
    other = make_server(CA, ["other.example"])
    report, _ = await run(tlsa_zone(spki_tlsa(other)), authenticated=SIGNED, probe=probed(other))
    assert ("dane.tlsa_match", "ok") in codes(report)
    assert ("tls.name_mismatch", "info") in codes(report)


async def test_a_probe_that_reached_nothing_adds_nothing() -> None:
    silent = ProbeReport(MX1, 25)
    report, _ = await run(zone(), probe=silent)
    assert report.starttls is None
    assert not [c for c in codes(report) if c[0].startswith("tls.")]
