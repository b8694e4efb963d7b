"""check_selector: findings with stable codes and evidence for one published DKIM key."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import diag.dkim
from diag.dkim import KeyPair, check_selector, generate_keypair
from diag.findings import ERROR, OK, WARNING, CheckResult
from diag.resolver import TXT, MemoryResolver
from tests.diag.test_dkim_verify import _short_rsa_key

NAME = "lab._domainkey.example.com"


@pytest.fixture(scope="module")
def rsa_pair() -> KeyPair:
    return generate_keypair()


@pytest.fixture(scope="module")
def ed_pair() -> KeyPair:
    return generate_keypair("ed25519-sha256")


def zone(*texts: str, **kwargs: object) -> MemoryResolver:
    records = {NAME: {"TXT": [TXT((t.encode(),)) for t in texts]}} if texts else {}
    return MemoryResolver(records, strict=False, **kwargs)  # type: ignore[arg-type]


def codes(result: CheckResult) -> list[str]:
    return [f.code for f in result.findings]


def p_of(pair: KeyPair) -> str:
    return pair.public_txt.split("p=", 1)[1]


def rsa_1024_record() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


async def test_healthy_rsa_key_with_matching_private_key(rsa_pair: KeyPair) -> None:
    resolver = zone(rsa_pair.public_txt, "unrelated text")
    result = await check_selector(
        "example.com", "lab", resolver, private_key=rsa_pair.private_pem_or_seed
    )
    assert codes(result) == ["dkim.key_ok"]
    (finding,) = result.findings
    assert finding.severity is OK
    assert finding.evidence["record"] == rsa_pair.public_txt
    assert (finding.evidence["bits"], finding.evidence["algorithm"]) == (2048, "rsa")
    assert resolver.queries == [(NAME, "TXT")]
    assert result.data["bits"] == 2048


async def test_healthy_ed25519_key(ed_pair: KeyPair) -> None:
    result = await check_selector(
        "example.com", "lab", zone(ed_pair.public_txt), private_key=ed_pair.private_pem_or_seed
    )
    assert codes(result) == ["dkim.key_ok"]
    assert result.findings[0].evidence["algorithm"] == "ed25519"


async def test_key_mismatch(rsa_pair: KeyPair, ed_pair: KeyPair) -> None:
    other = generate_keypair()
    result = await check_selector(
        "example.com", "lab", zone(other.public_txt), private_key=rsa_pair.private_pem_or_seed
    )
    assert codes(result) == ["dkim.key_mismatch"]
    assert result.findings[0].severity is ERROR
    assert result.findings[0].evidence["published_key"] == p_of(other)
    crossed = await check_selector(
        "example.com", "lab", zone(rsa_pair.public_txt), private_key=ed_pair.private_pem_or_seed
    )
    assert codes(crossed) == ["dkim.key_mismatch"]
    assert crossed.findings[0].evidence["private_algorithm"] == "ed25519"


async def test_unreadable_private_key(rsa_pair: KeyPair) -> None:
    result = await check_selector(
        "example.com", "lab", zone(rsa_pair.public_txt), private_key=b"garbage!"
    )
    assert codes(result) == ["dkim.private_key_invalid"]


async def test_missing_key() -> None:
    result = await check_selector("example.com", "lab", zone())
    assert codes(result) == ["dkim.key_missing"]
    assert result.findings[0].evidence["rcode"] == "NXDOMAIN"
    assert result.worst is ERROR


async def test_dns_failure_is_not_a_bad_record() -> None:
    result = await check_selector("example.com", "lab", zone(errors={(NAME, "TXT"): "timeout"}))
    assert codes(result) == ["dkim.dns_temperror"]
    assert result.findings[0].severity is WARNING
    assert result.findings[0].evidence["reason"] == "timeout"


async def test_syntax_error_keeps_record_and_position() -> None:
    result = await check_selector("example.com", "lab", zone("v=DKIM1; k=rsa; p=AAAA"))
    assert codes(result) == ["dkim.key_syntax"]
    evidence = result.findings[0].evidence
    assert evidence["record"] == "v=DKIM1; k=rsa; p=AAAA"
    assert evidence["position"] == 18


async def test_revoked() -> None:
    result = await check_selector("example.com", "lab", zone("v=DKIM1; p="))
    assert codes(result) == ["dkim.key_revoked"]


async def test_weak_and_testing_are_warnings() -> None:
    record = rsa_1024_record().replace("k=rsa;", "k=rsa; t=y;")
    result = await check_selector("example.com", "lab", zone(record))
    assert codes(result) == ["dkim.testing", "dkim.key_weak", "dkim.key_ok"]
    assert result.worst is WARNING
    assert result.findings[1].evidence["bits"] == 1024


async def test_hash_restricted(rsa_pair: KeyPair) -> None:
    result = await check_selector(
        "example.com", "lab", zone(f"v=DKIM1; h=sha1; p={p_of(rsa_pair)}")
    )
    assert codes(result) == ["dkim.hash_restricted"]
    allowed = await check_selector(
        "example.com", "lab", zone(f"v=DKIM1; h=sha1:sha256; p={p_of(rsa_pair)}")
    )
    assert codes(allowed) == ["dkim.key_ok"]


async def test_too_short() -> None:
    _, record = _short_rsa_key()
    result = await check_selector("example.com", "lab", zone(record))
    assert codes(result) == ["dkim.key_too_short"]
    assert result.findings[0].evidence["bits"] == 512


async def test_multiple_records(rsa_pair: KeyPair) -> None:
    result = await check_selector(
        "example.com", "lab", zone(rsa_pair.public_txt, rsa_1024_record())
    )
    assert "dkim.multiple_records" in codes(result)
    assert "dkim.key_ok" not in codes(result)


async def test_unknown_key_type_and_service() -> None:
    result = await check_selector("example.com", "lab", zone("k=ed448; p=AAAA"))
    assert codes(result) == ["dkim.key_syntax"]
    service = await check_selector("example.com", "lab", zone(rsa_1024_record() + "; s=tlsrpt"))
    assert "dkim.service_restricted" in codes(service)


def test_public_surface_is_exported() -> None:
    for name in diag.dkim.__all__:
        assert hasattr(diag.dkim, name), name
    assert {
        "parse_signature",
        "verify_message",
        "sign_message",
        "check_selector",
        "verify_arc",
    } <= set(diag.dkim.__all__)


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
def test_public_key_record_is_what_generate_keypair_publishes(algorithm: str) -> None:
    from diag.dkim import generate_keypair, public_key_record

    pair = (
        generate_keypair(algorithm, 1024)
        if algorithm == "rsa-sha256"
        else generate_keypair(algorithm)
    )
    assert public_key_record(pair.private_pem_or_seed) == pair.public_txt


def test_public_key_record_refuses_garbage() -> None:
    from diag.dkim import public_key_record

    with pytest.raises(ValueError, match="neither PEM"):
        public_key_record(b"not a key")
